"""Property tests for arrays of any order: random einsum expressions, checked four ways.

`tensor_expressions()` draws a random well-shaped expression over arrays of order 0 to 4, built from
variables of random declared shapes (dimensions n, m, p, q of sizes 2, 3, 4, 5, and the products m·n and
n·p that a reshape makes). What it uses:

- `einsum` with random valid subscripts (1 to 3 operands, each of order 0 to 4): contractions, outer
  products, diagonals and traces (a letter repeated in one operand, 'ii->i'), scalars (',ij->ij'), the
  result's letters in any order;
- NumPy's batched `@` (or np.matmul): stacks with the same leading axes or broadcast ones (one operand
  with fewer), a stack times a vector and a vector times a stack;
- `swapaxes`, `moveaxis`, `transpose(T, axes)`, `transpose(T)` and `.T`, with axes also counted from the end;
- `tensordot` with axes=k and with explicit axis pairs in any position;
- `reshape` in C order: merging adjacent axes (a product dimension), splitting one back, reading an
  array in another arrangement of the same dimensions;
- elementwise sin, exp, tanh, square; + - * against an operand of the same or of lower order
  (broadcast over the leading axes); abs and maximum, with the points kept away from their kinks;
- sum, mean and logsumexp over an axis, an axis tuple or everything, with keepdims=True feeding a
  broadcast back (X - mean(X, axis=(0, 2), keepdims=True)); softmax along an axis.

Each expression is a small tree (`Node`) that writes its own text and is evaluated here, twice, by one
evaluator over an array module: NumPy for the value and central differences, JAX (when installed) for
jax.jacrev and jax.vjp. Neither goes through matdiff: the tree is NumPy's meaning of each operation.
For each expression: (1) the printed text reads back to the same node; (2) matdiff's value is NumPy's;
(3) the derivative by a random variable (full array F + S) agrees with central differences and with
jax.jacrev, and its text reads back; (4) the VJP for a random cotangent agrees with jax.vjp (and central
differences of sum(G ⊙ f)). Derivatives are checked only at points where every intermediate is below 1e3
and abs and maximum are at least 1e-3 from their kinks.

The bugs these properties found are plain tests at the end of the file, each at its smallest.
"""
from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import matdiff as md

from strategies import examples

try:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # the central-difference checks still run
    jax = jnp = None

SIZES = {"n": 2, "m": 3, "p": 4, "q": 5}
SYMBOLS = tuple(SIZES)
# a dimension is a sorted tuple of symbols (their product) or the integer 1 (an axis kept by keepdims)
PRODUCTS = (("m", "n"), ("n", "p"))
DIMS = tuple((s,) for s in SYMBOLS) + PRODUCTS
MAX_ORDER = 4
LETTERS = {0: "st", 1: "xy", 2: "AB", 3: "TU", 4: "VW"}


def size(d) -> int:
    return 1 if d == 1 else math.prod(SIZES[s] for s in d)


def numeric(shape) -> tuple[int, ...]:
    return tuple(size(d) for d in shape)


# ---- the expression tree: its text and NumPy's meaning of it ---------------------------------------------


class Node:
    """One operation of a drawn expression: `op`, its operands, its parameters, its shape and its text."""

    __slots__ = ("op", "args", "param", "shape", "text", "atomic")

    def __init__(self, op, args, param, shape, text, atomic=True):
        self.op, self.args, self.param, self.shape, self.text, self.atomic = op, tuple(args), param, \
            tuple(shape), text, atomic

    def operand(self) -> str:
        return self.text if self.atomic else f"({self.text})"

    def __repr__(self) -> str:
        return self.text


def _logsumexp(xp, x, axis, keepdims):
    return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=keepdims))


def _softmax_along(xp, x, axis):
    e = xp.exp(x)
    return e / xp.sum(e, axis=axis, keepdims=True)


UNARY = {"sin": lambda xp, x: xp.sin(x), "exp": lambda xp, x: xp.exp(x), "tanh": lambda xp, x: xp.tanh(x),
         "square": lambda xp, x: xp.square(x), "abs": lambda xp, x: xp.abs(x)}
