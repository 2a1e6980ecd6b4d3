"""Parsing the expression language (a subset of NumPy) into nodes, without ever evaluating text.

Python's own `ast` module reads the text; only whitelisted syntax is accepted (numbers, names,
`+ - * / ** @`, unary minus, `.T`, calls of the language's functions, literal parameters such as
`axis=`). Each piece is built through the smart constructors, which check shapes; an error points at
the offending text with a caret and names the operands as the user wrote them. A sum or product too long
for Python's parser to build (past about a thousand operands) is read operand by operand, and a chain of
operators (+ - * / @) is built with a loop: nothing recurses on the number of operands.

The functions are not listed here: each operation's entry names them (`Op.names`) and says how a call
builds it (`Op.call`: its arrays, literal parameters or dimensions), and the parser walks the table.
What the spellings pasted from NumPy, SciPy, JAX and PyTorch mean (`np.dot`, `jax.nn.softmax`,
`X.sum(axis=0)`) and which names are not part of the language yet is `spellings.py`'s to say. What stays
here is the syntax itself: the operators `+ - * / ** @ .T`, numbers, names, calls and methods,
`X.shape[0]`.
"""
from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable
from types import SimpleNamespace

from ..dims import Dim, VarSpec, dim_product, dim_symbols, format_shape
from ..errors import (DeclarationError, MatdiffError, NotSupportedError, ParseError, ShapeError, UnknownNameError,
                      close_matches, with_caret)
from ..expr import Node
from .. import ops
from ..ops import OPS, Op
from ..ops.registry import BUILDERS, Call
from . import spellings
from .long_text import long_expression

MAX_LENGTH = 200_000  # long enough for printed derivatives of deep networks

