"""Generated code: an expression and its derivatives as one plain NumPy, JAX or PyTorch function.

    >>> import matdiff as md
    >>> print(md.codegen("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", hessian=True))
    ... # doctest: +SKIP
    def f(X, w, y):
        '''value, grad_w, hess_w = f(X, w, y)
        ... (the formulas, as matdiff prints them, and the shapes)
        '''
        assert X.ndim == 2, f'X must be 2-D (n×p), got {X.ndim}-D'
        n, p = X.shape
        assert w.shape == (p,), f'w has shape {w.shape}, expected p = {(p,)}'
        assert y.shape == (n,), f'y has shape {y.shape}, expected n = {(n,)}'
        t0 = X @ w
        t1 = 0.5 * (1.0 + np.tanh(0.5 * t0))
        t2 = X * np.sqrt(t1 * (1.0 - t1))[:, None]
        value = np.logaddexp(0.0, t0).sum() - y @ t0
        grad_w = X.T @ (t1 - y)
        hess_w = t2.T @ t2
        return (value, grad_w, hess_w)

`codegen` returns the source of `f(<variables>) -> (value, gradients...[, Hessians...])`; `compile`
runs that source in a fresh namespace holding only the backend's modules and returns `f`.

Three steps, each in its own place below:
1. *Lowering.* Every operation of the expression DAG becomes a Python expression (a `Term`) by its
   entry in `LOWERINGS`, one entry per operation, like JAX's lowering rules. Entries write array
   functions only through `SPELLINGS`, the one table that knows how NumPy, JAX and PyTorch spell
   each function. The entries for `@`, `+`, `tr`, `diag`, `sum` and `**` exploit structure instead
   of materialising it: diag(v) @ M is `v[:, None] * M`, kron(P, Q) @ vec(V) is vec(Q V Pᵀ) (an
   opt_einsum contraction for a matrix operand), the commutation matrix is a reshape, M @ outer(a, b)
   @ N is outer(M a, Nᵀ b), tr(A @ B) is sum(A ⊙ Bᵀ), Xᵀ diag(c) X is a symmetric Gram product and
   T + Tᵀ computes T once.
2. *Sharing.* Terms are interned, so equal code is one object: every Term used more than once, and
   every factorisation or Kronecker product, is computed once into a temporary `t0 = ...`.
3. *Printing.* Terms become Python `ast` nodes printed by `ast.unparse`: precedence is exact and no
   user text is ever pasted into the source (names are checked identifiers, numbers go through repr).

This module owns code generation; derivatives come from `matdiff.api`, numeric checks from `numeric_check.py`.
"""
from __future__ import annotations

import ast
import builtins
import itertools
import keyword
import linecache
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .api import Expression, derivative, parse, vjp
from .dims import Dim, DimProduct, Shape, format_shape
from .errors import DeclarationError, MatdiffError, NotSupportedError, UnknownNameError
from .expr import Node, free_variables, topological
from .ops import is_symmetric, matmul_chain, split_coefficient, transpose

BACKENDS = ("numpy", "jax", "torch")

