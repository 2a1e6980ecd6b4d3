"""Linear-algebra functions of square matrices: tr, det, logdet, inv.

The rules are the Matrix Cookbook's: d tr(X) = tr(dX), d det(X) = det(X) tr(X⁻¹ dX),
d logdet(X) = tr(X⁻¹ dX), d X⁻¹ = -X⁻¹ dX X⁻¹; their pullbacks g I, g det(X) X⁻ᵀ, g X⁻ᵀ and
-X⁻ᵀ G X⁻ᵀ.
"""
from __future__ import annotations

import numpy as np

from ..dims import format_shape
from ..errors import ShapeError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Call, Code, Op, SpelledIdentity, Words, register
from .algebra.leaves import ONE, ZERO, const, dim, eye
from .algebra.broadcasting import _describe
from .algebra.sums import add, neg, split_coefficient
from .algebra.products import div, mul, power, split_scalars
from .algebra.chains import chain_factors, matmul, matmul_chain
from .algebra.transposition import is_symmetric, transpose, transposed_spelling_is_simpler
from .structure import kron, vec


def _require_square(name: str, x: Node, allow_scalar: bool = False) -> None:
    if allow_scalar and not x.shape:
        return
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        what = "a scalar" if not x.shape else f"{format_shape(x.shape)}"
        raise ShapeError(f"{name}({_describe(x)}): {name} needs a square matrix, but {_describe(x)} is {what}", (x,))


# ---- trace ----------------------------------------------------------------------------------


def tr(x: Node) -> Node:
    _require_square("tr", x, allow_scalar=True)
    if not x.shape:
        return x
    op = x.op
    if op == "transpose":
        return tr(x.args[0])
    if op == "add" and all(t.shape == x.shape for t in x.args):  # not through broadcasting
        return add(*(tr(t) for t in x.args))
    if op == "mul":
        scalars, array = split_scalars(x)
        if scalars and array is not x:
            return mul(*scalars, tr(array))
    if op == "div" and not x.args[1].shape:
        return div(tr(x.args[0]), x.args[1])
    if op == "eye":
        return dim(x.params[0])
    if op == "outer":
        return matmul(x.args[0], x.args[1])
    if op == "kron" and all(a.ndim == 2 and a.shape[0] == a.shape[1] for a in x.args):
        return mul(tr(x.args[0]), tr(x.args[1]))  # tr(A ⊗ B) = tr(A) tr(B) for square A and B
    if op == "matmul" and transposed_spelling_is_simpler(x):  # tr(Mᵀ) = tr(M): tr(X.T @ A.T) is tr(A @ X)
        return tr(transpose(x))
    if op == "matmul" and all(f.ndim == 2 for f in x.args):
        j = next((j for j, f in enumerate(x.args) if f.op == "add" and all(t.shape == f.shape for t in f.args)), None)
        if j is not None:  # tr(L (A + B) R) = tr(L A R) + tr(L B R) where each trace goes away
            traces = [tr(matmul_chain([*x.args[:j], t, *x.args[j + 1:]])) for t in x.args[j].args]
            if not any(t.op == "tr" for t in traces):
                return add(*traces)
        i = next((i for i, f in enumerate(x.args) if f.op == "outer"), None)
        if i is not None:  # tr(L a bᵀ R) = bᵀ R L a
            a, b = x.args[i].args
            return matmul_chain([b, *x.args[i + 1:], *x.args[:i], a])
    return make("tr", (x,), (), ())


def _lower_tr(low, node: Node):
    (x,) = node.args
    if x.op == "matmul" and all(f.ndim == 2 for f in x.args):  # tr(P Q) = sum(P ⊙ Qᵀ)
        head = matmul_chain(x.args[:-1])
        return low.spell("sum_product", low.term(head), low.term(transpose(x.args[-1])), ndim=0)
    return low.spell("tr", low.term(x), ndim=0)


def _index_tr(ix, node: Node, idx: tuple):
    """tr(A) = Σ_s A[s,s]."""
    s = ix.fresh(node.args[0].shape[0])
    return ix.summing(ix.indexed(node.args[0], (s, s)), [s])


register(Op("tr", lambda node, args, sizes: np.trace(args[0]), text="tr", unicode="tr", latex=r"\operatorname{tr}",
            names=("tr", "trace"), call=Call(tr), index=_index_tr,
            pullback=lambda node, g, needed: [(node.args[0], mul(g, eye(node.args[0].shape[0])))],
            differential=lambda node, d: tr(d[0]),
            vec_jacobian=lambda node, jacobians: matmul(vec(eye(node.args[0].shape[0])), jacobians[0]),
            words=Words("trace"),
            identity=SpelledIdentity("tr(B) = I : B", "tr(B) = eye : B", r"\operatorname{tr}(B) = I : B"),
            vec_identity=SpelledIdentity("tr(X) = vec(I)ᵀ vec X", "tr(X) = vec(eye(n)) @ vec(X)",
                                         r"\operatorname{tr}X = \operatorname{vec}(I)^\top \operatorname{vec}X"),
            code=Code(numpy="np.trace(x)", jax="jnp.trace(x)", torch="torch.trace(x)", lower=_lower_tr)))


