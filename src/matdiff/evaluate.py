"""Numeric evaluation of nodes with NumPy, for given values of the variables.

The values' shapes bind each dimension name (n, m, ...) to a size; a value whose shape disagrees
with its declaration, or with a size bound by another value, is reported by variable and dimension.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .dims import DimProduct, Shape, dim_value, format_shape
from .errors import ValueBindingError
from .expr import Node, free_variables, topological
from .ops import OPS


def bind_sizes(declared: Mapping[str, Shape], values: Mapping[str, np.ndarray],
               sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """Dimension name -> size, read off the values' shapes and checked for consistency."""
    bound: dict[str, int] = dict(sizes or {})
    source: dict[str, str] = {name: "the sizes given" for name in bound}
    for name, shape in declared.items():
        if name not in values:
            continue
        actual = np.shape(values[name])
        if len(actual) != len(shape):
            raise ValueBindingError(f"{name} is declared {format_shape(shape)} ({len(shape)}-D) but its value has "
                                    f"shape {actual}")
        for position, (d, size) in enumerate(zip(shape, actual)):
            if isinstance(d, int):
                if d != size:
                    raise ValueBindingError(f"{name}: dimension {position} is declared {d} but the value has {size}")
            elif isinstance(d, str):
                if d in bound and bound[d] != size:
                    raise ValueBindingError(f"{name}: dimension {d} is {size} here but {bound[d]} from "
                                            f"{source[d]} (value shape {actual}, declared {format_shape(shape)})")
                bound.setdefault(d, size)
                source.setdefault(d, name)
    for name, shape in declared.items():
        if name not in values:
            continue
        for d, size in zip(shape, np.shape(values[name])):
            if isinstance(d, DimProduct):
                try:
                    expected = dim_value(d, bound)
                except KeyError:
                    continue
                if expected != size:
                    raise ValueBindingError(f"{name}: dimension {d} should be {expected} but the value has {size}")
    return bound


def evaluate(node: Node, values: Mapping[str, object], declared: Mapping[str, Shape] | None = None,
             sizes: Mapping[str, int] | None = None) -> np.ndarray:
    """The value of `node` as NumPy computes it; `values` maps variable names to arrays, and a declared
    function g (and its derivatives grad_g, grad_grad_g, ...) to a Python function computing it entrywise."""
    variables = {v.params[0]: v.shape for v in free_variables(node)}
    missing = sorted(set(variables) - set(values))
    if missing:
        raise ValueBindingError(f"no value given for {', '.join(missing)}")
    arrays, functions = {}, {}
    for name, value in values.items():
        if callable(value):  # a declared function or its derivative (ops/functions.py)
            functions[name] = value
            continue
        try:
            arrays[name] = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueBindingError(f"the value of {name} is not an array of numbers") from None
    shapes = dict(declared or {})
    shapes.update(variables)
    bound = bind_sizes(shapes, arrays, sizes)
    env: dict = dict(bound)
    env["$values"] = arrays
    env["$functions"] = functions
    computed: dict[Node, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in topological(node):
            try:
                computed[n] = OPS[n.op].evaluate(n, [computed[a] for a in n.args], env)
            except KeyError as exc:
                raise ValueBindingError(f"no size known for dimension {exc.args[0]}; pass sizes={{...}}") from None
            except np.linalg.LinAlgError as exc:
                raise ValueBindingError(f"cannot evaluate {n}: {exc}") from None
    return np.asarray(computed[node], dtype=float)
