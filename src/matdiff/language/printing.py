"""Printing: nodes to the language (re-parseable), Unicode math and LaTeX.

A node is first turned into a small *display tree*, choosing for each subexpression the shorter of
two equal spellings: as built (transposes at the leaves) or transposed as a whole, so that
`-inv(X).T @ A.T @ B.T @ inv(X).T` prints as `-(inv(X) @ B @ A @ inv(X)).T`. Sizes count the
nodes of Python's syntax tree, the measure of compactness. The display tree is then rendered by
one of three renderers with minimal parentheses. The constructors make every printed spelling
parse back to the very node it came from.

The operators `+ - * / ** @ .T` and unary minus are the language's grammar and are written here; a
function is written from its entry: `name(args)` in text by its first name (`Op.names`), a literal
parameter it keeps (`Op.call`) as `axis=1`, dimensions as its arguments, and in Unicode and LaTeX by
the entry's `unicode` / `latex`, a name (`tr(X)`) or a function of the rendered arguments (`X⁻¹`,
`‖x‖`, `Iₙ`; see `_Arguments`). Which transposed spellings read back to the same node (outer, kron,
inv and elementwise functions move a transpose inside) mirrors what the constructors do.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..dims import DimProduct
from ..expr import Node, spell_with, topological
from ..ops import OPS, add, is_symmetric, matmul, matmul_chain, mul, split_coefficient, transpose
from ..ops.algebra import transposes_in
from ..ops.algebra.transposition import graph_work
from ..ops.tensors import as_batched_matmul
from .names import latex_name, unicode_name

# ---- display trees ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disp:
    kind: str  # name num call T neg add mul matmul div pow
    items: tuple = ()
    value: object = None  # name text, number, function op name; "dims" for a product of dimensions; for
    # a vector v @ M, the column Mᵀ v that the math renderers write (the text keeps v @ M)
    size: int = 0  # syntax-tree nodes of the printed text
    cost: int = 0  # size, plus 2 for each transpose of a compound: prefer transposes at the leaves
    ndim: int = -1  # of the value shown, where known: math renderers write a leading vector as a row


def _plain(kind: str, items: tuple = (), value: object = None, size: int = 0, cost: int | None = None) -> Disp:
    return Disp(kind, items, value, size, size if cost is None else cost)


def _name(text: str) -> Disp:
    return _plain("name", value=text, size=2)


def _num(value: float) -> Disp:
    return _plain("num", value=value, size=1 if value >= 0 else 3)


def _call(op: str, args: list[Disp], keywords: tuple = ()) -> Disp:
    size = 3 + sum(a.size for a in args) + sum(1 + v.size for _, v in keywords)
    cost = 3 + sum(a.cost for a in args) + sum(1 + v.cost for _, v in keywords)
    return _plain("call", (tuple(args), tuple(keywords)), op, size, cost)


def _t(d: Disp) -> Disp:
    if d.kind == "T":
        return d.items[0]
    compound = d.kind not in ("name", "call", "num")
    return _plain("T", (d,), size=d.size + 2, cost=d.cost + 2 + (2 if compound else 0))


def _neg(d: Disp) -> Disp:
    return _plain("neg", (d,), size=d.size + 2, cost=d.cost + 2)


def _chain(kind: str, parts: list[Disp]) -> Disp:
    if len(parts) == 1:
        return parts[0]
    extra = 2 * (len(parts) - 1)
    return _plain(kind, tuple(parts), size=sum(p.size for p in parts) + extra,
                  cost=sum(p.cost for p in parts) + extra)


def _sum(terms: list[tuple[str, Disp]]) -> Disp:
    extra = 2 * (len(terms) - 1) + (2 if terms[0][0] == "-" else 0)
    return _plain("add", tuple(terms), size=sum(t.size for _, t in terms) + extra,
                  cost=sum(t.cost for _, t in terms) + extra)


def _bin(kind: str, a: Disp, b: Disp) -> Disp:
    return _plain(kind, (a, b), size=a.size + b.size + 2, cost=a.cost + b.cost + 2)


def _dim(d) -> Disp:
    if isinstance(d, int):
        return _num(d)  # an int, printed exactly however large (a float of 10 ** 20 prints as 1e+20)
    if isinstance(d, str):
        return replace(_name(d), ndim=0)
    assert isinstance(d, DimProduct)
    parts = ([_num(d.coefficient)] if d.coefficient != 1 else []) + [replace(_name(s), ndim=0) for s in d.symbols]
    return replace(_chain("mul", parts), value="dims", ndim=0)  # n * n: n² in Unicode and LaTeX


def _prefixed(prefix: list[Disp], shown: Disp) -> Disp:
    """prefix[0] * ... * shown, without parentheses where reading left to right gives the same node:
    `s * A @ B` reads as (s * A) @ B and `s * A / b` as (s * A) / b, which the constructors make
    s * (A @ B) and s * (A / b) again; `2 * s * X` is one flat product."""
    if shown.kind == "matmul":
        column = shown.value  # the math renderers' Mᵀ v for v @ M: the prefix goes to its first factor
        return replace(_chain("matmul", [_prefixed(prefix, shown.items[0]), *shown.items[1:]]), ndim=shown.ndim,
                       value=None if column is None else _prefixed(prefix, column))
    if shown.kind == "div":
        return replace(_bin("div", _prefixed(prefix, shown.items[0]), shown.items[1]), ndim=shown.ndim)
    if shown.kind == "mul":
        return replace(_chain("mul", list(prefix) + list(shown.items)), ndim=shown.ndim)
    if shown.kind == "num" and shown.value == 1.0:  # 2 * (1 / x) is 2 / x
        return _chain("mul", list(prefix))
    return replace(_chain("mul", list(prefix) + [shown]), ndim=shown.ndim)


def _transposes_termwise(terms) -> bool:
    """(a + b)ᵀ may be spelt aᵀ + bᵀ (and back) only when no term broadcasts a vector and no
    transposed term is itself a sum that reading back would merge into the outer one."""
    return all(t.ndim != 1 and transpose(t).op != "add" for t in terms)


def _in_sum_order(node: Node) -> bool:
    """The terms of a sum read back in this order: a sum transposed term by term keeps its order, which
    the constructor may not (B + t transposed is B.T + t, which reads as t + B.T: it is written (B + t).T).
    Known once per node."""
    return node.cached("in sum order", lambda n: n.op != "add" or add(*n.args) is n)


def _flipped_reads_back(node: Node) -> bool:
    """A chain f1 @ ... @ fk spelt flipped, (fkᵀ @ ... @ f1ᵀ).T, reads back as the transpose of the
    chain of transposes: this very node, unless the transposed chain meets a rewrite the chain as
    built did not (Sᵀ @ (A ⊗ B) distributes over the sum S, (Aᵀ ⊗ Bᵀ) @ S did not). Known once per node
    (the text, Unicode and LaTeX each ask)."""
    return node.cached("flipped reads back", _chain_of_transposes_is)


def _chain_of_transposes_is(node: Node) -> bool:
    factors = [transpose(f) for f in reversed(node.args)]
    if node.ndim == 1 and len(factors) > 2:
        # v @ Mkᵀ @ ... @ M1ᵀ: the matrices joined in one pass, then the vector in front. Joined one at a
        # time behind the vector, the chain would be turned around (vector last) at each step: quadratic
        flipped = matmul(factors[0], matmul_chain(factors[1:]))
    else:
        flipped = matmul_chain(factors)
    return (transpose(flipped) if node.ndim == 2 else flipped) is node


def _keywords(node: Node, call) -> tuple:
    """The literal parameters a node keeps in its params (sum's axis), as keywords; left out when None."""
    if call is None:
        return ()
    passed = [literal for literal in call.literals if literal.passed]
    return tuple((literal.name, _literal(value)) for literal, value in zip(passed, node.params)
                 if value is not None)


def _literal(value) -> Disp:
    """A literal parameter as Python writes it: a number, True or False, a tuple of numbers (axis=(0, 2))."""
    if isinstance(value, bool):
        return _plain("name", value=str(value), size=1)
    if isinstance(value, tuple):
        text = "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
        return _plain("name", value=text, size=2 + len(value))
    if isinstance(value, str):  # einsum's subscripts, checked against their grammar: letters, commas, ->
        return _plain("literal", value=repr(value), size=1)
    return _num(float(value))


def _literal_text(op: str, name: str, value: str) -> str:
    """A literal parameter as NumPy code writes it: by position where its entry says so (matrix_power(X, 3),
    norm(x, 1)), else as a keyword (axis=1)."""
    call = OPS[op].call
    positional = call is not None and any(lit.name == name and lit.positional for lit in call.literals)
    return value if positional else f"{name}={value}"


def _literals_first(op: str) -> bool:
    """einsum('ij,jk->ik', A, B): an entry whose literal parameters come before its arrays."""
    call = OPS[op].call
    return call is not None and call.arrays == -1


def _smaller(a: Disp, b: Disp) -> Disp:
    return b if b.cost < a.cost else a


class _Displayer:
    """best(node): the shortest display of node; best_t(node): of node transposed."""

    def __init__(self) -> None:
        self.memo: dict[Node, Disp] = {}
        self.memo_t: dict[Node, Disp] = {}

    def best(self, node: Node) -> Disp:
        found = self.memo.get(node)
        if found is None:
            found = replace(self._best(node), ndim=node.ndim)
            self.memo[node] = found
        return found

    def best_t(self, node: Node) -> Disp:
        if node.ndim < 2 or is_symmetric(node):
            return self.best(node)
        found = self.memo_t.get(node)
        if found is None:
            found = replace(self._best_t(node), ndim=node.ndim)
            self.memo_t[node] = found
        return found

    # -- as built
    def _best(self, node: Node) -> Disp:
        op, args = node.op, node.args
        if op == "const":
            return _num(node.params[0])
        if op == "var":
            return _name(node.params[0])
        if op == "dim":
            return _dim(node.params[0])
        call = OPS[op].call
        if call is not None and call.dims and call.arrays:  # reshape(X, (n, m)): an array, then a shape
            shape = [_dim(d) for d in node.params]
            return _call(op, [self.best(args[0]), _plain("shape", tuple(shape), size=1 + sum(s.size for s in shape))])
        if call is not None and call.dims:  # a constant matrix: its dimensions are its arguments
            return _call(op, [_dim(d) for d in node.params])
        if op == "transpose":
            return self.best_t(args[0])
        if op == "add":
            built = self._add(args, transposed=False)
            if node.ndim == 2:
                # reads back as transpose(transpose(node)) when the terms, turned, keep their order in a sum
                flipped = _t(self._add(args, transposed=True))
                # the cheap tests first: turning a deep sum around builds its transposed terms
                if (flipped.cost < built.cost or not _in_sum_order(node)) and _transposes_termwise(args) and \
                        transpose(transpose(node)) is node and _in_sum_order(transpose(node)):
                    built = flipped
            return built
        if op == "mul":
            return self._mul(args, transposed=False)
        if op == "matmul":
            built = _chain("matmul", [self.best(f) for f in args])
            if node.ndim == 0:  # the constructor already chose between aᵀ M b and bᵀ Mᵀ a
                return built
            flipped = _chain("matmul", [self.best_t(f) for f in reversed(args)])
            if node.ndim == 2:
                flipped = _t(flipped)
            chosen = _smaller(built, flipped)
            if chosen is not built and not _flipped_reads_back(node):
                chosen = built
            other = flipped if chosen is built else built
            if node.ndim == 1 and chosen.items[0].ndim == 1 and other.items[0].ndim != 1:
                # the text's v @ M is a vector: the math renderers write the column Mᵀ v, as a textbook does
                chosen = replace(chosen, value=replace(other, ndim=1))
            return chosen
        if op == "einsum":  # a stack of matrix products is written with @, as NumPy code writes it
            product = as_batched_matmul(node)
            if product is not None:
                return _chain("matmul", [self.best(f) for f in product])
        if op == "div":
            return _bin("div", self.best(args[0]), self.best(args[1]))
        if op == "pow":
            return _bin("pow", self.best(args[0]), self.best(args[1]))
        if OPS[op].text in COMPARISONS:  # a > b: an operator of the grammar, its symbols from the entry
            a, b = self.best(args[0]), self.best(args[1])
            return _plain("compare", (a, b), op, size=a.size + b.size + 2, cost=a.cost + b.cost + 2)
        if callable(OPS[op].text):  # a declared function, g(u) or grad(g)(u): its entry spells it from params
            shown = [self.best(a) for a in args]
            size = 3 + 3 * OPS[op].text(node.params).count("(") + sum(a.size for a in shown)
            return _plain("apply", tuple(shown), (op, node.params), size=size)
        return _call(op, [self.best(a) for a in args], _keywords(node, call))

    # -- transposed
    def _best_t(self, node: Node) -> Disp:
        op, args = node.op, node.args
        wrapped = _t(self.best(node))
        if op == "matmul":
            return _smaller(wrapped, _chain("matmul", [self.best_t(f) for f in reversed(args)]))
        if op == "add":  # the cheap test first: turning a deep sum around builds its transposed terms
            spelled = self._add(args, transposed=True)
            if spelled.cost < wrapped.cost and _transposes_termwise(args) and _in_sum_order(transpose(node)):
                return spelled
            return wrapped
        if op == "mul" and all(a.ndim != 1 for a in args) and sum(a.ndim == 2 for a in args) > 1 and \
                sum(map(transposes_in, args)) < sum(transposes_in(transpose(a)) for a in args):
            # (A ⊙ B)ᵀ as Aᵀ ⊙ Bᵀ reads back as this node only when that spelling has more transposes, and
            # when the transposed factors, built, are no other spelling (a column copied across, turned, is a row
            # a sum broadcasts: outer(ones(k), v) + M is v + M)
            spelled = self._mul(args, transposed=True)
            if spelled.cost < wrapped.cost and mul(*(transpose(a) for a in args)) is transpose(node):
                return spelled
            return wrapped
        if op == "div" and not args[1].shape:
            return _smaller(wrapped, _bin("div", self.best_t(args[0]), self.best(args[1])))
        if op == "outer":
            return _smaller(wrapped, _call("outer", [self.best(args[1]), self.best(args[0])]))
        if op == "kron" and all(a.ndim == 2 for a in args):
            return _smaller(wrapped, _call("kron", [self.best_t(a) for a in args]))
        if (op == "inv" or OPS[op].elementwise) and transposes_in(args[0]) < transposes_in(transpose(args[0])):
            # f(Mᵀ) reads back as this very node only when M spells out fewer transposes than Mᵀ
            return _smaller(wrapped, _call(op, [self.best_t(args[0])]))
        return wrapped

    def _add(self, terms, transposed: bool) -> Disp:
        parts = []
        for t in terms:
            c, body = split_coefficient(t)
            shown = self.best_t(body) if transposed else self.best(body)
            if body.op == "const":  # a number term: its coefficient is the number
                shown = _num(abs(c))
            elif abs(c) != 1.0:
                shown = _prefixed([_num(abs(c))], shown)
            parts.append(("-" if c < 0 else "+", shown))
        return _sum(parts)

    def _mul(self, factors, transposed: bool) -> Disp:
        shown = [self.best_t(f) if transposed else self.best(f) for f in factors]
        if not transposed:  # a transposed product spelt Gᵀ ⊙ I would join this one when read back: keep it whole
            shown = [_t(self.best(f.args[0])) if f.op == "transpose" and d.kind == "mul" else d
                     for f, d in zip(factors, shown)]
        negative = factors[0].op == "const" and factors[0].params[0] == -1.0
        if negative:
            shown = shown[1:]
        if len(shown) > 1 and all(not f.shape for f in factors[:-1]):
            built = _prefixed(shown[:-1], shown[-1])
        else:
            built = _chain("mul", shown)
        return _neg(built) if negative else built


def display(node: Node) -> Disp:
    # graph work: the transposes it asks for held (their memo is weak: a long chain's, asked for at each run of
    # it that is printed, was built again each time), the cyclic collector paused
    with graph_work():
        displayer = _Displayer()
        for n in topological(node):  # bottom-up, so that deep expressions never recurse deeply
            displayer.best(n)
            displayer.best_t(n)
        return displayer.best(node)


# ---- renderers --------------------------------------------------------------------------------
#
# A renderer writes a display tree without recursion, whatever its depth: `_parts(d)` says what d is
# written as, in order, pieces of text and the parts (Disp, the least precedence it may show
# without parentheses) still to be written; `write` takes them from an explicit stack and joins the
# text once, so that the time is linear in the length of the text (building each level's string from its
# children's would copy a deep chain's text once per level).

ATOM, POW, UNARY, PRODUCT, SUM, COMPARE = 5, 4, 3, 2, 1, 0
COMPARISONS = (">", "<", ">=", "<=", "==")  # the text of the comparison entries: 0/1 arrays


def _precedence(d: Disp) -> int:
    bound = ATOM
    while d.kind == "neg":  # "-a @ b" reads as (-a) @ b: a negated product binds as the product does
        bound, d = UNARY, d.items[0]
    kind = d.kind
    if kind in ("name", "call", "T", "apply", "literal", "shape"):
        own = ATOM
    elif kind == "compare":
        own = COMPARE
    elif kind == "num":
        own = ATOM if d.value >= 0 else UNARY
    elif kind == "pow":
        own = POW
    elif kind in ("mul", "matmul", "div"):
        own = PRODUCT
    else:
        own = SUM
    return min(bound, own)


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _scientific(value: float) -> tuple[str, str] | None:
    """(mantissa, exponent) of a number Python writes with an exponent (1e-05: ("1", "-5")), else None."""
    written = _format_number(value)
    if "e" not in written:
        return None
    mantissa, exponent = written.split("e")
    return mantissa, str(int(exponent))


def _math_precedence(d: Disp) -> int:
    """As `_precedence`, for the math renderers, which write 1e-05 as the power 10⁻⁵ and 2.5e-05 as the
    product 2.5 · 10⁻⁵."""
    if d.kind == "num":
        scientific = _scientific(d.value)
        if scientific is not None:
            return PRODUCT if scientific[0] not in ("1", "-1") else (POW if d.value > 0 else UNARY)
    return _precedence(d)


def _separated(parts: list, separator: str = ", ") -> list:
    """The parts with `separator` between each two."""
    out: list = []
    for i, part in enumerate(parts):
        if i:
            out.append(separator)
        out.append(part)
    return out


class _TextRenderer:
    """The language itself: what `parse` reads back to the same node."""

    opening, closing = "(", ")"

    def render(self, d: Disp, minimum: int = 0) -> str:
        return self.write([(d, minimum)])

    def write(self, parts: list) -> str:
        return "".join(self._pieces(parts))

    def _pieces(self, parts: list):
        """The text of the parts, piece by piece, in order."""
        stack = list(reversed(parts))
        while stack:
            part = stack.pop()
            if isinstance(part, str):
                yield part
                continue
            d, minimum = part
            inner = self._parts(d)
            if self.precedence(d) < minimum:
                inner = [self.opening, *inner, self.closing]
            stack.extend(reversed(inner))

    def precedence(self, d: Disp) -> int:
        return _precedence(d)

    def _starts_with(self, d: Disp, minimum: int, prefix: str) -> bool:
        """Does the text of d, written at `minimum`, start with `prefix`? Read from its first pieces alone."""
        start = ""
        for piece in self._pieces([(d, minimum)]):
            start += piece
            if len(start) >= len(prefix):
                break
        return start.startswith(prefix)

    def _parts(self, d: Disp) -> list:
        kind = d.kind
        if kind == "name":
            return [d.value]
        if kind == "num":
            return [_format_number(d.value)]
        if kind == "call":
            args, keywords = d.items
            inner = [(a, 0) for a in args]
            literals = [_literal_text(d.value, k, self.render(v)) for k, v in keywords]
            inner = literals + inner if _literals_first(d.value) else inner + literals
            return [f"{OPS[d.value].names[0]}(", *_separated(inner), ")"]
        if kind == "literal":
            return [d.value]
        if kind == "shape":
            return ["(", *_separated([(p, 0) for p in d.items]), "," if len(d.items) == 1 else "", ")"]
        if kind == "T":
            return [(d.items[0], ATOM), ".T"]
        if kind == "neg":
            return ["-", (d.items[0], PRODUCT)]
        if kind == "add":
            return self._sum(d, "-")
        if kind in ("mul", "matmul"):
            symbol = " * " if kind == "mul" else " @ "
            out = [(d.items[0], PRODUCT)]
            for p in d.items[1:]:
                out += [symbol, (p, PRODUCT + 1)]
            return out
        if kind == "div":
            return [(d.items[0], PRODUCT), " / ", (d.items[1], PRODUCT + 1)]
        if kind == "pow":
            return [(d.items[0], ATOM), " ** ", (d.items[1], UNARY)]
        if kind == "compare":
            return [(d.items[0], SUM), f" {getattr(OPS[d.value], self.field)} ", (d.items[1], SUM)]
        if kind == "apply":
            op, params = d.value
            return [getattr(OPS[op], self.field)(params), *self._parenthesised(_separated([(a, 0) for a in d.items]))]
        raise AssertionError(kind)

    field = "text"  # the entry's spelling this renderer writes (comparisons, declared functions)

    def _sum(self, d: Disp, minus: str) -> list:
        """a + b - c, with `minus` the renderer's sign."""
        out: list = []
        for i, (sign, term) in enumerate(d.items):
            written = (term, PRODUCT if (sign == "-" or i == 0) else SUM + 1)
            if i == 0:
                out += [minus if sign == "-" else "", written]
            else:
                out += [f" {minus if sign == '-' else '+'} ", written]
        return out

    def _parenthesised(self, parts: list) -> list:
        return [self.opening, *parts, self.closing]


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUBSCRIPT = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def _is_scalar(d: Disp) -> bool:
    return d.kind == "num" or d.ndim == 0


def _powers(items) -> list[tuple[Disp, int]]:
    """Equal scalar names next to each other as one power: n n is n²."""
    out: list[tuple[Disp, int]] = []
    for item in items:
        if out and item.kind == "name" and _is_scalar(item) and out[-1][0] == item:
            out[-1] = (item, out[-1][1] + 1)
        else:
            out.append((item, 1))
    return out


class _MathRenderer(_TextRenderer):
    """What the Unicode and LaTeX renderers share: products as a textbook writes them. A scalar multiplies
    by juxtaposition (`λ I`, `2 Xᵀ(X w − y)`; a number after the first factor by `·`), `⊙` stands only
    between arrays, a vector v @ M is the column Mᵀ v, and a chain that starts with a vector starts with
    its transpose (xᵀ A x)."""

    hadamard = dot = ""
    tight: str | None = "("  # a factor in parentheses follows the one before without a space: Xᵀ(X w − y)

    def precedence(self, d: Disp) -> int:
        return _math_precedence(d)

    def _raised(self, part, exponent: int) -> list:
        raise NotImplementedError

    def _transposed(self, d: Disp) -> list:
        raise NotImplementedError

    def _product(self, d: Disp) -> list:
        parts = _powers(d.items)
        hadamard = [not _is_scalar(a) and not _is_scalar(b) and b.kind != "num"
                    for (a, _), (b, _) in zip(parts, parts[1:])]  # ⊙ between parts i and i + 1
        out: list = []
        scalars_before = True  # only scalars so far: what follows may be a whole product, 2 Xᵀ Y
        for position, (p, exponent) in enumerate(parts):
            whole = scalars_before and p.kind in ("matmul", "mul", "div") and position > 0
            beside = (position and hadamard[position - 1]) or (position < len(hadamard) and hadamard[position])
            if beside and p.kind in ("matmul", "div"):  # (Aᵀ x) ⊙ y: a matrix product is never read into ⊙
                whole = False
            if position:
                if p.kind == "num":
                    out.append(self.dot)
                elif hadamard[position - 1]:
                    out.append(self.hadamard)
                else:
                    out.append(" ")
            if exponent > 1:
                out += self._raised((p, ATOM), exponent)
            else:
                out.append((p, PRODUCT + 1 if beside and p.kind in ("matmul", "div") else
                            PRODUCT if position == 0 or whole else PRODUCT + 1))
            scalars_before = scalars_before and _is_scalar(p)
        return out

    def _matmul(self, d: Disp) -> list:
        if d.value is not None:
            d = d.value
        first, rest = d.items[0], list(d.items[1:])
        if first.kind == "mul" and first.ndim == 1 and _is_scalar(first.items[0]):
            # 2 xᵀ A x: the scalars in front of the transposed vector
            count = next(i for i, p in enumerate(first.items) if not _is_scalar(p))
            vector = replace(_chain("mul", list(first.items[count:])), ndim=1)
            inner = replace(_chain("matmul", [vector, *rest]), ndim=d.ndim)
            return self._product(_chain("mul", [*first.items[:count], inner]))
        out = self._transposed(first) if first.ndim == 1 else [(first, PRODUCT)]
        for p in rest:
            if not (self.tight and self._starts_with(p, PRODUCT + 1, self.tight)):
                out.append(" ")
            out.append((p, PRODUCT + 1))
        return out

    def _row(self, d: Disp) -> str:
        """A vector written as a row: (X w − y)ᵀ X for the v @ M that is otherwise the column Xᵀ(X w − y)."""
        if d.kind == "matmul" and d.value is not None:
            return self.render(replace(d, value=None))
        return self.write(self._transposed(d))


class _UnicodeRenderer(_MathRenderer):
    """Math for a terminal: Xᵀ, X⁻¹, ⊙, ⊗, ‖x‖, tr, Iₙ, W₁, λ."""

    field = "unicode"
    hadamard, dot = " ⊙ ", " · "

    def _raised(self, part, exponent: int) -> list:
        return [part, str(exponent).translate(_SUPERSCRIPT)]

    def _parts(self, d: Disp) -> list:
        kind = d.kind
        if kind == "name":
            return [unicode_name(d.value)]
        if kind == "num":
            scientific = _scientific(d.value)
            if scientific is not None:  # 1e-05 as 10⁻⁵, 2.5e-05 as 2.5 · 10⁻⁵
                mantissa, exponent = scientific
                power = "10" + exponent.translate(_SUPERSCRIPT)
                lead = {"1": "", "-1": "−"}.get(mantissa, mantissa.replace("-", "−") + " · ")
                return [lead + power]
            return [_format_number(d.value).replace("-", "−")]
        if kind == "call":
            return self._call(d)
        if kind == "T":
            return [(d.items[0], ATOM), "ᵀ"]
        if kind == "neg":
            return ["−", (d.items[0], PRODUCT)]
        if kind == "add":
            return self._sum(d, "−")
        if kind == "mul":
            return self._product(d)
        if kind == "matmul":
            return self._matmul(d)
        if kind == "div":
            return [(d.items[0], PRODUCT), " / ", (d.items[1], PRODUCT + 1)]
        if kind == "pow":
            exponent = d.items[1]
            if exponent.kind == "num" and float(exponent.value).is_integer():
                return [(d.items[0], ATOM), _format_number(exponent.value).translate(_SUPERSCRIPT)]
            return [(d.items[0], ATOM), "^", (exponent, ATOM)]
        return super()._parts(d)

    def _sub(self, d: Disp) -> str:
        """A subscript: Iₙ, Iₙₘ, Iₙ² (n * n), or I[2k] where no subscript letters exist."""
        text = "".join(self.render(p) if e == 1 else self.write(self._raised((p, ATOM), e))
                       for p, e in _powers(d.items)) if d.kind == "mul" else self.render(d)
        translated = text.translate(_SUBSCRIPT)
        return translated if all(not c.isascii() for c in translated) else f"[{text}]"

    def _transposed(self, d: Disp) -> list:
        return [(d, ATOM), "ᵀ"]

    def _call(self, d: Disp) -> list:
        args, keywords = d.items
        spelling = OPS[d.value].unicode
        if callable(spelling):
            return _Arguments(self, args, keywords).spelled(spelling)
        inner = [(a, 0) for a in args] + [_literal_text(d.value, k, self.render(v)) for k, v in keywords]
        return [f"{spelling}(", *_separated(inner), ")"]


class _LatexRenderer(_MathRenderer):
    """LaTeX math (no surrounding dollars) that KaTeX renders: W_{1}, \\alpha, \\sqrt{x}, I_{n^{2}}."""

    field = "latex"
    hadamard, dot = r" \odot ", r" \cdot "
    tight = None  # TeX spaces a product itself
    opening, closing = r"\left(", r"\right)"

    def _raised(self, part, exponent: int) -> list:
        return ["{", part, f"}}^{{{exponent}}}"]

    def _parts(self, d: Disp) -> list:
        kind = d.kind
        if kind == "name":
            return [latex_name(d.value)]
        if kind == "num":
            scientific = _scientific(d.value)
            if scientific is not None:  # 1e-05 as 10^{-5}, 2.5e-05 as 2.5 \cdot 10^{-5}
                mantissa, exponent = scientific
                lead = {"1": "", "-1": "-"}.get(mantissa, mantissa + r" \cdot ")
                return [f"{lead}10^{{{exponent}}}"]
            return [_format_number(d.value)]
        if kind == "call":
            return self._call(d)
        if kind == "T":
            return ["{", (d.items[0], ATOM), r"}^\top"]
        if kind == "neg":
            return ["-", (d.items[0], PRODUCT)]
        if kind == "add":
            return self._sum(d, "-")
        if kind == "mul":
            return self._product(d)
        if kind == "matmul":
            return self._matmul(d)
        if kind == "div":
            return [r"\frac{", (d.items[0], 0), "}{", (d.items[1], 0), "}"]
        if kind == "pow":
            return ["{", (d.items[0], ATOM), "}^{", (d.items[1], 0), "}"]
        return super()._parts(d)

    def _transposed(self, d: Disp) -> list:
        return ["{", (d, ATOM), r"}^\top"]

    def _sub(self, d: Disp) -> str:
        if d.kind == "mul":  # n * n as n^{2}, 2 * n as 2n
            return "".join(self.render(p) if e == 1 else self.write(self._raised((p, ATOM), e))
                           for p, e in _powers(d.items))
        return self.render(d)

    def _call(self, d: Disp) -> list:
        args, keywords = d.items
        spelling = OPS[d.value].latex
        if callable(spelling):
            return _Arguments(self, args, keywords).spelled(spelling)
        return [rf"{spelling}\left(", *_separated([(x, 0) for x in args]), r"\right)"]


class _Arguments:
    """A call's arguments as the entry's spelling sees them, where its `unicode` or `latex` is a function:
    `a[i]` is the i-th argument written as it stands, `a.atom(i)` parenthesised unless it is atomic,
    `a.factor(i)` as a factor of a product, `a.transposed(i)` as this renderer writes a transpose (xᵀ,
    {x}^\\top), `a.subscript(i)` as a subscript (Unicode: ₙ, or [n·m] where no subscript letters exist),
    `a.joined()` all of them, comma-separated; `a.ndim(i)` is the argument's number of axes, `len(a)` the
    number of arguments and `a.keyword(name)` a rendered literal parameter (None where left out).

    An argument's text is a stand-in (a marker) that the renderer replaces by the argument's parts, so
    that a spelling costs the same whatever the size of its arguments: a spelling places its arguments'
    texts, it never reads them. A subscript (dimensions) and a keyword are text as written."""

    def __init__(self, renderer: _TextRenderer, args: tuple, keywords: tuple) -> None:
        self.renderer, self.args, self.keywords = renderer, args, dict(keywords)
        self.stand_ins: list[list] = []  # what each marker stands for

    def _marker(self, parts: list) -> str:
        self.stand_ins.append(parts)
        return f"\x00{len(self.stand_ins) - 1}\x00"

    def spelled(self, spelling) -> list:
        """The parts of `spelling(self)`: its text, the markers replaced by what they stand for."""
        out: list = []
        for i, piece in enumerate(spelling(self).split("\x00")):
            if i % 2:
                out += self.stand_ins[int(piece)]
            elif piece:
                out.append(piece)
        return out

    def __getitem__(self, i: int) -> str:
        return self._marker([(self.args[i], 0)])

    def __len__(self) -> int:
        return len(self.args)

    def atom(self, i: int) -> str:
        return self._marker([(self.args[i], ATOM)])

    def factor(self, i: int) -> str:
        return self._marker([(self.args[i], PRODUCT + 1)])

    def transposed(self, i: int) -> str:
        return self._marker(self.renderer._transposed(self.args[i]))

    def subscript(self, i: int) -> str:
        return self.renderer._sub(self.args[i])

    def joined(self) -> str:
        return ", ".join(self[i] for i in range(len(self)))

    def ndim(self, i: int) -> int:
        return self.args[i].ndim

    def keyword(self, name: str) -> str | None:
        value = self.keywords.get(name)
        return None if value is None else self.renderer.render(value)


_TEXT, _UNICODE, _LATEX = _TextRenderer(), _UnicodeRenderer(), _LatexRenderer()


def to_text(node: Node) -> str:
    """The node in the expression language; `parse(to_text(e))` is `e`."""
    return _TEXT.render(display(node))


spell_with(to_text)  # str(node) and error messages write nodes in the language


def to_unicode(node: Node, row: bool = False) -> str:
    """The node in Unicode math; `row` writes a vector as a row, (X w − y)ᵀ X rather than Xᵀ(X w − y)."""
    shown = display(node)
    return _UNICODE._row(shown) if row and node.ndim == 1 else _UNICODE.render(shown)


def to_latex(node: Node, row: bool = False) -> str:
    """The node in LaTeX math (no dollars); `row` as for `to_unicode`."""
    shown = display(node)
    return _LATEX._row(shown) if row and node.ndim == 1 else _LATEX.render(shown)


def display_size(node: Node) -> int:
    """Syntax-tree nodes of the printed text (the compactness measure), without printing it."""
    return display(node).size + 1
