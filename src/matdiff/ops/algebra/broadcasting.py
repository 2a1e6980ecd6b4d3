"""NumPy broadcasting of symbolic shapes, and what the calculus needs to know about it: the shape a
`+ - * / **` gives (an error names the two operands that clash), the cotangent of a broadcast operand
(`unbroadcast`: sum over the copied axes), `broadcast_to`, and the vec-form Jacobians of a broadcast
(`broadcast_jacobian`, `vec_broadcast`, `scale_jacobian`).

It owns no operation: the elementwise arithmetic that broadcasts is in `sums.py` and `products.py`.
"""
from __future__ import annotations

from collections.abc import Sequence

from ...dims import Shape, format_shape, size_of
from ...errors import NotSupportedError, ShapeError
from ...expr import Node

def broadcast_shapes(symbol: str, operands: Sequence[Node]) -> Shape:
    """NumPy broadcasting of symbolic shapes; an error names the two operands that clash."""
    shape: Shape = ()
    first: Node | None = None
    for node in operands:
        s = node.shape
        if not s:
            continue
        if not shape:
            shape, first = s, node
            continue
        merged = _broadcast_pair(shape, s)
        if merged is None:
            raise ShapeError(shape_mismatch(symbol, first, node, "cannot be broadcast together"), (first, node))
        if merged != shape:
            first = node
        shape = merged
    return shape


def _broadcast_pair(a: Shape, b: Shape) -> Shape | None:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def shape_mismatch(symbol: str, left: Node | None, right: Node, why: str) -> str:
    """'W @ X: W is m×q but X is n×q (q ≠ n)'-style text; the parser swaps in the user's spelling."""
    lt, rt = _describe(left), _describe(right)
    ls = format_shape(left.shape) if left is not None else "?"
    rs = format_shape(right.shape)
    return f"{lt} {symbol} {rt}: {lt} is {ls} but {rt} is {rs} ({why})"


def _describe(node: Node | None) -> str:
    if node is None:
        return "?"
    text = str(node)
    return text if len(text) <= 40 else text[:37] + "..."


def broadcast_jacobian(jac: Node, source: Shape, target: Shape) -> Node:
    """J of x broadcast to `target`, from the J of x (of shape `source`)."""
    if source == target:
        return jac
    if not source:
        return outer(ones((size_of(target),)), jac) if jac.ndim == 1 else matmul(ones((size_of(target), 1)), jac)
    single = all(d == 1 for d in source)
    if len(target) == 2 and not single and source[-1] == target[1] and all(d == 1 for d in source[:-1]):
        n, m = target  # rows: vec(1 lᵀ) = (I ⊗ 1) l
        return matmul(transpose(kron(eye(m), ones((n,)))), jac)
    if len(target) == 2 and not single and source == (target[0], 1):  # columns: vec(l 1ᵀ) = (1 ⊗ I) l
        n, m = target
        return matmul(transpose(kron(ones((m,)), eye(n))), jac)
    # a single entry, (1,) or (1, 1), copied everywhere
    return matmul(outer(ones((size_of(target),)), ones((size_of(source),))), jac)


def vec_broadcast(u: Node, target: Shape) -> Node:
    """vec(u broadcast to `target`) as an expression (u itself for a vector of that length)."""
    if u.shape == target:
        return vec(u) if u.ndim == 2 else u
    if len(target) == 2 and u.ndim == 1:  # vec(1 uᵀ) = u ⊗ 1
        return kron(u, ones((target[0],)))
    if len(target) == 2 and u.shape == (1, target[1]):
        return kron(vec(u), ones((target[0],)))
    if len(target) == 2 and u.shape == (target[0], 1):  # vec(u 1ᵀ) = 1 ⊗ u
        return kron(ones((target[1],)), vec(u))
    return mul(u, ones((size_of(target),))) if not u.shape else vec(mul(u, ones(target)))


def scale_jacobian(jac: Node, u: Node, linear_shape: Shape, target: Shape) -> Node:
    """J of u ⊙ l (broadcast to `target`) from the J of l (of shape `linear_shape`)."""
    if not u.shape:
        return mul(u, broadcast_jacobian(jac, linear_shape, target))
    if not linear_shape:  # vec(u l) = vec(u) l: an outer product with l's row
        return outer(vec_broadcast(u, target), jac)
    return matmul(diag(vec_broadcast(u, target)), broadcast_jacobian(jac, linear_shape, target))


def _single(node: Node, jacobians) -> int:
    found = [i for i, j in enumerate(jacobians) if j is not None]
    if len(found) != 1:
        raise NotSupportedError(f"{node.op} is not linear in the differential")
    return found[0]


def unbroadcast(g: Node, shape: Shape) -> Node:
    """The cotangent of an operand that NumPy broadcast to g's shape: sum over the copied axes."""
    if g.shape == shape:
        return g
    if not shape:
        return sum_(g)
    if len(shape) > len(g.shape):  # (1, n) or (1, 1) broadcast against a vector: its value as a row
        return unbroadcast(outer(ones((1,)), g), shape)
    lead = len(g.shape) - len(shape)  # the axes NumPy put in front, then those of size 1 it copied
    if lead:
        g = sum_(g, tuple(range(lead)) if lead > 1 else 0)
    copied = tuple(a for a, d in enumerate(shape) if d == 1 and g.shape[a] != 1)
    return sum_(g, copied if len(copied) > 1 else copied[0], keepdims=True) if copied else g


def broadcast_to(x: Node, shape: Shape) -> Node:
    """x as NumPy broadcasts it to `shape` (for differentials of broadcasting operations)."""
    return x if x.shape == shape else mul(x, ones(shape))

# Late imports: the operations the rules above build (their modules import this one).
from .leaves import eye, ones  # noqa: E402
from .products import mul  # noqa: E402
from .chains import matmul  # noqa: E402
from .transposition import transpose  # noqa: E402
from ..structure import diag, kron, outer, vec  # noqa: E402
from ..reductions import sum_  # noqa: E402
