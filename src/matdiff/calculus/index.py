"""Index (Einstein) notation for a derivative: ∂f[i,j]/∂X[k,l] as a sum of products of indexed factors.

This module owns the third route to a derivative (see APPROACHES.md, route 3): it reads the
differential df, linear in a symbolic dX (from `calculus.forward.differential`), as an index
expression, so that every derivative (gradient, Jacobian, 3rd- or 4th-order tensor, Hessian) has
the same uniform form:

    ∂(W @ X)[i,j]/∂W[k,l] = δ[i,k] X[l,j]        ∂inv(X)[i,j]/∂X[k,l] = -inv(X)[i,k] inv(X)[l,j]

Each linear operation has its index rule: `A @ B` is Σ_s A[i,s] B[s,j] (NumPy's 1-D rules
included), `.T` swaps indices, `*` and `/` are elementwise with NumPy broadcasting, tr(A) is
Σ_s A[s,s], sum sums over fresh indices, outer(a, b) is a[i] b[j], diag(v) is v[i] δ[i,j] and
diag(M) is M[i,i], dX[a,b] is δ[a,k] δ[b,l]; vec and kron index their operands with *composite*
indices, written (a,b) and numbered row-major as NumPy's kron does (a·|b| + b), so vec(M)[(b,a)]
is M[a,b]. Anything else (nonlinear functions, inverses, determinants, commutation matrices, sums
that do not involve dX) is an *atom*, indexed and evaluated as a whole: `tanh(X @ W)[i,j]`,
`det(X)`. Kronecker deltas on summation indices are then eliminated, equal factors become powers,
and equal terms are merged. Free indices: i, j for the function, k, l for the variable; summation
indices p, q, r, s, t, u, ...

The result, `IndexForm`, prints (text, Unicode, LaTeX), states its order and shape, and evaluates
through einsum (`opt_einsum.contract`), which makes it an independent numeric cross-check of the
matrix-notation routes (`pullback`, `vec_form`).

It does not own differentials (`calculus.forward`), the operations (`ops`) or printing of
expressions (`language.printing`, used for atoms).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

import numpy as np

from ..dims import Dim, Shape, dim_product, dim_value, format_shape
from ..errors import NotSupportedError
from ..expr import Node, free_variables
from ..ops import const, dim, ones, power, transpose, var
from .forward import differential
from .reverse import pullback
from .vec import vec_form

# An index entry: a simple index name, or a composite index (a tuple of names, row-major).
Entry = Union[str, tuple]

FUNCTION_INDICES = ("i", "j")
VARIABLE_INDICES = ("k", "l")
SUMMATION_LETTERS = "pqrstuvwabcdefghmnoxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
LABEL_LIMIT = 20  # a function whose text is longer is called f in the header


@dataclass(frozen=True)
class Delta:
    """The Kronecker delta δ[a,b] as an einsum operand: the identity, its two axes split into the
    dimensions of composite indices (a rectangular identity where the two sides differ in size)."""

    left: Shape
    right: Shape

    def __str__(self) -> str:
        return "delta"


@dataclass(frozen=True)
class Reshaped:
    """An atom indexed by composite indices: its value reshaped (row-major) to `shape` first."""

    node: Node
    shape: Shape

    def __str__(self) -> str:
        return f"reshape({self.node}, {format_shape(self.shape)})"


DELTA = "delta"  # the base of a delta factor


@dataclass(frozen=True)
class Factor:
    """base[axes] ** power: an atom (a node) or δ, one index entry per axis."""

    base: Any  # a Node, or DELTA
    axes: tuple
    power: float = 1.0

    @property
    def is_delta(self) -> bool:
        return self.base is DELTA


@dataclass
class Term:
    """coefficient · Σ_{summed} Π factors."""

    coefficient: float
    factors: tuple
    summed: frozenset = field(default_factory=frozenset)


# ---- index entries ------------------------------------------------------------------------------


def _names(entry: Entry) -> tuple:
    return (entry,) if isinstance(entry, str) else entry


def _entry(names) -> Entry:
    names = tuple(names)
    return names[0] if len(names) == 1 else names


def _substitute(entry: Entry, old: str, new: Entry) -> Entry:
    out = []
    for name in _names(entry):
        out.extend(_names(new) if name == old else (name,))
    return _entry(out)


def _factor_names(factors) -> set:
    return {name for f in factors for entry in f.axes for name in _names(entry)}


# ---- translation: a node of df, indexed -----------------------------------------------------------


class _Translator:
    """Turns nodes of a differential into sums of Terms, one index entry per axis of the node."""

    def __init__(self, d_x: Node, variable_indices: tuple, dims: dict) -> None:
        self.d_x = d_x
        self.variable_indices = variable_indices
        self.dims = dims  # index name -> dimension
        self.count = 0

    def fresh(self, d: Dim) -> str:
        self.count += 1
        name = f"_{self.count}"
        self.dims[name] = d
        return name

    def has_dx(self, node: Node) -> bool:
        return self.d_x in free_variables(node)

    # -- helpers on sums of terms
    @staticmethod
    def product(*sums: list) -> list:
        out = [Term(1.0, (), frozenset())]
        for terms in sums:
            out = [Term(a.coefficient * b.coefficient, a.factors + b.factors, a.summed | b.summed)
                   for a in out for b in terms]
        return out

    @staticmethod
    def summing(terms: list, indices) -> list:
        extra = frozenset(indices)
        return [Term(t.coefficient, t.factors, t.summed | extra) for t in terms]

    def atom(self, node: Node, idx: tuple) -> list:
        if node.ndim == 2 and node.op != "var":
            from ..language.printing import to_text
            if to_text(node).endswith(".T"):  # (A @ X + C).T[p,q] reads better as (A @ X + C)[q,p]
                flipped = transpose(node)
                if not to_text(flipped).endswith(".T"):
                    node, idx = flipped, tuple(reversed(idx))
        return [Term(1.0, (Factor(node, tuple(idx)),))]

    def delta(self, a: Entry, b: Entry) -> Term:
        return Term(1.0, (Factor(DELTA, (a, b)),))

    def broadcast(self, arg: Node, node: Node, idx: tuple) -> tuple[tuple, list]:
        """arg's index entries when NumPy broadcasts it to node's shape (size-1 axes get a fresh
        index of length 1, summed over its one value)."""
        offset = node.ndim - arg.ndim
        out, fresh = [], []
        for t, d in enumerate(arg.shape):
            if d == node.shape[offset + t]:
                out.append(idx[offset + t])
            else:
                name = self.fresh(d)
                out.append(name)
                fresh.append(name)
        return tuple(out), fresh

    def of_argument(self, arg: Node, node: Node, idx: tuple) -> list:
        sub, fresh = self.broadcast(arg, node, idx)
        return self.summing(self.indexed(arg, sub), fresh)

    # -- the rules
    def indexed(self, node: Node, idx: tuple) -> list:
        op = node.op
        if node is self.d_x:
            return [Term(1.0, tuple(Factor(DELTA, (a, v)) for a, v in zip(idx, self.variable_indices)))]
        rule = getattr(self, "_" + op, None)
        if rule is not None:
            found = rule(node, idx)
            if found is not None:
                return found
        if self.has_dx(node):
            return self.through_vec_form(node, idx)
        return self.atom(node, idx)

    def _const(self, node, idx):
        value = node.params[0]
        return [] if value == 0.0 else [Term(value, ())]

    def _zeros(self, node, idx):
        return []

    def _ones(self, node, idx):
        return [Term(1.0, ())]

    def _eye(self, node, idx):
        return [self.delta(idx[0], idx[1])]

    def _transpose(self, node, idx):
        return self.indexed(node.args[0], tuple(reversed(idx)))

    def _add(self, node, idx):
        if not self.has_dx(node) and not all(_is_simple(t) for t in node.args):
            return None  # (tanh(U) - Y)[i,j] stays one atom rather than multiplying out
        return [t for arg in node.args for t in self.of_argument(arg, node, idx)]

    def _mul(self, node, idx):
        return self.product(*(self.of_argument(arg, node, idx) for arg in node.args))

    def _div(self, node, idx):
        a, b = node.args
        if self.has_dx(b):
            return None
        numerator = self.of_argument(a, node, idx)
        sub, fresh = self.broadcast(b, node, idx)
        return self.summing(self.product(numerator, self.reciprocal(b, sub)), fresh)

    def reciprocal(self, b: Node, idx: tuple) -> list:
        """1 / b[idx]: each factor's power negated when b is a single product, else an atom."""
        return self.raised(b, idx, -1.0)

    def raised(self, b: Node, idx: tuple, exponent: float) -> list:
        """b[idx] ** exponent, the power taken into the factors of an elementwise product; for a
        fractional exponent only into a single factor of power 1 ((U²)^½ is |U|, not U)."""
        terms = self.indexed(b, idx)
        if len(terms) == 1:
            (t,) = terms
            integral = float(exponent).is_integer()
            if not t.summed and t.coefficient != 0.0 and not any(f.is_delta for f in t.factors) and \
                    (integral or (t.coefficient > 0 and len(t.factors) == 1 and t.factors[0].power == 1.0)):
                return [Term(t.coefficient ** exponent, tuple(Factor(f.base, f.axes, f.power * exponent)
                                                              for f in t.factors))]
        return [Term(1.0, (Factor(b, tuple(idx), exponent),))]

    def _pow(self, node, idx):
        a, p = node.args
        if p.op != "const" or self.has_dx(node):
            return None
        sub, fresh = self.broadcast(a, node, idx)
        return self.summing(self.raised(a, sub, p.params[0]), fresh)

    def _matmul(self, node, idx):
        factors = node.args
        rest = list(idx)
        fresh = [self.fresh(f.shape[-1]) for f in factors[:-1]]
        parts = []
        for t, f in enumerate(factors):
            entries = []
            if t == 0:
                if f.ndim == 2:
                    entries.append(rest.pop(0))
            else:
                entries.append(fresh[t - 1])
            if t < len(factors) - 1:
                entries.append(fresh[t])
            elif f.ndim == 2:
                entries.append(rest.pop(0))
            parts.append(self.indexed(f, tuple(entries)))
        return self.summing(self.product(*parts), fresh)

    def _tr(self, node, idx):
        s = self.fresh(node.args[0].shape[0])
        return self.summing(self.indexed(node.args[0], (s, s)), [s])

    def _sum(self, node, idx):
        (x,) = node.args
        axis = node.params[0]
        if axis is None:
            fresh = [self.fresh(d) for d in x.shape]
            return self.summing(self.indexed(x, tuple(fresh)), fresh)
        s = self.fresh(x.shape[axis])
        entries = (s, idx[0]) if axis == 0 else (idx[0], s)
        return self.summing(self.indexed(x, entries), [s])

    def _outer(self, node, idx):
        a, b = node.args
        return self.product(self.indexed(a, (idx[0],)), self.indexed(b, (idx[1],)))

    def _diag(self, node, idx):
        (x,) = node.args
        if x.ndim == 1:  # diag(v)[i,j] = v[i] δ[i,j]
            return self.product(self.indexed(x, (idx[0],)), [self.delta(idx[0], idx[1])])
        if x.shape[0] == x.shape[1]:  # diag(M)[i] = M[i,i]
            return self.indexed(x, (idx[0], idx[0]))
        # the diagonal of a non-square matrix: rectangular deltas select it
        s, t = self.fresh(x.shape[0]), self.fresh(x.shape[1])
        picks = [self.delta(idx[0], s), self.delta(idx[0], t)]
        return self.summing(self.product(self.indexed(x, (s, t)), [Term(1.0, tuple(f for p in picks
                                                                                 for f in p.factors))]), [s, t])

    def _vec(self, node, idx):
        (x,) = node.args
        if not self.has_dx(node):
            return None
        a, b = self.fresh(x.shape[0]), self.fresh(x.shape[1])  # vec(M)[(b,a)] = M[a,b], column-major
        return self.summing(self.product(self.indexed(x, (a, b)), [self.delta(idx[0], (b, a))]), [a, b])

    def _kron(self, node, idx):
        a, b = node.args
        if not self.has_dx(node):
            return None
        ia = tuple(self.fresh(d) for d in a.shape)
        ib = tuple(self.fresh(d) for d in b.shape)
        # NumPy's kron: a 1-D operand is a row; (A ⊗ B)[(i,k),(j,l)] = A[i,j] B[k,l]
        ra = ((None,) if a.ndim == 1 and b.ndim == 2 else ()) + ia
        rb = ((None,) if b.ndim == 1 and a.ndim == 2 else ()) + ib
        deltas = []
        for out, pa, pb in zip(idx, ra, rb):
            deltas.append(Factor(DELTA, (out, _entry(n for n in (pa, pb) if n is not None))))
        return self.summing(self.product(self.indexed(a, ia), self.indexed(b, ib), [Term(1.0, tuple(deltas))]),
                            ia + ib)

    def through_vec_form(self, node: Node, idx: tuple) -> list:
        """A linear use of dX with no index rule: its vec-form Jacobian J, indexed by composite
        indices, J[(idx, column-major), (dX's indices, column-major)]."""
        try:
            jac = vec_form(node, self.d_x)
        except NotSupportedError as exc:
            raise NotSupportedError(f"no index form through {node.op}: {exc}") from None
        v = tuple(self.fresh(d) for d in self.d_x.shape)
        summed = list(v)
        if v:  # column-major vec: (a, b) is a + |a| b, the row-major composite (b, a)
            column = _entry(reversed(v))
        else:  # a scalar dX: J has one column
            column = self.fresh(1)
            summed.append(column)
        row = _entry(n for e in reversed(idx) for n in _names(e))
        axes = ((row,) if node.shape else ()) + (column,)
        dx = [Term(1.0, tuple(Factor(DELTA, (a, w)) for a, w in zip(v, self.variable_indices)))]
        return self.summing(self.product([Term(1.0, (Factor(jac, axes),))], dx), summed)


