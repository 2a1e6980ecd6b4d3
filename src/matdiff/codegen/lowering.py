"""The lowering interpreter: expression nodes to terms, by each operation's entry in the operation table.

`Lowering.term(node)` looks the node's operation up (`OPS[node.op].code`, a `Code`, see
`matdiff/ops/registry.py`): an entry with a rule `lower(low, node)` gets this interpreter and writes its
code with the building blocks below (`term`, `spell`, `binary`, `num`, `dim`, `shape`, `transposed`,
`signed_sum`, `product`); an entry without one is its backend spelling applied to its arguments. This
module knows no operation by name: structural patterns (products with diag, kron, commutation, outer or
inverse factors) are in `patterns.py`, the backends' spellings of those patterns in `backends.py`.
"""
from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..dims import Dim, Shape
from ..errors import NotSupportedError
from ..expr import Node, free_variables
from ..ops import OPS, transpose
from ..ops.registry import Code
from . import patterns
from .backends import HELPERS, MODULES, PATTERNS, spelling
from .terms import BINOPS, COMPARES, Term, template


def code_of(op: str) -> Code:
    """The entry's code of an operation, or the reason it has none, as an error a user can read."""
    code = OPS[op].code
    if not isinstance(code, Code):
        why = f": {code.reason}" if getattr(code, "reason", "") else ""
        raise NotSupportedError(f"code generation for {op} is not available{why}")
    return code


def _dotted(t: Term) -> str | None:
    """`np.exp` of a function's term, or None where it is not a name or an attribute of one."""
    if t.kind == "Name":
        return t.value
    if t.kind == "Attribute":
        inner = _dotted(t.args[0])
        return None if inner is None else f"{inner}.{t.value}"
    return None


@functools.lru_cache(maxsize=None)
def _elementwise_functions(backend: str) -> frozenset[str]:
    """The backend's functions that entries spell an elementwise operation of one array with, `f(x)`."""
    found = set()
    for op in OPS.values():
        code = op.code
        spelt = getattr(code, backend, None) if op.elementwise and isinstance(code, Code) else None
        if not spelt or not code.placeholders:
            continue
        tree = ast.parse(spelt, mode="eval").body
        first = code.placeholders.split()[0]
        if isinstance(tree, ast.Call) and not tree.keywords and len(tree.args) == 1 \
                and isinstance(tree.args[0], ast.Name) and tree.args[0].id == first:
            found.add(ast.unparse(tree.func))
    return frozenset(found)


@functools.lru_cache(maxsize=None)
def _pullback_functions(backend: str) -> frozenset[str]:
    """The backend's functions that spell a pullback g ⊙ f'(u) (an entry's `Code.pullback`) or a kernel's
    (the `*_pullback` patterns of `backends.PATTERNS`) with g their first argument: linear in g."""
    templates = [getattr(op.code.pullback, backend) for op in OPS.values()
                 if isinstance(op.code, Code) and op.code.pullback is not None and getattr(op.code.pullback, backend)]
    templates += [text for name in PATTERNS if name.endswith("_pullback") and (text := spelling(name, backend)[1])]
    return frozenset(ast.unparse(tree.func) for tree in (ast.parse(t, mode="eval").body for t in templates)
                     if isinstance(tree, ast.Call))


