"""Reading formulas written in LaTeX, as papers, lecture notes and Q&A pages write them, into nodes.

A hand-written tokenizer (macros `\\name`, groups `{}`, `^`, `_`, symbols) feeds a small precedence
parser that builds nodes through the operations' constructors, the same ones `parse.py` calls. What
LaTeX leaves unsaid is settled by the declared shapes: a product written by juxtaposition (`x^T A x`,
`\\mathbf{W}\\mathbf{X}`, `X \\cdot W`) is `*` when one side is a scalar and `@` otherwise, a column
next to a row (`a a^T`) is their outer product; `I` and `\\mathbf{1}` without a size take it from
their neighbour. When a formula has two readings (`X^T` with a declared T, `\\sigma(x)` with a declared
sigma, `AB` with A, B and AB all declared) the error shows both; nothing is guessed silently.

Declarations (`where`) as the pages write them are latex_declarations.py's to read; index notation
(`D_{ij} = \\sum_k W_{ik} X_{kj}`) is read here and chained into matrix products by latex_indices.py;
a whole question (`\\frac{\\partial f}{\\partial W}`) is latex_questions.py's, and refused here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ops
from ..dims import VarSpec, dim_symbols
from ..errors import MatdiffError, NotSupportedError, ParseError, ShapeError, UnknownNameError, \
    with_caret
from ..expr import Node
from .latex_declarations import WRAPPERS, name_of_macro, declarations
from .latex_indices import contract, free_indices

MAX_LENGTH = 20_000


class AmbiguityError(ParseError):
    """A formula with two readings; the message shows both."""


# ---- tokens -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "macro" (\name), "name" (a run of letters), "number", "symbol" (one character), "end"
    text: str
    start: int
    end: int


_TOKEN = re.compile(r"\\([A-Za-z]+|.)|([A-Za-z]+)|(\d+(?:\.\d+)?|\.\d+)|(\s+)|(.)", re.S)
_SPACES = {",", ";", "!", ":", " ", "quad", "qquad", "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr",
           "Bigl", "Bigr", "displaystyle", "textstyle", "limits", "nolimits", "thinspace", "medspace",
           "thickspace", ">", "&", "rm", "bf", "it", "sf", "boldmath"}  # \\rm and its kin: old font switches
_UNICODE = {"⊗": "otimes", "⊙": "odot", "∘": "circ", "·": "cdot", "⋅": "cdot", "×": "times", "ᵀ": "top",
            "−": "-", "∑": "sum", "∈": "in", "↦": "mapsto", "‖": "|", "⁻¹": "inv"}


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        macro, letters, number, space, symbol = match.groups()
        start, end = match.span()
        if space is not None:
            continue
        if macro is not None:
            if macro in _SPACES:
                continue
            if macro == "|":
                tokens.append(Token("macro", "Vert", start, end))
            elif macro in "{}":
                tokens.append(Token("symbol", macro, start, end))
            else:
                tokens.append(Token("macro", macro, start, end))
        elif letters is not None:
            tokens.append(Token("name", letters, start, end))
        elif number is not None:
            tokens.append(Token("number", number, start, end))
        elif symbol == "~":
            continue
        elif symbol in _UNICODE:
            word = _UNICODE[symbol]
            tokens.append(Token("symbol" if len(word) == 1 else "macro", word, start, end))
        else:
            tokens.append(Token("symbol", symbol, start, end))
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


# ---- values while parsing -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Value:
    """A node, and for a vector whether the formula wrote it as a row (x^T): the language's 1-D arrays
    have no orientation, LaTeX's columns and rows do, and the product of a column and a row is outer."""
    node: Node | None
    row: bool = False
    unsized: str | None = None  # "eye" or "ones": I or \mathbf{1} written without their size
    scale: Node | None = None  # the scalar an unsized I or 1 is multiplied by (\lambda I), until it is sized

    @property
    def scalar(self) -> bool:
        return self.node is not None and self.node.ndim == 0


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota",
          "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
          "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
# functions written as a macro or an upright name, and the constructor each means
_FUNCTIONS = {"tr": ops.tr, "Tr": ops.tr, "trace": ops.tr, "det": ops.det, "exp": ops.exp, "log": ops.log_,
              "ln": ops.log_, "tanh": ops.tanh, "sigma": ops.sigmoid, "sigmoid": ops.sigmoid, "sqrt": ops.sqrt,
              "sum": ops.sum_, "inv": ops.inv, "logdet": ops.logdet, "vec": ops.vec, "diag": ops.diag}
