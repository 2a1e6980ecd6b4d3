"""Hypothesis strategies for matdiff's expression language.

`expressions()` draws a random *well-shaped* expression as text, with the shapes dictionary that
declares its variables: `("tr(A_nm @ B_mn) + logdet(C_nk @ C_nk.T + eye(n))", {"A_nm": ("n", "m"), ...})`.
Dimensions are the symbols n, m, k and the integers 2 and 3. Every operation of the language
appears (every name of every entry of `matdiff.ops.OPS`: tests/test_properties.py checks that each is
drawn): + - * / ** @ .T and power, every elementwise function (expit, square and reciprocal
among them), comparisons as 0/1 factors, maximum, minimum, where, clip, sum (with and without an axis),
the reductions mean, var, std, max, min (amax, amin), logsumexp with NumPy's axis (also negative and as
a tuple) and keepdims, softmax and log_softmax along an axis, norm2 and norm (orders None, 2, 'fro' and a
vector's 1), tr, det, logdet, inv, solve, matrix_power, pinv, cholesky, tril, triu, diag, outer, kron,
vec, commutation, eye, ones, zeros, pi, dimension names as scalars, a declared function g and its
derivative grad(g), the array functions einsum, swapaxes, moveaxis, transpose and reshape where they
mean something of order ≤ 2, and the np./np.linalg. spellings. Expressions are also *numerically tame*:
log, sqrt, reciprocal, fractional and negative powers and divisors only see positive things (exp(·),
softplus(·), x*x + 1, ...), arcsin, arccos and tan see 0.9 times something in [-1, 1], inv, logdet,
solve and cholesky see positive definite matrices (M @ M.T + eye(n), M @ M.T + n * eye(n)). A random
point may still sit near a kink (relu, abs, sign, maximum, clip, where, max, a comparison) or a singular
matrix: the tests skip such points, not the generator.

Variables are named by their shape so that a failing example reads by itself: `s`, `t` scalars,
`x_n`, `y_n` vectors of length n, `A_nm`, `B_nm` n×m matrices, `S_nn` an spd and `W_nn` a sym one.
With `functions=True`, `g` is a declared function (`"g": ("function",)`), written g(u) and grad(g)(u): a
test that asks for them binds g and its derivatives grad_g, grad_grad_g, ... to functions (matdiff
evaluates grad(g)(u) with values["grad_g"]); without, no expression has one.

`expressions(root=...)` draws an expression whose outermost operation is the one named (an option of
`_Writer.any`, say "solve" or "piecewise"), so a test can make sure each is exercised.

`chains()` draws @ chains of matrices and vectors whose dimensions are n, m, 2 and their products (n*m),
mixing kron with sums and differences, scalar multiples and quotients, unary minus under and over **,
transposes and elementwise functions: every precedence level of the grammar next to every other.
`sample(rng)` and `sample_chain(rng)` make the same choices with a random.Random, thousands a second.

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
    "sinh": ("sinh", "np.sinh"), "cosh": ("cosh", "np.cosh"), "arctan": ("arctan", "np.arctan"),
    "arcsinh": ("arcsinh", "np.arcsinh"), "expm1": ("expm1", "np.expm1"), "square": ("square", "np.square"),
    "sign": ("sign", "np.sign"), "log1p": ("log1p", "np.log1p"), "log2": ("log2", "np.log2"),
    "log10": ("log10", "np.log10"), "reciprocal": ("reciprocal", "np.reciprocal"), "tan": ("tan", "np.tan"),
    "arcsin": ("arcsin", "np.arcsin"), "arccos": ("arccos", "np.arccos"), "power": ("power", "np.power"),
    "maximum": ("maximum", "np.maximum"), "minimum": ("minimum", "np.minimum"), "where": ("where", "np.where"),
    "clip": ("clip", "np.clip"), "solve": ("solve", "np.linalg.solve"), "pinv": ("pinv", "np.linalg.pinv"),
    "matrix_power": ("matrix_power", "np.linalg.matrix_power"), "cholesky": ("cholesky", "np.linalg.cholesky"),
    "tril": ("tril", "np.tril"), "triu": ("triu", "np.triu"), "norm": ("norm", "np.linalg.norm"),
    "std": ("std", "np.std"), "mean": ("mean", "np.mean"), "var": ("var", "np.var"),
    "einsum": ("einsum", "np.einsum"), "swapaxes": ("swapaxes", "np.swapaxes"),
    "moveaxis": ("moveaxis", "np.moveaxis"), "transpose": ("transpose", "np.transpose"),
    "reshape": ("reshape", "np.reshape"),
}
ELEMENTWISE = ("exp", "sin", "cos", "tanh", "abs", "sigmoid", "expit", "softplus", "relu", "sinh", "cosh", "arctan",
               "arcsinh", "erf", "gelu", "silu", "expm1", "square", "sign")  # defined everywhere
POSITIVE_DOMAIN = ("log", "sqrt", "log1p", "log2", "log10", "reciprocal")  # applied to positive things
UNIT_DOMAIN = ("arcsin", "arccos", "tan")  # applied to 0.9 times something in [-1, 1]
BOUNDED = ("sin", "cos", "tanh", "sigmoid", "erf")  # values in [-1, 1]: safe as exponents
# std at a constant is sqrt(0): the tests skip points where a variance is near 0 (see test_properties.py)
REDUCTIONS = ("sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp")
FUNCTION = "g"  # the declared function: g(u), grad(g)(u)


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
    """Writes a random expression of a requested shape, declaring the variables it uses.

    Every choice it makes is `pick` (one of some options) or `flip` (yes or no): Hypothesis draws them in
    `expressions()`, a seeded random.Random in `sample()`."""

    def __init__(self, draw, functions: bool = False) -> None:
        self.draw, self.functions = draw, functions
        self.shapes: dict[str, tuple] = {}
        self.symbols_used: set[str] = set()

    # -- small helpers
    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def flip(self) -> bool:
        return self.draw(st.booleans())

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
            return Text(self.pick(("0", "1", "2", "0.5", "1.5", "3", "1e-3", "pi", "np.pi")), atomic=True)
        if choice == "dimension":
            return Text(self.dimension(self.pick(SYMBOLS)), atomic=True)
        if choice == "eye":
            return self.call("eye", Text(self.dimension(shape[0])))
        if choice in ("spd", "sym"):
            return self.variable(shape, "S" if choice == "spd" else "W", (choice,))
        if not shape:
            return Text("1" if choice == "ones" else "0", atomic=True)
        dims = [self.dimension(d) for d in shape]
        inner = ", ".join(dims) if len(dims) == 1 or self.flip() else f"({', '.join(dims)})"
        return Text(f"{self.spell(choice)}({inner})", atomic=True)

    # -- any expression of a shape
    def any(self, shape, depth: int) -> Text:
        if depth <= 0:
            return self.leaf(shape)
        return getattr(self, "_" + self.pick(options_for(shape, self.functions)))(tuple(shape), depth - 1)

    def _leaf(self, shape, depth):
        return self.leaf(shape)

    def _arithmetic(self, shape, depth):
        a, b = self.any(shape, depth), self.any(self.broadcastable(shape), depth)
        if self.flip():
            a, b = b, a
        return Text(f"{a.operand()} {self.pick(('+', '-', '*'))} {b.operand()}")

    def _divide(self, shape, depth):
        return Text(f"{self.any(shape, depth).operand()} / {self.positive(self.broadcastable(shape), depth).operand()}")

    def _negate(self, shape, depth):
        return Text(f"-{self.any(shape, depth).operand()}")

    def _elementwise(self, shape, depth):
        return self.call(self.pick(ELEMENTWISE), self.any(shape, depth))

    def _positive_domain(self, shape, depth):
        return self.call(self.pick(POSITIVE_DOMAIN), self.positive(shape, depth))

    def _unit_domain(self, shape, depth):
        """arcsin, arccos, tan of 0.9 sin(u), 0.9 tanh(u), ...: inside (-1, 1), away from its ends."""
        inside = self.call(self.pick(BOUNDED), self.any(shape, depth))
        return self.call(self.pick(UNIT_DOMAIN), Text(f"0.9 * {inside.text}"))

    def _declared(self, shape, depth):
        """The declared function g, or its derivative grad(g), of an expression, entry by entry."""
        self.shapes[FUNCTION] = ("function",)
        function = self.pick((FUNCTION, f"grad({FUNCTION})"))
        return Text(f"{function}({self.any(shape, depth).text})", atomic=True)

    def _piecewise(self, shape, depth):
        """maximum, minimum, where, clip, or a comparison as a 0/1 factor (the tests skip points near a kink)."""
        choice = self.pick(("maximum", "minimum", "where", "where_value", "clip", "clip_bounds", "indicator"))
        a, b = self.any(shape, depth), self.any(self.broadcastable(shape), depth)
        if self.flip():
            a, b = b, a  # either may be the one of the full shape
        if choice in ("maximum", "minimum"):
            return self.call(choice, a, b)
        test = Text(f"{self.any(self.broadcastable(shape), depth).text} {self.pick(('>', '<', '>=', '<=', '=='))} "
                    f"{self.any(self.broadcastable(shape), depth).text}")
        if choice == "where":
            return self.call("where", test, a, b)
        if choice == "where_value":  # NumPy's where reads any array as its condition: nonzero entries
            return self.call("where", self.any(self.broadcastable(shape), depth), a, b)
        u = self.any(shape, depth)  # of the full shape
        if choice == "clip":
            lo = self.pick(("-0.5", "0", "-1"))
            return self.call("clip", u, Text(lo), Text(self.pick(("0.5", "1", "2"))))
        if choice == "clip_bounds":  # bounds that are expressions, lo < 0 < hi
            lo = Text(f"-{self.positive(self.broadcastable(shape), depth).operand()}")
            return self.call("clip", u, lo, self.positive(self.broadcastable(shape), depth))
        return Text(f"{u.operand()} * ({test.text})")

    def raised(self, base: Text, exponent: Text) -> Text:
        """base ** exponent, or NumPy's power(base, exponent)."""
        if self.flip():
            return Text(f"{base.operand()} ** {exponent.operand()}")
        return self.call("power", base, exponent)

    def _power(self, shape, depth):
        choice = self.pick(("integer", "positive_base", "bounded_exponent", "number_base"))
        if choice == "integer":
            return self.raised(self.any(shape, depth), Text(self.pick(("2", "3", "1", "0")), atomic=True))
        if choice == "positive_base":
            # NumPy refuses an integer (2, n) to a negative integer power: those bases get -1.0
            exponents = ("0.5", "-1", "1.5", "-0.5", "2.0") if shape else ("0.5", "-1.0", "1.5", "-0.5", "2.0")
            return self.raised(self.positive(shape, depth), Text(self.pick(exponents), atomic=True))
        if choice == "bounded_exponent":
            exponent = self.call(self.pick(BOUNDED), self.any(self.broadcastable(shape), depth))
            return self.raised(self.positive(shape, depth), exponent)
        base = Text(self.pick(("2", "0.5", "3")), atomic=True)
        return self.raised(base, self.call(self.pick(BOUNDED), self.any(shape, depth)))

    def _transpose(self, shape, depth):
        u = self.any(shape[::-1], depth)
        if len(shape) == 2 and self.flip():  # NumPy's other spellings of a matrix's transpose
            spelling = self.pick(("swapaxes", "moveaxis", "transpose", "transpose_axes"))
            if spelling == "swapaxes":
                return self.call("swapaxes", u, Text(self.pick(("0, 1", "1, 0", "-1, 0"))))
            if spelling == "moveaxis":
                return self.call("moveaxis", u, Text(self.pick(("0, 1", "-1, 0", "1, 0"))))
            if spelling == "transpose":
                return self.call("transpose", u)
            return self.call("transpose", u, Text("(1, 0)"))
        operand = f"({u.text})" if u.text[0].isdigit() else u.operand()  # 2.T is not Python
        return Text(f"{operand}.T", atomic=True)

    def _matmul(self, shape, depth):
        inner = self.dim()
        if len(shape) == 2:
            left, right = (shape[0], inner), (inner, shape[1])
        elif len(shape) == 1:
            left, right = self.pick([((shape[0], inner), (inner,)), ((inner,), (inner, shape[0]))])
        else:
            if self.flip():
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

    def _norm(self, shape, depth):
        """NumPy's norm: the 1-norm of a vector, the 2-norm of a vector, the Frobenius norm of a matrix."""
        choice = self.pick(("one", "one_keyword", "vector", "vector_two", "matrix", "matrix_fro"))
        vector, matrix = self.any((self.dim(),), depth), self.any((self.dim(), self.dim()), depth)
        order = {"one": "1", "one_keyword": "ord=1", "vector_two": "2", "matrix_fro": "'fro'"}.get(choice)
        operand = matrix if choice.startswith("matrix") else vector
        return self.call("norm", operand, *((Text(order),) if order else ()))

    def _einsum_scalar(self, shape, depth):
        """einsum of order ≤ 2 that gives a scalar: a trace, a Frobenius product, a dot product."""
        p, q = self.dim(), self.dim()
        choice = self.pick(("'ii->'", "'ij,ij->'", "'i,i->'", "'ij,j->'"))
        operands = {"'ii->'": [(p, p)], "'ij,ij->'": [(p, q), (p, q)], "'i,i->'": [(p,), (p,)],
                    "'ij,j->'": [(p, q), (q,)]}[choice]
        return self.call("einsum", Text(choice), *(self.any(s, depth) for s in operands))

    def _logsumexp(self, shape, depth):
        return self.call("logsumexp", self.any((self.dim(),), depth))

    def _inner(self, shape, depth):
        """a @ B @ b through vec: vec(B) @ vec(C) and vec(B.T) @ commutation @ vec(C)."""
        p, q = self.dim(), self.dim()
        b, c = self.call("vec", self.any((p, q), depth)), self.any((p, q), depth)
        if self.flip():
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
        choice = self.pick(("vec", "vec_transposed", "kron", "kron_vec", "reshape")
                           + (("elementwise",) if depth > 0 else ()))
        if choice == "vec":
            return self.call("vec", self.any((p, q), depth))
        if choice == "reshape":  # row by row: reshape(A_qp, (q * p,)) is vec(A_qp.T), of length p·q
            size = f"({self.dimension(q)} * {self.dimension(p)},)"
            return self.call("reshape", self.any((q, p), depth), Text(size))
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
        if self.flip():
            return self.call("sum", self.any((other, shape[0]), depth), axis=0)
        return self.call("sum", self.any((shape[0], other), depth), axis=1)

    def _diag_of(self, shape, depth):
        return self.call("diag", self.any((shape[0], shape[0]), depth))

    def _softmax(self, shape, depth):
        return self.call("softmax", self.any(shape, depth))

    def _solve(self, shape, depth):
        """solve(A, b) of a positive definite A, b a vector or a matrix (Giles's rule: no inverse)."""
        return self.call("solve", self.positive_definite(shape[0], depth), self.any(shape, depth))

    def _einsum_vector(self, shape, depth):
        q = self.dim()
        if self.flip():
            return self.call("einsum", Text("'ij,j->i'"), self.any((shape[0], q), depth), self.any((q,), depth))
        return self.call("einsum", Text("'j,ji->i'"), self.any((q,), depth), self.any((q, shape[0]), depth))

    # -- reductions with NumPy's axis and keepdims (random points keep a max away from a tie)
    def _reduce_all(self, shape, depth):
        """mean, var, std, max, min or logsumexp of a whole vector or matrix."""
        reduction = self.pick(REDUCTIONS)
        if self.flip():
            return self.call(reduction, self.any((self.dim(),), depth))
        axis = self.pick(("", ", axis=(0, 1)", ", axis=None", ", axis=(-1, 0)"))
        return Text(f"{reduction}({self.any((self.dim(), self.dim()), depth).text}{axis})", atomic=True)

    def _reduce_axis(self, shape, depth):
        """A reduction of a matrix along one axis (as NumPy numbers it, or from the end)."""
        reduction, other = self.pick(REDUCTIONS), self.dim()
        if self.flip():
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

    def _matrix_power(self, shape, depth):
        """matrix_power(X, k): k ≥ 0 of any square matrix, k < 0 of a positive definite one."""
        k = self.pick(("0", "1", "2", "3", "-1", "-2"))
        u = self.positive_definite(shape[0], depth) if k.startswith("-") else self.any(shape, depth)
        return self.call("matrix_power", u, Text(k))

    def _cholesky(self, shape, depth):
        """The lower Cholesky factor of a matrix positive definite and symmetric for every value."""
        return self.call("cholesky", self.positive_definite(shape[0], depth, symmetric=True))

    def _triangle(self, shape, depth):
        return self.call(self.pick(("tril", "triu")), self.any(shape, depth))

    def _pinv(self, shape, depth):
        """The pseudo-inverse of a matrix of full rank: a variable, plus something. matdiff's pinv is that of
        a full-rank matrix (a square one is read as inv), so never of one of lower rank for every value,
        such as outer(x, y) or ones((n, m)); a point where it is near singular is the tests' to skip."""
        u = self.variable(shape[::-1], "A")
        if self.flip():
            u = Text(f"{u.text} + {self.any(shape[::-1], depth).operand()}")
        return self.call("pinv", u)

    def _reshape(self, shape, depth):
        """A matrix read row by row into another shape (NumPy's order): reshape(A_mn, (n, m))."""
        other = self.pick([shape[::-1], shape])
        dims = ", ".join(self.dimension(d) for d in shape)
        return self.call("reshape", self.any(other, depth), Text(f"({dims})"))

    def _einsum_matrix(self, shape, depth):
        q = self.dim()
        choice = self.pick(("product", "transpose", "outer"))
        if choice == "product":
            return self.call("einsum", Text("'ij,jk->ik'"), self.any((shape[0], q), depth),
                             self.any((q, shape[1]), depth))
        if choice == "transpose":
            return self.call("einsum", Text("'ij->ji'"), self.any(shape[::-1], depth))
        return self.call("einsum", Text("'i,j->ij'"), self.any((shape[0],), depth), self.any((shape[1],), depth))

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

    def positive_definite(self, d, depth, symmetric: bool = False) -> Text:
        """A d×d positive definite matrix: M @ M.T + eye(d), M @ M.T + d * eye(d), eye(d) + outer(v, v),
        S (spd; not where it must be `symmetric` for every value, since the derivative is taken by S's
        every entry), ..."""
        eye = self.call("eye", Text(self.dimension(d))).text
        choice = self.pick(("gram", "gram_scaled", "rank_one", "diagonal") + (() if symmetric else ("spd",)))
        if choice == "spd":
            return self.variable((d, d), "S", ("spd",))
        if choice == "gram":
            m = self.any((d, self.dim()), max(0, depth - 1)).operand()
            return Text(f"{m} @ {m}.T + {eye}")
        if choice == "gram_scaled":
            m = self.any((d, self.dim()), max(0, depth - 1)).operand()
            return Text(f"{m} @ {m}.T + {self.dimension(d)} * {eye}")
        if choice == "rank_one":
            v = self.any((d,), max(0, depth - 1))
            return Text(f"{eye} + {self.call('outer', v, v).text}")
        return self.call("diag", self.positive((d,), depth))


