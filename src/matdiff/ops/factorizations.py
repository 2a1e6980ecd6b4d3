"""Triangular matrices and the Cholesky factor: tril, triu, cholesky, and what is known to be triangular.

`tril(X)` and `triu(X)` (NumPy's, k = 0) keep one triangle: linear, self-adjoint masks, so their
pullbacks are tril(G) and triu(G). `cholesky(A)` is NumPy's lower factor L with L Lᵀ = A of an spd A;
NumPy reads only the lower triangle of A, so it is the factor of Ā = tril(A) + tril(A)ᵀ − diag(diag(A)),
and its derivative by an unstructured A is lower-triangular. The rules are Murray's (2016,
"Differentiation of the Cholesky decomposition"), with Φ(M) = tril(M) − ½ diag(diag(M)):

    dL = L Φ(L⁻¹ dĀ L⁻ᵀ),    S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹,    A-cotangent = Φ(S + Sᵀ).

Where A is symmetric for every value (declared spd, or built as XᵀX + I), its cotangent meets its mirror
image on the way back, and tril(T) + tril(T)ᵀ − diag(diag(T)) = T gives S + Sᵀ, as for a symmetric dA.
On cholesky's domain (A spd) L Lᵀ = A, so the rules write L⁻ᵀ c I L⁻¹ as c A⁻¹: ∂ sum(log(diag(chol K)))/∂K
is tril(K⁻¹) − ½ diag(diag(K⁻¹)), as textbooks write it. That rewrite is made in the rules only (a
function the user writes keeps its factors, unless A is symmetric for every value: then L Lᵀ = A
exactly). A derivative of such an answer is therefore taken along symmetric directions (dA = dAᵀ): exact
for an argument declared or built symmetric, not in the unsymmetric directions of an unstructured K.
"""
from __future__ import annotations

import numpy as np

from ..dims import format_shape
from ..errors import ShapeError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Call, Code, Op, SpelledIdentity, Words, register
from .algebra.leaves import ONE, const, is_zero, ones
from .algebra.broadcasting import _describe
from .algebra.sums import add, split_coefficient, sub, sum_identity
from .algebra.products import div, mul, power, split_divisor, split_scalars
from .algebra.chains import chain_identity, matmul, matmul_chain
from .algebra.transposition import is_symmetric, transpose, transposed_spelling_is_simpler
from .structure import diag, vec
from .linalg import inv

# ---- what is triangular -------------------------------------------------------------------------

LOWER, UPPER, DIAGONAL = "lower", "upper", "diagonal"


def triangle(node: Node) -> str | None:
    """LOWER, UPPER or DIAGONAL for a square matrix known to be triangular for every value, else None."""
    if node.ndim != 2 or node.shape[0] != node.shape[1]:
        return None
    return node.cached("triangle", _triangle)


def _triangle(node: Node) -> str | None:
    op = node.op
    if op in ("eye", "zeros") or (op == "diag" and node.args[0].ndim == 1):
        return DIAGONAL
    if op in ("cholesky", "tril"):
        return LOWER
    if op == "triu":
        return UPPER
    if op == "transpose":
        return {LOWER: UPPER, UPPER: LOWER}.get(triangle(node.args[0]), triangle(node.args[0]))
    if op in ("inv", "matrix_power"):  # the inverse and the powers of a triangular matrix are triangular
        return triangle(node.args[0])
    if op == "add" and any(a.shape != node.shape for a in node.args):  # L + 1 fills the other triangle
        return None
    if op in ("matmul", "add") or (op in ("mul", "div") and len(split_scalars(node)[0]) + 1 == len(node.args)):
        kinds = {triangle(a) for a in node.args if a.shape}
        kinds.discard(DIAGONAL)
        if None in kinds or len(kinds) > 1:
            return None
        return kinds.pop() if kinds else DIAGONAL
    if op == "div" and not node.args[1].shape:
        return triangle(node.args[0])
    return None


def diagonal(m: Node) -> Node:
    """diag(M), knowing that the diagonal of a product of triangular matrices of one kind is the product of
    their diagonals, and that of a triangular inverse the reciprocal of its diagonal."""
    scalars, array = split_scalars(m)
    if scalars and array is not m:
        return mul(*scalars, diagonal(array))
    if m.op == "matmul" and all(triangle(f) for f in m.args) and triangle(m):
        return mul(*(diagonal(f) for f in m.args))
    if m.op == "transpose" or m.op in ("tril", "triu"):
        return diagonal(m.args[0])
    if m.op == "inv" and triangle(m.args[0]):
        return div(ONE, diagonal(m.args[0]))
    return diag(m)


