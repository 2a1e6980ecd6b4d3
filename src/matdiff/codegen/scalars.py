"""A constant factor shared by several outputs, applied once to what they share.

The derivatives of norm2(r) ** 2 are each 2 * (something linear in r): `2.0 * (X.T @ t2)`,
`2.0 * t2.sum(axis=0)`, `2.0 * (t0.T @ t1)`, `2.0 * t1.sum(axis=0)` scale four arrays where one
suffices, `t3 = 2.0 * t1` with t1 in place of t3 in each (as one writes backpropagation by hand,
g = 2 r). `fold` finds a term every such output is linear in and moves the factor onto it, where that
scales fewer entries.

Dimensions are symbols here, so the count of entries is nominal, every dimension of one size `NOMINAL`:
the factor moves only where its term has fewer than half the entries of the outputs it relieves. The
margin keeps `-2 * (r @ V)`, `-2 * (r.T @ U)` as they are (r is n×m, the outputs n×k and m×k: in
a low-rank factorisation k is the small one, and scaling r would cost more than both outputs).

This module owns that one rewrite of the terms of a function's outputs, after lowering and before the
temporaries are chosen (`function.emit`); it knows the terms' kinds, no operation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .terms import Term

if TYPE_CHECKING:
    from .lowering import Lowering

NOMINAL = 1000
# Calls linear in each array operand (their degree in a term is the sum of their operands'), by the last
# part of their dotted name; a method call x.sum(...) or x.reshape(...) is linear in x
MULTILINEAR = frozenset({"vdot", "outer", "einsum", "contract", "multi_dot", "trace", "dot", "matmul", "_chain3"})
LINEAR_METHODS = frozenset({"sum", "reshape", "transpose", "T", "permute"})


def fold(low: "Lowering", results: Sequence[Term]) -> list[Term]:
    """The outputs, with a factor c shared by several of them, c * E1, c * E2, ..., moved onto a term r
    every Ei is linear in (Ei(c * r) = c * Ei(r)), where that scales fewer entries."""
    results = list(results)
    groups: dict[object, list[int]] = {}
    for i, term in enumerate(results):
        c = _factor(term)
        if c is not None:
            groups.setdefault(_number(c), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        factor = _factor(results[members[0]])
        bodies = [results[i].args[1] for i in members]
        target = _shared_linear_term(bodies, low.pullback_call)
        if target is None:
            continue
        if NOMINAL ** (target.ndim or 0) * 2 >= sum(NOMINAL ** (results[i].ndim or 0) for i in members):
            continue
        scaled = low.binary("*", factor, target, target.ndim)
        for i, body in zip(members, bodies):
            results[i] = _replace(low, body, target, scaled)
    return results


def _factor(term: Term) -> Term | None:
    """c of an output c * E, c a number (2.0, -2.0)."""
    if term.kind == "BinOp" and term.value == "*" and _number(term.args[0]) is not None:
        return term.args[0]
    return None


def _number(term: Term) -> float | None:
    if term.kind == "Constant" and isinstance(term.value, (int, float)) and not isinstance(term.value, bool):
        return float(term.value)
    if term.kind == "UnaryOp" and term.args[0].kind == "Constant":
        inner = _number(term.args[0])
        return None if inner is None else -inner
    return None


def _shared_linear_term(bodies: Sequence[Term], pulls_back: Callable[[Term], bool]) -> Term | None:
    """A term of array values that every body is linear in (one with the fewest axes), or None. `pulls_back(t)`:
    t is a call linear in its first argument (a pullback's g) and in no other."""
    candidates = None
    for body in bodies:
        found = set(_subterms(body))
        candidates = found if candidates is None else candidates & found
    best = None
    for r in candidates or ():
        if not r.ndim or r.kind in ("Constant", "Slice", "Tuple", "List") or r.kind == "Attribute" and r.value != "T":
            continue
        if all(_degree(body, r, {}, pulls_back) == 1 for body in bodies):
            if best is None or r.ndim < best.ndim or r.ndim == best.ndim and _size(r) > _size(best):
                best = r  # of two with as many axes, the outer one: it takes more of the work before the factor
    return best


def _subterms(term: Term) -> list[Term]:
    out, stack, seen = [], [term], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(t)
        stack.extend(t.args)
    return out


def _size(term: Term) -> int:
    return len(_subterms(term))


def _degree(term: Term, r: Term, known: dict[int, int | None], pulls_back: Callable[[Term], bool]) -> int | None:
    """The degree of `term` in `r` (0: r not in it, 1: linear), None where it is neither."""
    if term is r:
        return 1
    if id(term) in known:
        return known[id(term)]
    parts = [_degree(a, r, known, pulls_back) for a in term.args]
    if all(p == 0 for p in parts):
        found: int | None = 0
    elif any(p is None for p in parts):
        found = None
    elif term.kind == "BinOp" and term.value in ("@", "*"):
        found = parts[0] + parts[1]
    elif term.kind == "BinOp" and term.value in ("+", "-"):
        found = parts[0] if parts[0] == parts[1] else None  # r + Y is not linear in r
    elif term.kind == "BinOp" and term.value == "/":
        found = parts[0] if parts[1] == 0 else None
    elif term.kind in ("UnaryOp", "Subscript", "List") or term.kind == "Attribute" and term.value in LINEAR_METHODS:
        found = sum(parts) if term.kind == "List" else parts[0] if term.kind != "Subscript" or parts[1] == 0 else None
    elif term.kind == "Call" and pulls_back(term):  # g ⊙ f'(u) in one call: linear in g, u left as it is
        found = parts[1] if parts[0] == 0 and all(p == 0 for p in parts[2:]) else None
    elif term.kind == "Call" and _linear_call(term):
        found = sum(parts[1:]) if parts[0] == 0 else parts[0] if all(p == 0 for p in parts[1:]) else None
    else:
        found = None
    if found is not None and found > 1:
        found = None
    known[id(term)] = found
    return found


def _linear_call(term: Term) -> bool:
    """np.vdot(x, y), np.einsum('...', x, y), x.sum(axis=0): linear in each array operand."""
    func = term.args[0]
    if func.kind == "Name":  # a helper of the generated source (_chain3)
        return func.value in MULTILINEAR
    if func.kind != "Attribute":
        return False
    if func.value in MULTILINEAR:
        return func.args[0].kind in ("Name", "Attribute")  # np.vdot, np.linalg.multi_dot, oe.contract
    return func.value in LINEAR_METHODS


def _replace(low: "Lowering", term: Term, r: Term, scaled: Term) -> Term:
    """`term` with `scaled` in place of `r`."""
    return low.rebuilt([term], lambda t: (scaled, True) if t is r else (t, False))[0]
