"""Hypothesis strategies for matdiff's expression language.

`expressions()` draws a random *well-shaped* expression as text, with the shapes dictionary that
declares its variables: `("tr(A_nm @ B_mn) + logdet(C_nk @ C_nk.T + eye(n))", {"A_nm": ("n", "m"), ...})`.
Dimensions are the symbols n, m, k and the integers 2 and 3. Every operation of the language
appears: + - * / ** @ .T, every elementwise function, comparisons as 0/1 factors, maximum, minimum,
where, clip, sum (with and without an axis), the reductions mean, var, max, min (amax), logsumexp with
NumPy's axis (also negative and as a tuple) and keepdims, softmax and log_softmax along an axis, norm2, tr,
det, logdet, inv, diag, outer, kron, vec, commutation, softmax, logsumexp, eye, ones, zeros,
dimension names as scalars, and the np./np.linalg. spellings. Expressions are also *numerically
tame*: log, sqrt, fractional and negative powers and divisors only see positive things (exp(·),
softplus(·), x*x + 1, ...), inv and logdet only see positive definite matrices (M @ M.T + eye(n)).

Variables are named by their shape so that a failing example reads by itself: `s`, `t` scalars,
`x_n`, `y_n` vectors of length n, `A_nm`, `B_nm` n×m matrices, `S_nn` an spd and `W_nn` a sym one.

`examples(quick)` is the number of examples a property test should run: `quick` normally, the
"slow" profile's count under `pytest --slow` (see conftest.py).
"""
from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

SYMBOLS = ("n", "m", "k")
DIMS = SYMBOLS + (2, 3)

# the spellings a user may write for each function (check.py strips the same prefixes)
SPELLINGS = {
    "tr": ("tr", "trace", "np.trace"), "det": ("det", "np.linalg.det"), "inv": ("inv", "np.linalg.inv"),
    "logdet": ("logdet", "matdiff.logdet"), "sum": ("sum", "np.sum"), "kron": ("kron", "np.kron"),
    "outer": ("outer", "np.outer"), "diag": ("diag", "np.diag"), "eye": ("eye", "np.eye"),
    "ones": ("ones", "np.ones"), "zeros": ("zeros", "np.zeros"), "exp": ("exp", "np.exp"),
    "log": ("log", "np.log"), "sqrt": ("sqrt", "np.sqrt"), "sin": ("sin", "np.sin"), "cos": ("cos", "np.cos"),
    "tanh": ("tanh", "np.tanh"), "abs": ("abs", "np.abs"),
}
ELEMENTWISE = ("exp", "sin", "cos", "tanh", "abs", "sigmoid", "softplus", "relu", "sinh", "arctan", "arcsinh",
               "erf", "gelu", "silu", "expm1")  # defined everywhere
BOUNDED = ("sin", "cos", "tanh", "sigmoid", "erf")  # values in [-1, 1]: safe as exponents
REDUCTIONS = ("sum", "mean", "var", "max", "min", "amax", "logsumexp")  # std: not at a constant (its sqrt(0))


def examples(quick: int) -> int:
    """`quick` examples normally; many more under `pytest --slow` (the "slow" profile)."""
    current = settings.default.max_examples
    return max(quick, current) if current >= 1000 else quick


class Text:
    """A piece of expression text and whether it needs parentheses as an operand."""

    __slots__ = ("text", "atomic")

    def __init__(self, text: str, atomic: bool = False) -> None:
        self.text, self.atomic = text, atomic

    def operand(self) -> str:
        return self.text if self.atomic else f"({self.text})"


def _dims_text(shape) -> str:
    return "".join(str(d) for d in shape)


