"""Numeric checks of matdiff's derivatives, independent of the rules that produced them.

    >>> import matdiff as md
    >>> print(md.check("logdet(S) + x @ inv(S) @ x", ["x", "S"], "x: n, S: n×n spd"))  # doctest: +SKIP
    check of logdet(S) + x @ inv(S) @ x (order 1, float64, sizes n=3)
      by  method                            error     tolerance
      x   central differences ⟨u, J v⟩      3.1e-11   1e-06      ok
      x   jax.grad                          2.2e-16   1e-09      ok
      ...

Two witnesses, as autograd's `check_grads` and JAX's test utilities use them:
- *directional central differences*: for random directions u (output side) and v (input side),
  ⟨u, J v⟩ from matdiff's derivative against (⟨u, f(x + h v)⟩ − ⟨u, f(x − h v)⟩) / 2h, and for a
  Hessian uᵀ H v against the four-point second difference of f; evaluated by matdiff's NumPy
  evaluator in float64, so nothing of the derivative rules is trusted;
- where JAX is installed, `jax.grad` / `jax.jacfwd` / `jax.hessian` of the expression, translated to a
  JAX function by the JAX lowering of `codegen` (float64 as well).

A central difference is trusted as far as it resolves: f's values carry rounding (read off second
differences of a step far too small for any curvature to show), which the difference divides by its step
(h for order 1, h² for order 2). An error below that resolution is no evidence either way, so a derivative
that is exactly zero (the Hessian of a piecewise-linear f: relu, abs, maximum, clip, where) is judged
against it, not against rounding magnified by 1/h²; a derivative of any size is judged relative to its
size as before. Where the difference at step h disagrees, it is taken again at h/2 and h/4: if the
differences do not settle, f is not smooth within the step along those directions (a kink lies between
the stencil's points) and the direction is no witness; another is drawn instead. A difference that
settles away from matdiff's value is a failure.

A variable declared `sym`/`spd` lives in the symmetric matrices: its directions are symmetric, and
both matdiff's and JAX's derivatives are compared through their symmetric parts on the variable's
sides (a Hessian is then the bilinear form on symmetric matrices it stands for). This module owns the checks; it derives nothing itself.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .api import Expression, derivative, parse
from .dims import dim_symbols, dim_value
from .errors import DeclarationError, UnknownNameError
from .ops.functions import stand_in_values

SIZES = (3, 4, 5, 2, 6, 7, 8, 9)  # distinct sizes per dimension, so that a transposition slip shows
TOLERANCES = {"central differences": (1e-6, 1e-4), "jax": (1e-9, 1e-9)}  # (order 1, order 2)
STEPS = (1e-6, 1e-4)  # the central differences' step (order 1, order 2), times the variable's largest entry
POINTS = 5  # random points drawn, at most, until one is not at a kink of f in every direction
HALVINGS = 2  # a difference that disagrees is taken again at h/2 and h/4, to tell a kink from an error
PROBES, PROBE_STEP = 4, 1e-10  # f's rounding is read off second differences of this step, where no curvature shows
ROUNDING = 1  # a central difference's rounding, in units of that (a four-point difference carries about it)


@dataclass(frozen=True)
class CheckRow:
    """One comparison: the variable, the witness, the relative error found and the tolerance."""

    wrt: str
    method: str
    error: float
    tolerance: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)


@dataclass
class CheckReport:
    """The outcome of `check`: a row per variable and witness; `ok` when every error is within tolerance."""

    expression: str
    order: int
    sizes: dict[str, int]
    rows: list[CheckRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def max_error(self) -> float:
        return max((r.error for r in self.rows), default=0.0)

    def errors(self, method: str | None = None) -> dict[str, float]:
        """{variable: relative error} for one witness ("central differences" or a jax.* name)."""
        return {r.wrt: r.error for r in self.rows if method is None or r.method.startswith(method)}

    def __str__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items()) or "none"
        what = "derivative" if self.order == 1 else "Hessian" if self.order == 2 else f"order {self.order}"
        lines = [f"check of the {what} of {self.expression} (float64; sizes {sizes})"]
        width = max([len(r.wrt) for r in self.rows] + [2])
        mwidth = max([len(r.method) for r in self.rows] + [6])
        lines.append(f"  {'by'.ljust(width)}  {'method'.ljust(mwidth)}  {'error':>9}  {'tolerance':>9}")
        for r in self.rows:
            verdict = "ok" if r.ok else "FAILED"
            note = f"  ({r.note})" if r.note else ""
            lines.append(f"  {r.wrt.ljust(width)}  {r.method.ljust(mwidth)}  {r.error:9.1e}  {r.tolerance:9.0e}  "
                         f"{verdict}{note}")
        lines.extend(f"  ({s})" for s in self.skipped)
        lines.append("all within tolerance" if self.ok else f"FAILED: largest error {self.max_error:.2e}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CheckReport(ok={self.ok}, max_error={self.max_error:.2e}, rows={len(self.rows)})"

    def _repr_markdown_(self) -> str:
        """A table for Jupyter: a row per variable and witness, its error, tolerance and verdict."""
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items()) or "none"
        what = "derivative" if self.order == 1 else "Hessian" if self.order == 2 else f"order {self.order}"
        lines = [f"**{'all within tolerance' if self.ok else 'FAILED'}**: check of the {what} of "
                 f"`{self.expression}` (float64; sizes {sizes})", "",
                 "| by | method | error | tolerance | |", "|---|---|---:|---:|---|"]
        lines += [f"| `{r.wrt}` | {r.method}{f' ({r.note})' if r.note else ''} | {r.error:.1e} | {r.tolerance:.0e} | "
                  f"{'ok' if r.ok else '**FAILED**'} |" for r in self.rows]
        lines += [f"\n({s})" for s in self.skipped]
        return "\n".join(lines)


def random_point(expression: Expression, sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Values for every declared variable that honour its properties (spd, sym, pos, small); a declared
    function g is bound to a fixed smooth function, with its derivatives (`ops.functions.StandIn`)."""
    values = {}
    for name, spec in expression.variables.items():
        if spec.is_function:
            values.update(stand_in_values(name))
            continue
        shape = tuple(dim_value(d, dict(sizes)) for d in spec.shape)
        props = spec.properties
        if "spd" in props:
            a = rng.normal(size=shape)
            value = a @ a.T / shape[0] + np.eye(shape[0])
        elif "pos" in props:
            value = rng.uniform(0.5, 2.0, size=shape)
        else:
            value = rng.normal(scale=0.3 if "small" in props else 0.7, size=shape)
            if "sym" in props:
                value = (value + value.T) / 2
        values[name] = np.asarray(value, dtype=float)
    return values


