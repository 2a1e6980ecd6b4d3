"""Generated code: an expression and its derivatives as one plain NumPy, JAX or PyTorch function.

    >>> import matdiff as md
    >>> print(md.codegen("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", hessian=True))
    ... # doctest: +SKIP
    def f(X, w, y):
        '''value, grad_w, hess_w = f(X, w, y)
        ... (the formulas, as matdiff prints them, and the shapes)
        '''
        try:
            (n, p), (p_w,), (n_y,) = (X.shape, w.shape, y.shape)
            agree = p_w == p and n_y == n
        except ValueError:
            agree = False
        if not agree:
            assert X.ndim == 2, f'X must be 2-D (n×p), got {X.ndim}-D'
            ... (an assert per argument, naming it and the shape expected)
        t0 = X @ w
        t1 = scipy.special.expit(t0)
        value = np.logaddexp(0.0, t0).sum() - y @ t0
        grad_w = X.T @ (t1 - y)
        hess_w = _gram(X, t1 * (1.0 - t1))
        return (value, grad_w, hess_w)

    def _gram(x, c):
        ... (x.T @ (c[:, None] * x), by BLAS syrk on x * sqrt(c)[:, None] where x is big enough for it to pay)

`codegen` returns the source of `f(<variables>) -> (value, gradients...[, Hessians...])`; `compile`
runs that source in a fresh namespace holding only the backend's modules and returns `f`. Helpers the code
calls are written below it. The shape check at the top unpacks every shape in one line and compares integers
(a fraction of a microsecond); the asserts that say which argument is wrong run only when that fails.
`check_shapes=False` leaves it out.

Three steps, each in its own module:
1. *Lowering* (`lowering.py`). Every operation of the expression DAG becomes a Python expression (a
   `Term`, `terms.py`) by its entry in the operation table: `OPS[op].code` (see `matdiff/ops/registry.py`)
   gives its spelling in each backend, or a rule that writes its code from its arguments, like JAX's
   lowering rules; the interpreter knows no operation by name. Products exploit structure instead of
   materialising it (`patterns.py`): diag(v) @ M is `v[:, None] * M`, kron(P, Q) @ vec(V) is
   vec(Q V Pᵀ), the commutation matrix is a reshape, Xᵀ diag(c) X is a symmetric Gram product. What
   differs between the backends beyond an operation's spelling is in `backends.py`.
2. *Sharing* (`function.py`, `scalars.py`, `products.py`). Elementwise products are regrouped to make
   the fewest passes over the data: a product already computed is reused inside a longer one, a pair of
   factors several products share is computed once, small factors meet before the big array, and x + y * z
   of arrays is one call where the backend has one (PyTorch's addcmul). A factor several outputs share,
   2 * (X.T @ r) and 2 * r.sum(axis=0), moves onto what they share, `t = 2.0 * r`, where that scales fewer
   entries. Terms
   are interned, so equal code is one object: every Term used more than once, and every factorisation or
   Kronecker product, is computed once into a temporary `t0 = ...`; a sum of thousands of terms (or a
   chain as deep) is written as partial sums, `MAX_DEPTH` terms a line.
3. *Printing* (`function.py`). Terms become Python `ast` nodes printed by `ast.unparse`: precedence is
   exact and no user text is ever pasted into the source (names are checked identifiers, numbers go
   through repr).

This package owns code generation; derivatives come from `matdiff.api`, numeric checks from
`numeric_check.py`. This module holds the two entry points.
"""
from __future__ import annotations

import builtins
import itertools
import linecache
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ..api import Expression
from ..errors import MatdiffError
from .backends import BACKENDS, MODULES, PATTERNS  # noqa: F401
from .function import emit, make_plan
from .patterns import bounds, nonnegative  # noqa: F401
from .terms import check_name  # noqa: F401


def codegen(expr: "str | Expression", wrt: "str | Sequence[str]" = (), shapes: Any = None, backend: str = "numpy",
            hessian: bool = False, *, cotangent: str | None = None, name: str = "f",
            symmetric: str = "sym", gradients: bool = True, check_shapes: bool = True) -> str:
    """Python source of `f(<variables>) -> (value, gradients...[, Hessians...])` for the backend.

    The arguments are the declared variables the expression (or a `wrt` variable) uses, in the order
    of declaration. Each gradient has its variable's shape (a Jacobian or vec form for a non-scalar
    function, as `matdiff.derivative` gives it); with `hessian=True` the Hessian of each `wrt` variable
    follows (vec form for a matrix). With `cotangent="G"` the function takes the upstream gradient G
    as its last argument and returns backpropagation rules (VJPs) instead of gradients. With
    `gradients=False` it returns the value alone (the `wrt` variables stay arguments): the expression
    itself in the backend's language, e.g. for the backend's own autodiff.

    The function checks its arguments' shapes (every shape unpacked in one line, the dimensions compared
    as integers: a fraction of a microsecond a call; an assert naming the argument where they disagree).
    `check_shapes=False` leaves the check out, reading off the arguments only the dimensions the code uses.
    """
    plan, dims = make_plan(expr, wrt, shapes, backend, hessian, cotangent, name, symmetric, gradients)
    source, modules = emit(plan, dims, check_shapes)
    return source


_counter = itertools.count()
# Python keeps every file name it has compiled (interned, about 60 bytes each), and `linecache` the
# lines registered under it: a process that compiles a function per request, as the page's numeric
# check does, grew by both (about 2 kB a check, #17). So the lines go when the function goes, and its
# number is given to the next function compiled.
_free_numbers: list[int] = []


def _forget_file(filename: str, number: int) -> None:
    linecache.cache.pop(filename, None)
    _free_numbers.append(number)


def compile(expr: "str | Expression", wrt: "str | Sequence[str]" = (), shapes: Any = None,  # noqa: A001
            backend: str = "numpy", hessian: bool = False, *, cotangent: str | None = None, name: str = "f",
            symmetric: str = "sym", gradients: bool = True, check_shapes: bool = True) -> Callable:
    """The function `codegen` writes, ready to call (its source is its `.source` attribute).

    The source runs in a fresh namespace holding only the backend's modules (numpy and opt_einsum;
    jax and jax.numpy; torch). For JAX wrap the result in `jax.jit`: the code is pure and traceable.
    """
    plan, dims = make_plan(expr, wrt, shapes, backend, hessian, cotangent, name, symmetric, gradients)
    source, modules = emit(plan, dims, check_shapes)
    namespace: dict[str, Any] = {}
    for alias, module in MODULES[backend]:
        if alias in modules:
            namespace[alias] = _import(module)
    function = execute(source, namespace, backend, plan.name)
    function.source = source
    return function


def execute(source: str, namespace: dict[str, Any], label: str, keep: str) -> Any:
    """`namespace[keep]` once our own generated source (checked names, repr'd numbers, never user text) has run
    in `namespace`; tracebacks show its lines for as long as that object lives, and no longer."""
    try:
        number = _free_numbers.pop()  # atomic: another thread may take the last one
    except IndexError:
        number = next(_counter)
    filename = f"<matdiff-{label}-{number}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(builtins.compile(source, filename, "exec"), namespace)  # noqa: S102 - see the docstring
        kept = namespace[keep]
    except BaseException:
        _forget_file(filename, number)
        raise
    weakref.finalize(kept, _forget_file, filename, number)
    return kept


def _import(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MatdiffError(f"the generated code needs {module}, which is not installed ({exc})") from None


__all__ = ["codegen", "compile", "BACKENDS", "PATTERNS", "MODULES", "check_name", "nonnegative", "bounds"]
