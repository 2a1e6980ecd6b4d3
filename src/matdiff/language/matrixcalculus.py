"""matrixcalculus.org's input language, read by translation into matdiff's own text.

matrixcalculus.org writes `0.5*x'*A*x`, `(y.*v)'*x`, `norm2(A*x-y)^2`, `sum(log(exp(-y.*(X*w)) +
vector(1)))`, `tr(A*X'*B*X*C)`, `log(det(inv(X)))`: MATLAB's operators and precedences, `'` the
transpose, `*` the matrix product (or a product with a scalar), `.*` `./` `.^` elementwise, `^` the power
of a scalar. Its names are typed by their first letter when nobody declared them (a–g scalars, h–z
column vectors, A–Z matrices), and the sizes nobody gave follow from the products and sums the names
meet.

This module owns that syntax (a tokenizer and a small precedence parser: no text is ever evaluated),
the typing of names, the inference of the undeclared dimensions (a union-find over them; those no
declaration names are called n, m, p, ... in the order the text meets them) and the choice of
matdiff's spelling for each operator: `*` is `@` between arrays and `*` with a scalar, a column
times a row is `outer`, `x'` of a vector is `x` itself (matdiff's vectors are 1-D: a row or a column
only by where they stand), `X^2` of a matrix is `matrix_power(X, 2)`, `norm1(X)` of a matrix
`sum(abs(X))`. What each operation means, and its shape rule, stays with the operation: the
translation is read by `parse.py` like any text. Errors point with a caret into the text as written
here, and name the operands as written.
"""
from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..dims import Dim, VarSpec, dim_symbols, format_dim
from ..errors import MatdiffError, NotSupportedError, ParseError, ShapeError, UnknownNameError, close_matches, \
    with_caret
from ..expr import Node
from .parse import parse as parse_language

MAX_LENGTH = 20_000
FRESH_DIMENSIONS = ("n", "m", "p", "q", "r", "k", "l", "s", "t")


# ---- tokens ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "symbol" (an operator or a bracket), "end"
    text: str
    start: int
    end: int


# a number's point is not the point of .* ./ .^ .' (2.*x is 2 .* x, as in MATLAB)
_TOKEN = re.compile(r"""(?P<number>(?:\d+(?:\.(?![*/^'])\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
                      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
                      |(?P<symbol>\.[*/^']|[-+*/^'(),])""", re.X)
# what people paste from elsewhere, and how matrixcalculus.org writes it
_FOREIGN = {"**": "a power is written ^ (of a scalar, or an integer power of a square matrix) or .^ (elementwise)",
            "@": "the matrix product is written *", ".T": "the transpose is written X'",
            "[": "matrixcalculus.org's language has no brackets", "]": "matrixcalculus.org's language has no brackets"}


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        foreign = next((s for s in _FOREIGN if text.startswith(s, at)), None)
        if foreign is not None:
            raise ParseError(with_caret(f"{foreign!r} is not matrixcalculus.org's syntax: {_FOREIGN[foreign]}",
                                        text, at, at + len(foreign)))
        match = _TOKEN.match(text, at)
        if match is None:
            raise ParseError(with_caret(f"cannot read {text[at]!r}: matrixcalculus.org's language has numbers, "
                                        "names, + - * / ^ .* ./ .^ ' and parentheses", text, at))
        tokens.append(Token(match.lastgroup, match.group(), at, match.end()))
        at = match.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


# ---- syntax: MATLAB's precedences, lowest first: + -, then * / .* ./, then unary -, then ^ .^, then ' --------

