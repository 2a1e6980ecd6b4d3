"""Reading sums and products too long for Python's parser.

Python builds the tree of a + b + c + ... by recursion on its length and gives up past about a thousand
operands (RecursionError "during ast construction"), though it has read the text. Such a text is cut at
its operators outside brackets, each operand read by `ast` alone, and the tree Python would have built
assembled from them: the operands placed where they stand in the text, so that a caret still points
into it. A long sum or product in parentheses or as the argument of a call, sum(tanh(a + b + ...)), is
read so on its own, and the text around it by `ast` with a name standing in for it. Text is never
evaluated. `parse.py` calls `long_expression` where `ast.parse` gives up.
"""
from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
from bisect import bisect_right
from itertools import accumulate
from typing import NamedTuple

_SPLIT = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "@": ast.MatMult, "//": ast.FloorDiv,
          "%": ast.Mod}
_SUM_LEVEL, _PRODUCT_LEVEL = ("+", "-"), ("*", "/", "@", "//", "%")
# what may stand outside brackets in a sum besides its own operators and operands: operators that bind
# more tightly (any other, a comparison or a comma, binds less tightly: the text is not a sum)
_TIGHTER = {"**", "~", ".", "(", ")", "[", "]", "{", "}"}
_OPENING, _CLOSING = "([{", ")]}"
# an argument of at least this many tokens is read on its own (it may be too long for Python's parser);
# shorter ones stay in the text around it
_LONG_ARGUMENT = 100


class _Token(NamedTuple):
    kind: int
    text: str
    start: int  # where it stands in the text, as an index
    end: int


def long_expression(text: str) -> ast.expr | None:
    """The tree Python's parser gives for `text`, a sum or product too long for it to build (see above);
    None where the text is something else (or a long operand is not itself a sum or product, or one in
    parentheses or a call's argument)."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    closing = _matching(tokens)
    if closing is None:
        return None
    lines = text.split("\n")
    line_starts = _line_starts(text)
    in_bytes: dict[int, list[int]] = {}  # for a line not in ASCII: the UTF-8 length of each of its prefixes
    stand_in = _unused_name(text)

    def place(index: int) -> tuple[int, int]:
        """(line, column) of a text index as Python's tree has them: lines from 1, columns in UTF-8 bytes."""
        line = bisect_right(line_starts, index) - 1
        column = index - line_starts[line]
        if line not in in_bytes:
            in_bytes[line] = [] if lines[line].isascii() else \
                list(accumulate((len(c.encode()) for c in lines[line]), initial=0))
        return line + 1, in_bytes[line][column] if in_bytes[line] else column

    def placed(body: ast.expr, start: int) -> ast.expr:
        """The tree of a piece of the text read by `ast` alone, moved to where the piece starts in the text."""
        line, column = place(start)
        for node in ast.walk(body):
            if hasattr(node, "lineno"):
                if node.lineno == 1:
                    node.col_offset += column
                if node.end_lineno == 1:
                    node.end_col_offset += column
                node.lineno += line - 1
                node.end_lineno += line - 1
        return body

    def operand(lo: int, hi: int) -> ast.expr | None:
        """The tree of tokens[lo:hi], read by `ast` where it can, else cut at its operators."""
        start, end = tokens[lo].start, tokens[hi - 1].end
        try:
            body = ast.parse(text[start:end], mode="eval").body
        except RecursionError:
            return operations(lo, hi)
        return placed(body, start)

    def operations(lo: int, hi: int) -> ast.expr | None:
        """tokens[lo:hi] cut at its + and - outside brackets, or else at its * / @ // %, or else the text
        inside its parentheses, or else read around its long arguments; the operands folded left to right,
        as Python reads them."""
        cuts = _cuts(tokens, closing, lo, hi, _SUM_LEVEL)
        if cuts is None:
            return None
        if not cuts:
            cuts = _cuts(tokens, closing, lo, hi, _PRODUCT_LEVEL)
        if not cuts:
            if tokens[lo].text == "(" and closing[lo] == hi - 1:  # too long in parentheses: so is what they hold
                return operations(lo + 1, hi - 1)
            return around_long_arguments(lo, hi)
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

    def around_long_arguments(lo: int, hi: int) -> ast.expr | None:
        """tokens[lo:hi], an operand with no operator outside brackets (f(...), -g(...).T, (...) ** 2): its
        long arguments in parentheses are read on their own, each replaced in the text by a name of the same
        place (the rest blanked, its lines kept), so that `ast` reads the rest where it stands; their trees
        then take the names' places."""
        start = tokens[lo].start
        pieces: list[str] = []  # the text, a long argument's stand-in in place of the argument
        trees: dict[str, ast.expr] = {}
        at, i = start, lo
        while i < hi:
            if tokens[i].text != "(" or tokens[i].kind != tokenize.OP:
                i += 1
                continue
            for first, stop in _arguments(tokens, closing, i + 1, closing[i]):
                tree = operations(first, stop) if stop - first >= _LONG_ARGUMENT else None
                if tree is None:  # short, or not a sum or product: left to `ast`, which may read it
                    continue
                name = f"{stand_in}{len(trees)}"
                blank = _blanked(text[tokens[first].start:tokens[stop - 1].end], name)
                if blank is None:
                    return None
                pieces += [text[at:tokens[first].start], blank]
                at = tokens[stop - 1].end
                trees[name] = tree
            i = closing[i] + 1
        pieces.append(text[at:tokens[hi - 1].end])
        body = placed(ast.parse("".join(pieces), mode="eval").body, start)
        if not trees:
            return body
        for node in ast.walk(body):  # the stand-ins' parents are in the short tree of the text around them
            for field, value in ast.iter_fields(node):
                if isinstance(value, ast.Name) and value.id in trees:
                    setattr(node, field, trees[value.id])
                elif isinstance(value, list):
                    value[:] = [trees[v.id] if isinstance(v, ast.Name) and v.id in trees else v for v in value]
        return body

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


