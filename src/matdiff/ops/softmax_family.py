"""The softmax family: logsumexp, softmax and log_softmax, as scipy.special computes them.

`axis` None normalises over the whole array (scipy's meaning, not NumPy's last axis), an int or a
tuple over those axes; logsumexp takes keepdims as NumPy's reductions do (`reductions.py`, whose
axis rules, copies of a cotangent and shift rules these share). The rules are those of the
backpropagation write-ups, along the axes: ∂ logsumexp = softmax, the softmax pullback
P ⊙ (G − sum(G ⊙ P, axis, keepdims=True)), the log-softmax pullback G − P ⊙ sum(G, axis, keepdims=True).
Generated code computes all three as a hand-written backward pass does, shifted by the maximum along
the axes (m + log(sum(exp(x − m))), exp(x − m) / sum(exp(x − m))), never exp(x) / sum(exp(x)), with
the arrays' methods (a microsecond cheaper a call than NumPy's functions). NumPy's logaddexp.reduce,
also stable, costs two transcendental calls an entry and was 3–20× slower from a few hundred entries on.
"""
from __future__ import annotations

import math

import numpy as np

from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Call, Code, Literal, Op, Words, register, within
from . import algebra as A
from .reductions import (AXIS, KEEPDIMS, REDUCTIONS, axes_of, axis_param, inner, keeps, latex_reduction,
                         lower_reduction, numpy_reduction, reduced, reduced_axes, reduced_shape, spread, sum_,
                         without_shifts)

def logsumexp(x: Node, axis=None, keepdims: bool = False) -> Node:
    axes = reduced_axes("logsumexp", x, axis, keepdims)
    if not axes:
        return x
    x, shifts = without_shifts(x, axes, reduced_shape(x.shape, axes, keepdims))  # logsumexp(X + c) = logsumexp(X) + c
    if shifts:
        return A.add(logsumexp(x, axis_param(x, axes), keepdims), *shifts)
    return reduced("logsumexp", x, axes, keepdims)


def _normalised(name: str, x: Node, axis) -> tuple[Node, tuple[int, ...]]:
    """softmax's and log_softmax's argument with the shifts it does not see taken out, and its axes."""
    axes = reduced_axes(name, x, axis)
    return without_shifts(x, axes)[0], axes


def softmax(x: Node, axis=None) -> Node:
    """scipy.special.softmax: exp(X) / sum(exp(X)) along the axes (None: over the whole array)."""
    x, axes = _normalised("softmax", x, axis)
    if len(axes) == x.ndim == 0:
        return A.ONE
    if not axes:
        return A.ones(x.shape)
    return make("softmax", (x,), (axis_param(x, axes),), x.shape)


def log_softmax(x: Node, axis=None) -> Node:
    """scipy.special.log_softmax: X − logsumexp(X) along the axes, computed without forming softmax."""
    x, axes = _normalised("log_softmax", x, axis)
    if not axes:
        return A.zeros(x.shape)
    return make("log_softmax", (x,), (axis_param(x, axes),), x.shape)


def along(node: Node, *factors: Node) -> Node:
    """The sum of the factors' product along the node's axes, kept to broadcast back: a scalar over the
    whole array (⟨g, s⟩ = g @ s for vectors), sum(G ⊙ P, axis=1, keepdims=True) along an axis."""
    if len(axes_of(node)) == node.ndim:
        return inner(*factors) if len(factors) == 2 else sum_(factors[0])
    return sum_(A.mul(*factors), node.params[0], keepdims=True)


