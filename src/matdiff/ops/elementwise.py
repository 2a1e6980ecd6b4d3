"""Elementwise functions: exp, log, sin, cos, tan, tanh, sqrt, abs, sigmoid, softplus.

Each is one entry: its NumPy meaning, its derivative f'(u) written in the language, its spellings.
The pullback (g ⊙ f'(u)) and the differential (f'(u) ⊙ du) are the same for all of them.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import ShapeError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Bounds, Call, Code, Op, Words, register, within
from . import algebra
from .algebra.leaves import ONE, const, is_const
from .algebra.sums import add, neg, sub
from .algebra.products import div, mul, power
from .algebra.transposition import _ELEMENTWISE_UNARY
from .softmax_family import logsumexp


def logdet(x: Node) -> Node:
    from .linalg import logdet as construct  # linalg imports this module
    return construct(x)


def _logistic(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def _logistic_scalar(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def _softplus_scalar(x: float) -> float:
    return float(np.logaddexp(0.0, x))


def increasing(scalar_fn: Callable[[float], float]) -> Bounds:
    """`Code.bounds` of an increasing function: its values at the ends of its argument's interval."""
    def at(x: float) -> float:
        try:
            return scalar_fn(x)
        except (OverflowError, ValueError):  # exp of a huge number; sqrt below its domain
            return math.inf if x > 0 else 0.0

    def bounds(node: Node, bounds_of) -> tuple[float, float]:
        lo, hi = bounds_of(node.args[0])
        return at(lo), at(hi)
    return bounds


ELEMENTWISE: dict[str, Callable[[Node], Node]] = {}