# ---- the backends' spellings, all in one place ------------------------------------------------------
# operation: (placeholders, numpy, jax, torch); one string stands for all three backends. Templates are
# Python expressions written here, never user text; a placeholder is replaced by the code of an operand.
# `like` is an argument of the generated function, used for PyTorch's dtype and device.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "exp": ("x", "np.exp(x)", "jnp.exp(x)", "torch.exp(x)"),
    "log": ("x", "np.log(x)", "jnp.log(x)", "torch.log(x)"),
    "sin": ("x", "np.sin(x)", "jnp.sin(x)", "torch.sin(x)"),
    "cos": ("x", "np.cos(x)", "jnp.cos(x)", "torch.cos(x)"),
    "tanh": ("x", "np.tanh(x)", "jnp.tanh(x)", "torch.tanh(x)"),
    "sqrt": ("x", "np.sqrt(x)", "jnp.sqrt(x)", "torch.sqrt(x)"),
    "abs": ("x", "np.abs(x)", "jnp.abs(x)", "torch.abs(x)"),
    "sigmoid": ("x", "0.5 * (1.0 + np.tanh(0.5 * x))", "jax.nn.sigmoid(x)", "torch.sigmoid(x)"),
    "softplus": ("x", "np.logaddexp(0.0, x)", "jax.nn.softplus(x)", "torch.nn.functional.softplus(x)"),
    "logsumexp": ("x", "np.logaddexp.reduce(x)", "jax.nn.logsumexp(x)", "torch.logsumexp(x, 0)"),
    "softmax": ("x", "np.exp(x - np.logaddexp.reduce(x))", "jax.nn.softmax(x)", "torch.softmax(x, 0)"),
    "sum": ("x", "x.sum()", "jnp.sum(x)", "torch.sum(x)"),  # NumPy's method skips a dispatch layer (1 µs)
    "sum_axis": ("x axis", "x.sum(axis=axis)", "jnp.sum(x, axis=axis)", "torch.sum(x, axis)"),
    "sum_product": ("x y", "np.vdot(x, y)", "jnp.vdot(x, y)", "torch.sum(x * y)"),  # sum(x ⊙ y)
    "sum_squares": ("x", "np.vdot(x, x)", "jnp.vdot(x, x)", "torch.sum(x * x)"),  # norm2(x) ** 2
    "norm2": ("x", "np.linalg.norm(x)", "jnp.linalg.norm(x)", "torch.linalg.norm(x)"),
    "tr": ("x", "np.trace(x)", "jnp.trace(x)", "torch.trace(x)"),
    "diag": ("x", "np.diag(x)", "jnp.diag(x)", "torch.diag(x)"),
    "diag_of_product": ("x y", "np.einsum('ij,ji->i', x, y)", "jnp.einsum('ij,ji->i', x, y)",
                        "torch.einsum('ij,ji->i', x, y)"),
    "outer": ("x y", "np.outer(x, y)", "jnp.outer(x, y)", "torch.outer(x, y)"),
    # torch.kron (2.13) fails on transposed views: "view size is not compatible with input tensor's size"
    "kron": ("x y", "np.kron(x, y)", "jnp.kron(x, y)", "torch.kron(x.contiguous(), y.contiguous())"),
    "vec": ("x", "x.T.reshape(-1)"),  # column-major, as in the Cookbook
    "det": ("x", "np.linalg.det(x)", "jnp.linalg.det(x)", "torch.linalg.det(x)"),
    "logdet": ("x", "np.linalg.slogdet(x)[1]", "jnp.linalg.slogdet(x)[1]", "torch.linalg.slogdet(x)[1]"),
    "inv": ("x", "np.linalg.inv(x)", "jnp.linalg.inv(x)", "torch.linalg.inv(x)"),
    "solve": ("a b", "np.linalg.solve(a, b)", "jnp.linalg.solve(a, b)", "torch.linalg.solve(a, b)"),
    "multi_dot": ("xs", "np.linalg.multi_dot(xs)", "jnp.linalg.multi_dot(xs)", "torch.linalg.multi_dot(xs)"),
    "eye": ("n like", "np.eye(n)", "jnp.eye(n)", "torch.eye(n, dtype=like.dtype, device=like.device)"),
    "ones": ("shape like", "np.ones(shape)", "jnp.ones(shape)",
             "torch.ones(shape, dtype=like.dtype, device=like.device)"),
    "zeros": ("shape like", "np.zeros(shape)", "jnp.zeros(shape)",
              "torch.zeros(shape, dtype=like.dtype, device=like.device)"),
    "array": ("x like", "np.asarray(x)", "jnp.asarray(x)", "torch.full((), x, dtype=like.dtype, device=like.device)"),
    "commutation": ("m n like", "np.eye(m * n)[np.arange(m * n).reshape(n, m).T.reshape(-1)]",
                    "jnp.eye(m * n)[jnp.arange(m * n).reshape(n, m).T.reshape(-1)]",
                    "torch.eye(m * n, dtype=like.dtype, device=like.device)"
                    "[torch.arange(m * n, device=like.device).reshape(n, m).T.reshape(-1)]"),
    # structure instead of materialised matrices
    "scale_rows": ("v x", "v[:, None] * x"),  # diag(v) @ X
    "column": ("v", "v[:, None]"),
    "plus_transpose": ("x", "x + x.T", "_plus_transpose(x)", "x + x.T"),  # a symmetric sum, T + Tᵀ
    "kron_matvec": ("p qt x p1 q1", "(p @ x.reshape(p1, q1) @ qt).reshape(-1)"),  # kron(P, Q) @ x
    "vecmat_kron": ("x pt q p0 q0", "(pt @ x.reshape(p0, q0) @ q).reshape(-1)"),  # x @ kron(P, Q)
    "flatten": ("x", "x.reshape(-1)"),  # row-major: vec(X.T)
    # Mᵀ x: XLA on CPU copies a transposed matrix before a matrix-vector product, x @ M contracts in place
    "transposed_matvec": ("m x", "m.T @ x", "x @ m", "m.T @ x"),
    "kron_matmul": ("p q x p1 q1",  # kron(P, Q) @ X, contracted without forming kron(P, Q)
                    "oe.contract('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])",
                    "jnp.einsum('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])",
                    "torch.einsum('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])"),
    "matmul_kron": ("x p q p0 q0",  # X @ kron(P, Q)
                    "oe.contract('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)",
                    "jnp.einsum('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)",
                    "torch.einsum('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)"),
    "commute_vector": ("x m n", "x.reshape(n, m).T.reshape(-1)"),  # commutation(m, n) @ x
    "commute_rows": ("x m n", "x.reshape(n, m, -1).transpose(1, 0, 2).reshape(m * n, -1)",
                     "x.reshape(n, m, -1).transpose(1, 0, 2).reshape(m * n, -1)",
                     "x.reshape(n, m, -1).permute(1, 0, 2).reshape(m * n, -1)"),
    "commute_columns": ("x m n", "x.reshape(-1, m, n).transpose(0, 2, 1).reshape(-1, m * n)",  # X @ K(m, n)
                        "x.reshape(-1, m, n).transpose(0, 2, 1).reshape(-1, m * n)",
                        "x.reshape(-1, m, n).permute(0, 2, 1).reshape(-1, m * n)"),
    # the arguments' shapes, for the checks at the top of the function
    "ndim": ("x", "x.ndim"),
    "shape": ("x", "x.shape"),
    "scalar_ndim": ("x", "np.ndim(x)", "jnp.ndim(x)", "x.ndim"),
}

# Helper functions a backend's spelling may call, written into the generated source above the function
# (only where used). XLA on CPU fuses a transposed operand into a strided loop that runs about ten times
# slower than a plain transpose (A + A.T at n = 2000: 66 ms against 5 ms); the same sum over square
# tiles is a transpose XLA handles well. Shapes are static under jit, so the tiling is chosen at trace time.
HELPERS: dict[str, dict[str, str]] = {
    "_plus_transpose": {"jax": '''
def _plus_transpose(a):
    """a + a.T for a square a, as a sum over square tiles where that is faster under XLA."""
    n = a.shape[0]
    b = next((b for b in (64, 50, 40, 32, 25, 20, 16) if n % b == 0), 0)
    if n < 800 or not b:
        return a + a.T
    tiles = a.reshape(n // b, b, n // b, b)
    return (tiles + tiles.transpose(2, 3, 0, 1)).reshape(n, n)
'''},
}

# The modules each backend's code may use, as (name in the generated code, module to import).
MODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "numpy": (("np", "numpy"), ("oe", "opt_einsum")),
    "jax": (("jax", "jax"), ("jnp", "jax.numpy")),
    "torch": (("torch", "torch"),),
}

# NumPy's `Y.T @ Y` calls BLAS syrk (half the work of a general product); XLA and PyTorch do not.
GRAM_BY_SQUARE_ROOT = {"numpy": True, "jax": False, "torch": False}

# Calls worth a line of their own even when used once: factorisations and big products.
_EXPENSIVE = ("inv", "det", "slogdet", "solve", "kron", "einsum", "contract", "multi_dot")


# ---- terms: the generated code, one interned object per distinct expression ---------------------


class Term:
    """A Python expression: `kind` is an `ast` class name, `value` its non-expression fields."""

    __slots__ = ("kind", "value", "args", "ndim")

    def __init__(self, kind: str, value: Any, args: tuple["Term", ...], ndim: int | None) -> None:
        self.kind, self.value, self.args, self.ndim = kind, value, args, ndim

    def __repr__(self) -> str:
        return f"Term({ast.unparse(_to_ast(self, {}))})"


_TEMPLATES: dict[str, ast.expr] = {}


def _template(text: str) -> ast.expr:
    if text not in _TEMPLATES:
        _TEMPLATES[text] = ast.parse(text, mode="eval").body
    return _TEMPLATES[text]


def _spelling(what: str, backend: str) -> tuple[list[str], str]:
    entry = SPELLINGS[what]
    text = entry[1] if len(entry) == 2 else entry[1 + BACKENDS.index(backend)]
    return entry[0].split(), text


_BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "@": ast.MatMult, "**": ast.Pow}