@dataclass(frozen=True)
class Syntax:
    kind: str  # "number", "name", "call", "negate", "binary", "transpose"
    text: str  # the number, the name, the function or the operator
    args: tuple = ()
    start: int = 0
    end: int = 0


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.at = text, tokenize(text), 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def fail(self, message: str, token: Token) -> ParseError:
        return ParseError(with_caret(message, self.text, token.start, max(token.end, token.start + 1)))

    def expression(self) -> Syntax:
        tree = self.sum()
        if self.token.kind != "end":
            hint = " (a product is written with *)" if self.token.kind in ("name", "number") or \
                self.token.text == "(" else ""
            raise self.fail(f"cannot read {self.token.text!r} here{hint}", self.token)
        return tree

    def binary(self, operators: tuple[str, ...], operand: Callable[[], Syntax]) -> Syntax:
        left = operand()
        while self.token.kind == "symbol" and self.token.text in operators:
            operator = self.take().text
            right = operand()
            left = Syntax("binary", operator, (left, right), left.start, right.end)
        return left

    def sum(self) -> Syntax:
        return self.binary(("+", "-"), self.product)

    def product(self) -> Syntax:
        return self.binary(("*", "/", ".*", "./"), self.unary)

    def unary(self) -> Syntax:
        if self.token.text in ("-", "+") and self.token.kind == "symbol":
            sign = self.take()
            operand = self.unary()
            return Syntax("negate", "-", (operand,), sign.start, operand.end) if sign.text == "-" else \
                replace(operand, start=sign.start)
        return self.power()

    def power(self) -> Syntax:  # left-associative, as in MATLAB: 2^3^2 is 64
        left = self.postfix()
        while self.token.kind == "symbol" and self.token.text in ("^", ".^"):
            operator = self.take().text
            right = self.exponent()
            left = Syntax("binary", operator, (left, right), left.start, right.end)
        return left

    def exponent(self) -> Syntax:  # a^-1
        if self.token.text in ("-", "+") and self.token.kind == "symbol":
            sign = self.take()
            operand = self.exponent()
            return Syntax("negate", "-", (operand,), sign.start, operand.end) if sign.text == "-" else operand
        return self.postfix()

    def postfix(self) -> Syntax:
        tree = self.primary()
        while self.token.kind == "symbol" and self.token.text in ("'", ".'"):
            mark = self.take()
            tree = Syntax("transpose", "'", (tree,), tree.start, mark.end)
        return tree

    def primary(self) -> Syntax:
        token = self.take()
        if token.kind == "number":
            return Syntax("number", token.text, (), token.start, token.end)
        if token.kind == "name":
            if self.token.text != "(":
                return Syntax("name", token.text, (), token.start, token.end)
            self.take()
            args = [self.sum()]
            while self.token.text == ",":
                self.take()
                args.append(self.sum())
            close = self.closing(token)
            return Syntax("call", token.text, tuple(args), token.start, close.end)
        if token.text == "(":
            inner = self.sum()
            close = self.closing(token)
            return replace(inner, start=token.start, end=close.end)
        if token.kind == "end":
            raise self.fail("the expression ends before an operand", token)
        raise self.fail(f"an operand is missing before {token.text!r}", token)

    def closing(self, opening: Token) -> Token:
        if self.token.text != ")":
            if self.token.kind == "end":
                raise ParseError(with_caret("this parenthesis is never closed", self.text, opening.start,
                                            opening.end))
            raise self.fail(f"expected ')' here, not {self.token.text!r}", self.token)
        return self.take()


# ---- matdiff's text, built as terms and printed once the dimensions have their names ------------------

@dataclass(frozen=True)
class _Term:
    kind: str  # "atom", "call", "binary", "negate", "transpose"
    text: str  # the atom, the function or the operator
    args: tuple = ()


# Python's precedences, which the printed text must respect: + - < * / @ < unary - < ** < atoms
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4}


def _precedence(term: _Term) -> int:
    if term.kind == "binary":
        return _PRECEDENCE[term.text]
    return 3 if term.kind == "negate" else 5


def _print(term: _Term, name_of: Callable[["_Dim"], str]) -> str:
    def wrapped(inner: _Term, parenthesize: bool) -> str:
        text = _print(inner, name_of)
        return f"({text})" if parenthesize else text

    if term.kind == "atom":
        return term.text
    if term.kind == "call":  # its arguments: terms, and the sizes of ones(n, m) and eye(n)
        args = (name_of(a) if isinstance(a, _Dim) else _print(a, name_of) for a in term.args)
        return f"{term.text}({', '.join(args)})"
    if term.kind == "transpose":
        return wrapped(term.args[0], _precedence(term.args[0]) < 5) + ".T"
    if term.kind == "negate":
        return "-" + wrapped(term.args[0], _precedence(term.args[0]) < 3)
    left, right = term.args
    own = _PRECEDENCE[term.text]
    if term.text == "**":  # right-associative, and tighter than a unary minus on its left
        return f"{wrapped(left, _precedence(left) <= own)} ** {wrapped(right, _precedence(right) < 3)}"
    return f"{wrapped(left, _precedence(left) < own)} {term.text} {wrapped(right, _precedence(right) <= own)}"