BINARY = {"+": lambda xp, a, b: a + b, "-": lambda xp, a, b: a - b, "*": lambda xp, a, b: a * b,
          "maximum": lambda xp, a, b: xp.maximum(a, b)}
REDUCE = {"sum": lambda xp, x, axis, keepdims: xp.sum(x, axis=axis, keepdims=keepdims),
          "mean": lambda xp, x, axis, keepdims: xp.mean(x, axis=axis, keepdims=keepdims),
          "logsumexp": _logsumexp}
# NumPy's meaning of each operation of the tree, for an array module xp: (xp, node, operand values) -> value
MEANINGS = {
    "const": lambda xp, node, args: xp.asarray(node.param, dtype=xp.float64),
    "unary": lambda xp, node, args: UNARY[node.param](xp, *args),
    "binary": lambda xp, node, args: BINARY[node.param](xp, *args),
    "einsum": lambda xp, node, args: xp.einsum(node.param, *args),
    "matmul": lambda xp, node, args: xp.matmul(*args),
    "swapaxes": lambda xp, node, args: xp.swapaxes(args[0], *node.param),
    "moveaxis": lambda xp, node, args: xp.moveaxis(args[0], *node.param),
    "transpose": lambda xp, node, args: xp.transpose(args[0], node.param),
    "tensordot": lambda xp, node, args: xp.tensordot(*args, axes=node.param),
    "reshape": lambda xp, node, args: xp.reshape(args[0], numeric(node.shape)),  # C order
    "reduce": lambda xp, node, args: REDUCE[node.param[0]](xp, args[0], *node.param[1:]),
    "softmax": lambda xp, node, args: _softmax_along(xp, args[0], node.param),
}


def evaluate(node: Node, xp, values: dict, notes: dict | None = None):
    """The value of the tree with array module `xp` (numpy or jax.numpy). `notes`, when given, collects
    the largest magnitude of any intermediate and the distance of abs/maximum from their kinks."""
    args = [evaluate(a, xp, values, notes) for a in node.args]
    value = values[node.param] if node.op == "var" else MEANINGS[node.op](xp, node, args)
    if notes is not None:
        value = np.asarray(value, dtype=float)
        assert value.shape == numeric(node.shape), (node.text, value.shape, numeric(node.shape))
        notes["largest"] = max(notes.get("largest", 0.0), float(np.max(np.abs(value), initial=0.0)))
        if node.op in ("unary", "binary") and node.param in ("abs", "maximum"):
            gap = np.abs(args[0]) if node.param == "abs" else np.abs(args[0] - args[1])
            notes["kink"] = min(notes.get("kink", np.inf), float(np.min(gap, initial=np.inf)))
    return value


def variables_of(node: Node) -> dict:
    found = {node.param: node.shape} if node.op == "var" else {}
    for a in node.args:
        found.update(variables_of(a))
    return found


# ---- the strategy ------------------------------------------------------------------------------------------


def _shape_code(shape) -> str:
    return "".join("x".join(d) for d in shape)


def _dim_text(d, order) -> str:
    return " * ".join(d[::-1] if order else d)


def _tuple_text(items) -> str:
    items = [str(i) for i in items]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