class Lowering:
    """Lowers expression nodes to terms for one backend; equal code is built once (`make` interns)."""

    def __init__(self, backend: str, dims: dict[str, str], like: str | None, uses: dict[Node, int]) -> None:
        self.backend = backend
        self.dim_names = dims  # dimension symbol -> local name in the generated code
        self.like = like
        self.uses = uses  # how often each node is an argument, over everything generated
        self._interned: dict[tuple, Term] = {}
        self._lowered: dict[Node, Term] = {}
        self.shapes: dict[Term, Shape | None] = {}  # the shape of each node's term (None: two disagree)
        self.splits: dict[Node, tuple[Node, ...]] = {}  # a product -> its parts, where it shares a run (emit)
        self.modules_used: set[str] = set()
        self.helpers_used: set[str] = set()
        # f'(u) wherever f(u) is computed too and f's entry has cheaper code for f' (`Code.derivative`)
        self._derivatives: dict[Node, tuple[Code, Node]] = {}
        self._pullbacks: dict[Node, tuple[Code, Node]] = {}  # and g ⊙ f'(u) in one call (`Code.pullback`)
        for node in uses:
            code = OPS[node.op].code
            if not isinstance(code, Code):
                continue
            for cheaper, table in ((code.derivative, self._derivatives), (code.pullback, self._pullbacks)):
                if cheaper is not None and getattr(cheaper, backend):
                    table[OPS[node.op].derivative(node.args[0])] = (cheaper, node.args[0])
        # nodes a kernel of the backend computes (layer norm's x̂ and pullback, softmax's pullback: `patterns.kernels`),
        # each with the rule writing its code
        self.standardized = patterns.standardizations(backend, uses)
        self._kernels = patterns.kernels(backend, self.standardized, uses)

    # ---- building blocks ----
    def make(self, kind: str, value: Any, args: Sequence[Term] = (), ndim: int | None = None) -> Term:
        key = (kind, _key(value), tuple(id(a) for a in args))
        term = self._interned.get(key)
        if term is None:
            term = self._interned[key] = Term(kind, value, tuple(args), ndim)
        return term

    def rebuilt(self, roots: Sequence[Term], substitute: Callable[[Term], tuple[Term, bool]]) -> list[Term]:
        """The roots with terms replaced, rebuilt bottom-up through `make` (so equal code stays one term),
        without recursion. `substitute(t)` gives (what stands for t, final): a final one as it is, another
        with its operands rebuilt in turn (the passes after lowering, `scalars.py` and `products.py`)."""
        done: dict[int, Term] = {}
        for root in roots:
            stack = [root]
            while stack:
                t = stack[-1]
                if id(t) in done:
                    stack.pop()
                    continue
                source, final = substitute(t)
                pending = [] if final else [a for a in source.args if id(a) not in done]
                if pending:
                    stack.extend(pending)
                    continue
                args = source.args if final else tuple(done[id(a)] for a in source.args)
                same = all(a is b for a, b in zip(args, source.args))
                done[id(t)] = source if same else self.make(source.kind, source.value, args, source.ndim)
                stack.pop()
        return [done[id(t)] for t in roots]

    def elementwise_call(self, t: Term) -> bool:
        """Is `t` one of the backend's elementwise functions applied to one array (`np.exp(x)`), as an entry
        spells one: its value has the shape of x."""
        return t.kind == "Call" and t.value == (1, ()) and _dotted(t.args[0]) in _elementwise_functions(self.backend)

    def pullback_call(self, t: Term) -> bool:
        """Is `t` a call that pulls back its first argument g (gelu_backward(g, u), a kernel's): linear in g?"""
        return t.kind == "Call" and _dotted(t.args[0]) in _pullback_functions(self.backend)

    def is_module(self, t: Term) -> bool:
        """Is `t` a backend module or a name inside one (`np`, `scipy.special`), not an array?"""
        dotted = _dotted(t)
        return dotted is not None and dotted.split(".")[0] in dict(MODULES[self.backend])

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

    def compare(self, symbol: str, a: Term, b: Term, ndim: int | None = None) -> Term:
        """`a > b` (or <, >=, <=, ==, !=): a boolean array of the backend."""
        return self.make("Compare", symbol, (a, b), ndim)

    def negate(self, a: Term) -> Term:
        return self.make("UnaryOp", "-", (a,), a.ndim)

    def transposed(self, a: Term) -> Term:
        """`a.T`, a matrix."""
        return self.make("Attribute", "T", (a,), 2)

    def signed_sum(self, terms: list[tuple[float, Term]], ndim: int) -> Term:
        """c1 * t1 + c2 * t2 - ..., the first term keeping its sign."""
        out: Term | None = None
        for c, code in terms:
            if code.kind == "Constant" and type(code.value) in (int, float) and abs(c) != 1.0:  # 0.5 * 1.0 is 0.5
                c, code = math.copysign(1.0, c), self.num(abs(c) * code.value)
            if out is None:
                out = code if c == 1.0 else self.negate(code) if c == -1.0 else self.binary("*", self.num(c), code, ndim)
                continue
            if abs(c) != 1.0:
                code = self.binary("*", self.num(abs(c)), code, ndim)
            out = self.binary("-" if c < 0 else "+", out, code, ndim)
        return out

    def spell(self, what: str, *args: Term, ndim: int | None = None) -> Term:
        """The backend's spelling of `what` (an operation, or a pattern of `backends.PATTERNS`) applied to
        operand terms."""
        placeholders, text = spelling(what, self.backend)
        operands = dict(zip(placeholders, args))
        if "like" in placeholders:
            if self.like is None:
                raise NotSupportedError(f"{self.backend} code for {what} needs an array argument to take its "
                                        f"dtype and device from, and this function has none")
            operands["like"] = self.name(self.like)
        return self._from_template(template(text), operands, ndim)

    def _from_template(self, tree: ast.expr, operands: dict[str, Term], ndim: int | None) -> Term:
        def convert(t: ast.expr, nd: int | None = None) -> Term:
            if isinstance(t, ast.Name):
                if t.id in operands:
                    return operands[t.id]
                if t.id in dict(MODULES[self.backend]):
                    self.modules_used.add(t.id)
                if t.id in HELPERS:
                    self.helpers_used.add(t.id)
                    self.modules_used |= _modules_of(HELPERS[t.id].get(self.backend, ""), self.backend)
                return self.name(t.id)
            if isinstance(t, ast.Constant):
                return self.make("Constant", t.value)
            if isinstance(t, ast.Attribute):
                return self.make("Attribute", t.attr, (convert(t.value),), nd)
            if isinstance(t, ast.Call):
                parts = [convert(t.func)] + [convert(a) for a in t.args] + [convert(k.value) for k in t.keywords]
                return self.make("Call", (len(t.args), tuple(k.arg for k in t.keywords)), parts, nd)
            if isinstance(t, ast.BinOp):
                symbol = next(s for s, c in BINOPS.items() if isinstance(t.op, c))
                return self.binary(symbol, convert(t.left), convert(t.right), nd)
            if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.USub):
                return self.make("UnaryOp", "-", (convert(t.operand),), nd)
            if isinstance(t, ast.Compare) and len(t.ops) == 1:
                symbol = next(s for s, c in COMPARES.items() if isinstance(t.ops[0], c))
                return self.make("Compare", symbol, (convert(t.left), convert(t.comparators[0])), nd)
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

    def as_array(self, node: Node) -> Term:
        """An operand as an array of the backend: a dimension (a Python int in the generated code, as in
        sqrt(n)) is made one, since torch's functions take tensors only."""
        code = self.term(node)
        if node.ndim == 0 and not free_variables(node):
            return self.spell("array", code, ndim=0)
        return code

    def has_pullback(self, factor: Node) -> bool:
        """Whether `factor` is an f'(u) whose entry spells g ⊙ f'(u) in one call (`Code.pullback`)."""
        return factor in self._pullbacks

    def pullback(self, g: Term, factor: Node) -> Term:
        """g ⊙ f'(u) in one call, `factor` being f'(u) (see `has_pullback`)."""
        code, u = self._pullbacks[factor]
        g_name, u_name = code.placeholders.split()
        return self._from_template(template(getattr(code, self.backend)), {g_name: g, u_name: self.as_array(u)},
                                   factor.ndim)

    def lowered(self, node: Node) -> Term | None:
        """The code of a node already lowered, or None."""
        return self._lowered.get(node)

    def factor(self, node: Node) -> Term:
        """The code of `node` as a factor of a product that has a floating factor too: the entry's `Code.factor`
        where it has one (a comparison's boolean array), else its code."""
        code = OPS[node.op].code
        spelt = code.factor if isinstance(code, Code) else None
        if spelt is None or not getattr(spelt, self.backend):
            return self.term(node)
        operands = [self.term(a) if a.op == "const" else self.as_array(a) for a in node.args]
        return self._from_template(template(getattr(spelt, self.backend)), dict(zip(spelt.placeholders.split(), operands)),
                                   node.ndim)

    def product(self, node: Node) -> Term:
        """A product F1 @ ... @ Fk, written without forming structured factors where avoidable (`patterns.py`)."""
        return patterns.product(self, node)

    # ---- nodes ----
    def term(self, node: Node) -> Term:
        """The code computing `node` (memoised: a node shared in the DAG is lowered once)."""
        found = self._lowered.get(node)
        if found is not None:
            return found
        code = code_of(node.op)
        if node.ndim == 2 and code.reuse_transpose:
            # Mᵀ - V Uᵀ is (M - U Vᵀ)ᵀ: reuse the code of the transpose. `function.emit` lowers holding the
            # transposes it asks for: a node's is memoised weakly, and the parent's is built from it, so letting
            # it go would rebuild every transpose below at each level (quadratic, and deep)
            flipped = transpose(node)
            if flipped is not node and flipped in self._lowered:
                found = self._lowered[node] = self.transposed(self._lowered[flipped])
                return found
        cheaper = self._derivatives.get(node)
        kernel = self._kernels.get(node)
        if kernel is not None:
            found = kernel(self)
        elif cheaper is not None:
            derivative, u = cheaper
            found = self._from_template(template(getattr(derivative, self.backend)),
                                        {derivative.placeholders: self.as_array(u)}, node.ndim)
        elif code.lower is not None:
            found = code.lower(self, node)
        else:  # one backend function of the arguments
            found = self.spell(node.op, *(self.as_array(a) for a in node.args), ndim=node.ndim)
        if found.ndim is None:
            found.ndim = node.ndim
        self.shapes[found] = node.shape if self.shapes.get(found, node.shape) == node.shape else None
        self._lowered[node] = found
        return found


def _key(value: Any) -> Any:
    # 1, 1.0 and True are equal as dictionary keys but print differently
    return (type(value).__name__, repr(value)) if isinstance(value, (int, float, bool, str)) else value


def _modules_of(source: str, backend: str) -> set[str]:
    """The backend's modules a helper's source uses (`np` in `np.sqrt`), which the namespace must hold."""
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)} if source else set()
    return names & {alias for alias, _ in MODULES[backend]}