def _binary(operator: str, left: _Term, right: _Term) -> _Term:
    return _Term("binary", operator, (left, right))


# ---- dimensions: a union-find, each class a declared dimension or one to be named ---------------------

class _Dim:
    __slots__ = ("parent", "value", "anchored")

    def __init__(self, value: Dim | None, anchored: bool) -> None:
        self.parent: _Dim | None = None
        self.value = value  # the declared dimension, once the class meets one
        self.anchored = anchored  # the class holds a variable's dimension, not only a constant's (vector(1))

    def root(self) -> "_Dim":
        node = self
        while node.parent is not None:
            node = node.parent
        return node


@dataclass(frozen=True)
class _Value:
    """What an operand is: its term, its dimensions (none: a scalar; one: a vector; two: a matrix), and
    for a vector whether it stands as a row (x') or a column."""
    term: _Term
    dims: tuple = ()
    row: bool = False

    @property
    def order(self) -> int:
        return len(self.dims)


@dataclass(frozen=True)
class Reading:
    """A text of matrixcalculus.org read: matdiff's `text` for it, the node, and the variables with the
    shapes declared or inferred (the undeclared ones typed by their first letter)."""
    text: str
    node: Node
    variables: dict[str, VarSpec] = field(default_factory=dict)


def _kind_by_letter(name: str) -> int:
    """matrixcalculus.org's typing of an undeclared name: a–g scalars, h–z vectors, A–Z matrices."""
    first = name[0]
    return 0 if "a" <= first <= "g" else 1 if "h" <= first <= "z" else 2 if "A" <= first <= "Z" else -1


_KINDS = ("a scalar", "a vector", "a matrix")