class _Writer:
    """Writes a random expression of a requested shape (top-down), declaring the variables it uses."""

    def __init__(self, draw) -> None:
        self.draw = draw

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, lo, hi) -> int:
        return self.draw(st.integers(lo, hi))

    def flip(self) -> bool:
        return self.draw(st.booleans())

    def dim(self):
        return self.pick(DIMS[:4] * 3 + PRODUCTS)  # mostly plain symbols

    def spell(self, name: str) -> str:
        return self.pick((name, f"np.{name}"))

    def axis_text(self, axis: int, ndim: int) -> str:
        return str(axis - ndim if self.flip() else axis)

    # -- leaves
    def variable(self, shape) -> Node:
        letter = self.pick(LETTERS[len(shape)])
        name = letter if not shape else f"{letter}_{_shape_code(shape)}"
        return Node("var", (), name, shape, name)

    def leaf(self, shape) -> Node:
        if not shape and self.integer(0, 3) == 0:
            value = self.pick((0.5, 2.0, 1.5))
            return Node("const", (), value, (), repr(value))
        split = tuple((s,) for d in shape for s in d)
        if len(split) > len(shape) and len(split) <= MAX_ORDER and self.flip():
            # an array with a merged axis, read off a declared variable: reshape(T, (n * m, p))
            return self.reshape_node(self.variable(split), shape)
        return self.variable(shape)

    # -- any expression of a shape
    def any(self, shape, depth: int, leaf: bool = True) -> Node:
        shape = tuple(shape)
        if depth <= 0:
            return self.leaf(shape)
        options = ["leaf"] * (2 if leaf else 0) + ["unary", "binary", "binary", "einsum", "einsum", "einsum",
                                                    "matmul", "tensordot", "kink"]
        if len(shape) <= 3:
            options += ["reduce", "reduce"]
        if shape:
            options += ["kept", "softmax"]
        if len(shape) >= 2:
            options += ["permute", "permute"]
        if self._reshapes(shape):
            options += ["reshape", "reshape"]
        choice = self.pick(options)
        return self.leaf(shape) if choice == "leaf" else getattr(self, "_" + choice)(shape, depth - 1)

    def _unary(self, shape, depth):
        function = self.pick(("sin", "exp", "tanh", "square"))
        a = self.any(shape, depth)
        return Node("unary", (a,), function, shape, f"{self.spell(function)}({a.text})")

    def _binary(self, shape, depth):
        """a ∘ b, b of the same shape or of a lower order (broadcast over the leading axes)."""
        op = self.pick(("+", "-", "*"))
        a = self.any(shape, depth)
        b = self.any(shape[self.integer(0, len(shape)):], depth)
        if self.flip():
            a, b = b, a
        return self._combine(op, a, b, shape)

    def _combine(self, op, a, b, shape):
        return Node("binary", (a, b), op, shape, f"{a.operand()} {op} {b.operand()}", atomic=False)

    def _kink(self, shape, depth):
        """abs(a) or maximum(a, b): the point is checked to be away from the kink (see `_point`)."""
        a = self.any(shape, depth)
        if self.flip():
            return Node("unary", (a,), "abs", shape, f"{self.spell('abs')}({a.text})")
        b = self.any(shape[self.integer(0, len(shape)):], depth)
        return Node("binary", (a, b), "maximum", shape, f"{self.spell('maximum')}({a.text}, {b.text})")

    def _einsum(self, shape, depth):
        count = self.integer(1, 3)
        letters = self.draw(st.lists(st.sampled_from(string.ascii_lowercase), min_size=len(shape) + 2,
                                     max_size=len(shape) + 2, unique=True))
        out = letters[:len(shape)]
        summed = letters[len(shape):len(shape) + min(self.integer(0, 2), MAX_ORDER * count - len(shape))]
        dims = dict(zip(out, shape)) | {c: self.dim() for c in summed}
        operands: list[list[str]] = [[] for _ in range(count)]
        for c in out:  # every letter of the result in some operand
            operands[self.pick([k for k in range(count) if len(operands[k]) < MAX_ORDER])].append(c)
        for c in summed:  # in two operands a summed letter contracts them (A @ B); in one, it sums an axis
            room = [k for k in range(count) if len(operands[k]) < MAX_ORDER]
            for k in self.draw(st.lists(st.sampled_from(room), min_size=1, max_size=2, unique=True)) if room else ():
                operands[k].append(c)
        if self.flip():  # extra letters: shared ones contract or broadcast, a repeat is a diagonal or a trace
            for subscripts in operands:
                for _ in range(self.integer(0, MAX_ORDER - len(subscripts)) if out + summed else 0):
                    subscripts.append(self.pick(out + summed))
        operands = [list(self.draw(st.permutations(s))) for s in operands]
        spec = ",".join("".join(s) for s in operands) + "->" + "".join(out)
        args = [self.any(tuple(dims[c] for c in s), depth) for s in operands]
        return Node("einsum", args, spec, shape,
                    f"{self.spell('einsum')}({spec!r}, {', '.join(a.text for a in args)})")

    def _matmul(self, shape, depth):
        """NumPy's @: a stack of matrix products, the stacks broadcast; or with a vector on one side."""
        k = self.dim()
        forms = []
        if not shape:
            forms.append(((k,), (k,)))
        if shape and len(shape) < MAX_ORDER:  # (…, r, k) @ (k,) and (k,) @ (…, k, c)
            forms += [(shape + (k,), (k,)), ((k,), shape[:-1] + (k, shape[-1]))]
        if len(shape) >= 2:
            batch, (r, c) = shape[:-2], shape[-2:]
            short = batch[self.integer(0, len(batch)):]  # fewer leading axes: broadcast over the others
            left, right = (batch, short) if self.flip() else (short, batch)
            forms.append((left + (r, k), right + (k, c)))
        left, right = self.pick(forms)
        a, b = self.any(left, depth), self.any(right, depth)
        if self.flip():
            return Node("matmul", (a, b), None, shape, f"{a.operand()} @ {b.operand()}", atomic=False)
        return Node("matmul", (a, b), None, shape, f"{self.spell('matmul')}({a.text}, {b.text})")

    def _permute(self, shape, depth):
        ndim = len(shape)
        order = list(range(ndim))
        kind = self.pick(("swapaxes", "moveaxis", "transpose", "reversed"))
        if kind == "swapaxes":
            a, b = self.draw(st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True))
            order[a], order[b] = order[b], order[a]
            param, words = (a, b), f"{self.axis_text(a, ndim)}, {self.axis_text(b, ndim)}"
        elif kind == "moveaxis":
            source, destination = self.draw(st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True))
            order.remove(source)
            order.insert(destination, source)
            param, words = (source, destination), f"{self.axis_text(source, ndim)}, {self.axis_text(destination, ndim)}"
        elif kind == "transpose":
            order = list(self.draw(st.permutations(range(ndim))))
            param, words = tuple(order), _tuple_text([self.axis_text(a, ndim) for a in order])
        else:
            order, kind = order[::-1], "transpose"
            param, words = tuple(order), None
        inner = [None] * ndim
        for a, source in enumerate(order):  # axis a of the result is axis order[a] of the operand
            inner[source] = shape[a]
        x = self.any(tuple(inner), depth)
        if words is None:
            text = f"{x.operand()}.T" if self.flip() else f"{self.spell('transpose')}({x.text})"
        else:
            text = f"{self.spell(kind)}({x.text}, {words})"
        return Node(kind, (x,), param, shape, text)

    def _tensordot(self, shape, depth):
        cut = self.integer(0, len(shape))
        free_a, free_b = shape[:cut], shape[cut:]
        k = self.integer(0, min(2, MAX_ORDER - len(free_a), MAX_ORDER - len(free_b)))
        summed = tuple(self.dim() for _ in range(k))
        if k and self.flip():  # explicit pairs: the summed axes anywhere in each operand, in any order
            shape_a, axes_a = self._insert(free_a, summed)
            shape_b, axes_b = self._insert(free_b, summed)
            param = (axes_a, axes_b)
            words = f"axes=({_tuple_text(axes_a)}, {_tuple_text(axes_b)})"
        else:
            shape_a, shape_b, param = free_a + summed, summed + free_b, k
            words = self.pick((f"axes={k}", f"{k}") + (("",) if k == 2 else ()))
        a, b = self.any(shape_a, depth), self.any(shape_b, depth)
        arguments = ", ".join([a.text, b.text] + ([words] if words else []))
        return Node("tensordot", (a, b), param, shape, f"{self.spell('tensordot')}({arguments})")

    def _insert(self, free, summed):
        """`free` with the `summed` dimensions placed at random positions: (shape, the position of each)."""
        ndim = len(free) + len(summed)
        positions = list(self.draw(st.lists(st.integers(0, ndim - 1), min_size=len(summed),
                                            max_size=len(summed), unique=True)))
        shape, rest = [None] * ndim, iter(free)
        for position, d in zip(positions, summed):
            shape[position] = d
        shape = [d if d is not None else next(rest) for d in shape]
        return tuple(shape), tuple(positions)

    def _reshapes(self, shape) -> list:
        """The operand shapes `shape` can be read from in C order: one product axis split, two adjacent
        axes merged, or the same dimensions in another arrangement."""
        found = []
        for j, d in enumerate(shape):
            if len(d) > 1 and len(shape) < MAX_ORDER:
                found.append(shape[:j] + tuple((s,) for s in d) + shape[j + 1:])
        for j in range(len(shape) - 1):
            merged = tuple(sorted(shape[j] + shape[j + 1]))
            if merged in PRODUCTS:
                found.append(shape[:j] + (merged,) + shape[j + 2:])
        if len(set(shape)) > 1:
            found.append(shape[1:] + shape[:1])
        return found

    def _reshape(self, shape, depth):
        return self.reshape_node(self.any(self.pick(self._reshapes(shape)), depth), shape)

    def reshape_node(self, x, shape):
        words = _tuple_text([_dim_text(d, self.flip()) for d in shape])
        return Node("reshape", (x,), None, shape, f"{self.spell('reshape')}({x.text}, {words})")

    def _reduce(self, shape, depth):
        """sum, mean or logsumexp of an array with more axes, over the axes that are not the result's."""
        function = self.pick(("sum", "mean", "logsumexp"))
        if not shape and self.flip():  # over everything
            x = self.any(tuple(self.dim() for _ in range(self.integer(1, 3))), depth)
            return Node("reduce", (x,), (function, None, False), (), f"{self.call_name(function)}({x.text})")
        inner, axes = self._insert(shape, tuple(self.dim() for _ in range(self.integer(1, MAX_ORDER - len(shape)))))
        x = self.any(inner, depth)
        return Node("reduce", (x,), (function, axes, False), shape, self.reduction_text(function, x, axes))

    def call_name(self, function: str) -> str:
        return function if function == "logsumexp" else self.spell(function)

    def reduction_text(self, function, x, axes, keepdims=False) -> str:
        shown = [self.axis_text(a, len(x.shape)) for a in axes]
        axis = shown[0] if len(shown) == 1 and self.flip() else _tuple_text(shown)
        if function != "logsumexp" and not keepdims and self.flip():
            return f"{self.call_name(function)}({x.text}, {axis})"
        return f"{self.call_name(function)}({x.text}, axis={axis}{', keepdims=True' if keepdims else ''})"

    def _kept(self, shape, depth):
        """x ∘ r(y, axis=…, keepdims=True): a reduction kept with axes of length 1, broadcast back."""
        function = self.pick(("sum", "mean", "logsumexp"))
        axes = tuple(sorted(self.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))))
        y = self.any(shape, depth)
        kept_shape = tuple(1 if a in axes else d for a, d in enumerate(shape))
        kept = Node("reduce", (y,), (function, axes, True), kept_shape,
                    self.reduction_text(function, y, axes, keepdims=True))
        x = self.any(shape, depth)
        return self._combine(self.pick(("+", "-", "*")), *((x, kept) if self.flip() else (kept, x)), shape)

    def _softmax(self, shape, depth):
        axis = self.integer(0, len(shape) - 1)
        x = self.any(shape, depth)
        return Node("softmax", (x,), axis, shape, f"softmax({x.text}, axis={self.axis_text(axis, len(shape))})")