def _to_ast(term: Term, names: dict[Term, str], top: bool = True) -> ast.expr:
    """The `ast` of a term; a term with a temporary's name in `names` is that name (except at the top)."""
    if not top and term in names:
        return ast.Name(names[term])
    a = [_to_ast(t, names, top=False) for t in term.args]
    kind, value = term.kind, term.value
    if kind == "Name":
        return ast.Name(value)
    if kind == "Constant":
        return ast.Constant(value)
    if kind == "Attribute":
        return ast.Attribute(a[0], value)
    if kind == "Call":
        npos, kwnames = value
        return ast.Call(a[0], a[1:1 + npos], [ast.keyword(k, v) for k, v in zip(kwnames, a[1 + npos:])])
    if kind == "BinOp":
        return ast.BinOp(a[0], _BINOPS[value](), a[1])
    if kind == "UnaryOp":
        return ast.UnaryOp(ast.USub(), a[0])
    if kind == "Subscript":
        return ast.Subscript(a[0], a[1])
    if kind == "Slice":
        return ast.Slice()
    if kind == "Tuple":
        return ast.Tuple(a)
    if kind == "List":
        return ast.List(a)
    raise AssertionError(kind)


def _dotted(term: Term) -> str:
    if term.kind == "Name":
        return term.value
    if term.kind == "Attribute":
        return _dotted(term.args[0]) + "." + term.value
    return ""


def _is_view(term: Term) -> bool:
    """`x.T` and `x[:, None]`: free views of x (x itself is what may need a temporary)."""
    if term.kind == "Attribute":
        return term.value == "T"
    return term.kind == "Subscript" and term.args[1].kind == "Tuple" and all(
        i.kind == "Slice" or i.kind == "Constant" and i.value is None for i in term.args[1].args)


def _is_trivial(term: Term) -> bool:
    """Names, numbers, `np.linalg`, a method `t.reshape`, views of those: nothing worth a temporary."""
    if term.kind in ("Name", "Constant", "Slice") or term.kind == "Attribute" and term.value != "T":
        return True
    if term.kind in ("Attribute", "Subscript", "Tuple", "UnaryOp"):
        return all(_is_trivial(t) for t in term.args)
    if term.kind == "BinOp" and term.ndim == 0:  # n * m, 2.0 * lam: arithmetic on numbers
        return all(_is_trivial(t) and t.ndim == 0 for t in term.args)
    return False


def _is_expensive(term: Term) -> bool:
    if term.kind == "Subscript":  # slogdet(S)[1]: the whole is what is worth a line
        return _is_expensive(term.args[0])
    return term.kind == "Call" and _dotted(term.args[0]).rsplit(".", 1)[-1] in _EXPENSIVE


# ---- names --------------------------------------------------------------------------------------

_RESERVED = frozenset(name for spec in MODULES.values() for name, _ in spec) | frozenset(dir(builtins)) \
    | frozenset(HELPERS)