class _Reader:
    """One reading: the types of the operands and the terms of the translation, in one walk."""

    def __init__(self, text: str, declared: dict[str, VarSpec]) -> None:
        self.text, self.declared = text, declared
        self.values: dict[str, _Value] = {}  # each name's value, once met
        self.undeclared: set[str] = set()
        self.dims: list[_Dim] = []  # in the order the text meets them: the order of their names
        self.constants: list[tuple[Syntax, _Dim, str]] = []  # vector(1), matrix(1), eye: sizes from elsewhere

    # -- errors
    def fail(self, cls: type[MatdiffError], message: str, tree: Syntax) -> MatdiffError:
        return cls(with_caret(message, self.text, tree.start, tree.end))

    def written(self, tree: Syntax) -> str:
        return self.text[tree.start:tree.end]

    def describe(self, tree: Syntax, value: _Value) -> str:
        """`x' (row vector, length n)`, in the names the dimensions have so far."""
        names = self.names()
        dims = [self.label(d, names) for d in value.dims]
        kind = ("scalar" if not dims else f"{'row' if value.row else 'column'} vector, length {dims[0]}"
                if len(dims) == 1 else f"matrix, {dims[0]}×{dims[1]}")
        if tree.kind == "name" and tree.text in self.undeclared:
            kind += f"; undeclared, so {_KINDS[value.order]} by its first letter"
        return f"{self.written(tree)} ({kind})"

    # -- dimensions
    def new_dim(self, value: Dim | None = None, anchored: bool = True) -> _Dim:
        dim = _Dim(value, anchored)
        self.dims.append(dim)
        return dim

    def unify(self, a: _Dim, b: _Dim) -> bool:
        """Make a and b one dimension; False when they are two different declared ones."""
        a, b = a.root(), b.root()
        if a is b:
            return True
        if a.value is not None and b.value is not None and a.value != b.value:
            return False
        b.parent = a
        a.value = a.value if a.value is not None else b.value
        a.anchored = a.anchored or b.anchored
        return True

    def names(self) -> dict[_Dim, str]:
        """A name for each class no declaration names: n, m, p, ... in the order the text meets them,
        none of them a name the expression or a declaration already uses."""
        taken = set(self.values) | set(self.declared) | \
            {d for spec in self.declared.values() for d in dim_symbols(spec.shape)}
        fresh = (name for name in (*FRESH_DIMENSIONS, *(f"n{i}" for i in range(1, 10_000))) if name not in taken)
        names: dict[_Dim, str] = {}
        for dim in self.dims:
            root = dim.root()
            if root.value is None and root not in names:
                names[root] = next(fresh)
        return names

    @staticmethod
    def label(dim: _Dim, names: dict[_Dim, str]) -> str:
        root = dim.root()
        return format_dim(root.value) if root.value is not None else names[root]

    def match(self, pairs: list[tuple[_Dim, _Dim]], tree: Syntax, left: tuple[Syntax, _Value],
              right: tuple[Syntax, _Value], what: str) -> None:
        for a, b in pairs:
            if not self.unify(a, b):
                raise self.fail(ShapeError, f"{what}: {self.describe(*left)} and {self.describe(*right)} do not fit "
                                            f"({format_dim(a.root().value)} ≠ {format_dim(b.root().value)})", tree)

    # -- the walk
    def read(self, tree: Syntax) -> _Value:
        return getattr(self, "read_" + tree.kind)(tree)

    def read_number(self, tree: Syntax) -> _Value:
        text = tree.text
        if re.fullmatch(r"\d+", text):
            text = str(int(text))  # 007 is 7; Python refuses the leading zeros
        return _Value(_Term("atom", text))

    def read_name(self, tree: Syntax) -> _Value:
        name = tree.text
        if name in self.values:
            return self.values[name]
        if name == IDENTITY and name not in self.declared:  # its size from what it stands next to
            size = self.new_dim(anchored=False)
            self.constants.append((tree, size, "the size of eye"))
            return _Value(_Term("call", "eye", (size,)), (size, size))
        if name in FUNCTIONS and name not in self.declared:
            raise self.fail(ParseError, f"{name} is a function: write {name}(…)", tree)
        spec = self.declared.get(name)
        if spec is not None:
            if spec.is_function:
                raise self.fail(NotSupportedError, _DECLARED_FUNCTION.format(name=name), tree)
            if len(spec.shape) > 2:
                raise self.fail(NotSupportedError, f"{name} is declared with {len(spec.shape)} axes; "
                                                   "matrixcalculus.org's language has scalars, vectors and "
                                                   "matrices", tree)
            dims = tuple(self.new_dim(d) for d in spec.shape)
        else:
            order = _kind_by_letter(name)
            if order < 0 or keyword.iskeyword(name) or name in {d for s in self.declared.values()
                                                                for d in dim_symbols(s.shape)}:
                reason = ("a Python keyword, which matdiff cannot name a variable" if keyword.iskeyword(name) else
                          "a dimension of a declared variable" if order >= 0 else
                          "neither a–z nor A–Z at its start, so matrixcalculus.org gives it no type")
                raise self.fail(UnknownNameError, f"{name} is {reason}: rename it or declare it", tree)
            dims = tuple(self.new_dim() for _ in range(order))
            self.undeclared.add(name)
        value = _Value(_Term("atom", name), dims)
        self.values[name] = value
        return value

    def read_negate(self, tree: Syntax) -> _Value:
        value = self.read(tree.args[0])
        return replace(value, term=_Term("negate", "-", (value.term,)))

    def read_transpose(self, tree: Syntax) -> _Value:
        value = self.read(tree.args[0])
        if value.order == 2:
            return _Value(_Term("transpose", ".T", (value.term,)), value.dims[::-1])
        return replace(value, row=not value.row) if value.order == 1 else value

    def read_binary(self, tree: Syntax) -> _Value:
        left_tree, right_tree = tree.args
        left, right = self.read(left_tree), self.read(right_tree)
        return BINARY[tree.text](self, tree, (left_tree, left), (right_tree, right))

    def read_call(self, tree: Syntax) -> _Value:
        name = tree.text
        at_name = Syntax("name", name, (), tree.start, tree.start + len(name))
        if name in self.declared and self.declared[name].is_function:
            raise self.fail(NotSupportedError, _DECLARED_FUNCTION.format(name=name), at_name)
        if name == IDENTITY and name not in self.declared:
            raise self.fail(ParseError, "eye takes no argument: its size follows from what it stands next to", tree)
        rule = FUNCTIONS.get(name)
        if rule is None or name in self.declared:
            known = ", ".join(sorted(FUNCTIONS)) + f" and {IDENTITY}, alone"
            raise self.fail(UnknownNameError, f"{name} is not a function of matrixcalculus.org's language"
                                              f"{close_matches(name, [*FUNCTIONS, IDENTITY])} (its functions: {known})",
                            at_name)
        if len(tree.args) != 1:
            raise self.fail(ParseError, f"{name} takes one argument", tree)
        return rule(self, tree, tree.args[0], self.read(tree.args[0]))

    # -- the end: every size named, the text printed
    def finish(self, value: _Value) -> tuple[str, dict[str, VarSpec]]:
        for tree, dim, what in self.constants:
            root = dim.root()
            if root.value is None and not root.anchored:
                raise self.fail(ShapeError, f"{what} is set by nothing: {self.written(tree)} meets no variable whose "
                                            "size it must match, so the expression has no size there; write it next "
                                            "to one (as in x + vector(1)) or declare the variables", tree)
        names = self.names()
        text = _print(value.term, lambda d: self.label(d, names))
        variables = dict(self.declared)
        for name in (name for name in self.values if name in self.undeclared):  # in the order the text meets them
            variables[name] = VarSpec(name, tuple(self._dim(d, names) for d in self.values[name].dims))
        return text, variables

    @staticmethod
    def _dim(dim: _Dim, names: dict[_Dim, str]) -> Dim:
        root = dim.root()
        return root.value if root.value is not None else names[root]