def _is_simple(node: Node) -> bool:
    """Summands worth writing out in index form: variables, their transposes, identities, numbers."""
    if node.op in ("var", "eye", "const", "dim"):
        return True
    if node.op == "transpose":
        return _is_simple(node.args[0])
    if node.op == "mul" and len(node.args) == 2 and node.args[0].op == "const":
        return _is_simple(node.args[1])
    return False


# ---- simplification: deltas, powers, like terms ---------------------------------------------------


def _eliminate(term: Term, free: frozenset, dims: dict) -> Term | None:
    """δ on summation indices removed, equal factors made powers, lost summation indices made
    dimension factors (Σ_s 1 = n)."""
    factors = list(term.factors)
    summed = set(term.summed)
    coefficient = term.coefficient

    def dim_of(entry):
        return dim_product(*(dims[n] for n in _names(entry)))

    changed = True
    while changed:
        changed = False
        for position, f in enumerate(factors):
            if not f.is_delta:
                continue
            a, b = f.axes
            if dim_of(a) != dim_of(b):
                continue  # a rectangular δ (a diagonal of a non-square matrix) stays
            if a == b:
                del factors[position]
                changed = True
                break
            target = None
            if isinstance(b, str) and b in summed:
                old, new = b, a
                target = True
            elif isinstance(a, str) and a in summed:
                old, new = a, b
                target = True
            if target:
                del factors[position]
                summed.discard(old)
                factors = [Factor(g.base, tuple(_substitute(e, old, new) for e in g.axes), g.power)
                           for g in factors]
                changed = True
                break
            if not isinstance(a, str) and not isinstance(b, str) and len(a) == len(b) and \
                    all(dims[x] == dims[y] for x, y in zip(a, b)):
                del factors[position]  # δ[(a,b),(c,d)] = δ[a,c] δ[b,d]
                factors[position:position] = [Factor(DELTA, (x, y)) for x, y in zip(a, b)]
                changed = True
                break
    merged: dict = {}
    for f in factors:
        key = (id(f.base) if not f.is_delta else DELTA, f.axes)
        if key in merged:
            g = merged[key]
            merged[key] = Factor(g.base, g.axes, g.power if f.is_delta else g.power + f.power)
        else:
            merged[key] = f
    factors = [f for f in merged.values() if f.power != 0.0]
    present = _factor_names(factors)
    extra = []
    for name in sorted(summed - present):
        d = dims[name]
        summed.discard(name)
        if isinstance(d, int):
            coefficient *= d
        else:
            extra.append(Factor(dim(d), ()))
    factors = extra + factors
    if coefficient == 0.0:
        return None
    return Term(coefficient, tuple(factors), frozenset(summed & _factor_names(factors)))


