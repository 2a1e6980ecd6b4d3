"""Structural operations: norm2, diag, outer, kron, vec (the reductions are in `reductions.py`).

Their linear uses in vec form follow the Cookbook: vec(a bᵀ) = b ⊗ a, vec(A ⊗ B) =
(I ⊗ K ⊗ I)(vec A ⊗ vec B), 1ᵀX = (I ⊗ 1ᵀ) vec X, X1 = (1ᵀ ⊗ I) vec X.
"""
from __future__ import annotations

import numpy as np

import math

from ..dims import format_shape, size_of
from ..errors import ShapeError
from ..expr import Node, make
from .registry import (INDEXED_WHOLE, NOT_LINEAR, Absent, Call, Code, Op, SpelledIdentity, Words,
                       register, within)
from . import algebra as A


def _describe(x: Node) -> str:
    return A._describe(x)


# ---- norm2 -------------------------------------------------------------------------------------


def norm2(x: Node) -> Node:
    if not x.shape:
        return abs_(x)
    scalars, array = A.split_scalars(x)
    c, body = A.split_coefficient(x)
    if c != 1.0:
        return A.mul(A.const(abs(c)), norm2(body))
    if x.op == "transpose":
        return norm2(x.args[0])
    if x.op == "kron":
        return A.mul(norm2(x.args[0]), norm2(x.args[1]))
    return make("norm2", (x,), (), ())


def abs_(x: Node) -> Node:
    from .elementwise import abs_ as absolute
    return absolute(x)


# the 2-norm, or a matrix's Frobenius norm; NumPy's norm(x), norm(x, 2), norm(X, 'fro') read as it (the
# name `norm` and its orders are in `norms.py`)
register(Op("norm2", lambda node, args, sizes: np.linalg.norm(args[0]), text="norm2",
            unicode=lambda a: f"‖{a[0]}‖", latex=lambda a: rf"\left\lVert {a[0]} \right\rVert",
            names=("norm2",), call=Call(norm2), index=INDEXED_WHOLE,
            pullback=lambda node, g, needed: [(node.args[0], A.div(A.mul(g, node.args[0]), node))],
            differential=lambda node, d: A.div(inner(node.args[0], d[0]), node),
            words=Words("norm (Frobenius for a matrix)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.norm(x)", jax="jnp.linalg.norm(x)", torch="torch.linalg.norm(x)",
                      bounds=within(0.0, math.inf))))


# ---- diag -------------------------------------------------------------------------------------


def diag(x: Node) -> Node:
    if x.ndim == 1:
        if x.op == "diag" and x.args[0].ndim == 1:  # diag(diag(v)) = v; diag(diag(A)) is A ⊙ I, kept
            return x.args[0]
        if x.op == "ones":
            return A.eye(x.shape[0])
        scalars, array = A.split_scalars(x)
        if scalars and array is not x:
            return A.mul(*scalars, diag(array))
        return make("diag", (x,), (), (x.shape[0], x.shape[0]))
    if x.ndim == 2:
        if x.shape[0] != x.shape[1]:
            raise ShapeError(f"diag({_describe(x)}): diag needs a square matrix, but {_describe(x)} is "
                             f"{format_shape(x.shape)}", (x,))
        if x.op == "diag":
            return x.args[0]
        if x.op == "outer":  # the diagonal of a bᵀ is a ⊙ b
            return A.mul(*x.args)
        if x.op == "matmul" and all(f.ndim == 2 for f in x.args):
            i = next((i for i, f in enumerate(x.args[1:-1], 1) if f.op == "diag" and f.args[0].ndim == 1), None)
            if i is not None:  # diag(P diag(v) Q) = (P ⊙ Qᵀ) v
                p, q = A.matmul_chain(x.args[:i]), A.matmul_chain(x.args[i + 1:])
                return A.matmul(A.mul(p, A.transpose(q)), x.args[i].args[0])
        if x.op == "eye":
            return A.ones((x.shape[0],))
        if x.op == "transpose":
            return diag(x.args[0])
        scalars, array = A.split_scalars(x)
        if scalars and array is not x:
            return A.mul(*scalars, diag(array))
        length = x.shape[0] if x.shape[0] == x.shape[1] else min(x.shape)
        return make("diag", (x,), (), (length,))
    raise ShapeError(f"diag({_describe(x)}): diag needs a vector or a matrix, but {_describe(x)} is a scalar", (x,))


