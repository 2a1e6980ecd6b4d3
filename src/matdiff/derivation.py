"""Derivations: how a derivative comes about, step by step, each step a claim that can be checked.

`explain(expr, wrt, shapes)` shows one derivative four ways, as a textbook or a backprop lecture
would, and returns a `Derivation`:

1. the chain rule: reverse mode replayed over the expression DAG (as `calculus.reverse` does),
   outermost operation first, one step per operation with its rule (`G ↦ G Xᵀ`, right
   multiplication by X) and the gradient (cotangent) it passes on. For a function that is not a
   scalar the start is a symbolic upstream gradient G, i.e. the VJP of φ = G : f;
2. the differential route (Magnus & Neudecker): df from `calculus.forward.differential`, then a
   Frobenius-product mover brings every term to the form M : dX one identity at a time
   (`A : BC = BᵀA : C`, trace cyclicity, `A : (B ⊙ C) = (A ⊙ B) : C`, ...) and reads ∂φ/∂X = M off;
   for a matrix-valued f also the vec form, `vec(AXB) = (Bᵀ ⊗ A) vec X`;
3. for a function that is not a scalar, index notation (`calculus.index` when present): the
   definition `D_ij = Σ_p W_ip X_pj`, the tensor `∂D_ij/∂W_kl = δ_ik X_lj`, and the backprop rule
   as its contraction with G_ij;
4. what the notation means: the layout of the answer, numerator/denominator/mixed layouts, and
   what "the derivative of a matrix by a matrix" is; then a small check with 0/1 matrices,
   the formula against central differences, printed as NumPy arrays.

Every step carries a machine-checkable `Claim` (an equality between expressions, checked at a
point against finite differences of the function alone: `Derivation.verify()`).

This module owns the presentation of derivations and their claims. It does not own any rule: the
pullbacks, differentials and vec forms are the operation table's (`matdiff.ops`), replayed here.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .api import Derivative, Expression, _expression, _variable, derivative, derive_once, vjp
from .calculus import differential, vec_form
from .dims import VarSpec, dim_value, format_shape
from .errors import DeclarationError, MatdiffError, NotSupportedError
from .evaluate import bind_sizes
from .expr import Node, dependents, free_variables, make, topological
from .language import to_latex, to_text, to_unicode
from .ops import (ONE, OPS, ZERO, add, const, inner, matmul, matmul_chain, mul, split_coefficient, transpose, var, vec,
                  zeros)

LAYOUTS = ("numerator", "denominator", "mixed")
SECTIONS = ("chain", "differential", "index", "notation", "check")
SECTION_TITLES = {
    "chain": "Chain rule (reverse mode, outermost operation first)",
    "differential": "Differential route (write dφ = M : dX, read off ∂φ/∂X = M)",
    "index": "Index notation",
    "notation": "What the notation means",
    "check": "A small explicit check",
}
LEAVES = ("var", "const", "dim", "eye", "ones", "zeros", "commutation")
PLACEHOLDERS = "UVPQRSTLMN"
SHORT = 6  # operands whose Unicode spelling is at most this long are shown as they are in rules
FD_STEP = 1e-5


# ---- styles: one derivation, three spellings ------------------------------------------------------


class _Style:
    """How a derivation spells expressions, words and its few fixed symbols."""

    name = "unicode"
    maps = "↦"
    implies = "⇒"
    partial = "∂"
    phi = "φ"
    frob = ":"
    gbar = ("Ḡ", "ḡ")

    def expr(self, node: Node) -> str:
        return _bar(to_unicode(node), self)

    def words(self, text: str) -> str:
        return text

    def gradient(self, top: str, bottom: str) -> str:
        return f"{self.partial}{top}/{self.partial}{bottom}"


class _TextStyle(_Style):
    name = "text"
    maps = "->"
    implies = "=>"
    partial = "d"
    phi = "phi"
    gbar = ("Gbar", "gbar")

    def expr(self, node: Node) -> str:
        return _bar(to_text(node), self)

    def words(self, text: str) -> str:
        for symbol, spelled in _ASCII_WORDS:
            text = text.replace(symbol, spelled)
        return text


# how the Unicode symbols in rule names and notes read in plain text
_ASCII_WORDS = (("⇒", "=>"), ("↦", "->"), ("∂φ", "dphi"), ("dφ", "dphi"), ("φ", "phi"), ("∂", "d"), ("⊙", "*"),
                ("⊗", "kron"), ("ᵀ", ".T"), ("Ḡ", "Gbar"), ("ḡ", "gbar"), ("𝟙", "ones"), ("−", "-"),
                ("‖", "|"), ("²", "^2"), ("Σ", "sum"))


class _LatexStyle(_Style):
    name = "latex"
    maps = r"\mapsto"
    implies = r"\Rightarrow"
    partial = r"\partial "
    phi = r"\varphi"
    gbar = (r"\bar{G}", r"\bar{g}")

    def expr(self, node: Node) -> str:
        return _bar(to_latex(node), self)

    def words(self, text: str) -> str:
        return r"\text{" + text.replace("_", r"\_") + "}" if text.strip() else text

    def gradient(self, top: str, bottom: str) -> str:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def _bar(text: str, style: _Style) -> str:
    """The incoming-gradient placeholders (variables named Ḡ, ḡ) in the style's spelling."""
    return text.replace("Ḡ", style.gbar[0]).replace("ḡ", style.gbar[1])


STYLES: dict[str, _Style] = {"unicode": _Style(), "text": _TextStyle(), "latex": _LatexStyle()}


def _wrap(node: Node, text: str) -> str:
    """Parenthesise a rendered sum, so that `(A + B) : C` reads right."""
    return f"({text})" if node.op == "add" else text


def _label(node: Node, style: _Style) -> str:
    """An expression as the denominator of ∂φ/∂(…): bare when it is a name or a call."""
    text = style.expr(node)
    if node.op == "var" or (text.endswith(")") and text[:1].isalpha() and text.count("(") == 1):
        return text
    return f"({text})"


# Parts of a rendered sentence: words (str) and math (a Node, or a `Math` with one spelling per style).
@dataclass(frozen=True)
class Math:
    unicode: str
    text: str
    latex: str

    def in_style(self, style: _Style) -> str:
        return getattr(self, style.name)


def _render(parts: Sequence[Any], style: _Style) -> str:
    out = []
    for part in parts:
        if isinstance(part, Node):
            out.append(_math(style.expr(part), style))
        elif isinstance(part, Math):
            out.append(_math(part.in_style(style), style))
        else:
            out.append(style.words(str(part)))
    return "".join(out)


def _math(text: str, style: _Style) -> str:
    return text if style.name != "latex" else "{" + text + "}"


# ---- claims -------------------------------------------------------------------------------------


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


def _environment(root_nodes: Sequence[Node], point: Point) -> dict:
    declared = {}
    for root in root_nodes:
        declared.update({v.params[0]: v.shape for v in free_variables(root)})
    arrays = {k: np.asarray(v, dtype=float) for k, v in point.values.items()}
    env: dict = dict(bind_sizes(declared, arrays, point.sizes))
    env["$values"] = arrays
    return env