class Case:
    """A drawn expression: its tree, its text, and the declarations of its variables."""

    def __init__(self, node: Node) -> None:
        self.node, self.text = node, node.text
        self.shapes = {name: tuple("*".join(d) for d in shape) for name, shape in variables_of(node).items()}

    def __repr__(self) -> str:
        return f"Case({self.text!r}, {self.shapes!r})"


@st.composite
def tensor_expressions(draw, depth: int = 2):
    """A random well-shaped array expression of order 0 to 4 (see the module docstring)."""
    writer = _Writer(draw)
    shape = tuple(writer.pick(DIMS[:4]) for _ in range(draw(st.integers(0, MAX_ORDER))))
    node = writer.any(shape, depth + 1, leaf=False)
    if shape and draw(st.integers(0, 7)) == 0:  # a result with axes of length 1
        axes = tuple(sorted(draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))))
        function = writer.pick(("sum", "mean", "logsumexp"))
        node = Node("reduce", (node,), (function, axes, True), tuple(1 if a in axes else d for a, d in
                                                                     enumerate(shape)),
                    writer.reduction_text(function, node, axes, keepdims=True))
    return Case(node)


# ---- the checks ----------------------------------------------------------------------------------------------


def _point(case: Case, seed: int, tame: bool = True):
    """Random values of the variables; with `tame`, the example is skipped where an intermediate is too
    large for central differences to judge or where abs/maximum is within 1e-3 of its kink."""
    rng = np.random.default_rng(seed)
    values = {name: rng.normal(size=numeric(shape)) for name, shape in variables_of(case.node).items()}
    notes: dict = {}
    with np.errstate(all="ignore"):
        value = evaluate(case.node, np, values, notes)
    assume(np.all(np.isfinite(value)) and notes["largest"] < (1e3 if tame else 1e100))
    if tame:
        assume(notes.get("kink", np.inf) > 1e-3)
    return values, value


