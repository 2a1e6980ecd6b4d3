"""Reductions: sum, mean, var, std, max, min (amax, amin), and what the softmax family shares with them.

Each means exactly what NumPy computes (`np.var` and `np.std` with ddof=0): `axis` None (every axis:
the whole array), an int or a tuple, negative counting from the end; `keepdims=True` keeps a reduced
axis as a dimension of size 1 (n×1), which broadcasts back against the array. A node keeps its axis
(None for every axis, an int for one, a sorted tuple otherwise) and keepdims (True, or None when left
out) in its `params`. The axis rules, the copies of a cotangent (`spread`) and the shift rules are
shared with logsumexp, softmax and log_softmax (`softmax_family.py`).

The calculus of a reduction copies a cotangent back along the reduced axes (`spread`, the adjoint of a
sum): ∂ sum = 𝟙, ∂ mean = 𝟙 / N, ∂ var = 2 (X − mean) / N, ∂ std = (X − mean) / (N std),
∂ max = (X == max) (ties have measure zero). The constructors take out what a textbook takes out of
a reduction: scalars, factors constant along the axes (sum(G ⊙ X̂ / σ, axis=1, keepdims=True) =
sum(G ⊙ X̂, axis=1, keepdims=True) / σ), a row vector (sum(M ⊙ v, axis=1) = M v). The linear ones in
vec form follow the Cookbook: 1ᵀX = (I ⊗ 1ᵀ) vec X, X1 = (1ᵀ ⊗ I) vec X.
"""
from __future__ import annotations

import math

import numpy as np

from ..dims import format_shape, size_of
from ..errors import ShapeError
from ..expr import Node, make
from .registry import (INDEXED_WHOLE, NOT_LINEAR, OPS, Call, Code, Literal, Op, SpelledIdentity, Words, register,
                       within)
from . import algebra as A
from .algebra.broadcasting import _broadcast_pair
from .algebra.sums import identity_left_out, sum_identity, without_identity

# ---- axes ---------------------------------------------------------------------------------------


def _spelled(name: str, x: Node, axis, keepdims: bool) -> str:
    """The call as the user wrote it, for messages: sum(X, axis=2, keepdims=True)."""
    extra = ("" if axis is None else f", axis={axis}") + (", keepdims=True" if keepdims else "")
    return f"{name}({A._describe(x)}{extra})"


def _has(x: Node) -> str:
    """'X is n×m, with axes 0 and 1 (or -2 and -1)': the operand, its shape and its axes."""
    if x.ndim == 0:
        return f"{A._describe(x)} is a scalar, which has no axes"
    axes = " and ".join(map(str, range(x.ndim)))
    negative = " and ".join(map(str, range(-x.ndim, 0)))
    return f"{A._describe(x)} is a vector of length {format_shape(x.shape)}, with axis 0 only (or -1)" if x.ndim == 1 \
        else f"{A._describe(x)} is {format_shape(x.shape)}, with axes {axes} (or {negative})"


def reduced_axes(name: str, x: Node, axis, keepdims: bool = False) -> tuple[int, ...]:
    """The axes `axis` names, as NumPy reads it (None: all of them; an int or a tuple, negative from
    the end), sorted; a ShapeError that names the operand, its shape and the axis for an axis it
    lacks, an axis named twice, or keepdims on a scalar (which has no axis to keep)."""
    if x.ndim == 0 and keepdims:
        raise ShapeError(f"{_spelled(name, x, axis, keepdims)}: keepdims needs an axis to keep, but "
                         f"{_has(x)}", (x,))
    if axis is None:
        return tuple(range(x.ndim))
    found: list[int] = []
    for a in axis if isinstance(axis, tuple) else (axis,):
        if not isinstance(a, int) or isinstance(a, bool):
            raise ShapeError(f"{_spelled(name, x, axis, keepdims)}: an axis is an integer, not {a!r}", (x,))
        if not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{_spelled(name, x, axis, keepdims)}: no axis {a}; {_has(x)}", (x,))
        if a % x.ndim in found:
            raise ShapeError(f"{_spelled(name, x, axis, keepdims)}: axis {a % x.ndim} is named twice; "
                             f"{A._describe(x)} is {format_shape(x.shape)}", (x,))
        found.append(a % x.ndim)
    return tuple(sorted(found))


def axis_param(x: Node, axes: tuple[int, ...]):
    """The axis a node keeps: None for every axis, an int for one, a tuple otherwise."""
    return None if len(axes) == x.ndim else axes[0] if len(axes) == 1 else axes