# every function name of the language -> its operation, from the entries' `names`
CALLS: dict[str, Op] = {name: op for op in OPS.values() if op.call is not None for name in op.names}
CALLS.update({name: SimpleNamespace(call=call, names=(name,), name=name) for name, call in BUILDERS.items()})
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
# the operators Python reads left to right, and the runs of them built at once (None: one at a time)
_SUM, _PRODUCT = (ast.Add, ast.Sub), (ast.Mult,)
_GROUPS = {ast.Add: _SUM, ast.Sub: _SUM, ast.Mult: _PRODUCT, ast.MatMult: None, ast.Div: None}
_COMPARISONS = {ast.Gt: ">", ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<=", ast.Eq: "=="}  # 0/1 arrays
_UNSUPPORTED_COMPARISONS = {ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
CONSTANTS = {"pi": math.pi}  # also np.pi and math.pi
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
    return _read(text, stripped, text.index(stripped[0]), variables, {})


MAX_BLOCK_LENGTH = 10 * MAX_LENGTH  # a block's lines are read one at a time, each at most MAX_LENGTH


def parse_block(text: str, variables: dict[str, VarSpec]) -> Node:
    """The node for a block of bindings, one a line, the last line the expression they define:

        Z = X @ W
        P = softmax(Z, axis=1)
        X.T @ (P - Y)

    (what `bindings.Bound.text` prints). A name is bound once, and is not a declared variable, a
    dimension or a function of the language; blank lines are skipped."""
    if not isinstance(text, str):
        raise ParseError(f"a block of bindings must be text, got {type(text).__name__}")
    if len(text) > MAX_BLOCK_LENGTH:
        raise ParseError(f"the block is {len(text)} characters long; the limit is {MAX_BLOCK_LENGTH}")
    lines, start = [], 0
    for line in text.split("\n"):
        if line.strip():
            lines.append((start, line))
        start += len(line) + 1
    if not lines:
        raise ParseError("the block is empty")
    bound: dict[str, Node] = {}
    dims = {d for spec in variables.values() for d in dim_symbols(spec.shape)}
    for number, (start, line) in enumerate(lines):
        last = number == len(lines) - 1
        assignment = _ASSIGNMENT.match(line)
        if assignment is None and not last:
            raise ParseError(with_caret("each line but the last binds a name, as in Z = X @ W", text, start,
                                        start + len(line)))
        if assignment is not None and last:
            raise ParseError(with_caret("the last line is the expression the bindings define, not a binding",
                                        text, start, start + len(line)))
        if last:
            expression_start = start
        else:
            name = assignment.group(1)
            at = start + assignment.start(1)
            taken = ("a declared variable" if name in variables else "a dimension" if name in dims else
                     "a function of the language" if name in CALLS else
                     "bound on an earlier line" if name in bound else None)
            if taken is not None:
                raise ParseError(with_caret(f"{name} is {taken}; bind another name", text, at, at + len(name)))
            expression_start = start + assignment.end()
        body = text[expression_start:start + len(line)]
        stripped = body.strip()
        if not stripped:
            raise ParseError(with_caret("the line ends before its expression", text, start, start + len(line)))
        if len(stripped) > MAX_LENGTH:
            raise ParseError(with_caret(f"this line is {len(stripped)} characters long; the limit is {MAX_LENGTH}",
                                        text, start, start + len(line)))
        node = _read(text, stripped, expression_start + body.index(stripped[0]), variables, bound)
        if last:
            return node
        bound[name] = node
    raise AssertionError("unreachable")


_ASSIGNMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def _read(text: str, stripped: str, offset: int, variables: dict[str, VarSpec], bound: dict[str, Node]) -> Node:
    """The node for `stripped`, which stands at `offset` in `text` (carets point into `text`); `bound`
    names nodes of earlier bindings."""
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
    except RecursionError as exc:  # read by Python's parser, but too long for it to build its tree
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = long_expression(stripped)
        if body is None:
            raise ParseError(f"cannot parse the expression: {exc}") from None
        tree = ast.Expression(body)
    except (ValueError, MemoryError) as exc:
        raise ParseError(f"cannot parse the expression: {exc}") from None
    try:
        return _Builder(text, stripped, offset, variables, bound).build(tree.body)
    except RecursionError:
        raise ParseError("the expression is nested too deeply") from None


def _absolute(text: str, lineno: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: lineno - 1]) + max(0, column)


class _Builder:
    def __init__(self, text: str, stripped: str, offset: int, variables: dict[str, VarSpec],
                 bound: dict[str, Node] | None = None) -> None:
        self.text, self.stripped, self.offset = text, stripped, offset
        self.variables = variables
        self.nodes = {name: ops.var_from_spec(spec) for name, spec in variables.items()
                      if not spec.is_function} | (bound or {})
        self.functions = {name for name, spec in variables.items() if spec.is_function}  # declared g: function
        taken = sorted(self.functions & (set(CALLS) | {"grad"}))
        if taken:  # g(u) would read as the language's own function, grad(g) as a derivative
            raise DeclarationError(f"{taken[0]} is a function of the language; declare the function by another name, "
                                   f"such as g")
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
            at_fault = [s for a, s in zip(args, sources) if a is exc.culprit]
            raise self.fail(ShapeError, message, at_fault[0] if len(at_fault) == 1 else where) from None

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
        if name in CONSTANTS:
            return ops.const(CONSTANTS[name])
        if name in CALLS or name in self.functions:
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
        if kind is ast.Pow:
            return self._pair(node, self.build(node.left))
        return self._left_to_right(node)

    def _left_to_right(self, node: ast.BinOp) -> Node:
        """a + b - c @ d * e ...: Python nests a chain of the operators read left to right as the left
        operand of the next; it is walked with a loop, never by recursion on its length. A run of + and -
        (or of *) is built at once, so that long sums stay linear to build; @ and / one at a time."""
        chain: list[ast.BinOp] = []
        cursor: ast.AST = node
        while isinstance(cursor, ast.BinOp) and type(cursor.op) in _GROUPS:
            chain.append(cursor)
            cursor = cursor.left
        chain.reverse()  # innermost first: the order of the text
        value, source = self.build(cursor), cursor
        start = 0
        while start < len(chain):
            group = _GROUPS[type(chain[start].op)]
            stop = start + 1
            while group is not None and stop < len(chain) and _GROUPS[type(chain[stop].op)] is group:
                stop += 1
            value = self._pair(chain[start], value) if group is None else \
                self._flat(value, source, chain[start:stop], group)
            source, start = chain[stop - 1], stop
        return value

    def _pair(self, node: ast.BinOp, left: Node) -> Node:
        """left (the node of node.left) and node.right under node's operator."""
        right = self.build(node.right)
        return self._apply(node, _BINARY[type(node.op)][1], [left, right], [node.left, node.right])

    def _flat(self, first: Node, first_source: ast.AST, run: list[ast.BinOp], group: tuple) -> Node:
        """first + b - c + ... (or first * b * c ...) built at once, `run` the operations after `first`."""
        items = [(first_source, False, None)] + [(where.right, isinstance(where.op, ast.Sub), where) for where in run]
        built: list[Node] = []
        so_far: Node | None = None
        for source, negate, where in items:
            operand = first if where is None else self.build(source)
            if so_far is not None:  # check shapes pairwise, left to right, for an exact message
                symbol = "-" if negate else ("+" if group[0] is ast.Add else "*")
                self._apply(where, lambda a, b: _check_broadcast(symbol, a, b), [so_far, operand],
                            [where.left, source])
            built.append(ops.neg(operand) if negate else operand)
            so_far = operand if so_far is None else _Placeholder.of(so_far, operand)
        construct = ops.add if group[0] is ast.Add else ops.mul
        return self._apply(run[-1], construct, built, [])

    def _Compare(self, node: ast.Compare) -> Node:
        """a > b, a <= b, a == b, ...: a 0/1 array, as NumPy's booleans are in arithmetic."""
        if len(node.ops) > 1:
            raise self.fail(ParseError, "a chained comparison such as a < b < c is not part of the language; "
                                        "write (a < b) * (b < c)", node)
        kind, right = type(node.ops[0]), node.comparators[0]
        if kind not in _COMPARISONS:
            raise self.fail(ParseError, f"the comparison {_UNSUPPORTED_COMPARISONS.get(kind, '?')} is not part of "
                                        "the language (> < >= <= == are)", node)
        symbol = _COMPARISONS[kind]
        left_node, right_node = self.build(node.left), self.build(right)
        return self._apply(node, lambda a, b: ops.compare(symbol, a, b), [left_node, right_node], [node.left, right])

    def _Attribute(self, node: ast.Attribute) -> Node:
        if node.attr == "T":
            return ops.transpose(self.build(node.value))
        dotted = _dotted(node)
        if dotted in ("np.pi", "numpy.pi", "math.pi"):
            return ops.const(math.pi)
        if self._is_array(node.value, node.attr):
            if node.attr == "size":  # X.size is n * m, as a number
                return ops.mul(ops.ONE, *(ops.dim(d) for d in self.build(node.value).shape))
            if node.attr == "shape":
                written = self._source(node)
                raise self.fail(ParseError, f"{written} is a tuple; {written}[0] is a dimension, a number", node)
            if node.attr in spellings.METHODS:
                written = self._source(node)
                raise self.fail(ParseError, f"{written} is a method: call it, as in {written}()", node)
        elif spellings.spelling_of(*spellings.library_of(dotted), CALLS) is not None:
            raise self.fail(ParseError, f"{dotted} is a function: call it, as in {dotted}(...)", node)
        raise self.fail(ParseError, f"the attribute .{node.attr} is not part of the language (only .T is)", node)

    def _Subscript(self, node: ast.Subscript) -> Node:
        """X.shape[0] is the dimension n of X, as a number; other indexing and slicing are not in the language yet."""
        value = node.value
        if isinstance(value, ast.Attribute) and value.attr == "shape" and self._is_array(value.value, "shape"):
            return self._dimension_of(node, value.value, _literal_value(node.slice))
        raise self.fail(ParseError, "indexing and slicing (x[0], X[:, 1]) are not part of the language yet", node)

    def _dimension_of(self, where: ast.AST, source: ast.AST, axis: object) -> Node:
        """X.shape[axis] (len(x) is x.shape[0]): the dimension as a number, or an error naming X and its shape."""
        array, written = self.build(source), self._source(source)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise self.fail(ParseError, f"{written}.shape is indexed by one axis, as in {written}.shape[0]", where)
        if not -array.ndim <= axis < array.ndim:
            has = "a scalar, which has no axes" if not array.ndim else f"{format_shape(array.shape)}, with axes " + \
                  " and ".join(map(str, range(array.ndim)))
            raise self.fail(ShapeError, f"{self._source(where)}: {written} is {has}", where)
        return ops.dim(array.shape[axis])

    def _Call(self, node: ast.Call) -> Node:
        if isinstance(node.func, ast.Call):  # grad(g)(u): a derivative of a declared function, applied
            return self._declared(node, *self._derivative_of_declared(node.func))
        if isinstance(node.func, ast.Attribute) and self._is_array(node.func.value, node.func.attr):
            return self._method(node)  # x.dot(y), X.sum(axis=0), (A @ B).mean()
        name = _dotted(node.func)
        if name is None:
            raise self.fail(ParseError, "only the functions of the language can be called", node.func)
        if name in self.functions:
            return self._declared(node, name, 0)
        if name == "grad":
            raise self.fail(ParseError, "grad(g) is the derivative of a declared function g: apply it to an "
                                        "array, as in grad(g)(u)", node)
        library, short = spellings.library_of(name)
        spelling = spellings.spelling_of(library, short, CALLS)
        if spelling is None:
            raise self._unknown_function(node.func, name, library, short)
        return self._spelled(node, name, spelling, library)

    # -- the spellings people paste (spellings.py says what each one means)
    def _is_array(self, node: ast.AST, attribute: str) -> bool:
        """Is this the array of a method call (x in x.sum(), A.T in A.T.dot(x)), not a module (np.linalg)?
        A name nobody declared is an array where no library has it and the method is NumPy's (Xs.sum())."""
        dotted = _dotted(node)
        return dotted is None or dotted.split(".")[0] in self.nodes or \
            (attribute in spellings.METHODS and spellings.library_of(f"{dotted}.{attribute}")[0] is None)

    def _method(self, node: ast.Call) -> Node:
        """X.sum(axis=0), x.dot(y), A.T.dot(x): NumPy's array methods that mean the function of the same
        name with the array first (spellings.METHODS); any other method says why it is not read."""
        attribute = node.func
        assert isinstance(attribute, ast.Attribute)
        name, where = attribute.attr, _name_of(attribute)
        method = spellings.METHODS.get(name)
        if method is not None and method.packs and (len(node.args) > 1 or node.args and not isinstance(
                node.args[0], ast.Tuple) and method.reads == "reshape"):  # X.transpose(1, 0, 2): one tuple
            packed = ast.copy_location(ast.Tuple(elts=list(node.args), ctx=ast.Load()), node.args[0])
            packed.end_lineno, packed.end_col_offset = node.args[-1].end_lineno, node.args[-1].end_col_offset
            node = ast.copy_location(ast.Call(func=attribute, args=[packed], keywords=node.keywords), node)
        if method is None:
            message = spellings.not_yet(f"the method .{name}", name) or \
                f"the method .{name} is not part of the language (the methods read are .{', .'.join(spellings.METHODS)})"
            raise self.fail(NotSupportedError if name in spellings.NOT_YET else ParseError, message, where)
        if len(node.args) > method.positional:
            raise self.fail(ParseError, f".{name} takes {method.positional or 'no'} argument"
                                        f"{'s' if method.positional != 1 else ''} by position here{method.beyond}",
                            node.args[method.positional])
        call = ast.copy_location(ast.Call(func=attribute, args=[attribute.value, *node.args], keywords=node.keywords),
                                 node)
        return self._spelled(call, f".{name}", spellings.Spelling(method.reads), None)

    def _spelled(self, node: ast.Call, written: str, spelling: spellings.Spelling,
                 library: spellings.Library | None) -> Node:
        """A call as `spelling` reads it: refused with its reason, or the language's function or operator."""
        if spelling.refused:
            raise self.fail(ParseError, spelling.refused, node.func)
        node = self._in_language_words(node, spelling, library)
        if spelling.reads in spellings.OPERATORS:
            return self._operator(node, written, spelling.reads)
        if spelling.reads not in CALLS:  # a name for an operation the language does not have (yet)
            raise self.fail(NotSupportedError, f"{written} is {spelling.reads}, which is not part of the language "
                                               "yet", node.func)
        return self._function(node, spelling.reads)

    def _in_language_words(self, node: ast.Call, spelling: spellings.Spelling,
                           library: spellings.Library | None) -> ast.Call:
        """The call with the library's keywords in the language's words (torch's dim is axis), the
        keyword its meaning requires dropped, and the defaults where the library's differ added."""
        args, keywords = list(node.args), list(node.keywords)
        call = CALLS[spelling.reads].call if spelling.reads in CALLS else None
        if library is not None and library.keywords and call is not None and call.arrays != -1 and not call.dims:
            keywords = [_keyword(library.keywords.get(k.arg, k.arg), k.value, k) for k in keywords]
            literals = args[call.arrays:]  # by position in the library's order, which is the language's
            args = args[:call.arrays] + literals[len(call.literals):]
            keywords += [_keyword(literal.name, value, value) for literal, value in zip(call.literals, literals)]
        if spelling.requires is not None:
            key, value, why = spelling.requires
            found = [k for k in keywords if k.arg == key and _literal_value(k.value) == value
                     and type(_literal_value(k.value)) is type(value)]
            if not found:
                raise self.fail(ParseError, why, node.func)
            keywords.remove(found[0])
        for key, value in spelling.defaults:
            if call is not None and len(args) <= call.arrays and all(k.arg != key for k in keywords):
                keywords.append(_keyword(key, ast.copy_location(ast.Constant(value), node.func), node.func))
        return ast.copy_location(ast.Call(func=node.func, args=args, keywords=keywords), node)

    def _operator(self, node: ast.Call, written: str, symbol: str) -> Node:
        """np.matmul(a, b) is a @ b, np.multiply(a, b) a * b, np.negative(a) -a; np.dot(a, b) is a @ b for
        vectors and matrices and a * b where one of them is a scalar, as NumPy's is."""
        arity = spellings.OPERATORS[symbol]
        if len(node.args) != arity or node.keywords:
            spelled = "-a" if symbol == "neg" else f"a {'@' if symbol == 'dot' else symbol} b"
            raise self.fail(ParseError, f"{written} takes {'one array' if arity == 1 else 'two arrays'} and no "
                                        f"keywords: write {spelled}", node)
        args = [self.build(a) for a in node.args]
        if symbol == "neg":
            return ops.neg(args[0])
        if symbol == "len":
            return self._dimension_of(node, node.args[0], 0)
        if symbol == "dot":
            if any(a.ndim > 2 for a in args):
                raise self.fail(NotSupportedError, f"{written} of arrays of order 3 or more sums over the last axis "
                                                   f"of a and the second-to-last of b, which @ does not: use @", node)
            symbol = "*" if any(a.ndim == 0 for a in args) else "@"
        construct = {spelled: constructor for spelled, constructor in _BINARY.values()}[symbol]
        if symbol in "+-*":  # the message of a + b, with a caret under the call
            self._apply(node, lambda a, b: _check_broadcast(symbol, a, b), args, list(node.args))
        return self._apply(node, construct, args, list(node.args))

    def _function(self, node: ast.Call, name: str) -> Node:
        """A call of the language's function `name`, with the arguments its entry's Call takes."""
        call = CALLS[name].call
        if call.dims and call.arrays:
            return self._reshaped(node, name, call)
        if call.dims:
            return self._dimension_call(node, name, call)
        if call.arrays == -1:
            return self._leading_literals(node, name, call)
        literals = self._literals(node, name, call) if call.literals else self._plain_arguments(node, name, call)
        sources = node.args[:call.arrays]
        args = [self.build(a) for a in sources]
        return self._apply(node, lambda *arrays: call.build(*arrays, **literals), args, list(sources))

    def _unknown_function(self, where: ast.AST, name: str, library: spellings.Library | None,
                          short: str) -> MatdiffError:
        """The error for a call the language does not read: not part of it yet, not this library's
        meaning, or unknown (with the names near it)."""
        message = spellings.not_yet(name, short)
        if message is not None:
            return self.fail(NotSupportedError, message, where)
        if name in self.nodes:
            return self.fail(ParseError, f"{name} is a declared variable, not a function (a function applied entry "
                                         f"by entry is declared as '{name}: function')", where)
        if library is not None and short in CALLS:
            return self.fail(UnknownNameError, f"{name} is not read from {library.label}; the language's {short} "
                                               f"is written {short}(...)", where)
        hint = spellings.suggestions(short, spellings.names_of(library, CALLS))
        return self.fail(UnknownNameError, f"unknown function {name!r}{hint}", where)

    def _derivative_of_declared(self, node: ast.Call) -> tuple[str, int]:
        """grad(g) is (g, 1), grad(grad(g)) is (g, 2), for a function g declared `g: function`."""
        if _dotted(node.func) != "grad":
            raise self.fail(ParseError, "only grad(g), the derivative of a declared function g, is applied as "
                                        "grad(g)(u)", node.func)
        if len(node.args) != 1 or node.keywords:
            raise self.fail(ParseError, "grad takes one declared function, as in grad(g)", node)
        inner = node.args[0]
        if isinstance(inner, ast.Call):
            name, order = self._derivative_of_declared(inner)
            return name, order + 1
        if isinstance(inner, ast.Name) and inner.id in self.functions:
            return inner.id, 1
        what = _dotted(inner) or self._source(inner)
        declared = ", ".join(sorted(self.functions)) or "none"
        advice = "a declared variable, not a function" if what in self.nodes else \
            f"not a declared function (declare it as '{what}: function')"
        raise self.fail(UnknownNameError, f"grad({what}): {what} is {advice}; declared functions: {declared}", inner)

    def _declared(self, node: ast.Call, name: str, order: int) -> Node:
        """g(u), grad(g)(u): a declared function (or its derivative) applied to one array, entry by entry."""
        spelled = "grad(" * order + name + ")" * order
        if len(node.args) != 1 or node.keywords:
            raise self.fail(ParseError, f"{spelled} is applied to one array, as in {spelled}(u)", node)
        argument = self.build(node.args[0])
        return ops.apply_function(name, order, argument)

    def _leading_literals(self, node: ast.Call, name: str, call: Call) -> Node:
        """A call whose literals come first and whose arrays are any number after them: einsum('ij,jk->ik', A, B)."""
        count = len(call.literals)
        if node.keywords:
            raise self.fail(ParseError, f"{name} takes no keyword arguments", node.keywords[0].value)
        if len(node.args) <= count:
            raise self.fail(ParseError, f"{name} takes {call.literals[0].noun} ({call.literals[0].spelling}) and then "
                                        "its operands", node)
        values = []
        for literal, source in zip(call.literals, node.args[:count]):
            value = _literal_value(source)
            if not literal.accepts(value):
                raise self.fail(ParseError, literal.error, source)
            values.append(value)
        sources = node.args[count:]
        args = [self.build(a) for a in sources]
        return self._apply(node, lambda *arrays: call.build(*values, *arrays), args, list(sources))

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
        if any(literal.name == "keepdims" for literal in given):  # NumPy's sum(X, 0, True) is a dtype True
            raise self.fail(ParseError, f"keepdims is written as a keyword, as in {name}(X, axis=1, keepdims=True): "
                                        "NumPy and SciPy read an argument in its place as something else (a dtype, "
                                        "an output array, scipy's weights b)", positional[len(given) - 1])
        by_name = {literal.name: literal for literal in call.literals}
        for keyword in node.keywords:
            literal = by_name.get(keyword.arg)
            if literal is None or literal in given:
                spelled = " or ".join(literal.spelling for literal in call.literals)
                raise self.fail(ParseError, f"{name} takes only the keyword {spelled}", keyword.value)
            given[literal] = keyword.value
        missing = [literal for literal in call.literals if literal.required and literal not in given]
        if missing:
            raise self.fail(ParseError, f"{name} needs {missing[0].noun} ({missing[0].spelling})", node)
        values = {}
        for literal, source in given.items():
            value = _literal_value(source)
            if not literal.accepts(value):
                raise self.fail(ParseError, literal.error, source)
            if literal.passed:
                values[literal.name] = value
        return values

    def _reshaped(self, node: ast.Call, name: str, call: Call) -> Node:
        """reshape(X, (n, m * p)): an array, then its new shape in dimensions (a tuple, or one dimension)."""
        if node.keywords or len(node.args) != 2:
            raise self.fail(ParseError, f"{name} takes an array and a shape, as in {name}(X, (n, m * p))", node)
        shape = node.args[1]
        dims = tuple(self._dimension(a) for a in (shape.elts if isinstance(shape, ast.Tuple) else [shape]))
        return self._apply(node, lambda x: call.build(x, dims), [self.build(node.args[0])], [node.args[0]])

    def _dimension_call(self, node: ast.Call, name: str, call: Call) -> Node:
        if node.keywords:
            raise self.fail(ParseError, f"{name} takes no keyword arguments", node.keywords[0].value)
        args = list(node.args)
        if len(args) == 1 and isinstance(args[0], ast.Tuple) and call.shape:
            args = list(args[0].elts)
        dims = [self._dimension(a) for a in args]
        if len(dims) not in call.dims:
            counts = call.dims  # 1 to 32 for ones and zeros of any order, 1 or 2 for eye
            spelled = f"{counts[0]} to {counts[-1]}" if len(counts) > 2 else " or ".join(map(str, counts))
            raise self.fail(ParseError, f"{name} takes {spelled} dimension(s), "
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
    """The value of a literal argument: a number (with its sign), a string, None, True or False, or a tuple
    of them (axis=(0, 1)); anything else is not a literal, and no parameter accepts it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_literal_value(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return -node.operand.value
    return _NOT_A_LITERAL


def _without_prefix(name: str) -> str:
    """np.linalg.inv -> inv, jax.nn.relu -> relu: the name without the module prefix pasted with it."""
    return spellings.library_of(name)[1]


def _name_of(attribute: ast.Attribute) -> ast.AST:
    """The place of the name in x.name, for a caret under it alone."""
    end_line, end = attribute.end_lineno or attribute.lineno, attribute.end_col_offset or attribute.col_offset
    return ast.Name(attribute.attr, lineno=end_line, col_offset=end - len(attribute.attr), end_lineno=end_line,
                    end_col_offset=end)


def _keyword(name: str | None, value: ast.expr, located: ast.AST) -> ast.keyword:
    return ast.copy_location(ast.keyword(arg=name, value=value), located)


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
