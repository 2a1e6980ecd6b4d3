"""Expression nodes: small, immutable and hash-consed.

A `Node` is an operation name, a tuple of argument nodes, a tuple of parameters (a number, a
variable's name, an axis, ...) and its symbolic shape. Nodes are interned: building the same
operation on the same arguments twice returns the same object, so equality is identity, hashing
is cheap, and derivatives share subexpressions with the expressions they come from.

Nodes are made only through the smart constructors of `matdiff.ops`, which check shapes and apply
always-valid simplifications; this module owns only the node type and graph walks.
"""
from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import filterfalse
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
_INTERN_REFERENCES = _INTERN.data
_serial = 0


class _LongArguments:
    """A long argument tuple as part of an interning key, its hash computed once: the table hashes a key
    when it is looked up, stored and dropped, and a deep Hessian's flat products have thousands of factors."""

    __slots__ = ("args", "hash")

    def __init__(self, args: tuple) -> None:
        self.args = args
        self.hash = hash(args)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return other.__class__ is _LongArguments and self.hash == other.hash and self.args == other.args


_LONG = 64  # arguments from which a key holds them as _LongArguments


# A node is created under this lock: two threads that miss the table for one key at once would otherwise each
# make a node, and equal expressions would no longer be one node (8 threads building 20,000 numbers at once
# made 600 such pairs). A lookup that finds its node takes no lock.
_creating = threading.Lock()


def make(op: str, args: tuple[Node, ...], params: tuple, shape: Shape) -> Node:
    """The unique node for (op, args, params); `shape` is stored on first creation."""
    global _serial
    key = (op, args if len(args) < _LONG else _LongArguments(args), params)
    # the table's own dictionary of weak references, read at C speed (its `get` is Python, and a derivation
    # makes hundreds of lookups); a reference found dead, or none, goes the slow way below
    reference = _INTERN_REFERENCES.get(key)
    node = reference() if reference is not None else None
    if node is not None:
        return node
    with _creating:
        node = _INTERN.get(key)  # made by another thread since
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


# ---- the cyclic collector, paused while a large graph is built or read ---------------------------------

# Nodes hold only their arguments, and every memo of a node is weak, so the graph has no reference cycles: its
# garbage goes by reference counting alone, and Python's cyclic collector finds nothing in it. A full
# collection still reads every reference it holds, and a deep network's Hessian has a flat product per layer
# over every layer below (O(k²) references), while collections come at a rate set by the number of objects
# made: the collector alone took a third of a 1024-layer Hessian's derivation. So it is paused in the few
# entry points that build or read a whole graph, and resumed as it was found, outermost block last, also
# when several threads are in such blocks at once.
_paused = 0
_paused_lock = threading.Lock()
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """A block (or, as a decorator, a function) during which the cyclic garbage collector does not run."""
    global _paused, _resume
    with _paused_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()


def topological(root: Node, parts: "Callable[[Node], tuple[Node, ...]] | None" = None) -> list[Node]:
    """Every node under `root` once, arguments before the nodes that use them; `parts(node)`, where given,
    says what counts as a node's arguments (a printer may read a long product as runs of factors)."""
    order: list[Node] = []
    seen: set[Node] = set()  # a node hashes by identity: interned, equality is identity
    visited = seen.__contains__
    stack: list = [root]  # a node to expand, or a 1-tuple (node,) to append once its arguments are
    while stack:
        item = stack.pop()
        if item.__class__ is tuple:
            order.append(item[0])
            continue
        if item in seen:
            continue
        seen.add(item)
        stack.append((item,))
        # The arguments not yet seen, the first on top, filtered at C speed: a deep network's Hessian has flat
        # products of every layer below, and a walk in Python per argument was most of a printing's time.
        stack.extend(filterfalse(visited, reversed(item.args if parts is None else parts(item))))
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
