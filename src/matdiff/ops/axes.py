"""The arrangement of an array's axes: the permutations (`transpose(T, axes)`, `swapaxes`, `moveaxis`)
and `reshape` (C order).

The permutations are one operation in three spellings, as NumPy writes them: a single exchange of two
axes is `swapaxes(T, a, b)`, a single axis moved is `moveaxis(T, s, d)`, and any other permutation is
`transpose(T, axes)`; a node keeps the canonical one (np.transpose's `axes`: axis a of the result is
axis axes[a] of T), so that each permutation has one node. On a matrix the permutation is `.T`. A
cotangent goes back through the inverse permutation.

`reshape(X, shape)` reads the entries row by row (C order) into the new shape; it moves inside
elementwise functions and same-shaped products, where two reshapes meet and vanish. In index notation
an axis of the result that merges axes of X is a composite index of them (row-major, as kron numbers
its entries); a regrouping that merges no run of axes is a delta between the two numberings.
"""
from __future__ import annotations

import numpy as np

from ..dims import Shape, dim_product, format_shape
from ..errors import ShapeError
from ..expr import Node, make
from .registry import INDEX_ROUTE, Absent, Call, Code, Literal, Op, SpelledIdentity, Words, register
from . import algebra as A
from .algebra.broadcasting import _describe
from .algebra.leaves import ORDERS


def _shape_words(x: Node) -> str:
    return "a scalar" if not x.shape else f"{format_shape(x.shape)} ({x.ndim} ax{'es' if x.ndim != 1 else 'is'})"


# ---- permutations of axes -------------------------------------------------------------------------

PERMUTATIONS = ("swapaxes", "moveaxis", "permute")


def permutation_of(node: Node) -> tuple[int, ...]:
    """np.transpose's axes of a permutation node: axis a of the result is axis axes[a] of its argument."""
    n = node.ndim
    if node.op == "permute":
        return node.params[0]
    if node.op == "swapaxes":
        a, b = node.params
        axes = list(range(n))
        axes[a], axes[b] = axes[b], axes[a]
        return tuple(axes)
    source, destination = node.params
    axes = [a for a in range(n) if a != source]
    axes.insert(destination, source)
    return tuple(axes)


def permute(x: Node, axes: tuple[int, ...]) -> Node:
    """np.transpose(x, axes), kept in its shortest spelling: .T, swapaxes, moveaxis or transpose."""
    axes = tuple(axes)
    if axes == tuple(range(x.ndim)):
        return x
    if x.ndim == 2:
        return transpose(x)
    if x.op in PERMUTATIONS:
        inner = permutation_of(x)
        return permute(x.args[0], tuple(inner[a] for a in axes))
    if x.op in ("ones", "zeros"):
        return (A.ones if x.op == "ones" else A.zeros)(tuple(x.shape[a] for a in axes))
    shape = tuple(x.shape[a] for a in axes)
    moved = [a for a in range(len(axes)) if axes[a] != a]
    if len(moved) == 2:
        return make("swapaxes", (x,), tuple(moved), shape)
    for source in range(x.ndim):
        rest = [a for a in range(x.ndim) if a != source]
        for destination in range(x.ndim):
            candidate = rest[:destination] + [source] + rest[destination:]
            if tuple(candidate) == axes:
                return make("moveaxis", (x,), (source, destination), shape)
    return make("permute", (x,), (axes,), shape)


def _axis(x: Node, a: object, what: str) -> int:
    if isinstance(a, bool) or not isinstance(a, int) or not -x.ndim <= a < x.ndim:
        raise ShapeError(f"{what}: axis {a} is out of range: {_describe(x)} is {_shape_words(x)}", (x,))
    return a % x.ndim


def transpose_axes(x: Node, axes: object = None) -> Node:
    """np.transpose(x, axes): all axes reversed where axes is left out (x.T)."""
    if axes is None:
        return permute(x, tuple(reversed(range(x.ndim))))
    what = f"transpose({_describe(x)}, {axes})"
    if not isinstance(axes, tuple) or len(axes) != x.ndim:
        raise ShapeError(f"{what}: axes must list each of the {x.ndim} axes of {_describe(x)} ({_shape_words(x)}) "
                         "once", (x,))
    found = tuple(_axis(x, a, what) for a in axes)
    if sorted(found) != list(range(x.ndim)):
        raise ShapeError(f"{what}: axes must list each of the {x.ndim} axes of {_describe(x)} once; "
                         f"{axes} repeats one", (x,))
    return permute(x, found)