def _close(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def central_differences(f, x, h=1e-6):
    """∂f/∂x as the array f.shape + x.shape, by central differences."""
    x = np.asarray(x, dtype=float)
    columns = []
    for k in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[k] = h
        columns.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h))
    result = np.stack(columns, axis=-1) if columns else np.zeros(np.shape(f(x)) + (0,))
    return result.reshape(np.shape(f(x)) + x.shape)


def _as_function(case: Case, xp, values: dict, wrt: str):
    return lambda x: evaluate(case.node, xp, dict(values, **{wrt: x}))


def _wrt(case: Case, choice: int) -> str:
    names = sorted(case.shapes)
    assume(names)  # a constant (sin(0.5)) has nothing to differentiate by
    return names[choice % len(names)]


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# the derivative as a full array F + S stays small enough to difference entry by entry
_LARGEST_DERIVATIVE = 20_000


def _reads_back(expr) -> None:
    """The printed text of a matdiff expression (or derivative) parses back to the same node."""
    again = md.parse(expr.text, expr.variables)
    assert again.node is expr.node, (expr.text, again.text)


def _matdiff(kind: str, case: Case, wrt: str | None = None):
    """md.parse, md.derivative or md.vjp of the case."""
    if kind == "parse":
        return md.parse(case.text, case.shapes)
    if kind == "derivative":
        return md.derivative(case.text, wrt, case.shapes)
    return md.vjp(case.text, wrt, case.shapes, cotangent="G")


