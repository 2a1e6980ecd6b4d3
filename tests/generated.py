"""Calling a function matdiff generated, in any backend, from NumPy values; its results back as NumPy arrays.

Shared by the tests that run generated code (test_codegen.py, test_reductions.py, test_linalg2.py): the
function's positional parameters are looked up in `values`, its keyword-only ones (dimensions the
arguments cannot tell) in `sizes`; JAX gets float64 and, unless `jit=False`, `jax.jit`; torch gets tensors.
A backend that is not installed skips the test.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest


def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def call(fn, backend: str, values: dict, sizes: dict | None = None, jit: bool = True) -> list[np.ndarray]:
    parameters = inspect.signature(fn).parameters
    positional = [values[p] for p, v in parameters.items() if v.kind == v.POSITIONAL_OR_KEYWORD]
    keywords = {p: (sizes or {})[p] for p, v in parameters.items() if v.kind == v.KEYWORD_ONLY}
    if backend == "jax":
        jax = jax_x64()
        run = jax.jit(fn, static_argnames=tuple(keywords)) if jit else fn
        return [np.asarray(r) for r in run(*[jax.numpy.asarray(a) for a in positional], **keywords)]
    if backend == "torch":
        torch = pytest.importorskip("torch")
        return [r.cpu().numpy() for r in fn(*[torch.as_tensor(a) for a in positional], **keywords)]
    return [np.asarray(r) for r in fn(*positional, **keywords)]
