"""Declared functions: a variable declared `g: function` is an arbitrary smooth scalar function applied
elementwise, g(X @ W); its derivatives are written grad(g)(u), grad(grad(g))(u) (printed g′(u), g″(u)).

One entry, `apply`: the node keeps the function's name and the order of the derivative in its params
(g(u) is order 0, grad(g)(u) order 1), and its derivative is the next order, d g⁽ᵏ⁾(u) = g⁽ᵏ⁺¹⁾(u) ⊙ du.

What g is, the caller says, with Python functions computing it entry by entry, named as the arguments of
generated code: `g`, and `grad_g`, `grad_grad_g`, ... for the derivatives an expression uses. `evaluate`
takes them in its values (`{"g": np.tanh, "grad_g": lambda u: 1 - np.tanh(u) ** 2, ...}`), generated
code as arguments of the same names. Where no values are given, a numeric check binds g to a fixed smooth
function of its own (`stand_in`), whose derivatives of every order are known.
"""
from __future__ import annotations

import numpy as np

from ..errors import ValueBindingError
from ..expr import Node, make
from .registry import INDEXED_WHOLE, NOT_LINEAR, Absent, Code, Op, Words, register
from .algebra import mul


def apply_function(name: str, order: int, u: Node) -> Node:
    """The declared function `name` (its derivative of this order) applied to u, entry by entry."""
    return make("apply", (u,), (name, order), u.shape)


def argument_name(name: str, order: int) -> str:
    """The name its values go by, in `evaluate`'s values and in generated code: g, grad_g, grad_grad_g."""
    return "grad_" * order + name


def spelled(name: str, order: int) -> str:
    """As the language writes it: g, grad(g), grad(grad(g))."""
    return "grad(" * order + name + ")" * order


_PRIMES = {1: "′", 2: "″", 3: "‴"}
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _unicode(params) -> str:
    name, order = params
    return name + (_PRIMES.get(order) or f"⁽{str(order).translate(_SUPERSCRIPT)}⁾" if order else "")


def _latex(params) -> str:
    name, order = params
    escaped = name.replace("_", r"\_")
    head = name if len(name) == 1 else rf"\operatorname{{{escaped}}}"
    return head + ("'" * order if order <= 3 else f"^{{({order})}}")


def _evaluate(node: Node, args, env) -> np.ndarray:
    name, order = node.params
    key = argument_name(name, order)
    function = env.get("$functions", {}).get(key)
    if function is None:
        raise ValueBindingError(f"no function given for {spelled(name, order)}: pass values['{key}'], a function "
                                f"computing it entry by entry")
    value = np.asarray(function(args[0]), dtype=float)
    if value.shape != np.shape(args[0]):
        raise ValueBindingError(f"{spelled(name, order)} gave an array of shape {value.shape} for an argument of "
                                f"shape {np.shape(args[0])}: a declared function works entry by entry")
    return value


def _next(node: Node) -> Node:
    """g⁽ᵏ⁺¹⁾(u) for the node g⁽ᵏ⁾(u)."""
    name, order = node.params
    return apply_function(name, order + 1, node.args[0])


def _lower(low, node: Node):
    """A call of the generated function's argument of that name: g(t0), grad_g(t0)."""
    callee = low.name(argument_name(*node.params))
    return low.make("Call", (1, ()), (callee, low.as_array(node.args[0])), node.ndim)


register(Op("apply", _evaluate, text=lambda params: spelled(*params), unicode=_unicode, latex=_latex,
            names=Absent("a declared function, written by its name, g(u), and its derivatives grad(g)(u)"),
            index=INDEXED_WHOLE,
            pullback=lambda node, g, needed: [(node.args[0], mul(g, _next(node)))],
            differential=lambda node, d: mul(_next(node), d[0]),
            vec_jacobian=Absent("not linear: its differential g′(u) ⊙ du is taken first"),
            words=Words(lambda node, slot, fused: [f"the declared function {spelled(*node.params)}, elementwise"]),
            identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(lower=_lower, function_argument=lambda node: argument_name(*node.params))))


# ---- a stand-in for g, where a numeric check needs values -------------------------------------------

class StandIn:
    """A fixed smooth function for a declared g, g(u) = a sin(b u + c) + q u² / 2 with coefficients drawn
    from its name, and its derivatives of every order (`derivative()`); it computes with NumPy, JAX or
    PyTorch, whichever its argument belongs to, so that a check can differentiate it with JAX too."""

    def __init__(self, name: str, order: int = 0) -> None:
        self.name, self.order = name, order
        rng = np.random.default_rng(sum(map(ord, name)))
        self.a, self.b, self.c, self.q = (float(v) for v in rng.uniform(0.5, 1.5, size=4))

    def __call__(self, u):
        module = _module_of(u)  # the k-th derivative of sin(b u + c) is b^k sin, cos, -sin, -cos, ...
        wave = module.sin if self.order % 2 == 0 else module.cos
        sign = -1.0 if self.order % 4 in (2, 3) else 1.0
        periodic = sign * self.a * self.b ** self.order * wave(self.b * u + self.c)
        if self.order == 0:
            return periodic + self.q * u * u / 2
        if self.order == 1:
            return periodic + self.q * u
        if self.order == 2:
            return periodic + self.q
        return periodic

    def derivative(self) -> "StandIn":
        return StandIn(self.name, self.order + 1)

    def __repr__(self) -> str:
        return f"<stand-in for {spelled(self.name, self.order)}>"


def _module_of(u):
    kind = type(u).__module__.split(".")[0]
    if kind in ("jax", "jaxlib"):
        import jax.numpy as module
        return module
    if kind == "torch":
        import torch
        return torch
    return np


def stand_in_values(name: str, orders: int = 8) -> dict[str, StandIn]:
    """Values for a declared function g and its derivatives: {"g": ..., "grad_g": ..., ...}."""
    return {argument_name(name, k): StandIn(name, k) for k in range(orders + 1)}
