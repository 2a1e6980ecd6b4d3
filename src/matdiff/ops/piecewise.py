"""Comparisons and piecewise functions: `> < >= <= ==` as 0/1 arrays, relu, sign, maximum, minimum, clip,
where.

A comparison means what NumPy's boolean array means in arithmetic: 1 where it holds, 0 elsewhere. Its
derivative is zero wherever it is defined (everywhere but on the boundary, a set of measure zero), so a
piecewise function's derivative is the derivative of the piece that is active, picked out by such an
indicator: relu′(u) = (u > 0), d maximum(a, b) = (a >= b) ⊙ da + (a < b) ⊙ db, d clip(u, lo, hi) =
(lo < u < hi) ⊙ du, d where(c, a, b) = where(c, da, db). At a tie the first argument of maximum and
minimum takes the gradient. Each operation is one entry; the shared rules (selection, bounds, code) sit
beside them.
"""
from __future__ import annotations

import numpy as np

from ..dims import format_shape
from ..errors import ShapeError
from ..expr import Node, make, topological
from .registry import (INDEXED_WHOLE, NOT_LINEAR, Absent, Call, Code, Op, SpelledIdentity, Words, register,
                       within)
from .algebra import (ONE, ZERO, add, broadcast_shapes, broadcast_to, const, div, is_zero, matmul_chain, mul, ones,
                      power, scale_jacobian, split_coefficient, transpose, unbroadcast, zeros)
from .elementwise import ELEMENTWISE, abs_, elementwise, increasing

# ---- comparisons --------------------------------------------------------------------------------

# symbol: (operation, NumPy's meaning, the symbol with the operands swapped, Unicode, LaTeX)
COMPARISONS = {
    ">": ("greater", np.greater, "<", ">", ">"),
    "<": ("less", np.less, ">", "<", "<"),
    ">=": ("greater_equal", np.greater_equal, "<=", "≥", r"\geq"),
    "<=": ("less_equal", np.less_equal, ">=", "≤", r"\leq"),
    "==": ("equal", np.equal, "==", "=", "="),
}
SYMBOL_OF = {entry[0]: symbol for symbol, entry in COMPARISONS.items()}
# 1 - (a > b) is (a <= b): the complement of each comparison but ==, whose complement != the language lacks
_COMPLEMENT = {">": "<=", "<": ">=", ">=": "<", "<=": ">"}


def compare(symbol: str, a: Node, b: Node) -> Node:
    """a > b (or <, >=, <=, ==) as a 0/1 array, NumPy broadcasting the operands; a number stands on the right."""
    name, numpy_fn, swapped = COMPARISONS[symbol][:3]
    shape = broadcast_shapes(symbol, (a, b))
    if a.op == "const" and b.op == "const":
        return const(float(numpy_fn(a.params[0], b.params[0])))
    if a is b:
        return ones(shape) if symbol in (">=", "<=", "==") else zeros(shape)
    if a.op == "const":  # 0 < u is u > 0: one spelling
        return compare(swapped, b, a)
    return make(name, (a, b), (), shape)


def is_indicator(node: Node) -> bool:
    """A comparison: an array of zeros and ones."""
    return node.op in SYMBOL_OF


def complement(node: Node) -> Node | None:
    """1 - c for a comparison c, as a comparison ((a > b) becomes (a <= b)); None where there is none."""
    symbol = _COMPLEMENT.get(SYMBOL_OF.get(node.op, ""))
    return compare(symbol, *node.args) if symbol is not None else None


def _operand(low, node: Node):
    """An argument's code: a number as a number (not made an array of the backend)."""
    return low.term(node) if node.op == "const" else low.as_array(node)


def _lower_spelled(low, node: Node):
    return low.spell(node.op, *(_operand(low, a) for a in node.args), ndim=node.ndim)


