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
    """The `ast` of a term; a term with a temporary's name in `names` is that name (except at the top)."""
    if not top and term in names:
        return ast.Name(names[term])
    a = [to_ast(t, names, top=False) for t in term.args]
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
    if term.kind == "Name":
        return term.value
    if term.kind == "Attribute":
        return _dotted(term.args[0]) + "." + term.value
    return ""


def is_view(term: Term) -> bool:
    """`x.T` and `x[:, None]`: free views of x (x itself is what may need a temporary)."""
    if term.kind == "Attribute":
        return term.value == "T"
    return term.kind == "Subscript" and term.args[1].kind == "Tuple" and all(
        i.kind == "Slice" or i.kind == "Constant" and i.value is None for i in term.args[1].args)


def is_trivial(term: Term) -> bool:
    """Names, numbers, `np.linalg`, a method `t.reshape`, views of those: nothing worth a temporary."""
    if term.kind in ("Name", "Constant", "Slice") or term.kind == "Attribute" and term.value != "T":
        return True
    if term.kind in ("Attribute", "Subscript", "Tuple", "UnaryOp"):
        return all(is_trivial(t) for t in term.args)
    if term.kind == "BinOp" and term.ndim == 0:  # n * m, 2.0 * lam: arithmetic on numbers
        return all(is_trivial(t) and t.ndim == 0 for t in term.args)
    return False


def is_expensive(term: Term) -> bool:
    if term.kind == "Subscript":  # slogdet(S)[1]: the whole is what is worth a line
        return is_expensive(term.args[0])
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
