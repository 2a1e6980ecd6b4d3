"""Checking a claimed derivative: `verify(expr, wrt, shapes, claim="X.T")` and the `Verdict` it returns.

    >>> import matdiff as md
    >>> v = md.verify("W @ X", "W", "W: m×q, X: q×n", claim="X.T")
    >>> v.verdict
    'wrong'
    >>> print(v.diagnosis[0])                                      # doctest: +ELLIPSIS
    backprop factor: Xᵀ is the factor in the backpropagation rule ∂φ/∂W = G Xᵀ ...

This module owns the judgement of a claim against matdiff's own derivative, numerically at several
random points (each with its own sizes per dimension name, all different, so that a transposition
slip cannot hide behind a square matrix), and the names of the usual confusions:
- the verdict: *correct*, *correct up to a convention* (transposed layout, vec vs full tensor, the
  symmetric-matrix conventions, the elementwise derivative, a dimension-size factor from a missing
  sum), or *wrong*;
- the diagnosis: the factor of a backpropagation rule taken for the derivative, a factor 2 or a
  sign, an answer that holds only for a symmetric matrix (the `+ Aᵀ` of a quadratic form), the rule
  of another variable, a derivative whose variable indices were summed away, a shape that cannot be;
- the evidence (both sides at the first point, their shapes, the largest relative error) and the
  answer (matrix or vec form, index form, backpropagation rule).

A claim may be a backpropagation rule: it then uses a cotangent `G = ∂φ/∂f` (named by `cotangent=`,
or an undeclared name of the claim, found by itself) and is judged against `matdiff.vjp`.

It does not own differentiation (the truth is `api.derivative` / `api.vjp`), the meaning of the
language (`evaluate`), nor how random points honour `spd`/`sym`/`pos`/`small` (`check.random_point`).
"""
from __future__ import annotations

import ast
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .api import Derivative, Expression, derivative, parse, vjp
from .numeric_check import SIZES, random_point
from .dims import VarSpec, dim_product, dim_symbols, dim_value, format_shape, parse_declarations
from .errors import DeclarationError, MatdiffError, NotSupportedError, UnknownNameError, close_matches
from .expr import free_variables

CORRECT, CONVENTION, WRONG = "correct", "correct up to a convention", "wrong"
VERDICTS = (CORRECT, CONVENTION, WRONG)
SEEDS = (0, 1, 2)          # three points, each with its own sizes: no verdict rests on one point
TOLERANCE = 1e-7           # relative; both sides are exact formulas evaluated in float64
ATTEMPTS = 20              # redraws of a point where f or its derivative is not finite (logdet, log, ...)
ORDINALS = {0: "a scalar", 1: "a vector", 2: "a matrix", 3: "a 3rd-order tensor", 4: "a 4th-order tensor"}


# ---- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a short name (`kind`) and its one-line explanation."""

    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.explanation}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "explanation": self.explanation}


@dataclass
class Evidence:
    """Both sides at the first random point, their shapes, and the relative error at every point.

    `compared_with` names the form of the true derivative the claim was held against (the full
    tensor, the vec form, or the convention the claim follows); `errors` is empty where no form of
    the derivative has the claim's shape.
    """

    points: int
    sizes: dict[str, int]
    claim_shape: str
    claim_value: np.ndarray
    true_shape: str
    written_shape: str
    compared_with: str
    true_value: np.ndarray
    errors: list[float] = field(default_factory=list)

    @property
    def max_error(self) -> float | None:
        """The largest relative error over the points (None where the shapes differ)."""
        return max(self.errors) if self.errors else None

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "sizes": dict(self.sizes), "claim_shape": self.claim_shape,
                "claim": _json_array(self.claim_value), "true_shape": self.true_shape,
                "written_shape": self.written_shape, "compared_with": self.compared_with,
                "true": _json_array(self.true_value), "errors": list(self.errors), "max_error": self.max_error}


@dataclass
class Answer:
    """The correct answer, as `derivative` (or `vjp`) gives it, in each form that applies."""

    text: str
    unicode: str
    latex: str
    kind: str
    layout: str
    matrix: str | None          # the derivative where a matrix (or vector) has its shape
    vec: str | None             # d vec(f) / d vec(X) where no matrix has the full tensor's shape
    index: str | None           # index (Einstein) notation, where matdiff has it
    backprop: str | None        # the backpropagation rule ∂φ/∂X for G = ∂φ/∂f (non-scalar f)
    conventions: dict[str, str] = field(default_factory=dict)  # symmetric variable: sym / cookbook / none

    def rows(self) -> list[tuple[str, str]]:
        rows = [("derivative", self.matrix), ("vec form", self.vec), ("index", self.index),
                ("backprop", self.backprop)]
        rows += [(f"symmetric={name}", text) for name, text in self.conventions.items()]
        return [(label, value) for label, value in rows if value]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "unicode": self.unicode, "latex": self.latex, "kind": self.kind,
                "layout": self.layout, "matrix": self.matrix, "vec": self.vec, "index": self.index,
                "backprop": self.backprop, "conventions": dict(self.conventions)}


