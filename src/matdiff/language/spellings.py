"""The spellings people paste from NumPy, SciPy, JAX and PyTorch code, and what the parser says of a name
the language does not read.

A library's name is read as the language's own only where it means the same, decided name by name:
`np.dot` is `@` for vectors and matrices (a product where one side is a scalar), `jax.nn.softmax`
normalises over the last axis where scipy's normalises over the whole array (so it reads with axis=-1),
`torch.var` divides by n − 1 (so it is refused, with the reason). NumPy's array methods (`X.sum(axis=0)`,
`x.dot(y)`) read as the function of the same name with the array first, for the methods in METHODS only.
Names NumPy has that the language still lacks (`np.linalg.eigh`, `concatenate`) are NOT_YET: the message
says they are not part of the language yet, never "unknown function".

The operations are not listed here: the language's own names come from the entries (`Op.names`), and a
library reads them where `Library.every_name` says so. What a name reads as is a name of the language or
one of the OPERATORS, which the parser builds as it builds `a @ b`.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# NumPy's functions for the operators: np.matmul(a, b) is a @ b. "dot" is np.dot, which is @ for vectors
# and matrices and a product where one side is a scalar; "len" is Python's, len(x) the dimension x.shape[0].
OPERATORS = {"@": 2, "*": 2, "/": 2, "+": 2, "-": 2, "neg": 1, "dot": 2, "len": 1}


@dataclass(frozen=True)
class Spelling:
    """What a library's name reads as.

    `reads`: a name of the language, or one of the OPERATORS; `defaults`: keywords whose default in the
    library differs from the language's (jax.nn.softmax's axis=-1), added where the call leaves them out;
    `requires`: a keyword the call must write with this value for the meaning to be the language's
    (jax.nn.gelu's approximate=False), then dropped, and the message if it does not; `refused`: why the
    name is not read (what it means there, and what to write instead).
    """

    reads: str = ""
    defaults: tuple[tuple[str, object], ...] = ()
    requires: tuple[str, object, str] | None = None
    refused: str = ""


def _same(*names: str) -> dict[str, Spelling]:
    return {name: Spelling(name) for name in names}


@dataclass(frozen=True)
class Library:
    """A module prefix people paste, and what its names mean in the language.

    `every_name`: every name of the language reads as itself after these prefixes (NumPy's, as the
    language is NumPy's); `names`: the library's own names (its aliases, and where it is not NumPy, the
    names it shares with the language, one by one); `keywords`: its keywords in the language's words
    (torch's dim is axis), whose calls then pass every literal by keyword, in the library's order.
    """

    label: str
    prefixes: tuple[str, ...]
    names: Mapping[str, Spelling]
    every_name: bool = False
    keywords: Mapping[str, str] = field(default_factory=dict)


_NUMPY_ALIASES = {
    "matmul": Spelling("@"), "dot": Spelling("dot"), "multiply": Spelling("*"), "divide": Spelling("/"),
    "true_divide": Spelling("/"), "add": Spelling("+"), "subtract": Spelling("-"), "negative": Spelling("neg"),
    "absolute": Spelling("abs"), "fabs": Spelling("abs"), "len": Spelling("len"),
}

NUMPY = Library("NumPy", ("numpy.linalg.", "np.linalg.", "numpy.", "np.", "jax.numpy.linalg.", "jax.numpy.",
                          "jnp.linalg.", "jnp.", "matdiff.", "md.", "linalg.", ""),
                _NUMPY_ALIASES, every_name=True)

SCIPY_SPECIAL = Library("scipy.special", ("jax.scipy.special.", "scipy.special.", "sp.special.", "jsp.special.",
                                          "special."),
                        _same("expit", "logsumexp", "softmax", "log_softmax", "erf", "expm1", "log1p"))

SCIPY_LINALG = Library("scipy.linalg", ("jax.scipy.linalg.", "scipy.linalg.", "sp.linalg."), {
    **_same("inv", "det", "solve", "pinv", "norm"),
    "cholesky": Spelling("cholesky", requires=(
        "lower", True, "scipy.linalg.cholesky is the upper factor unless lower=True; the language's cholesky is "
                       "NumPy's, the lower one: write scipy.linalg.cholesky(A, lower=True) or np.linalg.cholesky(A)")),
})

_LAST_AXIS = (("axis", -1),)
JAX_NN = Library("jax.nn", ("jax.nn.",), {
    **_same("relu", "sigmoid", "softplus", "silu", "logsumexp"),
    "swish": Spelling("silu"),
    "softmax": Spelling("softmax", defaults=_LAST_AXIS),          # scipy's default is the whole array
    "log_softmax": Spelling("log_softmax", defaults=_LAST_AXIS),
    "gelu": Spelling("gelu", requires=(
        "approximate", False, "jax.nn.gelu is the tanh approximation unless approximate=False; the language's "
                              "gelu is the exact one, 0.5 u (1 + erf(u/√2)): write jax.nn.gelu(u, approximate=False)")),
})

_TORCH_REDUCTION = "torch.{0}(x, dim) returns the values and their indices; write torch.a{0}(x, dim) or np.{0}"
TORCH = Library("PyTorch", ("torch.nn.functional.", "torch.special.", "nn.functional.", "torch.", "F."), {
    **_same("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt", "abs", "sigmoid", "relu", "erf",
            "expm1", "log1p", "log2", "log10", "square", "reciprocal", "sign", "where", "maximum", "minimum",
            "trace", "det", "logdet", "outer", "kron", "diag", "tril", "triu", "cholesky", "sum", "mean",
            "amax", "amin", "clip", "gelu", "silu", "softplus", "expit", "logsumexp",
            "arcsin", "arccos", "arctan", "arcsinh"),
    # softmax without dim: F.softmax's own choice for a vector or a matrix is the last axis
    "softmax": Spelling("softmax", defaults=_LAST_AXIS), "log_softmax": Spelling("log_softmax", defaults=_LAST_AXIS),
    "asin": Spelling("arcsin"), "acos": Spelling("arccos"), "atan": Spelling("arctan"), "asinh": Spelling("arcsinh"),
    "inverse": Spelling("inv"), "pow": Spelling("power"), "clamp": Spelling("clip"), "t": Spelling("transpose"),
    "matmul": Spelling("@"), "mm": Spelling("@"), "mv": Spelling("@"), "dot": Spelling("@"),
    "mul": Spelling("*"), "multiply": Spelling("*"), "div": Spelling("/"), "divide": Spelling("/"),
    "add": Spelling("+"), "sub": Spelling("-"), "subtract": Spelling("-"), "neg": Spelling("neg"),
    "negative": Spelling("neg"),
    "var": Spelling(refused="torch.var divides by n - 1 (Bessel's correction) unless told otherwise; the "
                            "language's var is NumPy's, which divides by n: write np.var"),
    "std": Spelling(refused="torch.std divides by n - 1 (Bessel's correction) unless told otherwise; the "
                            "language's std is NumPy's, which divides by n: write np.std"),
    "max": Spelling(refused=_TORCH_REDUCTION.format("max")),
    "min": Spelling(refused=_TORCH_REDUCTION.format("min")),
    "norm": Spelling(refused="torch.norm's p=2 of a matrix is its Frobenius norm, NumPy's ord=2 its spectral "
                             "norm: write torch.linalg.norm (NumPy's meanings) or norm2 (the Frobenius norm)"),
    "transpose": Spelling("swapaxes"), "swapaxes": Spelling("swapaxes"), "permute": Spelling("transpose"),
    "movedim": Spelling("moveaxis"), "einsum": Spelling("einsum"), "reshape": Spelling("reshape"),
}, keywords={"dim": "axis", "keepdim": "keepdims"})

TORCH_LINALG = Library("torch.linalg", ("torch.linalg.",),
                       _same("solve", "inv", "pinv", "cholesky", "matrix_power", "norm", "det"))

LIBRARIES = (NUMPY, SCIPY_SPECIAL, SCIPY_LINALG, JAX_NN, TORCH, TORCH_LINALG)
_BY_PREFIX = sorted(((prefix, library) for library in LIBRARIES for prefix in library.prefixes),
                    key=lambda item: -len(item[0]))


def library_of(dotted: str) -> tuple[Library | None, str]:
    """The library a dotted name is called from, and the name in it: np.linalg.inv -> (NUMPY, "inv").
    A name with a prefix no library has is (None, the last part of the name)."""
    for prefix, library in _BY_PREFIX:
        if dotted.startswith(prefix) and "." not in dotted[len(prefix):]:
            return library, dotted[len(prefix):]
    return None, dotted.rsplit(".", 1)[-1]


def spelling_of(library: Library | None, name: str, language: Iterable[str]) -> Spelling | None:
    """What `name`, called from `library`, reads as; None where it reads as nothing."""
    if library is None:
        return None
    if name in library.names:
        return library.names[name]
    return Spelling(name) if library.every_name and name in language else None


# ---- NumPy's methods of arrays ------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    """A method of NumPy arrays that means the function of the same name with the array first
    (X.sum(axis=0) is np.sum(X, axis=0)). `positional`: how many arguments it takes by position
    after the array, as NumPy's method reads them (X.sum(0) is the axis; in X.sum(0, True) True is
    not keepdims but a dtype); `beyond`: what the message says of one more."""

    reads: str
    positional: int
    beyond: str = ""
    packs: bool = False  # X.transpose(1, 0, 2), X.reshape(n, m): the axes or the shape unpacked, one tuple


_REDUCTION = ("; NumPy reads the next one as a dtype or an output array, not keepdims: write keepdims=True as "
              "a keyword")
METHODS = {
    "dot": Method("dot", 1), "sum": Method("sum", 1, _REDUCTION), "mean": Method("mean", 1, _REDUCTION),
    "max": Method("max", 1, _REDUCTION), "min": Method("min", 1, _REDUCTION), "var": Method("var", 1, _REDUCTION),
    "std": Method("std", 1, _REDUCTION),
    "transpose": Method("transpose", 1, packs=True), "permute": Method("transpose", 1, packs=True),
    "swapaxes": Method("swapaxes", 2), "reshape": Method("reshape", 1, packs=True),
    "trace": Method("trace", 0, "; an offset is not part of the language yet"), "clip": Method("clip", 2),
}


# ---- what NumPy (and its neighbours) have that the language has not yet ----------------------------

NOT_YET = {
    # structure
    "concatenate": "", "stack": "", "hstack": "", "vstack": "", "column_stack": "", "block": "",
    "tile": "", "repeat": "", "broadcast_to": "", "expand_dims": "", "squeeze": "", "flip": "", "roll": "",
    "ravel": " (X.flatten() is vec(X.T): vec is "
    "column-major)", "flatten": " (X.flatten() is vec(X.T): vec is column-major)",
    "diagonal": " (diag(X) is the diagonal of a matrix)",
    # linear algebra
    "eigh": "", "eig": "", "eigvals": "", "eigvalsh": "", "svd": "", "svdvals": "", "qr": "", "lstsq": "",
    "expm": "", "logm": "", "sqrtm": "", "slogdet": " (logdet(X) is log det X)", "matrix_rank": "", "cond": "",
    "multi_dot": " (write A @ B @ C)", "inner": " (for vectors, x @ y)", "vdot": " (for vectors, x @ y)",
    "cross": "", "lu": "", "cho_solve": "", "solve_triangular": "",
    # reductions, scans, order
    "prod": "", "cumsum": "", "cumprod": "", "sort": "", "argsort": "", "argmax": "", "argmin": "",
    "median": "", "percentile": "", "quantile": "", "average": "", "cov": "", "corrcoef": "", "ptp": "",
    "diff": "", "nansum": "", "nanmean": "",
    # elementwise
    "arctanh": "", "arccosh": "", "exp2": "", "cbrt": "", "floor": "", "ceil": "", "round": "", "rint": "",
    "trunc": "", "mod": "", "fmod": "", "hypot": "", "logaddexp": "", "logaddexp2": "", "sinc": "",
    "heaviside": "", "float_power": "", "logit": "", "log_sigmoid": "", "xlogy": "", "gammaln": "",
    "digamma": "", "erfc": "", "erfinv": "", "ndtr": "", "log_ndtr": "",
    "elu": "", "leaky_relu": "", "selu": "", "celu": "", "relu6": "", "hard_tanh": "", "glu": "", "mish": "",
    "softsign": "", "one_hot": "", "standardize": "", "normalize": "",
    # constants made from arrays
    "ones_like": "", "zeros_like": "", "full": "", "full_like": "", "arange": "", "linspace": "",
}


def not_yet(written: str, name: str) -> str | None:
    """'np.linalg.eigh is not part of the language yet' for a name the language still lacks."""
    if name not in NOT_YET:
        return None
    return f"{written} is not part of the language yet{NOT_YET[name]}"


# ---- suggestions for a name nobody has -------------------------------------------------------------

# names people reach for that the language spells otherwise
SYNONYMS = {"inverse": "inv", "ln": "log", "logistic": "sigmoid", "determinant": "det", "frobenius": "norm2",
            "mm": "@", "mv": "@", "matrix_multiply": "@", "mul": "*", "div": "/", "sub": "-", "neg": "-",
            "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "clamp": "clip",
            "pow": "power", "reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max", "reduce_min": "min",
            "reduce_logsumexp": "logsumexp"}


def suggestions(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'max'?)' for the names near `name` among `candidates`, or ''. Nearer than
    errors.close_matches asks (a ratio of 0.7, not 0.6): `max` is not near `softmax`."""
    pool = sorted(set(candidates))
    found = [SYNONYMS[name]] if name in SYNONYMS else difflib.get_close_matches(name, pool, n=3, cutoff=0.7)
    found = found or sorted(c for c in pool if c.lower() == name.lower())
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)" if found else ""


def names_of(library: Library | None, language: Iterable[str]) -> list[str]:
    """The names a library's calls read, for suggestions (the language's own where the library is unknown)."""
    own = [name for name, spelling in (library.names.items() if library else ()) if not spelling.refused]
    return sorted(set(own) | (set(language) if library is None or library.every_name else set()))