for _symbol, (_name, _numpy_fn, _, _unicode, _latex) in COMPARISONS.items():
    register(Op(_name, lambda node, args, sizes, fn=_numpy_fn: np.asarray(fn(args[0], args[1]), dtype=float),
                text=_symbol, unicode=_unicode, latex=_latex,
                names=Absent(f"an operator of the language: a {_symbol} b"), index=INDEXED_WHOLE,
                pullback=lambda node, g, needed: [],  # zero wherever the comparison is differentiable
                differential=lambda node, d: zeros(node.shape),
                vec_jacobian=Absent("not linear: its differential is zero almost everywhere"),
                words=Words("comparison (a 0/1 array, whose derivative is zero almost everywhere)"),
                identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
                # a 0/1 array of the arguments' floating type: a boolean array is 0 and 1 in a product with floats,
                # but True + True is True, True - True an error and a product of boolean matrices a logical one (and
                # PyTorch multiplies matrices of one dtype only); as a factor of a product with floats, the boolean array
                code=Code(numpy=f"(x {_symbol} y).astype(like.dtype)", jax=f"(x {_symbol} y).astype(like.dtype)",
                          torch=f"(x {_symbol} y).to(like.dtype)", placeholders="x y like", lower=_lower_spelled,
                          bounds=within(0.0, 1.0), factor=Code(numpy=f"x {_symbol} y", jax=f"x {_symbol} y",
                                                               torch=f"x {_symbol} y", placeholders="x y"))))


# ---- relu and sign: elementwise functions with an indicator (or zero) as their derivative -------------

def _simplify_relu(u: Node) -> Node | None:
    return u if u.op in ("relu", "abs", "exp", "sqrt", "sigmoid", "softplus") else None  # already nonnegative


relu = elementwise("relu", lambda x: np.maximum(x, 0.0), lambda u: compare(">", u, ZERO), lambda x: max(x, 0.0),
                   r"\operatorname{relu}", _simplify_relu,
                   code=Code(numpy="np.maximum(x, 0.0)", jax="jax.nn.relu(x)", torch="torch.relu(x)",
                             bounds=increasing(lambda x: max(x, 0.0)),
                             # g ⊙ (u > 0) in one pass, as autograd's relu backward (no 0/1 array made and cast)
                             pullback=Code(torch="torch.ops.aten.threshold_backward(g, x, 0.0)", placeholders="g x")))
sign = elementwise("sign", np.sign, lambda u: zeros(u.shape), lambda x: float(np.sign(x)), r"\operatorname{sign}",
                   code=Code.named("sign", bounds=within(-1.0, 1.0)))


# ---- maximum and minimum --------------------------------------------------------------------------

def maximum(a: Node, b: Node) -> Node:
    """NumPy's maximum, elementwise and broadcast; maximum(u, 0) is relu(u)."""
    return _extremum("maximum", a, b)


def minimum(a: Node, b: Node) -> Node:
    return _extremum("minimum", a, b)


# the operation: (NumPy's meaning, the test that gives the first argument the gradient, the other's)
_EXTREMA = {"maximum": (np.maximum, ">=", "<"), "minimum": (np.minimum, "<=", ">")}


def _extremum(name: str, a: Node, b: Node) -> Node:
    numpy_fn = _EXTREMA[name][0]
    shape = _shape_of(name, a, b)
    if a.op == "const" and b.op == "const":
        return const(float(numpy_fn(a.params[0], b.params[0])))
    if a is b:
        return broadcast_to(a, shape)
    if a.op == "const":  # maximum(0, u) is maximum(u, 0): the number second
        a, b = b, a
    if name == "maximum" and is_zero(b) and a.shape == shape:
        return relu(a)
    return make(name, (a, b), (), shape)


def _shape_of(name: str, *args: Node):
    """The broadcast shape of a call's arguments; a clash names the call and every operand's shape."""
    try:
        return broadcast_shapes(",", args)
    except ShapeError:
        shapes = ", ".join(f"{a} is {format_shape(a.shape)}" for a in args)
        raise ShapeError(f"{name}: the arguments cannot be broadcast together ({shapes})", args) from None