Operand = tuple[Syntax, _Value]


# ---- the operators ------------------------------------------------------------------------------------

def _product(reader: _Reader, tree: Syntax, left: Operand, right: Operand) -> _Value:
    """`*`: a product with a scalar, or the matrix product: a row times a column is their inner product,
    a column times a row their outer product."""
    (_, a), (_, b) = left, right
    if not a.order or not b.order:
        shaped = b if not a.order else a
        return replace(shaped, term=_binary("*", a.term, b.term))
    kinds = (a.order, a.row, b.order, b.row)
    if kinds == (1, False, 1, True):
        return _Value(_Term("call", "outer", (a.term, b.term)), (a.dims[0], b.dims[0]))
    inner_a = a.dims[-1] if a.order == 2 else a.dims[0] if a.row else None
    inner_b = b.dims[0] if b.order == 2 or not b.row else None
    if inner_a is None or inner_b is None:
        hint = ("; x'*y is the inner product of two vectors, x*y' their outer product, x.*y the elementwise one"
                if a.order == b.order == 1 else "; a column vector x stands on the left of a matrix as x'"
                if a.order == 1 else "; a matrix times a vector is A*x, with x a column")
        raise reader.fail(ShapeError, f"cannot multiply {reader.describe(*left)} by {reader.describe(*right)}{hint}",
                          tree)
    reader.match([(inner_a, inner_b)], tree, left, right, "the matrix product")
    dims = (a.dims[0],) * (a.order == 2) + (b.dims[-1],) * (b.order == 2)
    row = a.order == 1 and b.order == 2
    return _Value(_binary("@", a.term, b.term), dims, row)


def _elementwise(operator: str, what: str) -> Callable[[_Reader, Syntax, Operand, Operand], _Value]:
    """+ - .* ./ .^: operands of the same shape (a row with a row), or a scalar with anything."""
    def rule(reader: _Reader, tree: Syntax, left: Operand, right: Operand) -> _Value:
        (_, a), (_, b) = left, right
        term = _binary(operator, a.term, b.term)
        if not a.order or not b.order:
            return replace(b if not a.order else a, term=term)
        if a.order != b.order or (a.order == 1 and a.row != b.row):
            hint = " (transpose one of them with ')" if a.order == b.order else ""
            raise reader.fail(ShapeError, f"{what} of {reader.describe(*left)} and {reader.describe(*right)}: "
                                          f"their shapes differ{hint}", tree)
        reader.match(list(zip(a.dims, b.dims)), tree, left, right, what)
        return replace(a, term=term)
    return rule


