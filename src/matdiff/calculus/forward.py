"""Forward mode: the differential df of an expression, linear in a symbolic dX.

Each operation's differential rule (declared with the operation) combines the differentials of its
arguments: d(A @ B) = dA @ B + A @ dB, d tanh(U) = (1 - tanh(U) ** 2) * dU, d X⁻¹ = -X⁻¹ dX X⁻¹.
The result is an ordinary expression in which dX stands as a variable; `vec_form` reads the
Jacobian off it, and `explain` shows it as the differential route.
"""
from __future__ import annotations

from ..expr import Node, dependents, topological
from ..ops import OPS, zeros


def differential(f: Node, wrt: Node, d_wrt: Node) -> Node:
    """df when wrt changes by d_wrt (a node of wrt's shape, or the number 1 for a scalar wrt)."""
    found: dict[Node, Node] = {}
    depending = dependents(f, wrt)
    for node in topological(f):
        if node not in depending:
            continue
        if node is wrt:
            found[node] = d_wrt
            continue
        args = tuple(found.get(a) for a in node.args)
        found[node] = OPS[node.op].differential(node, args)
    return found.get(f, zeros(f.shape))