@dataclass
class Verdict:
    """The judgement of a claimed derivative: `verdict`, `diagnosis`, `evidence` and `answer`."""

    expression: str
    wrt: str
    order: int
    claim: str
    claim_unicode: str
    cotangent: str | None
    verdict: str
    diagnosis: list[Finding]
    evidence: Evidence
    answer: Answer

    @property
    def correct(self) -> bool:
        """True for *correct* and for *correct up to a convention*."""
        return self.verdict != WRONG

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.diagnosis]

    def _lines(self, claim: str, answer: str) -> list[str]:
        what = "backpropagation rule" if self.cotangent else "derivative" if self.order == 1 else \
            "Hessian" if self.order == 2 else f"derivative of order {self.order}"
        lines = [f"verdict: {self.verdict}",
                 f"claim:   {claim}   as the {what} of {self.expression} by {self.wrt}"
                 + (f" (cotangent {self.cotangent} = ∂φ/∂f)" if self.cotangent else "")]
        if self.diagnosis:
            lines.append("diagnosis:")
            lines.extend(f"  - {finding}" for finding in self.diagnosis)
        e = self.evidence
        sizes = ", ".join(f"{k}={v}" for k, v in e.sizes.items()) or "none"
        lines.append(f"evidence ({e.points} random points; sizes at the first: {sizes}):")
        lines.append(_labelled(f"  claim ({e.claim_shape})", e.claim_value))
        lines.append(_labelled(f"  true, {e.compared_with} ({format_numeric(e.true_value.shape)})", e.true_value))
        if e.max_error is None:
            lines.append(f"  shapes differ: the claim is {e.claim_shape}, the derivative {e.true_shape}"
                         + (f" (written {e.written_shape})" if e.written_shape != e.true_shape else ""))
        else:
            lines.append(f"  largest relative error: {e.max_error:.2e} "
                         f"(per point: {', '.join(f'{x:.1e}' for x in e.errors)})")
        lines.append(f"answer:  {answer}   ({self.answer.layout})")
        lines.extend(f"  {label}: {value}" for label, value in self.answer.rows())
        return lines

    @property
    def text(self) -> str:
        return "\n".join(self._lines(self.claim, self.answer.text))

    @property
    def unicode(self) -> str:
        return "\n".join(self._lines(self.claim_unicode, self.answer.unicode))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Verdict({self.verdict!r}, claim={self.claim!r}, diagnosis={self.kinds})"

    def _repr_markdown_(self) -> str:
        head = f"**{self.verdict}**: `{self.claim}` for the derivative of `{self.expression}` by `{self.wrt}`"
        items = "\n".join(f"- *{f.kind}*: {f.explanation}" for f in self.diagnosis)
        error = self.evidence.max_error
        error_line = ("shapes differ" if error is None else f"largest relative error {error:.2e}") + \
            f" over {self.evidence.points} random points"
        return f"{head}\n\n{items}\n\n{error_line}; the answer: $${self.answer.latex}$$"

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "wrt": self.wrt, "order": self.order, "claim": self.claim,
                "cotangent": self.cotangent, "verdict": self.verdict,
                "diagnosis": [f.to_json() for f in self.diagnosis], "evidence": self.evidence.to_json(),
                "answer": self.answer.to_json()}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def format_numeric(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if shape else "scalar"


def _labelled(label: str, value: np.ndarray) -> str:
    value = np.asarray(value, dtype=float) + 0.0  # no "-0." in print
    text = np.array2string(value, precision=4, suppress_small=True, max_line_width=110, threshold=60)
    pad = " " * (len(label) + 3)
    return f"{label} = " + text.replace("\n", "\n" + pad)


def _json_array(value: np.ndarray) -> Any:
    array = np.asarray(value, dtype=float)
    return np.where(np.isfinite(array), array, None).tolist()  # JSON has no NaN: null


# ---- numeric helpers ---------------------------------------------------------------------------


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual − expected| over the larger of the two sides' magnitudes (inf for other shapes)."""
    if np.shape(actual) != np.shape(expected):
        return math.inf
    if np.size(actual) == 0:
        return 0.0
    with np.errstate(all="ignore"):
        scale = max(float(np.max(np.abs(actual))), float(np.max(np.abs(expected))))
        if not math.isfinite(scale):
            return math.inf
        return 0.0 if scale == 0 else float(np.max(np.abs(actual - expected))) / scale


def vec_layout(tensor: np.ndarray, out_ndim: int) -> np.ndarray:
    """Full derivative tensor -> d vec(f) / d vec(X), column-major vec on both sides (the Cookbook's)."""
    f_axes = list(range(out_ndim))[::-1]
    x_axes = list(range(out_ndim, tensor.ndim))[::-1]
    f_size = math.prod(tensor.shape[a] for a in f_axes)
    return tensor.transpose(f_axes + x_axes).reshape(f_size, -1)


def _unvec(matrix: np.ndarray, f_shape: tuple, x_shape: tuple) -> np.ndarray:
    """The inverse of `vec_layout`: d vec(f)/d vec(X) -> the full tensor of shape f_shape + x_shape."""
    tensor = matrix.reshape(tuple(reversed(f_shape)) + tuple(reversed(x_shape)))
    nf, nx = len(f_shape), len(x_shape)
    return tensor.transpose(list(range(nf))[::-1] + [nf + a for a in range(nx)][::-1])


def _symmetric_part(tensor: np.ndarray, first_axes: list[int]) -> np.ndarray:
    for a in first_axes:
        tensor = (tensor + np.swapaxes(tensor, a, a + 1)) / 2
    return tensor


def _fit_factor(actual: np.ndarray, expected: np.ndarray) -> float | None:
    """c with actual ≈ c · expected (least squares), when that holds to the tolerance; else None."""
    if np.shape(actual) != np.shape(expected) or not np.all(np.isfinite(actual)):
        return None
    norm = float(np.sum(expected * expected))
    if norm == 0 or not math.isfinite(norm):
        return None
    c = float(np.sum(actual * expected)) / norm
    if c == 0 or relative_error(actual, c * expected) > TOLERANCE:
        return None
    return c


def _diagonal(tensor: np.ndarray, nf: int) -> np.ndarray | None:
    """The diagonal D[i…, i…] of a tensor whose two halves have the same shape, if nothing is off it."""
    f_shape, x_shape = tensor.shape[:nf], tensor.shape[nf:]
    if f_shape != x_shape or not f_shape:
        return None
    n = math.prod(f_shape)
    square = tensor.reshape(n, n)
    diagonal = np.diag(square)
    off = square - np.diag(diagonal)
    scale = float(np.max(np.abs(square))) if square.size else 0.0
    if scale == 0 or float(np.max(np.abs(off))) > TOLERANCE * scale:
        return None
    return diagonal.reshape(f_shape)


# ---- the problem: f, the variable, the truth and the forms it can be written in ----------------


@dataclass
class _Point:
    sizes: dict[str, int]
    values: dict[str, np.ndarray]
    claim: np.ndarray
    truth: np.ndarray                       # the full tensor (for a backprop rule: the shape of wrt)
    base_shape: tuple[int, ...]
    by_shape: tuple[int, ...]
    extra: dict[str, np.ndarray]            # other conventions, other variables' rules and derivatives


@dataclass
class _Match:
    status: str                             # CORRECT, CONVENTION or WRONG
    key: str | None
    findings: list[Finding]
    errors: list[float]


class _Problem:
    """f, the variable and the mode (derivative of an order, or backprop rule), with the true answer."""

    def __init__(self, function: Expression, variables: dict[str, VarSpec], wrt: str, order: int,
                 cotangent: str | None, diagnostics: bool = True) -> None:
        self.variables = variables
        self.function = Expression(function.node, variables)
        self.wrt, self.order, self.cotangent = wrt, order, cotangent
        self.spec = variables[wrt]
        self.symmetric = self.spec.symmetric
        self.in_f = [v.params[0] for v in sorted(free_variables(function.node), key=lambda v: v.params[0])]
        # the claim has the shape of a gradient (a scalar f, or a backprop rule): conventions of one kind;
        # otherwise a Jacobian or tensor, compared on symmetric directions when wrt is symmetric
        self.gradient_like = cotangent is not None or (not function.shape and order == 1)
        self.conventions: dict[str, Derivative] = {}
        if cotangent is not None:
            self.truth = vjp(self.function, wrt, cotangent=cotangent)
            if self.symmetric:
                self.conventions = {c: vjp(self.function, wrt, cotangent=cotangent, symmetric=c)
                                    for c in ("sym", "cookbook")}
        else:
            self.truth = derivative(self.function, wrt, order=order)
            if self.symmetric and self.gradient_like:
                self.conventions = {c: derivative(self.function, wrt, symmetric=c) for c in ("none", "cookbook")}
        self.rules: dict[str, Derivative] = {}
        self.others: dict[str, Derivative] = {}
        self.point_variables = dict(variables)
        self.rule_cotangent = cotangent
        if diagnostics and order == 1:
            if cotangent is None and function.shape:
                self.rule_cotangent = _fresh_name("G", variables)
                self.point_variables[self.rule_cotangent] = VarSpec(self.rule_cotangent, function.shape)
            names = [wrt] + [v for v in self.in_f if v != wrt]
            for v in names:  # the diagnosis only: a variable matdiff cannot differentiate by is left out
                try:
                    if self.rule_cotangent is not None:
                        self.rules[v] = vjp(Expression(function.node, self.point_variables), v,
                                            cotangent=self.rule_cotangent)
                    if v != wrt:
                        self.others[v] = self.rules[v] if cotangent is not None else derivative(self.function, v)
                except MatdiffError:
                    self.rules.pop(v, None)

    # the point: values honouring the declared properties, sizes all different, f and truth finite
    def points(self, claim: Expression, seeds) -> list[_Point]:
        holder = Expression(self.function.node, self.point_variables)
        # where f is undefined at most points (log, sqrt of an undeclared `pos` variable), later draws are positive
        positive = Expression(self.function.node, {
            name: spec if spec.properties & {"sym", "spd"} else VarSpec(name, spec.shape, spec.properties | {"pos"})
            for name, spec in self.point_variables.items()})
        symbols = list(dict.fromkeys(s for spec in self.point_variables.values() for s in dim_symbols(spec.shape)))
        points = []
        for seed in seeds:
            sizes = {s: SIZES[(k + seed) % len(SIZES)] for k, s in enumerate(symbols)}
            rng = np.random.default_rng(seed)
            for attempt in range(ATTEMPTS):
                values = random_point(holder if attempt < ATTEMPTS // 2 else positive, sizes, rng)
                try:
                    with np.errstate(all="ignore"):
                        f_value = holder.evaluate(values, sizes)
                        truth = self.truth.evaluate(values, sizes)
                except MatdiffError:
                    continue
                if np.all(np.isfinite(f_value)) and np.all(np.isfinite(truth)):
                    break
            else:
                raise NotSupportedError(f"no point found where {self.function.text} and its derivative are finite "
                                        f"({ATTEMPTS} random draws); declare properties such as spd or pos")
            with np.errstate(all="ignore"):
                claim_value = claim.evaluate(values, sizes)
                extra = {f"convention:{c}": d.evaluate(values, sizes) for c, d in self.conventions.items()}
                extra.update({f"rule:{v}": d.evaluate(values, sizes) for v, d in self.rules.items()})
                extra.update({f"other:{v}": d.evaluate(values, sizes) for v, d in self.others.items()})
            base = tuple(dim_value(d, sizes) for d in self.truth.base.shape)
            by = tuple(dim_value(d, sizes) for d in self.truth.by.shape)
            points.append(_Point(sizes, values, claim_value, truth, base, by, extra))
        return points

    @property
    def full_key(self) -> str:
        """The name of the truth as a whole: the full tensor ∂f[i…]/∂X[k…], a gradient, or a backprop rule."""
        return "backprop rule" if self.cotangent is not None else "gradient" if self.gradient_like else "full tensor"

    @property
    def out_ndim(self) -> int:
        """The number of axes of the full tensor that belong to the function (0 for a backprop rule)."""
        return 0 if self.cotangent is not None else len(self.truth.base.shape)

    # the forms of the truth a claim may be written in: key -> (status, expected, actual)
    def forms(self, p: _Point) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
        claim, truth = p.claim, p.truth
        nb, ns = self.out_ndim, len(p.by_shape)
        out: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}

        def put(key: str, status: str, expected, actual=claim) -> None:
            if expected is not None and actual is not None and np.shape(expected) == np.shape(actual) \
                    and key not in out:
                out[key] = (status, np.asarray(expected), np.asarray(actual))

        put(self.full_key, CORRECT, truth)
        vec = vec_layout(truth, nb) if nb >= 1 and ns >= 1 and not (nb == 1 and ns == 1) else None
        if vec is not None:
            put("vec form", CORRECT, vec)
        if self.symmetric and not self.gradient_like:
            # a function of a symmetric matrix is known on symmetric directions only
            full_claim = claim if claim.shape == truth.shape else \
                _unvec(claim, p.base_shape, p.by_shape) if vec is not None and claim.shape == vec.shape else None
            axes = [nb] + ([0] if self.order >= 2 and len(p.base_shape) == 2 else [])
            if full_claim is not None:
                put("symmetric directions", CORRECT if self.order >= 2 else CONVENTION,
                    _symmetric_part(truth, axes), _symmetric_part(full_claim, axes))
        for name in self.conventions:
            put(f"symmetric={name}", CONVENTION, p.extra[f"convention:{name}"])
        if self.symmetric and self.gradient_like and claim.ndim == 2:
            put("symmetric part", CONVENTION, _symmetric_part(truth, [0]), _symmetric_part(claim, [0]))
        if self.order != 1:
            return out
        if nb >= 1 and ns >= 1:
            put("transposed layout", CONVENTION, truth.transpose(list(range(nb, nb + ns)) + list(range(nb))))
        if nb == 0 and ns == 2:
            put("transposed layout", CONVENTION, truth.T)
            put("vec of the gradient", CONVENTION, truth.reshape(-1, order="F"))
        if vec is not None:
            put("transposed vec form", CONVENTION, vec.T)
            if nb == 2 or ns == 2:
                put("row-major vec", CONVENTION, truth.reshape(vec.shape))
        if nb >= 1 and not self.symmetric:
            put("elementwise", CONVENTION, _diagonal(truth, nb))
            put("gradient of sum(f)", CONVENTION, truth.sum(axis=tuple(range(nb))))
        return out

    # the words for each form
    def explain(self, key: str) -> Finding:
        f, x, spec = self.function.text, self.wrt, self.spec
        shape = format_shape(spec.shape)
        texts = {
            "transposed layout": (
                f"the claim is the transposed gradient (numerator layout, ∂f/∂{x}[j,i] at [i,j]); the gradient "
                f"matdiff and the Matrix Cookbook give (denominator layout) has the shape of {x}, {shape}"
                if self.out_ndim == 0 else
                f"the claim is the transposed Jacobian (denominator layout, ∂f[j]/∂{x}[i] at [i,j]); matdiff and "
                f"the Cookbook use numerator layout, J[i,j] = ∂f[i]/∂{x}[j], one row per entry of f"),
            "transposed vec form": (
                f"the claim is the transpose of d vec(f)/d vec({x}) (denominator layout); the Cookbook's vec form, "
                f"which matdiff gives, has one row per entry of vec(f)"),
            "row-major vec": (
                f"the claim is the vec form with row-major vec (NumPy's ravel/reshape order); the Cookbook's vec, "
                f"which matdiff uses, stacks columns: vec(A)[i + m·j] = A[i,j]"),
            "vec of the gradient": (
                f"the claim is vec(∂f/∂{x}), the gradient stacked column by column into a vector; as a matrix "
                f"the gradient has the shape of {x}, {shape}"),
            "elementwise": (
                f"f acts elementwise on {x}, so its derivative is diagonal; the claim is that diagonal, ∂f[i]/∂{x}[i] "
                f"(the elementwise derivative), while the derivative itself is {_ordinal(self.truth)} with that "
                f"diagonal, {self.truth.text}"),
            "gradient of sum(f)": (
                f"the claim is the gradient of sum(f) (the backpropagation rule with an upstream gradient of ones), "
                f"not the derivative of f itself, which is {_ordinal(self.truth)}; write sum(...) around f to ask "
                f"for that gradient"),
            "symmetric=none": (
                f"the claim is the unstructured gradient G, as if {x} had independent entries; for {x} declared "
                f"symmetric matdiff gives sym(G) = (G + Gᵀ)/2, the gradient in the space of symmetric matrices "
                f"(both give the same df for every symmetric d{x})"),
            "symmetric=cookbook": (
                f"the claim is the Matrix Cookbook's rule for symmetric {x}, G + Gᵀ − G ⊙ I (the derivative by the "
                f"free entries, written as a matrix; it counts off-diagonal pairs twice in ⟨·, d{x}⟩, so it is not "
                f"a gradient); " + ("the backprop rule matdiff gives is the unstructured G" if self.cotangent else
                                    "matdiff gives sym(G) = (G + Gᵀ)/2")),
            "symmetric=sym": (
                f"the claim is sym(G) = (G + Gᵀ)/2, the gradient in the space of symmetric matrices; the backprop "
                f"rule matdiff gives (symmetric='none') is the unstructured G"),
            "symmetric part": (
                f"the claim agrees with the gradient on every symmetric direction d{x} (the same symmetric part) "
                f"but is another representative: neither sym(G), nor G, nor the Cookbook's G + Gᵀ − G ⊙ I"),
            "symmetric directions": (
                f"the claim agrees with the derivative on symmetric directions d{x} only ({x} is declared "
                f"symmetric, so that is all the derivative is defined on)"),
        }
        return Finding(key, texts[key])


def _ordinal(d: Derivative) -> str:
    rank = len(d.base.shape) + len(d.by.shape)
    shape = format_shape(tuple(d.base.shape) + tuple(d.by.shape))
    return f"{ORDINALS.get(rank, f'a tensor of order {rank}')} ({shape})"


def _fresh_name(stem: str, taken: Mapping[str, Any]) -> str:
    dims = {s for spec in taken.values() for s in dim_symbols(spec.shape)}
    for k in itertools.count():
        name = stem if k == 0 else f"{stem}{k}"
        if name not in taken and name not in dims:
            return name
    raise AssertionError("unreachable")


# ---- the comparison ----------------------------------------------------------------------------


def _match(problem: _Problem, points: list[_Point]) -> _Match | None:
    """The first form of the truth the claim equals (correct, then conventions), possibly up to a
    factor that is the size of a dimension (a missing sum); else the first constant factor found."""
    tables = [problem.forms(p) for p in points]
    keys = [k for k in tables[0] if all(k in t for t in tables)]
    for status in (CORRECT, CONVENTION):
        for key in keys:
            if tables[0][key][0] != status:
                continue
            errors = [relative_error(t[key][2], t[key][1]) for t in tables]
            if max(errors) <= TOLERANCE:
                findings = [] if status == CORRECT else [problem.explain(key)]
                return _Match(status, key, findings, errors)
    factored = None
    for key in keys:
        factors = [_fit_factor(t[key][2], t[key][1]) for t in tables]
        if any(c is None for c in factors):
            continue
        layout = [] if tables[0][key][0] == CORRECT else [problem.explain(key)]
        errors = [relative_error(t[key][2], t[key][1]) for t in tables]
        dimension = _dimension_factor(factors, points)
        if dimension is not None:
            return _Match(CONVENTION, key, layout + [dimension], errors)
        if factored is None and max(factors) - min(factors) <= 1e-6 * max(abs(c) for c in factors):
            factored = _Match(WRONG, key, layout + [_constant_factor(factors[0], key, tables[0][key][0])], errors)
    return factored


def _constant_factor(c: float, key: str, status: str) -> Finding:
    where = "" if status == CORRECT else f" (in the {key})"
    if abs(c + 1) < 1e-6:
        return Finding("sign", f"the claim has the wrong sign: it is −1 times the derivative{where}")
    for k, words in ((2, "a factor 2 too many"), (0.5, "a factor 2 missing (as in d‖r‖² = 2 rᵀdr)")):
        for sign in (1, -1):
            if abs(c - sign * k) < 1e-6:
                kind = "factor 2" if sign == 1 else "factor 2 and sign"
                signed = "" if sign == 1 else " and the wrong sign"
                return Finding(kind, f"the claim is {_number(c)} times the derivative{where}: {words}{signed}")
    return Finding("scalar factor", f"the claim is {_number(c)} times the derivative{where}")


def _number(c: float) -> str:
    return f"{c:.6g}" if abs(c - round(c)) > 1e-9 else str(int(round(c)))


def _dimension_factor(factors: list[float], points: list[_Point]) -> Finding | None:
    """A factor that changes with the sizes as a dimension (or a product of two) does: a missing sum."""
    if max(factors) - min(factors) <= 1e-6 * max(abs(c) for c in factors):
        return None
    symbols = list(points[0].sizes)
    products = [(s,) for s in symbols] + list(itertools.combinations_with_replacement(symbols, 2))
    for dims in products:
        for power in (1, -1):
            if all(abs(c - math.prod(p.sizes[d] for d in dims) ** power) <= 1e-6 * abs(c)
                   for c, p in zip(factors, points)):
                size = "·".join(dims)
                if power == 1:
                    text = (f"the claim is {size} times the derivative ({size} the size of dimension{'s' * (len(dims) > 1)} "
                            f"{', '.join(dims)}): a sum over {size} is counted in the claim that f does not have, "
                            f"or the claim takes a sum where f takes a mean")
                else:
                    text = (f"the claim is the derivative divided by {size} (the size of dimension"
                            f"{'s' * (len(dims) > 1)} {', '.join(dims)}): it misses a sum over {size} (entries "
                            f"broadcast over it each contribute), or it takes a mean where f takes a sum")
                return Finding("missing sum", text)
    return None


# ---- diagnosis of a wrong claim ---------------------------------------------------------------


# the ways a claim C can be the factor of a rule ∂φ/∂V in the upstream gradient G (None: shapes do not fit)
FACTOR_FORMS = (
    lambda g, c: g @ c if g.ndim and c.ndim else None,                         # G C
    lambda g, c: c @ g if g.ndim and c.ndim else None,                         # C G
    lambda g, c: g @ c.T if g.ndim and c.ndim == 2 else None,                  # G Cᵀ
    lambda g, c: c.T @ g if g.ndim and c.ndim == 2 else None,                  # Cᵀ G
    lambda g, c: g * c if c.shape == g.shape or not c.ndim else None,          # G ⊙ C
    lambda g, c: np.outer(g, c) if g.ndim == 1 and c.ndim == 1 else None,      # g cᵀ
    lambda g, c: np.outer(c, g) if g.ndim == 1 and c.ndim == 1 else None,      # c gᵀ
)


def _factor_of_rule(problem: _Problem, points: list[_Point], claim: Expression) -> Finding | None:
    """Is the claim the factor C of some variable's backprop rule ∂φ/∂V = G C, C G, G ⊙ C, ...?"""
    g_name = problem.rule_cotangent
    if g_name is None or not problem.rules or g_name in _names_in(claim):
        return None
    for variable in problem.rules:
        for form in FACTOR_FORMS:
            errors = []
            for p in points:
                g = p.values[g_name]
                try:
                    product = form(g, p.claim)
                except ValueError:
                    product = None
                if product is None:
                    break
                errors.append(relative_error(np.asarray(product), p.extra[f"rule:{variable}"]))
            if len(errors) == len(points) and max(errors) <= TOLERANCE:
                return _factor_finding(problem, variable, claim)
    return None


def _factor_finding(problem: _Problem, variable: str, claim: Expression) -> Finding:
    x = problem.wrt
    rule = problem.rules[variable]
    rule_text = f"∂φ/∂{variable} = {rule.unicode}"
    g = problem.rule_cotangent
    what = (f"the derivative d({problem.function.text})/d{x}, which is {_ordinal(problem.truth)}"
            if problem.cotangent is None else f"the backpropagation rule itself, which has the shape of {x}")
    if variable == x:
        text = f"{claim.unicode} is the factor in the backpropagation rule {rule_text} ({g} = ∂φ/∂f), not {what}"
    else:
        own = problem.rules.get(x)
        text = (f"{claim.unicode} is the factor in the backpropagation rule for {variable}, {rule_text} "
                f"({g} = ∂φ/∂f), not for {x}" + (f" (∂φ/∂{x} = {own.unicode})" if own else "") + f"; nor is it {what}")
    return Finding("backprop factor", text)


def _other_variable(problem: _Problem, points: list[_Point]) -> Finding | None:
    for variable, d in problem.others.items():
        key = f"other:{variable}"
        expected = [p.extra[key] for p in points]
        written = []
        for p, full in zip(points, expected):
            forms = [full]
            if problem.cotangent is None and full.ndim > 2:
                forms.append(vec_layout(full, len(p.base_shape)))
            written.append(forms)
        ok = any(all(relative_error(p.claim, forms[k]) <= TOLERANCE for p, forms in zip(points, written))
                 for k in range(len(written[0])))
        if ok:
            if problem.cotangent is not None:
                return Finding("other variable", f"the claim is the backpropagation rule for {variable} "
                               f"(∂φ/∂{variable} = {d.unicode}), not for {problem.wrt} "
                               f"(∂φ/∂{problem.wrt} = {problem.truth.unicode})")
            return Finding("other variable", f"the claim is the derivative by {variable} ({d.text}), "
                           f"not by {problem.wrt}")
    return None


def _collapsed(problem: _Problem, points: list[_Point]) -> Finding | None:
    """The claim is the tensor summed over the variable's indices: the derivative along all-ones."""
    if problem.out_ndim == 0 or not points[0].by_shape or problem.order != 1:
        return None
    nb = problem.out_ndim
    if all(relative_error(p.claim, p.truth.sum(axis=tuple(range(nb, p.truth.ndim)))) <= TOLERANCE for p in points):
        x = problem.wrt
        return Finding("summed over the variable", f"the claim is Σ over {x}'s indices of ∂f[i…]/∂{x}[k…], the "
                       f"change of f when every entry of {x} moves together; the derivative keeps {x}'s indices: "
                       f"it is {_ordinal(problem.truth)}" + _index_suffix(problem.truth))
    return None


def _lacks_sum(problem: _Problem, points: list[_Point]) -> Finding | None:
    if points[0].truth.ndim != 0 or points[0].claim.ndim == 0:
        return None
    if all(relative_error(np.asarray(np.sum(p.claim)), p.truth) <= TOLERANCE for p in points):
        return Finding("missing sum", "the derivative is a scalar, the sum of the claim's entries: the claim "
                       "needs a sum(...)")
    return None


def _index_suffix(d: Derivative) -> str:
    index = _index_text(d)
    return f"; in index form {index}" if index else ""


def _index_text(d: Derivative) -> str | None:
    """The index form where the Derivative has one (another part of matdiff owns it; degrade gracefully)."""
    try:
        index = getattr(d, "index", None)
        return None if index is None else getattr(index, "unicode", None) or index.text
    except (MatdiffError, NotImplementedError, AttributeError):
        return None


def _shape_finding(problem: _Problem, claim: Expression) -> Finding:
    d, x = problem.truth, problem.wrt
    if problem.cotangent is not None:
        return Finding("shape", f"the claim is {claim.shape_text}; a backpropagation rule ∂φ/∂{x} has the shape "
                       f"of {x}, {format_shape(problem.spec.shape)}")
    full = tuple(d.base.shape) + tuple(d.by.shape)
    text = (f"the claim is {claim.shape_text}; the derivative of f ({format_shape(d.base.shape)}) by {x} "
            f"({format_shape(d.by.shape)}) is {_ordinal(d)}")
    if len(d.base.shape) >= 1 and len(d.by.shape) >= 1 and len(full) > 2:
        vec_shape = (dim_product(*d.base.shape), dim_product(*d.by.shape))
        text += f", written in vec form d vec(f)/d vec({x}) as {format_shape(vec_shape)}"
    if problem.order == 1 and d.base.shape and problem.function.shape:
        text += f"; a backpropagation rule (with a cotangent G) would have the shape of {x}"
    return Finding("shape", text + _index_suffix(d))


def _symmetric_only(problem: _Problem, claim_text: str, claim_variables_extra: dict, seeds,
                    factor_allowed: bool) -> list[Finding]:
    """Does the claim hold once a square matrix of f is symmetric (the + Aᵀ of a quadratic form)?
    With `factor_allowed`, also up to a constant factor (2Ax for the gradient of xᵀAx/2, say)."""
    squares = [name for name in problem.in_f
               if len(problem.variables[name].shape) == 2
               and problem.variables[name].shape[0] == problem.variables[name].shape[1]
               and not problem.variables[name].properties & {"sym", "spd", "pos"}]
    trials = [[name] for name in squares] + ([squares] if len(squares) > 1 else [])
    for names in trials:
        variables = dict(problem.variables)
        for name in names:
            spec = variables[name]
            variables[name] = VarSpec(name, spec.shape, spec.properties | {"sym"})
        try:
            # re-read f: a variable node carries its properties, so f must be built with the new ones
            function = parse(problem.function.text, variables)
            hypothesis = _Problem(function, variables, problem.wrt, problem.order, problem.cotangent,
                                  diagnostics=False)
            claim = parse(claim_text, dict(variables, **claim_variables_extra))
            match = _match(hypothesis, hypothesis.points(claim, seeds))
        except MatdiffError:
            continue
        if match is None or (match.status == WRONG and not factor_allowed):
            continue
        which = " and ".join(names)
        plural = len(names) > 1
        general = problem.truth.text
        if problem.wrt in names:
            text = (f"the claim holds only for symmetric {which}; for a general {which} the answer is {general} "
                    f"(declare {problem.wrt} sym if it is symmetric)")
        else:
            text = (f"the claim holds only when {which} {'are' if plural else 'is'} symmetric: it confuses "
                    f"{' and '.join(f'{n} with {n}ᵀ' for n in names)}, as 2Ax for ∇ₓ xᵀAx = (A + Aᵀ)x does "
                    f"(equal only for A = Aᵀ); for a general {which} the answer is {general}")
        return [Finding("symmetric only", text)] + match.findings
    return []


def _names_in(expression: Expression) -> set[str]:
    return {v.params[0] for v in free_variables(expression.node)}


# ---- the entry point ---------------------------------------------------------------------------


def _claim_names(text: str) -> list[str]:
    """The names a claim uses as values (not as functions), in order of appearance."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return []
    callees = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callees.update(id(n) for n in ast.walk(node.func))
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in callees]
    return list(dict.fromkeys(names))


def _find_cotangent(claim: str, function: Expression, variables: dict[str, VarSpec]) -> str | None:
    """The one name of the claim that is neither declared nor a dimension: the claim is then a backprop rule."""
    dims = {s for spec in variables.values() for s in dim_symbols(spec.shape)}
    from .language.parse import LANGUAGE_NAMES
    undeclared = [n for n in _claim_names(claim) if n not in variables and n not in dims and n not in LANGUAGE_NAMES]
    if len(undeclared) == 1 and not close_matches(undeclared[0], list(variables)):
        return undeclared[0]
    if undeclared:
        return None  # let the parser name them, with its hints
    in_f = _names_in(function)
    unused = [n for n in _claim_names(claim) if n in variables and n not in in_f
              and variables[n].shape == function.shape and function.shape]
    return unused[0] if len(unused) == 1 else None


def verify(expr: "str | Expression", wrt: str, shapes: Any = None, claim: "str | None" = None, *,
           cotangent: str | None = None, order: int = 1, seeds=SEEDS) -> Verdict:
    """Judge a claimed derivative of `expr` by `wrt` (text of the language, same declarations).

    `claim` may use the declared variables and dimension names, and a cotangent `G = ∂φ/∂f` for a
    backpropagation rule (`cotangent="G"`, or an undeclared name of the claim). Returns a `Verdict`:
    `.verdict` (correct / correct up to a convention / wrong), `.diagnosis`, `.evidence`, `.answer`.
    A claim that does not parse or does not shape-check raises the MatdiffError that says why.
    """
    if not isinstance(claim, str):
        raise DeclarationError(f"the claim must be text of the expression language, got {type(claim).__name__}")
    if isinstance(expr, Expression):
        variables = dict(expr.variables)
        if shapes is None:
            function = Expression(expr.node, variables)
        else:  # new declarations may change a variable's properties, which its node carries: re-read f
            variables.update(parse_declarations(shapes))
            function = parse(expr.text, variables)
    else:
        variables = parse_declarations(shapes)
        function = parse(expr, variables)
    if wrt not in variables:
        hint = close_matches(str(wrt), variables)
        raise UnknownNameError(f"cannot verify a derivative by {wrt!r}: it is not a declared variable{hint} "
                               f"(declared: {', '.join(sorted(variables)) or 'none'})")
    if cotangent is None and order == 1:
        cotangent = _find_cotangent(claim, function, variables)
    if cotangent is not None:
        if order != 1:
            raise DeclarationError("a backpropagation rule (a claim with a cotangent) is of order 1")
        if cotangent in _names_in(function):
            raise DeclarationError(f"the cotangent {cotangent} is a variable of the function; name it otherwise")
        if cotangent in variables and variables[cotangent].shape != function.shape:
            raise DeclarationError(f"{cotangent} is declared {format_shape(variables[cotangent].shape)}, but as the "
                                   f"upstream gradient ∂φ/∂f it must have the function's shape {function.shape_text}")
        variables = dict(variables)
        variables[cotangent] = VarSpec(cotangent, function.shape)
    try:
        claimed = parse(claim, variables)
    except MatdiffError as error:
        raise type(error)(f"the claim does not {'shape-check' if 'Shape' in type(error).__name__ else 'parse'}: "
                          f"{error}") from None
    problem = _Problem(function, variables, wrt, order, cotangent)
    points = problem.points(claimed, seeds)
    match = _match(problem, points)
    findings: list[Finding] = []
    if match is not None:
        findings = list(match.findings)
    if match is None or match.status == WRONG:
        extra = {cotangent: variables[cotangent]} if cotangent is not None else {}
        findings += _symmetric_only(problem, claim, extra, seeds, factor_allowed=match is None)
        for diagnose in (lambda: _factor_of_rule(problem, points, claimed), lambda: _other_variable(problem, points),
                         lambda: _collapsed(problem, points), lambda: _lacks_sum(problem, points)):
            finding = diagnose()
            if finding is not None:
                findings.append(finding)
        forms = problem.forms(points[0])
        if match is None and not forms:
            findings.append(_shape_finding(problem, claimed))
        elif match is None and not findings:
            worst = min((max(relative_error(t[key][2], t[key][1]) for t in map(problem.forms, points)), key)
                        for key in forms)
            findings.append(Finding("values", f"the claim has a shape the derivative can be written in "
                                    f"({worst[1]}) but not its values: largest relative error {worst[0]:.2g}"))
    status = WRONG if match is None else match.status
    return Verdict(function.text, wrt, order, claim.strip(), claimed.unicode, cotangent, status, findings,
                   _evidence(problem, points, claimed, match), _answer(problem))


def _evidence(problem: _Problem, points: list[_Point], claim: Expression, match: _Match | None) -> Evidence:
    d = problem.truth
    first = points[0]
    forms = problem.forms(first)
    if match is not None:
        key = match.key
    else:
        written = "vec form" if d.is_vec_form else problem.full_key
        key = written if written in forms else next(iter(forms), None)
    if key is not None and key in forms:
        errors = match.errors if match is not None else \
            [relative_error(problem.forms(p)[key][2], problem.forms(p)[key][1]) for p in points]
        true_value = forms[key][1]
    else:
        errors = []
        key = "vec form" if d.is_vec_form else problem.full_key
        true_value = d.evaluate_as_written(first.values, first.sizes)
    true_shape = (format_shape(tuple(d.base.shape) + tuple(d.by.shape)) if problem.cotangent is None
                  else format_shape(d.shape))
    return Evidence(len(points), dict(first.sizes), claim.shape_text, np.asarray(first.claim), true_shape,
                    d.shape_text, key, np.asarray(true_value), [float(e) for e in errors])


def _answer(problem: _Problem) -> Answer:
    d = problem.truth
    function = problem.function
    if problem.cotangent is not None:
        underlying = derivative(function, problem.wrt)  # the derivative whose transpose the rule applies
        matrix = None if underlying.is_vec_form else underlying.text
        return Answer(d.text, d.unicode, d.latex, d.kind, d.layout, matrix,
                      underlying.text if underlying.is_vec_form else None, _index_text(underlying), d.text,
                      {"none": d.text, **{c: r.text for c, r in problem.conventions.items()}}
                      if problem.conventions else {})
    backprop = None
    if function.shape and problem.order == 1:
        backprop = vjp(function, problem.wrt, cotangent=_fresh_name("G", problem.variables)).text
    conventions = {"sym": d.text, **{c: r.text for c, r in problem.conventions.items()}} if problem.conventions else {}
    return Answer(d.text, d.unicode, d.latex, d.kind, d.layout, None if d.is_vec_form else d.text,
                  d.text if d.is_vec_form else None, _index_text(d), backprop, conventions)


__all__ = ["verify", "Verdict", "Finding", "Evidence", "Answer", "VERDICTS", "CORRECT", "CONVENTION", "WRONG"]
