"""Leaves and the arithmetic of the language: constants, variables, dimensions, `+ - * / ** @ .T`.

Each operation's smart constructor checks shapes (NumPy broadcasting for the elementwise ones) and
keeps nodes canonical, so that equal values built in different ways tend to be the same node:
- sums are flat, like terms merged (`X + X` is `2 * X`), zeros dropped, and a common left or right
  matrix factor collected (`A @ X + A.T @ X` is `(A + A.T) @ X`);
- products are flat, numeric coefficients folded to the front, scalar factors before arrays;
- `@` chains are flat where vectors stay at the ends, scalar factors are pulled out, identities
  dropped, `F @ inv(F)` cancelled, Kronecker mixed products formed, and a chain that yields a vector
  ends with its vector (`B.T @ x` rather than `x @ B`);
- transposes are pushed through `@`, sums and scalar factors down to the leaves; a symmetric
  operand is its own transpose.
Every rewrite is an identity that holds for all sizes; `tests/test_simplify.py` checks each one.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..dims import Dim, Shape, VarSpec, dim_value, format_shape, size_of
from ..errors import NotSupportedError, ShapeError
from ..expr import Node, make
from .registry import Op, register

# ---- leaves ---------------------------------------------------------------------------------


def const(value: float) -> Node:
    value = float(value)
    if value == 0.0:
        value = 0.0  # one zero, not two
    return make("const", (), (value,), ())


def var(name: str, shape: Shape = (), properties: frozenset[str] = frozenset()) -> Node:
    return make("var", (), (name, frozenset(properties), tuple(shape)), tuple(shape))


def var_from_spec(spec: VarSpec) -> Node:
    return var(spec.name, spec.shape, spec.properties)


def dim(d: Dim) -> Node:
    """A dimension used as a number (`n` in `sum(x) / n`): a scalar constant of unknown size."""
    if isinstance(d, int):
        return const(float(d))
    if not isinstance(d, str):  # n·m as the product of its symbols, as it prints and parses
        return mul(const(float(d.coefficient)), *(dim(symbol) for symbol in d.symbols))
    return make("dim", (), (d,), ())


def eye(d: Dim) -> Node:
    return make("eye", (), (d,), (d, d))


def ones(shape: Shape) -> Node:
    return const(1.0) if not shape else make("ones", (), tuple(shape), tuple(shape))


def zeros(shape: Shape) -> Node:
    return const(0.0) if not shape else make("zeros", (), tuple(shape), tuple(shape))


def commutation(m: Dim, n: Dim) -> Node:
    """K with K @ vec(A) == vec(A.T) for an m×n matrix A."""
    if m == 1 or n == 1:
        return eye(size_of((m, n)))
    return make("commutation", (), (m, n), (size_of((m, n)), size_of((m, n))))


ONE = const(1.0)
ZERO = const(0.0)


def is_const(node: Node, value: float | None = None) -> bool:
    return node.op == "const" and (value is None or node.params[0] == value)


def is_zero(node: Node) -> bool:
    return node.op == "zeros" or is_const(node, 0.0)


def _commutation_matrix(m: int, n: int) -> np.ndarray:
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[i * n + j, j * m + i] = 1.0
    return k


register(Op("const", lambda node, args, sizes: np.asarray(node.params[0])))
register(Op("var", lambda node, args, sizes: sizes["$values"][node.params[0]]))
register(Op("dim", lambda node, args, sizes: np.asarray(float(dim_value(node.params[0], sizes))),
            text="dim"))
register(Op("eye", lambda node, args, sizes: np.eye(dim_value(node.params[0], sizes)),
            text="eye", unicode="I", latex="I"))
register(Op("ones", lambda node, args, sizes: np.ones(tuple(dim_value(d, sizes) for d in node.shape)),
            text="ones", unicode="𝟙", latex=r"\mathbf{1}"))
register(Op("zeros", lambda node, args, sizes: np.zeros(tuple(dim_value(d, sizes) for d in node.shape)),
            text="zeros", unicode="0", latex=r"\mathbf{0}"))
register(Op("commutation",
            lambda node, args, sizes: _commutation_matrix(*(dim_value(d, sizes) for d in node.params)),
            text="commutation", unicode="K", latex="K"))

# ---- symmetry -------------------------------------------------------------------------------


def is_symmetric(node: Node) -> bool:
    """A square matrix known to equal its transpose for every value of its variables."""
    if node.ndim != 2 or node.shape[0] != node.shape[1]:
        return False
    return node.cached("symmetric", _symmetric)


def _symmetric(node: Node) -> bool:
    op = node.op
    if op == "var":
        return bool(node.params[1] & {"sym", "spd"})
    if op in ("eye", "zeros", "ones", "diag"):
        return True
    if op == "commutation":
        return node.params[0] == node.params[1]
    if op == "outer":
        return node.args[0] is node.args[1]
    if op in ("add", "mul", "div", "pow", "inv", "kron") or (op in _ELEMENTWISE_UNARY):
        # scalars broadcast symmetrically; a vector broadcast along rows does not
        return all(a.ndim == 0 or is_symmetric(a) for a in node.args)
    if op == "matmul":
        factors = node.args
        k = len(factors)
        for i in range(k // 2):
            if transpose(factors[i]) is not factors[k - 1 - i]:
                return False
        return k % 2 == 0 or is_symmetric(factors[k // 2])
    return False


def transposes_in(node: Node) -> int:
    """How many transposes an expression spells out (memoised per node)."""
    if not node.args:
        return 0
    return node.cached("transposes", lambda n: (n.op == "transpose") + sum(transposes_in(a) for a in n.args))


def written_size(node: Node) -> int:
    """How many nodes the expression has written out as a tree (shared parts counted each time)."""
    return node.cached("written size", lambda n: 1 + sum(written_size(a) for a in n.args))


def transposed_spelling_is_simpler(x: Node) -> bool:
    """f(Mᵀ...) for a function with f(M)ᵀ = f(Mᵀ): is f(transpose(M))ᵀ the canonical spelling?

    Of f(M) and f(Mᵀ)ᵀ, the one whose argument spells out fewer transposes is kept (ties: as written),
    so that inv(X.T @ A.T @ X) and inv(X.T @ A @ X).T are one node."""
    if x.ndim != 2 or transposes_in(x) == 0:
        return False
    return transposes_in(transpose(x)) < transposes_in(x)


# Filled by `elementwise.py`: the unary elementwise functions (they commute with transposition).
_ELEMENTWISE_UNARY: set[str] = set()

# ---- shapes ---------------------------------------------------------------------------------


def broadcast_shapes(symbol: str, operands: Sequence[Node]) -> Shape:
    """NumPy broadcasting of symbolic shapes; an error names the two operands that clash."""
    shape: Shape = ()
    first: Node | None = None
    for node in operands:
        s = node.shape
        if not s:
            continue
        if not shape:
            shape, first = s, node
            continue
        merged = _broadcast_pair(shape, s)
        if merged is None:
            raise ShapeError(shape_mismatch(symbol, first, node, "cannot be broadcast together"), (first, node))
        if merged != shape:
            first = node
        shape = merged
    return shape


def _broadcast_pair(a: Shape, b: Shape) -> Shape | None:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def shape_mismatch(symbol: str, left: Node | None, right: Node, why: str) -> str:
    """'W @ X: W is m×q but X is n×q (q ≠ n)'-style text; the parser swaps in the user's spelling."""
    lt, rt = _describe(left), _describe(right)
    ls = format_shape(left.shape) if left is not None else "?"
    rs = format_shape(right.shape)
    return f"{lt} {symbol} {rt}: {lt} is {ls} but {rt} is {rs} ({why})"


