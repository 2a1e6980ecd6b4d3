"""Parsing the expression language (a subset of NumPy) into nodes, without ever evaluating text.

Python's own `ast` module reads the text; only whitelisted syntax is accepted (numbers, names,
`+ - * / ** @`, unary minus, `.T`, calls of the language's functions with `np.`/`np.linalg.`
prefixes, `axis=`). Each piece is built through the smart constructors, which check shapes; an
error points at the offending text with a caret and names the operands as the user wrote them.
"""
from __future__ import annotations

import ast
import warnings
from collections.abc import Callable

from ..dims import Dim, VarSpec, dim_product, dim_symbols
from ..errors import MatdiffError, ParseError, ShapeError, UnknownNameError, close_matches, with_caret
from ..expr import Node
from .. import ops

MAX_LENGTH = 200_000  # long enough for printed derivatives of deep networks
PREFIXES = ("numpy.linalg.", "np.linalg.", "numpy.", "np.", "matdiff.", "md.", "linalg.")

# name -> (constructor, number of array arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Node], int]] = {
    "tr": (ops.tr, 1), "trace": (ops.tr, 1), "det": (ops.det, 1), "logdet": (ops.logdet, 1),
    "inv": (ops.inv, 1), "norm2": (ops.norm2, 1), "norm": (ops.norm2, 1),
    "softmax": (ops.softmax, 1), "logsumexp": (ops.logsumexp, 1), "diag": (ops.diag, 1),
    "vec": (ops.vec, 1), "transpose": (ops.transpose, 1), "outer": (ops.outer, 2), "kron": (ops.kron, 2),
    **{name: (construct, 1) for name, construct in ops.ELEMENTWISE.items()},
}
DIMENSION_FUNCTIONS = ("eye", "ones", "zeros", "commutation")
LANGUAGE_NAMES = sorted(set(FUNCTIONS) | set(DIMENSION_FUNCTIONS) | {"sum"})

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
        if name in FUNCTIONS or name in DIMENSION_FUNCTIONS or name == "sum":
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
        if short is not None and (short in FUNCTIONS or short in DIMENSION_FUNCTIONS or short == "sum"):
            raise self.fail(ParseError, f"{dotted} is a function: call it, as in {dotted}(...)", node)
        raise self.fail(ParseError, f"the attribute .{node.attr} is not part of the language (only .T is)", node)

    def _Call(self, node: ast.Call) -> Node:
        name = _dotted(node.func)
        if name is None:
            raise self.fail(ParseError, "only the functions of the language can be called", node.func)
        short = _without_prefix(name)
        if short in DIMENSION_FUNCTIONS:
            return self._dimension_call(node, short)
        if short == "sum":
            return self._sum(node)
        if short not in FUNCTIONS:
            hint = close_matches(short, LANGUAGE_NAMES)
            raise self.fail(UnknownNameError, f"unknown function {short!r}{hint}", node.func)
        construct, arity = FUNCTIONS[short]
        if short in ("norm", "norm2"):
            node = self._plain_norm(node)
        if node.keywords:
            raise self.fail(ParseError, f"{short} takes no keyword arguments", node.keywords[0].value)
        if len(node.args) != arity:
            raise self.fail(ParseError, f"{short} takes {arity} argument{'s' if arity > 1 else ''}, "
                                        f"got {len(node.args)}", node)
        args = [self.build(a) for a in node.args]
        return self._apply(node, construct, args, list(node.args))

    def _plain_norm(self, node: ast.Call) -> ast.Call:
        """np.linalg.norm(x), norm(X, 'fro'), norm(x, 2), norm(x, ord=2): the 2-norm / Frobenius norm."""
        extra = list(node.args[1:]) + [k.value for k in node.keywords if k.arg == "ord"]
        others = [k for k in node.keywords if k.arg != "ord"]
        if others:
            raise self.fail(ParseError, f"norm takes no keyword {others[0].arg!r}", others[0].value)
        for e in extra:
            value = e.value if isinstance(e, ast.Constant) else object()
            if value not in ("fro", 2, None) or isinstance(value, bool):
                raise self.fail(ParseError, "only the 2-norm of a vector and the Frobenius norm of a matrix "
                                            "(ord=2, 'fro' or none) are part of the language", e)
        return ast.Call(func=node.func, args=node.args[:1], keywords=[], lineno=node.lineno,
                        col_offset=node.col_offset, end_lineno=node.end_lineno, end_col_offset=node.end_col_offset)

    def _sum(self, node: ast.Call) -> Node:
        if not 1 <= len(node.args) <= 2:
            raise self.fail(ParseError, f"sum takes one array (and an axis), got {len(node.args)} arguments", node)
        axis_node = node.args[1] if len(node.args) == 2 else None
        for kw in node.keywords:
            if kw.arg != "axis" or axis_node is not None:
                raise self.fail(ParseError, "sum takes only the keyword axis=0 or axis=1", kw.value)
            axis_node = kw.value
        axis = None
        if axis_node is not None:
            value = axis_node
            sign = 1
            if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
                value, sign = value.operand, -1
            if not (isinstance(value, ast.Constant) and isinstance(value.value, int)
                    and not isinstance(value.value, bool)):
                if isinstance(value, ast.Constant) and value.value is None:
                    axis_node = None
                else:
                    raise self.fail(ParseError, "axis must be 0 or 1", axis_node)
            else:
                axis = sign * value.value
        array = self.build(node.args[0])
        return self._apply(node, lambda x: ops.sum_(x, axis), [array], [node.args[0]])

    def _dimension_call(self, node: ast.Call, name: str) -> Node:
        if node.keywords:
            raise self.fail(ParseError, f"{name} takes no keyword arguments", node.keywords[0].value)
        args = list(node.args)
        if len(args) == 1 and isinstance(args[0], ast.Tuple) and name in ("ones", "zeros"):
            args = list(args[0].elts)
        dims = [self._dimension(a) for a in args]
        wanted = {"eye": (1,), "commutation": (2,), "ones": (1, 2), "zeros": (1, 2)}[name]
        if len(dims) not in wanted:
            raise self.fail(ParseError, f"{name} takes {' or '.join(map(str, wanted))} dimension(s), got {len(dims)}",
                            node)
        if name == "eye":
            return ops.eye(dims[0])
        if name == "commutation":
            return ops.commutation(dims[0], dims[1])
        return ops.ones(tuple(dims)) if name == "ones" else ops.zeros(tuple(dims))

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