def axes_of(node: Node) -> tuple[int, ...]:
    """The axes a reduction node reduces (or a softmax normalises over)."""
    axis, x = node.params[0], node.args[0]
    return tuple(range(x.ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)


def keeps(node: Node) -> bool:
    return len(node.params) > 1 and node.params[1] is True


def reduced_shape(shape, axes: tuple[int, ...], keepdims: bool):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reduced(op: str, x: Node, axes: tuple[int, ...], keepdims: bool) -> Node:
    """The node of a reduction, its parameters canonical."""
    return make(op, (x,), (axis_param(x, axes), True if keepdims else None), reduced_shape(x.shape, axes, keepdims))


def count(x: Node, axes: tuple[int, ...]) -> Node:
    """N: how many entries each result of a reduction over `axes` reduces, as a dimension."""
    return A.dim(size_of(tuple(x.shape[a] for a in axes)))


def spread(g: Node, x: Node, axes: tuple[int, ...], keepdims: bool) -> Node:
    """g, shaped as x reduced over `axes`, copied back along them to x's shape (the adjoint of a sum).
    A kept axis of size 1 broadcasts; a vector of row sums is copied across the columns."""
    if keepdims or not g.shape or g.shape == x.shape:
        return A.broadcast_to(g, x.shape)
    if x.ndim > 2:  # g copied along the reduced axes: einsum('ik,j->ijk', G, ones(m))
        from .tensors import contraction
        kept = [a for a in range(x.ndim) if a not in axes]
        labels = [kept] + [[a] for a in axes]
        operands = [g] + [A.ones((x.shape[a],)) for a in axes]
        return contraction(labels, list(range(x.ndim)), operands, dict(enumerate(x.shape)))
    n, m = x.shape
    if axes == (0,):
        return outer(A.ones((n,)), g)  # a row copied down, which a sum broadcasts by itself
    column = as_column(g)  # a vector of row reductions kept as a column broadcasts too: 2 max(X, axis=1, keepdims=True)
    return A.broadcast_to(column, x.shape) if column is not None else outer(g, A.ones((m,)))


def as_column(v: Node) -> Node | None:
    """A vector made of reductions along axis 1 as the n×1 column of them (sum(X, axis=1) as
    sum(X, axis=1, keepdims=True)), so that it broadcasts along the rows; None where it is not."""
    if v.op in REDUCTIONS and axes_of(v) == (1,) and not keeps(v) and v.args[0].ndim == 2:
        return REDUCTIONS[v.op](v.args[0], 1, True)
    if v.op in ("mul", "add", "div", "pow") and all(not a.shape or a.shape == v.shape for a in v.args):
        columns = [a if not a.shape else as_column(a) for a in v.args]
        if all(c is not None for c in columns):
            rebuild = {"mul": A.mul, "add": A.add, "div": A.div, "pow": A.power}[v.op]
            return rebuild(*columns)
    return None


def kept(x: Node, axes: tuple[int, ...], reduce) -> Node:
    """reduce(x) along the axes with keepdims=True where a whole array is not reduced to one number:
    the form that broadcasts against x (X − mean(X, axis=1, keepdims=True), x − mean(x))."""
    return reduce(x, None) if len(axes) == x.ndim else reduce(x, axis_param(x, axes), keepdims=True)


def _constant_along(t: Node, x: Node, axes: tuple[int, ...]) -> bool:
    """t, broadcast to x's shape, is the same along each of the axes (it has no entries there)."""
    offset = x.ndim - t.ndim
    return all(a < offset or t.shape[a - offset] == 1 for a in axes) and t.shape != x.shape


def constant_along(x: Node, axes: tuple[int, ...]) -> bool:
    """Every entry of x is the same along each of the axes, whatever the variables (s * ones(n, m), a row
    copied down the rows, sin(s + ones(n))): max and min are then any entry, the mean (and the gradient is
    no indicator of one entry), var and std are 0."""
    memo: dict[Node, bool] = {}

    def holds(u: Node) -> bool:
        if u not in memo:
            memo[u] = u.op in ("ones", "zeros") or (u.op == "outer" and u.args[0].op == "ones" and axes == (0,)) or \
                (u.op == "outer" and u.args[1].op == "ones" and axes == (1,)) or \
                ((u.op in ("add", "mul", "div", "pow") or OPS[u.op].elementwise) and
                 all(not a.shape or _constant_along(a, u, axes) or (a.shape == u.shape and holds(a)) for a in u.args))
        return memo[u]
    return x.ndim > 0 and holds(x)


def without_shifts(x: Node, axes: tuple[int, ...], into=None) -> tuple[Node, list[Node]]:
    """X + c as (X, [c...]) for terms c constant along the axes (a scalar, a row for axis 0, a
    column for axis 1): softmax does not see such a shift, var ignores it, logsumexp and max add it
    (`into`: the shape of their result, into which the shifts must broadcast)."""
    if x.op == "add":
        shifts = [t for t in x.args if _constant_along(t, x, axes)
                  and (into is None or _broadcast_pair(into, t.shape) == into)]
        rest = [t for t in x.args if not any(t is s for s in shifts)]
        if shifts and rest and A.broadcast_shapes("+", rest) == x.shape:
            return A.add(*rest), shifts
    return x, []


# ---- sum ----------------------------------------------------------------------------------------


def sum_(x: Node, axis=None, keepdims: bool = False) -> Node:
    axes = reduced_axes("sum", x, axis, keepdims)
    if not axes:
        return x
    if keepdims:
        return _sum_kept(x, axes)
    axis = axis_param(x, axes)
    if isinstance(axis, tuple):
        return reduced("sum", x, axes, False)
    scalars, array = A.split_scalars(x)
    if scalars and array is not x:
        return A.mul(*scalars, sum_(array, axis))
    array, divisor = A.split_divisor(x)
    if divisor is not None:
        return A.div(sum_(array, axis), divisor)
    if x.op == "transpose" and axis is not None:
        return sum_(x.args[0], 1 - axis)
    if x.op == "transpose":
        return sum_(x.args[0])
    if x.op == "outer" and axis is None:
        return A.mul(sum_(x.args[0]), sum_(x.args[1]))
    if x.op == "kron" and axis is None and x.args[0].ndim == x.args[1].ndim:
        return A.mul(sum_(x.args[0]), sum_(x.args[1]))
    if axis == 0 and x.op == "matmul" and x.args[0].op == "diag" and x.args[0].args[0].ndim == 1:
        rest = A.matmul_chain(x.args[1:])  # 1ᵀ diag(v) M = vᵀ M
        return A.matmul(x.args[0].args[0], rest)
    if x.op == "ones" and axis is not None:  # the other axes, of an array of any order
        return A.mul(A.dim(x.shape[axis]), A.ones(tuple(d for a, d in enumerate(x.shape) if a != axis)))
    if x.op == "ones":
        return A.dim(size_of(x.shape))
    if x.op == "mul" and axis is None and any(f.op == "eye" for f in x.args):  # sum(P ⊙ I) = tr(P)
        rest = A.mul(*(f for f in x.args if f.op != "eye"))
        if rest.shape == x.shape:
            return tr(rest)
    if x.op == "diag" and x.args[0].ndim == 1 and axis is not None:  # the rows and columns of diag(v)
        return x.args[0]
    if x.op == "mul" and axis is not None:
        product = (_matrix_vector(x, axis) if len(x.args) == 2 else None) or _expanded(x, axis)
        if product is not None:
            return product
    if x.op == "add" and axis is not None:
        # sum(X + v, axis=0) = sum(X, axis=0) + n v: a broadcast term adds up as often as it is copied;
        # a sum of terms that each simplify is the sum of their sums
        parts = [_sum_of_broadcast(t, x.shape, axis) for t in x.args]
        if all(p is not None for p in parts):
            distributed = A.add(*parts)
            if A.written_size(distributed) < A.written_size(x) + 2:  # where terms cancel, not always
                return distributed
    if x.op == "mul" and axis is None and len(x.args) == 2 and all(f.ndim == 2 for f in x.args) \
            and x.args[0].shape == x.args[1].shape:
        # sum(P ⊙ Q) = tr(Pᵀ Q): the trace where it is shorter (sum(X ⊙ A⁻ᵀ) = tr(A⁻¹ X), sum(X ⊙ X⁻ᵀ) = n)
        trace = tr(A.matmul(A.transpose(x.args[0]), x.args[1]))
        if A.written_size(trace) < A.written_size(x) + 1:
            return trace
    rewritten = _sum_of_softmax(x, axes, False) or _factored(sum_, x, axes, False)
    if rewritten is not None:
        return rewritten
    if x.op == "eye":  # each row and each column of I sums to 1
        return A.ones((x.shape[0],)) if axis is not None else A.dim(x.shape[0])
    return reduced("sum", x, axes, False)


def _sum_kept(x: Node, axes: tuple[int, ...]) -> Node:
    """sum(X, axis, keepdims=True): the rewrites that keep the size-1 axes."""
    scalars, array = A.split_scalars(x)
    if scalars and array is not x:
        return A.mul(*scalars, _sum_kept(array, axes))
    array, divisor = A.split_divisor(x)
    if divisor is not None:
        return A.div(_sum_kept(array, axes), divisor)
    shape = reduced_shape(x.shape, axes, True)
    if x.op == "transpose":  # sum(Xᵀ, axis=0, keepdims=True) = sum(X, axis=1, keepdims=True)ᵀ
        inner_sum = _sum_kept(x.args[0], tuple(sorted(1 - a for a in axes)))
        return inner_sum if len(axes) == 2 else A.transpose(inner_sum)
    if x.op == "ones":
        return A.mul(count(x, axes), A.ones(shape))
    if x.op == "eye":
        return A.ones(shape) if len(axes) == 1 else A.mul(A.dim(x.shape[0]), A.ones(shape))
    normalised = _sum_of_softmax(x, axes, True)
    if normalised is not None:
        return normalised
    rewritten = _factored(sum_, x, axes, True) or _distributed(sum_, x, axes)
    if rewritten is not None:
        return rewritten
    return reduced("sum", x, axes, True)


def _sum_of_softmax(x: Node, axes: tuple[int, ...], keepdims: bool) -> Node | None:
    """A softmax sums to 1 along its axes: sum(softmax(X, axis=1), axis=1) = 𝟙, sum(softmax(X)) = 1."""
    if x.op != "softmax" or not set(axes_of(x)) <= set(axes):
        return None
    rest = tuple(a for a in axes if a not in axes_of(x))
    return A.mul(count(x, rest), A.ones(reduced_shape(x.shape, axes, keepdims)))


def _factored(reduce, x: Node, axes: tuple[int, ...], keepdims: bool) -> Node | None:
    """reduce(c ⊙ A) = c ⊙ reduce(A) and reduce(A / c) = reduce(A) / c for a factor c constant along the
    axes (a column for axis 1 with keepdims, a row for axis 0): the textbook takes such factors out,
    sum(G ⊙ X̂ / σ, axis=1, keepdims=True) = sum(G ⊙ X̂, axis=1, keepdims=True) / σ."""
    shape = reduced_shape(x.shape, axes, keepdims)
    if x.op == "mul":
        outside = [f for f in x.args if f.shape and _constant_along(f, x, axes)]
        inside = [f for f in x.args if not any(f is o for o in outside)]
        if outside and inside and A.broadcast_shapes("*", inside) == x.shape:
            reduced_inside = reduce(A.mul(*inside), axis_param(x, axes), keepdims)
            try:  # the factors outside must still broadcast against what is left (an array of order ≥ 3 may not)
                A.broadcast_shapes("*", [*outside, reduced_inside])
            except ShapeError:
                return None
            factored = A.mul(*outside, reduced_inside)
            return factored if factored.shape == shape else None
    if x.op == "div" and x.args[1].shape and _constant_along(x.args[1], x, axes) and x.args[0].shape == x.shape:
        factored = A.div(reduce(x.args[0], axis_param(x, axes), keepdims), x.args[1])
        return factored if factored.shape == shape else None
    return None


def per_entry(g: Node, x: Node, axes: tuple[int, ...]) -> Node:
    """g / N for N the count of a reduction of x over the axes, where a sum over those axes inside g is
    read as the mean: sum(G, axis=1, keepdims=True) / m = mean(G, axis=1, keepdims=True)."""
    found = _as_mean(g, x, axes)
    return found if found is not None else A.div(g, count(x, axes))


def _as_mean(g: Node, x: Node, axes: tuple[int, ...]) -> Node | None:
    if g.op == "sum" and axes_of(g) == axes and g.args[0].shape == x.shape:
        return mean(g.args[0], g.params[0], keeps(g))
    if g.op in ("mul", "div"):
        parts = list(g.args) if g.op == "mul" else [g.args[0]]
        for i, f in enumerate(parts):
            found = _as_mean(f, x, axes)
            if found is not None:
                parts[i] = found
                return A.mul(*parts) if g.op == "mul" else A.div(parts[0], g.args[1])
    return None


def _distributed(reduce, x: Node, axes: tuple[int, ...]) -> Node | None:
    """reduce(X + c, axes, keepdims=True) = reduce(X) + reduce(c) for a sum with a term c constant
    along the axes (mean(c) = c, sum(c) = N c), where that cancels terms:
    mean(X − mean(X, axis=1, keepdims=True), axis=1, keepdims=True) = 0."""
    if x.op != "add" or not any(_constant_along(t, x, axes) for t in x.args):
        return None
    copies = count(x, axes) if reduce is sum_ else A.ONE
    axis = axis_param(x, axes)
    parts = [A.mul(copies, t) if _constant_along(t, x, axes) else reduce(t, axis, keepdims=True) if t.shape == x.shape
             else None for t in x.args]
    if any(p is None for p in parts):
        return None
    distributed = A.add(*parts)
    shorter = A.written_size(distributed) < A.written_size(x)
    return distributed if shorter and distributed.shape == reduced_shape(x.shape, axes, True) else None


def _matrix_vector(x: Node, axis: int) -> Node | None:
    """sum(M ⊙ v, axis=1) = M v for a row v (a vector NumPy copies down the rows), and
    sum(M ⊙ c, axis=0) = Mᵀ c for a column c (a reduction along axis 1 kept as n×1)."""
    for m, v in (x.args, reversed(x.args)):
        if m.shape != x.shape or m.ndim != 2:
            continue
        if axis == 1 and v.shape == (x.shape[1],):
            return A.matmul(m, v)
        if axis == 0 and v.shape == (x.shape[0], 1) and keeps(v) and axes_of(v) == (1,):
            return A.matmul(A.transpose(m), REDUCTIONS[v.op](v.args[0], 1))
    return None


def _expanded(x: Node, axis: int) -> Node | None:
    """sum(P ⊙ (U + V), axis) = sum(P ⊙ U, axis) + sum(P ⊙ V, axis) where each part simplifies to a
    product (the differential of a softmax, P ⊙ (dz − sum(P ⊙ dz, axis=1, keepdims=True)) summed over
    its rows, is sum(P, axis=0) ⊙ dz − Pᵀ P dz)."""
    i = next((i for i, f in enumerate(x.args) if f.op == "add"), None)
    if i is None:
        return None
    others = x.args[:i] + x.args[i + 1:]
    parts = [sum_(A.mul(*others, t), axis) for t in x.args[i].args]
    if any(A.split_coefficient(p)[1].op == "sum" for p in parts):
        return None
    return A.add(*parts)


def _sum_of_broadcast(t: Node, shape, axis: int) -> Node | None:
    """sum(t broadcast to the matrix shape, axis): t itself summed where it is a full matrix, n t for
    a row (axis 0), n s for a scalar s; None where t is broadcast some other way."""
    if t.shape == shape:
        return sum_(t, axis)
    copies = A.dim(shape[axis])
    if not t.shape:
        return A.mul(copies, t, A.ones(tuple(d for a, d in enumerate(shape) if a != axis)))
    if len(shape) == 2 and t.shape == (shape[1],) and axis == 0:
        return A.mul(copies, t)
    return None


def _pull_reduction(scale=None):
    """The pullback of a linear reduction: the cotangent copied back along the axes (divided by N for
    the mean)."""
    def pull(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
        x = node.args[0]
        axes = axes_of(node)
        return [(x, spread(g if scale is None else per_entry(g, x, axes), x, axes, keeps(node)))]
    return pull


def _vec_sum(node: Node, jacobians) -> Node:
    """A kept axis of size 1 changes no vec: sum(X, axis=1, keepdims=True) has the J of X 1."""
    (x,), (jac,) = node.args, jacobians
    axes = axes_of(node)
    if len(axes) == x.ndim:
        summed = sum_(jac, 0) if jac.ndim == 2 else sum_(jac)
        return outer(A.ones((1,)), summed) if keeps(node) and summed.ndim == 1 else summed  # J of a 1×1: a row
    n, m = x.shape
    if axes == (0,):  # 1ᵀ X = (I_m ⊗ 1ᵀ) vec X
        return A.matmul(kron(A.eye(m), A.ones((n,))), jac)
    return A.matmul(kron(A.ones((m,)), A.eye(n)), jac)  # X 1 = (1ᵀ ⊗ I_n) vec X


def _lower_sum(low, node: Node):
    (x,), axis = node.args, node.params[0]
    if keeps(node) or isinstance(axis, tuple):
        return low.spell("sum_keepdims" if keeps(node) else "sum_axis", low.term(x), _axis_code(low, node), ndim=node.ndim)
    if axis is not None:
        return low.spell("sum_axis", low.term(x), low.num(axis), ndim=1)
    arrays = x.args if x.op == "mul" else ()
    if len(arrays) == 2 and all(a.shape == x.shape for a in arrays):  # sum(A ⊙ B): one dot product
        return low.spell("sum_product", low.term(arrays[0]), low.term(arrays[1]), ndim=0)
    if x.op == "pow" and x.args[1].op == "const" and x.args[1].params[0] == 2.0 and x.args[0].shape == x.shape:
        return low.spell("sum_squares", low.term(x.args[0]), ndim=0)  # sum(R ** 2): one dot product, no R²
    return low.spell("sum", low.term(x), ndim=0)


def _index_reduction(ix, node: Node, idx: tuple):
    """sum(X) = Σ_{s,t} X[s,t]; along an axis, sum(X, axis=0)[j] = Σ_s X[s,j] (a kept axis of size 1
    has an index of its own value only); mean divides by N."""
    x = node.args[0]
    axes, outer_index, entries, fresh = axes_of(node), iter(idx), [], []
    for a, d in enumerate(x.shape):
        if a in axes:
            fresh.append(ix.fresh(d))
            entries.append(fresh[-1])
            if keeps(node):
                next(outer_index)
        else:
            entries.append(next(outer_index))
    terms = ix.summing(ix.indexed(x, tuple(entries)), fresh)
    return terms if node.op == "sum" else ix.product(terms, ix.reciprocal(count(x, axes), ()))


def _reduction_words(what: str):
    def say(node: Node, slot: int, fused: bool) -> list:
        axes = axes_of(node)
        if len(axes) == node.args[0].ndim:
            return [f"{what} of all entries"]
        return [f"{what} over rows (axis 0)" if axes == (0,) else f"{what} over columns (axis 1)"]
    return say


def latex_reduction(name: str):
    """\\operatorname{sum}_{1}(X): the axis as a subscript (keepdims, a matter of shape, is not shown)."""
    def latex(a) -> str:
        axis = a.keyword("axis")
        return name + (f"_{{{axis}}}" if axis is not None else "") + rf"\left({a[0]}\right)"
    return latex


def _axis_code(low, node: Node):
    """The axis in generated code: every axis named where the node reduces them all."""
    axes = axes_of(node)
    return low.num(axes[0]) if len(axes) == 1 else low.make("Tuple", None, [low.num(a) for a in axes])


def lower_reduction(low, node: Node):
    """NumPy's reductions and scipy's logsumexp, softmax, log_softmax: the entry's spelling of the
    array, its axes and keepdims."""
    args = [low.term(node.args[0]), _axis_code(low, node)]
    if "keep" in OPS[node.op].code.placeholders.split():
        args.append(low.make("Constant", keeps(node)))
    return low.spell(node.op, *args, ndim=node.ndim)


# axis=0, axis=-1, axis=(0, 1), axis=None: NumPy's; the constructor checks it against the array's axes
AXIS = Literal("axis", lambda v: v is None or _is_axis(v) or (isinstance(v, tuple) and all(map(_is_axis, v))),
                "an axis is an integer, a tuple of integers or None", spelling="axis=0", noun="an axis")
KEEPDIMS = Literal("keepdims", lambda v: isinstance(v, bool), "keepdims is True or False",
                    spelling="keepdims=True", noun="keepdims")


def _is_axis(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def numpy_reduction(function):
    """A reduction's value as NumPy computes it, from the node's axis and keepdims."""
    return lambda node, args, sizes: function(args[0], axis=node.params[0], keepdims=keeps(node))


_SUM_ALL = SpelledIdentity("sum(B) = 𝟙 : B", "sum(B) = ones : B", r"\operatorname{sum}(B) = \mathbf{1} : B")
_SUMAXIS = SpelledIdentity("A : sum(B, axis) = (A copied along the axis) : B",
                            "A : sum(B, axis) = (A copied along axis) : B",
                            r"A : \operatorname{sum}(B) = (A\ \text{copied along the axis}) : B")
register(Op("sum", numpy_reduction(np.sum), text="sum", unicode="sum", latex=latex_reduction(r"\operatorname{sum}"),
            names=("sum",), call=Call(sum_, literals=(AXIS, KEEPDIMS)), index=_index_reduction,
            pullback=_pull_reduction(), differential=lambda node, d: sum_(d[0], node.params[0], keeps(node)),
            vec_jacobian=_vec_sum, words=Words(_reduction_words("sum")),
            identity=lambda node: _SUM_ALL if node.params[0] is None else _SUMAXIS,
            vec_identity=SpelledIdentity("𝟙ᵀX = (I ⊗ 𝟙ᵀ) vec X, X𝟙 = (𝟙ᵀ ⊗ I) vec X",
                                         "sum(X, axis=0) = kron(eye(m), ones(n)) @ vec(X)",
                                         r"\mathbf{1}^\top X = (I \otimes \mathbf{1}^\top)\operatorname{vec}X"),
            # NumPy's method skips a dispatch layer (1 µs)
            code=Code(numpy="x.sum()", jax="jnp.sum(x)", torch="torch.sum(x)", lower=_lower_sum)))


def inner(a: Node, b: Node) -> Node:
    """⟨a, b⟩ = sum(a ⊙ b), written a @ b for vectors."""
    return A.matmul(a, b) if a.ndim == 1 and b.ndim == 1 else sum_(A.mul(a, b))


# ---- mean ---------------------------------------------------------------------------------------


def mean(x: Node, axis=None, keepdims: bool = False) -> Node:
    axes = reduced_axes("mean", x, axis, keepdims)
    if not axes:
        return x
    scalars, array = A.split_scalars(x)
    if scalars and array is not x:
        return A.mul(*scalars, mean(array, axis, keepdims))
    array, divisor = A.split_divisor(x)
    if divisor is not None:
        return A.div(mean(array, axis, keepdims), divisor)
    shape = reduced_shape(x.shape, axes, keepdims)
    if x.op in ("ones", "zeros"):
        return (A.ones if x.op == "ones" else A.zeros)(shape)
    if x.op == "outer" and x.args[0].op == "ones" and axes == (0,) and not keepdims:  # the mean of copies of v
        return x.args[1]
    if x.op == "transpose" and (len(axes) == 2 or not keepdims):  # mean(Xᵀ, axis=0) = mean(X, axis=1)
        return mean(x.args[0], None if len(axes) == 2 else 1 - axes[0], keepdims)
    if x.op == "transpose":
        return A.transpose(mean(x.args[0], 1 - axes[0], True))
    rewritten = _factored(mean, x, axes, keepdims) or (_distributed(mean, x, axes) if keepdims else None)
    if rewritten is not None:
        return rewritten
    return reduced("mean", x, axes, keepdims)


register(Op("mean", numpy_reduction(np.mean), text="mean", unicode="mean", latex=latex_reduction(r"\operatorname{mean}"),
            names=("mean",), call=Call(mean, literals=(AXIS, KEEPDIMS)), index=_index_reduction,
            pullback=_pull_reduction(scale=True), differential=lambda node, d: mean(d[0], node.params[0], keeps(node)),
            vec_jacobian=lambda node, jacobians: A.div(_vec_sum(node, jacobians), count(node.args[0], axes_of(node))),
            words=Words(_reduction_words("mean")),
            identity=SpelledIdentity("A : mean(B, axis) = (A copied along the axis) / N : B",
                                     "A : mean(B, axis) = (A copied along axis) / N : B",
                                     r"A : \operatorname{mean}(B) = \tfrac{1}{N}(A\ \text{copied along the axis}) : B"),
            vec_identity=SpelledIdentity("mean(X, axis=0) = (I ⊗ 𝟙ᵀ) vec X / n", "mean(X, axis=0) = kron(eye(m), "
                                         "ones(n)) @ vec(X) / n", r"\tfrac{1}{n}\mathbf{1}^\top X = \tfrac{1}{n}"
                                         r"(I \otimes \mathbf{1}^\top)\operatorname{vec}X"),
            code=Code(numpy="x.mean(axis=axis, keepdims=keep)", jax="jnp.mean(x, axis=axis, keepdims=keep)",
                      torch="torch.mean(x, dim=axis, keepdim=keep)", placeholders="x axis keep", lower=lower_reduction)))


# ---- var, std -----------------------------------------------------------------------------------


def _moment_axes(name: str, x: Node, axis, keepdims: bool):
    """The axes of var or std, and the node itself where it is 0 (a single entry, a constant)."""
    axes = reduced_axes(name, x, axis, keepdims)
    shape = reduced_shape(x.shape, axes, keepdims)
    if not axes or x.op in ("ones", "zeros", "const", "dim") or constant_along(x, axes):
        return axes, A.zeros(shape)
    return axes, None


def variance(x: Node, axis=None, keepdims: bool = False) -> Node:
    """np.var (ddof=0): the mean squared deviation from the mean along the axes."""
    axes, zero = _moment_axes("var", x, axis, keepdims)
    if zero is not None:
        return zero
    x, _ = without_shifts(x, axes)  # var(X + c) = var(X)
    scalars, array = A.split_scalars(x)
    if scalars and array is not x:  # var(s X) = s² var(X)
        return A.mul(*(A.power(s, A.const(2.0)) for s in scalars), variance(array, axis, keepdims))
    return reduced("variance", x, axes, keepdims)  # "var" is the node of a variable


def std(x: Node, axis=None, keepdims: bool = False) -> Node:
    """np.std (ddof=0): the square root of var."""
    axes, zero = _moment_axes("std", x, axis, keepdims)
    if zero is not None:
        return zero
    x, _ = without_shifts(x, axes)
    c, body = A.split_coefficient(x)
    if c != 1.0:  # std(c X) = |c| std(X)
        return A.mul(A.const(abs(c)), std(body, axis, keepdims))
    return reduced("std", x, axes, keepdims)


def centred(x: Node, axes: tuple[int, ...]) -> Node:
    """X − mean(X) along the axes, the mean kept so that it broadcasts: x − mean(x),
    X − mean(X, axis=1, keepdims=True)."""
    return A.sub(x, kept(x, axes, mean))


def _pull_var(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    x, axes = node.args[0], axes_of(node)
    return [(x, A.mul(A.const(2.0), spread(per_entry(g, x, axes), x, axes, keeps(node)), centred(x, axes)))]


def _pull_std(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    x, axes = node.args[0], axes_of(node)
    deviation = kept(x, axes, std)
    return [(x, A.div(A.mul(spread(per_entry(g, x, axes), x, axes, keeps(node)), centred(x, axes)), deviation))]


def _d_moment(node: Node, d) -> Node:
    """d var = 2 mean((X − mean X) ⊙ dX), d std = mean((X − mean X) ⊙ dX) / std (the mean of the
    deviations is 0, so d mean X drops out)."""
    x, axes = node.args[0], axes_of(node)
    moved = mean(A.mul(centred(x, axes), d[0]), node.params[0], keeps(node))
    return A.mul(A.const(2.0), moved) if node.op == "variance" else A.div(moved, node)


register(Op("variance", numpy_reduction(np.var), text="var", unicode="var", latex=latex_reduction(r"\operatorname{var}"),
            names=("var",), call=Call(variance, literals=(AXIS, KEEPDIMS)), index=INDEXED_WHOLE,
            pullback=_pull_var, differential=_d_moment, words=Words("variance, 2 (X − mean(X)) / N"),
            identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            # x − mean(x) its own term, which layer norm's backward pass computes once (PyTorch's one-pass var is
            # slower in float64: that VJP 1.30x torch autograd with it at n = 2000, d = 512, 2.60x without)
            code=Code(numpy="((x - x.mean(axis=axis, keepdims=True)) ** 2).mean(axis=axis, keepdims=keep)",
                      jax="jnp.var(x, axis=axis, keepdims=keep)",
                      torch="torch.mean((x - torch.mean(x, dim=axis, keepdim=True)) ** 2, dim=axis, keepdim=keep)",
                      placeholders="x axis keep", lower=lower_reduction, bounds=within(0.0, math.inf))))
register(Op("std", numpy_reduction(np.std), text="std", unicode="std", latex=latex_reduction(r"\operatorname{std}"),
            names=("std",), call=Call(std, literals=(AXIS, KEEPDIMS)), index=INDEXED_WHOLE,
            pullback=_pull_std, differential=_d_moment, words=Words("standard deviation, (X − mean(X)) / (N std(X))"),
            identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.sqrt(((x - x.mean(axis=axis, keepdims=True)) ** 2).mean(axis=axis, keepdims=keep))",
                      jax="jnp.std(x, axis=axis, keepdims=keep)",
                      torch="torch.sqrt(torch.mean((x - torch.mean(x, dim=axis, keepdim=True)) ** 2, dim=axis, "
                            "keepdim=keep))",
                      placeholders="x axis keep", lower=lower_reduction, bounds=within(0.0, math.inf))))


def is_variance(node: Node) -> bool:
    """var(X), or var(X) + ε with ε a number or a scalar: what a standard deviation σ is the root of."""
    if node.op == "variance":
        return True
    return node.op == "add" and sum(t.op == "variance" for t in node.args) == 1 and \
        all(t.op == "variance" or t.op == "const" or (t.op == "var" and not t.shape) for t in node.args)


def standardization(v: Node) -> tuple[Node, Node] | None:
    """(X − mean(X), σ) for a variance v = var(X) + ε taken over every axis or with its axes kept, so that
    σ = sqrt(v) broadcasts against X and X̂ = (X − mean(X)) / σ is the standardized X; None otherwise."""
    if not is_variance(v):
        return None
    moment = v if v.op == "variance" else next(t for t in v.args if t.op == "variance")
    x, axes = moment.args[0], axes_of(moment)
    if not keeps(moment) and len(axes) != x.ndim:
        return None
    return centred(x, axes), A.power(v, A.const(0.5))


def deviation_inside(factor: Node, deviation: Node, sigma: Node) -> tuple[Node, ...] | None:
    """The factors of a ⊙ (X − mean X) where `factor` is its mean or sum along axes σ is constant on (so that
    mean(a ⊙ (X − mean X)) / σ = mean(a ⊙ X̂)); None otherwise."""
    if factor.op not in ("mean", "sum") or (sigma.shape and not keeps(factor)):
        return None
    product = factor.args[0]
    parts = product.args if product.op == "mul" else (product,)
    return parts if parts.count(deviation) == 1 else None


def _over_variance(body: Node) -> tuple[Node, Node, float] | None:
    """A quotient by a power of a variance, scalars in front included, as (numerator, v, k): a / v ** k."""
    scalars, array = A.split_scalars(body)
    if array.op != "div":
        return None
    d = array.args[1]
    base, k = ((d.args[0], 0.5) if d.op == "sqrt" else
               (d.args[0], d.args[1].params[0]) if d.op == "pow" and d.args[1].op == "const" else (d, 1.0))
    return (A.mul(*scalars, array.args[0]), base, k) if is_variance(base) and k >= 0.5 else None


def _through_deviation(numerator: Node, v: Node, k: float) -> Node:
    """numerator / v ** k with each X − mean(X) among its factors (or inside a mean or a sum of them) taking
    one σ = sqrt(v), as X̂: (X − mean X) ⊙ mean(a ⊙ (X − mean X)) / v is X̂ ⊙ mean(a ⊙ X̂), built as the
    parser builds that text."""
    found = standardization(v)
    factors = list(numerator.args if numerator.op == "mul" else (numerator,))
    if found is not None:
        deviation, sigma = found
        for i, factor in enumerate(factors):
            parts = deviation_inside(factor, deviation, sigma) if k >= 0.5 else None
            if k >= 0.5 and factor is deviation:
                factors[i], k = A.div(deviation, sigma), k - 0.5
            elif parts is not None:
                hat = A.div(deviation, sigma)
                inner = A.mul(*(hat if p is deviation else p for p in parts))
                factors[i], k = REDUCTIONS[factor.op](inner, factor.params[0], keeps(factor)), k - 0.5
    top = factors[0]
    for factor in factors[1:]:  # a * b * c read left to right
        top = A.mul(top, factor)
    return top if k == 0 else A.div(top, A.power(v, A.const(k)))




def _over_deviation(terms: list[Node]) -> list[Node] | None:
    """a / σ + b / σ³ = (a + b / σ²) / σ for σ = sqrt(var(X) + ε): quotients by powers of a variance are
    written over the standard deviation, as the normalisation papers write their backward pass (layer
    norm's (γ ⊙ g − mean(γ ⊙ g) − x̂ ⊙ mean(γ ⊙ g ⊙ x̂)) / σ, the deviations x − mean(x) left over
    divided by σ as x̂), where that is no longer than the sum the other rewrites make (a Jacobian whose
    terms share diag(γ) keeps it taken out over σ³)."""
    if identity_left_out("over deviation"):  # building the sum without it, to compare
        return None
    groups: dict[Node, list[tuple[int, float, Node, float]]] = {}
    for i, t in enumerate(terms):
        c, body = A.split_coefficient(t)
        found = _over_variance(body)
        if found is not None:
            numerator, base, k = found
            groups.setdefault(base, []).append((i, c, numerator, k))
    for base, members in groups.items():
        if len(members) < 2 or min(k for *_, k in members) != 0.5:
            continue
        members.sort(key=lambda member: member[3])  # the terms over σ first, as the papers write them
        inner = A.add(*(A.scale(c, _through_deviation(numerator, base, k - 0.5)) for _, c, numerator, k in members))
        combined = A.div(inner, A.power(base, A.const(0.5)))
        used = {i for i, *_ in members}
        rewritten = [t for i, t in enumerate(terms) if i not in used] + [combined]
        with without_identity("over deviation"):
            otherwise = A.add(*terms)
        if A.written_size(A.add(*rewritten)) > A.written_size(otherwise):
            return [otherwise]
        return rewritten
    return None


sum_identity(_over_deviation)


# ---- max, min -----------------------------------------------------------------------------------


def max_(x: Node, axis=None, keepdims: bool = False) -> Node:
    """np.max (amax): the largest entry along the axes."""
    return _extreme("max", x, axis, keepdims)


def min_(x: Node, axis=None, keepdims: bool = False) -> Node:
    return _extreme("min", x, axis, keepdims)


_OTHER = {"max": "min", "min": "max"}


def _extreme(op: str, x: Node, axis, keepdims: bool) -> Node:
    axes = reduced_axes(op, x, axis, keepdims)
    if not axes:
        return x
    axis = axis_param(x, axes)
    if constant_along(x, axes):  # max(s * ones(n)) = s: every entry is the largest, and each its mean
        return mean(x, axis, keepdims)
    if x.op == "kron" and len(axes) == x.ndim and not keepdims and any(a.op == "ones" for a in x.args):
        inner = [a for a in x.args if a.op != "ones"]  # max(kron(x, ones(k))) = max(x): every entry, copied
        return _extreme(op, inner[0], None, False) if len(inner) == 1 else mean(x, None, False)
    copied = [a for a in axes if len(axes) > 1 and x.shape[a] != 1 and constant_along(x, (a,))]
    if copied:  # max(outer(x, ones(n))) = max(x): a copy counts once, so the gradient is no sum over the copies
        return _extreme(op, mean(x, axis_param(x, tuple(copied)), keepdims=True), axis, keepdims)
    c, body = A.split_coefficient(x)
    if c != 1.0 and body.shape == x.shape:  # max(c X) = c max(X) for c > 0, c min(X) for c < 0
        return A.mul(A.const(c), _extreme(op if c > 0 else _OTHER[op], body, axis, keepdims))
    if x.op == "transpose" and (len(axes) == 2 or not keepdims):  # max(Xᵀ, axis=0) = max(X, axis=1)
        return _extreme(op, x.args[0], None if len(axes) == 2 else 1 - axes[0], keepdims)
    x, shifts = without_shifts(x, axes, reduced_shape(x.shape, axes, keepdims))  # max(X + c) = max(X) + c
    if shifts:
        return A.add(_extreme(op, x, axis, keepdims), *shifts)
    return reduced(op, x, axes, keepdims)


def _indicator(node: Node) -> Node:
    """Where the extreme is taken, X == max(X, axis, keepdims=True): the derivative of max (ties have
    measure zero)."""
    x, axes = node.args[0], axes_of(node)
    from .piecewise import compare  # piecewise builds on the algebra this module is loaded with
    return compare("==", x, kept(x, axes, REDUCTIONS[node.op]))


def _pull_extreme(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    x = node.args[0]
    return [(x, A.mul(spread(g, x, axes_of(node), keeps(node)), _indicator(node)))]


def _d_extreme(node: Node, d) -> Node:
    picked = _indicator(node)
    if len(axes_of(node)) == node.args[0].ndim and not keeps(node):
        return inner(picked, d[0])
    return sum_(A.mul(picked, d[0]), node.params[0], keeps(node))


for _op, _numpy_fn, _torch in (("max", np.max, "amax"), ("min", np.min, "amin")):
    register(Op(_op, numpy_reduction(_numpy_fn), text=_op, unicode=_op, latex=latex_reduction(rf"\{_op}"),
                names=(_op, "a" + _op), call=Call(max_ if _op == "max" else min_, literals=(AXIS, KEEPDIMS)),
                index=INDEXED_WHOLE, pullback=_pull_extreme, differential=_d_extreme,
                words=Words(f"{_op}imum along the axes (the gradient goes where it is taken, X == {_op}(X))"),
                identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
                code=Code(numpy=f"x.{_op}(axis=axis, keepdims=keep)", jax=f"jnp.{_op}(x, axis=axis, keepdims=keep)",
                          torch=f"torch.{_torch}(x, dim=axis, keepdim=keep)", placeholders="x axis keep",
                          lower=lower_reduction, bounds=lambda node, bounds_of: bounds_of(node.args[0]))))


# The constructor of each reduction, by its node's operation (softmax_family.py adds logsumexp).
REDUCTIONS = {"sum": sum_, "mean": mean, "variance": variance, "std": std, "max": max_, "min": min_}

# Late imports: Kronecker products and outer products for the vec rules and the copies of a cotangent,
# the trace for sum(P ⊙ I) = tr(P) (both modules build on this one).
from .structure import kron, outer  # noqa: E402
from .linalg import tr  # noqa: E402