def _diagonal_selector(n) -> Node:
    """S (n²×n) with vec(diag(v)) = S v: columns vec(e_i e_iᵀ)."""
    return A.matmul(diag(vec(A.eye(n))), A.transpose(kron(A.ones((n,)), A.eye(n))))


def _vec_diag(node: Node, jacobians) -> Node:
    (x,), (jac,) = node.args, jacobians
    if x.ndim == 1:
        return A.matmul(_diagonal_selector(x.shape[0]), jac)
    return A.matmul(A.transpose(_diagonal_selector(x.shape[0])), jac)


def _lower_diag(low, node: Node):
    (x,) = node.args
    if x.ndim == 2 and x.op == "matmul" and len(x.args) == 2 and all(f.ndim == 2 for f in x.args):
        return low.spell("diag_of_product", low.term(x.args[0]), low.term(x.args[1]), ndim=1)  # diag(A B)
    return low.spell("diag", low.term(x), ndim=node.ndim)


def _index_diag(ix, node: Node, idx: tuple):
    """diag(v)[i,j] = v[i] δ[i,j]; diag(M)[i] = M[i,i] (rectangular deltas pick the diagonal of a
    non-square M)."""
    (x,) = node.args
    if x.ndim == 1:
        return ix.product(ix.indexed(x, (idx[0],)), ix.delta(idx[0], idx[1]))
    if x.shape[0] == x.shape[1]:
        return ix.indexed(x, (idx[0], idx[0]))
    s, t = ix.fresh(x.shape[0]), ix.fresh(x.shape[1])
    return ix.summing(ix.product(ix.indexed(x, (s, t)), ix.delta(idx[0], s), ix.delta(idx[0], t)), [s, t])


register(Op("diag", lambda node, args, sizes: np.diag(args[0]), text="diag", unicode="diag",
            latex=r"\operatorname{diag}", names=("diag",), call=Call(diag), index=_index_diag,
            pullback=lambda node, g, needed: [(node.args[0], diag(g))],
            differential=lambda node, d: diag(d[0]), vec_jacobian=_vec_diag,
            words=Words(lambda node, slot, fused: ["diagonal matrix of a vector" if node.args[0].ndim == 1
                                                   else "diagonal of a matrix"]),
            identity=SpelledIdentity("A : diag(b) = diag(A) : b", "A : diag(b) = diag(A) : b",
                                     r"A : \operatorname{diag}(b) = \operatorname{diag}(A) : b"),
            vec_identity=SpelledIdentity("vec(diag v) = S v", "vec(diag(v)) = S @ v",
                                         r"\operatorname{vec}(\operatorname{diag}v) = S v"),
            code=Code(numpy="np.diag(x)", jax="jnp.diag(x)", torch="torch.diag(x)", lower=_lower_diag)))


# ---- outer ------------------------------------------------------------------------------------


