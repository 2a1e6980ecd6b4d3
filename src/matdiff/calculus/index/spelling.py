"""How an index form is written: the text, Unicode (subscripts where every index has one, brackets
otherwise) and LaTeX styles of its indices, atoms, sums, quotients, powers and its header
(∂f[i,j]/∂X[k,l], ∂²f/∂x[i]∂x[k], ∂³f/...). Atoms are printed by `language.printing`.
"""
from __future__ import annotations

import re

from ...expr import Node
from ...language.names import latex_name, unicode_subscripted
from .terms import Entry, Factor, Term, _names

LABEL_LIMIT = 20  # a function whose text is longer is called f in the header

# ---- spellings ----------------------------------------------------------------------------------------

_SUBSCRIPT_LETTERS = set("aehijklmnoprstuvx")
_SUBSCRIPT = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def _is_primary(text: str) -> bool:
    """A name, a call f(...) or a parenthesised whole: safe to index or juxtapose as it is."""
    if _IDENTIFIER.match(text) or re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", text):
        return True
    opening = text.find("(")
    if opening < 0 or not text.endswith(")"):
        return False
    if opening > 0 and not _IDENTIFIER.match(text[:opening]):
        return False
    depth = 0
    for position, c in enumerate(text[opening:], start=opening):
        depth += c == "("
        depth -= c == ")"
        if depth == 0:
            return position == len(text) - 1
    return False


class _Style:
    """How one spelling writes indices, atoms, sums, powers and the header."""

    minus = "-"
    partial = "∂"
    delta = "δ"

    def spell(self, node: Node) -> str:
        from ...language.printing import to_text
        return to_text(node)

    def entry(self, e: Entry) -> str:
        return e if isinstance(e, str) else "(" + ",".join(e) + ")"

    def indices(self, entries) -> str:
        return "[" + ",".join(self.entry(e) for e in entries) + "]" if entries else ""

    def atom(self, node: Node, entries) -> str:
        text = self.spell(node)
        if not _is_primary(self.plain(node)) or (entries and not self.indexable(node, text)):
            text = self.parenthesise(text)
        return text + self.indices(entries)

    def plain(self, node: Node) -> str:
        from ...language.printing import to_text
        return to_text(node)

    def indexable(self, node: Node, text: str) -> bool:
        return True

    def parenthesise(self, text: str) -> str:
        return f"({text})"

    def raised(self, text: str, exponent: float) -> str:
        return text if exponent == 1.0 else f"{text}^{_number(exponent)}"

    def factor(self, f: Factor, exponent: float) -> str:
        if f.is_delta:
            return self.delta + self.indices(f.axes)
        return self.raised(self.atom(f.base, f.axes), exponent)

    def summation(self, names: list) -> str:
        if not names:
            return ""
        return "Σ_" + names[0] if len(names) == 1 else "Σ_{" + ",".join(names) + "}"

    def product(self, parts: list) -> str:
        return " ".join(parts)

    def quotient(self, numerator: str, denominator: list) -> str:
        below = denominator[0] if len(denominator) == 1 else "(" + " ".join(denominator) + ")"
        return f"{numerator or '1'} / {below}"

    def term_body(self, t: Term, magnitude: float = 1.0) -> str:
        """magnitude · Σ_{summation indices} numerator / denominator."""
        order = []
        for f in t.factors:
            for e in f.axes:
                for n in _names(e):
                    if n in t.summed and n not in order:
                        order.append(n)
        numerator = [self.factor(f, f.power) for f in t.factors if f.power > 0]
        denominator = [self.factor(f, -f.power) for f in t.factors if f.power < 0]
        prefix = self.summation(order)
        coefficient = "" if magnitude == 1.0 else _number(magnitude)
        if not numerator and not denominator:  # (a summation index always has a factor)
            return coefficient or "1"
        if denominator and not numerator and not prefix:  # 0.5 / X[k,l]^0.5
            return self.quotient(coefficient or "1", denominator)
        body = self.product(numerator) if numerator else "1"
        if denominator:
            body = self.quotient(body, denominator)
        return " ".join(p for p in (coefficient, prefix, body) if p)

    # -- the left-hand side
    def label(self, header: dict, entries) -> str:
        name = header.get("name")
        if name:
            return name + self.indices(entries)
        node = header["function"]
        if len(self.plain(node)) > LABEL_LIMIT:
            return "f" + self.indices(entries)
        return self.atom(node, entries)

    def header(self, header: dict, free: tuple) -> str:
        variables = header["variables"]
        base_ndim = header["function"].ndim if not header.get("second") else 0
        if header.get("third"):
            x = variables[0]
            return self.third(self.label(header, ()), *(self.atom(x, (n,)) for n in free))
        if header.get("second"):
            first, second = variables
            fi, vi = free[:first.ndim], free[first.ndim:]
            return self.second(self.label(header, ()), self.atom(first, fi), self.atom(second, vi))
        fi, vi = free[:base_ndim], free[base_ndim:]
        return self.first(self.label(header, fi), self.atom(variables[0], vi))

    def first(self, top: str, bottom: str) -> str:
        return f"{self.partial}{top}/{self.partial}{bottom}"

    def second(self, top: str, x1: str, x2: str) -> str:
        return f"{self.partial}²{top}/{self.partial}{x1}{self.partial}{x2}"

    def third(self, top: str, x1: str, x2: str, x3: str) -> str:
        return f"{self.partial}³{top}/{self.partial}{x1}{self.partial}{x2}{self.partial}{x3}"