def _canonical_key(term: Term, free: frozenset) -> tuple:
    """A key equal for terms equal up to the names of summation indices and the order of factors."""

    def pattern(entry):
        return tuple(n if n in free else "*" for n in _names(entry)), isinstance(entry, str)

    def base_key(f):
        return (1, "δ") if f.is_delta else (0, f.base.serial)

    ordered = sorted(term.factors, key=lambda f: (base_key(f), f.power, tuple(pattern(e) for e in f.axes)))
    names: dict = {}
    for f in ordered:
        for e in f.axes:
            for n in _names(e):
                if n not in free and n not in names:
                    names[n] = f"#{len(names)}"
    return tuple((base_key(f), f.power, tuple(tuple(names.get(n, n) for n in _names(e)) for e in f.axes))
                 for f in ordered)


def _merge(terms: list, free: frozenset) -> list:
    found: dict = {}
    for t in terms:
        key = _canonical_key(t, free)
        if key in found:
            first = found[key]
            found[key] = Term(first.coefficient + t.coefficient, first.factors, first.summed)
        else:
            found[key] = t
    scale = max((abs(t.coefficient) for t in found.values()), default=0.0)
    return [t for t in found.values() if abs(t.coefficient) > 1e-12 * scale]


def _display_order(factors: tuple, free_order: tuple) -> tuple:
    """Scalar factors first, then factors of summation indices alone, then by the free indices each
    carries (i before j before k before l), so that ∂(W @ X)[i,j]/∂X[k,l] reads W[i,k] δ[j,l]."""

    def key(f: Factor):
        if not f.axes:
            return (0, ())
        positions = [free_order.index(n) for e in f.axes for n in _names(e) if n in free_order]
        return (2, tuple(sorted(positions))) if positions else (1, ())

    return tuple(sorted(factors, key=key))


