"""Structural patterns: products written without forming their structured factors, and sign bounds.

A matrix product is where structure pays most, so the lowering of a chain F1 @ ... @ Fk (the rule of
`@` in its entry calls `Lowering.product`) is planned here: diag(v) @ M is `v[:, None] * M`,
kron(P, Q) @ vec(V) is vec(Q V Pᵀ) (an opt_einsum contraction for a matrix operand), the commutation
matrix is a reshape, M @ outer(a, b) @ N is outer(M a, Nᵀ b), inv(A) @ x is a solve, and Xᵀ diag(c) X
is a symmetric Gram product. These are patterns over several operations, so this module recognises
operations by name: it is code generation's own knowledge, the way an optimiser knows the algebra.
The patterns' spellings are in `backends.PATTERNS`.

`bounds` (an interval holding every entry of an expression, from each operation's `Code.bounds`)
decides whether the Gram product may take square roots of its weights.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..expr import Node
from ..ops import OPS, matmul_chain, split_coefficient, transpose

if TYPE_CHECKING:
    from .lowering import Lowering
    from .terms import Term


# ---- signs: is a vector provably >= 0 (for the square root in a Gram product) -----------------------

def bounds(node: Node) -> tuple[float, float]:
    """An interval holding every entry of an expression ((-inf, inf) when unknown)."""
    return node.cached("codegen.bounds", _bounds)


def _bounds(node: Node) -> tuple[float, float]:
    rule = getattr(OPS[node.op].code, "bounds", None)
    return rule(node, bounds) if rule is not None else (-math.inf, math.inf)


def nonnegative(node: Node) -> bool:
    return bounds(node)[0] >= 0.0


# ---- @: chains with structure --------------------------------------------------------------------

def product(low: "Lowering", node: Node) -> "Term":
    """F1 @ ... @ Fk without forming diag, outer, kron or commutation matrices where avoidable.

    A vector at an end is multiplied in first (matrix-vector products only); a chain of matrices
    is left to `multi_dot` (three: `chain3`), which picks the cheapest order for the sizes at hand.
    """
    factors = list(low.splits.get(node, node.args))  # a run it shares with another product: one factor
    for i, f in enumerate(factors):  # L @ outer(a, b) @ R = outer(L @ a, Rᵀ @ b)
        if f.op == "outer":
            left = matmul_chain(factors[:i] + [f.args[0]])
            right = matmul_chain([f.args[1]] + factors[i + 1:])
            lt, rt = low.term(left), low.term(right)
            if left.ndim == 0 or right.ndim == 0:
                return low.binary("*", lt, rt, node.ndim)
            return low.spell("outer", lt, rt, ndim=2)
    if (len(factors) == 3 and _is_diag(factors[1]) and factors[0].ndim == 2
            and transpose(factors[2]) is factors[0]):
        return _gram(low, factors[2], factors[1].args[0])
    if factors[-1].ndim == 1:  # ... @ x: fold from the right, matrix-vector products only
        acc = low.term(factors[-1])
        x_node: Node | None = factors[-1]
        for f in reversed(factors[:-1]):
            acc, x_node = _apply_left(low, f, acc, x_node), None
        return acc
    if factors[0].ndim == 1:  # x @ ...: fold from the left
        acc = low.term(factors[0])
        for f in factors[1:]:
            acc = _apply_right(low, acc, f)
        return acc
    # matrices only: diagonal and permutation factors scale or permute a neighbour, Kronecker factors are
    # contracted with one, then one product of the rest
    items: list[Node | Term] = list(factors)
    for kind in (_is_cheap_structure, _is_kron):
        while len(items) > 1:
            i = next((i for i, f in enumerate(items) if isinstance(f, Node) and kind(f)), None)
            if i is None:
                break
            if i + 1 < len(items) and not (isinstance(items[i + 1], Node) and _is_cheap_structure(items[i + 1])):
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
            elif i > 0:
                items[i - 1:i + 1] = [_apply_right(low, _code(low, items[i - 1]), items[i])]
            else:
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
    codes = [_code(low, f) for f in items]
    if len(codes) == 1:
        return codes[0]
    if len(codes) == 2:
        return low.binary("@", codes[0], codes[1], 2)
    if len(codes) == 3:
        return low.spell("chain3", *codes, ndim=2)
    return low.spell("multi_dot", low.make("List", None, codes), ndim=2)


def _code(low: "Lowering", item: "Node | Term") -> "Term":
    return low.term(item) if isinstance(item, Node) else item


def _is_diag(f: Node) -> bool:
    return f.op == "diag" and f.args[0].ndim == 1


def _is_kron(f: Node) -> bool:
    return f.op == "kron" and f.args[0].ndim == 2 and f.args[1].ndim == 2


def _solvable(low: "Lowering", f: Node) -> bool:
    """inv(A) used by this product alone: solve with A instead of forming the inverse."""
    return f.op == "inv" and low.uses.get(f, 0) <= 1


def _is_cheap_structure(f: Node) -> bool:
    return _is_diag(f) or f.op == "commutation"


def _apply_left(low: "Lowering", f: Node, x: "Term", x_node: Node | None = None) -> "Term":
    """The code of F @ x for a factor node F and code x (a vector or a matrix; x_node its node if known)."""
    nd = x.ndim
    if _is_diag(f):
        v = low.term(f.args[0])
        return low.binary("*", v, x, 1) if nd == 1 else low.spell("scale_rows", v, x, ndim=2)
    if _is_kron(f):
        p, q = f.args
        if x_node is not None and x_node.op == "vec":  # kron(P, Q) @ vec(V) = vec(Q V Pᵀ), flattened P Vᵀ Qᵀ
            return low.spell("flatten", low.term(matmul_chain([p, transpose(x_node.args[0]), transpose(q)])), ndim=1)
        if nd == 1:
            return low.spell("kron_matvec", low.term(p), low.term(transpose(q)), x, low.dim(p.shape[1]),
                             low.dim(q.shape[1]), ndim=1)
        return low.spell("kron_matmul", low.term(p), low.term(q), x, low.dim(p.shape[1]), low.dim(q.shape[1]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if x_node is not None and x_node.op == "vec" and x_node.args[0].shape == (m, n):  # K vec(A) = vec(Aᵀ)
            return low.spell("flatten", low.term(x_node.args[0]), ndim=1)
        return low.spell("commute_vector" if nd == 1 else "commute_rows", x, low.dim(m), low.dim(n), ndim=nd)
    if _solvable(low, f):
        return low.spell("solve", low.term(f.args[0]), x, ndim=nd)
    if f.op == "transpose" and _solvable(low, f.args[0]):  # inv(A).T @ x = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0].args[0])), x, ndim=nd)
    if f.op == "transpose" and nd == 1:
        return low.spell("transposed_matvec", low.term(f.args[0]), x, ndim=1)
    if f.op == "add" and nd == 1 and low.uses.get(f, 0) <= 1 and f.ndim == 2 \
            and all(t.shape == f.shape for t in f.args):  # not through broadcasting: (1 - B) @ x is no 1 @ x
        # (A + Bᵀ) @ x = A @ x + Bᵀ @ x: matrix-vector products instead of forming the sum
        return low.signed_sum([(c, _apply_left(low, body, x)) for c, body in map(split_coefficient, f.args)], 1)
    return low.binary("@", low.term(f), x, _matmul_ndim(f.ndim, nd))


def _matmul_ndim(a: int, b: int) -> int:
    """ndim of A @ B with NumPy's 1-D rules."""
    return max(a - 1, 0) + max(b - 1, 0)


