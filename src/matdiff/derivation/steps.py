"""Steps: one step of a derivation (its rule, its claim, the expression it yields), and what steps show.

This module owns `Step`, the names a derivation gives (a fresh name for f or G, a name as math), and
the form of a rule: an operation with its long operands replaced by placeholders U, V, … (`rule_pattern`),
as the chain rule and the differential rules state it. The routes (chain.py, differential.py,
index.py, notation.py) make the steps; the derivation (derivation.py) collects and prints them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..dims import format_shape
from ..expr import Node, make
from ..language import to_latex, to_text, to_unicode
from ..language.names import latex_name, unicode_name
from ..ops import var, zeros
from .claims import Claim
from .styles import STYLES, Math, Style, as_math, render_parts

PLACEHOLDERS = "UVPQRSTLMN"
SHORT = 6  # operands whose Unicode spelling is at most this long are shown as they are in rules


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a derivation: the rule or identity used, what it claims, the expression it yields."""

    section: str
    rule: str  # the rule in words and symbols (Unicode)
    claim: Claim
    expression: Node | None
    shape: tuple
    rule_parts: tuple = ()  # the rule as words and math, for the other spellings
    mapping: tuple = ()  # chain rule: (incoming placeholder, outgoing expression, the rule's form or None)
    details: tuple = ()  # further rules named by the step (the differential rules used), as Math
    operation: Node | None = None  # chain rule: the operation whose rule the step applies
    contributions: int = 0  # chain rule: how many contributions a sum-of-contributions step adds
    moves_across: bool = False  # differential route: a factor moved across the Frobenius product (one term to one)

    @property
    def shape_text(self) -> str:
        return format_shape(self.shape)

    @property
    def passes_through(self) -> bool:
        """A chain-rule step whose rule is the identity, Ḡ ↦ Ḡ (an addition of a constant, U + β)."""
        return bool(self.mapping) and self.mapping[1] is self.mapping[0]

    @property
    def title(self) -> str:
        """The rule, with its formula where it has one (Unicode)."""
        return self.rule_in(STYLES["unicode"])

    @property
    def result(self) -> str:
        """What the step claims (Unicode)."""
        return self.claim.unicode

    @property
    def text(self) -> str:
        return self.claim.text

    @property
    def latex(self) -> str:
        return self.claim.latex

    @property
    def note(self) -> str:
        return f"{self.section}; shape {self.shape_text}"

    @property
    def expression_text(self) -> str:
        return "" if self.expression is None else to_text(self.expression)

    @property
    def expression_unicode(self) -> str:
        return "" if self.expression is None else to_unicode(self.expression)

    def rule_in(self, style: Style) -> str:
        text = render_parts(self.rule_parts, style) if self.rule_parts else style.words(self.rule)
        if self.mapping:
            g, out, pattern = self.mapping
            if pattern is not None:
                text += self._joint + as_math(style.expr(pattern), style)
            text += (": " if style.name != "latex" else r"\colon\ ") + \
                f"{as_math(style.expr(g), style)} {style.maps} {as_math(style.expr(out), style)}"
        return text

    @property
    def _joint(self) -> str:
        """Between the words and the rule's form: " in " where the words name a placeholder of the form
        (division by U in Q Kᵀ / U), else a space (elementwise tanh tanh(U))."""
        named = any(isinstance(p, Node) and p.op == "var" and p.params[0] in PLACEHOLDERS for p in self.rule_parts)
        return " in " if named else " "

    def rule_markdown(self) -> str:
        """The rule as Markdown: words as they are, math in $…$."""
        out = [markdown_parts(self.rule_parts or (self.rule,))]
        if self.mapping:
            g, out_node, pattern = self.mapping
            style = STYLES["latex"]
            if pattern is not None:
                out.append(f"{self._joint}${style.expr(pattern)}$")
            out.append(f": ${style.expr(g)} \\mapsto {style.expr(out_node)}$")
        return "".join(out)

    def to_dict(self) -> dict:
        return {
            "section": self.section,
            "rule": self.rule_in(STYLES["unicode"]),
            "rule_text": self.rule_in(STYLES["text"]),
            "claim": {"kind": self.claim.kind, "text": self.claim.text, "unicode": self.claim.unicode,
                      "latex": self.claim.latex},
            "expression": None if self.expression is None else {
                "text": to_text(self.expression), "unicode": to_unicode(self.expression),
                "latex": to_latex(self.expression)},
            "shape": [d if isinstance(d, int) else str(d) for d in self.shape],
            "details": [m.unicode for m in self.details],
        }

    def __repr__(self) -> str:
        return f"Step({self.section}: {self.rule!r}; {self.claim.unicode})"


def markdown_parts(parts: Sequence) -> str:
    """Words and math as Markdown: words as they are, math in $…$."""
    out = []
    for part in parts:
        if isinstance(part, Node):
            out.append(f"${to_latex(part)}$")
        elif isinstance(part, Math):
            out.append(f"${part.latex}$")
        else:
            out.append(str(part))
    return "".join(out)


# ---- names ------------------------------------------------------------------------------------------


def fresh_name(preferred: Sequence[str], taken: set) -> str:
    for name in preferred:
        if name not in taken:
            taken.add(name)
            return name
    k = 1
    while f"{preferred[0]}{k}" in taken:
        k += 1
    taken.add(f"{preferred[0]}{k}")
    return f"{preferred[0]}{k}"


def math_name(name: str) -> Math:
    """A name as each style writes it: W1 is W₁, W1 and W_{1}; lam is λ, lam and \\lambda."""
    return Math(unicode_name(name), name, latex_name(name))


# ---- the form of a rule: an operation with its long operands as placeholders ----------------------------


def rule_pattern(node: Node, keep: Callable[[Node], bool], taken: set) -> tuple[Node, dict]:
    """The node with its long operands replaced by placeholder variables U, V, ...: the rule's form.
    A squared norm keeps its norm (its rule is stated for ‖U‖²)."""
    stand_ins: dict[Node, Node] = {}
    pool = [p for p in PLACEHOLDERS if p not in taken]

    def stand_in(arg: Node) -> Node:
        if keep(arg):
            return arg
        if arg not in stand_ins:
            stand_ins[arg] = var(pool[len(stand_ins) % len(pool)], arg.shape)
        return stand_ins[arg]

    args = []
    for a in node.args:
        if node.op == "pow" and a.op == "norm2":
            args.append(make("norm2", (stand_in(a.args[0]),), (), ()))
        else:
            args.append(stand_in(a))
    return make(node.op, tuple(args), node.params, node.shape), stand_ins


def is_short(node: Node) -> bool:
    """An operand shown as it is in a rule (a leaf, or a short expression), not as a placeholder."""
    return not node.args or len(to_unicode(node)) <= SHORT


# ---- shared by the routes -------------------------------------------------------------------------------


def symmetric_words(x: Node, convention: str) -> list:
    if convention == "sym":
        return [x, " is symmetric: the gradient in the space of symmetric matrices, sym(G) = (G + Gᵀ)/2"]
    return [x, " is symmetric: the Matrix Cookbook's G + Gᵀ − G ⊙ I (by the free entries)"]


def zeros_like(x: Node) -> Node:
    return zeros(x.shape)