SHAPE_CHOICES = [(), (), (), ("n",), (2,), ("n", "m"), ("m", "m"), (3, "k"), ("k", 2)]  # scalars most


def options_for(shape, functions: bool = True) -> list[str]:
    """The ways `_Writer.any` may build an expression of this shape (a name twice: twice as likely); a
    declared function among them where `functions`."""
    options = ["leaf", "arithmetic", "arithmetic", "divide", "negate", "elementwise", "elementwise",
               "positive_domain", "unit_domain", "power", "transpose", "matmul", "matmul", "piecewise"]
    if functions:
        options.append("declared")
    if not shape:
        options += ["trace", "det", "logdet", "sum", "sum", "norm2", "norm", "logsumexp", "inner", "flat", "kron",
                    "reduce_all", "einsum_scalar"]
    elif len(shape) == 1:
        options += ["sum_axis", "sum_axis", "diag_of", "softmax", "matvec_eye", "reduce_axis", "solve",
                    "einsum_vector"]
    else:
        options += ["outer", "reduce_kept", "softmax_axis", "triangle", "pinv", "solve", "reshape", "einsum_matrix"]
        if shape[0] == shape[1]:
            options += ["diag", "inv", "matrix_power", "cholesky"]
    return options


# the shapes an expression rooted at an option is drawn with, where the option has only some shapes
_SCALAR, _VECTOR, _MATRIX, _SQUARE = [()], [("n",), (2,)], [("n", "m"), (3, "k"), ("k", 2)], [("m", "m"), (2, 2)]
ROOT_SHAPES = {**dict.fromkeys(("trace", "det", "logdet", "sum", "norm2", "norm", "logsumexp", "inner", "flat", "kron",
                                "reduce_all", "einsum_scalar"), _SCALAR),
               **dict.fromkeys(("sum_axis", "diag_of", "softmax", "matvec_eye", "reduce_axis", "einsum_vector"),
                               _VECTOR),
               **dict.fromkeys(("outer", "reduce_kept", "softmax_axis", "triangle", "pinv", "reshape",
                                "einsum_matrix"), _MATRIX + _SQUARE),
               **dict.fromkeys(("diag", "inv", "matrix_power", "cholesky"), _SQUARE),
               "solve": _VECTOR + _MATRIX + _SQUARE}