def _apply_right(low: "Lowering", x: "Term", f: Node) -> "Term":
    """The code of x @ F for code x (a vector or a matrix) and a factor node F."""
    nd = x.ndim
    if _is_diag(f):
        return low.binary("*", x, low.term(f.args[0]), nd)
    if _is_kron(f):
        p, q = f.args
        if nd == 1:
            return low.spell("vecmat_kron", x, low.term(transpose(p)), low.term(q), low.dim(p.shape[0]),
                             low.dim(q.shape[0]), ndim=1)
        return low.spell("matmul_kron", x, low.term(p), low.term(q), low.dim(p.shape[0]), low.dim(q.shape[0]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if nd == 1:  # x @ K(m, n) = K(n, m) @ x
            return low.spell("commute_vector", x, low.dim(n), low.dim(m), ndim=1)
        return low.spell("commute_columns", x, low.dim(m), low.dim(n), ndim=2)
    if _solvable(low, f) and nd == 1:  # x @ inv(A) = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0])), x, ndim=1)
    if nd == 1 and f.ndim == 2 and f.op == "transpose":  # x @ Mᵀ = M @ x
        return _apply_left(low, f.args[0], x)
    return low.binary("@", x, low.term(f), _matmul_ndim(nd, f.ndim))


def _gram(low: "Lowering", x: Node, c: Node) -> "Term":
    """Xᵀ diag(c) X, symmetric: where c ≥ 0 the backend's `gram` (NumPy: (X ⊙ √c)ᵀ(X ⊙ √c), BLAS syrk, where
    X is big enough for it to pay), else Xᵀ(c ⊙ X)."""
    xt = low.term(x)
    if nonnegative(c):
        return low.spell("gram", xt, low.term(c), ndim=2)
    return low.binary("@", low.term(transpose(x)), low.spell("scale_rows", low.term(c), xt, ndim=2), 2)
