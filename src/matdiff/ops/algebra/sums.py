"""Sums, `+` and `-`: the `add` entry and its smart constructor, with `sub`, `neg` and `scale`.

A sum is kept canonical: flat, like terms merged (`X + X` is `2 * X`), zeros dropped, and what the
terms share taken out: a scalar factor, a common left or right matrix factor (`A @ X + A.T @ X` is
`(A + A.T) @ X`), a common vector of outer products, a common denominator where that is shorter.
Every rewrite is an identity that holds for all sizes; `tests/test_simplify.py` checks each one.
"""
from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import compress, count
from operator import is_not

from ...dims import Shape
from ...expr import Node, make
from ..registry import Absent, Code, Op, Words, register

# ---- sums -------------------------------------------------------------------------------------


def split_coefficient(node: Node) -> tuple[float, Node]:
    """(c, body) with node == c * body and body free of a numeric coefficient."""
    if node.op == "const":
        return node.params[0], ONE
    if node.op == "mul" and node.args[0].op == "const":
        rest = node.args[1:]
        body = rest[0] if len(rest) == 1 else make("mul", rest, (), node.shape)
        if body.shape != node.shape:  # the coefficient was what broadcast; keep it whole
            return 1.0, node
        return node.args[0].params[0], body
    return 1.0, node


def add(*terms: Node) -> Node:
    extended = _extended_sum(terms)
    return extended if extended is not None else _canonical_sum(terms)


def _canonical_sum(terms: tuple[Node, ...]) -> Node:
    """The sum of `terms` with every rewrite of this module applied (`add` without its shortcut for
    terms added to a wide sum, which gives the same node)."""
    flat: list[Node] = []
    for t in terms:
        if t.op == "add":
            flat.extend(t.args)
            continue
        c, body = split_coefficient(t)
        if body.op == "add" and body.shape == t.shape:  # x - 2 * (a + b) is x - 2 * a - 2 * b
            flat.extend(scale(c, u) for u in body.args)
        else:
            flat.append(t)
    shape = broadcast_shapes("+", flat)
    coefficients: dict[Node, float] = {}
    for t in flat:
        c, body = split_coefficient(t)
        if is_zero(body) or c == 0.0:
            continue
        if body.op == "ones":  # a block of ones is the number 1, broadcast (the shape is kept below)
            body = ONE
        coefficients[body] = coefficients.get(body, 0.0) + c
    kept = [scale(c, body) for body, c in coefficients.items() if c != 0.0]
    for identity in _TERM_IDENTITIES:
        rewritten = identity(kept) if len(kept) > 1 else None
        if rewritten is not None:
            return broadcast_to(add(*rewritten), shape)
    if len(kept) > 1:
        kept = _merge_diagonals(kept)
    if len(kept) > 1:
        stripped = _without_broadcast_ones(kept, shape)
        if stripped is not kept:  # what was stripped may be a like term or a sum now: 1 + ones(n) / 3
            return broadcast_to(add(*stripped), shape)
    if len(kept) > 1:
        kept = _expand_for_cancellation(kept)
    if len(kept) > 1:
        kept = _collect_common_factors(kept)
        # positive terms first and transposed leaves after their originals (stable): `s - y`, `A + A.T`
        kept.sort(key=lambda t: (split_coefficient(t)[0] < 0, split_coefficient(t)[1].op == "transpose"))
    if len(kept) > 1:
        common = {split_coefficient(t)[0] for t in kept}
        if len(common) == 1 and common != {1.0}:  # 2 * a + 2 * b = 2 * (a + b)
            return broadcast_to(scale(common.pop(), add(*(split_coefficient(t)[1] for t in kept))), shape)
    if not kept:
        return zeros(shape)
    if len(kept) == 1:
        only = kept[0]
        return only if only.shape == shape else mul(only, ones(shape))
    if broadcast_shapes("+", kept) != shape:
        kept.append(zeros(shape))
    return make("add", tuple(kept), (), shape)