def _write(writer: _Writer, shape, max_depth: int, root: str | None) -> tuple[str, dict]:
    if root == "declared":
        writer.functions = True
    if shape is None:
        shape = writer.pick(ROOT_SHAPES[root] if root in ROOT_SHAPES else SHAPE_CHOICES)
    depth = writer.pick(range(max_depth + 1))
    if root is None:
        text = writer.any(tuple(shape), depth).text
    else:
        text = getattr(writer, "_" + root)(tuple(shape), max(0, depth - 1)).text
    return text, writer.declarations()


@st.composite
def expressions(draw, shape=None, max_depth: int = 3, root: str | None = None,
                functions: bool = False) -> tuple[str, dict]:
    """(text, shapes): a random well-shaped expression of the language and its declarations; with
    `root`, one whose outermost operation is that option of `_Writer.any` (of the shape given, or of
    `ROOT_SHAPES[root]`, or any shape); with `functions`, declared functions among its operations."""
    return _write(_Writer(draw, functions), shape, max_depth, root)


class _Seeded(_Writer):
    """The same writer, its choices made by a random.Random: thousands of expressions a second, for a
    test of what the generator writes at all (Hypothesis spends milliseconds on each of its draws)."""

    def __init__(self, rng, functions: bool) -> None:
        super().__init__(None, functions)
        self.rng = rng

    def pick(self, options):
        return self.rng.choice(list(options))

    def flip(self) -> bool:
        return self.rng.random() < 0.5