def phi(m: Node) -> Node:
    """Murray's Φ(M) = tril(M) − ½ diag(diag(M)): the lower triangle, the diagonal halved."""
    half = mul(const(0.5), diag(diagonal(m)))
    if triangle(m) == UPPER:  # tril(M) is then its diagonal
        return half
    return sub(tril(m), half)


def lower_symmetric(m: Node) -> Node:
    """The symmetric matrix NumPy's cholesky reads from M: its lower triangle mirrored, tril(M) + tril(M)ᵀ −
    diag(diag(M)); M itself where M is symmetric."""
    if is_symmetric(m):
        return m
    low = tril(m)
    return sub(add(low, transpose(low)), diag(diag(m)))


# ---- tril and triu ----------------------------------------------------------------------------


def _require_matrix(name: str, x: Node) -> None:
    if x.ndim != 2:
        what = "a scalar" if not x.shape else f"a vector of length {x.shape[0]}"
        raise ShapeError(f"{name}({_describe(x)}): {name} needs a matrix, but {_describe(x)} is {what}", (x,))


def tril(x: Node) -> Node:
    """np.tril(X): the lower triangle (i ≥ j) of a matrix, zeros above."""
    return _triangle_of(x, LOWER)


def triu(x: Node) -> Node:
    """np.triu(X): the upper triangle (i ≤ j) of a matrix, zeros below."""
    return _triangle_of(x, UPPER)


def _triangle_of(x: Node, kind: str) -> Node:
    name = "tril" if kind == LOWER else "triu"
    _require_matrix(name, x)
    known = triangle(x)
    if known in (kind, DIAGONAL) or is_zero(x):
        return x
    if known is not None:  # the other triangle: only its diagonal is kept (tril(triu(M)) = diag(diag(M)))
        return diag(diagonal(x))
    scalars, array = split_scalars(x)
    if scalars and array is not x:  # linear: tril(s M) = s tril(M)
        return mul(*scalars, _triangle_of(array, kind))
    array, divisor = split_divisor(x)
    if divisor is not None:
        return div(_triangle_of(array, kind), divisor)
    if transposed_spelling_is_simpler(x):  # tril(Mᵀ) = triu(M)ᵀ: one node for both spellings
        return transpose(_triangle_of(transpose(x), UPPER if kind == LOWER else LOWER))
    return make(name, (x,), (), x.shape)


def _mask(node: Node) -> Node:
    """The 0/1 matrix of the entries a tril or triu keeps: tril(ones((m, n)))."""
    return make(node.op, (ones(node.shape),), (), node.shape)


def _index_triangle(ix, node: Node, idx: tuple):
    """tril(X)[i,j] = 𝟙[i ≥ j] X[i,j], the mask read as a constant matrix; without dX, indexed as a whole."""
    if not ix.has_dx(node):
        return None
    return ix.product(ix.atom(_mask(node), idx), ix.indexed(node.args[0], idx))


def _vec_triangle(node: Node, jacobians) -> Node:
    """vec(tril X) = diag(vec(tril 𝟙)) vec X."""
    return matmul(diag(vec(_mask(node))), jacobians[0])


for _name, _fn, _build, _words in (("tril", np.tril, tril, "lower triangle (tril)"),
                                   ("triu", np.triu, triu, "upper triangle (triu)")):
    register(Op(_name, lambda node, args, sizes, fn=_fn: fn(args[0]), text=_name, unicode=_name,
                latex=rf"\operatorname{{{_name}}}", names=(_name,), call=Call(_build), index=_index_triangle,
                pullback=lambda node, g, needed, build=_build: [(node.args[0], build(g))],
                differential=lambda node, d, build=_build: build(d[0]), vec_jacobian=_vec_triangle,
                words=Words(_words),
                identity=SpelledIdentity(f"M : {_name}(B) = {_name}(M) : B", f"M : {_name}(B) = {_name}(M) : B",
                                         rf"M : \operatorname{{{_name}}}(B) = \operatorname{{{_name}}}(M) : B"),
                vec_identity=SpelledIdentity(f"vec({_name} X) = diag(vec({_name} 𝟙)) vec X",
                                             f"vec({_name}(X)) = diag(vec({_name}(ones((m, n))))) @ vec(X)",
                                             rf"\operatorname{{vec}}(\operatorname{{{_name}}}X) = "
                                             rf"\operatorname{{diag}}(\operatorname{{vec}}(\operatorname{{{_name}}}"
                                             r"\mathbf{1}))\operatorname{vec}X"),
                code=Code.named(_name)))


# ---- the Cholesky factor ----------------------------------------------------------------------


