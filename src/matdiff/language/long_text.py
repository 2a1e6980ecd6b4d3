"""Reading sums and products too long for Python's parser.

Python builds the tree of a + b + c + ... by recursion on its length and gives up past about a thousand
operands (RecursionError "during ast construction"), though it has read the text. Such a text is cut at
its operators outside brackets, each operand read by `ast` alone, and the tree Python would have built
assembled from them: the operands placed where they stand in the text, so that a caret still points
into it. Text is never evaluated. `parse.py` calls `long_expression` where `ast.parse` gives up.
"""
from __future__ import annotations

import ast
import io
import keyword
import tokenize
from bisect import bisect_right
from itertools import accumulate
from typing import NamedTuple
#
# Python builds the tree of a + b + c + ... by recursion on its length and gives up past about a thousand
# operands (RecursionError "during ast construction"), though it has read the text. Such a text is cut at
# its operators outside brackets, each operand read by `ast` alone, and the tree Python would have built
# assembled from them: the operands placed where they stand in the text, so that a caret still points
# into it. Text is never evaluated.

_SPLIT = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "@": ast.MatMult, "//": ast.FloorDiv,
          "%": ast.Mod}
_SUM_LEVEL, _PRODUCT_LEVEL = ("+", "-"), ("*", "/", "@", "//", "%")
# what may stand outside brackets in a sum besides its own operators and operands: operators that bind
# more tightly (any other, a comparison or a comma, binds less tightly: the text is not a sum)
_TIGHTER = {"**", "~", ".", "(", ")", "[", "]", "{", "}"}
_OPENING, _CLOSING = "([{", ")]}"


class _Token(NamedTuple):
    kind: int
    text: str
    start: int  # where it stands in the text, as an index
    end: int


def long_expression(text: str) -> ast.expr | None:
    """The tree Python's parser gives for `text`, a sum or product too long for it to build (see above);
    None where the text is something else (or a long operand is not itself a sum or product, or one in
    parentheses)."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    lines = text.split("\n")
    line_starts = _line_starts(text)
    in_bytes: dict[int, list[int]] = {}  # for a line not in ASCII: the UTF-8 length of each of its prefixes

    def place(index: int) -> tuple[int, int]:
        """(line, column) of a text index as Python's tree has them: lines from 1, columns in UTF-8 bytes."""
        line = bisect_right(line_starts, index) - 1
        column = index - line_starts[line]
        if line not in in_bytes:
            in_bytes[line] = [] if lines[line].isascii() else \
                list(accumulate((len(c.encode()) for c in lines[line]), initial=0))
        return line + 1, in_bytes[line][column] if in_bytes[line] else column

    def operand(lo: int, hi: int) -> ast.expr | None:
        """The tree of tokens[lo:hi], read by `ast` where it can, else cut at its operators."""
        start, end = tokens[lo].start, tokens[hi - 1].end
        try:
            body = ast.parse(text[start:end], mode="eval").body
        except RecursionError:
            return operations(lo, hi)
        line, column = place(start)
        for node in ast.walk(body):  # where it stands in the whole text
            if hasattr(node, "lineno"):
                if node.lineno == 1:
                    node.col_offset += column
                if node.end_lineno == 1:
                    node.end_col_offset += column
                node.lineno += line - 1
                node.end_lineno += line - 1
        return body

    def operations(lo: int, hi: int) -> ast.expr | None:
        """tokens[lo:hi] cut at its + and - outside brackets, or else at its * / @ // %, or else the text
        inside its parentheses; the operands folded left to right, as Python reads them."""
        cuts = _cuts(tokens, lo, hi, _SUM_LEVEL)
        if cuts is None:
            return None
        if not cuts:
            cuts = _cuts(tokens, lo, hi, _PRODUCT_LEVEL)
        if not cuts:
            if tokens[lo].text == "(" and _closing(tokens, lo) == hi - 1:  # too long in parentheses: so is
                return operations(lo + 1, hi - 1)                             # what they hold
            return None
        line, column = place(tokens[lo].start)
        tree = operand(lo, cuts[0])
        for cut, stop in zip(cuts, [*cuts[1:], hi]):
            right = operand(cut + 1, stop)
            if tree is None or right is None:
                return None
            end_line, end_column = place(tokens[stop - 1].end)
            tree = ast.BinOp(tree, _SPLIT[tokens[cut].text](), right, lineno=line, col_offset=column,
                             end_lineno=end_line, end_col_offset=end_column)
        return tree

    try:
        return operations(0, len(tokens))
    except (RecursionError, SyntaxError, ValueError):  # operands in parentheses nested too deeply
        return None


def _tokens(text: str) -> list[_Token] | None:
    """The text's tokens (names, numbers, strings, operators), or None where Python's tokenizer fails."""
    line_starts = _line_starts(text)
    out = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _LAYOUT:
                out.append(_Token(token.type, token.string, line_starts[token.start[0] - 1] + token.start[1],
                                  line_starts[token.end[0] - 1] + token.end[1]))
    except (tokenize.TokenError, SyntaxError, IndexError):
        return None
    return out or None


def _line_starts(text: str) -> list[int]:
    """The index where each line of the text starts (lines end at "\\n", as `_absolute` counts them)."""
    return list(accumulate((len(line) + 1 for line in text.split("\n")[:-1]), initial=0))


_LAYOUT = {tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
           tokenize.ENCODING}


def _cuts(tokens: list[_Token], lo: int, hi: int, operators: tuple[str, ...]) -> list[int] | None:
    """Where tokens[lo:hi] is cut at the binary `operators` outside brackets (a + or - after an operator or
    at the start is a sign); None where something binding less tightly than a sum stands outside brackets."""
    cuts, depth = [], 0
    for i in range(lo, hi):
        token = tokens[i]
        if token.kind == tokenize.OP and token.text in _OPENING:
            depth += 1
        elif token.kind == tokenize.OP and token.text in _CLOSING:
            depth -= 1
        elif depth == 0:
            if token.kind == tokenize.OP:
                if token.text not in _TIGHTER and token.text not in _SPLIT:
                    return None
                if token.text in operators and i > lo and _ends_operand(tokens[i - 1]):
                    cuts.append(i)
            elif token.kind == tokenize.NAME and keyword.iskeyword(token.text) and \
                    token.text not in ("True", "False", "None"):
                return None  # if, lambda, not, and, or, in, is, ...
            elif token.kind not in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING):
                return None
    return cuts


def _ends_operand(token: _Token) -> bool:
    """Can an operand end with this token (so that a + or - after it adds or subtracts)?"""
    if token.kind == tokenize.OP:
        return token.text in _CLOSING
    return token.kind != tokenize.NAME or not keyword.iskeyword(token.text) or token.text in ("True", "False", "None")


def _closing(tokens: list[_Token], lo: int) -> int:
    """The index of the bracket that closes tokens[lo]."""
    depth = 0
    for i in range(lo, len(tokens)):
        if tokens[i].kind == tokenize.OP and tokens[i].text in _OPENING:
            depth += 1
        elif tokens[i].kind == tokenize.OP and tokens[i].text in _CLOSING:
            depth -= 1
            if depth == 0:
                return i
    return -1