def _size_of(d) -> int:
    """The size of one of matdiff's dimensions (a symbol, a DimProduct, an integer)."""
    if isinstance(d, str):
        return SIZES[d]
    if isinstance(d, int):
        return d
    return d.coefficient * math.prod(SIZES[s] for s in d.symbols)


def _shaped_as(result, case: Case, wrt: str, value) -> None:
    """The derivative's printed shape: F + S in full, or the vec form (or S for a VJP)."""
    x = numeric(variables_of(case.node)[wrt])
    shape = tuple(_size_of(d) for d in result.shape)
    full = np.shape(value) + x if result.kind != "vjp" else x
    vec = (math.prod(np.shape(value)), math.prod(x))
    fits = shape in (full, vec, tuple(d for d in vec if d != 1), tuple(d for d in full if d != 1))
    assert fits, (result.text, shape, full)


def check_reads_back_and_value(case: Case, seed: int):
    values, expected = _point(case, seed, tame=False)
    e = _matdiff("parse", case)
    _reads_back(e)
    _close(e.evaluate(values, SIZES), expected, 1e-10)


def check_derivative(case: Case, choice: int, seed: int):
    wrt = _wrt(case, choice)
    values, value = _point(case, seed)
    assume(np.size(value) * np.size(values[wrt]) <= _LARGEST_DERIVATIVE)
    d = _matdiff("derivative", case, wrt)
    _shaped_as(d, case, wrt, value)
    got = d.evaluate(values, SIZES)
    assert got.shape == np.shape(value) + np.shape(values[wrt])
    _close(got, central_differences(_as_function(case, np, values, wrt), values[wrt]), 1e-5)
    if jax is not None:
        # one compiled function per example: op by op, JAX would compile each operation for each shape
        expected = jax.jit(jax.jacrev(_as_function(case, jnp, values, wrt)))(jnp.asarray(values[wrt]))
        _close(got, expected, 1e-8)
    _reads_back(d)


