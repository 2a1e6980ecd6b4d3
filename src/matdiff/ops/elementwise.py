"""Elementwise functions: exp, log, sin, cos, tan, tanh, sqrt, abs, sigmoid (also scipy's expit), softplus,
sinh, cosh, arcsin, arccos, arctan, arcsinh, log1p, expm1, log2, log10, erf, gelu (the exact one), silu.

Each is one entry: its NumPy meaning, its derivative f'(u) written in the language, its spellings.
The pullback (g ⊙ f'(u)) and the differential (f'(u) ⊙ du) are the same for all of them.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import ShapeError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Absent, Bounds, Call, Code, Op, Words, register, within
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


def _erf(x):
    """scipy.special.erf where SciPy is installed; NumPy has no erf, so else math.erf entry by entry."""
    try:
        from scipy.special import erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[float])(x)
    return erf(x)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_scalar(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


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


def elementwise(name: str, numpy_fn, derivative: Callable[[Node], Node], scalar_fn, latex: "str | Callable",
                simplify: Callable[[Node], Node | None] | None = None, *,
                code: Code | None = None, aliases: tuple[str, ...] = ()) -> Callable[[Node], Node]:
    """Declare an elementwise function and return its smart constructor.

    `code`: its generated code; by default the function of the same name in NumPy, jax.numpy and torch.
    `aliases`: more names the parser reads it by (scipy's `expit` for `sigmoid`).
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
                names=(name, *aliases), call=Call(construct), index=INDEXED_WHOLE,
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
                   # g ⊙ (1 − tanh²u) in one pass from tanh u, which the forward pass computes, as autograd's backward
                   code=Code.named("tanh", bounds=increasing(math.tanh),
                                   pullback=Code(torch="torch.ops.aten.tanh_backward(g, torch.tanh(x))",
                                                 placeholders="g x")))
sqrt = elementwise("sqrt", np.sqrt, lambda u: div(const(0.5), sqrt(u)), math.sqrt, lambda a: rf"\sqrt{{{a[0]}}}",
                   code=Code.named("sqrt", bounds=increasing(math.sqrt)))
abs_ = elementwise("abs", np.abs, lambda u: div(u, abs_(u)), abs, r"\operatorname{abs}", _simplify_abs,
                   code=Code.named("abs", bounds=within(0.0, math.inf)))
sigmoid = elementwise("sigmoid", _logistic, lambda u: mul(sigmoid(u), sub(ONE, sigmoid(u))),
                      _logistic_scalar, r"\sigma", _simplify_sigmoid, aliases=("expit",),
                      # scipy's expit: one pass, and exact in relative terms where ½(1 + tanh(x/2)) is not (x ≪ 0)
                      code=Code(numpy="scipy.special.expit(x)", jax="jax.nn.sigmoid(x)",
                                torch="torch.sigmoid(x)", bounds=increasing(_logistic_scalar)))
softplus = elementwise("softplus", lambda x: np.logaddexp(0.0, x), lambda u: sigmoid(u),
                       _softplus_scalar, r"\operatorname{softplus}",
                       code=Code(numpy="np.logaddexp(0.0, x)", jax="jax.nn.softplus(x)",
                                 torch="torch.nn.functional.softplus(x)", bounds=increasing(_softplus_scalar)))
sinh = elementwise("sinh", np.sinh, lambda u: cosh(u), math.sinh, r"\sinh",
                   code=Code.named("sinh", bounds=increasing(math.sinh)))
cosh = elementwise("cosh", np.cosh, lambda u: sinh(u), math.cosh, r"\cosh",
                   code=Code.named("cosh", bounds=within(1.0, math.inf)))
arcsin = elementwise("arcsin", np.arcsin, lambda u: div(ONE, sqrt(sub(ONE, power(u, const(2.0))))), math.asin,
                     r"\arcsin", code=Code.named("arcsin", bounds=within(-math.pi / 2, math.pi / 2)))
arccos = elementwise("arccos", np.arccos, lambda u: neg(div(ONE, sqrt(sub(ONE, power(u, const(2.0)))))), math.acos,
                     r"\arccos", code=Code.named("arccos", bounds=within(0.0, math.pi)))
arctan = elementwise("arctan", np.arctan, lambda u: div(ONE, add(ONE, power(u, const(2.0)))), math.atan,
                     r"\arctan", code=Code.named("arctan", bounds=within(-math.pi / 2, math.pi / 2)))
arcsinh = elementwise("arcsinh", np.arcsinh, lambda u: div(ONE, sqrt(add(ONE, power(u, const(2.0))))), math.asinh,
                      r"\operatorname{arcsinh}", code=Code.named("arcsinh", bounds=increasing(math.asinh)))
log1p = elementwise("log1p", np.log1p, lambda u: div(ONE, add(ONE, u)), math.log1p, r"\operatorname{log1p}")
expm1 = elementwise("expm1", np.expm1, lambda u: exp(u), math.expm1, r"\operatorname{expm1}",
                    code=Code.named("expm1", bounds=increasing(math.expm1)))
