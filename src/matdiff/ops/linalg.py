"""Linear-algebra functions of matrices: tr, det, logdet, inv, solve, matrix_power, pinv.

The rules are the Matrix Cookbook's: d tr(X) = tr(dX), d det(X) = det(X) tr(X⁻¹ dX),
d logdet(X) = tr(X⁻¹ dX), d X⁻¹ = -X⁻¹ dX X⁻¹; their pullbacks g I, g det(X) X⁻ᵀ, g X⁻ᵀ and
-X⁻ᵀ G X⁻ᵀ. A solve is differentiated as a solve, never through an inverse (Giles 2008): d A⁻¹B =
A⁻¹(dB − dA A⁻¹B), with cotangents −A⁻ᵀG Xᵀ and A⁻ᵀG. d Xⁿ = Σ_r Xʳ dX Xⁿ⁻¹⁻ʳ (Cookbook eq. 90), and
the pseudo-inverse of a full-rank matrix follows Golub & Pereyra (1973). The triangular factor
(cholesky) is in `factorizations.py`, the norms in `norms.py`.
"""
from __future__ import annotations

import numpy as np

from ..dims import format_shape
from ..errors import NotSupportedError, ShapeError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Call, Code, Literal, Op, SpelledIdentity, Words, register
from .algebra.leaves import ONE, ZERO, const, dim, eye, is_zero
from .algebra.broadcasting import _describe
from .algebra.sums import add, neg, split_coefficient, sub
from .algebra.products import div, mul, power, split_divisor, split_scalars
from .algebra.chains import chain_factors, chain_identity, matmul, matmul_chain
from .algebra.transposition import is_symmetric, transpose, transposed_spelling_is_simpler
from .structure import diag, kron, outer, vec


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
    if op in ("tril", "triu"):  # a triangle holds the whole diagonal
        return tr(x.args[0])
    if op == "diag" and x.args[0].op == "diag" and x.args[0].args[0].ndim == 2:  # tr(diag(diag(M))) = tr(M)
        return tr(x.args[0].args[0])
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


# ---- linear solve ---------------------------------------------------------------------------


def solve(a: Node, b: Node) -> Node:
    """np.linalg.solve(A, B): the X with A X = B, for a square A and B a vector or a matrix of A's rows.

    Its rules never form A⁻¹: d X = A⁻¹(dB − dA X), and the cotangents are Ā = −A⁻ᵀ G Xᵀ, B̄ = A⁻ᵀ G
    (Giles 2008), written with solve."""
    call = f"solve({_describe(a)}, {_describe(b)})"
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        what = "a scalar" if not a.shape else f"{format_shape(a.shape)}, not a square matrix"
        raise ShapeError(f"{call}: solve needs a square matrix A, but {_describe(a)} is {what}", (a, b))
    if b.ndim not in (1, 2):
        raise ShapeError(f"{call}: the right-hand side must be a vector or a matrix, but {_describe(b)} is a "
                         "scalar", (a, b))
    if b.shape[0] != a.shape[0]:
        rows = "length" if b.ndim == 1 else "rows"
        raise ShapeError(f"{call}: {_describe(a)} is {format_shape(a.shape)} but {_describe(b)} is "
                         f"{format_shape(b.shape)} ({rows} {b.shape[0]} ≠ {a.shape[0]})", (a, b))
    if is_zero(b):
        return b
    if a.op == "eye":
        return b
    if a.op == "inv":  # solve(inv(M), B) = M B
        return matmul(a.args[0], b)
    if b.op == "eye":
        return inv(a)
    if b is a:
        return eye(a.shape[0])
    scalars, array = split_scalars(a)
    if scalars and array is not a:  # solve(s M, B) = solve(M, B) / s
        return div(solve(array, b), mul(*scalars))
    scalars, array = split_scalars(b)
    if scalars and array is not b:  # linear in B: solve(A, s B) = s solve(A, B)
        return mul(*scalars, solve(a, array))
    array, divisor = split_divisor(b)
    if divisor is not None:
        return div(solve(a, array), divisor)
    return make("solve", (a, b), (), b.shape)