def check_vjp(case: Case, choice: int, seed: int):
    wrt = _wrt(case, choice)
    values, value = _point(case, seed)
    cotangent = np.random.default_rng(seed + 1).normal(size=np.shape(value))
    v = _matdiff("vjp", case, wrt)
    _shaped_as(v, case, wrt, value)
    got = v.evaluate(dict(values, G=cotangent), SIZES)
    assert got.shape == np.shape(values[wrt])
    f = _as_function(case, np, values, wrt)
    _close(got, central_differences(lambda x: np.sum(cotangent * f(x)), values[wrt]), 1e-5)
    if jax is not None:
        f = _as_function(case, jnp, values, wrt)
        pulled = jax.jit(lambda x, g: jax.vjp(f, x)[1](g)[0])(jnp.asarray(values[wrt]), jnp.asarray(cotangent))
        _close(got, pulled, 1e-8)
    _reads_back(v)


@settings(max_examples=examples(150), **SETTINGS)
@given(case=tensor_expressions(), seed=st.integers(0, 2 ** 16))
def test_printed_text_reads_back_and_the_value_is_numpys(case, seed):
    check_reads_back_and_value(case, seed)


@settings(max_examples=examples(60), **SETTINGS)
@given(case=tensor_expressions(), choice=st.integers(0, 100), seed=st.integers(0, 2 ** 16))
def test_derivative_agrees_with_central_differences_and_jacrev(case, choice, seed):
    check_derivative(case, choice, seed)


@settings(max_examples=examples(60), **SETTINGS)
@given(case=tensor_expressions(), choice=st.integers(0, 100), seed=st.integers(0, 2 ** 16))
def test_vjp_agrees_with_jax_vjp_and_central_differences(case, choice, seed):
    check_vjp(case, choice, seed)


@pytest.mark.slow
@settings(max_examples=500, **SETTINGS)
@given(case=tensor_expressions(depth=3), choice=st.integers(0, 100), seed=st.integers(0, 2 ** 16))
def test_deeper_expressions_hold_up_every_check(case, choice, seed):
    check_reads_back_and_value(case, seed)
    check_derivative(case, choice, seed)
    check_vjp(case, choice, seed)


# ---- what the properties found, each at its smallest -------------------------------------------------------

ARRAYS = {"T": "n m p", "V": "p n m", "C": "n m", "x": "m", "W": "m p q", "A": "p q", "B": "m p", "s": ()}


@pytest.mark.parametrize("text, printed", [
    ("T - T", "zeros(n, m, p)"),
    ("sum(softmax(T, axis=0), axis=0, keepdims=True)", "ones(1, m, p)"),  # each column of a softmax sums to 1
])
def test_an_array_of_zeros_or_ones_of_order_three_reads_back(text, printed):
    e = md.parse(text, ARRAYS)
    assert e.text == printed
    assert md.parse(e.text, ARRAYS).node is e.node


def test_a_derivative_of_order_seven_reads_back():
    # a softmax sums to 1 along its axis: sin(1) whatever V or W, whose derivative is zeros of order 5 by V
    # (p×n×m) and of order 7 by W (n×m×p×q); ones and zeros took at most 6 dimensions
    d = md.derivative("sin(sum(softmax(V, axis=0), axis=0))", "V", ARRAYS)
    assert d.text == "zeros(n, m, p, n, m)"
    assert md.parse(d.text, d.variables).node is d.node
    d = md.derivative("sin(sum(softmax(W, axis=0), axis=0))", "W", {"W": "n m p q"})
    assert d.text == "zeros(m, p, q, n, m, p, q)"
    assert md.parse(d.text, d.variables).node is d.node


@pytest.mark.parametrize("text, wrt", [
    ("sum(V * C, axis=1)", "C"),  # diag(V): diag needs a vector or a matrix, but V is a scalar
    ("sum(V + C, axis=1)", "C"),  # diag(ones(p, n, m)): ... is a scalar
    ("sum(V + C, axis=0)", "C"),  # ∂C * ones(n): ∂C is n×m but ones(n) is n
    ("sum(V + x, axis=1)", "x"),  # ∂x * ones(p): ∂x is m but ones(p) is p
    ("sum(V * (x @ x), axis=(0, 1))", "x"),  # outer(V, 2 * x): outer needs two vectors, but V is p×n×m
])
def test_a_jacobian_through_an_array_of_order_three(text, wrt):
    report = md.check(text, wrt, ARRAYS)
    assert report.ok, str(report)