def _evaluate_all(root: Node, env: dict, node_values: Mapping | None = None,
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


def _value(node: Node, point: Point, extra: Mapping | None = None) -> np.ndarray:
    values = dict(point.values, **(extra or {}))
    p = Point(values, point.sizes)
    return _evaluate_all(node, _environment([node], p))[node]


def _finite_gradient(phi: Callable[[np.ndarray], np.ndarray], v0: np.ndarray) -> np.ndarray:
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


def _symmetrised(reference: np.ndarray, convention: str) -> np.ndarray:
    """The unstructured gradient made what matdiff reports for a symmetric variable."""
    if convention == "sym":
        return (reference + reference.T) / 2
    if convention == "cookbook":
        return reference + reference.T - reference * np.eye(reference.shape[0])
    return reference


def _relative_error(actual, expected) -> float:
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

    def render(self, style: _Style) -> str:
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

    def render(self, style: _Style) -> str:
        top = self.names["phi"].in_style(style)
        bottom = _label(self.target, style)
        lhs = style.gradient(top, bottom)
        if self.path:
            via, slot = self.path[0]
            which = f", factor {slot + 1}" if sum(a is via.args[slot] for a in via.args) > 1 else ""
            lhs += _render([" (through ", via, which + ")"], style)
        return f"{lhs} = {style.expr(self.expression)}"

    def nodes(self) -> list[Node]:
        return [self.objective.function, self.expression]

    def check(self, point: Point, rng=None) -> float:
        f = self.objective.function
        env = _environment([f, self.expression], point)
        base = _evaluate_all(f, env)

        if self.path:
            def phi(v):
                flowing = v
                for node, slot in reversed(self.path[1:]):
                    args = [base[a] for a in node.args]
                    args[slot] = flowing
                    flowing = np.asarray(OPS[node.op].evaluate(node, args, env), dtype=float)
                return self.objective.value(_evaluate_all(f, env, slot_values={self.path[0]: flowing}), point)
            last_node, last_slot = self.path[-1]
            start = base[last_node.args[last_slot]]
        elif self.target in base:
            def phi(v):
                return self.objective.value(_evaluate_all(f, env, node_values={self.target: v}), point)
            start = base[self.target]
        else:  # a variable the function does not use: its gradient is zero
            start = _evaluate_all(self.target, env)[self.target]
            constant = self.objective.value(base, point)

            def phi(v):
                return constant
        reference = _symmetrised(_finite_gradient(phi, start), self.symmetric)
        claimed = _evaluate_all(self.expression, env)[self.expression]
        return _relative_error(np.broadcast_to(claimed, reference.shape) if claimed.ndim == 0 else claimed,
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

    def render(self, style: _Style) -> str:
        pairs, lhs = self.shown
        rhs = self.rhs.in_style(style) if self.rhs is not None else _render_form(pairs, style)
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
            return self.objective.value(_evaluate_all(f, _environment([f], p)), p)

        reference = (along(scale) - along(-scale)) / (2 * scale)
        if self.vectorized and np.ndim(reference) == 2 and self.form.ndim == 1:
            reference = _vec(reference)
        claimed = _value(self.form, point, {self.dx.params[0]: direction})
        return _relative_error(claimed, reference)


@dataclass(frozen=True, eq=False)
class EinsumClaim(Claim):
    """An entry of the function written with indices: node[free] = Σ Π operand[indices]."""

    node: Node
    subscripts: str
    operands: tuple
    shown: Math
    kind = "index"

    def render(self, style: _Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.node, *self.operands]

    def check(self, point: Point, rng=None) -> float:
        values = [_value(o, point) for o in self.operands]
        return _relative_error(np.einsum(self.subscripts, *values), _value(self.node, point))


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

    def render(self, style: _Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.objective.function]

    def check(self, point: Point, rng=None) -> float:
        reference = _full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and reference.ndim == 2:
            reference = _symmetrised(reference, self.symmetric)
        return max(_relative_error(evaluate(point.values, point.sizes), reference) for evaluate in self.evaluators)


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

    def render(self, style: _Style) -> str:
        return self.shown.in_style(style)

    def nodes(self) -> list[Node]:
        return [self.objective.function, self.expression]

    def check(self, point: Point, rng=None) -> float:
        tensor = _full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and tensor.ndim == 2 and not self.objective.function.shape:
            tensor = _symmetrised(tensor, self.symmetric)
        arranged = _arrange(tensor, self.objective.function.ndim if self.objective.cotangent is None else 0,
                            self.arrangement)
        return _relative_error(_value(self.expression, point), arranged)


def _arrange(tensor: np.ndarray, out_ndim: int, arrangement: str) -> np.ndarray:
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


def _full_derivative(objective: Objective, x: Node, point: Point) -> np.ndarray:
    f = objective.function
    name = x.params[0]
    x0 = np.asarray(point.values[name], dtype=float)

    def value_at(v):
        values = dict(point.values)
        values[name] = v
        p = Point(values, point.sizes)
        return objective.value(_evaluate_all(f, _environment([f], p)), p)

    return _finite_gradient(value_at, x0)


@dataclass(frozen=True, eq=False)
class NumericClaim(Claim):
    """At the small 0/1 point of the example, the formula's value equals the central difference."""

    item: "ExampleItem"
    point: Point
    kind = "numeric"

    def render(self, style: _Style) -> str:
        return _render([self.item.label, " at the 0/1 point = its central difference (max |difference| "
                        f"{self.item.error:.1e})"], style)

    def check(self, point: Point = None, rng=None) -> float:  # the example's own point, not the one given
        formula, reference = self.item.compute(self.point)
        return _relative_error(formula, reference)


def _checked(claim: Claim, point: Point, rng: np.random.Generator) -> float:
    """The claim's relative error at the point; NaN where its expressions are undefined there (a singular
    matrix inverted)."""
    try:
        with np.errstate(all="ignore"):
            return claim.check(point, rng)
    except (MatdiffError, np.linalg.LinAlgError):
        return math.nan


# ---- steps -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a derivation: the rule or identity used, what it claims, the expression it yields."""

    section: str
    rule: str  # the rule in words and symbols (Unicode)
    claim: Claim
    expression: Node | None
    shape: tuple
    rule_parts: tuple = ()  # the rule as words and math, for the other spellings
    mapping: tuple = ()  # chain rule: (incoming placeholder, outgoing expression) of the rule
    details: tuple = ()  # further rules named by the step (the differential rules used), as Math

    @property
    def shape_text(self) -> str:
        return format_shape(self.shape)

    @property
    def title(self) -> str:
        """The rule, with its formula where it has one (Unicode)."""
        return self.rule_in(STYLES["unicode"])

    @property
    def result(self) -> str:
        """What the step claims (Unicode)."""
        return self.claim.unicode

    @property
    def text(self) -> str:
        return self.claim.text

    @property
    def latex(self) -> str:
        return self.claim.latex

    @property
    def note(self) -> str:
        return f"{self.section}; shape {self.shape_text}"

    @property
    def expression_text(self) -> str:
        return "" if self.expression is None else to_text(self.expression)

    @property
    def expression_unicode(self) -> str:
        return "" if self.expression is None else to_unicode(self.expression)

    def rule_in(self, style: _Style) -> str:
        text = _render(self.rule_parts, style) if self.rule_parts else style.words(self.rule)
        if self.mapping:
            g, out, pattern = self.mapping
            if pattern is not None and pattern.op not in ("matmul", "mul"):
                text += " " + _math(style.expr(pattern), style)
            text += (": " if style.name != "latex" else r"\colon\ ") + \
                f"{_math(style.expr(g), style)} {style.maps} {_math(style.expr(out), style)}"
        return text

    def rule_markdown(self) -> str:
        """The rule as Markdown: words as they are, math in $…$."""
        out = []
        for part in self.rule_parts or (self.rule,):
            if isinstance(part, Node):
                out.append(f"${to_latex(part)}$")
            elif isinstance(part, Math):
                out.append(f"${part.latex}$")
            else:
                out.append(str(part))
        if self.mapping:
            g, out_node, pattern = self.mapping
            style = STYLES["latex"]
            if pattern is not None and pattern.op not in ("matmul", "mul"):
                out.append(f" ${style.expr(pattern)}$")
            out.append(f": ${style.expr(g)} \\mapsto {style.expr(out_node)}$")
        return "".join(out)

    def to_dict(self) -> dict:
        return {
            "section": self.section,
            "rule": self.rule_in(STYLES["unicode"]),
            "rule_text": self.rule_in(STYLES["text"]),
            "claim": {"kind": self.claim.kind, "text": self.claim.text, "unicode": self.claim.unicode,
                      "latex": self.claim.latex},
            "expression": None if self.expression is None else {
                "text": to_text(self.expression), "unicode": to_unicode(self.expression),
                "latex": to_latex(self.expression)},
            "shape": [d if isinstance(d, int) else str(d) for d in self.shape],
            "details": [m.unicode for m in self.details],
        }

    def __repr__(self) -> str:
        return f"Step({self.section}: {self.rule!r}; {self.claim.unicode})"


# ---- names ------------------------------------------------------------------------------------------


def _fresh(preferred: Sequence[str], taken: set) -> str:
    for name in preferred:
        if name not in taken:
            taken.add(name)
            return name
    k = 1
    while f"{preferred[0]}{k}" in taken:
        k += 1
    taken.add(f"{preferred[0]}{k}")
    return f"{preferred[0]}{k}"


def _math_name(name: str) -> Math:
    latex = name if len(name) == 1 else (rf"\mathrm{{{name}}}" if name.isalpha() else name)
    return Math(name, name, latex)


def _d_name(x: Node, taken: set) -> str:
    return _fresh(("d" + x.params[0], "d_" + x.params[0], "delta_" + x.params[0]), taken)


# ---- the chain rule -----------------------------------------------------------------------------------


def _pattern(node: Node, keep: Callable[[Node], bool], taken: set) -> tuple[Node, dict]:
    """The node with its long operands replaced by placeholder variables U, V, ...: the rule's form.
    A squared norm keeps its norm (its rule is stated for ‖U‖²)."""
    stand_ins: dict[Node, Node] = {}
    pool = [p for p in PLACEHOLDERS if p not in taken]

    def stand_in(arg: Node) -> Node:
        if keep(arg):
            return arg
        if arg not in stand_ins:
            stand_ins[arg] = var(pool[len(stand_ins) % len(pool)], arg.shape)
        return stand_ins[arg]

    args = []
    for a in node.args:
        if node.op == "pow" and a.op == "norm2":
            args.append(make("norm2", (stand_in(a.args[0]),), (), ()))
        else:
            args.append(stand_in(a))
    return make(node.op, tuple(args), node.params, node.shape), stand_ins


def _short(node: Node) -> bool:
    return node.op in LEAVES or len(to_unicode(node)) <= SHORT


def _operand_words(node: Node) -> list:
    return [node] if _short(node) else ["the other factor"]


def _matmul_words(node: Node, slot: int, fused: bool) -> list:
    left, right = node.args[:slot], node.args[slot + 1:]
    if not left:
        return ["right multiplication by ", *_operand_words(matmul_chain(right))]
    if not right:
        return ["left multiplication by ", *_operand_words(matmul_chain(left))]
    return ["multiplication by ", *_operand_words(matmul_chain(left)), " on the left and ",
            *_operand_words(matmul_chain(right)), " on the right"]


def _add_words(node: Node, slot: int, fused: bool) -> list:
    a = node.args[slot]
    if a.shape == node.shape:
        return ["subtraction" if split_coefficient(a)[0] < 0 else "addition"]
    if not a.shape:
        return ["scalar added to every entry (sum of all entries)"]
    if a.ndim == 1 or (a.ndim == 2 and a.shape[0] == 1):
        return ["row-broadcast addition (sum over rows)"]
    return ["column-broadcast addition (sum over columns)"]


def _mul_words(node: Node, slot: int, fused: bool) -> list:
    others = [f for i, f in enumerate(node.args) if i != slot]
    if all(f.op == "const" for f in others):
        return ["scaling by ", mul(*others)]
    a = node.args[slot]
    if not a.shape and node.shape:
        return ["scalar times an array (sum of the entries of the product)"]
    if all(not f.shape for f in others):
        return ["scaling by ", *_operand_words(mul(*others))]
    words = ["elementwise (Hadamard) product with ", *_operand_words(mul(*others))]
    return words + ([" (broadcast, summed back)"] if a.shape != node.shape else [])


def _pow_words(node: Node, slot: int, fused: bool) -> list:
    base, exponent = node.args
    if fused:
        return ["squared Frobenius norm" if base.args[0].ndim == 2 else "squared norm"]
    if slot == 1:
        return ["power (by the exponent)"]
    return ["power ", exponent] if exponent.op == "const" else ["power (by the base)"]


def _sum_words(node: Node, slot: int, fused: bool) -> list:
    axis = node.params[0]
    return ["sum of all entries" if axis is None else "sum over rows (axis 0)" if axis == 0 else
            "sum over columns (axis 1)"]


def _named(name: str) -> Callable[[Node, int, bool], list]:
    return lambda node, slot, fused: [name]


# The chain rule of each operation in words, keyed by operation (its formula comes from the operation
# table's own pullback, see `_mapping`); an elementwise function reads "elementwise tanh".
CHAIN_RULES: dict[str, Callable[[Node, int, bool], list]] = {
    "matmul": _matmul_words,
    "transpose": _named("transpose"),
    "add": _add_words,
    "mul": _mul_words,
    "div": lambda node, slot, fused: (["division by ", *_operand_words(node.args[1])] if slot == 0
                                      else ["the divisor of a quotient"]),
    "pow": _pow_words,
    "sum": _sum_words,
    "norm2": _named("norm (Frobenius for a matrix)"),
    "tr": _named("trace"),
    "det": _named("determinant (Jacobi's formula)"),
    "logdet": _named("log-determinant"),
    "inv": _named("matrix inverse"),
    "softmax": _named("softmax"),
    "logsumexp": _named("log-sum-exp"),
    "diag": lambda node, slot, fused: ["diagonal matrix of a vector" if node.args[0].ndim == 1
                                       else "diagonal of a matrix"],
    "outer": lambda node, slot, fused: ["outer product, by its " + ("left" if slot == 0 else "right") + " vector"],
    "kron": _named("Kronecker product (a partial trace)"),
    "vec": _named("vec (column-major stacking)"),
}


def _rule_words(node: Node, slot: int, fused: bool) -> list:
    """The chain rule of `node` for its argument in `slot`, in words and math."""
    if node.op in CHAIN_RULES:
        return CHAIN_RULES[node.op](node, slot, fused)
    if OPS[node.op].elementwise:
        return [f"elementwise {node.op}"]
    return [node.op]


def _chain_rule(objective: Objective, x: Node, names: dict, taken: set, symmetric: str,
                answer_node: Node | None) -> tuple[list[Step], Node]:
    """Reverse mode replayed, recording for each operation its rule, and the cotangents it passes on."""
    f = objective.function
    seed = ONE if objective.cotangent is None else objective.cotangent
    steps: list[Step] = []
    seed_words = ["start: ∂φ/∂φ = 1"] if objective.cotangent is None else \
        ["start: the upstream gradient ", seed, " = ∂φ/∂", names["f"], " (φ = ", seed, " : ", names["f"], ")"]
    steps.append(Step("chain", _render(seed_words, STYLES["unicode"]),
                      CotangentClaim(objective, f, seed, names), seed, seed.shape, tuple(seed_words)))
    depending = dependents(f, x)
    if f not in depending:
        return steps, ZERO if not x.shape else _zeros_like(x)
    needed = depending.__contains__
    waiting: dict[Node, list[Node]] = {f: [seed]}
    records: list[tuple] = []  # ("sum", node, total, count) or ("edge", node, slot, path, argument, cotangent, fused)
    contributions: dict[Node, int] = {}
    result = None
    for node in reversed(topological(f)):
        parts = waiting.pop(node, None)
        if parts is None:
            continue
        g = parts[0] if len(parts) == 1 else add(*parts)
        if len(parts) > 1:
            records.append(("sum", node, g, len(parts)))
        if node is x:
            result = g
            break
        used: set[int] = set()
        for argument, cotangent in OPS[node.op].pullback(node, g, needed):
            slot = next((i for i, a in enumerate(node.args) if a is argument and i not in used), None)
            fused = False
            if slot is not None:
                used.add(slot)
                path = ((node, slot),)
            else:  # a rule that reaches through its argument (‖u‖² to u)
                path = ()
                for i, a in enumerate(node.args):
                    for j, b in enumerate(a.args):
                        if b is argument and not path:
                            path = ((node, i), (a, j))
                fused = bool(path)
            records.append(("edge", node, slot, path, argument, cotangent, fused))
            contributions[argument] = contributions.get(argument, 0) + 1
            waiting.setdefault(argument, []).append(cotangent)
    if result is None:
        result = _zeros_like(x)
    for record in records:
        if record[0] == "sum":
            _, node, g, count = record
            words = [f"sum of the {count} contributions to ", Math(*(_label(node, STYLES[k])
                                                                  for k in ("unicode", "text", "latex")))]
            steps.append(Step("chain", _render(words, STYLES["unicode"]),
                              CotangentClaim(objective, node, g, names), g, node.shape, tuple(words)))
            continue
        _, node, slot, path, argument, cotangent, fused = record
        words = _rule_words(node, slot if slot is not None else (path[0][1] if path else 0), fused)
        mapping = _mapping(node, slot, path, fused, taken)
        partial = contributions.get(argument, 0) > 1
        claim = CotangentClaim(objective, argument, cotangent, names, path if partial else ())
        steps.append(Step("chain", _render(words, STYLES["unicode"]), claim, cotangent, argument.shape,
                          tuple(words), mapping))
    if symmetric != "none" and x.ndim == 2 and x.params[1] & {"sym", "spd"} and answer_node is not None:
        words = _symmetric_words(x, symmetric)
        steps.append(Step("chain", _render(words, STYLES["unicode"]),
                          CotangentClaim(objective, x, answer_node, names, symmetric=symmetric),
                          answer_node, x.shape, tuple(words)))
    return steps, result


def _symmetric_words(x: Node, convention: str) -> list:
    if convention == "sym":
        return [x, " is symmetric: the gradient in the space of symmetric matrices, sym(G) = (G + Gᵀ)/2"]
    return [x, " is symmetric: the Matrix Cookbook's G + Gᵀ − G ⊙ I (by the free entries)"]


def _zeros_like(x: Node) -> Node:
    return zeros(x.shape)


def _mapping(node: Node, slot: int | None, path: tuple, fused: bool, taken: set) -> tuple:
    """(Ḡ, the rule applied to Ḡ) with long operands as placeholders: the rule as a formula."""
    try:
        pattern, _ = _pattern(node, _short, taken)
        gbar = var("Ḡ" if node.shape else "ḡ", node.shape)
        if fused:
            i, j = path[0][1], path[1][1]
            target = pattern.args[i].args[j]
            position = 0
        else:
            target = pattern.args[slot]
            position = sum(1 for a in pattern.args[:slot] if a is target)
        entries = [c for a, c in OPS[pattern.op].pullback(pattern, gbar, lambda n: n is target) if a is target]
        stood_in = pattern is not node and any(v.params[0] in PLACEHOLDERS and v not in free_variables(node)
                                               for v in free_variables(pattern))
        return (gbar, entries[position], pattern if stood_in else None) if position < len(entries) else ()
    except (MatdiffError, IndexError, TypeError, ValueError, AttributeError):
        return ()


# ---- the differential route: a Frobenius-product mover -------------------------------------------------

# identity key -> (Unicode, text, LaTeX)
IDENTITIES: dict[str, tuple[str, str, str]] = {
    "sum_product": ("sum(A ⊙ B) = A : B", "sum(A * B) = A : B", r"\operatorname{sum}(A \odot B) = A : B"),
    "sum_product_broadcast": ("sum(A ⊙ B) = A : B, the copies of a broadcast operand summed",
                              "sum(A * B) = A : B, the copies of a broadcast operand summed",
                              r"\operatorname{sum}(A \odot B) = A : B\ \text{(broadcast copies summed)}"),
    "sum": ("sum(B) = 𝟙 : B", "sum(B) = ones : B", r"\operatorname{sum}(B) = \mathbf{1} : B"),
    "sum_axis": ("A : sum(B, axis) = (A copied along the axis) : B", "A : sum(B, axis) = (A copied along axis) : B",
                 r"A : \operatorname{sum}(B) = (A\ \text{copied along the axis}) : B"),
    "left": ("A : BC = BᵀA : C", "A : B @ C = B.T @ A : C", r"A : BC = B^\top A : C"),
    "right": ("A : BC = ACᵀ : B", "A : B @ C = A @ C.T : B", r"A : BC = A C^\top : B"),
    "both": ("A : BCD = BᵀADᵀ : C", "A : B @ C @ D = B.T @ A @ D.T : C", r"A : BCD = B^\top A D^\top : C"),
    "quadratic": ("a bᵀ : C = aᵀ C b", "outer(a, b) : C = a @ C @ b", r"a b^\top : C = a^\top C b"),
    "transpose": ("A : Bᵀ = Aᵀ : B", "A : B.T = A.T : B", r"A : B^\top = A^\top : B"),
    "hadamard": ("A : (B ⊙ C) = (A ⊙ B) : C", "A : (B * C) = (A * B) : C", r"A : (B \odot C) = (A \odot B) : C"),
    "scalar_array": ("A : (b C) = (A : C) b", "A : (b * C) = (A : C) * b", r"A : (b C) = (A : C)\, b"),
    "div": ("A : (B / c) = (A / c) : B", "A : (B / c) = (A / c) : B", r"A : (B / c) = (A / c) : B"),
    "add": ("A : (B + C) = A : B + A : C", "A : (B + C) = A : B + A : C", r"A : (B + C) = A : B + A : C"),
    "add_broadcast": ("A : (B + 𝟙cᵀ) = A : B + (Aᵀ𝟙) : c (broadcast terms summed)",
                      "A : (B + c) = A : B + sum(A, axis=0) : c (broadcast terms summed)",
                      r"A : (B + \mathbf{1}c^\top) = A : B + (A^\top\mathbf{1}) : c"),
    "trace_cyclic": ("tr(ABC) = tr(CAB) = (CA)ᵀ : B (trace cyclicity, tr(PᵀQ) = P : Q)",
                     "tr(A @ B @ C) = tr(C @ A @ B) = (C @ A).T : B (trace cyclicity)",
                     r"\operatorname{tr}(ABC) = \operatorname{tr}(CAB) = (CA)^\top : B"),
    "trace": ("tr(B) = I : B", "tr(B) = eye : B", r"\operatorname{tr}(B) = I : B"),
    "diag": ("A : diag(b) = diag(A) : b", "A : diag(b) = diag(A) : b",
             r"A : \operatorname{diag}(b) = \operatorname{diag}(A) : b"),
    "outer": ("A : a bᵀ = A b : a = Aᵀa : b", "A : outer(a, b) = A @ b : a = A.T @ a : b",
              r"A : a b^\top = A b : a = A^\top a : b"),
    "kron": ("A : (B ⊗ C) by partial traces", "A : kron(B, C) by partial traces", r"A : (B \otimes C)"),
    "vec": ("a : vec(B) = unvec(a) : B", "a : vec(B) = unvec(a) : B", r"a : \operatorname{vec}(B) = \operatorname{unvec}(a) : B"),
    "scalar": ("a (b c) = (a b) c", "a * (b * c) = (a * b) * c", r"a (b c) = (a b) c"),
    "collect": ("A : C + B : C = (A + B) : C", "A : C + B : C = (A + B) : C", r"A : C + B : C = (A + B) : C"),
    "frobenius": ("φ = G : f, so dφ = G : df (A : B = sum(A ⊙ B) = tr(AᵀB))",
                  "phi = G : f, so dphi = G : df (A : B = sum(A * B) = tr(A.T @ B))",
                  r"\varphi = G : f,\ d\varphi = G : df"),
    "reverse": ("the remaining terms by reverse mode", "the remaining terms by reverse mode",
                r"\text{the remaining terms by reverse mode}"),
}
VEC_IDENTITIES: dict[str, tuple[str, str, str]] = {
    "matmul": ("vec(AXB) = (Bᵀ ⊗ A) vec X", "vec(A @ X @ B) = kron(B.T, A) @ vec(X)",
               r"\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}X"),
    "transpose": ("vec(Xᵀ) = K vec X", "vec(X.T) = commutation(m, n) @ vec(X)",
                  r"\operatorname{vec}(X^\top) = K\operatorname{vec}X"),
    "mul": ("vec(U ⊙ X) = diag(vec U) vec X", "vec(U * X) = diag(vec(U)) @ vec(X)",
            r"\operatorname{vec}(U \odot X) = \operatorname{diag}(\operatorname{vec}U)\operatorname{vec}X"),
    "outer": ("vec(a bᵀ) = b ⊗ a", "vec(outer(a, b)) = kron(b, a)", r"\operatorname{vec}(a b^\top) = b \otimes a"),
    "tr": ("tr(X) = vec(I)ᵀ vec X", "tr(X) = vec(eye(n)) @ vec(X)", r"\operatorname{tr}X = \operatorname{vec}(I)^\top \operatorname{vec}X"),
    "sum": ("𝟙ᵀX = (I ⊗ 𝟙ᵀ) vec X, X𝟙 = (𝟙ᵀ ⊗ I) vec X", "sum(X, axis=0) = kron(eye(m), ones(n)) @ vec(X)",
            r"\mathbf{1}^\top X = (I \otimes \mathbf{1}^\top)\operatorname{vec}X"),
    "kron": ("vec(A ⊗ B) = (I ⊗ K ⊗ I)(vec A ⊗ vec B)", "vec(kron(A, B)) = R @ kron(vec(A), vec(B))",
             r"\operatorname{vec}(A \otimes B) = (I \otimes K \otimes I)(\operatorname{vec}A \otimes \operatorname{vec}B)"),
    "diag": ("vec(diag v) = S v", "vec(diag(v)) = S @ v", r"\operatorname{vec}(\operatorname{diag}v) = S v"),
}


def _identity_math(key: str) -> Math:
    return Math(*IDENTITIES[key])


def _frobenius(m: Node, linear: Node) -> Node:
    return inner(m, linear)


def _form_node(pairs: Sequence[tuple[Node, Node]]) -> Node:
    if not pairs:
        return ZERO
    return add(*(_frobenius(m, linear) for m, linear in pairs))


def _render_pair(m: Node, linear: Node, style: _Style) -> tuple[bool, str]:
    """(negative, text) of one term M : L, without its sign."""
    c, body = split_coefficient(m)
    negative = c < 0
    magnitude = mul(const(abs(c)), body) if c != 1.0 and c != -1.0 else body
    if negative and c == -1.0:
        magnitude = body
    if not linear.shape:
        shown = mul(magnitude, linear)
        c2, body2 = split_coefficient(shown)
        if c2 < 0:
            negative = not negative
            shown = mul(const(-c2), body2) if c2 != -1.0 else body2
        return negative, style.expr(shown)
    left = style.expr(magnitude)
    if magnitude is ONE:
        return negative, style.expr(linear)
    right = style.expr(linear)
    if linear.op in ("add", "mul", "div") or split_coefficient(linear)[0] < 0:
        right = f"({right})"
    return negative, f"{_wrap(magnitude, left)} {style.frob} {right}"


def _render_form(pairs: Sequence[tuple[Node, Node]], style: _Style) -> str:
    if not pairs:
        return "0"
    out = []
    minus = "−" if style.name == "unicode" else "-"
    for position, (m, linear) in enumerate(pairs):
        negative, text = _render_pair(m, linear, style)
        if position == 0:
            out.append((minus if negative else "") + text)
        else:
            out.append(f" {minus if negative else '+'} {text}")
    return "".join(out)


def _dependent_index(factors: Sequence[Node], depends) -> int:
    found = [i for i, f in enumerate(factors) if depends(f)]
    if len(found) != 1:
        raise NotSupportedError("a product that is not linear in the differential")
    return found[0]


LINEAR = ("sum", "tr", "matmul", "mul", "add", "transpose", "div", "diag", "outer", "kron", "vec")


def _move(m: Node, linear: Node, dx: Node, depends) -> tuple[list[tuple[Node, Node]], str] | None:
    """One identity applied to the term M : L (L linear in dX): the terms it becomes, and the identity."""
    if linear is dx:
        return None
    op = linear.op
    needed = depends
    if op == "sum" and linear.params[0] is None and linear.args[0].op == "mul":
        product = linear.args[0]
        (_, spread), = OPS["sum"].pullback(linear, m, needed)
        entries = list(OPS["mul"].pullback(product, spread, needed))
        broadcast = any(a.shape != product.shape for a, _ in entries)
        return entries, "sum_product_broadcast" if broadcast else "sum_product"
    if op == "tr" and linear.args[0].op == "matmul" and all(f.ndim == 2 for f in linear.args[0].args):
        factors = linear.args[0].args
        i = _dependent_index(factors, depends)
        rest = list(factors[i + 1:]) + list(factors[:i])
        return [(factors[i], mul(m, transpose(matmul_chain(rest))))], "trace_cyclic"
    rule = OPS[op].pullback
    if rule is None or op not in LINEAR:
        return None
    entries = list(rule(linear, m, needed))
    if op == "matmul":
        factors = linear.args
        i = _dependent_index(factors, depends)
        left, right = factors[:i], factors[i + 1:]
        if not linear.shape and factors[i].ndim == 2 and left and right:
            key = "quadratic"
        else:
            key = "both" if left and right else "left" if left else "right"
        return entries, key
    if op == "mul":
        i = _dependent_index(linear.args, depends)
        if not linear.shape:
            key = "scalar"
        elif not linear.args[i].shape:
            key = "scalar_array"
        else:
            key = "hadamard"
        return entries, key
    if op == "add":
        broadcast = any(t.shape != linear.shape for t in linear.args if depends(t))
        return entries, "add_broadcast" if broadcast else "add"
    if op == "sum":
        return entries, "sum" if linear.params[0] is None else "sum_axis"
    keys = {"tr": "trace", "transpose": "transpose", "div": "div", "diag": "diag", "outer": "outer",
            "kron": "kron", "vec": "vec"}
    return entries, keys[op]


def _differential_rules(f: Node, x: Node, taken: set) -> list[Math]:
    """The differential rule of each operation between f and x, as the operation table states it:
    d tanh(U) = (1 − tanh(U)²) ⊙ dU, d(X W) = X dW, ..."""
    depending = dependents(f, x)
    rules: list[Math] = []
    seen: set[str] = set()
    covered: set[Node] = set()
    for node in reversed(topological(f)):
        if node not in depending or node is x or node in covered:
            continue
        if node.op == "pow" and node.args[0].op == "norm2":
            covered.add(node.args[0])
        try:
            pattern, stand_ins = _pattern(node, lambda a: a.op in LEAVES or (a not in depending and _short(a)),
                                          taken)
            moving = []
            for a in node.args:
                inner_arg = a.args[0] if (node.op == "pow" and a.op == "norm2") else a
                if inner_arg in depending:
                    moving.append(stand_ins.get(inner_arg, inner_arg))
            total = []
            done = set()
            for u in moving:
                if u in done:
                    continue
                done.add(u)
                du = var("d" + u.params[0], u.shape) if u.op == "var" else None
                if du is None:
                    continue
                total.append((u, du, differential(pattern, u, du)))
            d = add(*(t for _, _, t in total)) if total else None
        except (MatdiffError, TypeError, ValueError, AttributeError):
            continue
        if d is None:
            continue
        unicode = f"{_d_of(pattern, STYLES['unicode'])} = {to_unicode(d)}"
        if unicode in seen:
            continue
        seen.add(unicode)
        latex = rf"\mathrm{{d}}{_label(pattern, STYLES['latex'])} = {to_latex(d)}"
        for u, du, _ in total:
            latex = latex.replace(to_latex(du), r"\mathrm{d}" + to_latex(u))
        rules.append(Math(unicode, f"{_d_of(pattern, STYLES['text'])} = {to_text(d)}", latex))
    return rules


def _d_of(pattern: Node, style: _Style) -> str:
    label = _label(pattern, style)
    return "d" + label if label.startswith("(") else "d " + label


def _form_step(objective: Objective, x: Node, dx: Node, pairs: list, lhs: Math, rule_parts: tuple,
               details: tuple = ()) -> Step:
    node = _form_node(pairs)
    claim = DifferentialClaim(objective, x, dx, node, (tuple(pairs), lhs))
    return Step("differential", _render(rule_parts, STYLES["unicode"]), claim, node, (), rule_parts,
                details=details)


def _differential_route(objective: Objective, x: Node, names: dict, taken: set, symmetric: str,
                        answer: Derivative, vjp_answer: Derivative | None) -> list[Step]:
    f = objective.function
    dx = var(_d_name(x, taken), x.shape)
    df = differential(f, x, dx)
    steps: list[Step] = []
    d_phi = Math("dφ", "dphi", r"\mathrm{d}\varphi")
    depends = dependents(df, dx).__contains__
    rules = tuple(_differential_rules(f, x, taken))
    if f.shape:
        d_f = Math("d" + names["f"].unicode, "d" + names["f"].text, r"\mathrm{d}" + names["f"].latex)
        claim = DifferentialClaim(Objective(f), x, dx, df, (((ONE, df),), d_f), vectorized=False)
        steps.append(Step("differential", "the differential, by the rules of each operation", claim, df, f.shape,
                          ("the differential, by the rules of each operation",), details=rules))
        steps.extend(_vec_steps(f, x, dx, df, names, answer))
        pairs = [(objective.cotangent, df)]
        fn, g = names["f"], objective.cotangent.params[0]
        frobenius = Math(f"φ = {g} : {fn.unicode}, so dφ = {g} : d{fn.unicode} (A : B = sum(A ⊙ B) = tr(AᵀB))",
                         f"phi = {g} : {fn.text}, so dphi = {g} : d{fn.text} (A : B = sum(A * B) = tr(A.T @ B))",
                         rf"\varphi = {g} : {fn.latex},\ \mathrm{{d}}\varphi = {g} : \mathrm{{d}}{fn.latex}")
        steps.append(_form_step(objective, x, dx, pairs, d_phi, ("Frobenius product: ", frobenius)))
    else:
        pairs = [(ONE, df)]
        steps.append(_form_step(objective, x, dx, pairs, d_phi, ("the differential, by the rules of each operation",),
                                rules))
    shown = _render_form(pairs, STYLES["unicode"])
    for _ in range(400):
        position = next((i for i, (_, linear) in enumerate(pairs) if linear is not dx), None)
        if position is None:
            break
        m, linear = pairs[position]
        try:
            moved = _move(m, linear, dx, depends)
        except (MatdiffError, AssertionError, TypeError, ValueError):
            moved = None
        if moved is None:  # an unexpected term (not a linear operation of dX): reverse mode finishes it
            rest = _form_node(pairs)
            from .calculus import pullback
            pairs = [(pullback(rest, dx), dx)]
            steps.append(_form_step(objective, x, dx, pairs, d_phi, (_identity_math("reverse"),)))
            break
        entries, key = moved
        pairs = pairs[:position] + [(c, a) for a, c in entries] + pairs[position + 1:]
        now = _render_form(pairs, STYLES["unicode"])
        if now != shown:
            steps.append(_form_step(objective, x, dx, pairs, d_phi, (_identity_math(key),)))
            shown = now
    if len(pairs) > 1:
        pairs = [(add(*(m for m, _ in pairs)), dx)]
        steps.append(_form_step(objective, x, dx, pairs, d_phi, (_identity_math("collect"),)))
    gradient = pairs[0][0] if pairs else _zeros_like(x)
    xn = x.params[0]
    words = ("read off: ", Math(f"dφ = M : {dx.params[0]} ⇒ ∂φ/∂{xn} = M", f"dphi = M : {dx.params[0]} => dphi/d{xn} = M",
                                rf"\mathrm{{d}}\varphi = M : \mathrm{{d}}{to_latex(x)} \Rightarrow "
                                rf"\partial\varphi/\partial {to_latex(x)} = M"))
    steps.append(Step("differential", _render(words, STYLES["unicode"]),
                      CotangentClaim(objective, x, gradient, names), gradient, x.shape, words))
    final = vjp_answer.node if vjp_answer is not None else answer.node
    if symmetric != "none" and x.ndim == 2 and x.params[1] & {"sym", "spd"} and not f.shape:
        words = tuple(_symmetric_words(x, symmetric))
        steps.append(Step("differential", _render(words, STYLES["unicode"]),
                          CotangentClaim(objective, x, final, names, symmetric=symmetric), final, x.shape, words))
    return steps


def _vec_steps(f: Node, x: Node, dx: Node, df: Node, names: dict, answer: Derivative) -> list[Step]:
    """The Jacobian or vec form read off df: vec(dF) = J vec(dX) (a vector or scalar case without vec)."""
    fname = names["f"]
    try:
        if not x.shape:
            jacobian = differential(f, x, ONE)
            form = mul(jacobian, dx)
            lhs = Math("d" + fname.unicode, "d" + fname.text, r"\mathrm{d}" + fname.latex)
            rule: tuple = (f"derivative by a scalar: d{fname.unicode} = (∂{fname.unicode}/∂{x.params[0]}) "
                           f"d{x.params[0]}",)
            arrangement = "full"
        else:
            jacobian = vec_form(df, dx)
            vec_dx = vec(dx) if dx.ndim == 2 else dx
            form = matmul(jacobian, vec_dx)
            if f.ndim == 1 and x.ndim == 1:
                lhs = Math("d" + fname.unicode, "d" + fname.text, r"\mathrm{d}" + fname.latex)
                rule = (Math(f"Jacobian: d{fname.unicode} = J d{x.params[0]}", f"Jacobian: d{fname.text} = J d{x.params[0]}",
                             rf"\text{{Jacobian: }}\mathrm{{d}}{fname.latex} = J\,\mathrm{{d}}{to_latex(x)}"),)
                arrangement = "full"
            else:
                lhs = Math(f"vec(d{fname.unicode})", f"vec(d{fname.text})",
                           rf"\operatorname{{vec}}(\mathrm{{d}}{fname.latex})")
                ops = {n.op for n in dependents(df, dx) if n.op != "mul" or _scales_by_array(n, dx)}
                keys = [k for k in VEC_IDENTITIES if k in ops] or ["matmul"]
                rule = tuple(p for k in keys for p in (Math(*VEC_IDENTITIES[k]), "; "))[:-1]
                arrangement = "vec"
    except (MatdiffError, TypeError, ValueError):
        return []
    dx_shown = Math(f"vec({dx.params[0]})", f"vec({dx.params[0]})", rf"\operatorname{{vec}}(\mathrm{{d}}{to_latex(x)})") \
        if dx.ndim == 2 else Math(dx.params[0], dx.params[0], r"\mathrm{d}" + to_latex(x))
    rhs = Math(f"{_wrap(jacobian, to_unicode(jacobian))} {dx_shown.unicode}",
               f"{_wrap(jacobian, to_text(jacobian))} @ {dx_shown.text}" if x.shape else
               f"{_wrap(jacobian, to_text(jacobian))} * {dx_shown.text}",
               f"{_wrap(jacobian, to_latex(jacobian))} {dx_shown.latex}")
    claim = DifferentialClaim(Objective(f), x, dx, form, (((ONE, form),), lhs), vectorized=True, rhs=rhs)
    steps = [Step("differential", _render(rule, STYLES["unicode"]), claim, form, form.shape, rule)]
    what = _derivative_label(f, x, names)
    words = ("read off: ", Math(f"{lhs.unicode} = J {dx_shown.unicode} ⇒ {what.unicode} = J",
                                f"{lhs.text} = J {dx_shown.text} => {what.text} = J",
                                rf"{lhs.latex} = J\,{dx_shown.latex} \Rightarrow {what.latex} = J"))
    steps.append(Step("differential", _render(words, STYLES["unicode"]),
                      LayoutClaim(Objective(f), x, jacobian, arrangement,
                                  Math(f"{what.unicode} = {to_unicode(jacobian)}",
                                       f"{what.text} = {to_text(jacobian)}",
                                       f"{what.latex} = {to_latex(jacobian)}")),
                      jacobian, jacobian.shape, words))
    return steps


def _scales_by_array(node: Node, dx: Node) -> bool:
    """A product in df whose factor free of dX is an array (not a mere scaling)."""
    depending = dependents(node, dx)
    return any(a.shape for a in node.args if a not in depending)


def _derivative_label(f: Node, x: Node, names: dict) -> Math:
    fn, xn = names["f"], x.params[0]
    if not x.shape or (f.ndim == 1 and x.ndim == 1):
        return Math(f"∂{fn.unicode}/∂{xn}", f"d{fn.text}/d{xn}", rf"\frac{{\partial {fn.latex}}}{{\partial {xn}}}")
    return Math(f"∂ vec({fn.unicode})/∂ vec({xn})ᵀ", f"d vec({fn.text}) / d vec({xn})",
                rf"\frac{{\partial \operatorname{{vec}}{fn.latex}}}{{\partial \operatorname{{vec}}({xn})^\top}}")


# ---- index notation ------------------------------------------------------------------------------------

_SUB = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def _indexed(node: Node, indices: str, style: str) -> str:
    text = {"unicode": to_unicode, "text": to_text, "latex": to_latex}[style](node)
    if node.op != "var":
        text = f"({text})" if style != "latex" else rf"\left({text}\right)"
    if not indices:
        return text
    if style == "unicode":
        return text + indices.translate(_SUB)
    if style == "text":
        return text + "[" + ",".join(indices) + "]"
    return text + "_{" + indices + "}"


def _index_definition(f: Node, fname: Math) -> EinsumClaim | None:
    """f[i,j] written with indices, for the operations that are sums of products (an einsum)."""
    out = "ij"[:f.ndim] if f.ndim == 2 else "i"[:f.ndim]
    operands: list[Node] = []
    subscripts: list[str] = []
    if f.op == "matmul":
        # factor t carries the indices at its two boundaries; the outer boundaries are the entry's own
        # indices (absent at a vector end), the inner ones are summed
        k = len(f.args)
        free = iter(out)
        letters = iter("prstuv")  # letters with Unicode subscripts
        first_vector, last_vector = f.args[0].ndim == 1, f.args[-1].ndim == 1
        bounds = [None if first_vector else next(free)] + [next(letters) for _ in range(k - 1)]
        bounds.append(None if last_vector else next(free))
        for t, factor in enumerate(f.args, start=1):
            subscripts.append(bounds[t - 1] + bounds[t] if factor.ndim == 2 else
                              bounds[1] if t == 1 else bounds[k - 1])
            operands.append(factor)
    elif f.op == "transpose":
        operands, subscripts = [f.args[0]], ["ji"]
    elif f.op == "mul" and all(a.shape == f.shape for a in f.args):
        operands, subscripts = list(f.args), [out] * len(f.args)
    elif f.op == "outer":
        operands, subscripts = list(f.args), ["i", "j"]
    else:
        return None
    spec = ",".join(subscripts) + "->" + out
    try:
        np.einsum(spec, *[np.ones([2] * len(s)) for s in subscripts])
    except ValueError:
        return None
    summed = "".join(sorted(set("".join(subscripts)) - set(out)))

    def spelled(style: str) -> str:
        parts = [_indexed(o, s, style) for o, s in zip(operands, subscripts)]
        if style == "unicode":
            lhs = fname.unicode + out.translate(_SUB)
            total = ("Σ" + summed.translate(_SUB) + " ") if summed else ""
            return f"{lhs} = {total}{' '.join(parts)}"
        if style == "text":
            lhs = fname.text + ("[" + ",".join(out) + "]" if out else "")
            total = ("sum_" + summed + " ") if summed else ""
            return f"{lhs} = {total}{' '.join(parts)}"
        total = (r"\sum_{" + summed + "} ") if summed else ""
        return f"{fname.latex}_{{{out}}} = {total}{' '.join(parts)}"

    return EinsumClaim(f, spec, tuple(operands), Math(spelled("unicode"), spelled("text"), spelled("latex")))


def _index_route(f: Node, x: Node, objective: Objective, names: dict, answer: Derivative,
                 vjp_answer: Derivative | None, variables: Mapping[str, VarSpec]) -> tuple[list[Step], str]:
    steps: list[Step] = []
    definition = _index_definition(f, names["f"])
    if definition is not None:
        words = ("definition, indices i, j for the entries, summed over repeated letters",)
        steps.append(Step("index", words[0], definition, f, f.shape, words))
    try:
        from .calculus.index import index_form, index_form_of
    except ImportError:
        return steps, "index notation is not available in this version"
    try:
        name = names["f"].unicode if len(names["f"].unicode) == 1 and len(answer.wrt) == 1 else None
        form = index_form(answer, name)
        shown = Math(form.unicode, form.text, form.latex)
        words = (f"the derivative as a tensor: {form.shape_text}",)
        steps.append(Step("index", words[0], TensorClaim(Objective(f), x, (form.evaluate,), shown),
                          None, form.shape, words))
        if vjp_answer is not None and objective.cotangent is not None:
            g = objective.cotangent
            # φ = sum(G ⊙ f) built as it stands: the constructors could respell f (a symmetric variable is
            # its own transpose to them), which would change φ off the symmetric matrices
            phi = make("sum", (make("mul", (g, f), (), f.shape),), (None,), ())
            contracted = index_form_of(phi, x, dict(variables, **{g.params[0]: VarSpec(g.params[0], g.shape)}),
                                       header={"name": "φ"})
            fi = "ij"[:f.ndim]
            vi = "kl"[:x.ndim]
            gname = g.params[0]
            rhs = [part.split(" = ", 1)[1] for part in (contracted.unicode, contracted.text, contracted.latex)]
            vjp_node = vjp_answer.node
            total = Math(
                f"∂φ/∂{x.params[0]}{vi.translate(_SUB)} = Σ{fi.translate(_SUB)} {gname}{fi.translate(_SUB)} "
                f"∂{names['f'].unicode}{fi.translate(_SUB)}/∂{x.params[0]}{vi.translate(_SUB)} = {rhs[0]}"
                f" = {_indexed(vjp_node, vi, 'unicode')}",
                f"dphi/d{x.params[0]}[{','.join(vi)}] = sum_{fi} {gname}[{','.join(fi)}] "
                f"d{names['f'].text}[{','.join(fi)}]/d{x.params[0]}[{','.join(vi)}] = {rhs[1]}"
                f" = {_indexed(vjp_node, vi, 'text')}",
                rf"\frac{{\partial\varphi}}{{\partial {x.params[0]}_{{{vi}}}}} = \sum_{{{fi}}} {gname}_{{{fi}}}"
                rf" \frac{{\partial {names['f'].latex}_{{{fi}}}}}{{\partial {x.params[0]}_{{{vi}}}}} = {rhs[2]}"
                rf" = {_indexed(vjp_node, vi, 'latex')}")

            def as_written(values, sizes, node=vjp_node):
                return _value(node, Point(values, sizes))

            words = ("contract with the upstream gradient: the backprop rule",)
            steps.append(Step("index", words[0], TensorClaim(objective, x, (contracted.evaluate, as_written), total),
                              vjp_node, x.shape, words))
    except (MatdiffError, TypeError, ValueError, AttributeError, KeyError, IndexError):
        return steps, "this derivative has no index form here"
    return steps, ""


# ---- notation ------------------------------------------------------------------------------------------


def _layout_steps(f: Node, x: Node, objective_f: Objective, answer: Derivative, names: dict, chosen: str,
                  symmetric: str) -> list[Step]:
    """The answer in numerator, denominator and mixed layout, each checked against the full tensor."""
    node = answer.node
    fname = names["f"].unicode
    xn = x.params[0]
    xs, fs = format_shape(x.shape), format_shape(f.shape)
    t = transpose(node)
    gradient_words = f"shaped like {xn} ({xs}), the gradient"
    if not f.shape and not x.shape:
        table = {k: (node, "full", "a scalar") for k in LAYOUTS}
    elif not f.shape and x.ndim == 1:
        table = {"numerator": (node, "row", f"a 1×{xs} row, ∂φ/∂{xn}ᵀ"),
                 "denominator": (node, "column", f"a {xs}×1 column"),
                 "mixed": (node, "full", gradient_words)}
    elif not f.shape:
        table = {"numerator": (t, "transpose", f"{format_shape(tuple(reversed(x.shape)))}, transposed"),
                 "denominator": (node, "full", gradient_words),
                 "mixed": (node, "full", gradient_words)}
    elif not x.shape:
        shaped = f"shaped like {fname} ({fs})"
        table = {"numerator": (node, "full", shaped),
                 "denominator": (node, "row", f"a 1×{fs} row") if f.ndim == 1 else
                 (t, "transpose", f"{format_shape(tuple(reversed(f.shape)))}, transposed"),
                 "mixed": (node, "full", shaped)}
    elif f.ndim == 1 and x.ndim == 1:
        table = {"numerator": (node, "full", f"the Jacobian, {fs}×{xs}, J[i, j] = ∂{fname}[i]/∂{xn}[j]"),
                 "denominator": (t, "transpose", f"{xs}×{fs}, the Jacobian transposed"),
                 "mixed": (node, "full", "the Jacobian, as in numerator layout")}
    else:
        table = {"numerator": (node, "vec", f"d vec({fname})/d vec({xn})ᵀ, a row per entry of vec({fname})"),
                 "denominator": (t, "vec_transpose", f"d vec({fname})ᵀ/d vec({xn}), transposed"),
                 "mixed": (node, "vec", "as numerator layout")}
    steps = []
    for layout in LAYOUTS:
        expression, arrangement, description = table[layout]
        marker = " (chosen)" if layout == chosen else ""
        words = (f"{layout}{marker}: {description}",)
        shown = Math(f"{layout}: {to_unicode(expression)}", f"{layout}: {to_text(expression)}",
                     rf"\text{{{layout}: }} {to_latex(expression)}")
        claim = LayoutClaim(objective_f, x, expression, arrangement, shown, symmetric)
        steps.append(Step("notation", words[0], claim, expression, expression.shape, words))
    return steps


def _notes(f: Node, x: Node, names: dict, answer: Derivative, vjp_answer: Derivative | None,
           cotangent: Node | None, order: int = 1) -> list[Math]:
    fname, xn = names["f"], x.params[0]
    dx = "d" + xn
    notes = [Math(f"A : B = sum(A ⊙ B) = tr(AᵀB) is the Frobenius product (aᵀb for vectors): "
                  f"dφ = M : {dx} means ∂φ/∂{xn} = M. This answer: {answer.layout}.",
                  f"A : B = sum(A * B) = tr(A.T @ B) is the Frobenius product (a @ b for vectors): "
                  f"dphi = M : {dx} means dphi/d{xn} = M. This answer: {answer.layout}.",
                  r"A : B = \operatorname{sum}(A \odot B) = \operatorname{tr}(A^\top B)\text{ (Frobenius product): }"
                  rf"\mathrm{{d}}\varphi = M : \mathrm{{d}}{xn} \Rightarrow \partial\varphi/\partial {xn} = M")]
    if order == 2 and cotangent is not None and vjp_answer is not None:
        g = cotangent.params[0]
        unicode = (f"The Hessian of f is the derivative of its gradient g = ∂f/∂{xn}: the routes above differentiate "
                   f"g. Contracted with a vector {g} it is the Hessian-vector product ∂(gᵀ{g})/∂{xn} = "
                   f"{to_unicode(vjp_answer.node)}.")
        text = (f"The Hessian of f is the derivative of its gradient g = df/d{xn}: the routes above differentiate "
                f"g. Contracted with a vector {g} it is the Hessian-vector product d(g @ {g})/d{xn} = "
                f"{to_text(vjp_answer.node)}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    elif f.shape and cotangent is not None and vjp_answer is not None and x.shape and f.ndim + x.ndim == 2:
        g = cotangent.params[0]
        unicode = (f"∂{fname.unicode}/∂{xn} is the Jacobian J; contracted with an upstream gradient "
                   f"{g} = ∂φ/∂{fname.unicode} it gives the backprop rule ∂φ/∂{xn} = Jᵀ{g} = "
                   f"{to_unicode(vjp_answer.node)}.")
        text = (f"d{fname.text}/d{xn} is the Jacobian J; contracted with an upstream gradient "
                f"{g} = dphi/d{fname.text} it gives the backprop rule dphi/d{xn} = J.T @ {g} = "
                f"{to_text(vjp_answer.node)}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    elif f.shape and cotangent is not None and vjp_answer is not None and x.shape:
        order = f.ndim + x.ndim
        what = {2: "a matrix", 3: "a 3rd-order tensor", 4: "a 4th-order tensor"}.get(order, "a tensor")
        shape = format_shape(tuple(f.shape) + tuple(x.shape))
        g = cotangent.params[0]
        vjp_u, vjp_t = to_unicode(vjp_answer.node), to_text(vjp_answer.node)
        code_u = re.sub(rf"\b{re.escape(g)}\b", "d" + fname.unicode, vjp_u)
        code_t = re.sub(rf"\b{re.escape(g)}\b", "d" + fname.text, vjp_t)
        fi, vi = "ij"[:f.ndim], "kl"[:x.ndim]
        entry_u = f"∂{fname.unicode}{fi.translate(_SUB)}/∂{xn}{vi.translate(_SUB)}"
        entry_t = f"d{fname.text}[{','.join(fi)}]/d{xn}[{','.join(vi)}]"
        if f.ndim == 2 or x.ndim == 2:
            written_u = f"matdiff writes it as the matrix d vec({fname.unicode})/d vec({xn})ᵀ"
            written_t = f"matdiff writes it as the matrix d vec({fname.text}) / d vec({xn})"
        else:
            written_u = written_t = "the Jacobian"
        unicode = (f"{fname.unicode} is {format_shape(f.shape)}, {xn} is {format_shape(x.shape)}: ∂{fname.unicode}/∂{xn} "
                   f"is {what} ({shape}), {entry_u}; {written_u}. The rule you may have seen, "
                   f"d{xn} = {code_u} in backprop code, is ∂φ/∂{xn} = {vjp_u}: the gradient of a scalar φ through "
                   f"{fname.unicode}, with {g} = ∂φ/∂{fname.unicode}; it contracts the tensor with {g}.")
        text = (f"{fname.text} is {format_shape(f.shape)}, {xn} is {format_shape(x.shape)}: d{fname.text}/d{xn} "
                f"is {what} ({shape}), {entry_t}; {written_t}. The rule you may have seen, "
                f"d{xn} = {code_t} in backprop code, is dphi/d{xn} = {vjp_t}: the gradient of a scalar phi through "
                f"{fname.text}, with {g} = dphi/d{fname.text}; it contracts the tensor with {g}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    return notes


# ---- the small explicit check -----------------------------------------------------------------------------


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

    def compute(self, point: Point) -> tuple[np.ndarray, np.ndarray]:
        formula = _value(self.formula, point)
        tensor = _full_derivative(self.objective, self.x, point)
        if self.symmetric != "none" and tensor.ndim == 2 and not self.objective.function.shape:
            tensor = _symmetrised(tensor, self.symmetric)
        out_ndim = self.objective.function.ndim if self.objective.cotangent is None else 0
        return formula, _arrange(tensor, out_ndim, self.arrangement)


@dataclass(frozen=True, eq=False)
class SmallExample:
    """Tiny 0/1 matrices (sizes 2 and 3) where the function is defined, and the comparisons made there."""

    sizes: dict
    values: dict
    items: tuple

    @property
    def agrees(self) -> bool:
        return all(item.error <= 1e-6 for item in self.items)

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
        computed = _evaluate_all(root, env)
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


def _small_example(f: Node, x: Node, variables: Mapping[str, VarSpec], answer: Derivative,
                   vjp_answer: Derivative | None, cotangent: Node | None, names: dict,
                   symmetric: str) -> SmallExample | None:
    sizes = _small_sizes(variables)
    specs = dict(variables)
    if cotangent is not None:
        specs[cotangent.params[0]] = VarSpec(cotangent.params[0], cotangent.shape)
    roots = [f, answer.node] + ([vjp_answer.node] if vjp_answer is not None else [])
    invertible = {v.params[0] for n in topological(f) if n.op in ("inv", "det", "logdet")
                  for v in free_variables(n.args[0])}
    best = None
    for attempt in range(240):
        rng = np.random.default_rng(attempt)
        try:
            values = {name: _small_value(spec, sizes, rng, plus_identity=attempt % 2 == 1 and name in invertible)
                      for name, spec in specs.items()}
            point = Point(values, sizes)
            env = _environment(roots, point)
        except (MatdiffError, KeyError, ValueError):
            continue
        if not all(_well_defined(r, env) for r in roots):
            continue
        items = _example_items(f, x, answer, vjp_answer, cotangent, names, symmetric, point)
        if items is None:
            continue
        example = SmallExample(sizes, {k: v for k, v in values.items()}, tuple(items))
        if example.agrees and (attempt >= 80 or not _degenerate(values, specs)):
            return example
        if example.agrees and best is None:
            best = example
    return best


def _degenerate(values: Mapping[str, np.ndarray], specs: Mapping[str, VarSpec]) -> bool:
    """A zero row or column, or a matrix of ones: a point that hides what the formula does."""
    for name, value in values.items():
        if value.ndim == 2 and (not value.any(axis=1).all() or not value.any(axis=0).all() or
                                (value.size > 1 and np.all(value == value.flat[0]))):
            return True
        if value.ndim == 1 and value.size > 1 and np.all(value == value[0]):
            return True
    return False


def _example_items(f, x, answer, vjp_answer, cotangent, names, symmetric, point) -> list | None:
    items = []
    xn = x.params[0]
    objective = Objective(f)
    if not f.shape:
        label = Math(f"∂φ/∂{xn} = {to_unicode(answer.node)}", f"dphi/d{xn} = {to_text(answer.node)}",
                     rf"\partial\varphi/\partial {xn}")
        specs = [(label, answer.node, objective, "full", symmetric if x.ndim == 2 else "none")]
    else:
        what = _derivative_label(f, x, names)
        arrangement = "vec" if answer.is_vec_form else "full"
        specs = [(Math(f"{what.unicode} = {to_unicode(answer.node)}", f"{what.text} = {to_text(answer.node)}",
                       what.latex), answer.node, objective, arrangement, "none")]
        if vjp_answer is not None:
            specs.append((Math(f"∂φ/∂{xn} = {to_unicode(vjp_answer.node)} (φ = {cotangent.params[0]} : "
                               f"{names['f'].unicode})",
                               f"dphi/d{xn} = {to_text(vjp_answer.node)} (phi = sum({cotangent.params[0]} * "
                               f"{names['f'].text}))", rf"\partial\varphi/\partial {xn}"),
                          vjp_answer.node, Objective(f, cotangent), "full", "none"))
    for label, formula, obj, arrangement, convention in specs:
        item = ExampleItem(label, formula, obj, x, arrangement, convention, np.zeros(()), np.zeros(()), math.inf)
        try:
            value, reference = item.compute(point)
        except (MatdiffError, ValueError, np.linalg.LinAlgError):
            return None
        error = float(np.max(np.abs(np.asarray(value, float).reshape(np.shape(reference)) - reference))) \
            if np.size(value) == np.size(reference) else math.inf
        items.append(ExampleItem(label, formula, obj, x, arrangement, convention,
                                 np.asarray(value, float).reshape(np.shape(reference)), reference,
                                 error / max(1.0, float(np.max(np.abs(reference))) if np.size(reference) else 1.0)))
    return items


# ---- the derivation ------------------------------------------------------------------------------------


class Derivation:
    """A derivative shown step by step: the chain rule, the differential route, index notation, the notation
    used and a small 0/1 check. Prints as text, Unicode, Markdown (with LaTeX) and LaTeX; `steps` are
    structured, each with a checkable claim (`verify`)."""

    def __init__(self, function: Expression, x: Node, layout: str, answer: Derivative,
                 vjp_answer: Derivative | None, cotangent: Node | None, names: dict, steps: list[Step],
                 notes: list[Math], example: SmallExample | None, index_note: str, order: int,
                 gradient_node: Node | None, variables: Mapping[str, VarSpec]) -> None:
        self.function = function
        self.by = x
        self.wrt = x.params[0]
        self.layout = layout
        self.answer = answer
        self.vjp = vjp_answer
        self.cotangent = cotangent
        self.names = names
        self.steps = steps
        self.notes = notes
        self.example = example
        self.index_note = index_note
        self.order = order
        self.gradient = gradient_node
        self.variables = dict(variables)
        self.explained = gradient_node if gradient_node is not None else function.node  # what the routes differentiate

    # -- structure
    def section(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.section == name]

    @property
    def chain_rule(self) -> list[Step]:
        return self.section("chain")

    @property
    def differential_route(self) -> list[Step]:
        return self.section("differential")

    @property
    def index_route(self) -> list[Step]:
        return self.section("index")

    @property
    def layouts(self) -> list[Step]:
        return self.section("notation")

    @property
    def claims(self) -> list[Claim]:
        return [s.claim for s in self.steps]

    # -- checking
    def random_point(self, seed: int = 0) -> Point:
        """A random point where the function is defined: sizes 2, 3, 4, ...; spd, pos and sym respected."""
        rng = np.random.default_rng(seed)
        specs = dict(self.variables)
        sizes: dict[str, int] = {}
        for spec in specs.values():
            for d in spec.shape:
                for symbol in ([d] if isinstance(d, str) else list(getattr(d, "symbols", ()))):
                    sizes.setdefault(symbol, 2 + len(sizes) % 3)
        values = {}
        for name, spec in specs.items():
            shape = tuple(dim_value(d, sizes) for d in spec.shape)
            if "spd" in spec.properties:
                a = rng.normal(size=shape)
                values[name] = a @ a.T / shape[0] + np.eye(shape[0])
            elif "pos" in spec.properties:
                values[name] = rng.uniform(0.5, 2.0, size=shape)
            else:
                v = rng.normal(scale=0.3 if "small" in spec.properties else 0.7, size=shape)
                values[name] = (v + v.T) / 2 if "sym" in spec.properties else v
        return Point(values, sizes)

    def verify(self, point: Point | None = None, seed: int = 0) -> list[tuple[Step, float]]:
        """Every step's claim checked at a point: [(step, relative error)]; errors ≲ 1e-6 hold."""
        point = point or self.random_point(seed)
        rng = np.random.default_rng(seed)
        return [(step, _checked(step.claim, point, rng)) for step in self.steps]

    # -- spellings
    @property
    def title(self) -> Math:
        f = self.function.node
        fname = self.names["f"]
        if self.order == 2:
            return Math(f"Hessian of {to_unicode(self.names['objective_node'])} by {self.wrt}: the derivative of "
                        f"the gradient g = ∂f/∂{self.wrt}",
                        f"Hessian of {to_text(self.names['objective_node'])} by {self.wrt}: the derivative of "
                        f"the gradient g = df/d{self.wrt}",
                        rf"\text{{Hessian of }} {to_latex(self.names['objective_node'])}")
        if not f.shape:
            return Math(f"∂φ/∂{self.wrt} for φ = {to_unicode(f)}", f"dphi/d{self.wrt} for phi = {to_text(f)}",
                        rf"\frac{{\partial\varphi}}{{\partial {self.wrt}}},\ \varphi = {to_latex(f)}")
        return Math(f"∂{fname.unicode}/∂{self.wrt} for {fname.unicode} = {to_unicode(f)}",
                    f"d{fname.text}/d{self.wrt} for {fname.text} = {to_text(f)}",
                    rf"\frac{{\partial {fname.latex}}}{{\partial {self.wrt}}},\ {fname.latex} = {to_latex(f)}")

    def _declarations(self) -> str:
        return ", ".join(f"{name}: {format_shape(spec.shape)}" + "".join(f" {p}" for p in sorted(spec.properties))
                         for name, spec in self.function.variables.items())

    def _answer_lines(self, style: _Style) -> list[str]:
        a = self.answer
        what = _derivative_label(self.explained, self.by, self.names) if self.explained.shape else \
            Math(f"∂φ/∂{self.wrt}", f"dphi/d{self.wrt}", rf"\partial\varphi/\partial {self.wrt}")
        lines = [f"{what.in_style(style)} = {style.expr(a.node)}   [{a.shape_text}; {style.words(a.layout)}]"]
        if self.vjp is not None:
            g = self.cotangent.params[0]
            phi = f"{style.phi} = {g} {style.frob} {self.names['f'].in_style(style)}"
            what = "Hessian-vector product" if self.order == 2 else "backprop rule"
            lines.append(f"{what} ({phi}): {style.gradient(style.phi, self.wrt)} = {style.expr(self.vjp.node)}")
        return lines

    def render(self, style_name: str = "unicode") -> str:
        """The derivation as plain text ("text": expressions in the language) or Unicode."""
        style = STYLES[style_name]
        lines = [f"Explain {self.title.in_style(style)}   ({self._declarations()})"]
        titles = {k: style.words(v) for k, v in SECTION_TITLES.items()}
        for position, line in enumerate(self._answer_lines(style)):
            lines.append(("Answer: " if position == 0 else "        ") + line)
        number = 0
        for section in SECTIONS:
            steps = self.section(section)
            if section == "check":
                if self.example is not None:
                    number += 1
                    lines.append("")
                    lines.append(f"{number}. {titles[section]}")
                    lines.extend(self._example_lines(style))
                continue
            if section == "notation":
                number += 1
                lines.append("")
                lines.append(f"{number}. {titles[section]}")
                for note in self.notes:
                    lines.append("   " + note.in_style(style))
                lines.append(style.words("   Layouts (numerator: entries of f down, of the variable across; "
                                         "denominator: transposed; mixed: gradients shaped like the variable, "
                                         "Jacobians as in numerator):"))
                for step in steps:
                    lines.append(f"     {step.rule_in(style)}{self._layout_tail(step, style)}")
                continue
            if not steps and not (section == "index" and self.index_note and self.explained.shape):
                continue
            number += 1
            lines.append("")
            lines.append(f"{number}. {titles[section]}")
            if section == "chain":
                lines.extend(self._chain_lines(steps, style))
            elif section == "differential":
                lines.extend(self._differential_lines(steps, style))
            else:
                for step in steps:
                    lines.append(f"   {step.claim.render(style)}")
                if self.index_note:
                    lines.append(f"   ({self.index_note})")
        return "\n".join(lines)

    def _chain_lines(self, steps: list[Step], style: _Style) -> list[str]:
        lines = []
        for k, step in enumerate(steps):
            if k == 0:
                lines.append(f"   {step.rule_in(style)}")
                continue
            lines.append(f"   {k}. {step.rule_in(style)}")
            lines.append(f"      {step.claim.render(style)}   [{step.shape_text}]")
        return lines

    def _layout_tail(self, step: Step, style: _Style) -> str:
        if step.expression is self.answer.node:
            return " = the answer"
        if step.expression is transpose(self.answer.node):
            return " = the answer transposed" if style.name != "unicode" else " = (the answer)ᵀ"
        return f": {style.expr(step.expression)}"

    def _differential_lines(self, steps: list[Step], style: _Style) -> list[str]:
        lines = []
        previous = None
        for step in steps:
            claim = step.claim
            if isinstance(claim, DifferentialClaim):
                lhs, rhs = claim.render(style).split(" = ", 1)
                shown = " " * len(lhs) if lhs == previous else lhs
                previous = lhs
                lines.append(f"   {shown} = {rhs}   [{step.rule_in(style)}]")
                if step.details:
                    lines.append("      by " + "; ".join(m.in_style(style) for m in step.details))
            else:
                previous = None
                lines.append(f"   {style.implies} {claim.render(style)}   [{step.rule_in(style)}]")
        return lines

    def _example_lines(self, style: _Style) -> list[str]:
        ex = self.example
        lines = ["   " + ", ".join(f"{k} = {v}" for k, v in ex.sizes.items()) +
                 " (0/1 entries, chosen so that the function is defined)"]
        lines += ["   " + a for a in ex.assignments()]
        for item in ex.items:
            lines.append(f"   {item.label.in_style(style)}")
            lines.append(f"     formula:            {array_text(item.formula_value, 25)}")
            lines.append(f"     central difference: {array_text(item.reference, 25)}")
            verdict = "agree" if item.error <= 1e-6 else "DISAGREE"
            lines.append(f"     max relative difference {item.error:.1e}: {verdict}")
        return lines

    @property
    def text(self) -> str:
        return self.render("text")

    @property
    def unicode(self) -> str:
        return self.render("unicode")

    def __str__(self) -> str:
        return self.unicode

    def __repr__(self) -> str:
        return f"Derivation({self.title.unicode!r}, {len(self.steps)} steps)"

    @property
    def markdown(self) -> str:
        """Markdown with LaTeX math ($…$, $$…$$): renders in Jupyter and on GitHub."""
        style = STYLES["latex"]
        out = [f"### ${self.title.latex}$", "", f"Variables: `{self._declarations()}`", ""]
        what = _derivative_label(self.explained, self.by, self.names).latex if self.explained.shape \
            else rf"\frac{{\partial\varphi}}{{\partial {self.wrt}}}"
        out.append(f"**Answer** ({self.answer.layout}):\n\n$${what} = {self.answer.latex}$$")
        if self.vjp is not None:
            g = self.cotangent.params[0]
            what = "Hessian-vector product" if self.order == 2 else "Backprop rule"
            out.append(f"**{what}** (upstream gradient ${g} = \\partial\\varphi/\\partial "
                       f"{self.names['f'].latex}$):\n\n$$\\frac{{\\partial\\varphi}}{{\\partial {self.wrt}}} = "
                       f"{self.vjp.latex}$$")
        number = 0
        for section in SECTIONS:
            steps = self.section(section)
            if section == "check":
                if self.example is None:
                    continue
                number += 1
                out += ["", f"#### {number}. {SECTION_TITLES[section]}", "", "```python", "import numpy as np"]
                out += self.example.assignments()
                out.append("```")
                for item in self.example.items:
                    out += ["", f"- {item.label.unicode}", "```python",
                            f"formula = {array_text(item.formula_value, 10)}",
                            f"central_difference = {array_text(item.reference, 21)}", "```",
                            f"max relative difference {item.error:.1e}: "
                            f"{'agree' if item.error <= 1e-6 else 'DISAGREE'}"]
                continue
            if not steps and section != "notation":
                continue
            number += 1
            out += ["", f"#### {number}. {SECTION_TITLES[section]}", ""]
            if section == "chain":
                for k, step in enumerate(steps):
                    prefix = "- " if k == 0 else f"{k}. "
                    out.append(f"{prefix}{step.rule_markdown()}" + (
                        f"  \n   ${step.claim.latex}$ &nbsp; (${_shape_latex(step.shape)}$)" if k else ""))
            elif section == "differential":
                rows = []
                for step in steps:
                    claim = step.claim
                    body = claim.latex
                    tag = step.rule_in(style)
                    if isinstance(claim, DifferentialClaim):
                        lhs, rhs = body.split(" = ", 1)
                        rows.append(f"{lhs} &= {rhs} && {tag}")
                    else:
                        rows.append(rf"&\Rightarrow {body} && {tag}")
                out.append("$$\n\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}\n$$")
                details = [m.latex for s in steps for m in s.details]
                if details:
                    out.append("by " + ", ".join(f"${d}$" for d in details))
            elif section == "index":
                for step in steps:
                    out.append(f"- {step.rule}: ${step.claim.latex}$")
                if self.index_note:
                    out.append(f"- ({self.index_note})")
            else:
                for note in self.notes:
                    out.append(f"- {note.unicode}")
                for step in steps:
                    tail = self._layout_tail(step, style)
                    tail = tail if tail.startswith(" = ") else f": ${to_latex(step.expression)}$"
                    out.append(f"- {step.rule}{tail}")
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        return self.markdown

    @property
    def latex(self) -> str:
        """A LaTeX fragment (amsmath): the routes as aligned equations, each line tagged with its rule."""
        style = STYLES["latex"]
        out = [rf"\paragraph{{Derivative}} ${self.title.latex}$."]
        out.append(r"\[" + self._answer_lines(style)[0].split("   [")[0] + r"\]")
        for section in ("chain", "differential", "index", "notation"):
            steps = self.section(section)
            if not steps:
                continue
            title = SECTION_TITLES[section].replace("φ", r"$\varphi$").replace("∂", r"$\partial$")
            out.append(r"\paragraph{" + title + "}")
            rows = []
            for step in steps:
                rows.append(rf"{step.claim.latex} && {step.rule_in(style)}")
            out.append("\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}")
        if self.example is not None:
            out.append(r"\paragraph{A small explicit check}")
            out.append("\\begin{verbatim}\n" + "\n".join(self.example.assignments()) + "\n" + "\n".join(
                f"{item.label.text}\nformula = {array_text(item.formula_value)}\n"
                f"central_difference = {array_text(item.reference)}\nmax relative difference {item.error:.1e}"
                for item in self.example.items) + "\n\\end{verbatim}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        ex = self.example
        return {
            "function": self.function.text,
            "wrt": self.wrt,
            "order": self.order,
            "layout": self.layout,
            "answer": {"text": self.answer.text, "unicode": self.answer.unicode, "latex": self.answer.latex,
                       "kind": self.answer.kind, "layout": self.answer.layout,
                       "shape": [d if isinstance(d, int) else str(d) for d in self.answer.shape]},
            "vjp": None if self.vjp is None else {"text": self.vjp.text, "unicode": self.vjp.unicode,
                                                  "cotangent": self.cotangent.params[0]},
            "steps": [s.to_dict() for s in self.steps],
            "notes": [n.unicode for n in self.notes],
            "check": None if ex is None else {
                "sizes": ex.sizes, "values": {k: np.asarray(v).tolist() for k, v in ex.values.items()},
                "items": [{"label": i.label.unicode, "formula": np.asarray(i.formula_value).tolist(),
                           "central_difference": np.asarray(i.reference).tolist(), "error": i.error}
                          for i in ex.items]},
        }

    @property
    def json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def _shape_latex(shape: tuple) -> str:
    return r"\text{scalar}" if not shape else r" \times ".join(str(d) for d in shape)


# ---- the entry point -----------------------------------------------------------------------------------


def explain(expr: "str | Expression", wrt: str, shapes: Any = None, layout: str = "numerator", *,
            cotangent: str = "G", order: int = 1, symmetric: str = "sym", example: bool = True) -> Derivation:
    """The derivative of `expr` by `wrt`, derived step by step (see the module docstring).

    `layout` (numerator, denominator or mixed) is the layout the notation section marks as chosen; every
    layout's answer is given. `cotangent` names the upstream gradient of a function that is not a scalar.
    `order=2` explains a Hessian as the derivative of the gradient. `symmetric` is as in `derivative`.
    """
    cotangent = cotangent or "G"
    if layout not in LAYOUTS:
        raise DeclarationError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise DeclarationError(f"explain shows derivatives of order 1 and 2, got order={order!r}")
    node, variables = _expression(expr, shapes)
    if not isinstance(wrt, str):
        wrt = getattr(wrt, "text", wrt)
    x = _variable(wrt, variables)
    function = Expression(node, variables)
    taken = set(variables) | {v.params[0] for v in free_variables(node)}
    answer = derivative(function, wrt, order=order, symmetric=symmetric)
    gradient_node = None
    objective_node = node
    if order == 2:
        if node.shape:
            raise NotSupportedError("a Hessian is for a scalar function")
        gradient_node = derive_once(node, x, symmetric)
        node = gradient_node
    names: dict = {"phi": Math("φ", "phi", r"\varphi"), "objective_node": objective_node}
    if node.shape:
        preferred = ("g", "h") if order == 2 else (("D", "F", "H", "Z") if node.ndim == 2 else ("f", "h", "z", "u"))
        names["f"] = _math_name(_fresh(preferred, taken))
    else:
        names["f"] = Math("φ", "phi", r"\varphi")
    g = None
    vjp_answer = None
    if node.shape:
        g_name = _fresh((cotangent, cotangent + "_", "G", "H"), taken) if cotangent in taken else cotangent
        taken.add(g_name)
        g = var(g_name, node.shape)
        vjp_answer = vjp(Expression(node, variables), wrt, cotangent=g_name) if order == 1 else \
            _vjp_of(node, x, g, variables)
    objective = Objective(node, g)
    steps: list[Step] = []
    if order == 2:
        words = ("the gradient first: g = ∂f/∂", x)
        steps.append(Step("chain", _render(words, STYLES["unicode"]),
                          CotangentClaim(Objective(objective_node), x, gradient_node,
                                         {"phi": Math("f", "f", "f")},
                                         symmetric=symmetric if x.ndim == 2 and x.params[1] & {"sym", "spd"}
                                         else "none"),
                          gradient_node, x.shape, words))
    symmetric_x = x.ndim == 2 and bool(x.params[1] & {"sym", "spd"})
    sym_convention = symmetric if (not node.shape and symmetric_x) else "none"
    chain_steps, _ = _chain_rule(objective, x, names, taken, sym_convention,
                                 answer.node if not node.shape else None)
    if order == 2:  # the seed line stays first
        steps = [chain_steps[0], *steps, *chain_steps[1:]]
    else:
        steps += chain_steps
    steps += _differential_route(objective, x, names, taken, sym_convention, answer, vjp_answer)
    index_note = ""
    if node.shape:
        index_steps, index_note = _index_route(node, x, objective, names, answer, vjp_answer, variables)
        steps += index_steps
    layout_objective = Objective(node)
    steps += _layout_steps(node, x, layout_objective, answer, names, layout, sym_convention)
    notes = _notes(node, x, names, answer, vjp_answer, g, order)
    small = None
    if example:
        small = _small_example(node, x, variables, answer, vjp_answer, g, names, sym_convention)
        if small is not None:
            for item in small.items:
                words = ("at the 0/1 point: formula = central difference",)
                steps.append(Step("check", words[0], NumericClaim(item, Point(small.values, small.sizes)),
                                  item.formula, item.formula.shape, words))
    return Derivation(function, x, layout, answer, vjp_answer, g, names, steps, notes, small, index_note, order,
                      gradient_node, dict(variables, **({g.params[0]: VarSpec(g.params[0], g.shape)} if g is not None
                                                        else {})))


def _vjp_of(node: Node, x: Node, g: Node, variables) -> Derivative:
    from .calculus import pullback
    return Derivative(pullback(node, x, g), dict(variables, **{g.params[0]: VarSpec(g.params[0], g.shape)}), node,
                      (x.params[0],), "vjp", f"backpropagation rule: ∂φ/∂{x.params[0]} given {g.params[0]}",
                      base=node, by=x)


__all__ = ["explain", "Derivation", "Step", "Claim", "Point", "LAYOUTS", "array_text"]
