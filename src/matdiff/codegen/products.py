"""Elementwise products regrouped: the small factors first, a sub-product computed once.

Each `*` or `/` of arrays is a pass over its result's entries, and the lowering writes a product factor
by factor as the expression has it. `regroup` rewrites each product of the function's outputs (a tree
of `*` and `/` whose inner parts are used nowhere else: factors, some of them divisors) where another
grouping makes fewer passes:
- a product the function computes anyway is reused by a product of those factors and more: with
  `t3 = gamma * G`, `G * gamma * t0` is `t3 * t0`;
- a sub-product several products share (an n×d array over the same n×1 column, `t0 / t2`) is formed
  the same way in each, so that it is computed once (the emitter gives it a temporary);
- otherwise the factors whose product has the fewest entries are multiplied first: `t0 * m / t1`
  (t0 n×d, m and t1 n×1) is `t0 * (m / t1)`, one pass over n×d where it was two.
A product is rewritten only where that is cheaper; otherwise it stays as written.

Then `multiply_add` writes x ± y ⊙ z (x, y, z arrays, y ⊙ z used nowhere else) as the backend's one call where
it has one (`add_product` of `backends.PATTERNS`: PyTorch's addcmul), a temporary fewer.

Entries are counted as in `scalars.py`, every dimension symbol of one size `NOMINAL`; a term's shape is
its node's (the lowering records them), or broadcasting's. This module owns that rewrite of the outputs'
terms, after lowering and before the temporaries are chosen (`function.emit`); it knows terms, no
operation.
"""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dims import DimProduct, Shape
from .backends import spelling
from .scalars import NOMINAL
from .terms import Term, is_view

if TYPE_CHECKING:
    from .lowering import Lowering

# Longer products are left as written: the grouping below is cubic in the number of factors
MAX_FACTORS = 8
ELEMENTWISE = ("+", "-", "*", "/", "**")


@dataclass(frozen=True)
class Factor:
    """One factor of a product while it is grouped: a term (a divisor where `inverted`), or a group."""

    leaves: tuple  # the product's own factors it stands for, as a sorted key: ((id(term), inverted), ...)
    shape: Shape
    inverted: bool
    position: int  # where its first factor stood: ties keep the order written
    term: Term | None = None  # a factor as written, or a product the function computes anyway
    parts: tuple["Factor", ...] = ()  # a group, built from its two parts


def regroup(low: "Lowering", results: Sequence[Term]) -> list[Term]:
    """The outputs, with each product of arrays grouped to make the fewest passes (see the module)."""
    shapes: dict[int, Shape | None] = {}
    uses, order = _uses(results)
    single_parent = {}
    for t in order:
        for a in t.args:
            single_parent[id(a)] = t
    for t in order:  # operands first: no recursion on a sum thousands of terms deep
        _shape(t, low, shapes)
    products = [t for t in order if _is_product(t, low, shapes)]
    inner = {id(t) for t in products if uses[id(t)] == 1 and _is_product(single_parent.get(id(t)), low, shapes)}
    chains = []
    for root in products:
        if id(root) in inner or not root.ndim:
            continue
        factors, cost = _flatten(root, inner, low, shapes)
        if 2 <= len(factors) <= MAX_FACTORS:
            chains.append((root, factors, cost))
    if not chains:
        return list(results)
    computed = {}  # the leaves of a product the function computes anyway -> its term
    for root, factors, _ in chains:
        computed.setdefault(_key(factors), root)

    plans = [_reuse(root, factors, computed) for root, factors, _ in chains]
    shared = Counter(key for factors in plans for key in {_merged(a, b) for a in factors for b in factors if a is not b})
    planned = [_plan(factors, shared, computed, root) for factors, (root, _, _) in zip(plans, chains)]
    # a rewrite pays where its passes, those it shares counted once among the products sharing them, are
    # fewer than as written; one that does not pay shares nothing, so the others are counted again
    rewritten = set(range(len(chains)))
    while True:
        made = Counter(key for i in rewritten for key in planned[i][1])
        dropped = {i for i in rewritten
                   if sum(_entries(shape) / made[key] for key, shape in planned[i][1].items()
                          if _computed(computed, key, chains[i][0]) is None) >= chains[i][2]}
        if not dropped:
            break
        rewritten -= dropped
    built: dict[tuple, Term] = {}
    mapping: dict[int, Term] = {}
    for i in sorted(rewritten):
        root = chains[i][0]
        term = _build(low, planned[i][0], built, computed, root)
        if term is not root:  # grouped as written: its first pair is shared now, it stays
            mapping[id(root)] = term
    return _replace(low, results, mapping)


