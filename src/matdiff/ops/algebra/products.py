"""Elementwise products, quotients and powers, `* / **`: the `mul`, `div` and `pow` entries and their
smart constructors.

Products are flat, numeric coefficients folded to the front, scalar factors before arrays, powers of
one base merged (`x * x` is `x ** 2`); a quotient is one per product, with common factors cancelled
(`(s ** 2 * X) / s` is `s * X`); a constant result that is not a finite number is a `ShapeError`.
Every rewrite is an identity that holds for all sizes; `tests/test_simplify.py` checks each one.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import NotSupportedError, ShapeError
from ...expr import Node, make
from ..registry import NOT_LINEAR, Absent, Code, Op, SpelledIdentity, Words, register

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
    if any(f.op == "relu" for f in flat):  # relu(u) ⊙ (u > 0) is relu(u): the indicator is 1 where relu(u) ≠ 0
        positive = {f.args[0] for f in flat if f.op == "relu"}
        flat = [f for f in flat if not (f.op in ("greater", "greater_equal") and f.args[0] in positive
                                        and is_const(f.args[1], 0.0))]
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
        # x * x is x ** 2; x * x ** -1 is 1 (a factor met once as itself is itself: no power to build)
        merged = base if found == [1.0] else power(base, const(sum(found)))
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
            (inside := sum(map(transposes_in, args))) and inside > sum(transposes_in(transpose(f)) for f in args):
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


def _lower_mul(low, node: Node):
    factors = list(node.args)
    negative = factors[0].op == "const" and factors[0].params[0] == -1.0
    if negative:  # -1 * X * Y is -(X * Y)
        factors = factors[1:]
    # a factor f'(u) whose function has a fused g ⊙ f'(u) (PyTorch's gelu_backward) takes the rest as g
    fused = next((f for f in factors if f.shape == node.shape and low.has_pullback(f)), None) if len(factors) > 1 \
        else None
    rest = [f for f in factors if f is not fused]
    # a comparison is a 0/1 array of floats; beside a floating factor its boolean array does (one pass fewer)
    floating = fused is not None or any(f.op not in _INDICATORS for f in rest)
    code = [low.factor(f) if floating and f.op in _INDICATORS else low.term(f) for f in rest]
    out = code[0]
    for c in code[1:]:
        out = low.binary("*", out, c, node.ndim)
    if fused is not None:
        out = low.pullback(out, fused)
    return low.negate(out) if negative else out


def _bounds_mul(node: Node, bounds_of) -> tuple[float, float]:
    lo, hi = 1.0, 1.0
    for f in node.args:
        flo, fhi = bounds_of(f)
        corners = [_times(x, y) for x in (lo, hi) for y in (flo, fhi)]
        lo, hi = min(corners), max(corners)
    return lo, hi


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0.0 or b == 0.0 else a * b  # 0 · ∞ is 0 here: a zero factor is exactly zero


def _mul_words(node: Node, slot: int, fused: bool) -> list:
    a, others = node.args[slot], [f for i, f in enumerate(node.args) if i != slot]
    if not a.shape and node.shape:
        return ["scalar times an array (sum of the entries of the product)"]
    if all(not f.shape for f in others):
        return ["scaling by ", mul(*others)]
    words = ["elementwise (Hadamard) product with ", mul(*others)]
    return words + ([" (broadcast, summed back)"] if a.shape != node.shape else [])


def _index_mul(ix, node: Node, idx: tuple):
    """(A ⊙ B)[i,j] = A[i,j] B[i,j], operands broadcast."""
    return ix.product(*(ix.of_argument(arg, node, idx) for arg in node.args))


register(Op("mul", _eval_mul, text="*", unicode="⊙", latex=r"\odot",
            names=Absent("an operator of the language: a * b"), index=_index_mul,
            pullback=_pull_mul, differential=_d_mul, vec_jacobian=_vec_mul,
            words=Words(_mul_words, names_operands=True),
            identity=Absent("a product moves across a Frobenius product by the identities of products, "
                            "A : (B ⊙ C) = (A ⊙ B) : C, the differential route's own"),
            vec_identity=SpelledIdentity("vec(U ⊙ X) = diag(vec U) vec X", "vec(U * X) = diag(vec(U)) @ vec(X)",
                                         r"\operatorname{vec}(U \odot X) = \operatorname{diag}(\operatorname{vec}U)"
                                         r"\operatorname{vec}X"),
            code=Code(lower=_lower_mul, bounds=_bounds_mul, reuse_transpose=True)))


def div(a: Node, b: Node) -> Node:
    shape = broadcast_shapes("/", (a, b))
    if is_const(b, 1.0):
        return broadcast_to(a, shape)
    if a.op == "const" and b.op == "const":
        return const(_fold(lambda: a.params[0] / b.params[0], a, b, "/"))
    if is_zero(b):  # NumPy's inf or nan everywhere: no derivative to give
        raise ShapeError(f"{_describe(a)} / {_describe(b)}: division by zero", (a, b))
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
    if (a.op, b.op) in _QUOTIENTS and a.args[0] is b.args[0]:  # sin(u) / cos(u) is tan(u), sinh / cosh is tanh
        return ELEMENTWISE[_QUOTIENTS[a.op, b.op]](a.args[0])
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


_QUOTIENTS = {("sin", "cos"): "tan", ("sinh", "cosh"): "tanh"}
_INDICATORS = frozenset({"greater", "less", "greater_equal", "less_equal", "equal"})  # comparisons: 0/1 arrays


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
    if isinstance(value, complex) or not math.isfinite(value):  # (-1) ** 0.5 is complex in Python, nan in NumPy
        shown = (f"({x})" if x.op == "const" and x.params[0] < 0 else str(x) for x in (a, b))
        raise ShapeError("{} {} {}: the constant result is not a finite real number".format(
            next(shown), symbol, next(shown)), (a, b))
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


def _index_div(ix, node: Node, idx: tuple):
    """(A / B)[i,j] = A[i,j] B[i,j]⁻¹, operands broadcast, for B free of dX."""
    a, b = node.args
    if ix.has_dx(b):
        return None
    numerator = ix.of_argument(a, node, idx)
    sub, fresh = ix.broadcast(b, node, idx)
    return ix.summing(ix.product(numerator, ix.reciprocal(b, sub)), fresh)


register(Op("div", lambda node, args, sizes: args[0] / args[1], text="/", unicode="/", latex="/",
            names=Absent("an operator of the language: a / b"), index=_index_div,
            pullback=_pull_div, differential=_d_div, vec_jacobian=_vec_div,
            words=Words(lambda node, slot, fused: ["division by ", node.args[1]] if slot == 0
                        else ["the divisor of a quotient"]),
            identity=SpelledIdentity("A : (B / c) = (A / c) : B", "A : (B / c) = (A / c) : B",
                                     r"A : (B / c) = (A / c) : B"),
            vec_identity=Absent("a quotient of dX by a scalar is a scaling, which no vec rule names"),
            code=Code(lower=lambda low, node: low.binary("/", *(low.term(a) for a in node.args), node.ndim),
                      reuse_transpose=True)))


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
        if e > 0 and a.op in _INDICATORS:  # a 0/1 array is its own power: (x > 0) ** 2 is x > 0
            return broadcast_to(a, shape)
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


def _lower_pow(low, node: Node):
    base, exponent = node.args
    if exponent.op != "const":
        return low.binary("**", low.term(base), low.term(exponent), node.ndim)
    e = exponent.params[0]
    if e == 2.0 and base.op == "norm2":  # ‖u‖² = ⟨u, u⟩, without the square root
        return low.spell("sum_squares", low.term(base.args[0]), ndim=0)
    if e == 0.5:
        return low.spell("sqrt", low.term(base), ndim=node.ndim)
    if e < 0:
        return low.binary("/", low.num(1.0), _lower_power(low, base, -e), node.ndim)
    return _lower_power(low, base, e)


def _lower_power(low, base: Node, e: float):
    if e == 1.0:
        return low.term(base)
    exponent = low.num(int(e)) if float(e).is_integer() else low.num(e)
    return low.binary("**", low.term(base), exponent, base.ndim)


def _bounds_pow(node: Node, bounds_of) -> tuple[float, float]:
    base, exponent = node.args
    if exponent.op == "const":
        e = exponent.params[0]
        lo, hi = bounds_of(base)
        if float(e).is_integer() and int(e) % 2 == 0 or lo >= 0.0:  # an even power, or a power of u ≥ 0
            return 0.0, math.inf
    return -math.inf, math.inf


def _pow_words(node: Node, slot: int, fused: bool) -> list:
    base, exponent = node.args
    if fused:  # the rule of ‖u‖², reaching through the norm
        return ["squared Frobenius norm" if base.args[0].ndim == 2 else "squared norm"]
    if slot == 1:
        return ["power (by the exponent)"]
    return ["power ", exponent] if exponent.op == "const" else ["power (by the base)"]


def _index_pow(ix, node: Node, idx: tuple):
    """(A ** c)[i,j] = A[i,j]^c for a number c, where dX is not inside."""
    a, p = node.args
    if p.op != "const" or ix.has_dx(node):
        return None
    sub, fresh = ix.broadcast(a, node, idx)
    return ix.summing(ix.raised(a, sub, p.params[0]), fresh)


register(Op("pow", lambda node, args, sizes: np.power(args[0], args[1]), text="**", unicode="^", latex="^",
            names=Absent("an operator of the language: a ** b"), index=_index_pow,
            pullback=_pull_pow, differential=_d_pow, code=Code(lower=_lower_pow, bounds=_bounds_pow),
            words=Words(_pow_words), identity=NOT_LINEAR, vec_identity=NOT_LINEAR))

# Late imports: the operations the rules above build (their modules import this one).
from .leaves import ONE, const, is_const, is_zero, ones, zeros  # noqa: E402
from .broadcasting import (_describe, _single, broadcast_jacobian, broadcast_shapes, broadcast_to, scale_jacobian,  # noqa: E402
                           unbroadcast)
from .sums import add, neg, scale, split_coefficient  # noqa: E402
from .chains import matmul  # noqa: E402
from .transposition import transpose, transposes_in  # noqa: E402
from ..structure import diag  # noqa: E402
from ..softmax_family import softmax  # noqa: E402
from ..elementwise import ELEMENTWISE, log_, sqrt  # noqa: E402
