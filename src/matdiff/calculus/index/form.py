"""The index form of a derivative, `IndexForm`: built from the differential (`index_form_of`, and
`index_form` for a `matdiff.Derivative`, which picks the header: ∂D[i,j]/∂W[k,l], ∂²f/∂x[i]∂x[k], ...),
its facts (order, shape), its spellings (`spelling.py`) and its evaluation through einsum.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from ...dims import Shape, dim_symbols, dim_value, format_shape
from ...errors import NotSupportedError
from ...expr import Node, free_variables
from ...ops import const, ones, power, transpose, var
from ..forward import differential
from ..reverse import pullback
from .reading import index_terms
from .spelling import _LATEX, _SUBSCRIPT_LETTERS, _TEXT, _UNICODE, _UNICODE_BRACKETS, LABEL_LIMIT
from .terms import DELTA, Delta, Factor, Reshaped, Term, _eliminate, _merge, _names, _rename

FUNCTION_INDICES = ("ij", "ab", "gh")  # the first pair none of whose letters names a dimension or a variable
VARIABLE_INDICES = ("kl", "rs", "uv", "cd", "ef")
SUMMATION_LETTERS = "pqrstuvwabcdefghmnoxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def index_letters(base: Node, by: Node, variables: Mapping = ()) -> tuple[tuple, tuple, list]:
    """(function indices, variable indices, summation letters) for ∂base/∂by: i, j; k, l; p, q, r, ... as a
    textbook writes them, except a letter that names a dimension or a variable (W: p×k is indexed W[r,s] and
    summed over q, never over p)."""
    taken = {v.params[0] for v in free_variables(base) | {by}} | set(variables)
    for node in (base, by):
        taken.update(dim_symbols(node.shape))
    for spec in getattr(variables, "values", lambda: ())():
        taken.update(dim_symbols(spec.shape))

    def pick(pairs: tuple, count: int, run: str) -> tuple:
        if count > 2:  # an array of order ≥ 3: a run of letters, i j k l … for the function, a b c … for X
            return tuple(c for c in run + "abcdefghijklmnopqrstuvwxyz" if c not in taken)[:count]
        for pair in pairs:
            if not taken & set(pair[:count]):
                return tuple(pair[:count])
        return tuple(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in taken)[:count]

    fi = pick(FUNCTION_INDICES, base.ndim, "ijklmn")
    taken.update(fi)
    vi = pick(VARIABLE_INDICES, by.ndim, "abcdefgh" if base.ndim > 2 else "klmnopqr")
    taken.update(vi)
    return fi, vi, [c for c in SUMMATION_LETTERS if c not in taken]


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

        from ...evaluate import bind_sizes, evaluate

        declared = {name: spec.shape for name, spec in self.variables.items()}
        arrays = {k: v if callable(v) else np.asarray(v, dtype=float) for k, v in values.items()}  # g: a function
        bound = bind_sizes(declared, {k: v for k, v in arrays.items() if not callable(v)}, sizes)
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


def index_form_of(base: Node, by: Node, variables: Mapping, symmetric: str = "none",
                  header: dict | None = None) -> IndexForm:
    """The index form of ∂base/∂by; `symmetric` ("none", "sym" or "cookbook") symmetrises the
    gradient of a scalar by a symmetric matrix as the gradient route does."""
    d_x = var("∂" + by.params[0], by.shape)  # a name no user variable can have
    df = differential(base, by, d_x)
    fi, vi, pool = index_letters(base, by, variables)
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
    from ...language.printing import to_text

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
    from ...ops import add, div, eye, mul

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
