"""An independent JAX evaluator of the expression language, for cross-checks with jax.grad/jacfwd.

It reads the text with Python's ast (as the corpus checker does with NumPy) and maps each function
to jax.numpy with NumPy's / scipy's meaning, so derivatives computed by JAX never pass through matdiff.
A declared function g (a value with coefficients `c` and an `order`, as the corpus checker binds it:
g(u) = a sin(b u + c) + q u² / 2) is computed by the same formula in jax.numpy, and grad(g) by JAX.
"""
from __future__ import annotations

import ast

import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402


def _commutation(m, n):
    k = jnp.zeros((m * n, m * n))
    rows = [i * n + j for i in range(m) for j in range(n)]
    cols = [j * m + i for i in range(m) for j in range(n)]
    return k.at[jnp.array(rows), jnp.array(cols)].set(1.0)


def _dims(dims):
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], tuple) else dims


def _logdet(a):
    return jnp.linalg.slogdet(a)[1]


def _real(f):
    return lambda x: f(jnp.asarray(x, dtype=jnp.float64))


def _cholesky(a):
    """NumPy's: the factor of the symmetric matrix its lower triangle stands for (jnp symmetrizes instead)."""
    lower = jnp.tril(a)
    return jnp.linalg.cholesky(lower + jnp.tril(a, -1).T)


def _norm(x, ord=None):
    """np.linalg.norm for the orders of the language: a vector's 1-norm, else the 2-norm / Frobenius norm."""
    if ord == 1:
        return jnp.sum(jnp.abs(x))
    return jnp.linalg.norm(x)


class Declared:
    """A declared elementwise function g(u) = a sin(b u + c) + q u² / 2 (the corpus checker's), in JAX;
    `grad(g)` is its derivative, by jax.grad entry by entry."""

    def __init__(self, coefficients, order: int = 0) -> None:
        self.c, self.order = tuple(float(v) for v in coefficients), order

    def _scalar(self, u):
        a, b, c, q = self.c
        f = lambda v: a * jnp.sin(b * v + c) + q * v * v / 2  # noqa: E731
        for _ in range(self.order):
            f = jax.grad(f)
        return f(u)

    def __call__(self, u):
        u = jnp.asarray(u, dtype=jnp.float64)
        return jnp.vectorize(self._scalar)(u)

    def derivative(self) -> "Declared":
        return Declared(self.c, self.order + 1)


def _declared(value):
    """The env's value for a name: a declared function (coefficients `c`, an `order`) becomes `Declared`."""
    if callable(value) and hasattr(value, "c") and hasattr(value, "order"):
        return Declared(value.c, value.order)
    return value


FUNCTIONS = {
    "tr": jnp.trace, "trace": jnp.trace, "det": jnp.linalg.det, "logdet": _logdet, "inv": jnp.linalg.inv,
    "exp": _real(jnp.exp), "log": _real(jnp.log), "sin": _real(jnp.sin), "cos": _real(jnp.cos),
    "tanh": _real(jnp.tanh), "sqrt": _real(jnp.sqrt), "abs": _real(jnp.abs), "sigmoid": _real(jax.nn.sigmoid),
    "softplus": _real(jax.nn.softplus),
    "tan": _real(jnp.tan), "sinh": _real(jnp.sinh), "cosh": _real(jnp.cosh), "arcsin": _real(jnp.arcsin),
    "arccos": _real(jnp.arccos), "arctan": _real(jnp.arctan), "arcsinh": _real(jnp.arcsinh),
    "log1p": _real(jnp.log1p), "expm1": _real(jnp.expm1), "log2": _real(jnp.log2), "log10": _real(jnp.log10),
    "square": _real(jnp.square), "reciprocal": _real(jnp.reciprocal), "sign": _real(jnp.sign),
    "erf": _real(jax.scipy.special.erf), "expit": _real(jax.nn.sigmoid), "relu": _real(jax.nn.relu),
    "gelu": _real(lambda x: jax.nn.gelu(x, approximate=False)), "silu": _real(jax.nn.silu),
    "maximum": jnp.maximum, "minimum": jnp.minimum, "clip": jnp.clip, "power": jnp.power,
    "where": lambda c, a, b: jnp.where(jnp.asarray(c) != 0, a, b),
    "sum": jnp.sum, "mean": jnp.mean, "var": jnp.var, "std": jnp.std, "max": jnp.max, "min": jnp.min,
    "amax": jnp.max, "amin": jnp.min, "norm2": jnp.linalg.norm, "diag": jnp.diag,
    "kron": jnp.kron, "outer": jnp.outer, "eye": jnp.eye,
    "ones": lambda *d: jnp.ones(_dims(d)), "zeros": lambda *d: jnp.zeros(_dims(d)),
    "vec": lambda x: jnp.reshape(x, (-1,), order="F"), "commutation": _commutation,
    # scipy.special's: axis None is the whole array (jax.nn.softmax's default is the last axis)
    "softmax": lambda x, axis=None: jax.nn.softmax(x, axis=tuple(range(jnp.ndim(x))) if axis is None else axis),
    "log_softmax": lambda x, axis=None: jax.nn.log_softmax(x, axis=tuple(range(jnp.ndim(x))) if axis is None else axis),
    "logsumexp": jax.scipy.special.logsumexp,
    "norm": _norm, "solve": jnp.linalg.solve, "matrix_power": lambda x, k: jnp.linalg.matrix_power(x, int(k)),
    "pinv": jnp.linalg.pinv, "cholesky": _cholesky, "tril": jnp.tril, "triu": jnp.triu,
    # arrays of any order, here of order ≤ 2; reshape reads row by row, as NumPy's default order does
    "einsum": jnp.einsum, "swapaxes": jnp.swapaxes, "moveaxis": jnp.moveaxis,
    "transpose": lambda x, axes=None: jnp.transpose(x, axes),
    "reshape": lambda x, shape: jnp.reshape(x, tuple(int(d) for d in shape)),
    "grad": lambda f: f.derivative(),
}
CONSTANTS = {"pi": float(jnp.pi)}
BINARY_INT = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.Div: int.__truediv__}
BINARY = {ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.divide,
          ast.MatMult: jnp.matmul, ast.Pow: jnp.power}