def _rename(term: Term, free_order: tuple, pool: list, dims: dict) -> tuple[Term, dict]:
    """Factors in display order, summation indices named p, q, r, ... in the order they appear;
    the dimension of every index the term uses."""
    free = frozenset(free_order)
    term = Term(term.coefficient, _display_order(term.factors, free_order), term.summed)
    names: dict = {}
    for f in term.factors:
        for e in f.axes:
            for n in _names(e):
                if n not in free and n not in names:
                    if len(names) >= len(pool):
                        raise NotSupportedError("too many summation indices for an index form")
                    names[n] = pool[len(names)]

    def entry(e):
        return _entry(names.get(n, n) for n in _names(e))

    factors = tuple(Factor(f.base, tuple(entry(e) for e in f.axes), f.power) for f in term.factors)
    term_dims = {names.get(n, n): dims[n] for n in set(names) | (free & _factor_names(term.factors))}
    return Term(term.coefficient, factors, frozenset(names.values())), term_dims


# ---- the result -------------------------------------------------------------------------------------


class IndexForm:
    """∂base[i…]/∂by[k…] as a sum of terms: coefficient · Σ_{summation indices} Π indexed factors."""

    def __init__(self, terms: list, term_dims: list, base: Node, by: Node, variables: Mapping,
                 free_indices: tuple, header: dict) -> None:
        self.terms = terms
        self._term_dims = term_dims
        self.base = base
        self.by = by
        self.variables = dict(variables)
        self.free_indices = free_indices
        self._header = header

    # -- facts
    @property
    def shape(self) -> Shape:
        return tuple(self.base.shape) + tuple(self.by.shape)

    @property
    def order(self) -> int:
        return len(self.shape)

    @property
    def shape_text(self) -> str:
        """'a 4th-order tensor of shape m×n×m×q' (a scalar, a vector and a matrix say so as well)."""
        order, shape = self.order, format_shape(self.shape)
        if order == 0:
            return "a scalar (a 0th-order tensor)"
        if order == 1:
            return f"a vector (a 1st-order tensor) of length {shape}"
        if order == 2:
            return f"a matrix (a 2nd-order tensor) of shape {shape}"
        return f"a {_ordinal(order)}-order tensor of shape {shape}"

    # -- spellings
    @property
    def text(self) -> str:
        return self._render(_TEXT)

    @property
    def unicode(self) -> str:
        style = _UNICODE if self._subscriptable() else _UNICODE_BRACKETS
        return self._render(style)

    @property
    def latex(self) -> str:
        return self._render(_LATEX)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"IndexForm({self.text!r})"

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"

    def _subscriptable(self) -> bool:
        letters = set(self.free_indices)
        for t in self.terms:
            for f in t.factors:
                for e in f.axes:
                    if not isinstance(e, str):
                        return False
                    letters.add(e)
        return all(c in _SUBSCRIPT_LETTERS for c in letters)

    def _render(self, style: "_Style") -> str:
        lhs = style.header(self._header, self.free_indices)
        rendered = [(t.coefficient, style.term_body(t), style.term_body(t, abs(t.coefficient))) for t in self.terms]
        if not rendered:
            return f"{lhs} = 0"
        rendered.sort(key=lambda term: (term[0] < 0, term[1]))
        out = []
        for position, (c, _, text) in enumerate(rendered):
            if position == 0:
                out.append(style.minus + text if c < 0 else text)
            else:
                out.append(f" {style.minus if c < 0 else '+'} {text}")
        return f"{lhs} = {''.join(out)}"

    # -- einsum
    @cached_property
    def einsum(self) -> list:
        """[(coefficient, "ik,lj->ijkl", [operand, ...]), ...]: one contraction per term. Operands are
        matdiff nodes (atoms, raised to their power), `Delta` markers (identities) and `Reshaped`
        atoms (indexed by composite indices); a free index no factor carries gets a ones(n)."""
        out = []
        output = "".join(self.free_indices)
        for t, dims in zip(self.terms, self._term_dims):
            subscripts, operands = [], []
            for f in t.factors:
                letters = "".join(n for e in f.axes for n in _names(e))
                split = tuple(dims[n] for e in f.axes for n in _names(e))
                if f.is_delta:
                    a, b = f.axes
                    operands.append(Delta(tuple(dims[n] for n in _names(a)), tuple(dims[n] for n in _names(b))))
                else:
                    node = f.base if f.power == 1.0 else power(f.base, const(f.power))
                    grouped = any(not isinstance(e, str) for e in f.axes) or len(f.axes) != f.base.ndim
                    operands.append(Reshaped(node, split) if grouped else node)
                subscripts.append(letters)
            for name in self.free_indices:
                if not any(name in s for s in subscripts):
                    position = self.free_indices.index(name)
                    operands.append(ones((self.shape[position],)))
                    subscripts.append(name)
            out.append((t.coefficient, ",".join(subscripts) + "->" + output, operands))
        return out

    def evaluate(self, values: Mapping[str, Any], sizes: Mapping[str, int] | None = None) -> np.ndarray:
        """The full tensor D[i…, k…] = ∂base[i…]/∂by[k…], shape base.shape + by.shape, by einsum."""
        from opt_einsum import contract

        from ..evaluate import bind_sizes, evaluate

        declared = {name: spec.shape for name, spec in self.variables.items()}
        arrays = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        bound = bind_sizes(declared, arrays, sizes)
        total = np.zeros(tuple(dim_value(d, bound) for d in self.shape))
        computed: dict = {}

        def value_of(operand):
            if isinstance(operand, Delta):
                rows = tuple(dim_value(d, bound) for d in operand.left)
                columns = tuple(dim_value(d, bound) for d in operand.right)
                return np.eye(int(np.prod(rows)), int(np.prod(columns))).reshape(rows + columns)
            node = operand.node if isinstance(operand, Reshaped) else operand
            if node not in computed:
                computed[node] = evaluate(node, arrays, declared, bound)
            found = computed[node]
            if isinstance(operand, Reshaped):
                found = found.reshape(tuple(dim_value(d, bound) for d in operand.shape))
            return found

        for coefficient, subscripts, operands in self.einsum:
            if not operands:
                total = total + coefficient
                continue
            total = total + coefficient * contract(subscripts, *(value_of(o) for o in operands))
        return total


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ---- building it ------------------------------------------------------------------------------------


