"""Transposition, `.T`: the `transpose` entry and its smart constructor, and what is known about an
expression's transpose: whether it is symmetric, and how many transposes a spelling shows (of two
spellings of one value, the one with fewer is kept).

Transposes are pushed through `@`, sums and scalar factors down to the leaves; a symmetric operand is
its own transpose. Transposing twice gives the very node back (a chain turns its factors over and back).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from ...expr import Node, collector_paused, make, topological
from ..registry import Absent, Code, Op, SpelledIdentity, Words, register

# ---- symmetry -------------------------------------------------------------------------------


def is_symmetric(node: Node) -> bool:
    """A square matrix known to equal its transpose for every value of its variables."""
    if node.ndim != 2 or node.shape[0] != node.shape[1]:
        return False
    return node.cached("symmetric", _symmetric)


def _symmetric(node: Node) -> bool:
    op = node.op
    if op == "var":
        return bool(node.params[1] & {"sym", "spd"})
    if op in ("eye", "zeros", "ones", "diag"):
        return True
    if op == "commutation":
        return node.params[0] == node.params[1]
    if op == "outer":
        return node.args[0] is node.args[1]
    if op in ("add", "mul", "div", "pow", "inv", "kron") or (op in _ELEMENTWISE_UNARY):
        # scalars broadcast symmetrically; a vector broadcast along rows does not
        return all(a.ndim == 0 or is_symmetric(a) for a in node.args)
    if op == "matmul":
        factors = node.args
        k = len(factors)
        for i in range(k // 2):
            if transpose(factors[i]) is not factors[k - 1 - i]:
                return False
        return k % 2 == 0 or is_symmetric(factors[k // 2])
    return False


def transposes_in(node: Node) -> int:
    """How many transposes an expression spells out (memoised per node)."""
    if not node.args:
        return 0
    return node.cached("transposes", lambda n: (n.op == "transpose") + sum(transposes_in(a) for a in n.args))


def written_size(node: Node) -> int:
    """How many nodes the expression has written out as a tree (shared parts counted each time)."""
    return node.cached("written size", lambda n: 1 + sum(written_size(a) for a in n.args))


def transposed_spelling_is_simpler(x: Node) -> bool:
    """f(Mᵀ...) for a function with f(M)ᵀ = f(Mᵀ): is f(transpose(M))ᵀ the canonical spelling?

    Of f(M) and f(Mᵀ)ᵀ, the one whose argument spells out fewer transposes is kept (ties: as written),
    so that inv(X.T @ A.T @ X) and inv(X.T @ A @ X).T are one node."""
    if x.ndim != 2 or transposes_in(x) == 0:
        return False
    return transposes_in(transpose(x)) < transposes_in(x)


# Filled by `elementwise.py`: the unary elementwise functions (they commute with transposition).
_ELEMENTWISE_UNARY: set[str] = set()


# ---- transpose --------------------------------------------------------------------------------


def transpose(a: Node) -> Node:
    if a.ndim < 2:
        return a
    if a.ndim > 2:  # NumPy's .T of an array of order ≥ 3 reverses all its axes
        return permute(a, tuple(reversed(range(a.ndim))))
    found = known_transpose(a)
    holding = _HOLDING.get()
    if found is not None:  # pushed through chains and sums once per node, not at every use
        if holding is not None:
            holding.append(found)
        return found
    # Built bottom-up, the parts' transposes first: pushed down a deep network's chains and sums one call
    # inside another, transposing would recurse as deep as the expression. `held` keeps the parts' weakly
    # memoised transposes alive until the whole is built.
    held = [node.cached_node("transpose", _transposed) for node in topological(a, _parts_to_transpose)]
    if holding is not None:
        holding.extend(held)
    return held[-1]


# The transposes made while `holding_transposes` is in effect, kept alive until it ends.
_HOLDING: ContextVar[list | None] = ContextVar("matdiff_holding_transposes", default=None)


@contextmanager
def holding_transposes():
    """Keep every transpose asked for alive until the block ends. The memo of a node's transpose is weak
    (it must not keep the node alive), so a caller that asks for the same transposes again and again, as
    the printer does while it chooses a deep answer's bindings, would otherwise build them anew each time;
    holding all of them, it builds each once, and only those it asks for."""
    outer = _HOLDING.get()
    token = _HOLDING.set([] if outer is None else outer)
    try:
        yield
    finally:
        _HOLDING.reset(token)


@contextmanager
def graph_work():
    """A block that builds or reads a whole graph (a derivation, a display, the bindings, generated code): every
    transpose it asks for held (`holding_transposes`) and the cyclic collector paused (`expr.collector_paused`)."""
    with holding_transposes(), collector_paused():
        yield


def known_transpose(a: Node) -> Node | None:
    """The transpose of `a` if it was built already and is alive (the weak memo `transpose` keeps), else None."""
    reference = a._cache.get("transpose")
    return reference() if reference is not None else None


def _parts_to_transpose(a: Node) -> tuple[Node, ...]:
    """The 2-D arguments whose transposes `_transposed(a)` asks for, when a's own is not known yet."""
    if known_transpose(a) is not None:
        return ()
    op = a.op
    if op == "matmul":
        known = extended_chain(a)  # its transpose is built from that chain's: its factors are not asked for
        if known is not None:
            run, start = known
            return (run, *a.args[:start], *a.args[start + len(run.args):])
    if op in ("matmul", "mul", "kron") or (op == "add" and all(t.ndim != 1 for t in a.args)):
        return tuple(t for t in a.args if t.ndim == 2)
    if op == "div" and a.args[0].ndim == 2:
        return a.args[:1]
    return ()


