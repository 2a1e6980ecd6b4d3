"""NumPy's `norm` with the orders the language has, and the 1-norm of a vector.

`norm(x)`, `norm(x, 2)` and `norm(X, 'fro')` are the 2-norm of a vector and the Frobenius norm of a
matrix, `norm2` (in `structure.py`), and `norm(T)` of an array of any order the 2-norm of all its entries; `norm(x, 1)` is the 1-norm Σ|xᵢ|, whose gradient is sign(x) wherever
no xᵢ is 0 (the subgradient of the lasso). What NumPy means by the other orders is not read as something
else: `norm(X, 2)` of a matrix is its spectral norm (the largest singular value) and `norm(X, 1)` its
largest absolute column sum, neither of them in the language, so both are refused, as is `norm(x, 'fro')`
of a vector, which NumPy refuses too.
"""
from __future__ import annotations

import math

import numpy as np

from ..dims import format_shape
from ..errors import ShapeError
from ..expr import Node, make
from .registry import NOT_LINEAR, Call, Code, Literal, Op, Words, register, within
from .algebra.broadcasting import _describe
from .algebra.leaves import const
from .algebra.products import mul
from .algebra.sums import split_coefficient
from .structure import inner, norm2
from .elementwise import abs_
from .piecewise import sign


def norm(x: Node, ord: object = None) -> Node:
    """np.linalg.norm(x, ord) for ord None, 2, 'fro' (the 2-norm / Frobenius norm) and 1 (of a vector)."""
    call = f"norm({_describe(x)}, {ord!r})"
    if ord is not None and x.ndim == 0:
        raise ShapeError(f"{call}: {_describe(x)} is a scalar, and NumPy takes an order only for a vector or a "
                         f"matrix (write abs({_describe(x)}))", (x,))
    if ord == "fro" and x.ndim == 1:
        raise ShapeError(f"{call}: {_describe(x)} is a vector of length {x.shape[0]}, and 'fro' is an order of "
                         f"matrices only (NumPy refuses it; the 2-norm is norm({_describe(x)}))", (x,))
    if x.ndim == 2 and ord in (1, 2):
        meaning = "spectral norm (its largest singular value)" if ord == 2 else \
            "largest absolute column sum (the induced 1-norm)"
        instead = f"norm({_describe(x)})" if ord == 2 else f"sum(abs({_describe(x)}))"
        raise ShapeError(f"{call}: {_describe(x)} is a matrix ({format_shape(x.shape)}), and NumPy's norm of "
                         f"order {ord} of a matrix is its {meaning}, which is not part of the language; "
                         f"{'the Frobenius norm is' if ord == 2 else 'the sum of absolute entries is'} {instead}",
                         (x,))
    if x.ndim > 2 and ord is not None:  # NumPy: an order needs a vector or a matrix (or an axis)
        raise ShapeError(f"{call}: {_describe(x)} is {format_shape(x.shape)}, and NumPy takes an order only for a "
                         f"vector or a matrix; norm({_describe(x)}) is the 2-norm of all its entries", (x,))
    if ord == 1:
        return norm1(x)
    return norm2(x)


def norm1(x: Node) -> Node:
    """The 1-norm of a vector, Σ|xᵢ| (np.linalg.norm(x, 1))."""
    if x.ndim != 1:
        raise ShapeError(f"norm({_describe(x)}, 1): the 1-norm here is of a vector, but {_describe(x)} is "
                         f"{'a scalar' if not x.shape else format_shape(x.shape)}", (x,))
    c, body = split_coefficient(x)
    if c != 1.0:  # ‖c x‖₁ = |c| ‖x‖₁
        return mul(const(abs(c)), norm1(body))
    return make("norm1", (x,), (1,), ())


def _index_norm1(ix, node: Node, idx: tuple):
    """‖x‖₁ = Σ_s |x|[s]."""
    s = ix.fresh(node.args[0].shape[0])
    return ix.summing(ix.indexed(abs_(node.args[0]), (s,)), [s])


# np.linalg.norm(x, ord): the orders of the language; which one is which is the constructor's to say
_ORDER = Literal("ord", lambda v: v in (None, 1, 2, "fro") and not isinstance(v, bool),
                 "the orders of norm in the language are ord=2 (or none: the 2-norm of a vector, the Frobenius "
                 "norm of a matrix), ord='fro' (of a matrix) and ord=1 (of a vector)",
                 spelling="ord=1, ord=2 or ord='fro'", noun="an order", positional=True)
register(Op("norm1", lambda node, args, sizes: np.linalg.norm(args[0], 1), text="norm",
            unicode=lambda a: f"‖{a[0]}‖₁", latex=lambda a: rf"\left\lVert {a[0]} \right\rVert_1",
            names=("norm",), call=Call(norm, literals=(_ORDER,)), index=_index_norm1,
            pullback=lambda node, g, needed: [(node.args[0], mul(g, sign(node.args[0])))],
            differential=lambda node, d: inner(sign(node.args[0]), d[0]),
            words=Words("1-norm (sum of absolute values)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.norm(x, 1)", jax="jnp.linalg.norm(x, 1)", torch="torch.linalg.vector_norm(x, 1)",
                      bounds=within(0.0, math.inf))))
