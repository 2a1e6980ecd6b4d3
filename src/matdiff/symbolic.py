"""Building expressions from Python objects instead of text: md.matrix, md.vector, md.scalar.

    X = md.matrix("X", "n", "m"); A = md.matrix("A", "n", "n")
    f = md.tr(X.T @ A @ X)
    md.grad(f, X).text          # '(A + A.T) @ X'

The operators and functions build nodes through the same smart constructors as the parser, so an
expression built here is the very node the parser gives for its printed text.
"""
from __future__ import annotations

from typing import Any

from .api import Derivative, Expression, derivative
from .dims import VarSpec, parse_declarations
from .errors import MatdiffError
from . import ops
from .language.parse import CALLS


def _symbol(name: str, dims: tuple, properties: tuple[str, ...]) -> "Symbolic":
    spec = parse_declarations({name: tuple(dims) + tuple(properties)})[name]
    return Symbolic(ops.var_from_spec(spec), {name: spec})


def matrix(name: str, rows: Any, cols: Any, *properties: str) -> "Symbolic":
    """A matrix variable with symbolic (or integer) dimensions; properties: 'sym', 'spd', 'pos'."""
    return _symbol(name, (rows, cols), properties)


def vector(name: str, length: Any, *properties: str) -> "Symbolic":
    return _symbol(name, (length,), properties)


def scalar(name: str, *properties: str) -> "Symbolic":
    return _symbol(name, (), properties)


def _lift(value: Any) -> tuple:
    if isinstance(value, Expression):
        return value.node, value.variables
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ops.const(float(value)), {}
    raise MatdiffError(f"cannot use {type(value).__name__} {value!r} in a matdiff expression")


def _combine(*values: Any) -> tuple[list, dict[str, VarSpec]]:
    nodes, variables = [], {}
    for v in values:
        node, declared = _lift(v)
        # the names both declare, found without a loop over all of them: `e = e + term` in a loop
        # would otherwise read every variable of e again at each step
        shared = declared.keys() & variables.keys()
        if any(variables[name] != declared[name] for name in shared):
            name = next(name for name in declared if name in shared and variables[name] != declared[name])
            raise MatdiffError(f"{name} is declared twice with different shapes")
        variables.update(declared)
        nodes.append(node)
    return nodes, variables


def _build(construct, *values: Any) -> "Symbolic":
    nodes, variables = _combine(*values)
    return Symbolic(construct(*nodes), variables)


class Symbolic(Expression):
    """An expression with NumPy-like operators: + - * / ** @ .T and unary minus."""

    __array_ufunc__ = None  # NumPy arrays defer to these operators

    def __add__(self, other): return _build(ops.add, self, other)
    def __radd__(self, other): return _build(ops.add, other, self)
    def __sub__(self, other): return _build(ops.sub, self, other)
    def __rsub__(self, other): return _build(ops.sub, other, self)
    def __mul__(self, other): return _build(ops.mul, self, other)
    def __rmul__(self, other): return _build(ops.mul, other, self)
    def __truediv__(self, other): return _build(ops.div, self, other)
    def __rtruediv__(self, other): return _build(ops.div, other, self)
    def __pow__(self, other): return _build(ops.power, self, other)
    def __rpow__(self, other): return _build(ops.power, other, self)
    def __matmul__(self, other): return _build(ops.matmul, self, other)
    def __rmatmul__(self, other): return _build(ops.matmul, other, self)
    def __neg__(self): return _build(ops.neg, self)
    def __pos__(self): return self

    @property
    def T(self) -> "Symbolic":
        return _build(ops.transpose, self)

    __hash__ = Expression.__hash__


def _function(construct):
    def apply(*args: Any, **literals: Any) -> Symbolic:  # md.mean(X, axis=1, keepdims=True): NumPy's keywords
        return _build(lambda *nodes: construct(*nodes, **literals), *args)
    return apply


# md.tr, md.det, md.logdet, md.inv, md.exp, ..., md.kron, md.outer: the language's functions
# (and md.mean(X, axis=1), md.softmax(X, axis=1): literal parameters are keywords, as NumPy's)
functions = {name: _function(op.call.build) for name, op in CALLS.items() if not op.call.dims and name != "sum"}


def sum(x: Any, axis: int | tuple | None = None, keepdims: bool = False) -> Symbolic:  # noqa: A001 - NumPy's name
    return _build(lambda node: ops.sum_(node, axis, keepdims), x)


def eye(n: Any) -> Symbolic:
    return Symbolic(ops.eye(n), {})


def ones(*dims: Any) -> Symbolic:
    return Symbolic(ops.ones(tuple(dims)), {})


def zeros(*dims: Any) -> Symbolic:
    return Symbolic(ops.zeros(tuple(dims)), {})


def grad(f: Expression, wrt: Expression, symmetric: str = "sym") -> Derivative:
    """The gradient of a scalar expression by a variable built with matrix/vector/scalar."""
    if f.shape:
        raise MatdiffError(f"grad needs a scalar expression; this one has shape {f.shape_text} "
                           "(use md.derivative for Jacobians)")
    return derivative(f, wrt, order=1, symmetric=symmetric)