def _describe(node: Node | None) -> str:
    if node is None:
        return "?"
    text = str(node)
    return text if len(text) <= 40 else text[:37] + "..."


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
    if len(kept) > 1:
        kept = _merge_diagonals(kept)
    if len(kept) > 1:
        kept = _without_broadcast_ones(kept, shape)
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
    def strip(t: Node) -> Node:
        if t.op == "ones":
            return ONE
        if t.op == "outer" and t.args[0].op == "ones":  # a row copied down: NumPy broadcasts it
            return t.args[1]
        if t.op == "mul":
            args = [strip(f) for f in t.args]
            return t if all(a is f for a, f in zip(args, t.args)) else mul(*args)
        if t.op == "div":
            numerator = strip(t.args[0])
            return t if numerator is t.args[0] else div(numerator, t.args[1])
        return t

    stripped = [strip(t) for t in terms]
    if stripped == terms or broadcast_shapes("+", stripped) != shape:
        return terms
    return stripped


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
    def same_key(body):
        q = _quotient(body)
        return None if q is None else (q[1], body.shape)

    def same_factor(group):
        split = [split_coefficient(t) for t in group]
        numerators = [scale(c, _quotient(body)[0]) for c, body in split]
        return div(_sum_with_common_coefficient(numerators), _quotient(split[0][1])[1])

    def base_key(body):
        q = _quotient(body)
        return None if q is None else (_power_of(q[1])[0], body.shape)

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

    return _factor_common(_factor_common(terms, same_key, same_factor), base_key, base_factor)


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
    for i, t in enumerate(terms):
        members = groups.get(keys[i]) if keys[i] is not None else None
        if not members or len(members) == 1:
            out.append(t)
        elif members[0] == i:
            factored = factor([terms[j] for j in members])
            out.extend([terms[j] for j in members] if factored is None else [factored])  # None: declined
    return out


def _factor_side(terms: list[Node], side: int) -> list[Node]:
    """c1 * P1 @ F + c2 * P2 @ F = (c1 * P1 + c2 * P2) @ F (side -1), and F @ ... (side 0).
    The longest run of factors the group shares comes out at once: peeling one factor per nesting
    level would rebuild every remainder once per level, quadratic in the length of the chains."""
    def key_of(body):
        scalars, array = split_scalars(body)
        if array.op != "matmul" or array.args[side].op == "kron":
            return None  # a Kronecker factor is distributed over sums where it merges, not taken out
        # keyed by shape too: terms that only broadcast together never share a factor
        return array.args[side], array.shape

    def factor(group):
        # each term as (its number and scalar factors, its chain): the multipliers stay with the
        # remainders, s A X + s B X = (s A + s B) X = s (A + B) X
        split = [([const(c), *scalars], array)
                 for c, (scalars, array) in ((c, split_scalars(body)) for c, body in map(split_coefficient, group))]
        chains = [body.args for _, body in split]
        shared = 1
        limit = min(len(c) for c in chains) - 1  # every remainder keeps a factor
        while shared < limit:
            at = -shared - 1 if side == -1 else shared
            if any(c[at] is not chains[0][at] for c in chains[1:]):
                break
            shared += 1
        if side == -1:
            rests = [mul(*factors, subchain(body, 0, len(body.args) - shared)) for factors, body in split]
            common = subchain(split[0][1], len(chains[0]) - shared, len(chains[0]))
            return matmul(_sum_with_common_coefficient(rests), common)
        rests = [mul(*factors, subchain(body, shared, len(body.args))) for factors, body in split]
        return matmul(subchain(split[0][1], 0, shared), _sum_with_common_coefficient(rests))

    return _factor_common(terms, key_of, factor)


def _factor_outer(terms: list[Node], side: int) -> list[Node]:
    """outer(a1, b) - outer(a2, b) = outer(a1 - a2, b) (side 1), and outer(a, b1) + ... (side 0)."""
    def key_of(body):
        return body.args[side] if body.op == "outer" else None

    def factor(group):
        split = [split_coefficient(t) for t in group]
        combined = _sum_with_common_coefficient([scale(c, body.args[1 - side]) for c, body in split])
        vector = split[0][1].args[side]
        return outer(combined, vector) if side == 1 else outer(vector, combined)

    return _factor_common(terms, key_of, factor)


def _sum_with_common_coefficient(terms: list[Node]) -> Node:
    """c * a + c * b as c * (a + b) when every term has the same numeric coefficient c."""
    coefficients = {split_coefficient(t)[0] for t in terms}
    if len(coefficients) == 1 and len(terms) > 1:
        (c,) = coefficients
        if c != 1.0:
            return scale(c, add(*(split_coefficient(t)[1] for t in terms)))
    return add(*terms)


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


