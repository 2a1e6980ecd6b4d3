"""Expression nodes: small, immutable and hash-consed.

A `Node` is an operation name, a tuple of argument nodes, a tuple of parameters (a number, a
variable's name, an axis, ...) and its symbolic shape. Nodes are interned: building the same
operation on the same arguments twice returns the same object, so equality is identity, hashing
is cheap, and derivatives share subexpressions with the expressions they come from.

Nodes are made only through the smart constructors of `matdiff.ops`, which check shapes and apply
always-valid simplifications; this module owns only the node type and graph walks.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .dims import Shape


class Node:
    """One operation applied to argument nodes; never mutated, never built twice."""

    __slots__ = ("op", "args", "params", "shape", "serial", "_cache", "__weakref__")
    op: str
    args: tuple["Node", ...]
    params: tuple
    shape: Shape
    serial: int

    def __setattr__(self, key, value):  # immutability: only `make` sets fields
        raise AttributeError("matdiff expression nodes are immutable")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_scalar(self) -> bool:
        return not self.shape

    def cached(self, key: str, compute) -> Any:
        """A per-node memo for derived facts (symmetry, variables, ...)."""
        cache = self._cache
        if key not in cache:
            cache[key] = compute(self)
        return cache[key]

    def cached_node(self, key: str, compute) -> "Node":
        """A per-node memo of another node, held weakly: the memo never keeps that node alive (its
        interning key may hold this node, so a strong memo would keep both forever)."""
        reference = self._cache.get(key)
        found = reference() if reference is not None else None
        if found is None:
            found = compute(self)
            self._cache[key] = weakref.ref(found)
        return found

    def __str__(self) -> str:
        if _spelling is None:  # the language is not loaded: name the operation alone
            return f"<{self.op} of {len(self.args)} arguments>"
        return _spelling(self)

    def __repr__(self) -> str:
        return f"<{self.op} {self}>"

    def __reduce__(self):
        raise TypeError("matdiff nodes are interned; pickle their text instead")


# How a node is written in messages and str(): the language's printer, which sits above this module
# and registers itself when it is loaded (`spell_with`), so that this module imports nothing above it.
_spelling: "Callable[[Node], str] | None" = None


def spell_with(printer: "Callable[[Node], str]") -> None:
    global _spelling
    _spelling = printer


# Weak values: a node lives as long as something uses it (an expression, a derivative, a child's key
# here), so a long-running process (the page's workers, a notebook) does not keep every node it ever
# built. The key holds the arguments strongly, so a live node keeps its subexpressions interned.
_INTERN: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
_serial = 0


def make(op: str, args: tuple[Node, ...], params: tuple, shape: Shape) -> Node:
    """The unique node for (op, args, params); `shape` is stored on first creation."""
    global _serial
    key = (op, args, params)
    node = _INTERN.get(key)
    if node is not None:
        return node
    node = object.__new__(Node)
    object.__setattr__(node, "op", op)
    object.__setattr__(node, "args", args)
    object.__setattr__(node, "params", params)
    object.__setattr__(node, "shape", shape)
    object.__setattr__(node, "serial", _serial)
    object.__setattr__(node, "_cache", {})
    _serial += 1
    _INTERN[key] = node
    return node


def topological(root: Node, parts: "Callable[[Node], tuple[Node, ...]] | None" = None) -> list[Node]:
    """Every node under `root` once, arguments before the nodes that use them; `parts(node)`, where given,
    says what counts as a node's arguments (a printer may read a long product as runs of factors)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for arg in reversed(node.args if parts is None else parts(node)):
            if id(arg) not in seen:
                stack.append((arg, False))
    return order


def walk(root: Node) -> Iterator[Node]:
    yield from topological(root)


def free_variables(root: Node) -> frozenset[Node]:
    """The variable nodes an expression depends on."""
    return frozenset(n for n in topological(root) if n.op == "var")


def dependents(root: Node, var: Node) -> set[Node]:
    """The nodes under `root` whose value depends on `var` (var included): one linear pass."""
    found: set[Node] = set()
    for node in topological(root):
        if node is var or any(a in found for a in node.args):
            found.add(node)
    return found


def depends_on(node: Node, var: Node) -> bool:
    return var in dependents(node, var)


def node_count(root: Node) -> int:
    """Distinct nodes of the DAG (shared subexpressions counted once)."""
    return len(topological(root))