# Identities of sums whose terms belong to an operation declared elsewhere (tril's: tril(T) + tril(T)ᵀ −
# diag(diag(T)) = T for a symmetric T): its module declares them with `sum_identity`.
_TERM_IDENTITIES: list = []


def sum_identity(rule) -> None:
    """Declare `rule(terms)`: the like-term-merged terms of a sum rewritten as fewer terms with the same sum,
    or None where no identity applies."""
    _TERM_IDENTITIES.append(rule)


# The identities a rule sets aside while it builds the sum it compares its own with (per thread: a derivation
# in one thread must not change another's answer)
_LEFT_OUT: ContextVar[frozenset[str]] = ContextVar("matdiff_sum_identities_left_out", default=frozenset())


@contextmanager
def without_identity(name: str) -> Iterator[None]:
    """Build sums without the named identity (`identity_left_out` tells its rule) until the block ends."""
    token = _LEFT_OUT.set(_LEFT_OUT.get() | {name})
    try:
        yield
    finally:
        _LEFT_OUT.reset(token)


def identity_left_out(name: str) -> bool:
    return name in _LEFT_OUT.get()


def sub(a: Node, b: Node) -> Node:
    broadcast_shapes("-", (a, b))
    return add(a, neg(b))


def neg(a: Node) -> Node:
    return scale(-1.0, a)


def scale(c: float, a: Node) -> Node:
    return a if c == 1.0 else mul(const(c), a)


def _merge_diagonals(terms: list[Node]) -> list[Node]:
    """c1 * diag(u) + c2 * diag(v) = diag(c1 * u + c2 * v)."""
    diagonal = [i for i, t in enumerate(terms) if split_coefficient(t)[1].op == "diag"
                and split_coefficient(t)[1].args[0].ndim == 1]
    if len(diagonal) < 2:
        return terms
    vectors = [scale(c, body.args[0]) for c, body in (split_coefficient(terms[i]) for i in diagonal)]
    merged = diag(add(*vectors))
    return [merged if i == diagonal[0] else t for i, t in enumerate(terms) if i == diagonal[0] or i not in diagonal]


def _without_broadcast_ones(terms: list[Node], shape: Shape) -> list[Node]:
    """s * ones(n, m) + X is s + X, outer(ones(n), v) + X is v + X: the sum broadcasts them anyway."""
    stripped = [_broadcast_ones_stripped(t) for t in terms]
    if stripped == terms or broadcast_shapes("+", stripped) != shape:
        return terms
    return stripped


def _broadcast_ones_stripped(t: Node) -> Node:
    """t without the blocks of ones that only broadcast it (t itself where there are none)."""
    if t.op == "ones":
        return ONE
    if t.op == "outer" and t.args[0].op == "ones":  # a row copied down: NumPy broadcasts it
        return t.args[1]
    if t.op == "mul":
        args = [_broadcast_ones_stripped(f) for f in t.args]
        return t if all(a is f for a, f in zip(args, t.args)) else mul(*args)
    if t.op == "div":
        numerator = _broadcast_ones_stripped(t.args[0])
        return t if numerator is t.args[0] else div(numerator, t.args[1])
    return t


_EXPANSION_LIMIT = 16


def _expand_for_cancellation(terms: list[Node]) -> list[Node]:
    """Multiply out elementwise products of sums when that cancels terms:
    -y ⊙ (1 - s) + (1 - y) ⊙ s = s - y. Left as it is when nothing cancels."""
    if not any(t.op == "mul" and any(f.op == "add" for f in t.args) for t in terms):
        return terms
    monomials: dict[Node, float] = {}
    count = 0
    for t in terms:
        c, body = split_coefficient(t)
        expansion: list[tuple[float, list[Node]]] = [(c, [])]
        for factor in (body.args if body.op == "mul" else (body,)):
            if factor.op == "add" and len(expansion) * len(factor.args) > _EXPANSION_LIMIT:
                return terms  # too many products, known before they are formed (a wide sum as a factor)
            choices = [split_coefficient(x) for x in factor.args] if factor.op == "add" else [(1.0, factor)]
            expansion = [(c1 * c2, fs + ([] if f is ONE else [f])) for c1, fs in expansion for c2, f in choices]
            if len(expansion) > _EXPANSION_LIMIT:
                return terms
        for c, factors in expansion:
            # each monomial through the constructors, so that s ** 2 * (X / s) and s * X are one key
            c_body, body = split_coefficient(mul(const(c), *factors) if factors else const(c))
            monomials[body] = monomials.get(body, 0.0) + c_body
            count += 1
            if count > _EXPANSION_LIMIT:
                return terms
    kept = [(c, body) for body, c in monomials.items() if c != 0.0]
    if len(kept) >= count or len(kept) > len(terms):
        return terms
    return [scale(c, body) for c, body in kept]  # the sum restores the broadcast shape