register(Op("add", _eval_add, text="+", unicode="+", latex="+",
            pullback=_pull_add, differential=_d_add, vec_jacobian=_vec_add))


def broadcast_jacobian(jac: Node, source: Shape, target: Shape) -> Node:
    """J of x broadcast to `target`, from the J of x (of shape `source`)."""
    if source == target:
        return jac
    if not source:
        return outer(ones((size_of(target),)), jac) if jac.ndim == 1 else matmul(ones((size_of(target), 1)), jac)
    if len(target) == 2 and (len(source) == 1 or source[0] == 1):  # rows: vec(1 lᵀ) = (I ⊗ 1) l
        n, m = target
        return matmul(transpose(kron(eye(m), ones((n,)))), jac)
    if len(target) == 2 and source == (target[0], 1):  # columns: vec(l 1ᵀ) = (1 ⊗ I) l
        n, m = target
        return matmul(transpose(kron(ones((m,)), eye(n))), jac)
    # a single entry, (1,) or (1, 1), copied everywhere
    return matmul(outer(ones((size_of(target),)), ones((size_of(source),))), jac)


def vec_broadcast(u: Node, target: Shape) -> Node:
    """vec(u broadcast to `target`) as an expression (u itself for a vector of that length)."""
    if u.shape == target:
        return vec(u) if u.ndim == 2 else u
    if len(target) == 2 and u.ndim == 1:  # vec(1 uᵀ) = u ⊗ 1
        return kron(u, ones((target[0],)))
    if len(target) == 2 and u.shape == (1, target[1]):
        return kron(vec(u), ones((target[0],)))
    if len(target) == 2 and u.shape == (target[0], 1):  # vec(u 1ᵀ) = 1 ⊗ u
        return kron(ones((target[1],)), vec(u))
    return mul(u, ones((size_of(target),))) if not u.shape else vec(mul(u, ones(target)))


def scale_jacobian(jac: Node, u: Node, linear_shape: Shape, target: Shape) -> Node:
    """J of u ⊙ l (broadcast to `target`) from the J of l (of shape `linear_shape`)."""
    if not u.shape:
        return mul(u, broadcast_jacobian(jac, linear_shape, target))
    if not linear_shape:  # vec(u l) = vec(u) l: an outer product with l's row
        return outer(vec_broadcast(u, target), jac)
    return matmul(diag(vec_broadcast(u, target)), broadcast_jacobian(jac, linear_shape, target))


def _single(node: Node, jacobians) -> int:
    found = [i for i, j in enumerate(jacobians) if j is not None]
    if len(found) != 1:
        raise NotSupportedError(f"{node.op} is not linear in the differential")
    return found[0]


def unbroadcast(g: Node, shape: Shape) -> Node:
    """The cotangent of an operand that NumPy broadcast to g's shape: sum over the copied axes."""
    if g.shape == shape:
        return g
    if not shape:
        return sum_(g)
    if len(shape) == 1 and len(g.shape) == 2:
        if shape[0] == 1 and g.shape[1] != 1:
            return mul(sum_(g), ones((1,)))
        return sum_(g, 0)
    if len(shape) == 1 and len(g.shape) == 1:  # (1,) broadcast to (n,)
        return mul(sum_(g), ones((1,)))
    if len(shape) == 2 and len(g.shape) == 2:
        rows = sum_(g, 1) if shape[1] == 1 and g.shape[1] != 1 else None
        if rows is not None and shape[0] == g.shape[0]:
            return outer(rows, ones((1,)))
        if shape[0] == 1 and g.shape[0] != 1 and shape[1] == g.shape[1]:
            return outer(ones((1,)), sum_(g, 0))
        return mul(sum_(g), ones(shape))
    if len(shape) == 2 and len(g.shape) == 1:  # (1, n) or (1, 1) broadcast against a vector
        return outer(ones((1,)), g) if shape[1] != 1 else mul(sum_(g), ones(shape))
    raise AssertionError(f"unbroadcast {g.shape} -> {shape}")


def broadcast_to(x: Node, shape: Shape) -> Node:
    """x as NumPy broadcasts it to `shape` (for differentials of broadcasting operations)."""
    return x if x.shape == shape else mul(x, ones(shape))


# ---- products ---------------------------------------------------------------------------------


def split_scalars(node: Node) -> tuple[list[Node], Node]:
    """([scalar factors], array part) of an array-valued product; ([], node) otherwise."""
    if node.op == "mul" and node.ndim > 0:
        scalars = [f for f in node.args if not f.shape]
        if scalars:
            arrays = tuple(f for f in node.args if f.shape)
            if len(arrays) == 1 and arrays[0].shape == node.shape:
                return scalars, arrays[0]
            rest = make("mul", arrays, (), broadcast_shapes("*", arrays))
            if rest.shape == node.shape:
                return scalars, rest
    return [], node


def split_divisor(node: Node) -> tuple[Node, Node | None]:
    """(A, s) for an array divided by a scalar, A / s; (node, None) otherwise."""
    if node.op == "div" and node.ndim > 0 and not node.args[1].shape and node.args[0].shape == node.shape:
        return node.args[0], node.args[1]
    return node, None


