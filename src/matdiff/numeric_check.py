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

A variable declared `sym`/`spd` lives in the symmetric matrices: its directions are symmetric, and
both matdiff's and JAX's derivatives are compared through their symmetric parts on the variable's
sides (a Hessian is then the bilinear form on symmetric matrices it stands for). This module owns the checks; it derives nothing itself.
"""
from __future__ import annotations

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


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-8)


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
    point = dict(values) if values is not None else random_point(expression, bound, rng)
    point = {k: v if callable(v) else np.asarray(v, dtype=float) for k, v in point.items()}  # g: a function
    f = expression.node
    report = CheckReport(expression.text, order, bound)

    def value_at(name: str, x: np.ndarray) -> np.ndarray:
        return expression.evaluate(dict(point, **{name: x}), sizes=bound)

    for name in names:
        x = point[name]
        # a symmetric variable lives in the symmetric matrices: directions, and derivatives, are taken there
        sym = expression.variables[name].symmetric
        d = derivative(expression, name, order=order, symmetric=symmetric)
        out_shape = x.shape if order == 2 else np.shape(value_at(name, x))
        sides = ((0, 2) if order == 2 else (len(out_shape),)) if sym else ()
        full = _symmetric_part(np.asarray(d.evaluate(point, sizes=bound)), sides)  # ∂base[i...]/∂x[j...]
        worst = 0.0
        for _ in range(directions):
            u = _direction(out_shape, sym and order == 2, rng)
            v = _direction(x.shape, sym, rng)
            predicted = float(np.tensordot(u, np.tensordot(full, v, axes=v.ndim), axes=u.ndim))
            if order == 1:
                h = 1e-6 * max(1.0, float(np.max(np.abs(x)))) if x.size else 1e-6
                measured = float(np.sum(u * (value_at(name, x + h * v) - value_at(name, x - h * v)))) / (2 * h)
            else:
                h = 1e-4 * max(1.0, float(np.max(np.abs(x)))) if x.size else 1e-4
                measured = float(value_at(name, x + h * u + h * v) - value_at(name, x + h * u - h * v)
                                 - value_at(name, x - h * u + h * v) + value_at(name, x - h * u - h * v)) / (4 * h * h)
            worst = max(worst, _relative(predicted, measured))
        label = "central differences ⟨u, J v⟩" if order == 1 else "central differences uᵀ H v"
        report.rows.append(CheckRow(name, label, worst, TOLERANCES["central differences"][order - 1],
                                    f"{directions} directions"))
        if use_jax:
            row = _jax_row(expression, names, name, point, full, order, sides, f.ndim, report, bound)
            if row is not None:
                report.rows.append(row)
    return report


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
             sides: Sequence[int], out_ndim: int, report: CheckReport, sizes: Mapping[str, int]) -> CheckRow | None:
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
    scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, 1e-12)
    error = float(np.max(np.abs(full - reference))) / scale if reference.size else 0.0
    return CheckRow(name, method, error, TOLERANCES["jax"][order - 1], "JAX autodiff of the JAX lowering")


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