def _collect_common_factors(terms: list[Node]) -> list[Node]:
    """Factor out what terms share: a scalar factor common to all of them (s * A + s * B = s * (A + B)),
    a common right or left factor of matrix products (c1 * P1 @ F + c2 * P2 @ F = (c1 * P1 + c2 * P2) @ F),
    and a common vector of outer products (outer(a1, b) - outer(a2, b) = outer(a1 - a2, b))."""
    common = _common_powers(terms)
    if common:  # s (1 - s)² - s² (1 - s) = s (1 - s) ((1 - s) - s)
        shape = broadcast_shapes("+", terms)
        stripped = [mul(*(power(base, const(e - common.get(base, 0.0))) for base, e in _powers_of(t)
                          if base.op != "ones" and e != common.get(base))) for t in terms]
        return [broadcast_to(mul(*(power(base, const(e)) for base, e in common.items()), add(*stripped)), shape)]
    for side in (-1, 0):
        terms = _factor_side(terms, side)
    for side in (1, 0):
        terms = _factor_outer(terms, side)
    return _factor_denominators(terms)


def _quotient(body: Node) -> tuple[Node, Node] | None:
    """(numerator, denominator) of a quotient, scalars in front included: s * (a / d) is (s * a, d)."""
    scalars, array = split_scalars(body)
    if array.op != "div":
        return None
    return mul(*scalars, array.args[0]), array.args[1]


def _power_of(d: Node) -> tuple[Node, float]:
    """A denominator as base ** exponent: √u is u ** 0.5, u ** 3 is (u, 3), anything else (d, 1)."""
    if d.op == "pow" and d.args[1].op == "const":
        return d.args[0], d.args[1].params[0]
    if d.op == "sqrt":
        return d.args[0], 0.5
    return d, 1.0


def _factor_denominators(terms: list[Node]) -> list[Node]:
    """a / s + b / s = (a + b) / s; and over powers of one base, a / √u + b / u ** 1.5 =
    (a u + b) / u ** 1.5, but only where that is shorter to write (terms cancel in the numerator);
    otherwise the quotients stay as they are, as the Cookbook writes I / ‖x‖ - x xᵀ / ‖x‖³."""
    def same_factor(group):
        split = [split_coefficient(t) for t in group]
        numerators = [scale(c, _quotient(body)[0]) for c, body in split]
        return div(_sum_with_common_coefficient(numerators), _quotient(split[0][1])[1])

    def base_factor(group):
        parts = []
        for t in group:
            c, body = split_coefficient(t)
            numerator, denominator = _quotient(body)
            parts.append((scale(c, numerator), _power_of(denominator)))
        base = parts[0][1][0]
        top = max(e for _, (_, e) in parts)
        combined = div(add(*(mul(n, power(base, const(top - e))) for n, (_, e) in parts)), power(base, const(top)))
        if written_size(combined) >= sum(map(written_size, group)):
            return None  # nothing cancelled: keep the quotients
        return combined

    return _factor_common(_factor_common(terms, _denominator_key, same_factor), _denominator_base_key, base_factor)


def _denominator_key(body: Node):
    q = _quotient(body)
    return None if q is None else (q[1], body.shape)


