"""The operation table: one `Op` entry per operation of the language, holding its whole story.

An entry declares everything about an operation in one place:
- meaning: how NumPy computes it (`evaluate`); the shape rule and always-valid simplifications are in
  the smart constructor that sits beside the entry in the same module;
- calculus: its pullback (reverse mode), its differential (forward mode), the matrix of its linear
  use in vec form (`vec_jacobian`), f' for an elementwise function (`derivative`), and how it reads in
  index notation (`index`);
- language: the names the parser reads it by (`names`, first the printed one) and its spellings in
  text, Unicode and LaTeX;
- outputs: its code in each backend (`code`) and the words that explain its rule (`words`, and the
  differential identities `identity` / `vec_identity` it is explained with).

Interpreters (evaluation, differentiation, parsing, printing, index notation, code generation,
explain) are generic: they look an operation up here and never know one by name. A field an
operation cannot have is declared `Absent("why")`, never left silently missing; `tests/test_op_table.py`
walks the table and fails for a half-declared entry.
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
class Absent:
    """A field an operation deliberately lacks, with the reason (shown where a user asks for it)."""

    reason: str

    def __bool__(self) -> bool:  # `if op.vec_jacobian:` reads as "has one"
        return False


@dataclass(frozen=True)
class Op:
    name: str
    evaluate: Evaluate
    text: str = ""  # function name or operator symbol in the language
    unicode: str = ""
    latex: str = ""
    pullback: Pullback | Absent | None = None
    differential: Differential | Absent | None = None
    vec_jacobian: VecJacobian | Absent | None = None
    elementwise: bool = False  # f(X)[i, j] depends on X[i, j] alone
    derivative: Callable[[Node], Node] | None = None  # f' for elementwise unary f, as f'(arg)
    # ---- the language (language/parse.py reads these) ----
    names: tuple[str, ...] = ()  # the spellings the parser accepts, the printed one first
    # ---- index notation (calculus/index.py reads this) ----
    index: Any = None
    # ---- code generation (codegen reads this): the spelling per backend, or a lowering rule ----
    code: Any = None
    # ---- explain (the chain-rule words, the differential identities) ----
    words: Any = None
    identity: Any = None
    vec_identity: Any = None


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in OPS:
        raise RuntimeError(f"operation {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def op_of(node: Node) -> Op:
    return OPS[node.op]