def _pull_solve(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    a, b = node.args
    adjoint = solve(transpose(a), g)  # A⁻ᵀ G, the cotangent of B
    out = []
    if needed(a):  # −A⁻ᵀ G Xᵀ
        out.append((a, neg(outer(adjoint, node) if node.ndim == 1 else matmul(adjoint, transpose(node)))))
    if needed(b):
        out.append((b, adjoint))
    return out


def _d_solve(node: Node, d) -> Node:
    """d X = A⁻¹ (dB − dA X)."""
    (a, _), (da, db) = node.args, d
    parts = ([db] if db is not None else []) + ([neg(matmul(da, node))] if da is not None else [])
    return solve(a, add(*parts))


def _vec_solve(node: Node, jacobians) -> Node:
    """vec(A⁻¹ B) = (I ⊗ A⁻¹) vec B: solve is linear in B (in a differential, A holds no dX)."""
    (a, b), (ja, jb) = node.args, jacobians
    if ja is not None:
        raise NotSupportedError("the vec form of solve is of its right-hand side; its matrix is not linear")
    return matmul(inv(a), jb) if b.ndim == 1 else matmul(kron(eye(b.shape[1]), inv(a)), jb)


def _index_solve(ix, node: Node, idx: tuple):
    """A⁻¹B[i,j] = Σ_p A⁻¹[i,p] B[p,j] where B holds dX (A⁻¹ an atom); otherwise indexed as a whole."""
    a, b = node.args
    if not ix.has_dx(b):
        return None
    p = ix.fresh(a.shape[0])
    return ix.summing(ix.product(ix.atom(inv(a), (idx[0], p)), ix.indexed(b, (p,) + tuple(idx[1:]))), [p])


def _solve_words(node: Node, slot: int, fused: bool) -> list:
    return ["linear solve A⁻¹B, by " + ("its matrix A" if slot == 0 else "its right-hand side B")]


register(Op("solve", lambda node, args, sizes: np.linalg.solve(args[0], args[1]), text="solve",
            # A⁻¹B, in parentheses: a call is read as one atom wherever it stands ((K⁻¹ y)ᵀ, 2 (K⁻¹ y))
            unicode=lambda a: f"({a.atom(0)}⁻¹ {a.factor(1)})",
            latex=lambda a: r"\left({" + a.atom(0) + "}^{-1} " + a.factor(1) + r"\right)",
            names=("solve",), call=Call(solve, arrays=2), index=_index_solve,
            pullback=_pull_solve, differential=_d_solve, vec_jacobian=_vec_solve,
            words=Words(_solve_words),
            identity=SpelledIdentity("M : A⁻¹B = A⁻ᵀM : B", "M : solve(A, B) = solve(A.T, M) : B",
                                     r"M : A^{-1}B = A^{-\top}M : B"),
            vec_identity=SpelledIdentity("vec(A⁻¹B) = (I ⊗ A⁻¹) vec B",
                                         "vec(solve(A, B)) = kron(eye(k), inv(A)) @ vec(B)",
                                         r"\operatorname{vec}(A^{-1}B) = (I \otimes A^{-1})\operatorname{vec}B"),
            code=Code(numpy="np.linalg.solve(x, y)", jax="jnp.linalg.solve(x, y)", torch="torch.linalg.solve(x, y)",
                      placeholders="x y")))


# ---- matrix power ---------------------------------------------------------------------------


def matrix_power(x: Node, n: int | None = None) -> Node:
    """np.linalg.matrix_power(X, n): X multiplied by itself n times, for an integer n (a negative one
    is a power of the inverse, as NumPy computes it)."""
    if n is None:
        raise NotSupportedError(f"matrix_power({_describe(x)}, n) needs the power n, an integer such as 3")
    if isinstance(n, bool) or not isinstance(n, int):
        raise NotSupportedError(f"matrix_power({_describe(x)}, {n!r}): the power must be an integer (NumPy's "
                                f"matrix_power takes no other), but {n!r} is not")
    _require_square("matrix_power", x)
    if n < 0:
        return matrix_power(inv(x), -n)
    if n == 0:
        return eye(x.shape[0])
    if n == 1 or x.op == "eye":
        return x
    if x.op == "matrix_power":  # (Xᵃ)ᵇ = Xᵃᵇ
        return matrix_power(x.args[0], x.params[0] * n)
    scalars, array = split_scalars(x)
    if scalars and array is not x:  # (s M)ⁿ = sⁿ Mⁿ
        return mul(power(mul(*scalars), const(float(n))), matrix_power(array, n))
    if x.op == "diag" and x.args[0].ndim == 1:  # diag(v)ⁿ = diag(vⁿ)
        return diag(power(x.args[0], const(float(n))))
    if transposed_spelling_is_simpler(x):  # (Mᵀ)ⁿ = (Mⁿ)ᵀ: one node for both spellings
        return transpose(matrix_power(transpose(x), n))
    return make("matrix_power", (x,), (n,), x.shape)


def _pull_matrix_power(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    """X̄ = Σ_r (Xʳ)ᵀ G (Xⁿ⁻¹⁻ʳ)ᵀ; n (Xⁿ⁻¹)ᵀ when G is a multiple of I (d tr(Xⁿ) = n tr(Xⁿ⁻¹ dX))."""
    (x,), n = node.args, node.params[0]
    scalars, array = split_scalars(g)
    if array.op == "eye":
        return [(x, mul(const(float(n)), *scalars, transpose(matrix_power(x, n - 1))))]
    return [(x, add(*(matmul_chain([transpose(matrix_power(x, r)), g, transpose(matrix_power(x, n - 1 - r))])
                      for r in range(n))))]


def _d_matrix_power(node: Node, d) -> Node:
    """d Xⁿ = Σ_r Xʳ dX Xⁿ⁻¹⁻ʳ."""
    (x,), n = node.args, node.params[0]
    return add(*(matmul_chain([matrix_power(x, r), d[0], matrix_power(x, n - 1 - r)]) for r in range(n)))


def _power_parts(f: Node) -> tuple[Node, int, bool]:
    """f as (X, k, transposed) with f = Xᵏ or (Xᵏ)ᵀ."""
    transposed = f.op == "transpose"
    plain = f.args[0] if transposed else f
    if plain.op == "matrix_power":
        return plain.args[0], plain.params[0], transposed
    return plain, 1, transposed


def _merge_powers(x: Node, y: Node) -> Node | None:
    """Xᵃ Xᵇ = Xᵃ⁺ᵇ, and (Xᵃ)ᵀ (Xᵇ)ᵀ = (Xᵃ⁺ᵇ)ᵀ, where one of them is a matrix_power (X @ X stays)."""
    if "matrix_power" not in (x.op, y.op, x.args[0].op if x.args else "", y.args[0].op if y.args else ""):
        return None
    (p, a, s), (q, b, t) = _power_parts(x), _power_parts(y)
    if p is not q or s != t or (a == 1 and b == 1):
        return None
    product = matrix_power(p, a + b)
    return transpose(product) if s else product


def _superscript(text: str) -> str:
    return text.translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))