def _denominator_base_key(body: Node):
    q = _quotient(body)
    return None if q is None else (_power_of(q[1])[0], body.shape)


def _factors_of(term: Node) -> tuple[Node, ...]:
    return term.args if term.op == "mul" else (term,)


def _powers_of(term: Node) -> list[tuple[Node, float]]:
    """A product as (base, exponent) pairs, numbers as their own base: 2 * s ** 2 * X is
    [(2, 1), (s, 2), (X, 1)]."""
    return [(f.args[0], f.args[1].params[0]) if f.op == "pow" and f.args[1].op == "const" else (f, 1.0)
            for f in _factors_of(term)]


def _common_powers(terms: list[Node]) -> dict[Node, float]:
    """The factors every term has, each to the least power it has anywhere (numbers excepted)."""
    common: dict[Node, float] = {base: e for base, e in _powers_of(terms[0])
                                 if base.op not in ("const", "ones") and e > 0}
    for t in terms[1:]:
        if not common:
            break
        found = dict(_powers_of(t))
        common = {base: min(e, found[base]) for base, e in common.items() if found.get(base, 0.0) > 0}
    return common


def _factor_common(terms: list[Node], key_of, factor) -> list[Node]:
    """Group the terms whose `key_of(body)` (body: the term without its numeric coefficient) is the
    same and not None; replace each group of two or more by `factor(group)`, in the place of its
    first member (or keep the group as it is where `factor` returns None). The key is cheap; the
    factoring is done only for terms that do share a part."""
    keys = [key_of(split_coefficient(t)[1]) for t in terms]
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            groups.setdefault(key, []).append(i)
    if all(len(members) == 1 for members in groups.values()):
        return terms
    out: list[Node] = []
    factored: dict[object, Node | None] = {}
    for i, t in enumerate(terms):
        members = groups.get(keys[i]) if keys[i] is not None else None
        if not members or len(members) == 1:
            out.append(t)
            continue
        if members[0] == i:
            factored[keys[i]] = factor([terms[j] for j in members])
        if factored[keys[i]] is None:  # declined: each term stays in its place, so that the sum of the
            out.append(t)              # printed terms, in their order, is this sum again
        elif members[0] == i:
            out.append(factored[keys[i]])
    return out


def _factor_side(terms: list[Node], side: int) -> list[Node]:
    """c1 * P1 @ F + c2 * P2 @ F = (c1 * P1 + c2 * P2) @ F (side -1), and F @ ... (side 0).
    The longest run of factors the group shares comes out at once: peeling one factor per nesting
    level would rebuild every remainder once per level, quadratic in the length of the chains."""
    def factor(group):
        # each term as (its number and scalar factors, its chain): the multipliers stay with the
        # remainders, s A X + s B X = (s A + s B) X = s (A + B) X
        split = [([const(c), *scalars], array)
                 for c, (scalars, array) in ((c, split_scalars(body)) for c, body in map(split_coefficient, group))]
        chains = [body.args for _, body in split]
        limit = min(len(c) for c in chains) - 1  # every remainder keeps a factor
        shared = min(limit, *(_shared_run(chains[0], c, side) for c in chains[1:]))
        if side == -1:
            rests = [mul(*factors, subchain(body, 0, len(body.args) - shared)) for factors, body in split]
            common = subchain(split[0][1], len(chains[0]) - shared, len(chains[0]))
            return matmul(_sum_with_common_coefficient(rests), common)
        rests = [mul(*factors, subchain(body, shared, len(body.args))) for factors, body in split]
        return matmul(subchain(split[0][1], 0, shared), _sum_with_common_coefficient(rests))

    return _factor_common(terms, lambda body: _chain_end_key(body, side), factor)


def _shared_run(a: tuple[Node, ...], b: tuple[Node, ...], side: int) -> int:
    """How many factors two chains share at their start (side 0) or end (side -1), counted without a
    Python loop: the run can be as long as the chains."""
    whole = min(len(a), len(b))
    if side == -1:
        a, b = reversed(a), reversed(b)
    return next(compress(count(), map(is_not, a, b)), whole)  # the first place where they differ