def _direction(shape: tuple[int, ...], symmetric: bool, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=shape)
    if symmetric:
        v = (v + v.T) / 2
    return v / max(np.linalg.norm(v), 1e-300)


def _relative(a: float, b: float, resolution: float = 0.0) -> float:
    """|a − b| relative to the larger of the two, or to `resolution` where both are smaller than it."""
    return abs(a - b) / max(abs(a), abs(b), resolution, 1e-8)


def rounding_of(value_at, x: np.ndarray, symmetric: bool, rng: np.random.Generator) -> np.ndarray:
    """How far f's computed values stray from a smooth function near x, entry by entry: the largest
    |f(x + δw) − 2 f(x) + f(x − δw)| over a few directions w, for a step δ so small that f's curvature
    cannot show in it (what remains is rounding), and at least eps |f(x)|. The rounding of f is that of its
    intermediate values (a sum of terms of both signs rounds as its largest term), which |f| alone misses."""
    center = np.asarray(value_at(x), dtype=float)
    found = np.finfo(float).eps * np.abs(center)
    step = PROBE_STEP * max(1.0, float(np.max(np.abs(x)))) if x.size else PROBE_STEP
    for _ in range(PROBES):
        w = _direction(x.shape, symmetric, rng)
        found = np.maximum(found, np.abs(value_at(x + step * w) - 2 * center + value_at(x - step * w)))
    return found


def _central_difference(value_at, x: np.ndarray, u: np.ndarray, v: np.ndarray, h: float, order: int,
                        rounding: np.ndarray) -> tuple[float, float]:
    """⟨u, J v⟩ (order 1) or uᵀ H v (order 2) by central differences of step h, and the rounding it carries:
    each value of f off by `rounding`, divided as the difference divides it."""
    if order == 1:
        measured = float(np.sum(u * (value_at(x + h * v) - value_at(x - h * v)))) / (2 * h)
        return measured, ROUNDING * float(np.sum(np.abs(u) * rounding)) / h
    corners = [float(value_at(x + h * (a * u + b * v))) for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
    measured = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h * h)
    return measured, ROUNDING * float(rounding) / (h * h)