_TRANSPOSES = {"T", "top", "intercal", "prime", "operatorname{T}", "mathsf{T}", "text{T}", "mathrm{T}", "textsf{T}",
               "mathbf{T}"}
_PRODUCTS = {"cdot": "cdot", "odot": "*", "circ": "*", "otimes": "kron", "times": "juxtaposed",
             "ast": "juxtaposed"}


class _IndexNotation(Exception):
    """Raised on meeting an entry (W_{ik}) or a sum over an index: the formula is read by index."""


# ---- the parser ------------------------------------------------------------------------------------

def checked_text(text: object, what: str) -> str:
    """LaTeX from a user: text, and no longer than MAX_LENGTH (`what` names it: "formula", "question")."""
    if not isinstance(text, str):
        raise ParseError(f"a {what} must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the {what} is {len(text)} characters long; the limit is {MAX_LENGTH}")
    return text


def parse_latex(text: str, where: "str | dict | None" = None) -> Node:
    """The node for a formula written in LaTeX, with the variables declared in `where`."""
    checked_text(text, "formula")
    variables, definitions = declarations(where)
    return read_formula(text, variables, definitions)


def read_formula(text: str, variables: dict[str, VarSpec], definitions: dict[str, str]) -> Node:
    """The node for a formula, with the variables and definitions (name -> LaTeX) already read."""
    return _Parser(text, variables, definitions).formula()


