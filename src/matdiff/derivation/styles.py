"""Rendering styles: one derivation, three spellings (Unicode, plain text, LaTeX).

This module owns how a derivation spells its expressions, words and few fixed symbols in each style
(`STYLES`), `Math` (one piece of mathematics spelled three ways), how a sentence of words and math is
rendered, and how a Frobenius form M₁ : L₁ + M₂ : L₂ … is written. It does not own what the steps
say (the routes) nor how expressions print (`matdiff.language`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..expr import Node
from ..language import to_latex, to_text, to_unicode
from ..language.names import GREEK
from ..ops import ONE, const, mul, split_coefficient


class Style:
    """How a derivation spells expressions, words and its few fixed symbols."""

    name = "unicode"
    maps = "↦"
    implies = "⇒"
    partial = "∂"
    phi = "φ"
    frob = ":"
    gbar = ("Ḡ", "ḡ")
    named: frozenset = frozenset()  # the nodes `expr` writes by a name of the answer's bindings

    def expr(self, node: Node) -> str:
        return _bar(to_unicode(node), self)

    def words(self, text: str) -> str:
        return text

    def gradient(self, top: str, bottom: str) -> str:
        return f"{self.partial}{top}/{self.partial}{bottom}"


class TextStyle(Style):
    name = "text"
    maps = "->"
    implies = "=>"
    partial = "d"
    phi = "phi"
    gbar = ("Gbar", "gbar")

    def expr(self, node: Node) -> str:
        return _bar(to_text(node), self)

    def words(self, text: str) -> str:
        for symbol, spelled in _ASCII_WORDS:
            text = text.replace(symbol, spelled)
        return text


# how the Unicode symbols in rule names and notes read in plain text
_ASCII_WORDS = (("⇒", "=>"), ("↦", "->"), ("∂φ", "dphi"), ("dφ", "dphi"), ("φ", "phi"), ("∂", "d"), ("⊙", "*"),
                ("⊗", "kron"), ("ᵀ", ".T"), ("Ḡ", "Gbar"), ("ḡ", "gbar"), ("𝟙", "ones"), ("−", "-"),
                ("‖", "|"), ("²", "^2"), ("Σ", "sum"))


class LatexStyle(Style):
    name = "latex"
    maps = r"\mapsto"
    implies = r"\Rightarrow"
    partial = r"\partial "
    phi = r"\varphi"
    gbar = (r"\bar{G}", r"\bar{g}")

    def expr(self, node: Node) -> str:
        return _bar(to_latex(node), self)

    def words(self, text: str) -> str:
        """Words in \\text{…}; their math symbols (∂, ⊙, ᵀ, Greek letters) as math inside it, since a text
        font has none of them: `dD = (∂D/∂s) ds` is \\text{dD = ($\\partial$D/$\\partial$s) ds}."""
        if not text.strip():
            return text
        return r"\text{" + "".join(_TEXT_MATH.get(c, c) for c in text.replace("_", r"\_")) + "}"

    def gradient(self, top: str, bottom: str) -> str:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


_SYMBOLS = {"∂": r"\partial", "⊙": r"\odot", "⊗": r"\otimes", "‖": r"\|", "Σ": r"\Sigma", "−": "-", "↦": r"\mapsto",
            "⇒": r"\Rightarrow", "×": r"\times", "≈": r"\approx", "→": r"\to", "′": "'", "ᵀ": r"^\top",
            "⁻": "^-", "𝟙": r"\mathbf{1}", "δ": r"\delta", "φ": r"\varphi", "Ḡ": r"\bar{G}", "ḡ": r"\bar{g}",
            "ε": r"\epsilon"}
_SYMBOLS.update({letter: "\\" + name for name, letter in GREEK.items() if letter not in _SYMBOLS})
_SYMBOLS.update({c: f"^{d}" for c, d in zip("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")})
_SYMBOLS.update({c: f"_{d}" for c, d in zip("₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", "0123456789aehijklmnoprstuvx")})
_TEXT_MATH = {c: f"${m}$" for c, m in _SYMBOLS.items() if c != "−"} | {"−": "-"}


def _bar(text: str, style: Style) -> str:
    """The incoming-gradient placeholders (variables named Ḡ, ḡ) in the style's spelling."""
    return text.replace("Ḡ", style.gbar[0]).replace("ḡ", style.gbar[1])