_POWER = Literal("n", lambda v: isinstance(v, int) and not isinstance(v, bool),
                 "matrix_power takes an integer power n, as in matrix_power(X, 3) (NumPy refuses any other)",
                 spelling="an integer n", noun="an integer power n", positional=True, required=True)
register(Op("matrix_power", lambda node, args, sizes: np.linalg.matrix_power(args[0], node.params[0]),
            text="matrix_power", unicode=lambda a: a.atom(0) + _superscript(a.keyword("n") or ""),
            latex=lambda a: "{" + a.atom(0) + "}^{" + (a.keyword("n") or "") + "}",
            names=("matrix_power",), call=Call(matrix_power, literals=(_POWER,)), index=INDEXED_WHOLE,
            pullback=_pull_matrix_power, differential=_d_matrix_power,
            words=Words("matrix power (a product of n factors X)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.matrix_power(x, k)", jax="jnp.linalg.matrix_power(x, k)",
                      torch="torch.linalg.matrix_power(x, k)", placeholders="x k",
                      lower=lambda low, node: low.spell("matrix_power", low.term(node.args[0]),
                                                        low.num(node.params[0]), ndim=2))))
chain_identity(("matrix_power",), _merge_powers)


# ---- pseudo-inverse -------------------------------------------------------------------------


def pinv(x: Node) -> Node:
    """np.linalg.pinv(A) of a matrix of full rank: (AᵀA)⁻¹Aᵀ for full column rank, Aᵀ(AAᵀ)⁻¹ for full
    row rank, A⁻¹ for a square one."""
    if x.ndim != 2:
        what = "a scalar" if not x.shape else f"a vector of length {x.shape[0]}"
        raise ShapeError(f"pinv({_describe(x)}): pinv needs a matrix, but {_describe(x)} is {what}", (x,))
    if x.shape[0] == x.shape[1]:  # a square matrix of full rank
        return inv(x)
    if x.op == "pinv":
        return x.args[0]
    scalars, array = split_scalars(x)
    if scalars and array is not x:  # (s A)⁺ = A⁺ / s
        return div(pinv(array), mul(*scalars))
    if transposed_spelling_is_simpler(x):  # (Aᵀ)⁺ = (A⁺)ᵀ
        return transpose(pinv(transpose(x)))
    return make("pinv", (x,), (), (x.shape[1], x.shape[0]))