def check_name(name: object, what: str = "variable") -> str:
    """A name that may stand in generated code: an ASCII identifier, not a keyword, builtin or dunder."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        raise DeclarationError(f"{what} name {name!r} is not a Python identifier; generated code needs one")
    if keyword.iskeyword(name) or name.startswith("__") or name in _RESERVED:
        raise DeclarationError(f"{what} name {name!r} is reserved in generated code (a keyword, a builtin, a "
                               f"dunder name or a backend module); please rename it")
    return name


class _Names:
    """Hands out local names that clash with nothing already taken."""

    def __init__(self, taken) -> None:
        self.taken = set(taken) | _RESERVED | set(keyword.kwlist)

    def fresh(self, wanted: str) -> str:
        name = wanted if wanted.isidentifier() and wanted.isascii() else "dim"
        for candidate in itertools.chain([name], (f"{name}_{i}" for i in itertools.count(1))):
            if candidate not in self.taken and not candidate.startswith("__"):
                self.taken.add(candidate)
                return candidate
        raise AssertionError


# ---- signs: is a vector provably >= 0 (for the square root in a Gram product) -----------------------

_INF = math.inf


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0.0 or b == 0.0 else a * b


def bounds(node: Node) -> tuple[float, float]:
    """An interval holding every entry of an elementwise expression ((-inf, inf) when unknown)."""
    return node.cached("codegen.bounds", _bounds)


_MONOTONE = {"exp": math.exp, "tanh": math.tanh, "sigmoid": lambda x: 0.5 * (1 + math.tanh(0.5 * x)),
             "softplus": lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))), "sqrt": math.sqrt}


def _monotone(fn, x: float) -> float:
    try:
        return fn(x)
    except (OverflowError, ValueError):
        return _INF if x > 0 else 0.0


def _bounds(node: Node) -> tuple[float, float]:
    op, args = node.op, node.args
    if op == "const":
        return node.params[0], node.params[0]
    if op in ("ones", "dim"):
        return 1.0, _INF if op == "dim" else 1.0
    if op == "zeros":
        return 0.0, 0.0
    if op == "eye":
        return 0.0, 1.0
    if op == "var" and "pos" in node.params[1]:
        return 0.0, _INF
    if op in _MONOTONE:
        lo, hi = bounds(args[0])
        if op == "sqrt":
            lo = max(lo, 0.0)
        return _monotone(_MONOTONE[op], lo), _monotone(_MONOTONE[op], hi)
    if op in ("abs", "norm2"):
        return 0.0, _INF
    if op in ("sin", "cos"):
        return -1.0, 1.0
    if op == "softmax":
        return 0.0, 1.0
    if op == "add":
        intervals = [bounds(a) for a in args]
        return sum(i[0] for i in intervals), sum(i[1] for i in intervals)
    if op == "mul":
        lo, hi = 1.0, 1.0
        for a in args:
            alo, ahi = bounds(a)
            corners = [_times(x, y) for x in (lo, hi) for y in (alo, ahi)]
            lo, hi = min(corners), max(corners)
        return lo, hi
    if op == "pow" and args[1].op == "const":
        e = args[1].params[0]
        lo, hi = bounds(args[0])
        if float(e).is_integer() and int(e) % 2 == 0 or lo >= 0.0:
            return 0.0, _INF
    return -_INF, _INF


def nonnegative(node: Node) -> bool:
    return bounds(node)[0] >= 0.0


# ---- lowering: operations to terms ------------------------------------------------------------------


class Lowering:
    """Lowers expression nodes to terms for one backend; equal code is built once (`make` interns)."""

    def __init__(self, backend: str, dims: dict[str, str], like: str | None, uses: dict[Node, int]) -> None:
        self.backend = backend
        self.dim_names = dims  # dimension symbol -> local name in the generated code
        self.like = like
        self.uses = uses  # how often each node is an argument, over everything generated
        self._interned: dict[tuple, Term] = {}
        self._lowered: dict[Node, Term] = {}
        self.modules_used: set[str] = set()
        self.helpers_used: set[str] = set()

    # building blocks
    def make(self, kind: str, value: Any, args: Sequence[Term] = (), ndim: int | None = None) -> Term:
        key = (kind, _key(value), tuple(id(a) for a in args))
        term = self._interned.get(key)
        if term is None:
            term = self._interned[key] = Term(kind, value, tuple(args), ndim)
        return term

    def name(self, identifier: str, ndim: int | None = None) -> Term:
        return self.make("Name", identifier, (), ndim)

    def num(self, value: float | int) -> Term:
        if isinstance(value, float) and not math.isfinite(value):
            text = "nan" if math.isnan(value) else "inf"
            big = self.make("Call", (1, ()), (self.name("float"), self.make("Constant", text)), 0)
            return big if value > 0 or math.isnan(value) else self.make("UnaryOp", "-", (big,), 0)
        if value < 0:
            return self.make("UnaryOp", "-", (self.num(-value),), 0)
        return self.make("Constant", value, (), 0)

    def binary(self, op: str, a: Term, b: Term, ndim: int | None = None) -> Term:
        return self.make("BinOp", op, (a, b), ndim)

    def negate(self, a: Term) -> Term:
        return self.make("UnaryOp", "-", (a,), a.ndim)

    def spell(self, what: str, *args: Term, ndim: int | None = None) -> Term:
        """The backend's spelling of `what` (a key of SPELLINGS) applied to operand terms."""
        placeholders, text = _spelling(what, self.backend)
        operands = dict(zip(placeholders, args))
        if "like" in placeholders:
            if self.like is None:
                raise NotSupportedError(f"{self.backend} code for {what} needs an array argument to take its "
                                        f"dtype and device from, and this function has none")
            operands["like"] = self.name(self.like)
        return self._from_template(_template(text), operands, ndim)

    def _from_template(self, tree: ast.expr, operands: dict[str, Term], ndim: int | None) -> Term:
        def convert(t: ast.expr, nd: int | None = None) -> Term:
            if isinstance(t, ast.Name):
                if t.id in operands:
                    return operands[t.id]
                if t.id in dict(MODULES[self.backend]):
                    self.modules_used.add(t.id)
                if t.id in HELPERS:
                    self.helpers_used.add(t.id)
                return self.name(t.id)
            if isinstance(t, ast.Constant):
                return self.make("Constant", t.value)
            if isinstance(t, ast.Attribute):
                return self.make("Attribute", t.attr, (convert(t.value),), nd)
            if isinstance(t, ast.Call):
                parts = [convert(t.func)] + [convert(a) for a in t.args] + [convert(k.value) for k in t.keywords]
                return self.make("Call", (len(t.args), tuple(k.arg for k in t.keywords)), parts, nd)
            if isinstance(t, ast.BinOp):
                symbol = next(s for s, c in _BINOPS.items() if isinstance(t.op, c))
                return self.binary(symbol, convert(t.left), convert(t.right), nd)
            if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.USub):
                return self.make("UnaryOp", "-", (convert(t.operand),), nd)
            if isinstance(t, ast.Subscript):
                return self.make("Subscript", None, (convert(t.value), convert(t.slice)), nd)
            if isinstance(t, ast.Slice) and t.lower is t.upper is t.step is None:
                return self.make("Slice", None)
            if isinstance(t, (ast.Tuple, ast.List)):
                return self.make(type(t).__name__, None, [convert(e) for e in t.elts])
            raise AssertionError(f"template construct {ast.dump(t)} is not supported")

        return convert(tree, ndim)

    def dim(self, d: Dim) -> Term:
        if isinstance(d, int):
            return self.num(d)
        if isinstance(d, str):
            return self.name(self.dim_names[d], 0)
        factors = ([self.num(d.coefficient)] if d.coefficient != 1 else []) + [self.dim(s) for s in d.symbols]
        out = factors[0]
        for f in factors[1:]:
            out = self.binary("*", out, f, 0)
        return out

    def shape(self, shape: Shape) -> Term:
        return self.make("Tuple", None, [self.dim(d) for d in shape])

    # nodes
    def term(self, node: Node) -> Term:
        """The code computing `node` (memoised: a node shared in the DAG is lowered once)."""
        found = self._lowered.get(node)
        if found is None and node.ndim == 2 and node.op in ("add", "mul", "div", "matmul"):
            flipped = transpose(node)  # Mᵀ - V Uᵀ is (M - U Vᵀ)ᵀ: reuse the code of the transpose
            if flipped is not node and flipped in self._lowered:
                found = self._lowered[node] = self.make("Attribute", "T", (self._lowered[flipped],), 2)
        if found is None:
            rule = LOWERINGS.get(node.op)
            if rule is None:
                raise NotSupportedError(f"code generation for {node.op} is not available")
            found = rule(self, node)
            if found.ndim is None:
                found.ndim = node.ndim
            self._lowered[node] = found
        return found


def _key(value: Any) -> Any:
    # 1, 1.0 and True are equal as dictionary keys but print differently
    return (type(value).__name__, repr(value)) if isinstance(value, (int, float, bool, str)) else value


# ---- the lowering rules: one per operation ---------------------------------------------------------

def _lower_var(low: Lowering, node: Node) -> Term:
    return low.name(node.params[0], node.ndim)


def _lower_add(low: Lowering, node: Node) -> Term:
    """A sum, written with `-` for negative terms; T + T.T computes T once (a symmetric Hessian)."""
    parts = [split_coefficient(t) for t in node.args]
    signed: list[tuple[float, Term]] = []
    done: set[int] = set()
    for i, (c, body) in enumerate(parts):
        if i in done:
            continue
        done.add(i)
        code = low.term(body)
        if body.ndim == 2 and not is_symmetric(body):
            partner = transpose(body)
            j = next((j for j, (cj, bj) in enumerate(parts) if j not in done and bj is partner and cj == c), None)
            if j is not None:
                done.add(j)
                code = low.spell("plus_transpose", code, ndim=2)
        signed.append((c, code))
    return _signed_sum(low, signed, node.ndim)


def _lower_mul(low: Lowering, node: Node) -> Term:
    factors = list(node.args)
    negative = factors[0].op == "const" and factors[0].params[0] == -1.0
    if negative:
        factors = factors[1:]
    out = low.term(factors[0])
    for f in factors[1:]:
        out = low.binary("*", out, low.term(f), node.ndim)
    return low.negate(out) if negative else out


