"""The numeric comparison of a claim with the true derivative: the points, the forms the truth can be
written in, and which of them the claim equals.

At several random points (each with its own sizes per dimension name, all different, so that a
transposition slip cannot hide behind a square matrix), the claim is held against every form of the
truth: the full tensor or gradient, the vec form, and the conventions (transposed layout, row-major vec,
the symmetric-matrix conventions, the elementwise derivative, the gradient of sum(f)), then up to a
constant factor or a factor that is a dimension's size (a missing sum). This module owns the `Problem`
(f, the variable, the truth and its forms, with the words for each convention), the points, and that
matching. It does not own the truth (`api.derivative` / `api.vjp`) nor how random points honour
`spd`/`sym`/`pos`/`small` (`numeric_check.random_point`).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api import Derivative, Expression, derivative, vjp
from ..dims import VarSpec, dim_symbols, dim_value, format_shape
from ..errors import MatdiffError, NotSupportedError
from ..expr import free_variables
from ..numeric_check import SIZES, random_point
from .result import CONVENTION, CORRECT, WRONG, Finding

TOLERANCE = 1e-7           # relative; both sides are exact formulas evaluated in float64
ATTEMPTS = 20              # redraws of a point where f or its derivative is not finite (logdet, log, ...)
ORDINALS = {0: "a scalar", 1: "a vector", 2: "a matrix", 3: "a 3rd-order tensor", 4: "a 4th-order tensor"}


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
class Point:
    sizes: dict[str, int]
    values: dict[str, np.ndarray]
    claim: np.ndarray
    truth: np.ndarray                       # the full tensor (for a backprop rule: the shape of wrt)
    base_shape: tuple[int, ...]
    by_shape: tuple[int, ...]
    extra: dict[str, np.ndarray]            # other conventions, other variables' rules and derivatives


@dataclass
class Match:
    status: str                             # CORRECT, CONVENTION or WRONG
    key: str | None
    findings: list[Finding]
    errors: list[float]


class Problem:
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
                self.rule_cotangent = fresh_name("G", variables)
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
    def points(self, claim: Expression, seeds) -> list[Point]:
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
            points.append(Point(sizes, values, claim_value, truth, base, by, extra))
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
    def forms(self, p: Point) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
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
                f"(the elementwise derivative), while the derivative itself is {ordinal(self.truth)} with that "
                f"diagonal, {self.truth.text}"),
            "gradient of sum(f)": (
                f"the claim is the gradient of sum(f) (the backpropagation rule with an upstream gradient of ones), "
                f"not the derivative of f itself, which is {ordinal(self.truth)}; write sum(...) around f to ask "
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


def ordinal(d: Derivative) -> str:
    rank = len(d.base.shape) + len(d.by.shape)
    shape = format_shape(tuple(d.base.shape) + tuple(d.by.shape))
    return f"{ORDINALS.get(rank, f'a tensor of order {rank}')} ({shape})"


def fresh_name(stem: str, taken: Mapping[str, Any]) -> str:
    dims = {s for spec in taken.values() for s in dim_symbols(spec.shape)}
    for k in itertools.count():
        name = stem if k == 0 else f"{stem}{k}"
        if name not in taken and name not in dims:
            return name
    raise AssertionError("unreachable")


# ---- the comparison ----------------------------------------------------------------------------


def match_claim(problem: Problem, points: list[Point]) -> Match | None:
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
                return Match(status, key, findings, errors)
    factored = None
    for key in keys:
        factors = [_fit_factor(t[key][2], t[key][1]) for t in tables]
        if any(c is None for c in factors):
            continue
        layout = [] if tables[0][key][0] == CORRECT else [problem.explain(key)]
        errors = [relative_error(t[key][2], t[key][1]) for t in tables]
        dimension = _dimension_factor(factors, points)
        if dimension is not None:
            return Match(CONVENTION, key, layout + [dimension], errors)
        if factored is None and max(factors) - min(factors) <= 1e-6 * max(abs(c) for c in factors):
            factored = Match(WRONG, key, layout + [_constant_factor(factors[0], key, tables[0][key][0])], errors)
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


def _dimension_factor(factors: list[float], points: list[Point]) -> Finding | None:
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