def sample(rng, shape=None, max_depth: int = 3, root: str | None = None, functions: bool = False) -> tuple[str, dict]:
    """(text, shapes) as `expressions()` draws them, the choices made by `rng` (a random.Random)."""
    return _write(_Seeded(rng, functions), shape, max_depth, root)


# ---- chains: matrix products mixing kron with sums, scalars, transposes, unary minus and powers -----------

CHAIN_FACTORS = ("n", "m", 2)  # a dimension of a chain is one of these or a product of two (n*m, 2*n)


class _ChainWriter:
    """Writes a random matrix chain of a requested shape: products with @ of Kronecker products, sums and
    differences, scalar multiples and quotients, unary minus (also under and over **), transposes and
    elementwise functions, so that every precedence level of the grammar meets every other. A dimension is
    a tuple of one or two factors: (n,), (m, n) for n*m. Choices are `pick` and `flip`, as `_Writer`'s."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.shapes: dict[str, tuple] = {}
        self.symbols_used: set[str] = set()

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def flip(self) -> bool:
        return self.draw(st.booleans())

    def declarations(self) -> dict:
        declared = {f for dims in self.shapes.values() for d in dims for f in d.split("*")}
        for symbol in sorted(self.symbols_used - declared):  # eye(m) alone needs m declared
            self.shapes[f"x_{symbol}"] = (symbol,)
        return dict(self.shapes)

    def dim(self) -> tuple:
        factors = (self.pick(CHAIN_FACTORS),) if self.flip() else (self.pick(CHAIN_FACTORS), self.pick(CHAIN_FACTORS))
        return tuple(sorted(factors, key=str))

    def variable(self, shape) -> Text:
        letter = self.pick({0: ("s", "t"), 1: ("x", "y"), 2: ("A", "B", "C")}[len(shape)])
        name = letter if not shape else f"{letter}_{'_'.join(''.join(map(str, d)) for d in shape)}"
        self.shapes[name] = tuple("*".join(map(str, d)) for d in shape)
        return Text(name, atomic=True)

    def leaf(self, shape) -> Text:
        options = ["variable"] * 4 + (["number"] if not shape else []) + \
            (["eye"] if len(shape) == 2 and shape[0] == shape[1] else [])
        choice = self.pick(options)
        if choice == "number":
            return Text(self.pick(("2", "0.5", "3")), atomic=True)
        if choice == "eye":
            self.symbols_used.update(f for f in shape[0] if isinstance(f, str))
            return Text(f"eye({' * '.join(map(str, shape[0]))})", atomic=True)
        return self.variable(shape)

    def any(self, shape, depth: int) -> Text:
        if depth <= 0:
            return self.leaf(shape)
        options = ["sum", "sum", "scaled", "negated", "power", "matmul", "matmul", "elementwise", "quotient"]
        if len(shape) == 2:
            options += ["transpose", "hadamard"]
        if all(len(d) == 2 for d in shape) and shape:
            options += ["kron", "kron", "kron"]
        if not shape:
            options += ["trace", "total"]
        return getattr(self, "_" + self.pick(options))(tuple(shape), depth - 1)

    def _sum(self, shape, depth):
        a, b = self.any(shape, depth), self.any(shape if self.flip() else (), depth)
        if self.flip():
            a, b = b, a
        return Text(f"{a.operand()} {self.pick(('+', '-'))} {b.operand()}")

    def _scaled(self, shape, depth):
        s, a = self.any((), depth), self.any(shape, depth)
        return Text(f"{s.operand()} * {a.operand()}" if self.flip() else f"{a.operand()} * {s.operand()}")

    def _quotient(self, shape, depth):
        s = self.any((), depth)
        return Text(f"{self.any(shape, depth).operand()} / ({s.operand()} ** 2 + 1)")

    def _negated(self, shape, depth):
        return Text(f"-{self.any(shape, depth).operand()}")

    def _power(self, shape, depth):
        base = self.any(shape, depth)
        exponent = self.pick(("2", "3"))
        choice = self.pick(("plain", "negated_base", "negated_power"))
        if choice == "negated_base":  # (-a) ** 2
            return Text(f"(-{base.operand()}) ** {exponent}")
        if choice == "negated_power":  # -a ** 2 is -(a ** 2)
            return Text(f"-{base.operand()} ** {exponent}")
        return Text(f"{base.operand()} ** {exponent}")

    def _transpose(self, shape, depth):
        return Text(f"{self.any(shape[::-1], depth).operand()}.T", atomic=True)

    def _hadamard(self, shape, depth):
        return Text(f"{self.any(shape, depth).operand()} * {self.any(shape, depth).operand()}")

    def _elementwise(self, shape, depth):
        return Text(f"{self.pick(('sin', 'tanh', 'exp'))}({self.any(shape, depth).text})", atomic=True)

    def _matmul(self, shape, depth):
        inner = self.dim()
        if not shape:  # x @ y
            left, right = (inner,), (inner,)
        elif len(shape) == 1:  # A @ x or x @ A
            left, right = ((shape[0], inner), (inner,)) if self.flip() else ((inner,), (inner, shape[0]))
        else:
            left, right = (shape[0], inner), (inner, shape[1])
        return Text(f"{self.any(left, depth).operand()} @ {self.any(right, depth).operand()}")

    def _kron(self, shape, depth):
        halves = [d if self.flip() else d[::-1] for d in shape]
        first = tuple((h[0],) for h in halves)
        second = tuple((h[1],) for h in halves)
        return Text(f"kron({self.any(first, depth).text}, {self.any(second, depth).text})", atomic=True)

    def _trace(self, shape, depth):
        d = self.dim()
        return Text(f"tr({self.any((d, d), depth).text})", atomic=True)

    def _total(self, shape, depth):
        return Text(f"sum({self.any((self.dim(), self.dim()), depth).text})", atomic=True)


class _SeededChains(_ChainWriter):
    def __init__(self, rng) -> None:
        super().__init__(None)
        self.rng = rng

    def pick(self, options):
        return self.rng.choice(list(options))

    def flip(self) -> bool:
        return self.rng.random() < 0.5


def _write_chain(writer: _ChainWriter, max_depth: int) -> tuple[str, dict]:
    shape = writer.pick([(), (writer.dim(),), (writer.dim(), writer.dim())])
    text = writer.any(shape, writer.pick(range(1, max_depth + 1))).text
    return text, writer.declarations()


@st.composite
def chains(draw, max_depth: int = 4) -> tuple[str, dict]:
    """(text, shapes): a random matrix chain mixing kron with sums (see `_ChainWriter`)."""
    return _write_chain(_ChainWriter(draw), max_depth)


def sample_chain(rng, max_depth: int = 4) -> tuple[str, dict]:
    """(text, shapes) as `chains()` draws them, the choices made by `rng` (a random.Random)."""
    return _write_chain(_SeededChains(rng), max_depth)