def _lower_pow(low: Lowering, node: Node) -> Term:
    base, exponent = node.args
    if exponent.op != "const":
        return low.binary("**", low.term(base), low.term(exponent), node.ndim)
    e = exponent.params[0]
    if e == 2.0 and base.op == "norm2":  # ‖u‖² = ⟨u, u⟩, without the square root
        return low.spell("sum_squares", low.term(base.args[0]), ndim=0)
    if e == 0.5:
        return low.spell("sqrt", low.term(base), ndim=node.ndim)
    if e < 0:
        return low.binary("/", low.num(1.0), _power(low, base, -e), node.ndim)
    return _power(low, base, e)


def _power(low: Lowering, base: Node, e: float) -> Term:
    if e == 1.0:
        return low.term(base)
    exponent = low.num(int(e)) if float(e).is_integer() else low.num(e)
    return low.binary("**", low.term(base), exponent, base.ndim)


def _lower_sum(low: Lowering, node: Node) -> Term:
    (x,), axis = node.args, node.params[0]
    if axis is None:
        arrays = x.args if x.op == "mul" else ()
        if len(arrays) == 2 and all(a.shape == x.shape for a in arrays):  # sum(A ⊙ B): one dot product
            return low.spell("sum_product", low.term(arrays[0]), low.term(arrays[1]), ndim=0)
        return low.spell("sum", low.term(x), ndim=0)
    return low.spell("sum_axis", low.term(x), low.num(axis), ndim=1)


def _lower_tr(low: Lowering, node: Node) -> Term:
    (x,) = node.args
    if x.op == "matmul" and all(f.ndim == 2 for f in x.args):  # tr(P Q) = sum(P ⊙ Qᵀ)
        head = matmul_chain(x.args[:-1])
        return low.spell("sum_product", low.term(head), low.term(transpose(x.args[-1])), ndim=0)
    return low.spell("tr", low.term(x), ndim=0)


def _lower_diag(low: Lowering, node: Node) -> Term:
    (x,) = node.args
    if x.ndim == 2 and x.op == "matmul" and len(x.args) == 2 and all(f.ndim == 2 for f in x.args):
        return low.spell("diag_of_product", low.term(x.args[0]), low.term(x.args[1]), ndim=1)  # diag(A B)
    return low.spell("diag", low.term(x), ndim=node.ndim)


def _lower_const(low: Lowering, node: Node) -> Term:
    return low.num(node.params[0])


def _spelled(what: str) -> Callable[[Lowering, Node], Term]:
    """The rule of an operation that is one backend function of its lowered arguments."""
    def rule(low: Lowering, node: Node) -> Term:
        return low.spell(what, *(_as_array(low, a) for a in node.args), ndim=node.ndim)
    return rule


def _as_array(low: Lowering, node: Node) -> Term:
    """An operand as an array of the backend: a dimension (a Python int in the generated code, as in
    sqrt(n)) is made one, since torch's functions take tensors only."""
    code = low.term(node)
    if node.ndim == 0 and not free_variables(node):
        return low.spell("array", code, ndim=0)
    return code


# ---- @: chains with structure --------------------------------------------------------------------

def _lower_matmul(low: Lowering, node: Node) -> Term:
    """F1 @ ... @ Fk without forming diag, outer, kron or commutation matrices where avoidable.

    A vector at an end is multiplied in first (matrix-vector products only); a chain of matrices
    is left to `multi_dot`, which picks the cheapest order for the sizes at hand.
    """
    factors = list(node.args)
    for i, f in enumerate(factors):  # L @ outer(a, b) @ R = outer(L @ a, Rᵀ @ b)
        if f.op == "outer":
            left = matmul_chain(factors[:i] + [f.args[0]])
            right = matmul_chain([f.args[1]] + factors[i + 1:])
            lt, rt = low.term(left), low.term(right)
            if left.ndim == 0 or right.ndim == 0:
                return low.binary("*", lt, rt, node.ndim)
            return low.spell("outer", lt, rt, ndim=2)
    if (len(factors) == 3 and _is_diag(factors[1]) and factors[0].ndim == 2
            and transpose(factors[2]) is factors[0]):
        return _gram(low, factors[2], factors[1].args[0])
    if factors[-1].ndim == 1:  # ... @ x: fold from the right, matrix-vector products only
        acc = low.term(factors[-1])
        x_node: Node | None = factors[-1]
        for f in reversed(factors[:-1]):
            acc, x_node = _apply_left(low, f, acc, x_node), None
        return acc
    if factors[0].ndim == 1:  # x @ ...: fold from the left
        acc = low.term(factors[0])
        for f in factors[1:]:
            acc = _apply_right(low, acc, f)
        return acc
    # matrices only: diagonal and permutation factors scale or permute a neighbour, Kronecker factors are
    # contracted with one, then one product of the rest
    items: list[Node | Term] = list(factors)
    for kind in (_is_cheap_structure, _is_kron):
        while len(items) > 1:
            i = next((i for i, f in enumerate(items) if isinstance(f, Node) and kind(f)), None)
            if i is None:
                break
            if i + 1 < len(items) and not (isinstance(items[i + 1], Node) and _is_cheap_structure(items[i + 1])):
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
            elif i > 0:
                items[i - 1:i + 1] = [_apply_right(low, _code(low, items[i - 1]), items[i])]
            else:
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
    codes = [_code(low, f) for f in items]
    if len(codes) == 1:
        return codes[0]
    if len(codes) == 2:
        return low.binary("@", codes[0], codes[1], 2)
    return low.spell("multi_dot", low.make("List", None, codes), ndim=2)


def _code(low: Lowering, item: "Node | Term") -> Term:
    return low.term(item) if isinstance(item, Node) else item


def _is_diag(f: Node) -> bool:
    return f.op == "diag" and f.args[0].ndim == 1


def _is_kron(f: Node) -> bool:
    return f.op == "kron" and f.args[0].ndim == 2 and f.args[1].ndim == 2


def _solvable(low: Lowering, f: Node) -> bool:
    """inv(A) used by this product alone: solve with A instead of forming the inverse."""
    return f.op == "inv" and low.uses.get(f, 0) <= 1


def _is_cheap_structure(f: Node) -> bool:
    return _is_diag(f) or f.op == "commutation"