def _chain_end_key(body: Node, side: int):
    """The factor at one end of a term's chain (side -1: the last, 0: the first), None where no term
    could share it."""
    scalars, array = split_scalars(body)
    if array.op != "matmul" or array.args[side].op == "kron":
        return None  # a Kronecker factor is distributed over sums where it merges, not taken out
    # keyed by shape too: terms that only broadcast together never share a factor
    return array.args[side], array.shape


def _factor_outer(terms: list[Node], side: int) -> list[Node]:
    """outer(a1, b) - outer(a2, b) = outer(a1 - a2, b) (side 1), and outer(a, b1) + ... (side 0)."""
    def factor(group):
        split = [split_coefficient(t) for t in group]
        combined = _sum_with_common_coefficient([scale(c, body.args[1 - side]) for c, body in split])
        vector = split[0][1].args[side]
        return outer(combined, vector) if side == 1 else outer(vector, combined)

    return _factor_common(terms, lambda body: _outer_vector_key(body, side), factor)


def _outer_vector_key(body: Node, side: int):
    return body.args[side] if body.op == "outer" else None


def _sum_with_common_coefficient(terms: list[Node]) -> Node:
    """c * a + c * b as c * (a + b) when every term has the same numeric coefficient c."""
    coefficients = {split_coefficient(t)[0] for t in terms}
    if len(coefficients) == 1 and len(terms) > 1:
        (c,) = coefficients
        if c != 1.0:
            return scale(c, add(*(split_coefficient(t)[1] for t in terms)))
    return add(*terms)


# ---- wide sums: terms added one at a time -------------------------------------------------------
#
# `e = e + term` in a loop would read every term of e again at each step (quadratic in the number of
# terms). So a wide sum keeps what the rewrites above look at in its terms (its profile); adding terms
# to it reads only the new ones, and where no rewrite can apply, the sum is the old terms and the new
# ones in their places of the sort: the node `_canonical_sum` builds. Anything else (like terms to
# merge, a factor or a denominator to share, two diagonals, ...) takes the full path.


@dataclass(frozen=True, slots=True)
class _Summand:
    """What the rewrites of a sum look at in one term (kept on the term, computed once)."""
    coefficient: float
    body: Node
    plain: bool  # kept as it is: c * body is the term itself, not zero, not a block of ones
    spreads: bool  # given to `add` it would be flattened or distributed: a sum, or c * (a + b)
    diagonal: bool
    strips: bool  # carries a block of ones that only broadcasts it
    powers: dict  # base -> exponent, as `_common_powers` reads the term
    keys: tuple  # its key for each grouping of `_collect_common_factors`, in their order
    place: int  # its place in the sort: 0 positive, 1 positive transposed, 2 negative, 3 negative transposed


def _summand(t: Node) -> _Summand:
    c, body = split_coefficient(t)
    return _Summand(
        coefficient=c, body=body,
        plain=c != 0.0 and not is_zero(body) and body.op != "ones" and scale(c, body) is t,
        spreads=t.op == "add" or (body.op == "add" and body.shape == t.shape),
        diagonal=body.op == "diag" and body.args[0].ndim == 1,
        strips=_broadcast_ones_stripped(t) is not t,
        powers=dict(_powers_of(t)),
        keys=(_chain_end_key(body, -1), _chain_end_key(body, 0), _outer_vector_key(body, 1),
              _outer_vector_key(body, 0), _denominator_key(body), _denominator_base_key(body)),
        place=2 * (c < 0) + (body.op == "transpose"))