# comparisons are 0/1 arrays, as NumPy's booleans are in arithmetic
COMPARISONS = {ast.Gt: jnp.greater, ast.Lt: jnp.less, ast.GtE: jnp.greater_equal, ast.LtE: jnp.less_equal,
               ast.Eq: jnp.equal}
PREFIXES = ("np.linalg.", "numpy.linalg.", "np.", "numpy.", "md.", "matdiff.")


def evaluate(text: str, env: dict):
    tree = ast.parse(text.strip(), mode="eval")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return _declared(env[node.id]) if node.id in env else CONSTANTS[node.id]
        if isinstance(node, ast.Tuple):
            return tuple(walk(e) for e in node.elts)
        if isinstance(node, ast.Attribute) and node.attr == "T":
            return jnp.transpose(walk(node.value))
        if isinstance(node, ast.Attribute) and ast.unparse(node) in ("np.pi", "numpy.pi"):
            return CONSTANTS["pi"]
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(left, int) and isinstance(right, int) and not isinstance(node.op, ast.Pow):
                return BINARY_INT[type(node.op)](left, right)  # sizes in a shape: reshape(X, (n * m,))
            return BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            test = COMPARISONS[type(node.ops[0])](walk(node.left), walk(node.comparators[0]))
            return jnp.asarray(test, dtype=jnp.float64)
        if isinstance(node, ast.UnaryOp):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Call):  # grad(g)(u)
            return walk(node.func)(*[walk(a) for a in node.args])
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            for prefix in PREFIXES:
                if name.startswith(prefix):
                    name = name[len(prefix):]
            args = [walk(a) for a in node.args]
            kwargs = {k.arg: walk(k.value) for k in node.keywords}
            if name in env:  # a declared function g(u)
                return _declared(env[name])(*args, **kwargs)
            return FUNCTIONS[name](*args, **kwargs)
        raise ValueError(ast.dump(node))

    return walk(tree)


def jacobian(text: str, wrt: str, values: dict, sizes: dict):
    """d text / d wrt, full layout (output axes, then the variable's axes), by jax.jacfwd, jitted: one XLA
    compilation of the whole expression costs a fraction of running it op by op the first time."""
    def f(x):
        return jnp.asarray(evaluate(text, dict(values, **sizes, **{wrt: x})), dtype=jnp.float64)
    return jax.jit(jax.jacfwd(f))(jnp.asarray(values[wrt], dtype=jnp.float64))


def hessian(text: str, wrt: str, values: dict, sizes: dict):
    def f(x):
        return jnp.asarray(evaluate(text, dict(values, **sizes, **{wrt: x})), dtype=jnp.float64)
    return jax.jit(jax.hessian(f))(jnp.asarray(values[wrt], dtype=jnp.float64))
