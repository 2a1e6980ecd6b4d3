"""The small explicit check: tiny 0/1 matrices where the function is defined, the formula against
central differences there, printed as NumPy arrays a student can paste.

This module owns the choice of that point (sizes 2 and 3, 0/1 entries, invertible or positive where the
function needs it), the comparisons made there (`SmallExample`, `ExampleItem`) and `array_text`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api import Derivative
from ..dims import VarSpec, dim_value
from ..errors import MatdiffError
from ..expr import Node, free_variables, topological
from ..language import to_text, to_unicode
from .claims import Objective, Point, arrange, environment, evaluate_all, full_derivative, symmetrised, value_at
from .notation import derivative_label
from .styles import Math


PRINTED_ROWS = 4  # a Jacobian with more rows is compared by its largest difference, its entries not printed


@dataclass(frozen=True, eq=False)
class ExampleItem:
    """One comparison of the example: a formula against central differences, in the same layout."""

    label: Math
    formula: Node
    objective: Objective
    x: Node
    arrangement: str  # full | vec
    symmetric: str
    formula_value: np.ndarray
    reference: np.ndarray
    error: float
    name: Math | None = None  # what the formula is ("∂ vec(D)/∂ vec(X)ᵀ, the answer"), shown when not printed

    @property
    def printed(self) -> bool:
        """Whether the values are printed: a vector, or a matrix of a handful of rows (a backprop rule at the
        0/1 point); a larger Jacobian (6×6 for a 2×3 matrix by itself) is compared entry by entry, and only
        its largest relative difference shown."""
        return np.ndim(self.reference) < 2 or np.shape(self.reference)[0] <= PRINTED_ROWS

    @property
    def size_text(self) -> str:
        return "×".join(str(n) for n in np.shape(self.reference))

    def compute(self, point: Point) -> tuple[np.ndarray, np.ndarray]:
        formula = value_at(self.formula, point)
        tensor = full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and tensor.ndim == 2 and not self.objective.function.shape:
            tensor = symmetrised(tensor, self.symmetric)
        out_ndim = self.objective.function.ndim if self.objective.cotangent is None else 0
        return formula, arrange(tensor, out_ndim, self.arrangement)


@dataclass(frozen=True, eq=False)
class SmallExample:
    """Tiny 0/1 matrices (sizes 2 and 3) where the function is defined, and the comparisons made there."""

    sizes: dict
    values: dict
    items: tuple

    @property
    def agrees(self) -> bool:
        return all(item.error <= 1e-6 for item in self.items)

    @property
    def where(self) -> str:
        """The sizes and how the point was chosen: "n = 2, d = 3; 0/1 entries, …"."""
        sizes = ", ".join(f"{k} = {v}" for k, v in self.sizes.items())
        return (f"{sizes}; " if sizes else "") + "0/1 entries, chosen so that the function is defined"

    def assignments(self) -> list[str]:
        return [f"{name} = {array_text(value, len(name) + 3)}" for name, value in self.values.items()]


def array_text(a: Any, indent: int = 0) -> str:
    """An array as NumPy code a student can paste: np.array([[1, 0], [0, 1]])."""
    a = np.round(np.asarray(a, dtype=float), 6) + 0.0  # (+ 0.0: no negative zeros)
    if a.ndim == 0:
        return _number_text(float(a))
    if np.all(np.isfinite(a)) and np.all(a == np.round(a)) and (not a.size or np.max(np.abs(a)) < 1e9):
        body = np.array2string(a.astype(int), separator=", ", max_line_width=10 ** 6)
    else:
        body = np.array2string(np.where(np.abs(a) < 1e-12, 0.0, a), separator=", ", precision=6,
                               suppress_small=True, floatmode="maxprec", max_line_width=10 ** 6)
    lines = body.split("\n")
    if a.ndim == 2 and (len(body) > 90 or (a.shape[0] > 3 and len(body) > 60)):
        body = ("\n" + " " * (indent + 10)).join(line.strip() for line in lines)
    else:
        body = " ".join(line.strip() for line in lines)
    return f"np.array({body})"


def _number_text(v: float) -> str:
    if v == round(v) and abs(v) < 1e12:
        return str(int(round(v)))
    return f"{v:.6g}"


def _small_sizes(variables: Mapping[str, VarSpec]) -> dict:
    sizes: dict[str, int] = {}
    for spec in variables.values():
        for d in spec.shape:
            for symbol in ([d] if isinstance(d, str) else list(getattr(d, "symbols", ()))):
                if symbol not in sizes:
                    sizes[symbol] = (2, 3)[len(sizes) % 2]
    return sizes


def _small_value(spec: VarSpec, sizes: dict, rng: np.random.Generator, plus_identity: bool) -> np.ndarray:
    shape = tuple(dim_value(d, sizes) for d in spec.shape)
    if not shape:
        return np.asarray(float(rng.integers(1, 3)))
    b = rng.integers(0, 2, size=shape).astype(float)
    if not b.any():
        b.flat[0] = 1.0
    square = len(shape) == 2 and shape[0] == shape[1]
    if "spd" in spec.properties and square:
        return b @ b.T + np.eye(shape[0])
    if "sym" in spec.properties and square:
        return b + b.T + (np.eye(shape[0]) if plus_identity else 0)
    if "pos" in spec.properties:
        return b + 1.0
    if plus_identity and square:
        return b + np.eye(shape[0])
    return b


def _well_defined(root: Node, env: dict) -> bool:
    """Every operation of the expression is defined and differentiable at this point."""
    try:
        computed = evaluate_all(root, env)
    except (MatdiffError, np.linalg.LinAlgError, ValueError, ZeroDivisionError, KeyError):
        return False
    for n in topological(root):
        value = computed[n]
        if not np.all(np.isfinite(value)):
            return False
        args = [computed[a] for a in n.args]
        if n.op in ("inv", "det", "logdet"):
            m = args[0]
            determinant = np.linalg.det(m)
            if abs(determinant) < 0.5 or np.linalg.cond(m) > 1e6 or (n.op == "logdet" and determinant <= 0):
                return False
        elif n.op in ("log", "sqrt") and np.min(args[0]) <= 1e-3:
            return False
        elif n.op == "div" and np.min(np.abs(args[1])) <= 1e-3:
            return False
        elif n.op == "norm2" and float(value) <= 1e-3:
            return False
        elif n.op == "abs" and np.min(np.abs(args[0])) <= 1e-3:
            return False
        elif n.op == "pow":
            exponent = args[1]
            if np.any(exponent != np.round(exponent)) and np.min(args[0]) <= 1e-3:
                return False
            if np.any(exponent < 0) and np.min(np.abs(args[0])) <= 1e-3:
                return False
    return True


def small_example(f: Node, x: Node, variables: Mapping[str, VarSpec], answer: Derivative,
                  vjp_answer: Derivative | None, cotangent: Node | None, names: dict,
                   symmetric: str) -> SmallExample | None:
    if any(spec.is_function for spec in variables.values()):
        return None  # a declared g has no values to write down: the steps' claims are checked with a stand-in
    sizes = _small_sizes(variables)
    specs = dict(variables)
    if cotangent is not None:
        specs[cotangent.params[0]] = VarSpec(cotangent.params[0], cotangent.shape)
    roots = [f, answer.node] + ([vjp_answer.node] if vjp_answer is not None else [])
    invertible = {v.params[0] for n in topological(f) if n.op in ("inv", "det", "logdet")
                  for v in free_variables(n.args[0])}
    comparisons = _comparisons(f, x, answer, vjp_answer, cotangent, names, symmetric)  # printed once, not per point
    for attempt in range(240):
        rng = np.random.default_rng(attempt)
        try:
            values = {name: _small_value(spec, sizes, rng, plus_identity=attempt % 2 == 1 and name in invertible)
                      for name, spec in specs.items()}
            if attempt < 80 and _degenerate(values, specs):  # the first 80 tries look for a point that shows more
                continue
            point = Point(values, sizes)
            env = environment(roots, point)
        except (MatdiffError, KeyError, ValueError):
            continue
        if not all(_well_defined(r, env) for r in roots):
            continue
        items = _example_items(comparisons, x, point)
        if items is None:
            continue
        example = SmallExample(sizes, {k: v for k, v in values.items()}, tuple(items))
        if example.agrees:
            return example
    return None


def _degenerate(values: Mapping[str, np.ndarray], specs: Mapping[str, VarSpec]) -> bool:
    """A zero row or column, or a matrix of ones: a point that hides what the formula does."""
    for name, value in values.items():
        if value.ndim == 2 and (not value.any(axis=1).all() or not value.any(axis=0).all() or
                                (value.size > 1 and np.all(value == value.flat[0]))):
            return True
        if value.ndim == 1 and value.size > 1 and np.all(value == value[0]):
            return True
    return False


def _comparisons(f, x, answer, vjp_answer, cotangent, names, symmetric) -> list[tuple]:
    """What the example compares with central differences: (label, formula, objective, arrangement, convention,
    name), the name shown for the answer only."""
    xn = x.params[0]
    objective = Objective(f)
    if not f.shape:
        what = Math(f"∂φ/∂{xn}", f"dphi/d{xn}", rf"\partial\varphi/\partial {xn}")
        arrangement, convention = "full", symmetric if x.ndim == 2 else "none"
    else:
        what = derivative_label(f, x, names)
        arrangement, convention = "vec" if answer.is_vec_form else "full", "none"
    specs = [(Math(f"{what.unicode} = {to_unicode(answer.node)}", f"{what.text} = {to_text(answer.node)}",
                   what.latex), answer.node, objective, arrangement, convention)]
    name = Math(f"{what.unicode}, the answer", f"{what.text}, the answer", rf"{what.latex},\ \text{{the answer}}")
    if f.shape and vjp_answer is not None:
        specs.append((Math(f"∂φ/∂{xn} = {to_unicode(vjp_answer.node)} (φ = {cotangent.params[0]} : "
                           f"{names['f'].unicode})",
                           f"dphi/d{xn} = {to_text(vjp_answer.node)} (phi = sum({cotangent.params[0]} * "
                           f"{names['f'].text}))", rf"\partial\varphi/\partial {xn}"),
                      vjp_answer.node, Objective(f, cotangent), "full", "none"))
    return [spec + (name if k == 0 else None,) for k, spec in enumerate(specs)]


def _example_items(comparisons: list[tuple], x: Node, point: Point) -> list | None:
    items = []
    for label, formula, obj, arrangement, convention, name in comparisons:
        item = ExampleItem(label, formula, obj, x, arrangement, convention, np.zeros(()), np.zeros(()), math.inf)
        try:
            value, reference = item.compute(point)
        except (MatdiffError, ValueError, np.linalg.LinAlgError):
            return None
        error = float(np.max(np.abs(np.asarray(value, float).reshape(np.shape(reference)) - reference))) \
            if np.size(value) == np.size(reference) else math.inf
        items.append(ExampleItem(label, formula, obj, x, arrangement, convention,
                                 np.asarray(value, float).reshape(np.shape(reference)), reference,
                                 error / max(1.0, float(np.max(np.abs(reference))) if np.size(reference) else 1.0),
                                 name))
    return items