def mul(*factors: Node) -> Node:
    flat: list[Node] = []
    for f in factors:
        flat.extend(f.args if f.op == "mul" else (f,))
    shape = broadcast_shapes("*", flat)
    quotients = [f for f in flat if f.op == "div"]
    # factors that stay in front of a quotient: numbers, and scalars when the product is an array
    # (so that @ can still pull them out)
    outside = [f for f in flat if f.op == "const" or (shape and not f.shape and f.op != "div")]
    inside = [f for f in flat if f.op != "div" and not any(f is o for o in outside)]
    if quotients:
        denominator = mul(*(q.args[1] for q in quotients))
        scalars_in_front = [f for f in outside if f.op != "const"]
        if scalars_in_front and _cancel_common_factors(mul(*scalars_in_front), denominator) is not None:
            inside, outside = inside + scalars_in_front, [f for f in outside if f.op == "const"]
        if len(quotients) > 1 or inside:
            # x * (a / b) = (x * a) / b: one quotient per product
            numerator = mul(*inside, *(q.args[0] for q in quotients))
            return broadcast_to(mul(*outside, div(numerator, denominator)), shape)
    coefficient = 1.0
    exponents: dict[Node, list[float]] = {}  # base -> exponents, in order of first appearance
    for f in flat:
        if f.op == "const":
            coefficient *= f.params[0]
        elif is_zero(f):
            return zeros(shape)
        elif f.op == "ones":
            continue  # the final shape check below restores any broadcasting it did
        elif f.op == "pow" and f.args[1].op == "const":
            exponents.setdefault(f.args[0], []).append(f.args[1].params[0])
        elif f.op == "sqrt":  # u √u is u ** 1.5
            exponents.setdefault(f.args[0], []).append(0.5)
        else:
            exponents.setdefault(f, []).append(1.0)
    if coefficient == 0.0:
        return zeros(shape)
    rest = []
    for base, found in exponents.items():
        merged = power(base, const(sum(found)))  # x * x is x ** 2; x * x ** -1 is 1
        if merged.op == "const":
            coefficient *= merged.params[0]
        elif merged.op != "ones":
            rest.append(merged)
    rest.sort(key=lambda f: 0 if not f.shape else 1)  # scalar factors first (stable)
    if not rest and coefficient == 1.0:
        return ones(shape)
    args = ([const(coefficient)] if coefficient != 1.0 or not rest else []) + rest
    if broadcast_shapes("*", args) != shape:
        args.append(ones(shape))
    if len(shape) == 2 and all(f.ndim != 1 for f in args) and sum(f.ndim == 2 for f in args) > 1 and \
            sum(map(transposes_in, args)) > sum(transposes_in(transpose(f)) for f in args):
        # (A ⊙ B)ᵀ = Aᵀ ⊙ Bᵀ: of the two spellings keep the one with fewer transposes inside
        return transpose(mul(*(transpose(f) for f in args)))
    if len(args) == 1:
        return args[0]
    if len(shape) == 2:
        column = next((f for f in args if f.op == "outer" and f.args[1].op == "ones"), None)
        if column is not None:
            others = mul(*(f for f in args if f is not column))
            if others.shape == shape:  # outer(v, 1) ⊙ M = diag(v) M, as the textbook writes it
                return matmul(diag(column.args[0]), others)
        row = next((f for f in args if f.op == "outer" and f.args[0].op == "ones"), None)
        if row is not None:
            others = [f for f in args if f is not row]
            if broadcast_shapes("*", others) == shape:  # outer(1, v) ⊙ M = v ⊙ M: NumPy broadcasts rows
                return mul(*others, row.args[1])
    return make("mul", tuple(args), (), shape)


def _eval_mul(node, args, sizes):
    out = args[0]
    for a in args[1:]:
        out = out * a
    return out