class _Parser:
    def __init__(self, text: str, variables: dict[str, VarSpec], definitions: dict[str, str]) -> None:
        self.text, self.variables = text, variables
        self.tokens = tokenize(text)
        self.at = 0
        self.nodes = {name: ops.var_from_spec(spec) for name, spec in variables.items() if not spec.is_function}
        self.functions = {name for name, spec in variables.items() if spec.is_function}
        self.dims = {str(d) for spec in variables.values() for d in dim_symbols(spec.shape)}
        for name, body in definitions.items():  # D = W X in `where`: D stands for its node
            self.nodes[name] = _Parser(body, variables, {}).formula()

    # -- tokens
    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def is_symbol(self, text: str) -> bool:
        return self.token.kind == "symbol" and self.token.text == text

    def is_macro(self, *names: str) -> bool:
        return self.token.kind == "macro" and self.token.text in names

    def expect(self, text: str) -> Token:
        if not self.is_symbol(text):
            raise self.fail(ParseError, f"expected {text!r} here", self.token)
        return self.advance()

    def fail(self, cls: type[MatdiffError], message: str, start: Token, end: Token | None = None) -> MatdiffError:
        stop = (end or start).end
        return cls(with_caret(message, self.text, start.start, max(stop, start.start + 1)))

    norms_open = 0  # how many \| are open: inside one, \| closes it rather than opening another

    # -- the formula: `f(W) = ...`, `f: G \mapsto ...`, `D = W X` read as what they define
    def formula(self) -> Node:
        self._refuse_questions()
        start = self.at
        for index, token in enumerate(self.tokens):
            if token.kind == "macro" and token.text == "mapsto":
                start = index + 1
        if start == 0:
            depth = 0
            for index, token in enumerate(self.tokens):
                depth += token.text in "({" and token.kind == "symbol" or 0
                depth -= token.text in ")}" and token.kind == "symbol" or 0
                if depth == 0 and token.kind == "symbol" and token.text == "=":
                    start = index + 1
        defined = self.tokens[:start]
        if free_indices(defined):
            return self.entries(defined, start)
        self.at = start
        if self.token.kind == "end":
            raise self.fail(ParseError, "the formula is empty", self.token)
        try:
            value = self.sum()
        except _IndexNotation:  # x_i A_{ij} y_j: entries of declared arrays, read by index
            return self.entries(defined, start)
        if self.token.kind != "end":
            raise self.fail(ParseError, f"cannot read {self.token.text!r} here", self.token)
        return self.sized(value, None).node

    def _refuse_questions(self) -> None:
        """A derivative asked (∂f/∂X, df/dX) is a question, not an expression: say where it is read."""
        asked = next((t for t in self.tokens if t.kind == "macro" and t.text in ("partial", "nabla")), None)
        if asked is None and self.tokens[0].kind == "macro" and self.tokens[0].text in ("frac", "cfrac", "dfrac") \
                and self.tokens[1].text == "{" and self.tokens[2].kind == "name" and self.tokens[2].text[0] == "d":
            asked = self.tokens[0]
        if asked is not None:
            raise self.fail(NotSupportedError, "this formula asks for a derivative: read it with "
                                               "parse_latex_question, or write the expression alone", asked)

    # -- index notation: D_{ij} = \\sum_k W_{ik} X_{kj}, f_{ij} = w_{ik} x_{kj} (a repeated index is summed)
    def entries(self, defined: list[Token], start: int) -> Node:
        """The array whose entries the formula gives: a product of entries of declared arrays, chained
        through the summed indices into matrix products (with a transpose where a factor's indices run
        the other way)."""
        out = list(free_indices(defined))
        self.at = start
        summed: set[str] = set()
        factors: list[tuple[Node, list[str], Token]] = []
        while self.token.kind != "end":
            token = self.token
            if self.is_macro("sum"):
                self.advance()
                if self.is_symbol("_"):
                    self.advance()
                    summed |= set(self.script_text().split("=")[0])
                if self.is_symbol("^"):
                    self.advance()
                    self.script_text()
                continue
            if token.kind == "macro" and token.text in WRAPPERS:  # \\mathbf{W}_{ik}
                self.advance()
                braced = self.is_symbol("{")
                if braced:
                    self.advance()
                token = self.advance()
                if braced:
                    self.expect("}")
            elif token.kind == "name":
                if len(token.text) > 1:  # ax_{th}: each letter is a symbol of its own
                    self.tokens[self.at] = Token("name", token.text[0], token.start, token.start + 1)
                    self.tokens.insert(self.at + 1, Token("name", token.text[1:], token.start + 1, token.end))
                    token = self.tokens[self.at]
                self.advance()
            elif token.kind == "macro" and token.text in _PRODUCTS or token.kind == "symbol" and token.text == "*":
                self.advance()
                continue
            else:
                raise self.fail(NotSupportedError, "index notation is read for a product of entries only", token)
            name = token.text
            array = self.nodes.get(name)
            if array is None and name.upper() in self.nodes:  # a_{it} is an entry of the declared A
                array = self.nodes[name.upper()]
            if array is None:
                raise self.fail(UnknownNameError, f"{name}_{{…}} is an entry of no declared array", token)
            indices = []
            if self.is_symbol("_"):
                self.advance()
                indices = list(self.script_text().replace(",", ""))
            if len(indices) != array.ndim:
                raise self.fail(ShapeError, f"{name} has {array.ndim} indices, not {len(indices)}", token)
            factors.append((array, indices, token))
        try:
            return contract(out, summed, [(array, indices) for array, indices, _ in factors])
        except NotSupportedError as exc:
            raise self.fail(NotSupportedError, str(exc), self.tokens[0], self.tokens[-1]) from None

    # -- precedence levels
    def sum(self) -> _Value:
        first = self.token
        if self.is_symbol("-") or self.is_symbol("+"):
            sign = self.advance().text
            value = self.product()
            if sign == "-":
                value = _Value(ops.neg(self.sized(value, None).node), value.row)
        else:
            value = self.product()
        while self.is_symbol("+") or self.is_symbol("-"):
            operator = self.advance()
            right = self.product()
            left_value, right_value = self.sized(value, right), self.sized(right, value)
            construct = ops.add if operator.text == "+" else ops.sub
            node = self.shaped(construct, [left_value.node, right_value.node], first, self.tokens[self.at - 1])
            value = _Value(node, left_value.row and right_value.row)
        return value

    def product(self) -> _Value:
        first = self.token
        value = self.power()
        while True:
            if self.token.kind == "macro" and self.token.text in _PRODUCTS:
                kind = _PRODUCTS[self.advance().text]
            elif self.is_symbol("/"):  # x^T y / 2
                self.advance()
                right = self.sized(self.power(), None)
                left = self.sized(value, None)
                value = _Value(self.shaped(ops.div, [left.node, right.node], first, self.tokens[self.at - 1]),
                               left.row)
                continue
            elif self.starts_operand():
                kind = "juxtaposed"
            else:
                return value
            right = self.power()
            value = self.combine(kind, value, right, first)

    def starts_operand(self) -> bool:
        token = self.token
        if token.kind in ("name", "number"):
            return True
        if token.kind == "symbol":
            return token.text in "({["
        if token.kind == "macro":
            if token.text in ("Vert", "|", "rVert") and self.norms_open:  # the norm's closing bars
                return False
            return token.text not in _PRODUCTS and token.text not in ("mapsto", "in", "quad", "right", "rVert",
                                                                     "rvert", "end")
        return False

    def combine(self, kind: str, left: _Value, right: _Value, first: Token) -> _Value:
        last = self.tokens[self.at - 1]
        if kind == "kron":
            a, b = self.sized(left, right), self.sized(right, left)
            return _Value(self.shaped(ops.kron, [a.node, b.node], first, last))
        if kind == "*":
            a, b = self.sized(left, right), self.sized(right, left)
            return _Value(self.shaped(ops.mul, [a.node, b.node], first, last), a.row and b.row)
        # a product by juxtaposition: a scalar times an unsized I or 1 waits for its size (\lambda I), an
        # unsized I beside a matrix is the identity of the product, 1 takes the size the product needs
        for unsized, other in ((left, right), (right, left)):
            if unsized.unsized and other.scalar:
                scale = other.node if unsized.scale is None else ops.mul(unsized.scale, other.node)
                return _Value(None, unsized.row, unsized.unsized, scale)
            if unsized.unsized == "eye" and other.node is not None and other.node.ndim == 2:
                return other if unsized.scale is None else _Value(ops.mul(unsized.scale, other.node))
        if left.unsized == "ones" and left.row and right.node is not None and right.node.ndim >= 1:
            left = self.scaled(_Value(ops.ones(right.node.shape[:1]), row=True), left.scale)
        if right.unsized == "ones" and not right.row and left.node is not None and left.node.ndim >= 1:
            right = self.scaled(_Value(ops.ones(left.node.shape[-1:])), right.scale)
        a, b = self.sized(left, right), self.sized(right, left)
        if kind == "cdot" and a.node.ndim == 1 and b.node.ndim == 1 and a.row == b.row:  # x \cdot y
            return _Value(self.shaped(ops.matmul, [a.node, b.node], first, last))
        if a.scalar or b.scalar:
            return _Value(self.shaped(ops.mul, [a.node, b.node], first, last), (a.row or b.row))
        if a.node.ndim == 1 and b.node.ndim == 1:
            if not a.row and b.row:  # a column times a row
                return _Value(self.shaped(ops.outer, [a.node, b.node], first, last))
            if a.row and not b.row:
                return _Value(self.shaped(ops.matmul, [a.node, b.node], first, last))
            raise self.fail(ShapeError, f"two {'rows' if a.row else 'columns'} side by side have no product: "
                                        "transpose one of them", first, last)
        node = self.shaped(ops.matmul, [a.node, b.node], first, last)
        return _Value(node, a.node.ndim == 1 and node.ndim == 1)

    def shaped(self, construct, args: list[Node], first: Token, last: Token) -> Node:
        try:
            return construct(*args)
        except ShapeError as exc:
            raise self.fail(ShapeError, str(exc), first, last) from None

    @staticmethod
    def scaled(value: _Value, scale: Node | None) -> _Value:
        return value if scale is None else _Value(ops.mul(scale, value.node), value.row)

    def sized(self, value: _Value, neighbour: _Value | None) -> _Value:
        """An unsized I or 1 with the shape its neighbour gives it."""
        if value.unsized is None:
            return value
        return self.scaled(self._sized(value, neighbour), value.scale)

    def _sized(self, value: _Value, neighbour: _Value | None) -> _Value:
        if neighbour is None or neighbour.node is None:
            spelled = ("I", "I_n") if value.unsized == "eye" else ("\\mathbf{1}", "\\mathbf{1}_n")
            raise ParseError(with_caret(f"{spelled[0]} needs its size here: write {spelled[1]}", self.text, 0,
                                        len(self.text)))
        shape = neighbour.node.shape
        if value.unsized == "eye":
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ParseError(with_caret("I beside an array that is not square has no size", self.text, 0,
                                            len(self.text)))
            return _Value(ops.eye(shape[0]))
        if value.row and len(shape) == 2:  # 1^T X: a row as long as X's columns
            return _Value(ops.ones((shape[0],)), row=True)
        return _Value(ops.ones(shape[-1:] if value.row or len(shape) == 1 else shape), row=value.row)

    # -- powers: ^T, ^{-1}, ^2, '
    def power(self) -> _Value:
        value = self.primary()
        while True:
            if self.is_symbol("'"):
                self.advance()
                value = self.transposed(value)
            elif self.is_symbol("^"):
                hat = self.advance()
                value = self.superscript(value, hat)
            else:
                return value

    def transposed(self, value: _Value) -> _Value:
        if value.unsized or value.node.ndim == 1:
            return _Value(value.node, not value.row, value.unsized)
        return _Value(ops.transpose(value.node))

    def superscript(self, value: _Value, hat: Token) -> _Value:
        start = self.at
        raw = self.script_text()
        written = self.text[self.tokens[start].start:self.tokens[self.at - 1].end]
        if raw in _TRANSPOSES:
            if raw == "T" and ("T" in self.nodes or "T" in self.dims):
                other = "the variable T" if "T" in self.nodes else "the dimension T"
                raise self.fail(AmbiguityError, f"^T reads two ways here: the transpose, or the power by {other}; "
                                                "write ^\\top for the transpose", hat, self.tokens[self.at - 1])
            return self.transposed(value)
        if raw in ("-1", "-1}"):
            return _Value(self.shaped(ops.inv, [self.sized(value, None).node], hat, self.tokens[self.at - 1]))
        if raw in ("-T", "-top", "-\\top"):
            return _Value(ops.transpose(ops.inv(self.sized(value, None).node)))
        if raw in ("+", "dagger"):
            return _Value(ops.pinv(value.node))
        if re.fullmatch(r"(?:\\circ|circ)\d+", raw):  # X^{\circ 2}: the power entry by entry
            return _Value(ops.power(self.sized(value, None).node, ops.const(float(re.sub(r"\D", "", raw)))), value.row)
        if re.fullmatch(r"\d+", raw):
            node = self.sized(value, None).node
            last = self.tokens[self.at - 1]
            if node.ndim == 2:  # X^2 of a matrix is X X, as the textbooks write it (X^{\circ 2} squares entries)
                return _Value(self.shaped(lambda x: ops.matrix_power(x, int(raw)), [node], hat, last))
            if node.ndim == 1:
                raise self.fail(AmbiguityError, f"x^{raw} of a vector reads two ways: x^T x (\\|x\\|^2), or its "
                                                f"entries to the power {raw} (x^{{\\circ {raw}}})", hat, last)
            return _Value(ops.power(node, ops.const(float(raw))), value.row)
        if raw in ("1/2", "frac12", "frac{1}{2}"):
            node = self.sized(value, None).node
            if node.ndim == 2:
                raise self.fail(NotSupportedError, "the square root of a matrix (X^{1/2}) is not part of the language",
                                hat, self.tokens[self.at - 1])
            return _Value(ops.sqrt(node), value.row)
        # a general exponent: read it as an expression
        inner = _Parser(written[1:-1] if written.startswith("{") and written.endswith("}") else written,
                        self.variables, {})
        inner.nodes = self.nodes
        exponent = inner.sum()
        return _Value(self.shaped(ops.power, [self.sized(value, None).node, self.sized(exponent, None).node], hat,
                                  self.tokens[self.at - 1]))

    def script_text(self) -> str:
        """The text of a sub- or superscript: one token, or a group {…}, with spaces and braces of
        wrappers dropped (^{\\mathsf T} is "mathsf{T}", ^{T} is "T")."""
        if self.is_symbol("{"):
            self.advance()
            parts, depth = [], 1
            while True:
                token = self.advance()
                if token.kind == "end":
                    raise self.fail(ParseError, "a group { is not closed", token)
                if token.kind == "symbol" and token.text == "{":
                    depth += 1
                elif token.kind == "symbol" and token.text == "}":
                    depth -= 1
                    if depth == 0:
                        break
                parts.append(token.text)
            joined = "".join(parts)
            # \mathsf T and \mathsf{T} are the same
            for wrapper in ("mathsf", "text", "mathrm", "textsf", "mathbf"):
                if joined in (wrapper + "T", wrapper + "{T}"):
                    return f"{wrapper}{{T}}"
            return joined
        token = self.advance()
        if token.kind == "macro" and token.text in ("mathsf", "text", "mathrm") and self.token.text in ("T", "{"):
            return token.text + "{" + self.script_text() + "}"
        if token.kind == "name" and len(token.text) > 1:  # a^TGa: the script is the first letter only
            self.split_name(token)
            return token.text[0]
        if token.kind == "number" and len(token.text) > 1:
            self.split_number(token)
            return token.text[0]
        return token.text

    def split_name(self, token: Token) -> None:
        """The run `TGa` after ^ is T and the name `Ga` (each letter a symbol of its own in LaTeX)."""
        rest = Token("name", token.text[1:], token.start + 1, token.end)
        self.tokens.insert(self.at, rest)

    def split_number(self, token: Token) -> None:
        rest = Token("number", token.text[1:], token.start + 1, token.end)
        self.tokens.insert(self.at, rest)

    # -- primaries
    def primary(self) -> _Value:
        token = self.token
        if token.kind == "number":
            self.advance()
            return _Value(ops.const(float(token.text)))
        if token.kind == "symbol":
            if token.text in "([":
                self.advance()
                value = self.sum()
                self.expect(")" if token.text == "(" else "]")
                return value
            if token.text == "{":
                inner = self.peek()
                if inner.kind == "name" and inner.text in _FUNCTIONS and inner.text not in self.nodes \
                        and self.peek(2).text == "}":  # {\\rm Tr}(AX)
                    self.at += 3
                    return self.apply(inner.text, inner)
                self.advance()
                value = self.sum()
                self.expect("}")
                return value
            if token.text == "|":
                return self.bars(token)
            raise self.fail(ParseError, f"cannot read {token.text!r} here", token)
        if token.kind == "name":
            return self.name(token)
        if token.kind == "macro":
            return self.macro(token)
        raise self.fail(ParseError, "the formula ends before an operand", token)

    def bars(self, opening: Token) -> _Value:
        """|X| is the determinant of a matrix, the absolute value of a scalar; \\|X\\| is a norm."""
        self.advance()
        value = self.sized(self.sum(), None)
        if self.is_macro("rvert", "vert"):
            self.advance()
        else:
            self.expect("|")
        if value.node.ndim == 2:
            return _Value(self.shaped(ops.det, [value.node], opening, self.tokens[self.at - 1]))
        if value.node.ndim == 0:
            return _Value(ops.abs_(value.node))
        raise self.fail(AmbiguityError, "|x| of a vector reads two ways: its norm (\\|x\\|) or its entries' "
                                        "absolute values (\\operatorname{abs}(x))", opening, self.tokens[self.at - 1])

    def norm(self, opening: Token) -> _Value:
        self.advance()
        self.norms_open += 1
        value = self.sized(self.sum(), None)
        self.norms_open -= 1
        if not (self.is_macro("Vert", "rVert", "|") or self.is_symbol("|") and self.peek().text == "|"):
            raise self.fail(ParseError, "the norm opened here is not closed with \\| or \\Vert", opening)
        if self.is_symbol("|"):
            self.advance()
        self.advance()
        kind, squared, before = "2", None, self.at
        if self.is_symbol("^"):  # \\|x\\|^2_2: the power written before the norm's subscript
            self.advance()
            squared = self.script_text()
            if not self.is_symbol("_"):
                squared, self.at = None, before
        if self.is_symbol("_"):
            self.advance()
            kind = self.script_text()
        if squared is not None:
            if not squared.isdigit():
                raise self.fail(NotSupportedError, f"cannot read the power ^{squared} of a norm", opening)
            self.tokens.insert(self.at, Token("number", squared, opening.start, opening.start))
            self.tokens.insert(self.at, Token("symbol", "^", opening.start, opening.start))
        if kind == "1" and value.node.ndim == 1:
            return _Value(ops.norm1(value.node))
        if kind not in ("F", "2", "mathrm{F}", "mathrmF", "text{F}", "textF"):
            raise self.fail(NotSupportedError, f"the norm _{kind} is not read from LaTeX yet (\\|X\\|_F, "
                                               "\\|x\\|_2 and \\|x\\|_1 are)", opening, self.tokens[self.at - 1])
        if kind == "2" and value.node.ndim == 2:
            raise self.fail(AmbiguityError, "\\|X\\|_2 of a matrix reads two ways: its spectral norm or (as many "
                                            "pages write it) its Frobenius norm; write \\|X\\|_F for the latter",
                            opening, self.tokens[self.at - 1])
        return _Value(ops.norm2(value.node))

    def name(self, token: Token) -> _Value:
        """A run of letters: a declared name, a function (tr), or several one-letter symbols (XA is X A)."""
        text = token.text
        readings = self.readings(text)
        if not readings:
            unknown = next((c for c in text if c not in self.nodes), text)
            declared = ", ".join(sorted(self.nodes)) or "none"
            raise self.fail(UnknownNameError, f"unknown variable {unknown!r} in {text!r}; declared variables: "
                                              f"{declared}", token)
        if len(readings) > 1:
            shown = " or ".join("·".join(r) for r in readings[:2])
            raise self.fail(AmbiguityError, f"{text!r} reads two ways: {shown}", token)
        parts = readings[0]
        if len(parts) > 1:  # read the first part now, and leave the rest as a token of its own
            self.tokens[self.at] = Token("name", parts[0], token.start, token.start + len(parts[0]))
            self.tokens.insert(self.at + 1, Token("name", text[len(parts[0]):], token.start + len(parts[0]),
                                                  token.end))
            token = self.tokens[self.at]
        return self.symbol(parts[0], token)

    def readings(self, text: str) -> list[list[str]]:
        """Ways to cut a run of letters into declared names, functions and dimensions."""
        known = set(self.nodes) | self.functions | set(_FUNCTIONS) | self.dims | {"I", "e"}
        known |= {name.split("_")[0] for name in known if "_" in name}  # W of W_1
        results: list[list[str]] = []

        def cut(rest: str, parts: list[str]) -> None:
            if len(results) > 2:
                return
            if not rest:
                results.append(parts)
                return
            for size in range(len(rest), 0, -1):
                head = rest[:size]
                if head in known:
                    cut(rest[size:], parts + [head])
        cut(text, [])
        return results

    def symbol(self, name: str, token: Token) -> _Value:
        self.advance()
        name = self.subscripted(name)
        if name in self.functions:
            return self.apply_declared(name, token)
        if name in self.nodes:
            if self.is_symbol("(") and name in _FUNCTIONS:
                raise self.fail(AmbiguityError, f"{name}(…) reads two ways: the variable {name} times (…), or "
                                                f"the function {name} applied to it", token)
            return _Value(self.nodes[name])
        if name in _FUNCTIONS:
            return self.apply(name, token)
        if name == "I":
            return self.identity(token)
        if name == "e" and self.is_symbol("^"):  # e^{x}, when no e is declared
            self.advance()
            exponent = self.sized(self.group(), None)
            return _Value(self.shaped(ops.exp, [exponent.node], token, self.tokens[self.at - 1]))
        if name in self.dims:
            return _Value(ops.dim(name))
        declared = ", ".join(sorted(self.nodes)) or "none"
        raise self.fail(UnknownNameError, f"unknown variable {name!r}; declared variables: {declared}", token)

    def subscripted(self, name: str) -> str:
        """W_1 and W_{1} name the variable W_1; W_{ij} (an entry) is index notation, not read yet."""
        if not self.is_symbol("_") or name == "I":
            return name
        underscore = self.advance()
        script = self.script_text()
        joined = f"{name}_{script}"
        if joined in self.nodes or joined in self.functions:
            return joined
        if re.fullmatch(r"[a-z]{1,2}", script) and (name in self.nodes or name.upper() in self.nodes):
            raise _IndexNotation()
        declared = ", ".join(sorted(self.nodes)) or "none"
        raise self.fail(UnknownNameError, f"unknown variable {joined!r}; declared variables: {declared}", underscore)

    def identity(self, token: Token) -> _Value:
        if self.is_symbol("_"):
            self.advance()
            size = self.script_text()
            return _Value(ops.eye(int(size) if size.isdigit() else size))
        return _Value(None, unsized="eye")

    def ones(self, token: Token) -> _Value:
        if self.is_symbol("_"):
            self.advance()
            size = self.script_text()
            return _Value(ops.ones((int(size) if size.isdigit() else size,)))
        return _Value(None, unsized="ones")

    def argument(self, token: Token) -> _Value:
        """The argument of a function: (…), {…}, or the juxtaposed product that follows (\\log\\det X)."""
        if self.is_symbol("(") or self.is_symbol("{") or self.is_symbol("["):
            return self.primary()  # \mathrm{tr}(A)^2 squares the trace
        if self.token.kind == "end":
            raise self.fail(ParseError, "the function has no argument", token)
        first = self.token
        value = self.power()
        while self.starts_operand():
            value = self.combine("juxtaposed", value, self.power(), first)
        return value

    def apply(self, name: str, token: Token) -> _Value:
        if name == "log" and self.is_macro("det"):
            self.advance()
            name = "logdet"
        elif name == "log" and self.is_symbol("|"):
            opening = self.token
            value = self.bars(opening)
            node = value.node
            if node.op == "det":
                return _Value(ops.logdet(node.args[0]))
            return _Value(ops.log_(node))
        argument = self.sized(self.argument(token), None)
        last = self.tokens[self.at - 1]
        return _Value(self.shaped(_FUNCTIONS[name], [argument.node], token, last), argument.row)

    def apply_declared(self, name: str, token: Token) -> _Value:
        if not self.is_symbol("("):
            raise self.fail(ParseError, f"{name} is a declared function: apply it, as in {name}(X)", token)
        argument = self.sized(self.power(), None)
        return _Value(ops.apply_function(name, 0, argument.node), argument.row)

    def macro(self, token: Token) -> _Value:
        word = token.text
        if word in ("Vert", "lVert", "|"):
            return self.norm(token)
        if word in ("lvert", "vert"):
            return self.bars(token)
        if word in ("frac", "cfrac", "dfrac", "tfrac"):
            self.advance()
            top = self.sized(self.group(), None)
            bottom = self.sized(self.group(), None)
            return _Value(self.shaped(ops.div, [top.node, bottom.node], token, self.tokens[self.at - 1]), top.row)
        if word in ("operatorname", "mathrm", "text", "textrm", "mathit", "mathsf"):
            self.advance()
            inner = self.script_text()
            if inner in _FUNCTIONS and inner not in self.nodes:
                return self.apply(inner, token)
            if inner == "1":
                return self.ones(token)
            return self.symbol_named(inner, token)
        if word in WRAPPERS:  # \mathbf{W}, \bm W, \boldsymbol{\mu}, \mathbf{1_{m}}
            self.advance()
            if self.is_symbol("{") and self.peek().kind == "number" and self.peek().text == "1":
                self.advance()
                self.advance()
                value = self.ones(token)
                self.expect("}")
                return self.ones(token) if value.unsized else value
            if self.is_symbol("{") and self.peek().kind in ("name", "macro") and self.peek(2).text == "}" \
                    and self.peek(3).text == "_":  # \mathbf{W}_1 names W_1
                inner = self.peek()
                self.at += 3
                name = inner.text if inner.kind == "name" else name_of_macro(inner.text)
                return self.symbol_named(name, inner)
            if self.is_symbol("{"):
                self.advance()
                value = self.sum() if not self.is_symbol("}") else None
                self.expect("}")
                if value is None:
                    raise self.fail(ParseError, "an empty group", token)
                return value
            return self.primary()
        if word == "sum":
            self.advance()
            if self.is_symbol("_") or self.is_symbol("^"):  # \\sum_{k=1}^q: a sum over an index
                raise _IndexNotation()
            return self.apply("sum", token)
        if word in _FUNCTIONS and not (word == "sigma" and "sigma" in self.nodes):
            self.advance()
            return self.apply(word, token)
        if word in _GREEK or word in ("ell",):
            name = name_of_macro(word)
            if word == "sigma" and self.peek().kind == "symbol" and self.peek().text == "(":
                raise self.fail(AmbiguityError, "\\sigma(…) reads two ways: the logistic function applied to (…), "
                                                "or the variable sigma times (…)", token)
            return self.symbol_named(name, token)
        raise self.fail(NotSupportedError, f"\\{word} is not read from LaTeX yet", token)

    def symbol_named(self, name: str, token: Token) -> _Value:
        self.advance() if self.token is token else None
        name = self.subscripted(name)
        if name in self.functions:
            return self.apply_declared(name, token)
        if name in self.nodes:
            return _Value(self.nodes[name])
        if name == "I":
            return self.identity(token)
        declared = ", ".join(sorted(self.nodes)) or "none"
        raise self.fail(UnknownNameError, f"unknown variable {name!r}; declared variables: {declared}", token)

    def group(self) -> _Value:
        if self.is_symbol("{"):
            self.advance()
            value = self.sum()
            self.expect("}")
            return value
        token = self.token
        if token.kind == "number" and token.text.isdigit() and len(token.text) > 1:  # \\frac12 is \\frac{1}{2}
            self.tokens[self.at:self.at + 1] = [Token("number", token.text[0], token.start, token.start + 1),
                                                Token("number", token.text[1:], token.start + 1, token.end)]
        return self.power()