@pytest.mark.parametrize("text", ["sum(T + s, axis=0)", "sum(s - T, axis=2)", "sum(T * 0 + B, axis=0)"])
def test_a_sum_along_one_axis_of_a_broadcast_array_of_order_three_parses(text):
    assert md.parse(text, ARRAYS).shape == (("m", "p") if "axis=0" in text else ("n", "m"))


def test_the_gradient_of_a_sum_over_a_broadcast_keeps_the_variables_shape():
    assert md.derivative("sum(V + C)", "C", ARRAYS).shape == ("n", "m")


def test_the_vjp_of_a_kept_sum_over_a_broadcast():
    v = md.vjp("sum(W + A, axis=0, keepdims=True)", "A", ARRAYS)
    values = {"W": np.ones((3, 4, 5)), "A": np.ones((4, 5)), "G": np.ones((1, 4, 5))}
    assert np.allclose(v.evaluate(values, SIZES), 3 * np.ones((4, 5)))


def test_a_stack_of_products_with_a_transposed_sum_reads_back():
    shapes = {"T": "n m m", "C": "p m", "D": "p m"}
    e = md.parse("einsum('ijl,kl->ijk', T, C + D)", shapes)
    assert e.text == "T @ (C.T + D.T)"
    assert md.parse(e.text, shapes).node is e.node


def test_the_vjp_of_a_stack_times_a_shifted_matrix_reads_back():
    v = md.vjp("W @ (s + Y)", "W", {"W": "p q m n", "Y": "n m", "s": ()})
    assert v.text == "G @ (s + Y.T)"
    assert md.parse(v.text, v.variables).node is v.node


def test_a_scalar_contraction_times_a_product_reads_back():
    shapes = {"U": "n n n", "s": (), "x": "m", "R": "p m n"}
    e = md.parse("einsum('iij->', U) * s * (x @ R)", shapes)
    assert md.parse(e.text, shapes).node is e.node, (e.text, md.parse(e.text, shapes).text)


def test_a_contraction_printed_as_a_chain_of_products_reads_back():
    shapes = {"A": "q q", "M": "n q", "T": "p n q"}
    e = md.parse("einsum('xc,mx,pvc->pmv', A, M, T)", shapes)
    assert e.text == "M @ A @ swapaxes(T, 1, 2)"
    assert md.parse(e.text, shapes).node is e.node


@pytest.mark.parametrize("text", ["sum(T * sum(T, axis=2, keepdims=True), axis=2)",
                                  "mean(T * logsumexp(T, axis=(0, 2), keepdims=True), axis=2)"])
def test_a_sum_of_a_product_with_a_kept_factor_parses(text):
    assert md.parse(text, ARRAYS).shape[:2] == ("n", "m")


def test_tensordot_with_axes_as_lists_reads_or_says_why():
    try:
        e = md.parse("tensordot(T, x, axes=([1], [0]))", ARRAYS)
    except md.MatdiffError as exc:
        assert "object at" not in str(exc), str(exc)
    else:
        assert e.node is md.parse("tensordot(T, x, axes=((1,), (0,)))", ARRAYS).node


@pytest.mark.parametrize("text", ["einsum('ij,jk->ki', R, B)", "einsum('ab,bc->ca', sin(R), B)",
                                  "einsum(',ij,jk->ki', 2.0, R, B)"])
def test_an_einsum_of_two_matrices_with_the_result_transposed(text):
    shapes = {"R": "m p", "B": "p n"}
    e = md.parse(text, shapes)
    assert e.shape == ("n", "m"), e.text
    values = {"R": np.arange(12.0).reshape(3, 4), "B": np.arange(8.0).reshape(4, 2)}
    r = np.sin(values["R"]) if "sin" in text else 2.0 * values["R"] if "2.0" in text else values["R"]
    assert np.allclose(e.evaluate(values, SIZES), (r @ values["B"]).T)