def _witness(predicted: float, value_at, x: np.ndarray, u: np.ndarray, v: np.ndarray, order: int,
             rounding: np.ndarray) -> float | None:
    """The relative error of `predicted` against central differences in the directions u, v; None where
    the differences do not settle as the step is halved (a kink within the step: no witness).

    An error is taken to be real once two steps agree with each other; the rounding each difference
    carries, over the tolerance, is the least size an error is measured against (an exact zero is then
    compared with what the difference can resolve)."""
    tolerance = TOLERANCES["central differences"][order - 1]
    h = STEPS[order - 1] * max(1.0, float(np.max(np.abs(x)))) if x.size else STEPS[order - 1]
    measured, resolution = _central_difference(value_at, x, u, v, h, order, rounding)
    error = _relative(predicted, measured, resolution / tolerance)
    for _ in range(HALVINGS):
        if error <= tolerance:
            return error
        h /= 2
        finer, finer_resolution = _central_difference(value_at, x, u, v, h, order, rounding)
        if _relative(measured, finer, max(resolution, finer_resolution) / tolerance) <= tolerance:
            return error  # the differences agree with each other, not with matdiff: a wrong derivative
        measured, resolution = finer, finer_resolution
        error = _relative(predicted, measured, resolution / tolerance)
    return error if error <= tolerance else None


def check(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any = None, *, order: int = 1,
          values: Mapping[str, Any] | None = None, sizes: Mapping[str, int] | None = None, seed: int = 0,
          directions: int = 3, use_jax: bool = True, symmetric: str = "sym") -> CheckReport:
    """Check matdiff's derivative (order 1) or Hessian (order 2) of `expr` by each `wrt` variable numerically.

    `values` (arrays for the variables) and `sizes` (dimension name -> size) are optional: by default
    each dimension gets a different small size and the point is drawn at random honouring the
    declared properties. Returns a `CheckReport` (print it; `.ok`, `.rows`, `.max_error`).
    """
    expression = expr if isinstance(expr, Expression) and shapes is None else parse(expr, shapes)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    for name in names:
        if name not in expression.variables:
            raise UnknownNameError(f"cannot check the derivative by {name!r}: it is not a declared variable")
    if order not in (1, 2):
        raise DeclarationError(f"check handles order 1 and 2, got {order!r}")
    if symmetric not in ("sym", "none"):
        raise DeclarationError(f"check compares directional derivatives: symmetric must be 'sym' or 'none' "
                               f"(the Cookbook's G + Gᵀ − G ⊙ I is not one), got {symmetric!r}")
    rng = np.random.default_rng(seed)
    bound = _sizes(expression, values, sizes)
    # a random point where f has a kink within the step in every direction tried is drawn again; given values stay
    for _ in range(POINTS if values is None else 1):
        point = dict(values) if values is not None else random_point(expression, bound, rng)
        point = {k: v if callable(v) else np.asarray(v, dtype=float) for k, v in point.items()}  # g: a function
        report = CheckReport(expression.text, order, bound)
        at_kink = False
        for name in names:
            d = derivative(expression, name, order=order, symmetric=symmetric)
            row, full, sides = _difference_row(expression, name, d, point, bound, order, directions, seed, rng)
            at_kink = at_kink or math.isinf(row.error)
            report.rows.append(row)
            if use_jax:
                def formula_rounding(d=d, name=name) -> np.ndarray:  # asked for only where JAX differs
                    return rounding_of(lambda y: np.asarray(d.evaluate(dict(point, **{name: y}), sizes=bound)),
                                       point[name], expression.variables[name].symmetric,
                                       np.random.default_rng([seed, 2]))

                jax_row = _jax_row(expression, names, name, point, full, order, sides, expression.node.ndim, report,
                                   bound, formula_rounding)
                if jax_row is not None:
                    report.rows.append(jax_row)
        if not at_kink:
            break
    return report


