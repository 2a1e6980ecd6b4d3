"""Parsing the expression language (a subset of NumPy) into nodes, without ever evaluating text.

Python's own `ast` module reads the text; only whitelisted syntax is accepted (numbers, names,
`+ - * / ** @`, unary minus, `.T`, calls of the language's functions with `np.`/`np.linalg.`
prefixes, literal parameters such as `axis=`). Each piece is built through the smart constructors,
which check shapes; an error points at the offending text with a caret and names the operands as the
user wrote them.

The functions are not listed here: each operation's entry names them (`Op.names`) and says how a call
builds it (`Op.call`: its arrays, literal parameters or dimensions), and the parser walks the table.
What stays here is the syntax itself: the operators `+ - * / ** @ .T`, numbers, names and the module
prefixes a user may paste from NumPy code.
"""
from __future__ import annotations

import ast
import warnings
from collections.abc import Callable

from ..dims import Dim, VarSpec, dim_product, dim_symbols
from ..errors import MatdiffError, ParseError, ShapeError, UnknownNameError, close_matches, with_caret
from ..expr import Node
from .. import ops
from ..ops import OPS, Op
from ..ops.registry import Call

MAX_LENGTH = 200_000  # long enough for printed derivatives of deep networks
PREFIXES = ("numpy.linalg.", "np.linalg.", "numpy.", "np.", "matdiff.", "md.", "linalg.")

# every function name of the language -> its operation, from the entries' `names`
CALLS: dict[str, Op] = {name: op for op in OPS.values() if op.call is not None for name in op.names}
LANGUAGE_NAMES = sorted(CALLS)
# name -> (constructor, number of array arguments), for the functions whose constructor takes just their
# arrays (md.tr, md.kron, ... are built from it)
FUNCTIONS: dict[str, tuple[Callable[..., Node], int]] = {
    name: (op.call.build, op.call.arrays) for name, op in CALLS.items()
    if not op.call.dims and not any(literal.passed for literal in op.call.literals)
}

_BINARY = {
    ast.Add: ("+", ops.add), ast.Sub: ("-", ops.sub), ast.Mult: ("*", ops.mul), ast.Div: ("/", ops.div),
    ast.MatMult: ("@", ops.matmul), ast.Pow: ("**", ops.power),
}
_UNSUPPORTED_BINARY = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
                       ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}


def parse(text: str, variables: dict[str, VarSpec]) -> Node:
    """The node for `text`, with variables declared in `variables` (see `dims.parse_declarations`)."""
    if not isinstance(text, str):
        raise ParseError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    stripped = text.strip()
    if not stripped:
        raise ParseError("the expression is empty")
    offset = text.index(stripped[0])
    try:
        with warnings.catch_warnings():  # Python's own SyntaxWarnings ("invalid decimal literal") stay quiet
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        reason = (exc.msg or "invalid syntax").replace("invalid syntax. ", "")
        if not exc.offset:  # Python reports no position when the text stops in the middle of an operation
            position = offset + len(stripped)
            reason = "the expression ends before an operand" if reason == "invalid syntax" else reason
        else:
            position = offset + _absolute(stripped, exc.lineno or 1, exc.offset - 1)
        raise ParseError(with_caret(f"cannot parse the expression: {reason}", text, position)) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ParseError(f"cannot parse the expression: {exc}") from None
    try:
        return _Builder(text, stripped, offset, variables).build(tree.body)
    except RecursionError:
        raise ParseError("the expression is nested too deeply") from None


def _absolute(text: str, lineno: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: lineno - 1]) + max(0, column)


