"""The operation table: one `Op` entry per operation of the language.

An entry declares everything about an operation in one place: how NumPy computes it, its pullback
(reverse mode: the cotangent of the output to cotangents of the inputs), its differential (forward
mode: the differentials of the inputs to the differential of the output), the matrix of its
linear use in vec form (for Jacobians and Hessians), and its spellings in text, Unicode and LaTeX.
The smart constructor that builds the node (shape rule and simplifications) sits beside the entry
in the same module. Interpreters (evaluation, differentiation, printing) look operations up here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..expr import Node

# pullback(node, cotangent, needed) -> [(argument, cotangent of argument), ...]
Pullback = Callable[[Node, Node, Callable[[Node], bool]], list[tuple[Node, Node]]]
# differential(node, (d arg0 or None, d arg1 or None, ...)) -> d node
Differential = Callable[[Node, tuple[Any, ...]], Node]
# vec_jacobian(node, (J of arg0 or None, ...)) -> J of node, where J is the matrix with
# vec(d node) = J vec(dX), for a node linear in the arguments whose J is given
VecJacobian = Callable[[Node, tuple[Any, ...]], Node]
Evaluate = Callable[[Node, list, dict], Any]


@dataclass(frozen=True)
class Op:
    name: str
    evaluate: Evaluate
    text: str = ""  # function name or operator symbol in the language
    unicode: str = ""
    latex: str = ""
    pullback: Pullback | None = None
    differential: Differential | None = None
    vec_jacobian: VecJacobian | None = None
    elementwise: bool = False  # f(X)[i, j] depends on X[i, j] alone
    derivative: Callable[[Node], Node] | None = None  # f' for elementwise unary f, as f'(arg)


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in OPS:
        raise RuntimeError(f"operation {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def op_of(node: Node) -> Op:
    return OPS[node.op]
