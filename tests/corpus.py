"""The corpus of published identities and its independent judge, check.py, as seen from the tests.

check.py (in ../shared/corpus, or wherever MATDIFF_CORPUS points) owns its own NumPy evaluator of
the expression language; the tests use it as the reference meaning of a text, never matdiff's.
This module only finds it, loads it, and turns its cases and random points into what the tests
need. Without the corpus, the tests that need it are skipped.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

CHECK_PATH = Path(os.environ.get("MATDIFF_CORPUS",
                                 Path(__file__).resolve().parents[2] / "shared" / "corpus" / "check.py"))
CASES_DIR = CHECK_PATH.parent / "cases"


def _load_check():
    if not CHECK_PATH.is_file():
        return None
    spec = importlib.util.spec_from_file_location("corpus_check", CHECK_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load_check()
needs_corpus = pytest.mark.skipif(check is None, reason=f"the corpus judge is not at {CHECK_PATH}")


def cases(kind: "str | tuple[str, ...] | None" = None) -> list[dict]:
    """Every case of the corpus (of one kind, or kinds: "case", "vjp", "bad"), in file order."""
    if check is None:
        return []
    kinds = (kind,) if isinstance(kind, str) else kind
    found = check.load_cases(sorted(CASES_DIR.glob("*.toml")))
    return [c for c in found if kinds is None or c["kind"] in kinds]


EXTRA_CASES = Path(__file__).resolve().parent / "cases"


def extra_cases(kind: "str | tuple[str, ...] | None" = None) -> list[dict]:
    """Our own held-out cases (tests/cases/*.toml: more published identities in the corpus's format,
    written without looking at matdiff's answers), judged by the same check.py."""
    if check is None:
        return []
    kinds = (kind,) if isinstance(kind, str) else kind
    found = check.load_cases(sorted(EXTRA_CASES.glob("*.toml")))
    return [c for c in found if kinds is None or c["kind"] in kinds]


def judge():
    """check.py itself, for a test that needs it (skipped without the corpus)."""
    if check is None:
        pytest.skip(f"the corpus judge is not at {CHECK_PATH}")
    return check


def declarations(case: dict, with_properties: bool = False) -> dict:
    """A case's variables as matdiff's shapes dictionary, e.g. {"S": ("n", "n", "spd")}."""
    shapes, props = check.parse_vars(case["vars"])
    if not with_properties:
        return shapes
    # matdiff's declarations know sym/spd/pos/small; check.py's `pos`/`small` only choose the point
    return {name: dims + tuple(sorted(props[name])) for name, dims in shapes.items()}


def split_properties(shapes: dict) -> tuple[dict, dict]:
    """matdiff's shapes dict (dims, then properties) -> check.py's (shapes, props)."""
    dims, props = {}, {}
    for name, words in shapes.items():
        dims[name] = tuple(w for w in words if w not in check.PROPERTIES)
        props[name] = {w for w in words if w in check.PROPERTIES}
    return dims, props


def random_point(shapes: dict, seed: int) -> tuple[dict, dict]:
    """(values, sizes) for a shapes dict: check.py binds each dimension name to a different size."""
    dims, props = split_properties(shapes)
    sizes = check.bind_dims(dims)
    values = check.random_point(dims, props, sizes, np.random.default_rng(seed))
    return values, sizes


def reference(text: str, values: dict, sizes: dict) -> np.ndarray:
    """What check.py's own evaluator says `text` is at this point (dimension names are scalars)."""
    return check.evaluate(text, dict(values, **sizes))


def assert_same_value(actual, expected, what: str = "") -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    assert np.allclose(actual, expected, rtol=1e-7, atol=1e-7 * scale), \
        f"{what}: max abs error {float(np.max(np.abs(actual - expected))):.3g} (scale {scale:.3g})"
