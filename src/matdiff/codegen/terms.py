"""Terms: the generated code as interned Python expressions, and their printing through `ast`.

A `Term` is one Python expression (an `ast` class name, its non-expression fields and its operand
terms). Terms are built by the lowering (`lowering.py`) and interned there, so equal code is one
object and the emitter can give a term used twice a temporary. This module owns the term type, the
parsing of spelling templates, the conversion to `ast` (precedence exact, no text pasted), what makes
a term trivial, a view or expensive, and the names that may stand in generated code.
"""
from __future__ import annotations

import ast
import builtins
import itertools
import keyword
from typing import Any

from ..errors import DeclarationError
from .backends import EXPENSIVE, HELPERS, MODULES


class Term:
    """A Python expression: `kind` is an `ast` class name, `value` its non-expression fields."""

    __slots__ = ("kind", "value", "args", "ndim")

    def __init__(self, kind: str, value: Any, args: tuple["Term", ...], ndim: int | None) -> None:
        self.kind, self.value, self.args, self.ndim = kind, value, args, ndim

    def __repr__(self) -> str:
        return f"Term({ast.unparse(to_ast(self, {}))})"


_TEMPLATES: dict[str, ast.expr] = {}


def template(text: str) -> ast.expr:
    """The parsed template of a spelling (parsed once)."""
    if text not in _TEMPLATES:
        _TEMPLATES[text] = ast.parse(text, mode="eval").body
    return _TEMPLATES[text]


BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "@": ast.MatMult, "**": ast.Pow}
COMPARES = {">": ast.Gt, "<": ast.Lt, ">=": ast.GtE, "<=": ast.LtE, "==": ast.Eq, "!=": ast.NotEq}


def to_ast(term: Term, names: dict[Term, str], top: bool = True) -> ast.expr:
    """The `ast` of a term; a term with a temporary's name in `names` is that name (except at the top).

    Built with an explicit stack, not by recursion: a sum of 10,000 terms is a term 10,000 deep. (The
    emitter keeps each printed statement shallow, see `function.MAX_DEPTH`, for `ast.unparse`.)"""
    if not top and term in names:
        return ast.Name(names[term])
    built: list[ast.expr] = []
    stack: list[Term | None] = [term, None, *reversed(term.args)]  # None: build the term below it
    while stack:
        t = stack.pop()
        if t is None:  # its operands are the last len(t.args) built
            t = stack.pop()
            split = len(built) - len(t.args)
            operands = built[split:]
            del built[split:]
            built.append(_node(t, operands))
        elif t in names:
            built.append(ast.Name(names[t]))
        elif t.args:
            stack.append(t)
            stack.append(None)
            stack.extend(reversed(t.args))
        else:
            built.append(_node(t, []))
    return built[0]


def _node(term: Term, a: list[ast.expr]) -> ast.expr:
    """The `ast` node of one term, its operands' `ast`s given."""
    kind, value = term.kind, term.value
    if kind == "Name":
        return ast.Name(value)
    if kind == "Constant":
        return ast.Constant(value)
    if kind == "Attribute":
        return ast.Attribute(a[0], value)
    if kind == "Call":
        npos, kwnames = value
        return ast.Call(a[0], a[1:1 + npos], [ast.keyword(k, v) for k, v in zip(kwnames, a[1 + npos:])])
    if kind == "BinOp":
        return ast.BinOp(a[0], BINOPS[value](), a[1])
    if kind == "Compare":
        return ast.Compare(a[0], [COMPARES[value]()], [a[1]])
    if kind == "UnaryOp":
        return ast.UnaryOp(ast.USub(), a[0])
    if kind == "Subscript":
        return ast.Subscript(a[0], a[1])
    if kind == "Slice":
        return ast.Slice()
    if kind == "Tuple":
        return ast.Tuple(a)
    if kind == "List":
        return ast.List(a)
    raise AssertionError(kind)


def _dotted(term: Term) -> str:
    parts: list[str] = []
    while term.kind == "Attribute":
        parts.append(term.value)
        term = term.args[0]
    return ".".join([term.value] + parts[::-1]) if term.kind == "Name" else ""


def is_view(term: Term) -> bool:
    """`x.T` and `x[:, None]`: free views of x (x itself is what may need a temporary)."""
    if term.kind == "Attribute":
        return term.value == "T"
    return term.kind == "Subscript" and term.args[1].kind == "Tuple" and all(
        i.kind == "Slice" or i.kind == "Constant" and i.value is None for i in term.args[1].args)


def is_trivial(term: Term, known: dict[Term, bool] | None = None) -> bool:
    """Names, numbers, `np.linalg`, a method `t.reshape`, views of those: nothing worth a temporary.

    `known` remembers the answers (pass one dictionary to ask about many terms of one function: a long
    sum of numbers would otherwise be walked again for each of its partial sums)."""
    known = {} if known is None else known
    stack = [term]
    while stack:  # a term stays until its operands are known: no recursion on a sum thousands of terms deep
        t = stack[-1]
        if t in known:
            stack.pop()
            continue
        if t.kind in ("Name", "Constant", "Slice") or t.kind == "Attribute" and t.value != "T":
            known[t] = True
        elif t.kind in ("Attribute", "Subscript", "Tuple", "UnaryOp") or t.kind == "BinOp" and t.ndim == 0:
            pending = [a for a in t.args if a not in known]
            if pending:
                stack.extend(pending)
                continue
            numbers_only = t.kind == "BinOp"  # n * m, 2.0 * lam: arithmetic on numbers
            known[t] = all(known[a] and (a.ndim == 0 or not numbers_only) for a in t.args)
        else:
            known[t] = False
        stack.pop()
    return known[term]


def is_expensive(term: Term) -> bool:
    while term.kind == "Subscript":  # slogdet(S)[1]: the whole is what is worth a line
        term = term.args[0]
    return term.kind == "Call" and _dotted(term.args[0]).rsplit(".", 1)[-1] in EXPENSIVE


# ---- names --------------------------------------------------------------------------------------

RESERVED = frozenset(name for spec in MODULES.values() for name, _ in spec) | frozenset(dir(builtins)) \
    | frozenset(HELPERS)


def check_name(name: object, what: str = "variable") -> str:
    """A name that may stand in generated code: an ASCII identifier, not a keyword, builtin or dunder."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        raise DeclarationError(f"{what} name {name!r} is not a Python identifier; generated code needs one")
    if keyword.iskeyword(name) or name.startswith("__") or name in RESERVED:
        raise DeclarationError(f"{what} name {name!r} is reserved in generated code (a keyword, a builtin, a "
                               f"dunder name or a backend module); please rename it")
    return name


class Names:
    """Hands out local names that clash with nothing already taken."""

    def __init__(self, taken) -> None:
        self.taken = set(taken) | RESERVED | set(keyword.kwlist)

    def fresh(self, wanted: str) -> str:
        name = wanted if wanted.isidentifier() and wanted.isascii() else "dim"
        for candidate in itertools.chain([name], (f"{name}_{i}" for i in itertools.count(1))):
            if candidate not in self.taken and not candidate.startswith("__"):
                self.taken.add(candidate)
                return candidate
        raise AssertionError