log2 = elementwise("log2", np.log2, lambda u: div(const(1.0 / math.log(2.0)), u), math.log2, r"\log_2")
log10 = elementwise("log10", np.log10, lambda u: div(const(1.0 / math.log(10.0)), u), math.log10, r"\log_{10}")
# erf'(u) = 2 exp(-u²) / √π (DLMF 7.10.1); NumPy has no erf: generated NumPy code calls scipy.special's
erf = elementwise("erf", _erf, lambda u: mul(const(2.0 / math.sqrt(math.pi)), exp(neg(power(u, const(2.0))))),
                  math.erf, r"\operatorname{erf}",
                  code=Code(numpy="scipy.special.erf(x)", jax="jax.scipy.special.erf(x)", torch="torch.special.erf(x)",
                            bounds=within(-1.0, 1.0)))
# the exact GELU, u Φ(u) = ½ u (1 + erf(u/√2)); gelu'(u) = Φ(u) + u φ(u) (Hendrycks & Gimpel 2016)
gelu = elementwise("gelu", _gelu,
                   lambda u: add(mul(const(0.5), add(ONE, erf(div(u, const(math.sqrt(2.0)))))),
                                 mul(const(1.0 / math.sqrt(2.0 * math.pi)), u, exp(mul(const(-0.5), power(u, const(2.0)))))),
                   _gelu_scalar, r"\operatorname{gelu}",
                   # u Φ(u), the Φ(u) of its derivative computed once for both: NumPy by scipy's ndtr (one pass where
                   # ½(1 + erf(u/√2)) is four); XLA as ½ erfc(-u/√2), whose expansion computes exp(-u²/2), the one
                   # φ(u) needs (XLA merges them; with erf or ndtr the GELU MLP's gradient at n = 256 took 1.2x and
                   # 1.4x as long); PyTorch by its own gelu, and g ⊙ gelu'(u) by its gelu_backward
                   code=Code(numpy="x * scipy.special.ndtr(x)",
                             jax="0.5 * x * jax.scipy.special.erfc(x * -0.7071067811865476)",
                             torch="torch.nn.functional.gelu(x)",
                             derivative=Code(numpy="scipy.special.ndtr(x) + 0.3989422804014327 * x * np.exp(-0.5 * x * x)",
                                             jax="0.5 * jax.scipy.special.erfc(x * -0.7071067811865476) + "
                                                 "0.3989422804014327 * x * jnp.exp(-jnp.square(x * -0.7071067811865476))",
                                             torch="torch.special.ndtr(x) + 0.3989422804014327 * x * torch.exp(-0.5 * x * x)"),
                             # g ⊙ gelu'(u) with g multiplied into each term, and erfc (not ½ erfc) the part the forward
                             # pass shares: XLA then computes erfc's expansion in one fusion, where g ⊙ (Φ + u φ) or a
                             # shared ½ erfc had it split over three (the GELU MLP's gradient at n = 2000: 0.90 -> 1.0
                             # of jax.grad's)
                             pullback=Code(jax="0.5 * (g * jax.scipy.special.erfc(x * -0.7071067811865476)) + "
                                               "0.3989422804014327 * (x * g) * jnp.exp(-jnp.square(x * -0.7071067811865476))",
                                           torch="torch.ops.aten.gelu_backward(g, x)", placeholders="g x")))
# SiLU / swish, u σ(u); silu'(u) = σ(u) (1 + u (1 - σ(u)))
silu = elementwise("silu", lambda x: x * _logistic(x), lambda u: mul(sigmoid(u), add(ONE, mul(u, sub(ONE, sigmoid(u))))),
                   lambda x: x * _logistic_scalar(x), r"\operatorname{silu}",
                   code=Code(numpy="x * scipy.special.expit(x)", jax="jax.nn.silu(x)",
                             torch="torch.nn.functional.silu(x)"))


# ---- names the language reads for operations it already has ------------------------------------------

def _spelling(name: str, build: Callable[..., Node], arrays: int, meaning: str) -> None:
    """`name(...)` read as another operation of the language (np.square(u) is u ** 2): the call builds that
    node, so one value has one node whichever way it is written; the entry itself is never a node."""
    never = Absent(f"{name}(...) is read as {meaning} and is never a node of its own")
    register(Op(name, lambda node, args, sizes: build(*args), text=name, unicode=name, latex=rf"\operatorname{{{name}}}",
                names=(name,), call=Call(build, arrays=arrays), index=never, pullback=never, differential=never,
                vec_jacobian=never, words=never, identity=never, vec_identity=never, code=never))


_spelling("square", lambda u: power(u, const(2.0)), 1, "u ** 2")
_spelling("reciprocal", lambda u: div(ONE, u), 1, "1 / u")
_spelling("power", power, 2, "u ** p")
