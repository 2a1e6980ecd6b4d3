"""Claims: what each step of a derivation states, and how it is checked at a point.

A claim is an equality between expressions (a gradient, a differential form, an index form, a layout
of the derivative, a number of the small example); `Claim.check(point)` gives its relative error
against central differences of the function alone, so a derivation's steps can be verified one by
one. This module owns the claims, the points they are checked at (`Point`), what they differentiate
(`Objective`: f, or φ = G : f), and the finite differences. It does not own the steps that state
them (the routes) nor the rules (the operation table).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..dims import dim_value
from ..errors import MatdiffError
from ..evaluate import bind_sizes
from ..expr import Node, free_variables, topological
from ..language import to_latex
from ..ops import OPS
from .styles import STYLES, Math, Style, as_denominator, render_form, render_parts

if TYPE_CHECKING:
    from .example import ExampleItem

FD_STEP = 1e-5


@dataclass(frozen=True)
class Point:
    """Values of the variables (and of G and dX where a claim needs them), with the dimension sizes."""

    values: dict
    sizes: dict


@dataclass(frozen=True)
class Objective:
    """What the claims differentiate: f itself, or φ = sum(G ⊙ f) = G : f for an upstream gradient G."""

    function: Node
    cotangent: Node | None = None

    def value(self, computed: Mapping[Node, np.ndarray], point: Point) -> np.ndarray:
        f = computed[self.function]
        if self.cotangent is None:
            return np.asarray(f, dtype=float)
        return np.asarray(np.sum(point.values[self.cotangent.params[0]] * f), dtype=float)


def environment(root_nodes: Sequence[Node], point: Point) -> dict:
    declared = {}
    for root in root_nodes:
        declared.update({v.params[0]: v.shape for v in free_variables(root)})
    arrays = {k: np.asarray(v, dtype=float) for k, v in point.values.items() if not callable(v)}
    env: dict = dict(bind_sizes(declared, arrays, point.sizes))
    env["$values"] = arrays
    env["$functions"] = {k: v for k, v in point.values.items() if callable(v)}  # a declared g, grad_g, ...
    return env


def evaluate_all(root: Node, env: dict, node_values: Mapping | None = None,
                 slot_values: Mapping | None = None) -> dict[Node, np.ndarray]:
    """Every node's value, with some nodes' values (or some arguments of a node) replaced."""
    node_values = node_values or {}
    slot_values = slot_values or {}
    computed: dict[Node, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in topological(root):
            if n in node_values:
                computed[n] = np.asarray(node_values[n], dtype=float)
                continue
            args = [computed[a] for a in n.args]
            for i in range(len(args)):
                if (n, i) in slot_values:
                    args[i] = slot_values[(n, i)]
            try:
                computed[n] = np.asarray(OPS[n.op].evaluate(n, args, env), dtype=float)
            except np.linalg.LinAlgError:  # a singular matrix at this point: the value is undefined
                computed[n] = np.full(tuple(dim_value(d, env) for d in n.shape), np.nan)
    return computed


def value_at(node: Node, point: Point, extra: Mapping | None = None) -> np.ndarray:
    values = dict(point.values, **(extra or {}))
    p = Point(values, point.sizes)
    return evaluate_all(node, environment([node], p))[node]


def finite_gradient(phi: Callable[[np.ndarray], np.ndarray], v0: np.ndarray) -> np.ndarray:
    """∂phi[...]/∂v[...] by central differences, shape phi.shape + v.shape."""
    v0 = np.asarray(v0, dtype=float)
    columns = []
    for index in np.ndindex(v0.shape):
        h = FD_STEP * max(1.0, abs(float(v0[index])))
        up, down = v0.copy(), v0.copy()
        up[index] += h
        down[index] -= h
        columns.append((np.asarray(phi(up)) - np.asarray(phi(down))) / (2 * h))
    stacked = np.stack(columns, axis=-1) if columns else np.zeros(np.shape(phi(v0)) + (0,))
    return stacked.reshape(stacked.shape[:-1] + v0.shape)


def symmetrised(reference: np.ndarray, convention: str) -> np.ndarray:
    """The unstructured gradient made what matdiff reports for a symmetric variable."""
    if convention == "sym":
        return (reference + reference.T) / 2
    if convention == "cookbook":
        return reference + reference.T - reference * np.eye(reference.shape[0])
    return reference


def relative_error(actual, expected) -> float:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        if actual.size == expected.size:
            actual = actual.reshape(expected.shape)
        else:
            return math.inf
    if not expected.size:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected))))
    error = float(np.max(np.abs(actual - expected)))
    return error / scale if math.isfinite(error) else math.inf


def _vec(a: np.ndarray) -> np.ndarray:
    return np.reshape(a, -1, order="F")


def _vec_layout(tensor: np.ndarray, out_ndim: int) -> np.ndarray:
    """Full derivative tensor -> d vec(f) / d vec(x)ᵀ, column-major on both sides."""
    f_axes = list(range(out_ndim))[::-1]
    x_axes = list(range(out_ndim, tensor.ndim))[::-1]
    rows = int(np.prod([tensor.shape[a] for a in f_axes])) if f_axes else 1
    return tensor.transpose(f_axes + x_axes).reshape(rows, -1)


class Claim:
    """An equality a step states; `check(point)` gives its relative error at a point."""

    kind = "claim"

    def render(self, style: Style) -> str:
        raise NotImplementedError

    @property
    def text(self) -> str:
        return self.render(STYLES["text"])

    @property
    def unicode(self) -> str:
        return self.render(STYLES["unicode"])

    @property
    def latex(self) -> str:
        return self.render(STYLES["latex"])

    def nodes(self) -> list[Node]:
        """The expressions the claim evaluates (for the variables a point needs)."""
        return []

    def check(self, point: Point, rng: np.random.Generator | None = None) -> float:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.unicode


@dataclass(frozen=True, eq=False)
class CotangentClaim(Claim):
    """∂φ/∂target = expression: the gradient of φ by the value of `target` (a node of the function), or by
    the value one operation receives in one argument slot (`path`: a contribution of the chain rule)."""

    objective: Objective
    target: Node
    expression: Node
    names: dict
    path: tuple = ()  # ((node, slot), (child, slot), ...): the edge(s) the contribution flows through
    symmetric: str = "none"  # the convention the expression follows for a symmetric variable
    kind = "cotangent"

    def render(self, style: Style) -> str:
        top = self.names["phi"].in_style(style)
        bottom = as_denominator(self.target, style)
        lhs = style.gradient(top, bottom)
        if self.path:
            via, slot = self.path[0]
            which = f", factor {slot + 1}" if sum(a is via.args[slot] for a in via.args) > 1 else ""
            lhs += render_parts([" (through ", via, which + ")"], style)
        return f"{lhs} = {style.expr(self.expression)}"

    def nodes(self) -> list[Node]:
        return [self.objective.function, self.expression]

    def check(self, point: Point, rng=None) -> float:
        f = self.objective.function
        env = environment([f, self.expression], point)
        base = evaluate_all(f, env)

        if self.path:
            def phi(v):
                flowing = v
                for node, slot in reversed(self.path[1:]):
                    args = [base[a] for a in node.args]
                    args[slot] = flowing
                    flowing = np.asarray(OPS[node.op].evaluate(node, args, env), dtype=float)
                return self.objective.value(evaluate_all(f, env, slot_values={self.path[0]: flowing}), point)
            last_node, last_slot = self.path[-1]
            start = base[last_node.args[last_slot]]
        elif self.target in base:
            def phi(v):
                return self.objective.value(evaluate_all(f, env, node_values={self.target: v}), point)
            start = base[self.target]
        else:  # a variable the function does not use: its gradient is zero
            start = evaluate_all(self.target, env)[self.target]
            constant = self.objective.value(base, point)

            def phi(v):
                return constant
        reference = symmetrised(finite_gradient(phi, start), self.symmetric)
        claimed = evaluate_all(self.expression, env)[self.expression]
        return relative_error(np.broadcast_to(claimed, reference.shape) if claimed.ndim == 0 else claimed,
                              reference)


@dataclass(frozen=True, eq=False)
class DifferentialClaim(Claim):
    """lhs = form, a form linear in dX: its value at a random dX equals the central difference of the
    objective along dX (of vec(f) when `vectorized`)."""

    objective: Objective
    x: Node
    dx: Node
    form: Node  # the claim as an expression of the language, dX a variable
    shown: tuple  # (pairs, lhs Math): how the form is written
    vectorized: bool = False
    rhs: Math | None = None  # a spelling of the form other than its terms (J vec(dX))
    kind = "differential"

    def render(self, style: Style) -> str:
        pairs, lhs = self.shown
        rhs = self.rhs.in_style(style) if self.rhs is not None else render_form(pairs, style)
        if style.name == "latex":  # dW as d W, not as a two-letter name
            rhs = rhs.replace(to_latex(self.dx), r"\mathrm{d}" + to_latex(self.x))
        return f"{lhs.in_style(style)} = {rhs}"

    def nodes(self) -> list[Node]:
        return [self.objective.function, self.form]

    def check(self, point: Point, rng=None) -> float:
        rng = rng or np.random.default_rng(0)
        f = self.objective.function
        x0 = np.asarray(point.values[self.x.params[0]], dtype=float)
        direction = rng.normal(size=x0.shape)
        # (for a symmetric variable too: the forms hold for every dX, symmetric or not)
        scale = FD_STEP * max(1.0, float(np.max(np.abs(x0))) if x0.size else 1.0)

        def along(t):
            values = dict(point.values)
            values[self.x.params[0]] = x0 + t * direction
            p = Point(values, point.sizes)
            return self.objective.value(evaluate_all(f, environment([f], p)), p)

        reference = (along(scale) - along(-scale)) / (2 * scale)
        if self.vectorized and np.ndim(reference) == 2 and self.form.ndim == 1:
            reference = _vec(reference)
        claimed = value_at(self.form, point, {self.dx.params[0]: direction})
        return relative_error(claimed, reference)


@dataclass(frozen=True, eq=False)
class EinsumClaim(Claim):
    """An entry of the function written with indices: node[free] = Σ Π operand[indices]."""

    node: Node
    subscripts: str
    operands: tuple
    shown: Math
    kind = "index"

    def render(self, style: Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.node, *self.operands]

    def check(self, point: Point, rng=None) -> float:
        values = [value_at(o, point) for o in self.operands]
        return relative_error(np.einsum(self.subscripts, *values), value_at(self.node, point))


@dataclass(frozen=True, eq=False)
class TensorClaim(Claim):
    """The full derivative tensor ∂objective[i…]/∂x[k…] equals what each evaluator gives (an index form,
    an expression of the language)."""

    objective: Objective
    x: Node
    evaluators: tuple  # callables (values, sizes) -> array
    shown: Math
    symmetric: str = "none"
    kind = "tensor"

    def render(self, style: Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.objective.function]

    def check(self, point: Point, rng=None) -> float:
        reference = full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and reference.ndim == 2:
            reference = symmetrised(reference, self.symmetric)
        return max(relative_error(evaluate(point.values, point.sizes), reference) for evaluate in self.evaluators)


@dataclass(frozen=True, eq=False)
class LayoutClaim(Claim):
    """The derivative in one layout: `expression` equals the full tensor arranged as the layout says."""

    objective: Objective
    x: Node
    expression: Node
    arrangement: str  # full | transpose | row | column | vec | vec_transpose
    shown: Math
    symmetric: str = "none"
    kind = "layout"

    def render(self, style: Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.objective.function, self.expression]

    def check(self, point: Point, rng=None) -> float:
        tensor = full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and tensor.ndim == 2 and not self.objective.function.shape:
            tensor = symmetrised(tensor, self.symmetric)
        arranged = arrange(tensor, self.objective.function.ndim if self.objective.cotangent is None else 0,
                            self.arrangement)
        return relative_error(value_at(self.expression, point), arranged)


def arrange(tensor: np.ndarray, out_ndim: int, arrangement: str) -> np.ndarray:
    if arrangement == "full":
        return tensor
    if arrangement == "transpose":
        return tensor.T if tensor.ndim == 2 else tensor
    if arrangement == "row":
        return tensor.reshape(1, -1)
    if arrangement == "column":
        return tensor.reshape(-1, 1)
    if arrangement == "vec":
        return _vec_layout(tensor, out_ndim)
    if arrangement == "vec_transpose":
        return _vec_layout(tensor, out_ndim).T
    raise ValueError(arrangement)


def full_derivative(objective: Objective, x: Node, point: Point) -> np.ndarray:
    f = objective.function
    name = x.params[0]
    x0 = np.asarray(point.values[name], dtype=float)

    def value_at(v):
        values = dict(point.values)
        values[name] = v
        p = Point(values, point.sizes)
        return objective.value(evaluate_all(f, environment([f], p)), p)

    return finite_gradient(value_at, x0)


@dataclass(frozen=True, eq=False)
class NumericClaim(Claim):
    """At the small 0/1 point of the example, the formula's value equals the central difference."""

    item: ExampleItem
    point: Point
    kind = "numeric"

    def render(self, style: Style) -> str:
        return render_parts([self.item.label, " at the 0/1 point = its central difference (max |difference| "
                        f"{self.item.error:.1e})"], style)

    def check(self, point: Point = None, rng=None) -> float:  # the example's own point, not the one given
        formula, reference = self.item.compute(self.point)
        return relative_error(formula, reference)


def checked(claim: Claim, point: Point, rng: np.random.Generator) -> float:
    """The claim's relative error at the point; NaN where its expressions are undefined there (a singular
    matrix inverted)."""
    try:
        with np.errstate(all="ignore"):
            return claim.check(point, rng)
    except (MatdiffError, np.linalg.LinAlgError):
        return math.nan