def _pull_mul(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    out = []
    for i, f in enumerate(node.args):
        if needed(f):
            others = [x for j, x in enumerate(node.args) if j != i]
            out.append((f, unbroadcast(mul(g, *others), f.shape)))
    return out


def _d_mul(node: Node, d) -> Node:
    terms = []
    for i, di in enumerate(d):
        if di is not None:
            others = [x for j, x in enumerate(node.args) if j != i]
            terms.append(mul(di, *others))
    return add(*terms)


def _vec_mul(node: Node, jacobians) -> Node:
    i = _single(node, jacobians)
    others = mul(*(f for j, f in enumerate(node.args) if j != i))
    return scale_jacobian(jacobians[i], others, node.args[i].shape, node.shape)


register(Op("mul", _eval_mul, text="*", unicode="⊙", latex=r"\odot",
            pullback=_pull_mul, differential=_d_mul, vec_jacobian=_vec_mul))


def div(a: Node, b: Node) -> Node:
    shape = broadcast_shapes("/", (a, b))
    if is_const(b, 1.0):
        return broadcast_to(a, shape)
    if a.op == "const" and b.op == "const":
        return const(_fold(lambda: a.params[0] / b.params[0], a, b, "/"))
    if b.op == "const" and b.params[0] != 0.0 and len(repr(1.0 / b.params[0])) <= 6:
        return broadcast_to(scale(1.0 / b.params[0], a), shape)  # X / 2 is 0.5 * X: one spelling
    if is_zero(a):
        return zeros(shape)
    if a is b:
        return ones(shape)
    if a.op == "ones" and b.shape == shape:  # ones / X = 1 / X
        return div(ONE, b)
    if a.op == "transpose" and a.args[0].op == "div" and not b.shape:
        # (M / v)ᵀ / s = (M / (v s))ᵀ: quotients merge under a transpose that cannot move inside them
        return transpose(div(a.args[0], b))
    if a.op == "exp" and a.ndim == 1 and b.op == "sum" and b.args[0] is a and b.params[0] is None:
        return softmax(a.args[0])  # exp(x) / sum(exp(x)) is softmax(x)
    c, body = split_coefficient(a)
    if c != 1.0:
        return scale(c, div(body, b))
    cancelled = _cancel_common_factors(a, b)
    if cancelled is not None:  # (s ** 2 * X) / s = s * X
        return broadcast_to(div(*cancelled), shape)
    if shape and not a.shape and a.op != "const":  # s / X is s * (1 / X): scalars stand in front
        return mul(a, div(ONE, b))
    scalars, array = split_scalars(a)
    if scalars and array is not a:  # (s * A) / B = s * (A / B): scalars stay where @ can pull them out
        return mul(*scalars, div(array, b))
    cb, body_b = split_coefficient(b)
    if cb == -1.0:
        return neg(div(a, body_b))
    if cb != 1.0 and len(repr(1.0 / cb)) <= 6:  # a / (2 * s) = 0.5 * (a / s): numbers in front
        return scale(1.0 / cb, div(a, body_b))
    if a.op == "div":  # (x / y) / b = x / (y * b)
        return div(a.args[0], mul(a.args[1], b))
    if b.op == "div":  # a / (x / y) = (a * y) / x
        return div(mul(a, b.args[1]), b.args[0])
    return make("div", (a, b), (), shape)


def _powers(node: Node) -> dict[Node, float]:
    """node as a product of powers base ** exponent (numeric exponents), coefficients left out."""
    found: dict[Node, float] = {}
    for f in (node.args if node.op == "mul" else (node,)):
        if f.op == "const" or f.op == "ones":
            continue
        base, e = (f.args[0], f.args[1].params[0]) if f.op == "pow" and f.args[1].op == "const" else (f, 1.0)
        found[base] = found.get(base, 0.0) + e
    return found


def _cancel_common_factors(a: Node, b: Node) -> tuple[Node, Node] | None:
    top, bottom = _powers(a), _powers(b)
    common = [base for base in top if base in bottom and top[base] > 0 and bottom[base] > 0]
    if not common:
        return None
    for base in common:
        e = min(top[base], bottom[base])
        top[base] -= e
        bottom[base] -= e
    c_top, _ = split_coefficient(a)
    c_bottom, _ = split_coefficient(b)
    numerator = mul(const(c_top), *(power(base, const(e)) for base, e in top.items() if e))
    denominator = mul(const(c_bottom), *(power(base, const(e)) for base, e in bottom.items() if e))
    return numerator, denominator


def _fold(compute, a: Node, b: Node, symbol: str) -> float:
    try:
        value = compute()
    except (ZeroDivisionError, OverflowError, ValueError):
        value = float("nan")
    if not math.isfinite(value):
        raise ShapeError(f"{a} {symbol} {b}: the constant result is not a finite number", (a, b))
    return value


def _pull_div(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    a, b = node.args
    out = []
    if needed(a):
        out.append((a, unbroadcast(div(g, b), a.shape)))
    if needed(b):
        out.append((b, unbroadcast(neg(div(mul(g, a), power(b, const(2.0)))), b.shape)))
    return out


def _d_div(node: Node, d) -> Node:
    a, b = node.args
    da, db = d
    terms = []
    if da is not None:
        terms.append(div(da, b))
    if db is not None:
        terms.append(neg(mul(div(a, power(b, const(2.0))), db)))
    return add(*terms)


def _vec_div(node: Node, jacobians) -> Node:
    a, b = node.args
    if _single(node, jacobians) != 0:
        raise NotSupportedError("a quotient is not linear in its denominator")
    if not b.shape:
        return div(broadcast_jacobian(jacobians[0], a.shape, node.shape), b)
    return scale_jacobian(jacobians[0], div(ONE, b), a.shape, node.shape)


register(Op("div", lambda node, args, sizes: args[0] / args[1], text="/", unicode="/", latex="/",
            pullback=_pull_div, differential=_d_div, vec_jacobian=_vec_div))


def power(a: Node, p: Node) -> Node:
    shape = broadcast_shapes("**", (a, p))
    if p.op == "const":
        e = p.params[0]
        if e == 1.0:
            return broadcast_to(a, shape)
        if e == 0.0:
            return ones(shape)
        if a.op == "const":
            return const(_fold(lambda: a.params[0] ** e, a, p, "**"))
        if e < 0:  # x ** -2 is 1 / x ** 2: one spelling (and NumPy refuses integer ** negative)
            return div(broadcast_to(ONE, shape), power(a, const(-e)))
        if a.op == "pow" and a.args[1].op == "const":
            inner = a.args[1].params[0]
            if float(inner).is_integer() and float(e).is_integer():
                return power(a.args[0], const(inner * e))
        if e == 0.5:
            return sqrt(a)
        if a.op == "sqrt":  # √u ** e = u ** (e / 2) wherever √u is defined (u ≥ 0)
            return power(a.args[0], const(e / 2))
        if a.op == "mul" and float(e).is_integer():  # (2 * s ** 2) ** 2 = 4 * s ** 4
            return mul(*(power(f, p) for f in a.args))
    return make("pow", (a, p), (), shape)


def _pull_pow(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    a, p = node.args
    out = []
    if a.op == "norm2" and is_const(p, 2.0) and not needed(p):
        # d ||u||² = 2 u : du, stated directly so the answer never shows ||u|| * u / ||u||.
        u = a.args[0]
        return [(u, mul(const(2.0), g, u))] if needed(u) else []
    if needed(a):
        slope = mul(p, power(a, add(p, const(-1.0))))
        out.append((a, unbroadcast(mul(g, slope), a.shape)))
    if needed(p):
        out.append((p, unbroadcast(mul(g, node, log_(a)), p.shape)))
    return out


def _d_pow(node: Node, d) -> Node:
    a, p = node.args
    da, dp = d
    terms = []
    if da is not None:
        terms.append(mul(p, power(a, add(p, const(-1.0))), da))
    if dp is not None:
        terms.append(mul(node, log_(a), dp))
    return add(*terms)


register(Op("pow", lambda node, args, sizes: np.power(args[0], args[1]), text="**", unicode="^", latex="^",
            pullback=_pull_pow, differential=_d_pow))


# ---- matrix products --------------------------------------------------------------------------


def matmul_shape(a: Node, b: Node) -> Shape:
    for x in (a, b):
        if not x.shape:
            raise ShapeError(f"{_describe(a)} @ {_describe(b)}: {_describe(x)} is a scalar, "
                             f"but @ needs a vector or matrix on both sides (use * to scale)", (a, b))
    inner_a = a.shape[-1]
    inner_b = b.shape[0]
    if inner_a != inner_b:
        ia, ib = ("columns", "rows") if a.ndim == 2 else ("length", "length")
        if b.ndim == 1:
            ib = "length"
        raise ShapeError(shape_mismatch("@", a, b, f"{ia} {inner_a} ≠ {ib} {inner_b}"), (a, b))
    return a.shape[:-1] + b.shape[1:]


def chain_factors(node: Node) -> tuple[Node, ...]:
    return node.args if node.op == "matmul" else (node,)


def matmul(a: Node, b: Node) -> Node:
    shape = matmul_shape(a, b)
    scalars_a, a = split_scalars(a)
    scalars_b, b = split_scalars(b)
    scalars = scalars_a + scalars_b
    a, divisor_a = split_divisor(a)
    b, divisor_b = split_divisor(b)
    if divisor_a is not None or divisor_b is not None:  # (A / s) @ B = (A @ B) / s
        divisor = mul(*(d for d in (divisor_a, divisor_b) if d is not None))
        return mul(*scalars, div(matmul(a, b), divisor))
    if is_zero(a) or is_zero(b):
        return zeros(shape)
    left = chain_factors(a)
    if len(left) > 1 and left[-1].ndim != 2:
        # (F v) @ B is vᵀ Fᵀ B: the vector leads, so that vectors stay at the ends of one flat chain
        left = (left[-1],) + tuple(transpose(f) for f in reversed(left[:-1]))
    right = chain_factors(b)
    if len(right) > 1 and right[0].ndim != 2:
        right = (b,)
    product = _chain(list(left) + list(right), shape)
    return mul(*scalars, product) if scalars else product


def _distribute_kron(a: Node, b: Node) -> Node | None:
    """(P ⊗ Q)(A + B) as (P ⊗ Q)A + (P ⊗ Q)B where every product merges (the mixed-product rule,
    (P ⊗ Q)(R ⊗ S) = PR ⊗ QS), so that a vec form reads term by term as the Cookbook writes it."""
    for k, s, k_left in ((a, b, True), (b, a, False)):
        if k.op == "kron" and s.op == "add" and all(t.shape == s.shape for t in s.args):
            products = [matmul(k, t) if k_left else matmul(t, k) for t in s.args]
            if not any(p.op == "matmul" and any(f is k for f in p.args) for p in products):  # all merged
                return add(*products)
    return None


def subchain(chain: Node, start: int, stop: int) -> Node:
    """chain.args[start:stop] as a product. The factors of a built chain already fit and merge no
    further, so a run of matrices is the node as the constructor would make it, without checks."""
    factors = chain.args[start:stop]
    if len(factors) == 1:
        return factors[0]
    if all(f.ndim == 2 for f in factors):
        return make("matmul", factors, (), (factors[0].shape[0], factors[-1].shape[1]))
    return matmul_chain(factors)


def matmul_chain(factors: Sequence[Node]) -> Node:
    """F1 @ F2 @ ... @ Fk (left to right), through the constructor.

    Plain matrices (no scalar factor, no quotient, no zeros) are joined in one pass, so that long
    chains cost linear, not quadratic, time; anything else goes pairwise through `matmul`."""
    if len(factors) > 2 and all(f.ndim == 2 and f.op not in ("mul", "div", "zeros") for f in factors):
        flat: list[Node] = []
        for left, right in zip(factors, factors[1:]):
            matmul_shape(left, right)  # the same shape errors as pairwise
        for f in factors:
            flat.extend(chain_factors(f))
        return _chain(flat, (factors[0].shape[0], factors[-1].shape[1]))
    out = factors[0]
    for f in factors[1:]:
        out = matmul(out, f)
    return out


def _chain(factors: list[Node], shape: Shape) -> Node:
    stack: list[Node] = []
    for f in factors:
        if f.op == "eye" and (stack or f is not factors[-1] or len(factors) > 1):
            continue
        if stack and (f.op in _MERGING or stack[-1].op in _MERGING or f.op == stack[-1].op == "diag"):
            merged = _merge_adjacent(stack[-1], f)
            if merged is not None:
                stack.pop()
                if merged.op != "eye":
                    stack.append(merged)
                continue
        stack.append(f)
    if not stack:
        return eye(shape[0])
    has_kron = any(f.op == "kron" for f in stack)
    for i in range(len(stack) - 1 if has_kron else 0):
        distributed = _distribute_kron(stack[i], stack[i + 1])
        if distributed is not None:
            return matmul_chain([*stack[:i], distributed, *stack[i + 2:]]) if len(stack) > 2 else distributed
    if stack[0].ndim == 1 and stack[-1].ndim == 2:
        # x @ B @ C is the vector C.T @ B.T @ x: a chain that gives a vector ends with its vector.
        stack = [transpose(f) for f in reversed(stack)]
        # the transposed factors may themselves simplify against each other
        if any(f.op == "matmul" for f in stack):
            return matmul_chain(stack)
    if len(stack) > 2 and stack[0].ndim == 1 and stack[-1].ndim == 1:
        # aᵀ M b = bᵀ Mᵀ a: of the two spellings keep the one with fewer transposes (a @ X @ b)
        flipped = [transpose(f) for f in reversed(stack)]
        if sum(f.op == "transpose" for f in flipped) < sum(f.op == "transpose" for f in stack) \
                and not any(f.op == "matmul" for f in flipped):
            stack = flipped
    if len(stack) == 1:
        return stack[0]
    if len(stack) == 2 and stack[0].ndim == stack[1].ndim == 1 and any(f.op == "ones" for f in stack):
        return sum_(stack[1] if stack[0].op == "ones" else stack[0])  # vᵀ 1 is the sum of v
    for i in range(len(stack) - 2 if has_kron else 0):
        summed = _column_sums(*stack[i:i + 3])
        if summed is not None:
            return matmul_chain([*stack[:i], summed, *stack[i + 3:]])
    if _is_gram_form(stack):  # vᵀ Bᵀ B v = ‖B v‖²
        half = len(stack) // 2
        return power(norm2(matmul_chain(stack[half:])), const(2.0))
    return make("matmul", tuple(stack), (), shape)


def _column_sums(p: Node, d: Node, q: Node) -> Node | None:
    """(I ⊗ 1ᵀ) diag(vec M) (I ⊗ 1ᵀ)ᵀ = diag(sum(M, axis=0)) and (1ᵀ ⊗ I) diag(vec M) (1ᵀ ⊗ I)ᵀ =
    diag(sum(M, axis=1)): summing a broadcast vector's copies back (vectors in kron are rows)."""
    if p.op != "kron" or d.op != "diag" or d.args[0].op != "vec" or q is not transpose(p):
        return None
    m = d.args[0].args[0]
    if m.ndim != 2:
        return None
    left, right = p.args
    if left.op == "eye" and right.op == "ones" and right.ndim == 1 and m.shape == (right.shape[0], left.shape[0]):
        return diag(sum_(m, axis=0))
    if left.op == "ones" and left.ndim == 1 and right.op == "eye" and m.shape == (right.shape[0], left.shape[0]):
        return diag(sum_(m, axis=1))
    return None


def _is_gram_form(chain: list[Node]) -> bool:
    """v @ F1 @ ... @ Fk @ Fkᵀ @ ... @ F1ᵀ @ v: a vector, matrices mirrored by transposition, the vector."""
    k = len(chain)
    if k < 4 or k % 2 or chain[0] is not chain[-1] or chain[0].ndim != 1:
        return False
    return all(chain[-1 - i] is transpose(chain[i]) for i in range(1, k // 2))


# the operations `_merge_adjacent` has identities for (a quick test before the full look)
_MERGING = frozenset(("inv", "transpose", "commutation", "kron", "vec", "outer"))


def _merge_adjacent(x: Node, y: Node) -> Node | None:
    """x @ y as one factor when an identity applies to x @ y, or to yᵀ @ xᵀ (then transposed back):
    a printed spelling may show the transposed pair, and reading it back must give the same node."""
    merged = _merge_pair(x, y)
    if merged is None and x.ndim == 2 and y.ndim == 2 and (_flips_to_kron(x) or _flips_to_kron(y)):
        flipped = _merge_pair(transpose(y), transpose(x))
        if flipped is not None:
            return transpose(flipped)
    return merged


def _flips_to_kron(x: Node) -> bool:
    """Is xᵀ a Kronecker product or a commutation matrix (the one-sided identities of `_merge_pair`)?"""
    return x.op == "commutation" or (x.op == "transpose" and x.args[0].op == "kron")


def _merge_pair(x: Node, y: Node) -> Node | None:
    """x @ y as one factor when an identity applies (inverse pairs, Kronecker products), else None."""
    if x.op == "kron" and y.op == "vec" and all(a.ndim == 2 for a in x.args):
        p, q = x.args  # (P ⊗ Q) vec(V) = vec(Q V Pᵀ), for V of Q's columns × P's columns
        if y.args[0].shape == (q.shape[1], p.shape[1]):
            return vec(matmul_chain([q, y.args[0], transpose(p)]))
    if x.op == "outer" and x.args[1].op == "vec" and y.op == "kron" and all(a.ndim == 2 for a in y.args):
        p, q = y.args  # a vec(V)ᵀ (P ⊗ Q) = a vec(Qᵀ V P)ᵀ, for V of Q's rows × P's rows
        if x.args[1].args[0].shape == (q.shape[0], p.shape[0]):
            return outer(x.args[0], vec(matmul_chain([transpose(q), x.args[1].args[0], p])))
    if x.op == "commutation" and y.op == "vec" and y.args[0].shape == x.params:
        return vec(transpose(y.args[0]))  # K(m, n) vec(V) = vec(Vᵀ) for V m×n
    if x.op == "outer" and x.args[1].op == "vec" and y.op == "commutation" \
            and x.args[1].args[0].shape == tuple(reversed(y.params)):
        return outer(x.args[0], vec(transpose(x.args[1].args[0])))  # a vec(V)ᵀ K(m, n) = a vec(Vᵀ)ᵀ, V n×m
    if x.ndim != 2 or y.ndim != 2:
        return None
    if (y.op == "inv" and y.args[0] is x) or (x.op == "inv" and x.args[0] is y):
        return eye(x.shape[0])
    if x.op == "transpose" and y.op == "transpose":
        p, q = x.args[0], y.args[0]
        if (q.op == "inv" and q.args[0] is p) or (p.op == "inv" and p.args[0] is q):
            return eye(x.shape[0])
    if x.op == "kron" and y.op == "commutation" and _vector_and_identity(x):
        a, b = x.args  # (aᵀ ⊗ I_m) K(n, m) = I_m ⊗ aᵀ and (I_m ⊗ aᵀ) K(m, n) = aᵀ ⊗ I_m, a of length n
        if a.ndim == 1 and y.params == (a.shape[0], b.shape[0]):
            return kron(b, a)
        if b.ndim == 1 and y.params == (a.shape[0], b.shape[0]):
            return kron(b, a)
    if x.op == "diag" and y.op == "diag" and x.args[0].ndim == 1 and y.args[0].ndim == 1:
        return diag(mul(x.args[0], y.args[0]))  # diag(u) diag(v) = diag(u ⊙ v)
    if y.op == "kron" and x.op != "kron" and _vector_and_identity(y):
        a, b = y.args  # M (aᵀ ⊗ I) = aᵀ ⊗ M and M (I ⊗ aᵀ) = M ⊗ aᵀ, vectors as rows
        return kron(a, x) if a.ndim == 1 else kron(x, b)
    if x.op == "commutation" and y.op == "commutation" and x.params == tuple(reversed(y.params)):
        return eye(x.shape[0])
    if x.op == "kron" and y.op == "transpose" and y.args[0].op == "kron":
        found = _kron_times_transposed(x.args, y.args[0].args)
        if found is not None:
            return found
    if x.op == "kron" and y.op == "kron":
        (a, b), (c, d) = x.args, y.args  # (A ⊗ B)(C ⊗ D) = AC ⊗ BD; a vector A or B is a row
        if c.ndim == d.ndim == 2 and a.shape[-1] == c.shape[0] and b.shape[-1] == d.shape[0]:
            return kron(matmul(a, c), matmul(b, d))
    return None


def _kron_times_transposed(left: tuple[Node, Node], right: tuple[Node, Node]) -> Node | None:
    """(A ⊗ B)(C ⊗ D)ᵀ = ACᵀ ⊗ BDᵀ with vectors as rows: a row times a transposed row is a number,
    and a row next to a column makes an outer product, (a ⊗ I)(b ⊗ I)ᵀ = (a·b) I, (a ⊗ I)(I ⊗ b)ᵀ = b aᵀ."""
    parts = []
    for p, q in zip(left, right):
        if p.shape[-1] != q.shape[-1]:
            return None
        if p.ndim == 1 and q.ndim == 1:
            parts.append(("number", matmul(p, q)))
        elif p.ndim == 1:
            parts.append(("row", matmul(q, p)))
        elif q.ndim == 1:
            parts.append(("column", matmul(p, q)))
        else:
            parts.append(("matrix", matmul(p, transpose(q))))
    (k1, v1), (k2, v2) = parts
    if {k1, k2} == {"row", "column"}:
        return outer(v1, v2) if k1 == "column" else outer(v2, v1)
    if "number" in (k1, k2) and "matrix" in (k1, k2):
        return mul(v1, v2)
    if k1 in ("matrix", "row") and k2 in ("matrix", "row") and "matrix" in (k1, k2):
        return kron(v1, v2)
    return None


def _vector_and_identity(k: Node) -> bool:
    """kron(a, I) or kron(I, a) for a vector a (a row, as NumPy's kron takes it)."""
    a, b = k.args
    return (a.ndim == 1 and b.op == "eye") or (a.op == "eye" and b.ndim == 1)


def _eval_matmul(node, args, sizes):
    out = args[0]
    for a in args[1:]:
        out = out @ a
    return out


def grad_left(a: Node, b: Node, g: Node) -> Node:
    """Cotangent of A in C = A @ B (NumPy's 1-D rules included)."""
    if a.ndim == 2:
        return matmul(g, transpose(b)) if b.ndim == 2 else outer(g, b)
    return matmul(b, g) if b.ndim == 2 else mul(g, b)


def grad_right(a: Node, b: Node, g: Node) -> Node:
    """Cotangent of B in C = A @ B."""
    if b.ndim == 2:
        return matmul(transpose(a), g) if a.ndim == 2 else outer(a, g)
    return matmul(transpose(a), g) if a.ndim == 2 else mul(g, a)


def _pull_matmul(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    factors = node.args
    k = len(factors)
    # the products F_0..F_{i-1} and F_i..F_{k-1}, built once each (linear, not quadratic, in k)
    prefixes: list[Node | None] = [None] * (k + 1)
    suffixes: list[Node | None] = [None] * (k + 1)
    for i in range(1, k + 1):
        prefixes[i] = factors[0] if i == 1 else matmul(prefixes[i - 1], factors[i - 1])
    for i in range(k - 1, -1, -1):
        suffixes[i] = factors[i] if i == k - 1 else matmul(factors[i], suffixes[i + 1])
    out = []
    for i, f in enumerate(factors):
        if not needed(f):
            continue
        cot = g
        if i > 0:  # C = L @ M with M = F_i @ R
            cot = grad_right(prefixes[i], suffixes[i], cot)
        if i < k - 1:  # M = F_i @ R
            cot = grad_left(f, suffixes[i + 1], cot)
        out.append((f, cot))
    return out


def _d_matmul(node: Node, d) -> Node:
    factors = node.args
    terms = []
    for i, di in enumerate(d):
        if di is not None:
            terms.append(matmul_chain(list(factors[:i]) + [di] + list(factors[i + 1:])))
    return add(*terms)


def _vec_matmul(node: Node, jacobians) -> Node:
    """J of L @ F_i @ R from the J of F_i: vec(A M B) = (Bᵀ ⊗ A) vec(M), with the 1-D cases."""
    i = _single(node, jacobians)
    jac = jacobians[i]
    factors = node.args
    f = factors[i]
    left = matmul_chain(factors[:i]) if i > 0 else None
    right = matmul_chain(factors[i + 1:]) if i < len(factors) - 1 else None
    if f.ndim == 1:  # a vector factor stands at an end: A @ f, a @ f, f @ B or f @ b
        if left is not None:
            return matmul(left, jac)
        return matmul(transpose(right), jac) if right.ndim == 2 else matmul(right, jac)
    p, q = f.shape
    if left is None:
        lhs = eye(p)
    else:
        lhs = left  # a 1-D left factor a gives kron(., a) = (. ⊗ aᵀ), as NumPy's kron of 1-D by 2-D
    if right is None:
        rhs = eye(q)
    else:
        rhs = transpose(right) if right.ndim == 2 else right
    return matmul(kron(rhs, lhs), jac)


register(Op("matmul", _eval_matmul, text="@", unicode=" ", latex=" ",
            pullback=_pull_matmul, differential=_d_matmul, vec_jacobian=_vec_matmul))


# ---- transpose --------------------------------------------------------------------------------


def transpose(a: Node) -> Node:
    if a.ndim < 2:
        return a
    op = a.op
    if op == "transpose":
        return a.args[0]
    if is_symmetric(a):
        return a
    if op == "matmul":
        return matmul_chain([transpose(f) for f in reversed(a.args)])
    if op == "add" and all(t.ndim != 1 for t in a.args):  # a row-broadcast vector has no transpose term
        return add(*(transpose(t) for t in a.args))
    if op == "mul":
        scalars, array = split_scalars(a)
        if scalars and array is not a:
            return mul(*scalars, transpose(array))
    if op == "div":
        array, divisor = split_divisor(a)
        if divisor is not None:
            return div(transpose(array), divisor)
    if op == "zeros":
        return zeros(tuple(reversed(a.shape)))
    if op == "ones":
        return ones(tuple(reversed(a.shape)))
    if op == "commutation":
        return commutation(a.params[1], a.params[0])
    if op == "outer":
        return outer(a.args[1], a.args[0])
    if op == "kron" and a.args[0].ndim == 2 and a.args[1].ndim == 2:
        return kron(transpose(a.args[0]), transpose(a.args[1]))
    return make("transpose", (a,), (), (a.shape[1], a.shape[0]))


def _vec_transpose(node: Node, jacobians) -> Node:
    p, q = node.args[0].shape
    return matmul(commutation(p, q), jacobians[0])


register(Op("transpose", lambda node, args, sizes: np.transpose(args[0]), text=".T", unicode="ᵀ", latex=r"^\top",
            pullback=lambda node, g, needed: [(node.args[0], transpose(g))],
            differential=lambda node, d: transpose(d[0]),
            vec_jacobian=_vec_transpose))


# Late imports: the structural operations used by the rules above (they import this module).
from .structure import diag, kron, norm2, outer, softmax, sum_, vec  # noqa: E402
from .elementwise import log_, sqrt  # noqa: E402