def _cuts(tokens: list[_Token], closing: list[int], lo: int, hi: int, operators: tuple[str, ...]) -> list[int] | None:
    """Where tokens[lo:hi] is cut at the binary `operators` outside brackets (a + or - after an operator or
    at the start is a sign); None where something binding less tightly than a sum stands outside brackets.
    What brackets hold is passed over unread, so that a sum inside a call costs its own length once."""
    cuts = []
    i = lo
    while i < hi:
        token = tokens[i]
        if token.kind == tokenize.OP and token.text in _OPENING:
            i = closing[i]  # its closing bracket, then on
        elif token.kind == tokenize.OP:
            if token.text not in _TIGHTER and token.text not in _SPLIT:
                return None
            if token.text in operators and i > lo and _ends_operand(tokens[i - 1]):
                cuts.append(i)
        elif token.kind == tokenize.NAME and keyword.iskeyword(token.text) and \
                token.text not in ("True", "False", "None"):
            return None  # if, lambda, not, and, or, in, is, ...
        elif token.kind not in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING):
            return None
        i += 1
    return cuts


def _arguments(tokens: list[_Token], closing: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    """The expressions of tokens[lo:hi], what parentheses hold, cut at its commas outside brackets: each
    argument, or the value of a keyword argument (axis=0), as (start, stop); a starred one is left out."""
    out = []
    first = i = lo
    while i <= hi:
        if i == hi or (tokens[i].kind == tokenize.OP and tokens[i].text == ","):
            if i - first > 2 and tokens[first].kind == tokenize.NAME and tokens[first + 1].text == "=":
                first += 2  # name=value
            if i > first and tokens[first].text not in ("*", "**"):
                out.append((first, i))
            first = i + 1
        elif tokens[i].kind == tokenize.OP and tokens[i].text in _OPENING:
            i = closing[i]
        i += 1
    return out


def _matching(tokens: list[_Token]) -> list[int] | None:
    """For each opening bracket among the tokens, the index of the one that closes it (-1 elsewhere); None
    where they do not match."""
    closing = [-1] * len(tokens)
    opened: list[int] = []
    for i, token in enumerate(tokens):
        if token.kind == tokenize.OP and token.text in _OPENING:
            opened.append(i)
        elif token.kind == tokenize.OP and token.text in _CLOSING:
            if not opened or _OPENING.index(tokens[opened[-1]].text) != _CLOSING.index(token.text):
                return None
            closing[opened.pop()] = i
    return None if opened else closing


def _unused_name(text: str) -> str:
    """A start of names that no name in the text begins with (underscores, as many as it takes)."""
    name = "_"
    while name in text:
        name += "_"
    return name


def _blanked(piece: str, name: str) -> str | None:
    """`name` on the first line of `piece` long enough for it, every other character blank (as many UTF-8 bytes
    as it had: Python's columns count them) and every line kept, so that the text after it keeps its lines
    and columns; None where no line of it is long enough."""
    blank = re.sub(r"[^\n]", " ", piece) if piece.isascii() else \
        re.sub(r"[^\n]", lambda c: " " * len(c.group().encode()), piece)
    at = 0
    for line in blank.split("\n"):
        if len(line) >= len(name):
            return blank[:at] + name + blank[at + len(name):]
        at += len(line) + 1
    return None


def _ends_operand(token: _Token) -> bool:
    """Can an operand end with this token (so that a + or - after it adds or subtracts)?"""
    if token.kind == tokenize.OP:
        return token.text in _CLOSING
    return token.kind != tokenize.NAME or not keyword.iskeyword(token.text) or token.text in ("True", "False", "None")