def _selection(node: Node, slot: int) -> Node:
    """The 0/1 array of the entries where argument `slot` of a maximum or minimum is the one chosen."""
    a, b = node.args
    return compare(_EXTREMA[node.op][1 + slot], a, b)


def _pull_extremum(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    return [(arg, unbroadcast(mul(g, _selection(node, slot)), arg.shape))
            for slot, arg in enumerate(node.args) if needed(arg)]


def _d_extremum(node: Node, d) -> Node:
    terms = [mul(_selection(node, slot), da) for slot, da in enumerate(d) if da is not None]
    return broadcast_to(add(*terms), node.shape)


def _extremum_words(node: Node, slot: int, fused: bool) -> list:
    larger = "larger" if node.op == "maximum" else "smaller"
    which = "first" if slot == 0 else "second"
    return [f"elementwise {node.op} (the gradient passes where the {which} argument is the {larger})"]


def _bounds_extremum(node: Node, bounds_of) -> tuple[float, float]:
    (alo, ahi), (blo, bhi) = (bounds_of(a) for a in node.args)
    pick = max if node.op == "maximum" else min
    return pick(alo, blo), pick(ahi, bhi)


for _name, _torch in (("maximum", "torch.clamp(x, min=y)"), ("minimum", "torch.clamp(x, max=y)")):
    register(Op(_name, lambda node, args, sizes: _EXTREMA[node.op][0](args[0], args[1]), text=_name, unicode=_name,
                latex=rf"\operatorname{{{_name}}}", names=(_name,), call=Call(maximum if _name == "maximum" else minimum,
                                                                               arrays=2),
                index=INDEXED_WHOLE, pullback=_pull_extremum, differential=_d_extremum,
                vec_jacobian=Absent("not linear: its differential is taken first"),
                words=Words(_extremum_words), identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
                code=Code(numpy=f"np.{_name}(x, y)", jax=f"jnp.{_name}(x, y)", torch=_torch, placeholders="x y",
                          lower=_lower_spelled, bounds=_bounds_extremum)))


# ---- clip -----------------------------------------------------------------------------------------

def clip(u: Node, lo: Node, hi: Node) -> Node:
    """NumPy's clip(u, lo, hi) = minimum(maximum(u, lo), hi), for lo <= hi."""
    shape = _shape_of("clip", u, lo, hi)
    if u.op == lo.op == hi.op == "const":
        return const(float(np.clip(u.params[0], lo.params[0], hi.params[0])))
    return make("clip", (u, lo, hi), (), shape)


def _inside(node: Node) -> Node:
    """The 0/1 array of the entries clip passes through, lo < u < hi (|u| < h for the interval [-h, h])."""
    u, lo, hi = node.args
    if lo.op == hi.op == "const" and lo.params[0] == -hi.params[0]:
        return compare("<", abs_(u), hi)
    return mul(compare(">", u, lo), compare("<", u, hi))


def _pull_clip(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    u, lo, hi = node.args
    out = []
    if needed(u):
        out.append((u, unbroadcast(mul(passed_through(g, node, u), _inside(node)), u.shape)))
    if needed(lo):
        out.append((lo, unbroadcast(mul(g, compare("<", u, lo)), lo.shape)))
    if needed(hi):
        out.append((hi, unbroadcast(mul(g, compare(">", u, hi)), hi.shape)))
    return out


def _d_clip(node: Node, d) -> Node:
    u, lo, hi = node.args
    selections = (_inside(node), compare("<", u, lo), compare(">", u, hi))
    return broadcast_to(add(*(mul(s, di) for s, di in zip(selections, d) if di is not None)), node.shape)


def passed_through(g: Node, clipped: Node, u: Node) -> Node:
    """g where `clipped` passes u through unchanged: there `clipped` is u, also inside the indicators g carries.

    The minimum of r a and clip(r, lo, hi) a (PPO's clipped objective) sends the second its gradient where
    r a > clip(r, lo, hi) a; on the entries clip passes through that reads r a > r a, which is never true."""
    factors = g.args if g.op == "mul" else (g,)
    if not any(is_indicator(f) and clipped in topological(f) for f in factors):
        return g
    return mul(*(_replaced(f, clipped, u) if is_indicator(f) else f for f in factors))


def _replaced(root: Node, old: Node, new: Node) -> Node:
    """root with `old` replaced by `new`, rebuilt through the constructors; root itself where an operation
    on the way is not one this rebuilds."""
    done: dict[Node, Node] = {old: new}
    for node in topological(root):
        if node in done:
            continue
        args = tuple(done.get(a, a) for a in node.args)
        if all(x is y for x, y in zip(args, node.args)):
            done[node] = node
            continue
        rebuilt = _rebuild(node, args)
        if rebuilt is None:
            return root
        done[node] = rebuilt
    return done[root]


def _rebuild(node: Node, args: tuple[Node, ...]) -> Node | None:
    """node's operation on new arguments, through its constructor; None for an operation not rebuilt here."""
    if node.op in SYMBOL_OF:
        return compare(SYMBOL_OF[node.op], *args)
    build = _REBUILT.get(node.op) or ELEMENTWISE.get(node.op)
    return None if build is None else build(*args)


def _bounds_clip(node: Node, bounds_of) -> tuple[float, float]:
    (ulo, uhi), (llo, lhi), (hlo, hhi) = (bounds_of(a) for a in node.args)
    return min(max(ulo, llo), hlo), min(max(uhi, lhi), hhi)


def _lower_clip(low, node: Node):
    u, lo, hi = node.args
    if lo.op == hi.op == "const":  # PyTorch's clamp takes two numbers or two tensors, not one of each
        return _lower_spelled(low, node)
    return low.spell("clip", low.as_array(u), low.as_array(lo), low.as_array(hi), ndim=node.ndim)


register(Op("clip", lambda node, args, sizes: np.clip(*args), text="clip", unicode="clip", latex=r"\operatorname{clip}",
            names=("clip",), call=Call(clip, arrays=3), index=INDEXED_WHOLE,
            pullback=_pull_clip, differential=_d_clip,
            vec_jacobian=Absent("not linear: its differential is taken first"),
            words=Words(lambda node, slot, fused: [("clipping (the gradient passes where the input is inside "
                                                    "[lo, hi])") if slot == 0 else
                                                   "clipping (the gradient reaches a bound where it is active)"]),
            identity=NOT_LINEAR, vec_identity=NOT_LINEAR,
            code=Code(numpy="np.clip(x, lo, hi)", jax="jnp.clip(x, lo, hi)", torch="torch.clamp(x, min=lo, max=hi)",
                      placeholders="x lo hi", lower=_lower_clip, bounds=_bounds_clip)))


# ---- where ------------------------------------------------------------------------------------------

def where(c: Node, a: Node, b: Node) -> Node:
    """NumPy's where(c, a, b): a where c is nonzero, b elsewhere, the three broadcast together."""
    shape = _shape_of("where", c, a, b)
    if c.op == "const":
        return broadcast_to(a if c.params[0] != 0.0 else b, shape)
    if a is b:
        return broadcast_to(a, shape)
    if is_indicator(c):
        if is_zero(b):  # where(c, a, 0) = a ⊙ c for a 0/1 array c
            return broadcast_to(mul(a, c), shape)
        opposite = complement(c)
        if is_zero(a) and opposite is not None:
            return broadcast_to(mul(b, opposite), shape)
    ca, body_a = split_coefficient(a)
    cb, body_b = split_coefficient(b)
    if body_a is body_b and body_a.op != "const":  # where(c, s X, t X) = X ⊙ where(c, s, t): leaky relu
        return broadcast_to(mul(body_a, where(c, const(ca), const(cb))), shape)
    return make("where", (c, a, b), (), shape)


def _pull_where(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    c, a, b = node.args
    out = []
    if needed(a):
        out.append((a, unbroadcast(where(c, g, ZERO), a.shape)))
    if needed(b):
        out.append((b, unbroadcast(where(c, ZERO, g), b.shape)))
    return out


def _d_where(node: Node, d) -> Node:
    c = node.args[0]
    _, da, db = d  # the condition's differential is zero
    return broadcast_to(where(c, ZERO if da is None else da, ZERO if db is None else db), node.shape)


def _vec_where(node: Node, jacobians) -> Node:
    """vec(where(c, A, B)) = diag(vec[c]) vec A + diag(vec[not c]) vec B."""
    c = node.args[0]
    chosen = (where(c, ONE, ZERO), where(c, ZERO, ONE))
    return add(*(scale_jacobian(j, s, arg.shape, node.shape)
                 for s, j, arg in zip(chosen, jacobians[1:], node.args[1:]) if j is not None))


def _index_where(ix, node: Node, idx: tuple):
    """where(C, dA, dB)[i,j] = [C ≠ 0][i,j] dA[i,j] + [C = 0][i,j] dB[i,j], where it holds dX (linear in the
    branches' differentials, whatever C is); otherwise None, an atom indexed as a whole."""
    if not ix.has_dx(node):
        return None
    c = node.args[0]
    chosen = (where(c, ONE, ZERO), where(c, ZERO, ONE))
    return [term for s, branch in zip(chosen, node.args[1:]) if ix.has_dx(branch)
            for term in ix.product(ix.of_argument(s, node, idx), ix.of_argument(branch, node, idx))]


def _lower_where(low, node: Node):
    c, a, b = node.args
    if is_indicator(c):  # the comparison itself, a boolean array (PyTorch's where takes no other)
        condition = low.compare(SYMBOL_OF[c.op], *(_operand(low, x) for x in c.args), ndim=c.ndim)
    else:
        condition = low.compare("!=", low.as_array(c), low.num(0), ndim=c.ndim)
    return low.spell("where", condition, _operand(low, a), _operand(low, b), ndim=node.ndim)


def _bounds_where(node: Node, bounds_of) -> tuple[float, float]:
    (alo, ahi), (blo, bhi) = bounds_of(node.args[1]), bounds_of(node.args[2])
    return min(alo, blo), max(ahi, bhi)


register(Op("where", lambda node, args, sizes: np.where(args[0] != 0, args[1], args[2]), text="where",
            unicode="where", latex=r"\operatorname{where}", names=("where",), call=Call(where, arrays=3),
            index=_index_where, pullback=_pull_where, differential=_d_where, vec_jacobian=_vec_where,
            words=Words(lambda node, slot, fused: ["selection by where (the gradient goes to the branch chosen)"]),
            identity=SpelledIdentity("M : where(C, U, V) = where(C, M, 0) : U + where(C, 0, M) : V",
                                     "M : where(C, U, V) = where(C, M, 0) : U + where(C, 0, M) : V",
                                     r"M : \operatorname{where}(C, U, V) = \operatorname{where}(C, M, 0) : U"
                                     r" + \operatorname{where}(C, 0, M) : V"),
            vec_identity=SpelledIdentity("vec(where(C, X, 0)) = diag(vec[C ≠ 0]) vec X",
                                         "vec(where(C, X, 0)) = diag(vec(where(C, 1, 0))) @ vec(X)",
                                         r"\operatorname{vec}(\operatorname{where}(C, X, 0)) = "
                                         r"\operatorname{diag}(\operatorname{vec}[C \neq 0])\operatorname{vec}X"),
            code=Code(numpy="np.where(c, x, y)", jax="jnp.where(c, x, y)",
                      torch="torch.where(c, torch.as_tensor(x, dtype=like.dtype, device=like.device), "
                            "torch.as_tensor(y, dtype=like.dtype, device=like.device))",
                      placeholders="c x y like", lower=_lower_where, bounds=_bounds_where)))


# the constructors `passed_through` rebuilds an indicator with (besides comparisons and elementwise functions)
_REBUILT = {"add": add, "mul": mul, "div": div, "pow": power, "transpose": transpose,
            "matmul": lambda *factors: matmul_chain(factors), "maximum": maximum, "minimum": minimum, "clip": clip,
            "where": where}