def _divide(reader: _Reader, tree: Syntax, left: Operand, right: Operand) -> _Value:
    (_, a), (_, b) = left, right
    if b.order:
        raise reader.fail(ShapeError, f"cannot divide {reader.describe(*left)} by {reader.describe(*right)}: / "
                                      "divides by a scalar; ./ divides elementwise, and X*inv(A) is the product with "
                                      "an inverse", tree)
    return replace(a, term=_binary("/", a.term, b.term))


def _integer(tree: Syntax) -> int | None:
    """The exponent as an integer, where it is written as one (2, -1, (3))."""
    if tree.kind == "negate":
        inner = _integer(tree.args[0])
        return None if inner is None else -inner
    if tree.kind == "number" and float(tree.text).is_integer():
        return int(float(tree.text))
    return None


def _power(reader: _Reader, tree: Syntax, left: Operand, right: Operand) -> _Value:
    """`^`: the power of a scalar; of a square matrix, the matrix power for an integer exponent (X^-1 is
    inv(X)). Anything else has no meaning there, and the error says which power is meant instead."""
    (base_tree, a), (exponent_tree, b) = left, right
    if b.order:
        raise reader.fail(ShapeError, f"the exponent {reader.describe(*right)} of ^ must be a scalar; .^ raises "
                                      "elementwise", tree)
    if not a.order:
        return _Value(_binary("**", a.term, b.term))
    k = _integer(exponent_tree)
    if a.order == 1:
        raise reader.fail(ShapeError, f"{reader.describe(*left)} has no power {reader.written(exponent_tree)}: "
                                      f"{reader.written(base_tree)}.^{reader.written(exponent_tree)} raises its "
                                      f"entries, and norm2({reader.written(base_tree)})^2 is its squared length", tree)
    if k is None:
        raise reader.fail(NotSupportedError, f"{reader.written(exponent_tree)} is not an integer, so "
                                             f"{reader.describe(*left)} has no matrix power "
                                             f"{reader.written(exponent_tree)}: .^ raises its entries", tree)
    if not reader.unify(*a.dims):
        raise reader.fail(ShapeError, f"the matrix power of {reader.describe(*left)} needs a square matrix", tree)
    return replace(a, term=_Term("call", "matrix_power", (a.term, _Term("atom", str(k)))))


BINARY: dict[str, Callable[[_Reader, Syntax, Operand, Operand], _Value]] = {
    "+": _elementwise("+", "the sum"), "-": _elementwise("-", "the difference"),
    ".*": _elementwise("*", "the elementwise product"), "./": _elementwise("/", "the elementwise quotient"),
    ".^": _elementwise("**", "the elementwise power"), "*": _product, "/": _divide, "^": _power,
}


# ---- the functions: each says what it is of a scalar, a vector and a matrix ------------------------------

def _call(function: str, value: _Value, *dims) -> _Term:
    return _Term("call", function, (value.term, *dims))


def _elementwise_function(name: str):
    return lambda reader, tree, arg_tree, value: replace(value, term=_call(name, value))