def full_rank_side(a: Node) -> str | None:
    """"columns" for a tall matrix (full column rank, A⁺A = I), "rows" for a wide one, None where the
    shape does not say. A named dimension is taken to be at least as long as a literal one of 1 or 2
    (an m×2 matrix is tall), as a textbook's m×n with m ≥ n; other pairs of dimensions do not say."""
    m, n = a.shape
    if isinstance(m, int) and isinstance(n, int):
        return "columns" if m >= n else "rows"
    if isinstance(n, int) and n <= 2 and not isinstance(m, int):
        return "columns"
    if isinstance(m, int) and m <= 2 and not isinstance(n, int):
        return "rows"
    return None


def _pinv_parts(node: Node) -> tuple[Node, Node, str | None]:
    a = node.args[0]
    return a, node, full_rank_side(a)


def _pull_pinv(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    """Ā = −A⁺ᵀ G A⁺ᵀ + (I − A A⁺) Gᵀ A⁺ A⁺ᵀ + A⁺ᵀ A⁺ Gᵀ (I − A⁺ A) (Golub & Pereyra 1973), where the second
    term vanishes for full row rank and the third for full column rank."""
    a, p, side = _pinv_parts(node)
    pt, gt = transpose(p), transpose(g)
    terms = [neg(matmul_chain([pt, g, pt]))]
    if side != "rows":
        terms.append(matmul_chain([sub(eye(a.shape[0]), matmul(a, p)), gt, p, pt]))
    if side != "columns":
        terms.append(matmul_chain([pt, p, gt, sub(eye(a.shape[1]), matmul(p, a))]))
    return [(a, add(*terms))]


def _d_pinv(node: Node, d) -> Node:
    """d A⁺ = −A⁺ dA A⁺ + A⁺ A⁺ᵀ dAᵀ (I − A A⁺) + (I − A⁺ A) dAᵀ A⁺ᵀ A⁺ (each vanishing term left out)."""
    a, p, side = _pinv_parts(node)
    da, pt = d[0], transpose(p)
    terms = [neg(matmul_chain([p, da, p]))]
    if side != "rows":
        terms.append(matmul_chain([p, pt, transpose(da), sub(eye(a.shape[0]), matmul(a, p))]))
    if side != "columns":
        terms.append(matmul_chain([sub(eye(a.shape[1]), matmul(p, a)), transpose(da), pt, p]))
    return add(*terms)


def _gram(f: Node) -> tuple[Node, str] | None:
    """(A, "columns") for f = AᵀA, (A, "rows") for f = AAᵀ."""
    if f.op != "matmul" or len(f.args) != 2 or f.args[0].ndim != 2:
        return None
    left, right = f.args
    if left.op == "transpose" and left.args[0] is right:
        return right, "columns"
    if right.op == "transpose" and right.args[0] is left:
        return left, "rows"
    return None


def _merge_pinv(x: Node, y: Node) -> Node | None:
    """A (AᵀA)⁻¹ = A⁺ᵀ and (AᵀA)⁻¹Aᵀ = A⁺ (AᵀA invertible: A has full column rank); Aᵀ(AAᵀ)⁻¹ = A⁺ and
    (AAᵀ)⁻¹A = A⁺ᵀ (full row rank); A⁺A = I for full column rank and AA⁺ = I for full row rank."""
    for inverse, other, inverse_first in ((y, x, False), (x, y, True)):
        gram = _gram(inverse.args[0]) if inverse.op == "inv" else None
        if gram is None:
            continue
        a, side = gram
        plain = a if side == "columns" else transpose(a)  # A (AᵀA)⁻¹ and Aᵀ (AAᵀ)⁻¹ as written
        if not inverse_first and other is plain:
            return transpose(pinv(a)) if side == "columns" else pinv(a)
        if inverse_first and other is transpose(plain):
            return pinv(a) if side == "columns" else transpose(pinv(a))
    if x.op == "pinv" and y is x.args[0] and full_rank_side(y) == "columns":
        return eye(y.shape[1])
    if y.op == "pinv" and x is y.args[0] and full_rank_side(x) == "rows":
        return eye(x.shape[0])
    return None


register(Op("pinv", lambda node, args, sizes: np.linalg.pinv(args[0]), text="pinv",
            unicode=lambda a: a.atom(0) + "⁺", latex=lambda a: "{" + a.atom(0) + "}^{+}",
            names=("pinv",), call=Call(pinv), index=INDEXED_WHOLE,
            pullback=_pull_pinv, differential=_d_pinv,
            words=Words("pseudo-inverse (full rank)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.linalg.pinv(x)", jax="jnp.linalg.pinv(x)", torch="torch.linalg.pinv(x)")))
chain_identity(("pinv",), _merge_pinv)