def _pullback(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    (u,) = node.args
    if node.op == "log" and u.op == "abs":  # d log|v| = dv / v, stated directly (Cookbook eq. 56)
        return [(u.args[0], div(g, u.args[0]))]
    return [(u, mul(g, OPS_DERIVATIVE[node.op](u)))]


def _differential(node: Node, d) -> Node:
    return mul(OPS_DERIVATIVE[node.op](node.args[0]), d[0])


OPS_DERIVATIVE: dict[str, Callable[[Node], Node]] = {}


def elementwise(name: str, numpy_fn, derivative: Callable[[Node], Node], scalar_fn, latex: str,
                simplify: Callable[[Node], Node | None] | None = None, *,
                code: Code | None = None) -> Callable[[Node], Node]:
    """Declare an elementwise function and return its smart constructor.

    `code`: its generated code; by default the function of the same name in NumPy, jax.numpy and torch.
    """

    def construct(u: Node) -> Node:
        if u.op == "const":
            try:
                value = scalar_fn(u.params[0])
            except (ValueError, OverflowError, ZeroDivisionError):
                value = float("nan")
            if not math.isfinite(value):
                raise ShapeError(f"{name}({u}) is not a finite number", (u,))
            return const(value)
        if simplify is not None:
            rewritten = simplify(u)
            if rewritten is not None:
                return rewritten
        if algebra.transposed_spelling_is_simpler(u):  # f(Xᵀ) is f(X)ᵀ: one node for both spellings
            return algebra.transpose(construct(algebra.transpose(u)))
        return make(name, (u,), (), u.shape)

    OPS_DERIVATIVE[name] = derivative
    register(Op(name, lambda node, args, sizes: numpy_fn(args[0]), text=name, unicode=name, latex=latex,
                names=(name,), call=Call(construct), index=INDEXED_WHOLE,
                pullback=_pullback, differential=_differential, elementwise=True, derivative=derivative,
                words=Words(f"elementwise {name}"), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
                code=code if code is not None else Code.named(name)))
    _ELEMENTWISE_UNARY.add(name)
    ELEMENTWISE[name] = construct
    return construct


def _simplify_log(u: Node) -> Node | None:
    if u.op == "exp":
        return u.args[0]
    if u.op == "sigmoid":  # log σ(v) = -softplus(-v)
        return neg(softplus(neg(u.args[0])))
    if u.op == "det":  # log det(X) is logdet(X) wherever it is defined (det(X) > 0)
        return logdet(u.args[0])
    if u.op == "sum" and u.args[0].op == "exp":  # log Σ exp(v) is logsumexp(v), along the same axes
        return logsumexp(u.args[0].args[0], u.params[0], u.params[1] is True)
    if u.op == "softmax":  # log softmax(v) = v - logsumexp(v), along its axis (kept, to broadcast)
        axis = u.params[0]
        return sub(u.args[0], logsumexp(u.args[0], axis, keepdims=axis is not None))
    if u.op == "add" and len(u.args) == 2 and is_const(u.args[0], 1.0):  # log(1 - σ(v)) = -softplus(v)
        c, body = algebra.split_coefficient(u.args[1])
        if c == -1.0 and body.op == "sigmoid":
            return neg(softplus(body.args[0]))
    if u.op == "add" and len(u.args) == 2:  # log(1 + exp(v)) is softplus(v)
        a, b = u.args
        if is_const(a, 1.0) and b.op == "exp":
            return softplus(b.args[0])
        if is_const(b, 1.0) and a.op == "exp":
            return softplus(a.args[0])
    return None


def _simplify_exp(u: Node) -> Node | None:
    return u.args[0] if u.op == "log" else None


def _simplify_sigmoid(u: Node) -> Node | None:
    c, body = algebra.split_coefficient(u)
    if c == -1.0:  # σ(-v) = 1 - σ(v): one spelling, so that terms cancel
        return sub(ONE, sigmoid(body))
    return None


def _simplify_abs(u: Node) -> Node | None:
    return u if u.op in ("abs", "exp", "sqrt", "sigmoid", "softplus") else None


exp = elementwise("exp", np.exp, lambda u: exp(u), math.exp, r"\exp", _simplify_exp,
                  code=Code.named("exp", bounds=increasing(math.exp)))
log_ = elementwise("log", np.log, lambda u: div(ONE, u), math.log, r"\log", _simplify_log)
sin = elementwise("sin", np.sin, lambda u: cos(u), math.sin, r"\sin",
                  code=Code.named("sin", bounds=within(-1.0, 1.0)))
cos = elementwise("cos", np.cos, lambda u: neg(sin(u)), math.cos, r"\cos",
                  code=Code.named("cos", bounds=within(-1.0, 1.0)))
tan = elementwise("tan", np.tan, lambda u: div(ONE, power(cos(u), const(2.0))), math.tan, r"\tan")
tanh = elementwise("tanh", np.tanh, lambda u: sub(ONE, power(tanh(u), const(2.0))), math.tanh, r"\tanh",
                   code=Code.named("tanh", bounds=increasing(math.tanh)))
sqrt = elementwise("sqrt", np.sqrt, lambda u: div(const(0.5), sqrt(u)), math.sqrt, r"\sqrt",
                   code=Code.named("sqrt", bounds=increasing(math.sqrt)))
abs_ = elementwise("abs", np.abs, lambda u: div(u, abs_(u)), abs, r"\operatorname{abs}", _simplify_abs,
                   code=Code.named("abs", bounds=within(0.0, math.inf)))
sigmoid = elementwise("sigmoid", _logistic, lambda u: mul(sigmoid(u), sub(ONE, sigmoid(u))),
                      _logistic_scalar, r"\sigma", _simplify_sigmoid,
                      code=Code(numpy="0.5 * (1.0 + np.tanh(0.5 * x))", jax="jax.nn.sigmoid(x)",
                                torch="torch.sigmoid(x)", bounds=increasing(_logistic_scalar)))
softplus = elementwise("softplus", lambda x: np.logaddexp(0.0, x), lambda u: sigmoid(u),
                       _softplus_scalar, r"\operatorname{softplus}",
                       code=Code(numpy="np.logaddexp(0.0, x)", jax="jax.nn.softplus(x)",
                                 torch="torch.nn.functional.softplus(x)", bounds=increasing(_softplus_scalar)))
