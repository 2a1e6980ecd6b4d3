"""The leaves of an expression: constants, variables, dimensions used as numbers, and the constant
matrices `eye`, `ones`, `zeros` and the commutation matrix K; `ONE`, `ZERO`, and the tests for them.

Products, sums and every other operation are in the sibling modules; a leaf has no arguments and
no derivative rule (the derivative of a leaf is the variable's own cotangent, or nothing).
"""
from __future__ import annotations

import math

import numpy as np

from ...dims import Dim, Shape, VarSpec, dim_value, size_of
from ...errors import ShapeError
from ...expr import Node, make
from ..registry import INDEXED_WHOLE, LEAF_RULES, Absent, Call, Code, Op, register, within

# ---- leaves ---------------------------------------------------------------------------------


def const(value: float) -> Node:
    value = float(value)
    if not math.isfinite(value):  # the language has no inf or nan: such a number would not read back
        raise ShapeError(f"the number {value} is not finite", ())
    if value == 0.0:
        value = 0.0  # one zero, not two
    return make("const", (), (value,), ())


def var(name: str, shape: Shape = (), properties: frozenset[str] = frozenset()) -> Node:
    return make("var", (), (name, frozenset(properties), tuple(shape)), tuple(shape))


def var_from_spec(spec: VarSpec) -> Node:
    return var(spec.name, spec.shape, spec.properties)


def dim(d: Dim) -> Node:
    """A dimension used as a number (`n` in `sum(x) / n`): a scalar constant of unknown size."""
    if isinstance(d, int):
        return const(float(d))
    if not isinstance(d, str):  # n·m as the product of its symbols, as it prints and parses
        return mul(const(float(d.coefficient)), *(dim(symbol) for symbol in d.symbols))
    return make("dim", (), (d,), ())


def eye(d: Dim) -> Node:
    return make("eye", (), (d,), (d, d))


def ones(shape: Shape) -> Node:
    return const(1.0) if not shape else make("ones", (), tuple(shape), tuple(shape))


def zeros(shape: Shape) -> Node:
    return const(0.0) if not shape else make("zeros", (), tuple(shape), tuple(shape))


def commutation(m: Dim, n: Dim) -> Node:
    """K with K @ vec(A) == vec(A.T) for an m×n matrix A."""
    if m == 1 or n == 1:
        return eye(size_of((m, n)))
    return make("commutation", (), (m, n), (size_of((m, n)), size_of((m, n))))


ONE = const(1.0)
ZERO = const(0.0)
# how many dimensions ones(...), zeros(...) and reshape(X, (...)) take: those of any array NumPy makes (32
# axes, 64 since NumPy 2), so that a derivative's zeros(n, m, p, n, m, p, q), an array of order 7, reads back
ORDERS = tuple(range(1, 33))


def is_const(node: Node, value: float | None = None) -> bool:
    return node.op == "const" and (value is None or node.params[0] == value)


def is_zero(node: Node) -> bool:
    return node.op == "zeros" or is_const(node, 0.0)


def _commutation_matrix(m: int, n: int) -> np.ndarray:
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[i * n + j, j * m + i] = 1.0
    return k


def _var_bounds(node: Node, bounds_of) -> tuple[float, float]:
    return (0.0, math.inf) if "pos" in node.params[1] else (-math.inf, math.inf)


def _lower_filled(low, node: Node):
    """ones and zeros: the backend's constructor, of the node's shape."""
    return low.spell(node.op, low.shape(node.shape), ndim=node.ndim)


register(Op("const", **LEAF_RULES, evaluate=lambda node, args, sizes: np.asarray(node.params[0]),
            names=Absent("a number, written as itself: 2.5"), index=lambda ix, node, idx: ix.number(node.params[0]),
            code=Code(lower=lambda low, node: low.num(node.params[0]),
                      bounds=lambda node, bounds_of: (node.params[0], node.params[0]))))
register(Op("var", **LEAF_RULES, evaluate=lambda node, args, sizes: sizes["$values"][node.params[0]],
            names=Absent("a declared variable, written by its name"), index=INDEXED_WHOLE,
            code=Code(lower=lambda low, node: low.name(node.params[0], node.ndim), bounds=_var_bounds)))