class _UnicodeStyle(_Style):
    minus = "−"

    def __init__(self, subscripts: bool) -> None:
        self.subscripts = subscripts

    def spell(self, node: Node) -> str:
        from ...language.printing import to_unicode
        return to_unicode(node)

    def indexable(self, node: Node, text: str) -> bool:
        return node.op == "var" or _is_primary(text)

    def atom(self, node: Node, entries) -> str:
        if entries and self.subscripts and node.op == "var" and unicode_subscripted(node.params[0]):
            return f"({self.spell(node)}){self.indices(entries)}"  # W₁ indexed is (W₁)ₖₗ, never W₁ₖₗ
        return super().atom(node, entries)

    def indices(self, entries) -> str:
        if not entries:
            return ""
        if self.subscripts:
            return "".join(entries).translate(_SUBSCRIPT)
        return super().indices(entries)

    def raised(self, text: str, exponent: float) -> str:
        if exponent == 1.0:
            return text
        return text + _number(exponent).translate(_SUPERSCRIPT)

    def summation(self, names: list) -> str:
        if not names:
            return ""
        if self.subscripts:
            return "Σ" + "".join(names).translate(_SUBSCRIPT)
        return super().summation(names)


class _LatexStyle(_Style):
    partial = r"\partial "
    delta = r"\delta"

    def spell(self, node: Node) -> str:
        from ...language.printing import to_latex
        return to_latex(node)

    def entry(self, e: Entry) -> str:
        return e if isinstance(e, str) else "(" + "".join(e) + ")"

    def indices(self, entries) -> str:
        if not entries:
            return ""
        return "_{" + "".join(self.entry(e) for e in entries) + "}"

    def atom(self, node: Node, entries) -> str:
        if node.op == "var" and entries:  # the name's own subscript and the indices in one: W_{1,kl}
            return latex_name(node.params[0], "".join(self.entry(e) for e in entries))
        return super().atom(node, entries)

    def indexable(self, node: Node, text: str) -> bool:
        return node.op == "var" or text.endswith(r"\right)")

    def parenthesise(self, text: str) -> str:
        return rf"\left({text}\right)"

    def raised(self, text: str, exponent: float) -> str:
        if exponent == 1.0:
            return text
        return f"{{{text}}}^{{{_number(exponent)}}}" if "^" in text else f"{text}^{{{_number(exponent)}}}"

    def summation(self, names: list) -> str:
        return r"\sum_{" + ",".join(names) + "}" if names else ""

    def product(self, parts: list) -> str:
        return " ".join(parts)

    def quotient(self, numerator: str, denominator: list) -> str:
        return rf"\frac{{{numerator or '1'}}}{{{' '.join(denominator)}}}"

    def first(self, top: str, bottom: str) -> str:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"

    def second(self, top: str, x1: str, x2: str) -> str:
        return rf"\frac{{\partial^2 {top}}}{{\partial {x1} \, \partial {x2}}}"

    def third(self, top: str, x1: str, x2: str, x3: str) -> str:
        return rf"\frac{{\partial^3 {top}}}{{\partial {x1} \, \partial {x2} \, \partial {x3}}}"


_TEXT = _Style()
_UNICODE = _UnicodeStyle(subscripts=True)
_UNICODE_BRACKETS = _UnicodeStyle(subscripts=False)
_LATEX = _LatexStyle()