@dataclass(slots=True)
class _Profile:
    """A wide sum's terms, as the rewrites see them. Owned by one sum node at a time: adding terms
    hands it on, updated, to the new sum (the old one reads its terms again if it is extended again)."""
    ends: list[int]  # where each place of the sort ends among the terms: the sum's arguments, but a block
    # of zeros at the end that keeps its shape
    bodies: set
    keys: tuple[set, ...]
    diagonals: int
    common: dict  # `_common_powers` of the terms
    coefficients: set  # two at most: all that matters is whether the terms share one
    scales: dict  # number c -> is c * term read as (c, term) for every term (see `_scales_plainly`)
    shape: Shape  # the sum's
    terms_shape: Shape  # the terms' own broadcast shape


# sum node -> its profile, or None where a sum cannot be extended this way (held weakly, as nodes are)
_PROFILES: "weakref.WeakKeyDictionary[Node, _Profile | None]" = weakref.WeakKeyDictionary()
_UNREAD = object()


def _profile(node: Node) -> _Profile | None:
    """Read a sum's terms once: None where the shortcut cannot apply to it."""
    args = node.args
    count = len(args) - 1 if is_zero(args[-1]) else len(args)
    facts = [_summand_of(t) for t in args[:count]]
    if count < _EXPANSION_LIMIT or any(not f.plain or f.strips or f.spreads for f in facts):
        return None
    places = [f.place for f in facts]
    if places != sorted(places):
        return None
    first_powers = {base: e for base, e in facts[0].powers.items() if base.op not in ("const", "ones") and e > 0}
    profile = _Profile(ends=[0, 0, 0, 0], bodies=set(), keys=tuple(set() for _ in facts[0].keys), diagonals=0,
                       common=first_powers, coefficients=set(), scales={}, shape=broadcast_shapes("+", args),
                       terms_shape=broadcast_shapes("+", args[:count]))
    if not _admits(profile, facts):
        return None
    _take_in(profile, facts)
    return profile


def _summand_of(t: Node) -> _Summand:
    return t.cached("summand", _summand)


def _admits(profile: _Profile, facts: list[_Summand]) -> bool:
    """Do these terms, added to the profile's, leave every rewrite of the sum nothing to do?"""
    bodies, keys = set(), tuple(set() for _ in profile.keys)
    common = profile.common
    coefficients = set(profile.coefficients)
    for f in facts:
        if f.body in profile.bodies or f.body in bodies:
            return False  # like terms, to be merged
        bodies.add(f.body)
        for key, taken, new in zip(f.keys, profile.keys, keys):
            if key is not None:
                if key in taken or key in new:
                    return False  # a factor, a vector or a denominator that two terms share
                new.add(key)
        if common:
            common = {base: min(e, f.powers[base]) for base, e in common.items() if f.powers.get(base, 0.0) > 0}
        if len(coefficients) < 2:
            coefficients.add(f.coefficient)
    if common or profile.diagonals + sum(f.diagonal for f in facts) > 1:
        return False
    return not (len(coefficients) == 1 and coefficients != {1.0})


def _take_in(profile: _Profile, facts: list[_Summand]) -> None:
    """The profile of the sum with these terms too (`_admits` said they add nothing to rewrite)."""
    for f in facts:
        for place in range(f.place, 4):
            profile.ends[place] += 1
        profile.bodies.add(f.body)
        for key, taken in zip(f.keys, profile.keys):
            if key is not None:
                taken.add(key)
        profile.diagonals += f.diagonal
        if profile.common:
            profile.common = {base: min(e, f.powers[base]) for base, e in profile.common.items()
                              if f.powers.get(base, 0.0) > 0}
        if len(profile.coefficients) < 2:
            profile.coefficients.add(f.coefficient)
        profile.scales = {c: plainly and _scales_plainly(c, f) for c, plainly in profile.scales.items()}


def _scales_plainly(c: float, f: _Summand) -> bool:
    """Is c * t read back as the coefficient c and the term t (t: f's term, with coefficient 1)? Then
    c * (sum of such terms) spreads into the terms c * t with nothing else changed."""
    return f.coefficient == 1.0 and split_coefficient(scale(c, f.body)) == (c, f.body)