def index_terms(df: Node, d_x: Node, function_indices: tuple, variable_indices: tuple,
                dims: dict) -> list:
    """The terms of df[function_indices] with d_x[a,b] = δ[a,k] δ[b,l] (k, l the variable indices)."""
    translator = _Translator(d_x, variable_indices, dims)
    free = frozenset(function_indices) | frozenset(variable_indices)
    terms = translator.indexed(df, function_indices)
    return [t for t in (_eliminate(term, free, dims) for term in terms) if t is not None]


def index_form_of(base: Node, by: Node, variables: Mapping, symmetric: str = "none",
                  header: dict | None = None) -> IndexForm:
    """The index form of ∂base/∂by; `symmetric` ("none", "sym" or "cookbook") symmetrises the
    gradient of a scalar by a symmetric matrix as the gradient route does."""
    d_x = var("∂" + by.params[0], by.shape)  # a name no user variable can have
    df = differential(base, by, d_x)
    fi = FUNCTION_INDICES[:base.ndim]
    vi = VARIABLE_INDICES[:by.ndim]
    if base.ndim > 2 or by.ndim > 2:
        raise NotSupportedError("index forms are for scalars, vectors and matrices")
    dims = dict(zip(fi, base.shape)) | dict(zip(vi, by.shape))
    free = frozenset(fi) | frozenset(vi)
    terms = index_terms(df, d_x, fi, vi, dims)
    if symmetric != "none" and not base.shape and by.ndim == 2:
        swapped = index_terms(df, d_x, fi, tuple(reversed(vi)), dims)
        if symmetric == "sym":  # (G + Gᵀ) / 2
            terms = [Term(t.coefficient / 2, t.factors, t.summed) for t in terms + swapped]
        else:  # the Cookbook's G + Gᵀ − G ⊙ I
            diagonal = [Term(-t.coefficient, t.factors + (Factor(DELTA, vi),), t.summed) for t in terms]
            terms = terms + swapped + [t for t in (_eliminate(d, free, dims) for d in diagonal) if t is not None]
    terms = _merge(terms, free)
    avoid = {v.params[0] for v in free_variables(base) | {by}}
    pool = [c for c in SUMMATION_LETTERS if c not in avoid and c not in free]
    renamed = [_rename(t, fi + vi, pool, dims) for t in terms]
    header = dict(header or {})
    header.setdefault("function", base)
    header.setdefault("variables", (by,))
    return IndexForm([t for t, _ in renamed], [d for _, d in renamed], base, by, variables, fi + vi, header)