def outer(a: Node, b: Node) -> Node:
    for x in (a, b):
        if x.ndim != 1:
            raise ShapeError(f"outer({_describe(a)}, {_describe(b)}): outer needs two vectors, "
                             f"but {_describe(x)} is {format_shape(x.shape)}", (a, b))
    scalars_a, a2 = A.split_scalars(a)
    scalars_b, b2 = A.split_scalars(b)
    if scalars_a or scalars_b:
        return A.mul(*scalars_a, *scalars_b, outer(a2, b2))
    for x, i in ((a, 0), (b, 1)):
        array, divisor = A.split_divisor(x)
        if divisor is not None:
            return A.div(outer(array, b) if i == 0 else outer(a, array), divisor)
    if A.is_zero(a) or A.is_zero(b):
        return A.zeros((a.shape[0], b.shape[0]))
    if a.op == "ones" and b.op == "ones":
        return A.ones((a.shape[0], b.shape[0]))
    if a.op == "matmul" and a.args[0].ndim == 2:  # (M u) bᵀ = M (u bᵀ)
        return A.matmul(A.matmul_chain(a.args[:-1]), outer(a.args[-1], b))
    if b.op == "matmul" and b.args[0].ndim == 2:  # a (M v)ᵀ = (a vᵀ) Mᵀ
        return A.matmul(outer(a, b.args[-1]), A.transpose(A.matmul_chain(b.args[:-1])))
    return make("outer", (a, b), (), (a.shape[0], b.shape[0]))


