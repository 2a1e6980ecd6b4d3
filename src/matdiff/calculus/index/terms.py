"""The pieces of an index form: index entries (a name, or a composite (a,b)), indexed factors (an atom
or δ, raised to a power), terms (coefficient · Σ over summation indices · Π factors), and their
simplification: deltas on summation indices eliminated, equal factors made powers, like terms merged,
summation indices renamed p, q, r, ... in the order they are read.

It knows no operation: reading nodes as terms is `reading.py`'s, printing them `spelling.py`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ...dims import Shape, dim_product, format_shape
from ...errors import NotSupportedError
from ...expr import Node
from ...ops import dim

# An index entry: a simple index name, or a composite index (a tuple of names, row-major).
Entry = Union[str, tuple]


@dataclass(frozen=True)
class Delta:
    """The Kronecker delta δ[a,b] as an einsum operand: the identity, its two axes split into the
    dimensions of composite indices (a rectangular identity where the two sides differ in size)."""

    left: Shape
    right: Shape

    def __str__(self) -> str:
        return "delta"


@dataclass(frozen=True)
class Reshaped:
    """An atom indexed by composite indices: its value reshaped (row-major) to `shape` first."""

    node: Node
    shape: Shape

    def __str__(self) -> str:
        return f"reshape({self.node}, {format_shape(self.shape)})"


DELTA = "delta"  # the base of a delta factor


@dataclass(frozen=True)
class Factor:
    """base[axes] ** power: an atom (a node) or δ, one index entry per axis."""

    base: Any  # a Node, or DELTA
    axes: tuple
    power: float = 1.0

    @property
    def is_delta(self) -> bool:
        return self.base is DELTA


@dataclass
class Term:
    """coefficient · Σ_{summed} Π factors."""

    coefficient: float
    factors: tuple
    summed: frozenset = field(default_factory=frozenset)


# ---- index entries ------------------------------------------------------------------------------


def _names(entry: Entry) -> tuple:
    return (entry,) if isinstance(entry, str) else entry


def _entry(names) -> Entry:
    names = tuple(names)
    return names[0] if len(names) == 1 else names


def _substitute(entry: Entry, old: str, new: Entry) -> Entry:
    out = []
    for name in _names(entry):
        out.extend(_names(new) if name == old else (name,))
    return _entry(out)


def _factor_names(factors) -> set:
    return {name for f in factors for entry in f.axes for name in _names(entry)}


# ---- simplification: deltas, powers, like terms ---------------------------------------------------


def _eliminate(term: Term, free: frozenset, dims: dict) -> Term | None:
    """δ on summation indices removed, equal factors made powers, lost summation indices made
    dimension factors (Σ_s 1 = n)."""
    factors = list(term.factors)
    summed = set(term.summed)
    coefficient = term.coefficient

    def dim_of(entry):
        return dim_product(*(dims[n] for n in _names(entry)))

    changed = True
    while changed:
        changed = False
        for position, f in enumerate(factors):
            if not f.is_delta:
                continue
            a, b = f.axes
            if dim_of(a) != dim_of(b):
                continue  # a rectangular δ (a diagonal of a non-square matrix) stays
            if a == b:
                del factors[position]
                changed = True
                break
            target = None
            if isinstance(b, str) and b in summed:
                old, new = b, a
                target = True
            elif isinstance(a, str) and a in summed:
                old, new = a, b
                target = True
            if target:
                del factors[position]
                summed.discard(old)
                factors = [Factor(g.base, tuple(_substitute(e, old, new) for e in g.axes), g.power)
                           for g in factors]
                changed = True
                break
            if not isinstance(a, str) and not isinstance(b, str) and len(a) == len(b) and \
                    all(dims[x] == dims[y] for x, y in zip(a, b)):
                del factors[position]  # δ[(a,b),(c,d)] = δ[a,c] δ[b,d]
                factors[position:position] = [Factor(DELTA, (x, y)) for x, y in zip(a, b)]
                changed = True
                break
    merged: dict = {}
    for f in factors:
        key = (id(f.base) if not f.is_delta else DELTA, f.axes)
        if key in merged:
            g = merged[key]
            merged[key] = Factor(g.base, g.axes, g.power if f.is_delta else g.power + f.power)
        else:
            merged[key] = f
    factors = [f for f in merged.values() if f.power != 0.0]
    present = _factor_names(factors)
    extra = []
    for name in sorted(summed - present):
        d = dims[name]
        summed.discard(name)
        if isinstance(d, int):
            coefficient *= d
        else:
            extra.append(Factor(dim(d), ()))
    factors = extra + factors
    if coefficient == 0.0:
        return None
    return Term(coefficient, tuple(factors), frozenset(summed & _factor_names(factors)))


def _canonical_key(term: Term, free: frozenset) -> tuple:
    """A key equal for terms equal up to the names of summation indices and the order of factors."""

    def pattern(entry):
        return tuple(n if n in free else "*" for n in _names(entry)), isinstance(entry, str)

    def base_key(f):
        return (1, "δ") if f.is_delta else (0, f.base.serial)

    ordered = sorted(term.factors, key=lambda f: (base_key(f), f.power, tuple(pattern(e) for e in f.axes)))
    names: dict = {}
    for f in ordered:
        for e in f.axes:
            for n in _names(e):
                if n not in free and n not in names:
                    names[n] = f"#{len(names)}"
    return tuple((base_key(f), f.power, tuple(tuple(names.get(n, n) for n in _names(e)) for e in f.axes))
                 for f in ordered)


def _merge(terms: list, free: frozenset) -> list:
    found: dict = {}
    for t in terms:
        key = _canonical_key(t, free)
        if key in found:
            first = found[key]
            found[key] = Term(first.coefficient + t.coefficient, first.factors, first.summed)
        else:
            found[key] = t
    scale = max((abs(t.coefficient) for t in found.values()), default=0.0)
    return [t for t in found.values() if abs(t.coefficient) > 1e-12 * scale]


def _display_order(factors: tuple, free_order: tuple) -> tuple:
    """Scalar factors first, then factors of summation indices alone, then by the free indices each
    carries (i before j before k before l), so that ∂(W @ X)[i,j]/∂X[k,l] reads W[i,k] δ[j,l]."""

    def key(f: Factor):
        if not f.axes:
            return (0, ())
        positions = [free_order.index(n) for e in f.axes for n in _names(e) if n in free_order]
        return (2, tuple(sorted(positions))) if positions else (1, ())

    return tuple(sorted(factors, key=key))


def _rename(term: Term, free_order: tuple, pool: list, dims: dict) -> tuple[Term, dict]:
    """Factors in display order, summation indices named p, q, r, ... in the order they appear;
    the dimension of every index the term uses."""
    free = frozenset(free_order)
    term = Term(term.coefficient, _display_order(term.factors, free_order), term.summed)
    names: dict = {}
    for f in term.factors:
        for e in f.axes:
            for n in _names(e):
                if n not in free and n not in names:
                    if len(names) >= len(pool):
                        raise NotSupportedError("too many summation indices for an index form")
                    names[n] = pool[len(names)]

    def entry(e):
        return _entry(names.get(n, n) for n in _names(e))

    factors = tuple(Factor(f.base, tuple(entry(e) for e in f.axes), f.power) for f in term.factors)
    term_dims = {names.get(n, n): dims[n] for n in set(names) | (free & _factor_names(term.factors))}
    return Term(term.coefficient, factors, frozenset(names.values())), term_dims
