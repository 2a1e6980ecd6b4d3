"""Reading a differential in index notation: a node of df, with one index entry per axis, as a sum of
terms. This is the interpreter of the entries' index rules (`Op.index`, see `ops/registry.py`): it
knows no operation by name. A node with no rule (or whose rule declines, returning None) is read
through its vec form where it holds dX, and otherwise as an atom, indexed as a whole.

The rules call back into the reader: `indexed` (an argument), `fresh` (a summation index), `summing`,
`product`, `delta`, `number`, `of_argument` and `broadcast` (NumPy broadcasting), `raised` and
`reciprocal` (a power taken into the factors), `has_dx`.
"""
from __future__ import annotations

from ...dims import Dim
from ...errors import NotSupportedError
from ...expr import Node, free_variables
from ...ops import OPS, transpose
from ..vec import vec_form
from .terms import DELTA, Entry, Factor, Term, _eliminate, _entry, _names


class IndexReader:
    """Turns nodes of a differential into sums of Terms, one index entry per axis of the node."""

    def __init__(self, d_x: Node, variable_indices: tuple, dims: dict) -> None:
        self.d_x = d_x
        self.variable_indices = variable_indices
        self.dims = dims  # index name -> dimension
        self.count = 0

    def indexed(self, node: Node, idx: tuple) -> list:
        """node[idx] as a sum of terms: dX[a,b] is δ[a,k] δ[b,l]; otherwise the operation's index rule."""
        if node is self.d_x:
            return [Term(1.0, tuple(Factor(DELTA, (a, v)) for a, v in zip(idx, self.variable_indices)))]
        rule = OPS[node.op].index
        if rule:  # an Absent rule is false
            found = rule(self, node, idx)
            if found is not None:
                return found
        if self.has_dx(node):
            return self.through_vec_form(node, idx)
        return self.atom(node, idx)

    def fresh(self, d: Dim) -> str:
        self.count += 1
        name = f"_{self.count}"
        self.dims[name] = d
        return name

    def has_dx(self, node: Node) -> bool:
        return self.d_x in free_variables(node)

    # -- sums of terms
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

    @staticmethod
    def number(value: float) -> list:
        """A constant: one term of no factors (none at all for 0)."""
        return [] if value == 0.0 else [Term(value, ())]

    @staticmethod
    def delta(a: Entry, b: Entry) -> list:
        """δ[a,b], as a sum of one term."""
        return [Term(1.0, (Factor(DELTA, (a, b)),))]

    def atom(self, node: Node, idx: tuple) -> list:
        if node.ndim == 2 and node.op != "var":
            from ...language.printing import to_text
            if to_text(node).endswith(".T"):  # (A @ X + C).T[p,q] reads better as (A @ X + C)[q,p]
                flipped = transpose(node)
                if not to_text(flipped).endswith(".T"):
                    node, idx = flipped, tuple(reversed(idx))
        return [Term(1.0, (Factor(node, tuple(idx)),))]

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


def index_terms(df: Node, d_x: Node, function_indices: tuple, variable_indices: tuple,
                dims: dict) -> list:
    """The terms of df[function_indices] with d_x[a,b] = δ[a,k] δ[b,l] (k, l the variable indices)."""
    reader = IndexReader(d_x, variable_indices, dims)
    free = frozenset(function_indices) | frozenset(variable_indices)
    terms = reader.indexed(df, function_indices)
    return [t for t in (_eliminate(term, free, dims) for term in terms) if t is not None]