def _pull_outer(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    a, b = node.args
    out = []
    # G 1 and Gᵀ 1 are the sums of G's rows and columns
    if needed(a):
        out.append((a, sum_(g, axis=1) if b.op == "ones" else A.matmul(g, b)))
    if needed(b):
        out.append((b, sum_(g, axis=0) if a.op == "ones" else A.matmul(A.transpose(g), a)))
    return out


def _d_outer(node: Node, d) -> Node:
    a, b = node.args
    terms = []
    if d[0] is not None:
        terms.append(outer(d[0], b))
    if d[1] is not None:
        terms.append(outer(a, d[1]))
    return A.add(*terms)


def _vec_outer(node: Node, jacobians) -> Node:
    a, b = node.args
    i = A._single(node, jacobians)
    jac = jacobians[i]
    if i == 0:  # vec(l bᵀ) = (b ⊗ I) l
        return A.matmul(A.transpose(kron(b, A.eye(a.shape[0]))), jac)
    return A.matmul(A.transpose(kron(A.eye(b.shape[0]), a)), jac)  # vec(a lᵀ) = (I ⊗ a) l


register(Op("outer", lambda node, args, sizes: np.outer(args[0], args[1]), text="outer",
            unicode=lambda a: f"{a.atom(0)} {a.transposed(1)}", latex=lambda a: f"{a.atom(0)} {a.transposed(1)}",
            pullback=_pull_outer, differential=_d_outer, vec_jacobian=_vec_outer,
            words=Words(lambda node, slot, fused: ["outer product, by its " + ("left" if slot == 0 else "right")
                                                   + " vector"]),
            identity=SpelledIdentity("A : a bᵀ = A b : a = Aᵀa : b", "A : outer(a, b) = A @ b : a = A.T @ a : b",
                                     r"A : a b^\top = A b : a = A^\top a : b"),
            vec_identity=SpelledIdentity("vec(a bᵀ) = b ⊗ a", "vec(outer(a, b)) = kron(b, a)",
                                         r"\operatorname{vec}(a b^\top) = b \otimes a"),
            names=("outer",), call=Call(outer, arrays=2),
            index=lambda ix, node, idx: ix.product(*(ix.indexed(v, (i,)) for v, i in zip(node.args, idx))),
            code=Code(numpy="np.outer(x, y)", jax="jnp.outer(x, y)", torch="torch.outer(x, y)", placeholders="x y")))


# ---- kron -------------------------------------------------------------------------------------


def _kron_factors(a) -> list[str]:
    """The factors of A ⊗ B as math writes them: NumPy's kron takes a vector beside a matrix as a row."""
    rows = a.ndim(0) + a.ndim(1) == 3
    return [a.transposed(i) if rows and a.ndim(i) == 1 else a.factor(i) for i in (0, 1)]


def kron_shape(a: Node, b: Node):
    sa, sb = a.shape, b.shape
    if len(sa) == 1 and len(sb) == 1:
        return (size_of(sa + sb),)
    if len(sa) == 1:
        sa = (1,) + sa
    if len(sb) == 1:
        sb = (1,) + sb
    return (size_of((sa[0], sb[0])), size_of((sa[1], sb[1])))


def kron(a: Node, b: Node) -> Node:
    if not a.shape or not b.shape:
        return A.mul(a, b)
    for x in (a, b):  # its rules, vec identities and code are those of vectors and matrices
        if x.ndim > 2:
            raise ShapeError(f"kron({_describe(a)}, {_describe(b)}): kron takes vectors and matrices, but "
                             f"{_describe(x)} has {x.ndim} axes (einsum writes a product of arrays of any order)",
                             (a, b), culprit=x)
    scalars_a, a2 = A.split_scalars(a)
    scalars_b, b2 = A.split_scalars(b)
    if scalars_a or scalars_b:
        return A.mul(*scalars_a, *scalars_b, kron(a2, b2))
    shape = kron_shape(a, b)
    if A.is_zero(a) or A.is_zero(b):
        return A.zeros(shape)
    for unit, other in ((a, b), (b, a)):  # a single 1 changes nothing: kron(x, ones(1)) = x
        if (unit.op == "ones" and unit.shape == (1,)) or (unit.ndim == 2 and unit.shape == (1, 1)
                                                          and unit.op in ("eye", "ones") and other.ndim == 2):
            return other
    if a.op == "eye" and b.op == "eye":
        return A.eye(shape[0])
    # a vector made a column, outer(v, ones(1)): kron(v as a column, S) = kron(v, Sᵀ)ᵀ reads better for S = Sᵀ
    if _is_column(a) and A.is_symmetric(b):
        return A.transpose(kron(a.args[0], b))
    if _is_column(b) and A.is_symmetric(a):
        return A.transpose(kron(a, b.args[0]))
    if a.op == "ones" and b.op == "ones":
        return A.ones(shape)
    return make("kron", (a, b), (), shape)


def _is_row(x: Node) -> bool:
    return x.op == "outer" and x.args[0].op == "ones" and x.args[0].shape == (1,)


def _is_column(x: Node) -> bool:
    return x.op == "outer" and x.args[1].op == "ones" and x.args[1].shape == (1,)


def _partial_trace_first(m: Node, p, r, s) -> Node:
    """Σ_i (e_iᵀ ⊗ I_r) M (e_i ⊗ I_s) for M of size pr × ps."""
    return A.matmul_chain([kron(vec(A.eye(p)), A.eye(r)), kron(A.eye(p), m),
                           A.transpose(kron(vec(A.eye(p)), A.eye(s)))])


def _partial_trace_second(m: Node, p, q, r) -> Node:
    """Σ_j (I_p ⊗ e_jᵀ) M (I_q ⊗ e_j) for M of size pr × qr."""
    return A.matmul_chain([kron(A.eye(p), vec(A.eye(r))), kron(m, A.eye(r)),
                           A.transpose(kron(A.eye(q), vec(A.eye(r))))])


def _as_rows(a: Node, b: Node) -> tuple[Node, Node]:
    """kron's operands as matrices: NumPy's kron takes a vector as a row, outer(ones(1), v)."""
    return tuple(outer(A.ones((1,)), x) if x.ndim == 1 else x for x in (a, b))  # type: ignore[return-value]


def _pull_kron(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    a, b = node.args
    if a.ndim == b.ndim == g.ndim == 1:  # kron(a, b) = (a ⊗ I) b = (I ⊗ b) a, with vectors as rows
        return [(x, A.matmul(m, g)) for x, m in ((a, kron(A.eye(a.shape[0]), b)), (b, kron(a, A.eye(b.shape[0]))))
                if needed(x)]
    a2, b2 = _as_rows(a, b)
    if g.ndim == 1:  # kron of two vectors is the row kron(a2, b2), as a vector
        g = outer(A.ones((1,)), g)
    (p, q), (r, s) = a2.shape, b2.shape
    out = []
    for x, x2, cotangent in (
            # dA[i,k] = Σ_jl B[j,l] G[(i,j),(k,l)]
            (a, a2, lambda: _partial_trace_second(A.matmul(g, kron(A.eye(q), A.transpose(b2))), p, q, r)),
            # dB[j,l] = Σ_ik A[i,k] G[(i,j),(k,l)]
            (b, b2, lambda: _partial_trace_first(A.matmul(g, kron(A.transpose(a2), A.eye(s))), p, r, s))):
        if needed(x):
            c = cotangent()
            out.append((x, A.matmul(A.transpose(c), A.ones((1,))) if x.ndim == 1 else c))
    return out


def _d_kron(node: Node, d) -> Node:
    a, b = node.args
    terms = []
    if d[0] is not None:
        terms.append(kron(d[0], b))
    if d[1] is not None:
        terms.append(kron(a, d[1]))
    return A.add(*terms)


def _vec_kron(node: Node, jacobians) -> Node:
    i = A._single(node, jacobians)
    jac = jacobians[i]  # a vector operand taken as a row has the same vec, so the same J
    a, b = _as_rows(*node.args)
    (p, q), (r, s) = a.shape, b.shape
    rearrange = kron(kron(A.eye(q), commutation_(s, p)), A.eye(r))  # vec(A ⊗ B) = R (vec A ⊗ vec B)
    if i == 0:
        return A.matmul_chain([rearrange, A.transpose(kron(A.eye(size_of((p, q))), vec(b))), jac])
    return A.matmul_chain([rearrange, A.transpose(kron(vec(a), A.eye(size_of((r, s))))), jac])


def commutation_(m, n) -> Node:
    return A.commutation(m, n)


def _index_kron(ix, node: Node, idx: tuple):
    """(A ⊗ B)[(i,k),(j,l)] = A[i,j] B[k,l], with composite indices (row-major, as NumPy's kron numbers
    them); a 1-D operand beside a matrix is a row. Where dX is not inside, A ⊗ B is an atom."""
    a, b = node.args
    if not ix.has_dx(node):
        return None
    ia = tuple(ix.fresh(d) for d in a.shape)
    ib = tuple(ix.fresh(d) for d in b.shape)
    ra = ((None,) if a.ndim == 1 and b.ndim == 2 else ()) + ia
    rb = ((None,) if b.ndim == 1 and a.ndim == 2 else ()) + ib
    picks = []
    for out, pa, pb in zip(idx, ra, rb):
        names = tuple(n for n in (pa, pb) if n is not None)
        picks.append(ix.delta(out, names[0] if len(names) == 1 else names))
    return ix.summing(ix.product(ix.indexed(a, ia), ix.indexed(b, ib), *picks), ia + ib)


register(Op("kron", lambda node, args, sizes: np.kron(args[0], args[1]), text="kron",
            unicode=lambda a: "({} ⊗ {})".format(*_kron_factors(a)),
            latex=lambda a: r"\left({} \otimes {}\right)".format(*_kron_factors(a)),
            pullback=_pull_kron, differential=_d_kron, vec_jacobian=_vec_kron,
            words=Words("Kronecker product (a partial trace)"),
            identity=SpelledIdentity("A : (B ⊗ C) by partial traces", "A : kron(B, C) by partial traces",
                                     r"A : (B \otimes C)"),
            vec_identity=SpelledIdentity("vec(A ⊗ B) = (I ⊗ K ⊗ I)(vec A ⊗ vec B)",
                                         "vec(kron(A, B)) = R @ kron(vec(A), vec(B))",
                                         r"\operatorname{vec}(A \otimes B) = (I \otimes K \otimes I)"
                                         r"(\operatorname{vec}A \otimes \operatorname{vec}B)"),
            names=("kron",), call=Call(kron, arrays=2), index=_index_kron,
            # torch.kron (2.13) fails on transposed views: "view size is not compatible with input tensor's size"
            code=Code(numpy="np.kron(x, y)", jax="jnp.kron(x, y)", torch="torch.kron(x.contiguous(), y.contiguous())",
                      placeholders="x y")))


# ---- vec --------------------------------------------------------------------------------------


def vec(x: Node) -> Node:
    if x.ndim == 0:
        raise ShapeError(f"vec({_describe(x)}): vec needs a vector or a matrix, but {_describe(x)} is a scalar", (x,))
    if x.ndim == 1:
        return x
    scalars, array = A.split_scalars(x)
    if scalars and array is not x:
        return A.mul(*scalars, vec(array))
    if x.op == "outer":  # vec(a bᵀ) = b ⊗ a
        return kron(x.args[1], x.args[0])
    if x.op == "matmul" and _is_row(x.args[0]):  # a 1×k matrix vec'd is its row: vec(1 vᵀ M) = Mᵀ v
        return A.matmul_chain([x.args[0].args[1], *x.args[1:]])
    if x.shape == (1, 1) and x.op in ("eye", "ones"):
        return A.ones((1,))
    if x.op == "ones":
        return A.ones((size_of(x.shape),))
    if x.op == "zeros":
        return A.zeros((size_of(x.shape),))
    return make("vec", (x,), (), (size_of(x.shape),))


def unvec(v: Node, n, m) -> Node:
    """The n×m matrix X with vec(X) = v: (vec(I_m)ᵀ ⊗ I_n)(I_m ⊗ v)."""
    scalars, array = A.split_scalars(v)
    if scalars and array is not v:
        return A.mul(*scalars, unvec(array, n, m))
    if v.op == "vec" and v.args[0].shape == (n, m):
        return v.args[0]
    return A.matmul(kron(vec(A.eye(m)), A.eye(n)), kron(A.eye(m), outer(v, A.ones((1,)))))


def _lower_vec(low, node: Node):
    (x,) = node.args
    if x.op == "transpose":  # vec(Mᵀ) is M flattened row by row, without forming the transpose
        return low.spell("flatten", low.term(x.args[0]), ndim=1)
    return low.spell("vec", low.term(x), ndim=1)


def _index_vec(ix, node: Node, idx: tuple):
    """vec(M)[(b,a)] = M[a,b]: column-major, a composite index; where dX is not inside, an atom."""
    (x,) = node.args
    if not ix.has_dx(node):
        return None
    axes = [ix.fresh(d) for d in x.shape]  # vec of an array of any order: the first axis varies fastest
    return ix.summing(ix.product(ix.indexed(x, tuple(axes)), ix.delta(idx[0], tuple(reversed(axes)))), axes)


def _pull_vec(node: Node, g: Node, needed) -> list:
    (x,) = node.args
    if x.ndim <= 2:
        return [(x, unvec(g, *x.shape))]
    from .axes import permute, reshape  # axes.py builds on this module
    # the inverse of a column-major flatten: a C-order reshape to the reversed shape, its axes reversed
    return [(x, permute(reshape(g, tuple(reversed(x.shape))), tuple(reversed(range(x.ndim)))))]


register(Op("vec", lambda node, args, sizes: np.reshape(args[0], -1, order="F"), text="vec", unicode="vec",
            latex=r"\operatorname{vec}", names=("vec",), call=Call(vec), index=_index_vec,
            pullback=_pull_vec,
            differential=lambda node, d: vec(d[0]),
            vec_jacobian=lambda node, jacobians: jacobians[0],
            words=Words("vec (column-major stacking)"),
            identity=SpelledIdentity("a : vec(B) = unvec(a) : B", "a : vec(B) = unvec(a) : B",
                                     r"a : \operatorname{vec}(B) = \operatorname{unvec}(a) : B"),
            vec_identity=Absent("vec(dX) is itself a vec form, its Jacobian the identity"),
            # column-major, as in the Cookbook
            code=Code(numpy="x.T.reshape(-1)", jax="x.T.reshape(-1)", torch="x.T.reshape(-1)", lower=_lower_vec)))


# Late import: the sums of the pullbacks (reductions.py builds on this module).
from .reductions import inner, sum_  # noqa: E402