def _transposed(a: Node) -> Node:
    op = a.op
    if op == "transpose":
        return a.args[0]
    if is_symmetric(a):
        return a
    if op == "matmul":
        return chain_transpose(a)
    if op == "add" and all(t.ndim != 1 for t in a.args):  # a row-broadcast vector has no transpose term
        terms = tuple(transpose(t) for t in a.args)
        summed = add(*terms)
        if summed.op != "add" or summed.args == terms or any(t.ndim == 1 for t in summed.args) or \
                add(*(transpose(t) for t in summed.args)) is a:
            return summed
        # The sum's order (transposed leaves last) may not come back: B + t is t + B.T transposed, whose
        # transpose is t + B. The terms are kept in a's order, so that transposing twice is a again (a chain
        # turns its factors over and back); the printer writes such a sum (B + t).T.
        return make("add", terms, (), (a.shape[1], a.shape[0]))
    if op == "mul":
        scalars, array = split_scalars(a)
        if scalars and array is not a:
            return mul(*scalars, transpose(array))
    if op == "div":
        array, divisor = split_divisor(a)
        if divisor is not None:
            return div(transpose(array), divisor)
    if op == "zeros":
        return zeros(tuple(reversed(a.shape)))
    if op == "ones":
        return ones(tuple(reversed(a.shape)))
    if op == "commutation":
        return commutation(a.params[1], a.params[0])
    if op == "outer":
        return outer(a.args[1], a.args[0])
    if op == "kron" and a.args[0].ndim == 2 and a.args[1].ndim == 2:
        return kron(transpose(a.args[0]), transpose(a.args[1]))
    return make("transpose", (a,), (), (a.shape[1], a.shape[0]))


def _vec_transpose(node: Node, jacobians) -> Node:
    p, q = node.args[0].shape
    return matmul(commutation(p, q), jacobians[0])


register(Op("transpose", lambda node, args, sizes: np.transpose(args[0]), text=".T", unicode="ᵀ", latex=r"^\top",
            # the operator .T; the function transpose(X, axes) is read by the permutation entry (ops/tensors.py)
            names=Absent("the operator .T: transpose(X) and transpose(T, axes) are the permutations of ops/tensors.py"),
            index=lambda ix, node, idx: ix.indexed(node.args[0], tuple(reversed(idx))),  # Xᵀ[i,j] = X[j,i]
            pullback=lambda node, g, needed: [(node.args[0], transpose(g))],
            differential=lambda node, d: transpose(d[0]),
            vec_jacobian=_vec_transpose,
            words=Words("transpose"),
            identity=SpelledIdentity("A : Bᵀ = Aᵀ : B", "A : B.T = A.T : B", r"A : B^\top = A^\top : B"),
            vec_identity=SpelledIdentity("vec(Xᵀ) = K vec X", "vec(X.T) = commutation(m, n) @ vec(X)",
                                         r"\operatorname{vec}(X^\top) = K\operatorname{vec}X"),
            code=Code(lower=lambda low, node: low.transposed(low.term(node.args[0])))))

# Late imports: the operations the rules above build (their modules import this one).
from .leaves import commutation, ones, zeros  # noqa: E402
from .sums import add  # noqa: E402
from .products import div, mul, split_divisor, split_scalars  # noqa: E402
from .chains import chain_transpose, extended_chain, matmul  # noqa: E402
from ..structure import kron, outer  # noqa: E402
from ..axes import permute  # noqa: E402