def _pull_softmax(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    return [(node.args[0], A.mul(node, A.sub(g, along(node, g, node))))]  # P ⊙ (G − sum(G ⊙ P))


def _d_softmax(node: Node, d) -> Node:
    return A.sub(A.mul(node, d[0]), A.mul(node, along(node, node, d[0])))  # P ⊙ dX − P sum(P ⊙ dX)


def _pull_log_softmax(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    x = node.args[0]
    return [(x, A.sub(g, A.mul(softmax(x, node.params[0]), along(node, g))))]  # G − P ⊙ sum(G)


def _d_log_softmax(node: Node, d) -> Node:
    x = node.args[0]
    return A.sub(d[0], along(node, softmax(x, node.params[0]), d[0]))  # dX − sum(P ⊙ dX)


def _pull_logsumexp(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    x, axes = node.args[0], axes_of(node)
    return [(x, A.mul(spread(g, x, axes, keeps(node)), softmax(x, axis_param(x, axes))))]


def _d_logsumexp(node: Node, d) -> Node:
    x, axes = node.args[0], axes_of(node)
    p = softmax(x, axis_param(x, axes))
    return inner(p, d[0]) if len(axes) == x.ndim and not keeps(node) else sum_(A.mul(p, d[0]), node.params[0], keeps(node))


def _numpy_softmax(x, axis):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def _numpy_logsumexp(x, axis, keepdims):
    top = x.max(axis=axis, keepdims=True)
    out = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


_SOFTMAX_AXIS = Literal("axis", AXIS.accepts, AXIS.error, spelling="axis=1", noun="an axis")
register(Op("logsumexp", numpy_reduction(_numpy_logsumexp), text="logsumexp", unicode="logsumexp",
            latex=latex_reduction(r"\operatorname{logsumexp}"), names=("logsumexp",), call=Call(logsumexp, literals=(AXIS, KEEPDIMS)),
            index=INDEXED_WHOLE, pullback=_pull_logsumexp, differential=_d_logsumexp,
            words=Words("log-sum-exp"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="x.max(axis=axis, keepdims=keep) "
                            "+ np.log(np.exp(x - x.max(axis=axis, keepdims=True)).sum(axis=axis, keepdims=keep))",
                      jax="jax.nn.logsumexp(x, axis=axis, keepdims=keep)",
                      torch="torch.logsumexp(x, dim=axis, keepdim=keep)", placeholders="x axis keep",
                      lower=lower_reduction)))
def _lower_over_one_axis(low, node: Node):
    """The backend's softmax or log_softmax of one axis (PyTorch's take one dim: one fused kernel where
    exp(x − logsumexp(x)) makes four passes, and computes exp twice); over several axes, that formula."""
    if len(axes_of(node)) == 1:
        return lower_reduction(low, node)
    from .elementwise import exp  # elementwise imports this module
    x, axis = node.args[0], node.params[0]
    shifted = A.sub(x, logsumexp(x, axis, keepdims=True))
    return low.term(shifted if node.op == "log_softmax" else exp(shifted))


register(Op("softmax", lambda node, args, sizes: _numpy_softmax(args[0], node.params[0]), text="softmax",
            unicode="softmax", latex=latex_reduction(r"\operatorname{softmax}"), pullback=_pull_softmax, differential=_d_softmax,
            words=Words("softmax"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            names=("softmax",), call=Call(softmax, literals=(_SOFTMAX_AXIS,)), index=INDEXED_WHOLE,
            code=Code(numpy="np.exp(x - x.max(axis=axis, keepdims=True)) "
                            "/ np.exp(x - x.max(axis=axis, keepdims=True)).sum(axis=axis, keepdims=True)",
                      jax="jax.nn.softmax(x, axis=axis)",
                      torch="torch.softmax(x, dim=axis)", placeholders="x axis",
                      lower=_lower_over_one_axis, bounds=within(0.0, 1.0))))
register(Op("log_softmax", lambda node, args, sizes: args[0] - _numpy_logsumexp(args[0], node.params[0], True),
            text="log_softmax", unicode="log_softmax", latex=latex_reduction(r"\log\operatorname{softmax}"),
            pullback=_pull_log_softmax, differential=_d_log_softmax,
            words=Words("log-softmax, G − softmax ⊙ sum(G)"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            names=("log_softmax",), call=Call(log_softmax, literals=(_SOFTMAX_AXIS,)), index=INDEXED_WHOLE,
            code=Code(numpy="x - x.max(axis=axis, keepdims=True) "
                            "- np.log(np.exp(x - x.max(axis=axis, keepdims=True)).sum(axis=axis, keepdims=True))",
                      jax="jax.nn.log_softmax(x, axis=axis)",
                      torch="torch.log_softmax(x, dim=axis)", placeholders="x axis",
                      lower=_lower_over_one_axis, bounds=within(-math.inf, 0.0))))

REDUCTIONS["logsumexp"] = logsumexp