class _Writer:
    """Writes a random expression of a requested shape, declaring the variables it uses."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.shapes: dict[str, tuple] = {}
        self.symbols_used: set[str] = set()

    # -- small helpers
    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def dim(self):
        return self.pick(DIMS)

    def spell(self, function: str) -> str:
        return self.pick(SPELLINGS.get(function, (function,)))

    def call(self, function: str, *args: Text, axis: int | None = None) -> Text:
        inner = ", ".join(a.text for a in args)
        if axis is not None:
            inner += self.pick((f", axis={axis}", f", {axis}"))
        return Text(f"{self.spell(function)}({inner})", atomic=True)

    def dimension(self, d) -> str:
        if isinstance(d, str):
            self.symbols_used.add(d)
        return str(d)

    def variable(self, shape, letter: str | None = None, properties: tuple = ()) -> Text:
        if letter is None:
            letter = self.pick({0: ("s", "t"), 1: ("x", "y"), 2: ("A", "B")}[len(shape)])
        name = letter if not shape else f"{letter}_{_dims_text(shape)}"
        self.shapes[name] = tuple(shape) + properties
        return Text(name, atomic=True)

    def declarations(self) -> dict:
        declared = {d for dims in self.shapes.values() for d in dims if isinstance(d, str)}
        for symbol in sorted(self.symbols_used - declared):  # eye(k) alone needs k declared
            self.shapes[f"x_{symbol}"] = (symbol,)
        return dict(self.shapes)

    def broadcastable(self, shape):
        """A shape that broadcasts against `shape` to give `shape` (NumPy rules)."""
        options = [tuple(shape), ()]
        if len(shape) == 2:
            options.append((shape[1],))
        return self.pick(options)

    # -- leaves
    def leaf(self, shape) -> Text:
        options = ["variable"] * 4 + ["ones", "zeros"]
        if not shape:
            options += ["number", "number", "dimension"]
        if len(shape) == 2 and shape[0] == shape[1]:
            options += ["eye", "spd", "sym"]
        choice = self.pick(options)
        if choice == "variable":
            return self.variable(shape)
        if choice == "number":
            return Text(self.pick(("0", "1", "2", "0.5", "1.5", "3", "1e-3")), atomic=True)
        if choice == "dimension":
            return Text(self.dimension(self.pick(SYMBOLS)), atomic=True)
        if choice == "eye":
            return self.call("eye", Text(self.dimension(shape[0])))
        if choice in ("spd", "sym"):
            return self.variable(shape, "S" if choice == "spd" else "W", (choice,))
        if not shape:
            return Text("1" if choice == "ones" else "0", atomic=True)
        dims = [self.dimension(d) for d in shape]
        inner = ", ".join(dims) if len(dims) == 1 or self.draw(st.booleans()) else f"({', '.join(dims)})"
        return Text(f"{self.spell(choice)}({inner})", atomic=True)

    # -- any expression of a shape
    def any(self, shape, depth: int) -> Text:
        if depth <= 0:
            return self.leaf(shape)
        options = ["leaf", "arithmetic", "arithmetic", "divide", "negate", "elementwise", "elementwise",
                   "log_sqrt", "power", "transpose", "matmul", "matmul", "piecewise"]
        if not shape:
            options += ["trace", "det", "logdet", "sum", "sum", "norm2", "logsumexp", "inner", "flat", "kron",
                        "reduce_all"]
        elif len(shape) == 1:
            options += ["sum_axis", "sum_axis", "diag_of", "softmax", "matvec_eye", "reduce_axis"]
        else:
            options += ["outer", "reduce_kept", "softmax_axis"]
            if shape[0] == shape[1]:
                options += ["diag", "inv"]
        return getattr(self, "_" + self.pick(options))(tuple(shape), depth - 1)

    def _leaf(self, shape, depth):
        return self.leaf(shape)

    def _arithmetic(self, shape, depth):
        a, b = self.any(shape, depth), self.any(self.broadcastable(shape), depth)
        if self.draw(st.booleans()):
            a, b = b, a
        return Text(f"{a.operand()} {self.pick(('+', '-', '*'))} {b.operand()}")

    def _divide(self, shape, depth):
        return Text(f"{self.any(shape, depth).operand()} / {self.positive(self.broadcastable(shape), depth).operand()}")

    def _negate(self, shape, depth):
        return Text(f"-{self.any(shape, depth).operand()}")

    def _elementwise(self, shape, depth):
        return self.call(self.pick(ELEMENTWISE), self.any(shape, depth))

    def _log_sqrt(self, shape, depth):
        return self.call(self.pick(("log", "sqrt", "log1p", "log2", "log10")), self.positive(shape, depth))

    def _piecewise(self, shape, depth):
        """maximum, minimum, where, clip, or a comparison as a 0/1 factor (random points miss the kinks)."""
        choice = self.pick(("maximum", "minimum", "where", "clip", "indicator"))
        a, b = self.any(shape, depth), self.any(self.broadcastable(shape), depth)
        if choice in ("maximum", "minimum"):
            return self.call(choice, a, b)
        test = Text(f"{self.any(self.broadcastable(shape), depth).text} {self.pick(('>', '<', '>=', '<='))} "
                    f"{self.any(self.broadcastable(shape), depth).text}")
        if choice == "where":
            return self.call("where", test, a, b)
        if choice == "clip":
            lo = self.pick(("-0.5", "0", "-1"))
            return Text(f"clip({a.text}, {lo}, {self.pick(('0.5', '1', '2'))})", atomic=True)
        return Text(f"{a.operand()} * ({test.text})")

    def _power(self, shape, depth):
        choice = self.pick(("integer", "positive_base", "bounded_exponent", "number_base"))
        if choice == "integer":
            return Text(f"{self.any(shape, depth).operand()} ** {self.pick(('2', '3', '1', '0'))}")
        if choice == "positive_base":
            # NumPy refuses an integer (2, n) to a negative integer power: those bases get -1.0
            exponents = ("0.5", "-1", "1.5", "-0.5", "2.0") if shape else ("0.5", "-1.0", "1.5", "-0.5", "2.0")
            return Text(f"{self.positive(shape, depth).operand()} ** {self.pick(exponents)}")
        if choice == "bounded_exponent":
            exponent = self.call(self.pick(BOUNDED), self.any(self.broadcastable(shape), depth))
            return Text(f"{self.positive(shape, depth).operand()} ** {exponent.text}")
        return Text(f"{self.pick(('2', '0.5', '3'))} ** {self.call(self.pick(BOUNDED), self.any(shape, depth)).text}")

    def _transpose(self, shape, depth):
        u = self.any(shape[::-1], depth)
        operand = f"({u.text})" if u.text[0].isdigit() else u.operand()  # 2.T is not Python
        return Text(f"{operand}.T", atomic=True)

    def _matmul(self, shape, depth):
        inner = self.dim()
        if len(shape) == 2:
            left, right = (shape[0], inner), (inner, shape[1])
        elif len(shape) == 1:
            left, right = self.pick([((shape[0], inner), (inner,)), ((inner,), (inner, shape[0]))])
        else:
            if self.draw(st.booleans()):
                middle = self.dim()
                return Text(f"{self.any((inner,), depth).operand()} @ {self.any((inner, middle), depth).operand()}"
                            f" @ {self.any((middle,), depth).operand()}")
            left, right = (inner,), (inner,)
        return Text(f"{self.any(left, depth).operand()} @ {self.any(right, depth).operand()}")

    # -- scalars
    def _trace(self, shape, depth):
        d = self.dim()
        return self.call("tr", self.any((d, d), depth))

    def _det(self, shape, depth):
        d = self.pick((2, 3, "n", "m"))
        return self.call("det", self.any((d, d), depth))

    def _logdet(self, shape, depth):
        return self.call("logdet", self.positive_definite(self.dim(), depth))

    def _sum(self, shape, depth):
        return self.call("sum", self.any(self.pick([(), (self.dim(),), (self.dim(), self.dim())]), depth))

    def _norm2(self, shape, depth):
        return self.call("norm2", self.any(self.pick([(self.dim(),), (self.dim(), self.dim())]), depth))

    def _logsumexp(self, shape, depth):
        return self.call("logsumexp", self.any((self.dim(),), depth))

    def _inner(self, shape, depth):
        """a @ B @ b through vec: vec(B) @ vec(C) and vec(B.T) @ commutation @ vec(C)."""
        p, q = self.dim(), self.dim()
        b, c = self.call("vec", self.any((p, q), depth)), self.any((p, q), depth)
        if self.draw(st.booleans()):
            k = self.call("commutation", Text(self.dimension(q)), Text(self.dimension(p)))
            return Text(f"{self.call('vec', self.any((q, p), depth)).text} @ {k.text} @ {self.call('vec', c).text}")
        return Text(f"{b.text} @ {self.call('vec', c).text}")

    def _flat(self, shape, depth):
        """A scalar of a vector of length p·q (vec, kron of vectors, kron(B.T, A) @ vec(X))."""
        p, q = self.dim(), self.dim()
        v = self.flat_vector(p, q, depth)
        reducer = self.pick(("sum", "norm2", "logsumexp", "inner", "softmax"))
        if reducer == "inner":
            return Text(f"{v.operand()} @ {self.flat_vector(q, p, depth).operand()}")
        if reducer == "softmax":
            return Text(f"{self.call('softmax', v).text} @ {self.flat_vector(p, q, depth).operand()}")
        return self.call(reducer, v)

    def flat_vector(self, p, q, depth) -> Text:
        """A vector of length p·q."""
        choice = self.pick(("vec", "vec_transposed", "kron", "kron_vec") + (("elementwise",) if depth > 0 else ()))
        if choice == "vec":
            return self.call("vec", self.any((p, q), depth))
        if choice == "vec_transposed":  # commutation(q, p) @ vec(A) is vec(A.T) for a q×p matrix A
            k = self.call("commutation", Text(self.dimension(q)), Text(self.dimension(p)))
            return Text(f"{k.text} @ {self.call('vec', self.any((q, p), depth)).text}")
        if choice == "kron":
            return self.call("kron", self.any((q,), depth), self.any((p,), depth))
        if choice == "kron_vec":  # kron(B.T, A) @ vec(X) is vec(A @ X @ B), with A p×i, X i×j, B j×q
            i, j = self.dim(), self.dim()
            kron = self.call("kron", self.any((q, j), depth), self.any((p, i), depth))
            return Text(f"{kron.text} @ {self.call('vec', self.any((i, j), depth)).text}")
        return self.call(self.pick(ELEMENTWISE), self.flat_vector(p, q, depth - 1))

    def _kron(self, shape, depth):
        """A scalar of a Kronecker product of matrices."""
        a, b = self.dim(), self.dim()
        choice = self.pick(("trace", "sum", "norm2"))
        if choice == "trace":
            return self.call("tr", self.call("kron", self.any((a, a), depth), self.any((b, b), depth)))
        c, d = self.dim(), self.dim()
        return self.call(choice, self.call("kron", self.any((a, b), depth), self.any((c, d), depth)))

    # -- vectors
    def _sum_axis(self, shape, depth):
        other = self.dim()
        if self.draw(st.booleans()):
            return self.call("sum", self.any((other, shape[0]), depth), axis=0)
        return self.call("sum", self.any((shape[0], other), depth), axis=1)

    def _diag_of(self, shape, depth):
        return self.call("diag", self.any((shape[0], shape[0]), depth))

    def _softmax(self, shape, depth):
        return self.call("softmax", self.any(shape, depth))

    # -- reductions with NumPy's axis and keepdims (random points keep a max away from a tie)
    def _reduce_all(self, shape, depth):
        """mean, var, std, max, min or logsumexp of a whole vector or matrix."""
        reduction = self.pick(REDUCTIONS)
        if self.draw(st.booleans()):
            return self.call(reduction, self.any((self.dim(),), depth))
        axis = self.pick(("", ", axis=(0, 1)", ", axis=None", ", axis=(-1, 0)"))
        return Text(f"{reduction}({self.any((self.dim(), self.dim()), depth).text}{axis})", atomic=True)

    def _reduce_axis(self, shape, depth):
        """A reduction of a matrix along one axis (as NumPy numbers it, or from the end)."""
        reduction, other = self.pick(REDUCTIONS), self.dim()
        if self.draw(st.booleans()):
            return Text(f"{reduction}({self.any((other, shape[0]), depth).text}, axis={self.pick(('0', '-2'))})",
                        atomic=True)
        return Text(f"{reduction}({self.any((shape[0], other), depth).text}, axis={self.pick(('1', '-1'))})",
                    atomic=True)

    def _reduce_kept(self, shape, depth):
        """A matrix against a reduction of it kept as n×1 or 1×m, broadcast back: X - mean(X, axis=1, keepdims=True)."""
        axis = self.pick((0, 1))
        u = self.any(shape, depth)
        kept = Text(f"{self.pick(REDUCTIONS)}({self.any(shape, depth).text}, axis={axis}, keepdims=True)",
                    atomic=True)
        return Text(f"{u.operand()} {self.pick(('+', '-', '*'))} {kept.text}")

    def _softmax_axis(self, shape, depth):
        """softmax or log_softmax of a matrix along an axis, or over the whole of it (scipy's axis None)."""
        axis = self.pick(("", ", axis=0", ", axis=1", ", axis=-1"))
        return Text(f"{self.pick(('softmax', 'log_softmax'))}({self.any(shape, depth).text}{axis})", atomic=True)

    def _matvec_eye(self, shape, depth):
        return Text(f"{self.call('eye', Text(self.dimension(shape[0]))).text} @ {self.any(shape, depth).operand()}")

    # -- matrices
    def _outer(self, shape, depth):
        return self.call("outer", self.any((shape[0],), depth), self.any((shape[1],), depth))

    def _diag(self, shape, depth):
        return self.call("diag", self.any((shape[0],), depth))

    def _inv(self, shape, depth):
        return self.call("inv", self.positive_definite(shape[0], depth))

    # -- positive things
    def positive(self, shape, depth) -> Text:
        """An expression whose every entry is positive."""
        options = ["exp", "softplus", "square_plus_one", "sigmoid"]
        if not shape:
            options += ["number", "dimension"]
        choice = self.pick(options)
        if choice == "number":
            return Text(self.pick(("2", "0.5", "3", "1.5")), atomic=True)
        if choice == "dimension":
            return Text(self.dimension(self.pick(SYMBOLS)), atomic=True)
        u = self.any(shape, max(0, depth - 1))
        if choice == "square_plus_one":
            return Text(f"{u.operand()} * {u.operand()} + 1")
        return self.call(choice, u)

    def positive_definite(self, d, depth) -> Text:
        """A d×d positive definite matrix: M @ M.T + eye(d), eye(d) + outer(v, v), S (spd), ..."""
        eye = self.call("eye", Text(self.dimension(d))).text
        choice = self.pick(("gram", "rank_one", "diagonal", "spd"))
        if choice == "spd":
            return self.variable((d, d), "S", ("spd",))
        if choice == "gram":
            m = self.any((d, self.dim()), max(0, depth - 1)).operand()
            return Text(f"{m} @ {m}.T + {eye}")
        if choice == "rank_one":
            v = self.any((d,), max(0, depth - 1))
            return Text(f"{eye} + {self.call('outer', v, v).text}")
        return self.call("diag", self.positive((d,), depth))


SHAPES = st.sampled_from([(), (), (), ("n",), (2,), ("n", "m"), ("m", "m"), (3, "k"), ("k", 2)])  # scalars most


@st.composite
def expressions(draw, shape=None, max_depth: int = 3) -> tuple[str, dict]:
    """(text, shapes): a random well-shaped expression of the language and its declarations."""
    writer = _Writer(draw)
    if shape is None:
        shape = draw(SHAPES)
    depth = draw(st.integers(min_value=0, max_value=max_depth))
    text = writer.any(tuple(shape), depth).text
    return text, writer.declarations()