def index_form(derivative, name: str | None = None) -> IndexForm:
    """The index form of a `matdiff.Derivative`: ∂base[i…]/∂by[k…], the tensor `derivative.evaluate`
    gives. `name` names the function in the header (∂D[i,j]/∂W[k,l]); otherwise its text if short."""
    if derivative.kind == "vjp" or derivative.by is None:
        raise NotSupportedError("a backpropagation rule has no index form of its own; take the index form of "
                                "derivative(...) of the function instead")
    from ..language.printing import to_text

    base, by = derivative.base, derivative.by
    order = len(derivative.wrt)
    header: dict = {"name": name}
    if order == 2 and not derivative.function.shape:
        variables_by_name = {v.params[0]: v for v in free_variables(derivative.function)}
        first = variables_by_name.get(derivative.wrt[0])
        if first is not None and first.shape == base.shape:
            header.update(function=derivative.function, variables=(first, by), second=True)
    elif order == 3 and not derivative.function.shape and by.ndim == 1 and \
            all(n == derivative.wrt[0] for n in derivative.wrt):
        # by a vector the vec-form Hessian is the Hessian itself: ∂³f/∂x[i]∂x[j]∂x[k]
        header.update(function=derivative.function, variables=(by, by, by), third=True)
    elif order > 2:
        header.update(function=base, name=name or (None if len(to_text(base)) <= LABEL_LIMIT else "g"))
    return index_form_of(base, by, derivative.variables, _symmetric_convention(derivative), header)