def _apply_left(low: Lowering, f: Node, x: Term, x_node: Node | None = None) -> Term:
    """The code of F @ x for a factor node F and code x (a vector or a matrix; x_node its node if known)."""
    nd = x.ndim
    if _is_diag(f):
        v = low.term(f.args[0])
        return low.binary("*", v, x, 1) if nd == 1 else low.spell("scale_rows", v, x, ndim=2)
    if _is_kron(f):
        p, q = f.args
        if x_node is not None and x_node.op == "vec":  # kron(P, Q) @ vec(V) = vec(Q V Pᵀ), flattened P Vᵀ Qᵀ
            return low.spell("flatten", low.term(matmul_chain([p, transpose(x_node.args[0]), transpose(q)])), ndim=1)
        if nd == 1:
            return low.spell("kron_matvec", low.term(p), low.term(transpose(q)), x, low.dim(p.shape[1]),
                             low.dim(q.shape[1]), ndim=1)
        return low.spell("kron_matmul", low.term(p), low.term(q), x, low.dim(p.shape[1]), low.dim(q.shape[1]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if x_node is not None and x_node.op == "vec" and x_node.args[0].shape == (m, n):  # K vec(A) = vec(Aᵀ)
            return low.spell("flatten", low.term(x_node.args[0]), ndim=1)
        return low.spell("commute_vector" if nd == 1 else "commute_rows", x, low.dim(m), low.dim(n), ndim=nd)
    if _solvable(low, f):
        return low.spell("solve", low.term(f.args[0]), x, ndim=nd)
    if f.op == "transpose" and _solvable(low, f.args[0]):  # inv(A).T @ x = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0].args[0])), x, ndim=nd)
    if f.op == "transpose" and nd == 1:
        return low.spell("transposed_matvec", low.term(f.args[0]), x, ndim=1)
    if f.op == "add" and nd == 1 and low.uses.get(f, 0) <= 1 and f.ndim == 2 \
            and all(t.shape == f.shape for t in f.args):  # not through broadcasting: (1 - B) @ x is no 1 @ x
        # (A + Bᵀ) @ x = A @ x + Bᵀ @ x: matrix-vector products instead of forming the sum
        return _signed_sum(low, [(c, _apply_left(low, body, x)) for c, body in map(split_coefficient, f.args)], 1)
    return low.binary("@", low.term(f), x, _product_ndim(f.ndim, nd))


def _signed_sum(low: Lowering, terms: list[tuple[float, Term]], ndim: int) -> Term:
    """c1 * t1 + c2 * t2 - ..., the first term keeping its sign."""
    out: Term | None = None
    for c, code in terms:
        if out is None:
            out = code if c == 1.0 else low.negate(code) if c == -1.0 else low.binary("*", low.num(c), code, ndim)
            continue
        if abs(c) != 1.0:
            code = low.binary("*", low.num(abs(c)), code, ndim)
        out = low.binary("-" if c < 0 else "+", out, code, ndim)
    return out


def _product_ndim(a: int, b: int) -> int:
    """ndim of A @ B with NumPy's 1-D rules."""
    return max(a - 1, 0) + max(b - 1, 0)


def _apply_right(low: Lowering, x: Term, f: Node) -> Term:
    """The code of x @ F for code x (a vector or a matrix) and a factor node F."""
    nd = x.ndim
    if _is_diag(f):
        return low.binary("*", x, low.term(f.args[0]), nd)
    if _is_kron(f):
        p, q = f.args
        if nd == 1:
            return low.spell("vecmat_kron", x, low.term(transpose(p)), low.term(q), low.dim(p.shape[0]),
                             low.dim(q.shape[0]), ndim=1)
        return low.spell("matmul_kron", x, low.term(p), low.term(q), low.dim(p.shape[0]), low.dim(q.shape[0]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if nd == 1:  # x @ K(m, n) = K(n, m) @ x
            return low.spell("commute_vector", x, low.dim(n), low.dim(m), ndim=1)
        return low.spell("commute_columns", x, low.dim(m), low.dim(n), ndim=2)
    if _solvable(low, f) and nd == 1:  # x @ inv(A) = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0])), x, ndim=1)
    if nd == 1 and f.ndim == 2 and f.op == "transpose":  # x @ Mᵀ = M @ x
        return _apply_left(low, f.args[0], x)
    return low.binary("@", x, low.term(f), _product_ndim(nd, f.ndim))


def _gram(low: Lowering, x: Node, c: Node) -> Term:
    """Xᵀ diag(c) X, symmetric: (X ⊙ √c)ᵀ(X ⊙ √c) where c ≥ 0 and the backend has syrk, else Xᵀ(c ⊙ X)."""
    xt = low.term(x)
    if GRAM_BY_SQUARE_ROOT[low.backend] and nonnegative(c):
        scaled = low.binary("*", xt, low.spell("column", low.spell("sqrt", low.term(c), ndim=1)), 2)
        return low.binary("@", low.make("Attribute", "T", (scaled,), 2), scaled, 2)
    return low.binary("@", low.term(transpose(x)), low.spell("scale_rows", low.term(c), xt, ndim=2), 2)


def _lower_transpose(low: Lowering, node: Node) -> Term:
    return low.make("Attribute", "T", (low.term(node.args[0]),), 2)


def _lower_shape_op(what: str) -> Callable[[Lowering, Node], Term]:
    def rule(low: Lowering, node: Node) -> Term:
        return low.spell(what, low.shape(node.shape), ndim=node.ndim)
    return rule


LOWERINGS: dict[str, Callable[[Lowering, Node], Term]] = {
    "const": _lower_const,
    "var": _lower_var,
    "dim": lambda low, node: low.dim(node.params[0]),
    "eye": lambda low, node: low.spell("eye", low.dim(node.params[0]), ndim=2),
    "ones": _lower_shape_op("ones"),
    "zeros": _lower_shape_op("zeros"),
    "commutation": lambda low, node: low.spell("commutation", *(low.dim(d) for d in node.params), ndim=2),
    "add": _lower_add,
    "mul": _lower_mul,
    "div": lambda low, node: low.binary("/", *(low.term(a) for a in node.args), node.ndim),
    "pow": _lower_pow,
    "matmul": _lower_matmul,
    "transpose": _lower_transpose,
    "sum": _lower_sum,
    "norm2": _spelled("norm2"),
    "softmax": _spelled("softmax"),
    "logsumexp": _spelled("logsumexp"),
    "diag": _lower_diag,
    "outer": _spelled("outer"),
    "kron": _spelled("kron"),
    # vec(Mᵀ) is M flattened row by row, without forming the transpose
    "vec": lambda low, node: (low.spell("flatten", low.term(node.args[0].args[0]), ndim=1)
                              if node.args[0].op == "transpose" else low.spell("vec", low.term(node.args[0]), ndim=1)),
    "tr": _lower_tr,
    "det": _spelled("det"),
    "logdet": _spelled("logdet"),
    "inv": _spelled("inv"),
    **{name: _spelled(name) for name in ("exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid", "softplus")},
}


# ---- the generated function ------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """One result of the generated function: its local name, what it is, and the node computing it."""

    name: str
    label: str  # as the docstring shows it: f, ∂f/∂W, ∂²f/∂W², ...
    node: Node
    text: str
    layout: str


@dataclass
class Plan:
    """What `codegen` writes: the function's signature, its outputs and the variables' shapes."""

    name: str
    backend: str
    arguments: list[tuple[str, Shape]]
    keyword_dims: list[str]
    outputs: list[Output]
    expression: str


def _plan(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any, backend: str, hessian: bool,
          cotangent: str | None, name: str, symmetric: str, gradients: bool = True) -> tuple[Plan, dict[str, str]]:
    if backend not in BACKENDS:
        raise DeclarationError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    check_name(name, "function")
    expression = expr if isinstance(expr, Expression) and shapes is None else parse(expr, shapes)
    variables = expression.variables
    for v in variables:
        check_name(v)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if len(set(names)) != len(names):
        raise DeclarationError(f"a variable is listed twice in wrt={names}")
    unknown = [w for w in names if w not in variables]
    if unknown:
        raise UnknownNameError(f"cannot differentiate by {', '.join(map(repr, unknown))}: not declared "
                               f"(declared: {', '.join(variables) or 'none'})")
    f = expression.node
    outputs: list[Output] = [Output("value", "f", f, expression.text, format_shape(f.shape))]
    if cotangent is not None:
        check_name(cotangent, "cotangent")
        if hessian:
            raise NotSupportedError("a backpropagation rule (cotangent=...) has no Hessian; drop hessian=True")
    for w in names if gradients else ():
        if cotangent is None:
            d = derivative(expression, w, order=1, symmetric=symmetric)
            outputs.append(Output(f"grad_{w}" if not f.shape else f"jac_{w}", f"∂f/∂{w}", d.node, d.text, d.layout))
        else:
            d = vjp(expression, w, cotangent=cotangent)
            outputs.append(Output(f"vjp_{w}", f"∂φ/∂{w}", d.node, d.text, d.layout))
    if hessian:
        if f.shape:
            raise NotSupportedError(f"Hessians are for scalar functions; this one is {format_shape(f.shape)}")
        for w in names:
            d = derivative(expression, w, order=2, symmetric=symmetric)
            outputs.append(Output(f"hess_{w}", f"∂²f/∂{w}²", d.node, d.text, d.layout))
    used = {w for w in names}
    for out in outputs:
        used |= {n.params[0] for n in topological(out.node) if n.op == "var"}
    arguments = [(v, variables[v].shape) for v in variables if v in used]
    if cotangent is not None and cotangent not in variables:
        arguments.append((cotangent, f.shape))
    local = _Names(a for a, _ in arguments)
    outputs = [Output(local.fresh(o.name), o.label, o.node, o.text, o.layout) for o in outputs]
    # dimension symbols: those of the arguments first (bound from their shapes), then any other
    symbols: list[str] = []
    for shape in [s for _, s in arguments] + [n.shape for o in outputs for n in topological(o.node)]:
        symbols.extend(_symbols(shape))
    for node in (n for o in outputs for n in topological(o.node) if n.op in ("dim", "eye", "commutation")):
        symbols.extend(_symbols(node.params))
    dims = {s: local.fresh(s) for s in dict.fromkeys(symbols)}
    bound_by_arguments = {d for _, shape in arguments for d in shape if isinstance(d, str)}
    keyword_dims = [dims[s] for s in dims if s not in bound_by_arguments]
    plan = Plan(name, backend, arguments, keyword_dims, outputs, expression.text)
    return plan, dims


def _symbols(dims) -> list[str]:
    out: list[str] = []
    for d in dims:
        out.extend([d] if isinstance(d, str) else d.symbols if isinstance(d, DimProduct) else ())
    return out


def _uses(outputs: Sequence[Output]) -> dict[Node, int]:
    counts: dict[Node, int] = {}
    seen: set[Node] = set()
    for out in outputs:
        counts[out.node] = counts.get(out.node, 0) + 1
        for node in topological(out.node):
            if node in seen:
                continue
            seen.add(node)
            for a in node.args:
                counts[a] = counts.get(a, 0) + 1
    return counts


def _shape_checks(low: Lowering, plan: Plan, dims: dict[str, str]) -> list[ast.stmt]:
    """Bind each dimension from the first argument that has it; check every argument's shape."""
    body: list[ast.stmt] = []
    bound: set[str] = set()
    for arg, shape in plan.arguments:
        x = low.name(arg)
        if not shape:
            test = _compare(_to_ast(low.spell("scalar_ndim", x), {}), ast.Constant(0))
            body.append(ast.Assert(test, _message(f"{arg} must be a scalar (0-D), got ", low.spell("scalar_ndim", x),
                                                  "-D")))
            continue
        fresh = [(i, d) for i, d in enumerate(shape) if isinstance(d, str) and d not in bound]
        first = {}
        for i, d in fresh:
            first.setdefault(d, i)
        if first:  # dimensions are read off this argument: its number of axes first
            ndim = low.spell("ndim", x)
            body.append(ast.Assert(_compare(_to_ast(ndim, {}), ast.Constant(len(shape))),
                                   _message(f"{arg} must be {len(shape)}-D ({format_shape(shape)}), got ", ndim, "-D")))
        if len(first) == len(shape):  # n, m = X.shape
            body.append(ast.Assign([ast.Tuple([ast.Name(dims[d]) for d in shape], ast.Store())],
                                   _to_ast(low.spell("shape", x), {})))
        else:
            for d, i in first.items():
                body.append(ast.Assign([ast.Name(dims[d], ast.Store())],
                                       ast.Subscript(_to_ast(low.spell("shape", x), {}), ast.Constant(i))))
        bound |= set(first)
        if len(first) != len(shape):
            expected = low.shape(shape)
            body.append(ast.Assert(_compare(_to_ast(low.spell("shape", x), {}), _to_ast(expected, {})),
                                   _message(f"{arg} has shape ", low.spell("shape", x),
                                            f", expected {format_shape(shape)} = ", expected)))
    return body


def _compare(left: ast.expr, right: ast.expr) -> ast.expr:
    return ast.Compare(left, [ast.Eq()], [right])


def _message(*parts: "str | Term") -> ast.expr:
    values = [ast.Constant(p) if isinstance(p, str) else ast.FormattedValue(_to_ast(p, {}), -1) for p in parts]
    return ast.JoinedStr(values)


def _docstring(plan: Plan) -> str:
    names = ", ".join(o.name for o in plan.outputs)
    lines = [f"{names} = {plan.name}({', '.join(a for a, _ in plan.arguments)})",
             "",
             f"Generated by matdiff ({plan.backend}) from f = {plan.expression}.", ""]
    width = max(len(o.label) for o in plan.outputs)
    for o in plan.outputs:
        lines.append(f"{o.label.ljust(width)} = {o.text}")
        if o.label != "f":
            lines.append(f"{' ' * width}   ({o.layout})")
    lines.append("")
    lines.append("Shapes: " + ", ".join(f"{a}: {format_shape(s)}" for a, s in plan.arguments))
    # indented as the function body, the closing quotes on a line of their own
    return "\n".join([lines[0]] + [f"    {line}" if line else "" for line in lines[1:]]) + "\n    "


def _emit(plan: Plan, dims: dict[str, str]) -> tuple[str, set[str]]:
    like = next((a for a, s in plan.arguments if s), plan.arguments[0][0] if plan.arguments else None)
    low = Lowering(plan.backend, dims, like, _uses(plan.outputs))
    for out in plan.outputs:  # lower in topological order: rules find their arguments already lowered
        for node in topological(out.node):
            low.term(node)
    results: list[Term] = []
    for out in plan.outputs:
        code = low.term(out.node)
        if out.node.ndim == 0 and (code.kind != "Name" and _is_trivial(code) or out.node.op == "dim"):
            code = low.spell("array", code, ndim=0)  # a number becomes an array of the backend
        results.append(code)
    checks = _shape_checks(low, plan, dims)

    # which terms get a temporary: those used twice (and not trivial), and expensive ones used inside others
    inner_uses: dict[Term, int] = {}
    order: list[Term] = []
    seen: set[int] = set()
    for code in results:
        stack = [(code, False)]
        while stack:  # post-order: a term after its arguments
            term, expanded = stack.pop()
            if expanded:
                order.append(term)
            elif id(term) not in seen:
                seen.add(id(term))
                stack.append((term, True))
                stack.extend((a, False) for a in reversed(term.args))
    output_uses = {code: results.count(code) for code in results}
    for term in reversed(order):  # users before what they use; a view passes its uses on to its operand
        weight = inner_uses.get(term, 0) + output_uses.get(term, 0) if _is_view(term) else 1
        for a in term.args:
            inner_uses[a] = inner_uses.get(a, 0) + weight
    inside_expensive = {t.args[0] for t in order if t.kind == "Subscript" and _is_expensive(t)}
    taken = {a for a, _ in plan.arguments} | set(dims.values()) | {o.name for o in plan.outputs}
    names = _Names(taken)
    temporaries: dict[Term, str] = {}
    body: list[ast.stmt] = []
    for term in order:
        inner = inner_uses.get(term, 0)
        if _is_trivial(term) or _is_view(term) or inner == 0 or (term in inside_expensive and inner == 1):
            continue  # outputs used nowhere else are written straight into their own line
        if inner + output_uses.get(term, 0) > 1 or _is_expensive(term):
            temporaries[term] = names.fresh(f"t{len(temporaries)}")
            body.append(ast.Assign([ast.Name(temporaries[term], ast.Store())], _to_ast(term, temporaries)))
    for out, code in zip(plan.outputs, results):
        value = ast.Name(temporaries[code]) if code in temporaries else _to_ast(code, temporaries)
        body.append(ast.Assign([ast.Name(out.name, ast.Store())], value))
        temporaries.setdefault(code, out.name)  # an output equal to an earlier one reuses its name
    body.append(ast.Return(ast.Tuple([ast.Name(o.name) for o in plan.outputs])))

    args = ast.arguments(posonlyargs=[], args=[ast.arg(a) for a, _ in plan.arguments], vararg=None,
                         kwonlyargs=[ast.arg(d) for d in plan.keyword_dims], kw_defaults=[None] * len(plan.keyword_dims),
                         kwarg=None, defaults=[])
    doc = ast.Expr(ast.Constant(_docstring(plan)))
    function = ast.FunctionDef(name=plan.name, args=args, body=[doc] + checks + body, decorator_list=[],
                               returns=None, type_comment=None)
    helpers = [ast.parse(HELPERS[h][plan.backend]).body[0] for h in sorted(low.helpers_used)]
    module = ast.Module(helpers + [function], [])
    ast.fix_missing_locations(module)
    return ast.unparse(module) + "\n", low.modules_used


def codegen(expr: "str | Expression", wrt: "str | Sequence[str]" = (), shapes: Any = None, backend: str = "numpy",
            hessian: bool = False, *, cotangent: str | None = None, name: str = "f",
            symmetric: str = "sym", gradients: bool = True) -> str:
    """Python source of `f(<variables>) -> (value, gradients...[, Hessians...])` for the backend.

    The arguments are the declared variables the expression (or a `wrt` variable) uses, in the order
    of declaration. Each gradient has its variable's shape (a Jacobian or vec form for a non-scalar
    function, as `matdiff.derivative` gives it); with `hessian=True` the Hessian of each `wrt` variable
    follows (vec form for a matrix). With `cotangent="G"` the function takes the upstream gradient G
    as its last argument and returns backpropagation rules (VJPs) instead of gradients. With
    `gradients=False` it returns the value alone (the `wrt` variables stay arguments): the expression
    itself in the backend's language, e.g. for the backend's own autodiff.
    """
    plan, dims = _plan(expr, wrt, shapes, backend, hessian, cotangent, name, symmetric, gradients)
    source, modules = _emit(plan, dims)
    return source


_counter = itertools.count()


def compile(expr: "str | Expression", wrt: "str | Sequence[str]" = (), shapes: Any = None,  # noqa: A001
            backend: str = "numpy", hessian: bool = False, *, cotangent: str | None = None, name: str = "f",
            symmetric: str = "sym", gradients: bool = True) -> Callable:
    """The function `codegen` writes, ready to call (its source is its `.source` attribute).

    The source runs in a fresh namespace holding only the backend's modules (numpy and opt_einsum;
    jax and jax.numpy; torch). For JAX wrap the result in `jax.jit`: the code is pure and traceable.
    """
    plan, dims = _plan(expr, wrt, shapes, backend, hessian, cotangent, name, symmetric, gradients)
    source, modules = _emit(plan, dims)
    namespace: dict[str, Any] = {}
    for alias, module in MODULES[backend]:
        if alias in modules:
            namespace[alias] = _import(module)
    filename = f"<matdiff-{backend}-{next(_counter)}>"
    code = builtins.compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show it
    exec(code, namespace)  # noqa: S102 - our own source, built from checked names and repr'd numbers
    function = namespace[plan.name]
    function.source = source
    return function


def _import(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MatdiffError(f"the generated code needs {module}, which is not installed ({exc})") from None


__all__ = ["codegen", "compile", "SPELLINGS", "LOWERINGS", "MODULES", "check_name", "nonnegative", "bounds"]