register(Op("dim", **LEAF_RULES, evaluate=lambda node, args, sizes: np.asarray(float(dim_value(node.params[0], sizes))),
            text="dim", names=Absent("a declared dimension used as a number, written by its name: n"),
            index=INDEXED_WHOLE,
            code=Code(lower=lambda low, node: low.dim(node.params[0]), bounds=within(1.0, math.inf),
                      dimension_params=True)))
register(Op("eye", **LEAF_RULES, evaluate=lambda node, args, sizes: np.eye(dim_value(node.params[0], sizes)),
            text="eye", unicode=lambda a: "I" + a.subscript(0), latex=lambda a: f"I_{{{a[0]}}}",
            names=("eye",), call=Call(eye, arrays=0, dims=(1,)), index=lambda ix, node, idx: ix.delta(*idx),
            code=Code(numpy="np.eye(n)", jax="jnp.eye(n)", torch="torch.eye(n, dtype=like.dtype, device=like.device)",
                      placeholders="n like", lower=lambda low, node: low.spell("eye", low.dim(node.params[0]), ndim=2),
                      bounds=within(0.0, 1.0), dimension_params=True)))
register(Op("ones", **LEAF_RULES, evaluate=lambda node, args, sizes: np.ones(tuple(dim_value(d, sizes) for d in node.shape)),
            text="ones", unicode=lambda a: "𝟙" + (a.subscript(0) if len(a) == 1 else f"({a.joined()})"),
            latex=lambda a: rf"\mathbf{{1}}_{{{a.joined()}}}",
            names=("ones",), call=Call(ones, arrays=0, dims=ORDERS, shape=True),
            index=lambda ix, node, idx: ix.number(1.0),
            code=Code(numpy="np.ones(shape)", jax="jnp.ones(shape)",
                      torch="torch.ones(shape, dtype=like.dtype, device=like.device)", placeholders="shape like",
                      lower=_lower_filled, bounds=within(1.0, 1.0))))
register(Op("zeros", **LEAF_RULES, evaluate=lambda node, args, sizes: np.zeros(tuple(dim_value(d, sizes) for d in node.shape)),
            text="zeros", unicode=lambda a: "0" + (a.subscript(0) if len(a) == 1 else f"({a.joined()})"),
            latex=lambda a: rf"\mathbf{{0}}_{{{a.joined()}}}",
            names=("zeros",), call=Call(zeros, arrays=0, dims=ORDERS, shape=True),
            index=lambda ix, node, idx: ix.number(0.0),
            code=Code(numpy="np.zeros(shape)", jax="jnp.zeros(shape)",
                      torch="torch.zeros(shape, dtype=like.dtype, device=like.device)", placeholders="shape like",
                      lower=_lower_filled, bounds=within(0.0, 0.0))))
register(Op("commutation", **LEAF_RULES,
            evaluate=lambda node, args, sizes: _commutation_matrix(*(dim_value(d, sizes) for d in node.params)),
            text="commutation", unicode=lambda a: f"K({a[0]},{a[1]})", latex=lambda a: f"K_{{{a[0]},{a[1]}}}",
            names=("commutation",), call=Call(commutation, arrays=0, dims=(2,)), index=INDEXED_WHOLE,
            code=Code(numpy="np.eye(m * n)[np.arange(m * n).reshape(n, m).T.reshape(-1)]",
                      jax="jnp.eye(m * n)[jnp.arange(m * n).reshape(n, m).T.reshape(-1)]",
                      torch="torch.eye(m * n, dtype=like.dtype, device=like.device)"
                            "[torch.arange(m * n, device=like.device).reshape(n, m).T.reshape(-1)]",
                      placeholders="m n like",
                      lower=lambda low, node: low.spell("commutation", *(low.dim(d) for d in node.params), ndim=2),
                      dimension_params=True)))

# Late import: `dim` builds n·m as a product (products.py imports this module).
from .products import mul  # noqa: E402
