"""Reverse mode over the expression DAG: gradients and vector-Jacobian products in matrix notation.

Starting from the cotangent of the output (1 for a scalar function, a symbolic G for a
backpropagation rule), each node's pullback (declared with its operation in `matdiff.ops`) turns
the cotangent of its output into cotangents of its arguments; contributions to a node are summed
once all its users are done. Because nodes are shared, the gradient shares them too and its size
stays linear in the size of the expression.
"""
from __future__ import annotations

from ..expr import Node, dependents, topological
from ..ops import ONE, OPS, add, zeros


def pullback(f: Node, wrt: Node, cotangent: Node | None = None) -> Node:
    """∂φ/∂wrt for φ = sum(cotangent ⊙ f) (φ = f when f is a scalar and no cotangent is given)."""
    seed = ONE if cotangent is None else cotangent
    if seed.shape != f.shape:
        raise ValueError(f"cotangent shape {seed.shape} differs from the function's {f.shape}")

    order = topological(f)
    depending = dependents(f, wrt)
    needed = depending.__contains__
    if f not in depending:
        return zeros(wrt.shape)
    waiting: dict[Node, list[Node]] = {f: [seed]}
    for node in reversed(order):
        parts = waiting.pop(node, None)
        if parts is None:
            continue
        g = parts[0] if len(parts) == 1 else add(*parts)
        if node is wrt:
            return g
        rule = OPS[node.op].pullback
        for argument, cotangent_of_argument in rule(node, g, needed):
            waiting.setdefault(argument, []).append(cotangent_of_argument)
    return zeros(wrt.shape)