def cholesky(x: Node) -> Node:
    """np.linalg.cholesky(A): the lower-triangular L with L Lᵀ = A, for an spd A (of which NumPy reads
    the lower triangle)."""
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        what = "a scalar" if not x.shape else f"{format_shape(x.shape)}, not a square matrix"
        raise ShapeError(f"cholesky({_describe(x)}): cholesky needs a square (symmetric positive definite) "
                         f"matrix, but {_describe(x)} is {what}", (x,))
    if x.op == "eye":
        return x
    if x.op == "diag" and x.args[0].ndim == 1:  # chol(diag(v)) = diag(√v)
        return diag(power(x.args[0], const(0.5)))
    c, body = _positive_coefficient(x)
    if c is not None:  # chol(c A) = √c chol(A) for c > 0
        return mul(const(c ** 0.5), cholesky(body))
    return make("cholesky", (x,), (), x.shape)


def _positive_coefficient(x: Node) -> tuple[float | None, Node]:
    scalars, array = split_scalars(x)
    if len(scalars) == 1 and scalars[0].op == "const" and scalars[0].params[0] > 0 and array is not x:
        return scalars[0].params[0], array
    return None, x


def _factor_sandwich(node: Node, middle: Node) -> Node:
    """L⁻ᵀ M L⁻¹ for L = cholesky(A); c A⁻¹ where M = c I (L Lᵀ = A on cholesky's domain)."""
    scalars, array = split_scalars(middle)
    if array.op == "eye":
        return mul(*scalars, inv(node.args[0]))
    factor_inverse = inv(node)
    return matmul_chain([transpose(factor_inverse), middle, factor_inverse])


def _pull_cholesky(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    """Murray (2016): P = Φ(Lᵀ L̄), S = L⁻ᵀ P L⁻¹, and Ā = Φ(S + Sᵀ), the gradient by the entries NumPy
    reads (the lower triangle). Where A is symmetric its cotangent meets its transpose on the way back
    (Ā + Āᵀ = S + Sᵀ, `_mirrored_triangles`), so the answer is S + Sᵀ, as for a symmetric dA."""
    middle = phi(matmul(transpose(node), g))
    s = _factor_sandwich(node, middle)
    both = mul(const(2.0), s) if is_symmetric(middle) else add(s, transpose(s))  # S is symmetric with P
    return [(node.args[0], phi(both))]


def _mirrored_triangles(terms: list[Node]) -> list[Node] | None:
    """c tril(T) + c tril(T)ᵀ − c diag(diag(T)) = c T for a symmetric T (the same with triu): a triangle and
    its mirror image hold the diagonal twice."""
    coefficients = {body: c for c, body in (split_coefficient(t) for t in terms)}
    for body, c in coefficients.items():
        if body.op in ("tril", "triu") and is_symmetric(body.args[0]):
            whole = body.args[0]
            mirror, diagonal_part = transpose(body), diag(diag(whole))
            if coefficients.get(mirror) == c and coefficients.get(diagonal_part) == -c:
                used = (body, mirror, diagonal_part)
                return [t for t in terms if split_coefficient(t)[1] not in used] + [mul(const(c), whole)]
    return None


def _d_cholesky(node: Node, d) -> Node:
    """dL = L Φ(L⁻¹ dĀ L⁻ᵀ), dĀ the symmetric matrix NumPy reads from dA."""
    factor_inverse = inv(node)
    return matmul(node, phi(matmul_chain([factor_inverse, lower_symmetric(d[0]), transpose(factor_inverse)])))


def _merge_factors(x: Node, y: Node) -> Node | None:
    """L Lᵀ = A and L⁻ᵀ L⁻¹ = A⁻¹ for L = cholesky(A) of an A symmetric for every value (NumPy then reads
    all of A); of any other A, L Lᵀ is the matrix NumPy read, and the factors stay."""
    if x.op == "cholesky" and y.op == "transpose" and y.args[0] is x and is_symmetric(x.args[0]):
        return x.args[0]
    if x.op == "transpose" and y.op == "inv" and x.args[0] is y and y.args[0].op == "cholesky" \
            and is_symmetric(y.args[0].args[0]):
        return inv(y.args[0].args[0])
    return None


register(Op("cholesky", lambda node, args, sizes: np.linalg.cholesky(args[0]), text="cholesky", unicode="chol",
            latex=r"\operatorname{chol}", names=("cholesky",), call=Call(cholesky),
            index=INDEXED_WHOLE,
            pullback=_pull_cholesky, differential=_d_cholesky,
            words=Words("Cholesky factor (Murray's rule)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            # JAX and PyTorch are given the symmetric matrix NumPy reads (its lower triangle mirrored), so that
            # their own derivatives of the generated code have NumPy's meaning too
            code=Code(numpy="np.linalg.cholesky(x)",
                      jax="jnp.linalg.cholesky(jnp.tril(x) + jnp.tril(x, -1).T)",
                      torch="torch.linalg.cholesky(torch.tril(x) + torch.tril(x, -1).mT)")))
chain_identity(("cholesky",), _merge_factors)
sum_identity(_mirrored_triangles)