def _symmetric_convention(derivative) -> str:
    """Which symmetrisation the gradient route applied (it is not recorded on the Derivative):
    found by rebuilding each candidate, which hash-consing makes the very same node."""
    from ..ops import add, div, eye, mul

    base, by = derivative.base, derivative.by
    if base.shape or by.ndim != 2 or not (by.params[1] & {"sym", "spd"}):
        return "none"
    g = pullback(base, by)
    candidates = {
        "none": g,
        "sym": div(add(g, transpose(g)), const(2.0)),
        "cookbook": add(g, transpose(g), mul(const(-1.0), g, eye(by.shape[0]))),
    }
    for convention, node in candidates.items():
        if node is derivative.node:
            return convention
    return "sym"


# ---- spellings ----------------------------------------------------------------------------------------

_SUBSCRIPT_LETTERS = set("aehijklmnoprstuvx")
_SUBSCRIPT = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def _is_primary(text: str) -> bool:
    """A name, a call f(...) or a parenthesised whole: safe to index or juxtapose as it is."""
    if _IDENTIFIER.match(text) or re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", text):
        return True
    opening = text.find("(")
    if opening < 0 or not text.endswith(")"):
        return False
    if opening > 0 and not _IDENTIFIER.match(text[:opening]):
        return False
    depth = 0
    for position, c in enumerate(text[opening:], start=opening):
        depth += c == "("
        depth -= c == ")"
        if depth == 0:
            return position == len(text) - 1
    return False


class _Style:
    """How one spelling writes indices, atoms, sums, powers and the header."""

    minus = "-"
    partial = "∂"
    delta = "δ"

    def spell(self, node: Node) -> str:
        from ..language.printing import to_text
        return to_text(node)

    def entry(self, e: Entry) -> str:
        return e if isinstance(e, str) else "(" + ",".join(e) + ")"

    def indices(self, entries) -> str:
        return "[" + ",".join(self.entry(e) for e in entries) + "]" if entries else ""

    def atom(self, node: Node, entries) -> str:
        text = self.spell(node)
        if not _is_primary(self.plain(node)) or (entries and not self.indexable(node, text)):
            text = self.parenthesise(text)
        return text + self.indices(entries)

    def plain(self, node: Node) -> str:
        from ..language.printing import to_text
        return to_text(node)

    def indexable(self, node: Node, text: str) -> bool:
        return True

    def parenthesise(self, text: str) -> str:
        return f"({text})"

    def raised(self, text: str, exponent: float) -> str:
        return text if exponent == 1.0 else f"{text}^{_number(exponent)}"

    def factor(self, f: Factor, exponent: float) -> str:
        if f.is_delta:
            return self.delta + self.indices(f.axes)
        return self.raised(self.atom(f.base, f.axes), exponent)

    def summation(self, names: list) -> str:
        if not names:
            return ""
        return "Σ_" + names[0] if len(names) == 1 else "Σ_{" + ",".join(names) + "}"

    def product(self, parts: list) -> str:
        return " ".join(parts)

    def quotient(self, numerator: str, denominator: list) -> str:
        below = denominator[0] if len(denominator) == 1 else "(" + " ".join(denominator) + ")"
        return f"{numerator or '1'} / {below}"

    def term_body(self, t: Term, magnitude: float = 1.0) -> str:
        """magnitude · Σ_{summation indices} numerator / denominator."""
        order = []
        for f in t.factors:
            for e in f.axes:
                for n in _names(e):
                    if n in t.summed and n not in order:
                        order.append(n)
        numerator = [self.factor(f, f.power) for f in t.factors if f.power > 0]
        denominator = [self.factor(f, -f.power) for f in t.factors if f.power < 0]
        prefix = self.summation(order)
        coefficient = "" if magnitude == 1.0 else _number(magnitude)
        if not numerator and not denominator:  # (a summation index always has a factor)
            return coefficient or "1"
        if denominator and not numerator and not prefix:  # 0.5 / X[k,l]^0.5
            return self.quotient(coefficient or "1", denominator)
        body = self.product(numerator) if numerator else "1"
        if denominator:
            body = self.quotient(body, denominator)
        return " ".join(p for p in (coefficient, prefix, body) if p)

    # -- the left-hand side
    def label(self, header: dict, entries) -> str:
        name = header.get("name")
        if name:
            return name + self.indices(entries)
        node = header["function"]
        if len(self.plain(node)) > LABEL_LIMIT:
            return "f" + self.indices(entries)
        return self.atom(node, entries)

    def header(self, header: dict, free: tuple) -> str:
        variables = header["variables"]
        base_ndim = header["function"].ndim if not header.get("second") else 0
        if header.get("third"):
            x = variables[0]
            return self.third(self.label(header, ()), *(self.atom(x, (n,)) for n in free))
        if header.get("second"):
            first, second = variables
            fi, vi = free[:first.ndim], free[first.ndim:]
            return self.second(self.label(header, ()), self.atom(first, fi), self.atom(second, vi))
        fi, vi = free[:base_ndim], free[base_ndim:]
        return self.first(self.label(header, fi), self.atom(variables[0], vi))

    def first(self, top: str, bottom: str) -> str:
        return f"{self.partial}{top}/{self.partial}{bottom}"

    def second(self, top: str, x1: str, x2: str) -> str:
        return f"{self.partial}²{top}/{self.partial}{x1}{self.partial}{x2}"

    def third(self, top: str, x1: str, x2: str, x3: str) -> str:
        return f"{self.partial}³{top}/{self.partial}{x1}{self.partial}{x2}{self.partial}{x3}"