def multiply_add(low: "Lowering", results: Sequence[Term]) -> list[Term]:
    """The outputs, with x + y * z, y * z + x and x - y * z of arrays as one call where the backend has one."""
    if spelling("add_product", low.backend)[1] == "x + y * z":
        return list(results)
    uses, _ = _uses(results)

    def fusible(t: Term) -> bool:
        return t.kind == "BinOp" and t.value == "*" and uses.get(id(t), 0) == 1 and \
            all((a.ndim or 0) >= 1 for a in t.args)

    def substitute(t: Term) -> tuple[Term, bool]:
        if t.kind == "BinOp" and t.value in ("+", "-") and all((a.ndim or 0) >= 1 for a in t.args):
            x, y = t.args  # arrays both (addcmul takes no number for x)
            if fusible(y):
                return low.spell("add_product" if t.value == "+" else "sub_product", x, *y.args, ndim=t.ndim), False
            if t.value == "+" and fusible(x):
                return low.spell("add_product", y, *x.args, ndim=t.ndim), False
        return t, False

    return low.rebuilt(results, substitute)


def _uses(results: Sequence[Term]) -> tuple[dict[int, int], list[Term]]:
    """How often each term is an operand (or an output), and the terms in post-order."""
    uses: dict[int, int] = Counter(id(t) for t in results)
    order: list[Term] = []
    seen: set[int] = set()
    stack = [(t, False) for t in reversed(results)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for a in reversed(t.args):
            uses[id(a)] = uses.get(id(a), 0) + 1
            stack.append((a, False))
    return uses, order


def _is_product(t: Term | None, low: "Lowering", shapes: dict) -> bool:
    """`a * b` or `a / b`, the shapes of both known (where one is not, the product is a factor as written)."""
    return t is not None and t.kind == "BinOp" and t.value in ("*", "/") and _shape(t, low, shapes) is not None \
        and all(_shape(a, low, shapes) is not None for a in t.args)


def _flatten(root: Term, inner: set[int], low: "Lowering", shapes: dict) -> tuple[list[Factor], int]:
    """The factors of a product, in the order written, and the entries its passes make as written."""
    factors: list[Factor] = []
    cost = 0
    stack = [(root, False)]
    while stack:
        t, inverted = stack.pop()
        if t is root or id(t) in inner:
            cost += _entries(_shape(t, low, shapes))
            left, right = t.args
            stack.append((right, inverted if t.value == "*" else not inverted))
            stack.append((left, inverted))
        else:
            factors.append(Factor(((id(t), inverted),), _shape(t, low, shapes), inverted, len(factors), term=t))
            if len(factors) > MAX_FACTORS:
                break
    return factors, cost


def _key(factors: Sequence[Factor]) -> tuple:
    return tuple(sorted(leaf for f in factors for leaf in f.leaves))


def _merged(a: Factor, b: Factor) -> tuple:
    return tuple(sorted(a.leaves + b.leaves))


def _computed(computed: dict[tuple, Term], key: tuple, root: Term) -> Term | None:
    """The term of a product with these leaves the function computes anyway, other than `root` itself."""
    term = computed.get(key)
    return None if term is root else term


def _reuse(root: Term, factors: list[Factor], computed: dict[tuple, Term]) -> list[Factor]:
    """The factors, those of a product computed anyway (the largest first) replaced by it. (The sets of
    factors are looked up, at most 2 ** MAX_FACTORS of them: linear in the number of products.)"""
    leaves = [f for f in factors if f.term is not None]
    for size in range(len(leaves), 1, -1):
        for taken in itertools.combinations(leaves, size):
            term = _computed(computed, _key(taken), root)
            if term is None:
                continue
            group = Factor(_key(taken), _broadcast(*(f.shape for f in taken)), False, taken[0].position, term=term)
            return sorted([f for f in factors if f not in taken] + [group], key=lambda f: f.position)
    return factors


def _plan(factors: list[Factor], shared: Counter, computed: dict, root: Term) -> tuple[Factor, dict[tuple, Shape]]:
    """The factors grouped two at a time, the cheapest pair first (a pair several products have, or one
    computed anyway, is cheaper by as much), and the groups it makes: their leaves and shapes."""
    made: dict[tuple, Shape] = {}
    factors = list(factors)
    while len(factors) > 1:
        best = None
        for i, a in enumerate(factors):
            for j in range(i + 1, len(factors)):
                b = factors[j]
                key = _merged(a, b)
                shape = _broadcast(a.shape, b.shape)
                price = 0.0 if _computed(computed, key, root) is not None else _entries(shape) / max(shared[key], 1)
                if best is None or price < best[0]:
                    best = (price, i, j, key, shape)
        _, i, j, key, shape = best
        a, b = factors[i], factors[j]
        group = Factor(key, shape, a.inverted and b.inverted, a.position, parts=(a, b))
        made[key] = shape
        factors[i] = group
        del factors[j]
    return factors[0], made


def _build(low: "Lowering", f: Factor, built: dict[tuple, Term], computed: dict[tuple, Term], root: Term) -> Term:
    """The term of a grouped factor (a divisor's as a divisor); one group, one term, whichever product
    needs it first."""
    if f.term is not None:
        return f.term
    if _computed(computed, f.leaves, root) is not None:
        return computed[f.leaves]
    if f.leaves not in built:
        a, b = (_build(low, part, built, computed, root) for part in f.parts)
        if f.parts[0].inverted == f.parts[1].inverted:  # a * b, or c * d of two divisors
            built[f.leaves] = low.binary("*", a, b, len(f.shape))
        else:
            top, bottom = (b, a) if f.parts[0].inverted else (a, b)
            built[f.leaves] = low.binary("/", top, bottom, len(f.shape))
    return built[f.leaves]


def _replace(low: "Lowering", results: Sequence[Term], mapping: dict[int, Term]) -> list[Term]:
    """The outputs with each product in `mapping` rewritten (its factors rewritten too)."""
    def substitute(t: Term) -> tuple[Term, bool]:
        while id(t) in mapping:  # a product may be, whole, another product computed anyway
            t = mapping[id(t)]
        return t, False
    return low.rebuilt(results, substitute)


# ---- shapes and their entries ----

def _shape(t: Term, low: "Lowering", shapes: dict[int, Shape | None]) -> Shape | None:
    """The shape of a term's value: its node's, or an elementwise operation's broadcast, or a view's."""
    if id(t) in shapes:
        return shapes[id(t)]
    found = low.shapes.get(t)
    if found is None and t.ndim == 0:
        found = ()
    elif found is None and t.kind == "BinOp" and t.value in ELEMENTWISE:
        left, right = (_shape(a, low, shapes) for a in t.args)
        found = None if left is None or right is None else _broadcast(left, right)
    elif found is None and t.kind == "UnaryOp":
        found = _shape(t.args[0], low, shapes)
    elif found is None and t.kind == "Call":
        found = _call_shape(t, low, shapes)
    elif found is None and is_view(t):
        inner = _shape(t.args[0], low, shapes)
        if inner is not None and t.kind == "Attribute":
            found = tuple(reversed(inner))
        elif inner is not None and len([i for i in t.args[1].args if i.kind == "Slice"]) == len(inner):
            axes = iter(inner)
            found = tuple(next(axes) if i.kind == "Slice" else 1 for i in t.args[1].args)
    shapes[id(t)] = found
    return found


def _call_shape(t: Term, low: "Lowering", shapes: dict[int, Shape | None]) -> Shape | None:
    """The shape of a call a template wrote inside an operation's code (a softmax's `np.exp(z)` and
    `z.sum(axis=1, keepdims=True)`), which has no node of its own: an elementwise function's is its array's,
    a reduction's that keeps its axis is the array's with that axis 1. Else unknown."""
    if low.elementwise_call(t):
        return _shape(t.args[1], low, shapes)
    positional, keywords = t.value
    function, *operands = t.args
    named = dict(zip(keywords, operands[positional:]))
    keep = named.get("keepdims", named.get("keepdim"))
    axis = named.get("axis", named.get("dim"))
    if keep is None or keep.kind != "Constant" or keep.value is not True or axis is None \
            or axis.kind != "Constant" or type(axis.value) is not int:
        return None
    if function.kind == "Attribute" and not low.is_module(function.args[0]):
        array = function.args[0]  # x.sum(axis=1, keepdims=True)
    elif positional:
        array = operands[0]  # torch.sum(x, dim=1, keepdim=True)
    else:
        return None
    inner = _shape(array, low, shapes)
    if inner is None or not -len(inner) <= axis.value < len(inner):
        return None
    return tuple(1 if i == axis.value % len(inner) else d for i, d in enumerate(inner))


def _broadcast(*shapes: Shape) -> Shape:
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        sizes = [s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0]
        out.append(next((d for d in sizes if d != 1), 1))
    return tuple(out)


def _entries(shape: Shape) -> int:
    count = 1
    for d in shape:
        count *= d if isinstance(d, int) else NOMINAL ** len(d.symbols) * d.coefficient \
            if isinstance(d, DimProduct) else NOMINAL
    return count