STYLES: dict[str, Style] = {"unicode": Style(), "text": TextStyle(), "latex": LatexStyle()}


# KaTeX (the page) stops a formula after 1000 macro expansions; \operatorname and \, take 3 each, \colon one
_EXPANSIONS = ((r"\operatorname", 3), (r"\,", 3), (r"\colon", 1), (r"\qquad", 1))
KATEX_BUDGET = 900


def katex_blocks(rows: Sequence[str], budget: int = KATEX_BUDGET) -> list[list[str]]:
    """Consecutive rows of an aligned display, grouped so that each group renders in KaTeX: a long derivation
    (fifty steps of a Cholesky factor's differential) is several aligned blocks, never one it refuses."""
    blocks: list[list[str]] = []
    used = budget
    for row in rows:
        cost = sum(row.count(macro) * weight for macro, weight in _EXPANSIONS)
        if not blocks or used + cost > budget:
            blocks.append([])
            used = 0
        blocks[-1].append(row)
        used += cost
    return blocks


def wrap_sum(node: Node, text: str) -> str:
    """Parenthesise a rendered sum, so that `(A + B) : C` reads right."""
    return f"({text})" if node.op == "add" else text


def as_denominator(node: Node, style: Style) -> str:
    """An expression as the denominator of ∂φ/∂(…): bare when it is a name (a variable, or a part the
    answer's bindings name, written without a space: P, σ, σ²) or one call, f(…) whose parenthesis closes
    at the end."""
    text = style.expr(node)
    if node.op == "var" or (node in style.named and " " not in text) or _one_call(text):
        return text
    return f"({text})"


def _one_call(text: str) -> bool:
    """`name(...)` as a whole: softmax(Q Kᵀ, axis=1), not sqrt(d) Q or f(x) / g(x)."""
    opening = text.find("(")
    if opening <= 0 or not text[:opening].isalpha() or not text.endswith(")"):
        return False
    depth = 0
    for position, c in enumerate(text[opening:], start=opening):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return position == len(text) - 1
    return False


# Parts of a rendered sentence: words (str) and math (a Node, or a `Math` with one spelling per style).
@dataclass(frozen=True)
class Math:
    unicode: str
    text: str
    latex: str

    def in_style(self, style: Style) -> str:
        return getattr(self, style.name)


def render_parts(parts: Sequence[Any], style: Style) -> str:
    out = []
    for part in parts:
        if isinstance(part, Node):
            out.append(as_math(style.expr(part), style))
        elif isinstance(part, Math):
            out.append(as_math(part.in_style(style), style))
        else:
            out.append(style.words(str(part)))
    return "".join(out)


def as_math(text: str, style: Style) -> str:
    return text if style.name != "latex" else "{" + text + "}"


# ---- Frobenius forms: M₁ : L₁ + M₂ : L₂ … ----------------------------------------------------------


def _render_pair(m: Node, linear: Node, style: Style) -> tuple[bool, str]:
    """(negative, text) of one term M : L, without its sign."""
    c, body = split_coefficient(m)
    negative = c < 0
    magnitude = mul(const(abs(c)), body) if c != 1.0 and c != -1.0 else body
    if negative and c == -1.0:
        magnitude = body
    if not linear.shape:
        shown = mul(magnitude, linear)
        c2, body2 = split_coefficient(shown)
        if c2 < 0:
            negative = not negative
            shown = mul(const(-c2), body2) if c2 != -1.0 else body2
        return negative, style.expr(shown)
    left = style.expr(magnitude)
    if magnitude is ONE:
        return negative, style.expr(linear)
    right = style.expr(linear)
    if linear.op in ("add", "mul", "div") or split_coefficient(linear)[0] < 0:
        right = f"({right})"
    return negative, f"{wrap_sum(magnitude, left)} {style.frob} {right}"


def render_form(pairs: Sequence[tuple[Node, Node]], style: Style) -> str:
    if not pairs:
        return "0"
    out = []
    minus = "−" if style.name == "unicode" else "-"
    for position, (m, linear) in enumerate(pairs):
        negative, text = _render_pair(m, linear, style)
        if position == 0:
            out.append((minus if negative else "") + text)
        else:
            out.append(f" {minus if negative else '+'} {text}")
    return "".join(out)