class _UnicodeStyle(_Style):
    minus = "−"

    def __init__(self, subscripts: bool) -> None:
        self.subscripts = subscripts

    def spell(self, node: Node) -> str:
        from ..language.printing import to_unicode
        return to_unicode(node)

    def indexable(self, node: Node, text: str) -> bool:
        return node.op == "var" or _is_primary(text)

    def indices(self, entries) -> str:
        if not entries:
            return ""
        if self.subscripts:
            return "".join(entries).translate(_SUBSCRIPT)
        return super().indices(entries)

    def raised(self, text: str, exponent: float) -> str:
        if exponent == 1.0:
            return text
        return text + _number(exponent).translate(_SUPERSCRIPT)

    def summation(self, names: list) -> str:
        if not names:
            return ""
        if self.subscripts:
            return "Σ" + "".join(names).translate(_SUBSCRIPT)
        return super().summation(names)


class _LatexStyle(_Style):
    partial = r"\partial "
    delta = r"\delta"

    def spell(self, node: Node) -> str:
        from ..language.printing import to_latex
        return to_latex(node)

    def entry(self, e: Entry) -> str:
        return e if isinstance(e, str) else "(" + "".join(e) + ")"

    def indices(self, entries) -> str:
        if not entries:
            return ""
        return "_{" + "".join(self.entry(e) for e in entries) + "}"

    def indexable(self, node: Node, text: str) -> bool:
        return node.op == "var" or text.endswith(r"\right)")

    def parenthesise(self, text: str) -> str:
        return rf"\left({text}\right)"

    def raised(self, text: str, exponent: float) -> str:
        return text if exponent == 1.0 else f"{text}^{{{_number(exponent)}}}"

    def summation(self, names: list) -> str:
        return r"\sum_{" + ",".join(names) + "}" if names else ""

    def product(self, parts: list) -> str:
        return " ".join(parts)

    def quotient(self, numerator: str, denominator: list) -> str:
        return rf"\frac{{{numerator or '1'}}}{{{' '.join(denominator)}}}"

    def first(self, top: str, bottom: str) -> str:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"

    def second(self, top: str, x1: str, x2: str) -> str:
        return rf"\frac{{\partial^2 {top}}}{{\partial {x1} \, \partial {x2}}}"

    def third(self, top: str, x1: str, x2: str, x3: str) -> str:
        return rf"\frac{{\partial^3 {top}}}{{\partial {x1} \, \partial {x2} \, \partial {x3}}}"


_TEXT = _Style()
_UNICODE = _UnicodeStyle(subscripts=True)
_UNICODE_BRACKETS = _UnicodeStyle(subscripts=False)
_LATEX = _LatexStyle()

__all__ = ["IndexForm", "Delta", "Reshaped", "index_form", "index_form_of", "index_terms"]