# ---- determinants ---------------------------------------------------------------------------


def det(x: Node) -> Node:
    _require_square("det", x)
    if x.op == "transpose":
        return det(x.args[0])
    if x.op == "outer" and isinstance(x.shape[0], int) and x.shape[0] >= 2:
        return ZERO  # a b ᵀ has rank 1 (a symbolic n might be 1, so only for known sizes)
    if x.op == "eye":
        return ONE
    if x.op == "kron" and all(a.ndim == 2 and a.shape[0] == a.shape[1] for a in x.args):
        a, b = x.args  # det(A ⊗ B) = det(A)^q det(B)^p for A p×p, B q×q: no pq×pq matrix is ever formed
        return mul(power(det(a), dim(b.shape[0])), power(det(b), dim(a.shape[0])))
    return make("det", (x,), (), ())


def logdet(x: Node) -> Node:
    _require_square("logdet", x)
    if x.op == "transpose":
        return logdet(x.args[0])
    if x.op == "eye":
        return ZERO
    if x.op == "kron" and all(a.ndim == 2 and a.shape[0] == a.shape[1] for a in x.args) \
            and any(a.op == "eye" for a in x.args):
        a, b = x.args  # log det(I_p ⊗ B) = p log det(B), and log det(A ⊗ I_q) = q log det(A)
        return mul(dim(a.shape[0]), logdet(b)) if a.op == "eye" else mul(dim(b.shape[0]), logdet(a))
    return make("logdet", (x,), (), ())


def _logdet_value(a):
    sign, value = np.linalg.slogdet(a)
    if sign <= 0:
        return np.nan  # the evaluator reports where a non-positive determinant came from
    return value


register(Op("det", lambda node, args, sizes: np.linalg.det(args[0]), text="det", unicode="det", latex=r"\det",
            names=("det",), call=Call(det), index=INDEXED_WHOLE,
            pullback=lambda node, g, needed: [(node.args[0], mul(g, node, transpose(inv(node.args[0]))))],
            differential=lambda node, d: mul(node, tr(matmul(inv(node.args[0]), d[0]))),
            words=Words("determinant (Jacobi's formula)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.det(x)", jax="jnp.linalg.det(x)", torch="torch.linalg.det(x)")))
register(Op("logdet", lambda node, args, sizes: _logdet_value(args[0]), text="logdet", unicode="log det",
            latex=r"\log\det", names=("logdet",), call=Call(logdet), index=INDEXED_WHOLE,
            pullback=lambda node, g, needed: [(node.args[0], mul(g, transpose(inv(node.args[0]))))],
            differential=lambda node, d: tr(matmul(inv(node.args[0]), d[0])),
            words=Words("log-determinant"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.slogdet(x)[1]", jax="jnp.linalg.slogdet(x)[1]",
                      torch="torch.linalg.slogdet(x)[1]")))


# ---- inverse --------------------------------------------------------------------------------


def inv(x: Node) -> Node:
    _require_square("inv", x)
    op = x.op
    if op == "inv":
        return x.args[0]
    if op == "transpose":
        return transpose(inv(x.args[0]))
    if op == "eye":
        return x
    c, body = split_coefficient(x)
    if c != 1.0:
        return div(inv(body), const(c))
    scalars, array = split_scalars(x)
    if scalars and array is not x:
        return div(inv(array), mul(*scalars))
    if op == "matmul" and all(f.ndim == 2 and f.shape[0] == f.shape[1] for f in x.args):
        # (A B C)⁻¹ = C⁻¹ B⁻¹ A⁻¹ when every factor is square (then each is invertible)
        return matmul_chain([inv(f) for f in reversed(x.args)])
    if op == "kron" and all(a.ndim == 2 and a.shape[0] == a.shape[1] for a in x.args):
        return kron(inv(x.args[0]), inv(x.args[1]))
    if transposed_spelling_is_simpler(x):  # inv(Mᵀ) = inv(M)ᵀ: one node for both spellings
        return transpose(inv(transpose(x)))
    return make("inv", (x,), (), x.shape)


def _pull_inv(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    inv_t = transpose(node)
    return [(node.args[0], neg(matmul_chain([inv_t, g, inv_t])))]


def _eval_inv(node, args, sizes):
    return np.linalg.inv(args[0])


register(Op("inv", _eval_inv, text="inv", names=("inv",), call=Call(inv), index=INDEXED_WHOLE,
            unicode=lambda a: a.atom(0) + "⁻¹", latex=lambda a: "{" + a.atom(0) + "}^{-1}",
            pullback=_pull_inv,
            differential=lambda node, d: neg(matmul_chain([node, d[0], node])),
            words=Words("matrix inverse"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.inv(x)", jax="jnp.linalg.inv(x)", torch="torch.linalg.inv(x)")))