def _extended_sum(terms: tuple[Node, ...]) -> Node | None:
    """The sum of a wide sum and a few terms before or after it, where no rewrite applies; else None.
    The wide sum may be c * (a sum) and the terms c * t with the same number c: the sum of them all
    is c * (the sum and the t's), which the full path finds by spreading c over every term."""
    wide = [i for i, t in enumerate(terms) if t.op == "add" or t.op == "mul" and t.args[-1].op == "add"]
    if len(wide) != 1 or len(terms) == 1:
        return None
    c, old = split_coefficient(terms[wide[0]])
    if old.op != "add" or len(old.args) < _EXPANSION_LIMIT or old.shape != terms[wide[0]].shape:
        return None
    before, after = terms[:wide[0]], terms[wide[0] + 1:]
    if c == 1.0:
        return _appended(old, before, after)
    if any(_summand_of(t).coefficient != c for t in (*before, *after)):
        return None
    inner = _appended(old, [_summand_of(t).body for t in before], [_summand_of(t).body for t in after], scale_by=c)
    return None if inner is None else scale(c, inner)


def _appended(old: Node, before, after, scale_by: float = 1.0) -> Node | None:
    """old (a wide sum) with terms before and after it, where no rewrite applies; else None. With
    scale_by = c, also where c * (old + terms) spreads over each term plainly (`_scales_plainly`)."""
    facts_before, facts_after = [_summand_of(t) for t in before], [_summand_of(t) for t in after]
    if any(f.spreads or not f.plain or f.strips for f in (*facts_before, *facts_after)):
        return None
    profile = _PROFILES.pop(old, _UNREAD)  # taken, so that no other thread extends the same profile
    if profile is _UNREAD:
        profile = _profile(old)
    # the broadcast shapes, continued from the sum's (a clash takes the full path, which says so)
    shape, terms_shape = (None, None) if profile is None else (profile.shape, profile.terms_shape)
    for t in (*before, *after):
        shape, terms_shape = _broadcast_with(shape, t.shape), _broadcast_with(terms_shape, t.shape)
    if shape is None or not _admits(profile, facts_before + facts_after) \
            or scale_by != 1.0 and not _scales_all_plainly(old, profile, scale_by, facts_before + facts_after):
        _PROFILES[old] = profile
        return None
    # the sort is stable: in each place, the new terms before the sum's, then its own, then those after
    args: list[Node] = []
    start = 0
    for place, end in enumerate(profile.ends):
        args.extend(t for t, f in zip(before, facts_before) if f.place == place)
        args.extend(old.args[start:end])
        args.extend(t for t, f in zip(after, facts_after) if f.place == place)
        start = end
    if terms_shape != shape:
        args.append(zeros(shape))
    node = make("add", tuple(args), (), shape)
    if node in _PROFILES:  # built before: it has its own profile
        _PROFILES[old] = profile
    else:
        _take_in(profile, facts_before + facts_after)
        profile.shape, profile.terms_shape = shape, terms_shape
        _PROFILES[node] = profile
    return node


def _scales_all_plainly(old: Node, profile: _Profile, c: float, facts: list[_Summand]) -> bool:
    """Does c spread plainly over the profile's terms (read once for each c) and the new ones?"""
    if c not in profile.scales:
        profile.scales[c] = profile.coefficients == {1.0} and \
            all(_scales_plainly(c, _summand_of(t)) for t in old.args[:profile.ends[-1]])
    return profile.scales[c] and all(_scales_plainly(c, f) for f in facts)


def _broadcast_with(shape: Shape | None, other: Shape) -> Shape | None:
    """NumPy's broadcast of two shapes, as `broadcast_shapes` folds them; None where they clash."""
    if shape is None or not other:
        return shape
    return _broadcast_pair(shape, other) if shape else other


def _eval_add(node, args, sizes):
    total = args[0]
    for a in args[1:]:
        total = total + a
    return total