def _difference_row(expression: Expression, name: str, d, point, bound, order: int, directions: int, seed: int,
                    rng: np.random.Generator) -> tuple[CheckRow, np.ndarray, tuple]:
    """The central differences' row for one variable, with matdiff's derivative there (full, as an array)
    and the axes taken symmetric (`sides`); an error of inf where every direction tried crosses a kink."""
    x = point[name]

    def value_at(y: np.ndarray) -> np.ndarray:
        return expression.evaluate(dict(point, **{name: y}), sizes=bound)

    # a symmetric variable lives in the symmetric matrices: directions, and derivatives, are taken there
    sym = expression.variables[name].symmetric
    out_shape = x.shape if order == 2 else np.shape(value_at(x))
    sides = ((0, 2) if order == 2 else (len(out_shape),)) if sym else ()
    full = _symmetric_part(np.asarray(d.evaluate(point, sizes=bound)), sides)  # ∂base[i...]/∂x[j...]
    rounding = rounding_of(value_at, x, sym, np.random.default_rng([seed, 1]))
    worst, witnesses, kinks = 0.0, 0, 0
    while witnesses < directions and kinks < 2 * directions:
        u = _direction(out_shape, sym and order == 2, rng)
        v = _direction(x.shape, sym, rng)
        predicted = float(np.tensordot(u, np.tensordot(full, v, axes=v.ndim), axes=u.ndim))
        error = _witness(predicted, value_at, x, u, v, order, rounding)
        if error is None:  # f has a kink within the step along u, v: another direction instead
            kinks += 1
            continue
        witnesses += 1
        worst = max(worst, error)
    label = "central differences ⟨u, J v⟩" if order == 1 else "central differences uᵀ H v"
    note = f"{witnesses} direction{'s' * (witnesses != 1)}"
    note += f", {kinks} more crossed a kink within the step" if kinks else ""
    if not witnesses:  # no direction is smooth enough to judge by: not a pass
        worst = math.inf
        note = f"f has a kink within the step in all {kinks} directions tried at this point: try other values"
    return CheckRow(name, label, worst, TOLERANCES["central differences"][order - 1], note), full, sides


def _sizes(expression: Expression, values, sizes) -> dict[str, int]:
    """Every dimension symbol's size: from `sizes`, from the values' shapes, else distinct small numbers."""
    bound: dict[str, int] = dict(sizes or {})
    if values is not None:
        for name, spec in expression.variables.items():
            if name in values:
                for d, n in zip(spec.shape, np.shape(values[name])):
                    if isinstance(d, str):
                        bound.setdefault(d, int(n))
    for spec in expression.variables.values():
        for s in dim_symbols(spec.shape):
            if s not in bound:
                bound[s] = SIZES[len(bound) % len(SIZES)]
    return bound


def _symmetric_part(tensor: np.ndarray, sides: Sequence[int]) -> np.ndarray:
    """The tensor with each pair of axes (a, a + 1) in `sides` replaced by its symmetric part."""
    for a in sides:
        tensor = (tensor + np.swapaxes(tensor, a, a + 1)) / 2
    return tensor


def _jax_row(expression: Expression, names: list[str], name: str, point, full: np.ndarray, order: int,
             sides: Sequence[int], out_ndim: int, report: CheckReport, sizes: Mapping[str, int],
             formula_rounding) -> CheckRow | None:
    try:
        import jax
    except ImportError:
        if "jax is not installed" not in report.skipped:
            report.skipped.append("jax is not installed: only finite differences")
        return None
    from .codegen import compile as compile_code

    value_fn = compile_code(expression, names, backend="jax", gradients=False, name="value_of")
    arguments = list(value_fn.__code__.co_varnames[:value_fn.__code__.co_argcount])
    index = arguments.index(name)
    code = value_fn.__code__  # dimensions no argument carries are keyword-only arguments (logdet(kron(eye(m), S)))
    dimensions = {d: sizes[d] for d in code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]}
    with _x64(jax):
        args = [point[a] if callable(point[a]) else jax.numpy.asarray(point[a]) for a in arguments]
        scalar = out_ndim == 0

        def fn(*a):
            return value_fn(*a, **dimensions)[0]

        if order == 1:
            method = "jax.grad" if scalar else "jax.jacfwd"
            transform = jax.grad if scalar else jax.jacfwd
        else:
            method, transform = "jax.hessian", jax.hessian
        reference = np.asarray(transform(fn, argnums=index)(*args))
    reference = _symmetric_part(reference, sides)
    tolerance = TOLERANCES["jax"][order - 1]
    scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, 1e-12)
    error = float(np.max(np.abs(full - reference))) / scale if reference.size else 0.0
    if error > tolerance:  # no smaller than what matdiff's formula rounds to: 1/|x| − x²/|x|³ is 0 give or take eps
        scale = max(scale, ROUNDING * float(np.max(formula_rounding())) / tolerance)
        error = float(np.max(np.abs(full - reference))) / scale
    return CheckRow(name, method, error, tolerance, "JAX autodiff of the JAX lowering")


class _x64:
    """float64 in JAX for the duration of the check, whatever the global setting."""

    def __init__(self, jax) -> None:
        self.jax = jax
        self.context = None

    def __enter__(self):
        enable = getattr(self.jax, "enable_x64", None)
        if enable is None:
            from jax.experimental import enable_x64 as enable
        self.context = enable(True)
        self.context.__enter__()

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


__all__ = ["check", "CheckReport", "CheckRow", "random_point"]