def _sum(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
    return value if not value.order else _Value(_call("sum", value))


def _norm1(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
    """The 1-norm of a vector; of a matrix, the sum of the entries' magnitudes (not NumPy's norm(X, 1))."""
    if value.order == 1:
        return _Value(_Term("call", "norm", (value.term, _Term("atom", "1"))))
    magnitudes = _call("abs", value)
    return _Value(magnitudes) if not value.order else _Value(_Term("call", "sum", (magnitudes,)))


def _norm2(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
    """The Euclidean norm of a vector, the Frobenius norm of a matrix."""
    return _Value(_call("abs" if not value.order else "norm2", value))


def _square(name: str, of_scalar: Callable[[_Term], _Term]):
    """tr, det, logdet, inv: of a square matrix, or of a scalar (a 1×1 matrix); never of a vector."""
    def rule(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
        if not value.order:
            return _Value(of_scalar(value.term))
        if value.order == 1:
            raise reader.fail(ShapeError, f"{name} of {reader.describe(arg_tree, value)}: {name} is of a square "
                                          "matrix", tree)
        if not reader.unify(*value.dims):
            raise reader.fail(ShapeError, f"{name} of {reader.describe(arg_tree, value)}: {name} is of a square "
                                          "matrix", tree)
        return replace(value, term=_call(name, value)) if name == "inv" else _Value(_call(name, value))
    return rule


def _diag(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
    """The diagonal matrix of a vector; the vector of a square matrix's diagonal."""
    if not value.order:
        return value
    if value.order == 1:
        return _Value(_call("diag", value), (value.dims[0], value.dims[0]))
    if not reader.unify(*value.dims):
        raise reader.fail(ShapeError, f"diag of {reader.describe(arg_tree, value)}: the diagonal of a square matrix",
                          tree)
    return _Value(_call("diag", value), value.dims[:1])


def _ones(order: int):
    """vector(c), matrix(c): every entry c, the size from what it stands next to."""
    def rule(reader: _Reader, tree: Syntax, arg_tree: Syntax, value: _Value) -> _Value:
        if value.order:
            raise reader.fail(ShapeError, f"{tree.text}(c) has every entry c, a scalar; "
                                          f"{reader.describe(arg_tree, value)} is not one", tree)
        dims = tuple(reader.new_dim(anchored=False) for _ in range(order))
        for dim, what in zip(dims, ("the length of vector(…)",) if order == 1 else
                             ("the number of rows of matrix(…)", "the number of columns of matrix(…)")):
            reader.constants.append((tree, dim, what))
        ones = _Term("call", "ones", dims)
        one = value.term.kind == "atom" and value.term.text == "1"
        return _Value(ones if one else _binary("*", value.term, ones), dims)
    return rule


def _reciprocal(term: _Term) -> _Term:
    return _binary("/", _Term("atom", "1"), term)


FUNCTIONS: dict[str, Callable[[_Reader, Syntax, Syntax, _Value], _Value]] = {
    **{name: _elementwise_function(name) for name in
       ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "abs",
        "sign")},
    "sum": _sum, "norm1": _norm1, "norm2": _norm2, "diag": _diag,
    "tr": _square("tr", lambda t: t), "det": _square("det", lambda t: t),
    "logdet": _square("logdet", lambda t: _Term("call", "log", (t,))), "inv": _square("inv", _reciprocal),
    "vector": _ones(1), "matrix": _ones(2),
}
IDENTITY = "eye"  # written alone, its size from what it stands next to (_Reader.read_name)
_DECLARED_FUNCTION = ("{name} is declared a function, which matrixcalculus.org's language has not: write the "
                      "expression in matdiff's language to apply it")


# ---- the entry point -----------------------------------------------------------------------------------

def translate(text: str, declared: dict[str, VarSpec]) -> tuple[str, dict[str, VarSpec]]:
    """matdiff's text for a text of matrixcalculus.org, and the variables: the declared ones and the
    undeclared ones the text uses, typed by their first letter with the sizes inferred."""
    if not isinstance(text, str):
        raise ParseError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ParseError("the expression is empty")
    try:
        tree = _Parser(text).expression()
        reader = _Reader(text, declared)
        return reader.finish(reader.read(tree))
    except RecursionError:
        raise ParseError("the expression is nested too deeply") from None


def parse_matrixcalculus(text: str, declared: dict[str, VarSpec]) -> Reading:
    """The node for a text of matrixcalculus.org (see the module docstring), through matdiff's own text."""
    translation, variables = translate(text, declared)
    try:
        node = parse_language(translation, variables)
    except MatdiffError as error:  # a shape rule this reading does not know: say what was read
        raise type(error)(f"{error}\n(matrixcalculus.org's {text.strip()!r} read as matdiff's "
                          f"{translation!r})") from None
    return Reading(translation, node, variables)