def _pull_add(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    return [(t, unbroadcast(g, t.shape)) for t in node.args if needed(t)]


def _d_add(node: Node, d) -> Node:
    return add(*(broadcast_to(x, node.shape) for x in d if x is not None))


def _vec_add(node: Node, jacobians) -> Node:
    return add(*(broadcast_jacobian(j, t.shape, node.shape) for t, j in zip(node.args, jacobians) if j is not None))


def _lower_add(low, node: Node):
    """A sum, written with `-` for negative terms; T + T.T computes T once (a symmetric Hessian)."""
    parts = [split_coefficient(t) for t in node.args]
    # the places of each (body, coefficient), in order: a term's partner c * Tᵀ is found without scanning
    # the other terms (a scan for each term is quadratic in the length of a sum)
    places: dict[tuple[Node, float], deque[int]] = {}
    for j, (c, body) in enumerate(parts):
        places.setdefault((body, c), deque()).append(j)
    signed = []
    done: set[int] = set()
    for i, (c, body) in enumerate(parts):
        if i in done:
            continue
        done.add(i)
        code = low.term(body)
        if body.ndim == 2 and not is_symmetric(body):
            waiting = places.get((transpose(body), c))
            while waiting and waiting[0] in done:  # each place is passed over once: terms before this one,
                waiting.popleft()                  # and partners already taken
            if waiting:
                done.add(waiting.popleft())  # the first partner after this term, as the sum orders them
                code = low.spell("plus_transpose", code, ndim=2)
        signed.append((c, code))
    return low.signed_sum(signed, node.ndim)


def _bounds_add(node: Node, bounds_of) -> tuple[float, float]:
    intervals = [bounds_of(t) for t in node.args]
    return sum(i[0] for i in intervals), sum(i[1] for i in intervals)


def _add_words(node: Node, slot: int, fused: bool) -> list:
    a = node.args[slot]
    if a.shape == node.shape:
        return ["subtraction" if split_coefficient(a)[0] < 0 else "addition"]
    if not a.shape:
        return ["scalar added to every entry (sum of all entries)"]
    if a.ndim == 1 or (a.ndim == 2 and a.shape[0] == 1):
        return ["row-broadcast addition (sum over rows)"]
    return ["column-broadcast addition (sum over columns)"]


def _index_add(ix, node: Node, idx: tuple):
    """(A + B)[i,j] = A[i,j] + B[i,j], operands broadcast; a sum without dX is written out only where
    its terms are simple: (tanh(U) - Y)[i,j] stays one atom rather than multiplied out."""
    if not ix.has_dx(node) and not all(_written_out(t) for t in node.args):
        return None
    return [t for arg in node.args for t in ix.of_argument(arg, node, idx)]


def _written_out(node: Node) -> bool:
    """Summands worth writing out in index form: variables, their transposes, identities, numbers."""
    if node.op in ("var", "eye", "const", "dim"):
        return True
    if node.op == "transpose":
        return _written_out(node.args[0])
    if node.op == "mul" and len(node.args) == 2 and node.args[0].op == "const":
        return _written_out(node.args[1])
    return False


register(Op("add", _eval_add, text="+", unicode="+", latex="+",
            names=Absent("an operator of the language: a + b, a - b"), index=_index_add,
            pullback=_pull_add, differential=_d_add, vec_jacobian=_vec_add,
            words=Words(_add_words),
            identity=Absent("the Frobenius product is linear, A : (B + C) = A : B + A : C, an identity of the "
                            "differential route's own"),
            vec_identity=Absent("vec is linear, vec(A + B) = vec A + vec B: no rule of its own"),
            code=Code(lower=_lower_add, bounds=_bounds_add, reuse_transpose=True)))

# Late imports: the operations the rules above build (their modules import this one).
from .leaves import ONE, const, is_zero, ones, zeros  # noqa: E402
from .broadcasting import _broadcast_pair, broadcast_jacobian, broadcast_shapes, broadcast_to, unbroadcast  # noqa: E402
from .products import div, mul, power, split_scalars  # noqa: E402
from .chains import matmul, subchain  # noqa: E402
from .transposition import is_symmetric, transpose, written_size  # noqa: E402
from ..structure import diag, outer  # noqa: E402