class _Builder:
    def __init__(self, text: str, stripped: str, offset: int, variables: dict[str, VarSpec]) -> None:
        self.text, self.stripped, self.offset = text, stripped, offset
        self.variables = variables
        self.nodes = {name: ops.var_from_spec(spec) for name, spec in variables.items()}
        self.dims = {d for spec in variables.values() for d in dim_symbols(spec.shape)}

    # -- positions and errors
    def _span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset + _absolute(self.stripped, node.lineno, node.col_offset)
        end = self.offset + _absolute(self.stripped, node.end_lineno or node.lineno,
                                      node.end_col_offset or node.col_offset + 1)
        return start, end

    def _source(self, node: ast.AST) -> str:
        start, end = self._span(node)
        return self.text[start:end]

    def fail(self, cls: type[MatdiffError], message: str, node: ast.AST) -> MatdiffError:
        start, end = self._span(node)
        return cls(with_caret(message, self.text, start, end))

    def _apply(self, where: ast.AST, construct, args: list[Node], sources: list[ast.AST]) -> Node:
        """construct(*args), with a shape error rewritten in the user's own spelling of the operands."""
        try:
            return construct(*args)
        except ShapeError as exc:
            message = str(exc)
            for arg, source in zip(args, sources):
                printed, written = str(arg), self._source(source)
                if printed != written and printed in message:
                    if isinstance(source, ast.BinOp):  # the span of (1 / 3) leaves out its parentheses
                        written = f"({written})"
                    message = message.replace(printed, written)
            raise self.fail(ShapeError, message, where) from None

    # -- the walk
    def build(self, node: ast.AST) -> Node:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(ParseError, f"{_describe_syntax(node)} is not part of the expression language", node)
        return method(node)

    def _Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(ParseError, f"{value!r} is not a number", node)
        try:
            number = float(value)
        except OverflowError:
            raise self.fail(ParseError, "this number is too large", node) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self.fail(ParseError, "this number is not finite", node)
        return ops.const(number)

    def _Name(self, node: ast.Name) -> Node:
        name = node.id
        if name in self.nodes:
            return self.nodes[name]
        if name in self.dims:
            return ops.dim(name)
        if name in CALLS:
            raise self.fail(ParseError, f"{name} is a function: call it, as in {name}(...)", node)
        known = list(self.nodes) + list(self.dims)
        hint = close_matches(name, known + LANGUAGE_NAMES)
        declared = ", ".join(sorted(self.nodes)) or "none"
        raise self.fail(UnknownNameError, f"unknown variable {name!r}{hint}; declared variables: {declared}", node)

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return ops.neg(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(ParseError, f"the operator {_OPERATOR_TEXT.get(type(node.op), '?')} is not part of the "
                                    "expression language", node)

    def _BinOp(self, node: ast.BinOp) -> Node:
        kind = type(node.op)
        if kind not in _BINARY:
            symbol = _UNSUPPORTED_BINARY.get(kind, "?")
            raise self.fail(ParseError, f"the operator {symbol} is not part of the expression language", node)
        symbol, construct = _BINARY[kind]
        if kind in (ast.Add, ast.Sub, ast.Mult):
            return self._flat(node)
        left, right = self.build(node.left), self.build(node.right)
        return self._apply(node, construct, [left, right], [node.left, node.right])

    def _flat(self, node: ast.BinOp) -> Node:
        """a + b - c + ... (or a * b * c ...) built at once: long sums stay linear to build."""
        group = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult,)
        items: list[tuple[ast.AST, bool, ast.BinOp | None]] = []
        cursor: ast.AST = node
        while isinstance(cursor, ast.BinOp) and isinstance(cursor.op, group):
            items.append((cursor.right, isinstance(cursor.op, ast.Sub), cursor))
            cursor = cursor.left
        items.append((cursor, False, None))
        items.reverse()
        built: list[Node] = []
        so_far: Node | None = None
        for source, negate, where in items:
            operand = self.build(source)
            if so_far is not None:  # check shapes pairwise, left to right, for an exact message
                symbol = "-" if negate else ("+" if group[0] is ast.Add else "*")
                self._apply(where, lambda a, b: _check_broadcast(symbol, a, b), [so_far, operand],
                            [where.left, source])
            built.append(ops.neg(operand) if negate else operand)
            so_far = operand if so_far is None else _Placeholder.of(so_far, operand)
        construct = ops.add if group[0] is ast.Add else ops.mul
        return self._apply(node, construct, built, [])

    def _Attribute(self, node: ast.Attribute) -> Node:
        if node.attr == "T":
            return ops.transpose(self.build(node.value))
        dotted = _dotted(node)
        short = _without_prefix(dotted) if dotted is not None else None
        if short is not None and short in CALLS:
            raise self.fail(ParseError, f"{dotted} is a function: call it, as in {dotted}(...)", node)
        raise self.fail(ParseError, f"the attribute .{node.attr} is not part of the language (only .T is)", node)

    def _Call(self, node: ast.Call) -> Node:
        name = _dotted(node.func)
        if name is None:
            raise self.fail(ParseError, "only the functions of the language can be called", node.func)
        short = _without_prefix(name)
        if short not in CALLS:
            hint = close_matches(short, LANGUAGE_NAMES)
            raise self.fail(UnknownNameError, f"unknown function {short!r}{hint}", node.func)
        call = CALLS[short].call
        if call.dims:
            return self._dimension_call(node, short, call)
        literals = self._literals(node, short, call) if call.literals else self._plain_arguments(node, short, call)
        sources = node.args[:call.arrays]
        args = [self.build(a) for a in sources]
        return self._apply(node, lambda *arrays: call.build(*arrays, **literals), args, list(sources))

    def _plain_arguments(self, node: ast.Call, name: str, call: Call) -> dict:
        """A call of arrays alone, tr(X) or kron(A, B): no keywords, the right number of arguments."""
        if node.keywords:
            raise self.fail(ParseError, f"{name} takes no keyword arguments", node.keywords[0].value)
        arity = call.arrays
        if len(node.args) != arity:
            raise self.fail(ParseError, f"{name} takes {arity} argument{'s' if arity > 1 else ''}, "
                                        f"got {len(node.args)}", node)
        return {}

    def _literals(self, node: ast.Call, name: str, call: Call) -> dict:
        """The literal parameters of a call after its arrays (NumPy's axis=, ord=), by position or keyword:
        each checked, and those the constructor takes returned as its keywords."""
        positional = node.args[call.arrays:]
        if len(node.args) < call.arrays or len(positional) > len(call.literals):
            arrays = "one array" if call.arrays == 1 else f"{call.arrays} arrays"
            extras = " and ".join(literal.noun for literal in call.literals)
            raise self.fail(ParseError, f"{name} takes {arrays} (and {extras}), got {len(node.args)} arguments",
                            node)
        given = dict(zip(call.literals, positional))
        by_name = {literal.name: literal for literal in call.literals}
        for keyword in node.keywords:
            literal = by_name.get(keyword.arg)
            if literal is None or literal in given:
                spelled = " or ".join(literal.spelling for literal in call.literals)
                raise self.fail(ParseError, f"{name} takes only the keyword {spelled}", keyword.value)
            given[literal] = keyword.value
        values = {}
        for literal, source in given.items():
            value = _literal_value(source)
            if not literal.accepts(value):
                raise self.fail(ParseError, literal.error, source)
            if literal.passed:
                values[literal.name] = value
        return values

    def _dimension_call(self, node: ast.Call, name: str, call: Call) -> Node:
        if node.keywords:
            raise self.fail(ParseError, f"{name} takes no keyword arguments", node.keywords[0].value)
        args = list(node.args)
        if len(args) == 1 and isinstance(args[0], ast.Tuple) and call.shape:
            args = list(args[0].elts)
        dims = [self._dimension(a) for a in args]
        if len(dims) not in call.dims:
            raise self.fail(ParseError, f"{name} takes {' or '.join(map(str, call.dims))} dimension(s), "
                                        f"got {len(dims)}", node)
        return call.build(tuple(dims)) if call.shape else call.build(*dims)

    def _dimension(self, node: ast.AST) -> Dim:
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            if node.value < 1:
                raise self.fail(ParseError, "a dimension must be a positive integer", node)
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.dims:
                return node.id
            if node.id in self.nodes:
                raise self.fail(ParseError, f"{node.id} is a variable, but a dimension (such as "
                                            f"{', '.join(sorted(self.dims)) or 'n'}) is needed here", node)
            hint = close_matches(node.id, list(self.dims))
            raise self.fail(UnknownNameError, f"unknown dimension {node.id!r}{hint}; the declared dimensions are "
                                              f"{', '.join(sorted(map(str, self.dims))) or 'none'}", node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return dim_product(self._dimension(node.left), self._dimension(node.right))
        raise self.fail(ParseError, "a dimension must be a name such as n, a positive integer, or a product n * m",
                        node)


class _Placeholder:
    """The broadcast shape of a partial sum, for checking the next operand against it."""

    @staticmethod
    def of(a: Node, b: Node) -> Node:
        shape = ops.algebra.broadcast_shapes("+", (a, b))
        return a if a.shape == shape else b if b.shape == shape else ops.zeros(shape)


def _check_broadcast(symbol: str, a: Node, b: Node) -> Node:
    ops.algebra.broadcast_shapes(symbol, (a, b))
    return a


_NOT_A_LITERAL = object()


def _literal_value(node: ast.AST) -> object:
    """The value of a literal argument: a number (with its sign), a string or None; anything else is
    not a literal, and no parameter accepts it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return -node.operand.value
    return _NOT_A_LITERAL


def _without_prefix(name: str) -> str:
    """np.linalg.inv -> inv: the module prefixes a user may paste from NumPy code."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


_OPERATOR_TEXT = {ast.Not: "not", ast.Invert: "~"}
_SYNTAX_NAMES = {
    "Compare": "a comparison", "BoolOp": "and/or", "Subscript": "indexing with [ ]", "Lambda": "lambda",
    "IfExp": "if/else", "Tuple": "a tuple", "List": "a list", "Dict": "a dictionary", "Set": "a set",
    "JoinedStr": "an f-string", "Starred": "*unpacking", "NamedExpr": ":=", "ListComp": "a comprehension",
    "GeneratorExp": "a generator", "Await": "await", "Yield": "yield", "Slice": "a slice",
}


def _describe_syntax(node: ast.AST) -> str:
    return _SYNTAX_NAMES.get(type(node).__name__, type(node).__name__)