def swapaxes(x: Node, axis1: object, axis2: object) -> Node:
    what = f"swapaxes({_describe(x)}, {axis1}, {axis2})"
    a, b = _axis(x, axis1, what), _axis(x, axis2, what)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, tuple(axes))


def moveaxis(x: Node, source: object, destination: object) -> Node:
    what = f"moveaxis({_describe(x)}, {source}, {destination})"
    s, d = _axis(x, source, what), _axis(x, destination, what)
    axes = [a for a in range(x.ndim) if a != s]
    axes.insert(d, s)
    return permute(x, tuple(axes))


def _inverse(axes: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(axes)
    for a, source in enumerate(axes):
        out[source] = a
    return tuple(out)


def _evaluate_permutation(node: Node, args: list, sizes: dict):
    return np.transpose(args[0], permutation_of(node))


def _index_permutation(ix, node: Node, idx: tuple):
    axes = permutation_of(node)
    inner = [None] * len(axes)
    for a, source in enumerate(axes):
        inner[source] = idx[a]
    return ix.indexed(node.args[0], tuple(inner))


def _lower_permutation(low, node: Node):
    axes = low.make("Tuple", None, [low.num(a) for a in permutation_of(node)])
    return low.spell(node.op, low.term(node.args[0]), axes, ndim=node.ndim)


def _axis_literal(name: str, noun: str) -> Literal:
    return Literal(name, lambda v: isinstance(v, int) and not isinstance(v, bool), f"{noun} is an integer axis",
                   spelling=name, noun=noun, positional=True, required=True)


_AXES = Literal("axes", lambda v: v is None or isinstance(v, tuple) and all(isinstance(a, int) and
                                                                           not isinstance(a, bool) for a in v),
                "axes is a tuple of integers, one for each axis, such as (1, 2, 0)", spelling="axes=(1, 2, 0)",
                noun="the axes", positional=True)


def _unicode_permutation(name: str):
    def spell(a) -> str:
        extra = [a.keyword(k) for k in ("axis1", "axis2", "source", "destination", "axes")]
        return f"{name}({', '.join([a[0]] + [e for e in extra if e is not None])})"
    return spell


def _latex_permutation(name: str):
    def spell(a) -> str:
        extra = [a.keyword(k) for k in ("axis1", "axis2", "source", "destination", "axes")]
        return rf"\operatorname{{{name}}}\left({', '.join([a[0]] + [e for e in extra if e is not None])}\right)"
    return spell


def _permutation_entry(op: str, name: str, call: Call, words: str) -> Op:
    return Op(op, _evaluate_permutation, text=name, unicode=_unicode_permutation(name),
              latex=_latex_permutation(name), names=(name,), call=call,
              pullback=lambda node, g, needed: [(node.args[0], permute(g, _inverse(permutation_of(node))))],
              differential=lambda node, d: permute(d[0], permutation_of(node)),
              vec_jacobian=INDEX_ROUTE,
              index=_index_permutation, words=Words(words),
              identity=SpelledIdentity("G : P(dX) = P⁻¹(G) : dX", "sum(G * transpose(dX, p)) = "
                                       "sum(transpose(G, p⁻¹) * dX)",
                                       r"G : P(dX) = P^{-1}(G) : dX"),
              vec_identity=Absent("a permutation of the axes of an array of order ≥ 3 is read in index notation"),
              code=Code(numpy="np.transpose(x, axes)", jax="jnp.transpose(x, axes)", torch="torch.permute(x, axes)",
                        placeholders="x axes", lower=_lower_permutation))


register(_permutation_entry("swapaxes", "swapaxes", Call(
    swapaxes, literals=(_axis_literal("axis1", "the first axis"), _axis_literal("axis2", "the second axis"))),
    "exchange of two axes"))
register(_permutation_entry("moveaxis", "moveaxis", Call(
    moveaxis, literals=(_axis_literal("source", "the axis moved"), _axis_literal("destination", "where it goes"))),
    "move of one axis"))
register(_permutation_entry("permute", "transpose", Call(transpose_axes, literals=(_AXES,)),
                            "permutation of the axes"))


# ---- reshape ---------------------------------------------------------------------------------------


def reshape(x: Node, shape: Shape) -> Node:
    """np.reshape(x, shape), C order: the entries read row by row into the new shape."""
    shape = tuple(shape)
    if dim_product(*shape) != dim_product(*x.shape):
        raise ShapeError(f"reshape({_describe(x)}, {format_shape(shape)}): {_describe(x)} is "
                         f"{format_shape(x.shape)}, {dim_product(*x.shape)} entries, which cannot be arranged as "
                         f"{format_shape(shape)} ({dim_product(*shape)} entries)", (x,))
    if shape == x.shape:
        return x
    if x.op == "reshape":
        return reshape(x.args[0], shape)
    if x.op in ELEMENTWISE and len(x.args) == 1:  # reshape(cos(U)) = cos(reshape(U)): reshapes meet and vanish
        return ELEMENTWISE[x.op](reshape(x.args[0], shape))
    if x.op in ("mul", "add") and all(a.shape in ((), x.shape) for a in x.args):
        parts = [a if not a.shape else reshape(a, shape) for a in x.args]
        return A.mul(*parts) if x.op == "mul" else A.add(*parts)
    if x.op in ("ones", "zeros"):
        return (A.ones if x.op == "ones" else A.zeros)(shape)
    return make("reshape", (x,), shape, shape)


def _index_reshape(ix, node: Node, idx: tuple):
    """reshape(X)[i, (b,c)] = X[i,b,c]: each axis of the result a row-major run of the argument's axes,
    where the shapes split that way; else the argument is read whole."""
    source = node.args[0].shape
    groups, position = [], 0
    for d in node.shape:
        group = []
        while position < len(source) and dim_product(*(source[p] for p in group)) != d:
            group.append(position)
            position += 1
        if dim_product(*(source[p] for p in group)) != d:
            return _index_regrouped(ix, node, idx)
        groups.append(group)
    if position != len(source):
        return _index_regrouped(ix, node, idx)
    entries, deltas, summed = [], [], []
    for entry, group in zip(idx, groups):
        if len(group) == 1:
            entries.append(entry)
            continue
        parts = [ix.fresh(source[p]) for p in group]  # entry = (b, c), row-major: δ[entry, (b,c)]
        deltas.append(ix.delta(entry, tuple(parts)))
        entries.extend(parts)
        summed.extend(parts)
    return ix.summing(ix.product(*deltas, ix.indexed(node.args[0], tuple(entries))), summed)


def _index_regrouped(ix, node: Node, idx: tuple):
    """reshape(X)[idx] = Σ δ[(idx), (a, b, …)] X[a, b, …]: the two row-major numberings of the entries."""
    source = node.args[0].shape
    parts = [ix.fresh(d) for d in source]
    delta = ix.delta(tuple(idx) if len(idx) > 1 else idx[0], tuple(parts) if len(parts) > 1 else parts[0])
    return ix.summing(ix.product(delta, ix.indexed(node.args[0], tuple(parts))), parts)


def _lower_reshape(low, node: Node):
    return low.spell("reshape", low.term(node.args[0]), low.shape(node.shape), ndim=node.ndim)


register(Op("reshape", lambda node, args, sizes: np.reshape(args[0], _sizes(node, sizes)),
            text="reshape", unicode="reshape", latex=r"\operatorname{reshape}",
            names=("reshape",), call=Call(reshape, arrays=1, dims=ORDERS, shape=True),
            pullback=lambda node, g, needed: [(node.args[0], reshape(g, node.args[0].shape))],
            differential=lambda node, d: reshape(d[0], node.shape),
            vec_jacobian=INDEX_ROUTE,
            index=_index_reshape, words=Words("reshape (C order)"),
            identity=SpelledIdentity("G : reshape(dX) = reshape(G) : dX", "sum(G * reshape(dX, s)) = "
                                     "sum(reshape(G, X.shape) * dX)",
                                     r"G : \operatorname{reshape}(dX) = \operatorname{reshape}(G) : dX"),
            vec_identity=Absent("a reshape in C order is read in index notation"),
            code=Code(numpy="np.reshape(x, shape)", jax="jnp.reshape(x, shape)", torch="torch.reshape(x, shape)",
                      placeholders="x shape", lower=_lower_reshape)))


def _sizes(node: Node, sizes: dict) -> tuple[int, ...]:
    from ..dims import dim_value
    return tuple(dim_value(d, sizes) for d in node.shape)


# Late imports: the operations the rules above build.
from .algebra.transposition import transpose  # noqa: E402
from .elementwise import ELEMENTWISE  # noqa: E402
