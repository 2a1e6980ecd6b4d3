"""The `Derivation` that `explain` returns: its steps by section, their checks, and its printed forms.

A derivation holds the answer (and the backprop rule of a function that is not a scalar), the steps of
each route in order, the notes and the small example. This module owns how it is structured
(`section`, `chain_rule`, …), checked (`verify`, at a random point that honours spd/pos/sym), and printed:
plain text, Unicode, Markdown with LaTeX, a LaTeX fragment, JSON. The steps themselves are made by the
routes (chain.py, differential.py, index.py, notation.py, example.py).

The printed forms fit a screen without dropping a step: a chain-rule step of Ḡ ↦ Ḡ shares the line of the
step that continues from it (`chain_entries`), consecutive rewrites that only move a factor across the
Frobenius product are one line citing each identity (`differential_entries`), the layouts are one line
where each is the answer or its transpose. Each printed line is a step's claim; `steps` holds them all.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping

import numpy as np

from ..api import Derivative, Expression
from ..dims import VarSpec, dim_value, format_shape
from ..expr import Node
from ..language import to_latex, to_text, to_unicode
from ..ops import transpose
from ..ops.functions import stand_in_values
from .claims import Claim, DifferentialClaim, Point, checked
from .example import SmallExample, array_text
from .notation import derivative_label
from .steps import Step, markdown_parts, math_name
from .styles import STYLES, Math, Style, _bar, katex_blocks, render_parts

SECTIONS = ("chain", "differential", "index", "notation", "check")
SECTION_TITLES = {
    "chain": "Chain rule (reverse mode, outermost operation first)",
    "differential": "Differential route (write dφ = M : dX, read off ∂φ/∂X = M)",
    "index": "Index notation",
    "notation": "What the notation means",
    "check": "A small explicit check",
}


class Derivation:
    """A derivative shown step by step: the chain rule, the differential route, index notation, the notation
    used and a small 0/1 check. Prints as text, Unicode, Markdown (with LaTeX) and LaTeX; `steps` are
    structured, each with a checkable claim (`verify`)."""

    def __init__(self, function: Expression, x: Node, layout: str, answer: Derivative,
                 vjp_answer: Derivative | None, cotangent: Node | None, names: dict, steps: list[Step],
                 notes: list[Math], example: SmallExample | None, index_note: str, order: int,
                 gradient_node: Node | None, variables: Mapping[str, VarSpec]) -> None:
        self.function = function
        self.by = x
        self.wrt = x.params[0]
        self.layout = layout
        self.answer = answer
        self.vjp = vjp_answer
        self.cotangent = cotangent
        self.names = names
        self.steps = steps
        self.notes = notes
        self.example = example
        self.index_note = index_note
        self.order = order
        self.gradient = gradient_node
        self.variables = dict(variables)
        self.explained = gradient_node if gradient_node is not None else function.node  # what the routes differentiate

    # -- structure
    @property
    def sections(self) -> tuple[str, ...]:
        """The routes in the order shown: index notation first where the answer is an array of order ≥ 3,
        which a textbook derives entry by entry; the chain rule first otherwise."""
        if len(self.answer.node.shape) >= 3 or len(getattr(self.answer.by, "shape", ())) >= 3:
            return ("index",) + tuple(s for s in SECTIONS if s != "index")
        return SECTIONS

    def section(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.section == name]

    @property
    def chain_rule(self) -> list[Step]:
        return self.section("chain")

    @property
    def differential_route(self) -> list[Step]:
        return self.section("differential")

    @property
    def index_route(self) -> list[Step]:
        return self.section("index")

    @property
    def layouts(self) -> list[Step]:
        return self.section("notation")

    @property
    def claims(self) -> list[Claim]:
        return [s.claim for s in self.steps]

    # -- checking
    def random_point(self, seed: int = 0) -> Point:
        """A random point where the function is defined: sizes 2, 3, 4, ...; spd, pos and sym respected."""
        rng = np.random.default_rng(seed)
        specs = dict(self.variables)
        sizes: dict[str, int] = {}
        for spec in specs.values():
            for d in spec.shape:
                for symbol in ([d] if isinstance(d, str) else list(getattr(d, "symbols", ()))):
                    sizes.setdefault(symbol, 2 + len(sizes) % 3)
        values = {}
        for name, spec in specs.items():
            shape = tuple(dim_value(d, sizes) for d in spec.shape)
            if spec.is_function:  # a declared g: a fixed smooth function, and its derivatives
                values.update(stand_in_values(name))
            elif "spd" in spec.properties:
                a = rng.normal(size=shape)
                values[name] = a @ a.T / shape[0] + np.eye(shape[0])
            elif "pos" in spec.properties:
                values[name] = rng.uniform(0.5, 2.0, size=shape)
            else:
                v = rng.normal(scale=0.3 if "small" in spec.properties else 0.7, size=shape)
                values[name] = (v + v.T) / 2 if "sym" in spec.properties else v
        return Point(values, sizes)

    def verify(self, point: Point | None = None, seed: int = 0) -> list[tuple[Step, float]]:
        """Every step's claim checked at a point: [(step, relative error)]; errors ≲ 1e-6 hold."""
        point = point or self.random_point(seed)
        rng = np.random.default_rng(seed)
        return [(step, checked(step.claim, point, rng)) for step in self.steps]

    # -- spellings
    @property
    def title(self) -> Math:
        f = self.function.node
        fname, x = self.names["f"], math_name(self.wrt)
        if self.order == 2:
            return Math(f"Hessian of {to_unicode(self.names['objective_node'])} by {x.unicode}: the derivative of "
                        f"the gradient g = ∂f/∂{x.unicode}",
                        f"Hessian of {to_text(self.names['objective_node'])} by {self.wrt}: the derivative of "
                        f"the gradient g = df/d{self.wrt}",
                        rf"\text{{Hessian of }} {to_latex(self.names['objective_node'])}")
        if not f.shape:
            return Math(f"∂φ/∂{x.unicode} for φ = {to_unicode(f)}", f"dphi/d{self.wrt} for phi = {to_text(f)}",
                        rf"\frac{{\partial\varphi}}{{\partial {x.latex}}},\ \varphi = {to_latex(f)}")
        return Math(f"∂{fname.unicode}/∂{x.unicode} for {fname.unicode} = {to_unicode(f)}",
                    f"d{fname.text}/d{self.wrt} for {fname.text} = {to_text(f)}",
                    rf"\frac{{\partial {fname.latex}}}{{\partial {x.latex}}},\ {fname.latex} = {to_latex(f)}")

    def _declarations(self) -> str:
        return ", ".join(f"{name}: {format_shape(spec.shape)}" + "".join(f" {p}" for p in sorted(spec.properties))
                         for name, spec in self.function.variables.items())

    def _answer_lines(self, style: Style) -> list[str]:
        a, x = self.answer, math_name(self.wrt)
        what = derivative_label(self.explained, self.by, self.names) if self.explained.shape else \
            Math(f"∂φ/∂{x.unicode}", f"dphi/d{x.text}", rf"\partial\varphi/\partial {x.latex}")
        lines = [f"{what.in_style(style)} = {self._own(a, style)}   [{a.shape_text}; {style.words(a.layout)}]"]
        lines += self._where(a, style)
        chosen = self.chosen_layout
        if chosen is not None and chosen.expression is not a.node:  # the layout asked for, next to the answer
            lines.append(f"{style.words(f'in {self.layout} layout (chosen): ')}{style.expr(chosen.expression)}")
        if self.vjp is not None:
            g = math_name(self.cotangent.params[0]).in_style(style)
            phi = f"{style.phi} = {g} {style.frob} {self.names['f'].in_style(style)}"
            what = "Hessian-vector product" if self.order == 2 else "backprop rule"
            lines.append(f"{what} ({phi}): {style.gradient(style.phi, x.in_style(style))} = "
                         f"{self._own(self.vjp, style)}")
            lines += self._where(self.vjp, style, given=a)
        return lines

    @staticmethod
    def _where(answer: Expression, style: Style, given: Expression | None = None) -> list[str]:
        """The bindings `answer` is shown with, as lines under it: where σ = ..., T₁ = ...; less those the
        answer `given` above it showed already (layer norm's σ under its Jacobian and its backprop rule)."""
        if not answer.prefers_bound:
            return []
        shown = set(given.bindings.rows(style.name)) if given is not None and given.prefers_bound else set()
        rows = [row for row in answer.bindings.rows(style.name) if row not in shown]
        return [f"{style.words('where') if i == 0 else '     '} {name} = {rhs}" for i, (name, rhs) in enumerate(rows)]

    def _own(self, answer: Expression, style: Style) -> str:
        """`answer` written with the names of its own bindings where it is shown with them (`style.expr`
        writes those of `naming`, which the steps use)."""
        if answer is self.naming or not answer.prefers_bound:
            return style.expr(answer.node)
        return _bar(answer.bindings.render(answer.node, style.name), style)

    @property
    def naming(self) -> Expression | None:
        """The answer whose bindings name what every step writes (σ, P, dP, T₁): the backprop rule's where it
        is shown with bindings, as its steps are the chain rule's (attention's P and dP, not the T₁ and T₂ of
        its Jacobian in vec form); else the answer's; None where neither is shown with bindings."""
        if self.vjp is not None and self.vjp.prefers_bound:
            return self.vjp
        return self.answer if self.answer.prefers_bound else None

    @property
    def chosen_layout(self) -> Step | None:
        """The notation section's step for the layout asked for (`layout`)."""
        return next((s for s in self.layouts if s.rule.startswith(f"{self.layout} (chosen)")), None)

    def style_for(self, name: str) -> Style:
        """The style ("text", "unicode", "latex") this derivation writes in: the parts the answer's bindings
        name (σ, P, T₁) are written by those names in every step, where the answer is shown with its bindings
        (that form is the shorter)."""
        style = STYLES[name]
        if self.naming is None:
            return style
        named = copy.copy(style)
        bound = self.naming.bindings
        named.expr = lambda node: _bar(bound.render(node, name), style)
        named.named = frozenset(bound.leaves)
        return named

    def render(self, style_name: str = "unicode") -> str:
        """The derivation as plain text ("text": expressions in the language) or Unicode."""
        style = self.style_for(style_name)
        lines = [f"Explain {self.title.in_style(style)}   ({self._declarations()})"]
        titles = {k: style.words(v) for k, v in SECTION_TITLES.items()}
        for position, line in enumerate(self._answer_lines(style)):
            lines.append(("Answer: " if position == 0 else "        ") + line)
        number = 0
        for section in self.sections:
            steps = self.section(section)
            if section == "check":
                if self.example is not None:
                    number += 1
                    lines.append("")
                    lines.append(f"{number}. {titles[section]} ({self.example.where})")
                    lines.extend(self._example_lines(style))
                continue
            if section == "notation":
                number += 1
                lines.append("")
                lines.append(f"{number}. {titles[section]}")
                for note in self.notes:
                    lines.append("   " + note.in_style(style))
                lines.append(style.words("   Layouts (numerator: entries of f down, of the variable across; "
                                         "denominator: transposed; mixed: gradients shaped like the variable, "
                                         "Jacobians as in numerator):"))
                rows = _layout_rows([step.rule_in(style) for step in steps],
                                    [self._layout_tail(step, style) for step in steps])
                if len(rows) == 1:  # each layout the answer or its transpose: one line
                    lines[-1] += " " + rows[0]
                else:
                    lines += [f"     {row}" for row in rows]
                continue
            if not steps and not (section == "index" and self.index_note and self.explained.shape):
                continue
            number += 1
            lines.append("")
            if section == "chain":  # the start (∂φ/∂φ = 1, or the upstream gradient G) in the title
                start = render_parts(steps[0].rule_parts[1:], style)
                lines.append(f"{number}. {titles[section]}, {style.words('starting from')} {start}")
                lines.extend(self._chain_lines(steps, style))
                continue
            lines.append(f"{number}. {titles[section]}")
            if section == "differential":
                lines.extend(self._differential_lines(steps, style))
            else:
                for step in steps:
                    lines.append(f"   {step.claim.render(style)}")
                if self.index_note:
                    lines.append(f"   ({self.index_note})")
        return "\n".join(lines)

    def _chain_lines(self, steps: list[Step], style: Style) -> list[str]:
        lines = []
        for k, entry in enumerate(chain_entries(steps)):
            if k == 0:  # the start, written in the section's title
                continue
            step = entry[-1]
            rule, claim = f"   {k}. {entry_rule(entry, style)}", f"{step.claim.render(style)}   [{step.shape_text}]"
            if step.passes_through or step.contributions:  # Ḡ ↦ Ḡ to a variable, or a sum: one line
                lines.append(f"{rule}{', so ' if step.passes_through else ': '}{claim}")
            else:
                lines += [rule, f"      {claim}"]
        return lines

    def _layout_tail(self, step: Step, style: Style) -> str:
        if step.expression is self.answer.node:
            return " = the answer"
        if step.expression is transpose(self.answer.node):
            return " = the answer transposed" if style.name != "unicode" else " = (the answer)ᵀ"
        return f": {style.expr(step.expression)}"

    def _differential_lines(self, steps: list[Step], style: Style) -> list[str]:
        lines = []
        previous = None
        for entry in differential_entries(steps):
            claim = entry[-1].claim
            details = [m for step in entry for m in step.details]
            if isinstance(claim, DifferentialClaim):
                lhs, rhs = claim.render(style).split(" = ", 1)
                shown = " " * len(lhs) if lhs == previous else lhs
                previous = lhs
                rules = ": " + "; ".join(m.in_style(style) for m in details) if details else ""
                lines.append(f"   {shown} = {rhs}   [{entry_rule(entry, style)}{rules}]")
            else:
                previous = None
                lines.append(f"   {style.implies} {claim.render(style)}   [{entry_rule(entry, style)}]")
        return lines

    def _example_lines(self, style: Style) -> list[str]:
        ex = self.example
        lines = ["   " + a for a in ex.assignments()]
        for item in ex.items:
            if not item.printed:
                lines.append(f"   {item.name.in_style(style)} {_comparison(item)}")
                continue
            lines.append(f"   {item.label.in_style(style)}")
            lines.append(f"     formula:            {array_text(item.formula_value, 25)}")
            lines.append(f"     central difference: {array_text(item.reference, 25)}")
            lines.append(f"     {_comparison(item)}")
        return lines

    @property
    def text(self) -> str:
        return self.render("text")

    @property
    def unicode(self) -> str:
        return self.render("unicode")

    def __str__(self) -> str:
        return self.unicode

    def __repr__(self) -> str:
        return f"Derivation({self.title.unicode!r}, {len(self.steps)} steps)"

    @property
    def markdown(self) -> str:
        """Markdown with LaTeX math ($…$, $$…$$): renders in Jupyter and on GitHub."""
        style = self.style_for("latex")
        out = [f"### ${self.title.latex}$", "", f"Variables: `{self._declarations()}`", ""]
        x = math_name(self.wrt).latex
        what = derivative_label(self.explained, self.by, self.names).latex if self.explained.shape \
            else rf"\frac{{\partial\varphi}}{{\partial {x}}}"
        out.append(f"**Answer** ({self.answer.layout}):\n\n$${self._answer_latex(what, style)}$$")
        chosen = self.chosen_layout
        if chosen is not None and chosen.expression is not self.answer.node:
            out.append(f"In {self.layout} layout (chosen): ${to_latex(chosen.expression)}$")
        if self.vjp is not None:
            g = math_name(self.cotangent.params[0]).latex
            what = "Hessian-vector product" if self.order == 2 else "Backprop rule"
            rule = self._answer_latex(rf"\frac{{\partial\varphi}}{{\partial {x}}}", style, expression=self.vjp)
            out.append(f"**{what}** (upstream gradient ${g} = \\partial\\varphi/\\partial "
                       f"{self.names['f'].latex}$):\n\n$${rule}$$")
        number = 0
        for section in self.sections:
            steps = self.section(section)
            if section == "check":
                if self.example is None:
                    continue
                number += 1
                out += ["", f"#### {number}. {SECTION_TITLES[section]}", "", "```python", "import numpy as np"]
                out += self.example.assignments()
                out.append("```")
                for item in self.example.items:
                    if not item.printed:
                        out += ["", f"- {item.name.unicode} {_comparison(item)}"]
                        continue
                    out += ["", f"- {item.label.unicode}", "```python",
                            f"formula = {array_text(item.formula_value, 10)}",
                            f"central_difference = {array_text(item.reference, 21)}", "```", _comparison(item)]
                continue
            if not steps and section != "notation":
                continue
            number += 1
            if section == "chain":  # as in the text: the start in the title, a step of Ḡ ↦ Ḡ or a sum one line
                start = markdown_parts(steps[0].rule_parts[1:])
                out += ["", f"#### {number}. {SECTION_TITLES[section]}, starting from {start}", ""]
                for k, entry in enumerate(chain_entries(steps)[1:], start=1):
                    step = entry[-1]
                    rule, claim = ", then ".join(s.rule_markdown() for s in entry), step.claim.render(style)
                    joint = ", so " if step.passes_through else ": " if step.contributions else "  \n   "
                    out.append(f"{k}. {rule}{joint}${claim}$ &nbsp; (${_shape_latex(step.shape)}$)")
                continue
            out += ["", f"#### {number}. {SECTION_TITLES[section]}", ""]
            if section == "differential":
                rows = []
                for entry in differential_entries(steps):
                    claim = entry[-1].claim
                    body = claim.render(style)
                    tag = entry_rule(entry, style)
                    if isinstance(claim, DifferentialClaim):
                        lhs, rhs = body.split(" = ", 1)
                        rows.append(f"{lhs} &= {rhs} && {tag}")
                    else:
                        rows.append(rf"&\Rightarrow {body} && {tag}")
                out += ["$$\n\\begin{aligned}\n" + " \\\\\n".join(block) + "\n\\end{aligned}\n$$"
                        for block in katex_blocks(rows)]
                details = [m.latex for s in steps for m in s.details]
                if details:
                    out.append("by " + ", ".join(f"${d}$" for d in details))
            elif section == "index":
                for step in steps:
                    out.append(f"- {step.rule}: ${step.claim.render(style)}$")
                if self.index_note:
                    out.append(f"- ({self.index_note})")
            else:
                for note in self.notes:
                    out.append(f"- {note.unicode}")
                tails = [self._layout_tail(step, style) for step in steps]
                tails = [t if t.startswith(" = ") else f": ${to_latex(s.expression)}$" for s, t in zip(steps, tails)]
                out += [f"- {row}" for row in _layout_rows([step.rule for step in steps], tails)]
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _answer_latex(self, what: str, style: Style, answer: str | None = None,
                      expression: Expression | None = None) -> str:
        """`what = the answer` (or `expression`) in LaTeX; with its bindings, an aligned block: the answer,
        then where Z = ..."""
        a = self.answer if expression is None else expression
        if not a.prefers_bound:
            return f"{what} = {style.expr(a.node) if answer is None else answer}"
        rows = [f"{what} &= {self._own(a, style) if answer is None else answer}"]
        where = r"\text{where}\quad "
        rows += [f"{where if i == 0 else ''}{name} &= {rhs}"
                 for i, (name, rhs) in enumerate(a.bindings.rows("latex"))]
        return r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}"

    @property
    def latex(self) -> str:
        """A LaTeX fragment (amsmath): the routes as aligned equations, each line tagged with its rule."""
        style = self.style_for("latex")
        out = [rf"\paragraph{{Derivative}} ${self.title.latex}$."]
        what, answer = self._answer_lines(style)[0].split("   [")[0].split(" = ", 1)
        out.append(r"\[" + self._answer_latex(what, style, answer) + r"\]")
        for section in ("chain", "differential", "index", "notation"):
            steps = self.section(section)
            if not steps:
                continue
            title = SECTION_TITLES[section].replace("φ", r"$\varphi$").replace("∂", r"$\partial$")
            out.append(r"\paragraph{" + title + "}")
            entries = chain_entries(steps) if section == "chain" else \
                differential_entries(steps) if section == "differential" else [(step,) for step in steps]
            rows = [rf"{entry[-1].claim.render(style)} && {entry_rule(entry, style)}" for entry in entries]
            out += ["\\begin{align*}\n" + " \\\\\n".join(block) + "\n\\end{align*}" for block in katex_blocks(rows)]
        if self.example is not None:
            out.append(r"\paragraph{A small explicit check}")
            out.append("\\begin{verbatim}\n" + "\n".join(self.example.assignments()) + "\n" + "\n".join(
                f"{item.label.text}\nformula = {array_text(item.formula_value, 10)}\n"
                f"central_difference = {array_text(item.reference, 21)}\n{_comparison(item)}" if item.printed
                else f"{item.name.text} {_comparison(item, ' x ')}"
                for item in self.example.items) + "\n\\end{verbatim}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        ex = self.example
        return {
            "function": self.function.text,
            "wrt": self.wrt,
            "order": self.order,
            "layout": self.layout,
            "answer": {"text": self.answer.text, "unicode": self.answer.unicode, "latex": self.answer.latex,
                       "kind": self.answer.kind, "layout": self.answer.layout,
                       "shape": [d if isinstance(d, int) else str(d) for d in self.answer.shape]},
            "vjp": None if self.vjp is None else {"text": self.vjp.text, "unicode": self.vjp.unicode,
                                                  "cotangent": self.cotangent.params[0]},
            "steps": [s.to_dict() for s in self.steps],
            "notes": [n.unicode for n in self.notes],
            "check": None if ex is None else {
                "sizes": ex.sizes, "values": {k: np.asarray(v).tolist() for k, v in ex.values.items()},
                "items": [{"label": i.label.unicode, "formula": np.asarray(i.formula_value).tolist(),
                           "central_difference": np.asarray(i.reference).tolist(), "error": i.error}
                          for i in ex.items]},
        }

    @property
    def json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def _layout_rows(rules: list[str], tails: list[str]) -> list[str]:
    """The layouts, one a row ("numerator: …, transposed: Xᵀ"); where each is the answer or its transpose, one
    row: "numerator (…) = the answer; denominator (…) = (the answer)ᵀ; mixed (chosen; …) = the answer"."""
    if not all(tail.startswith(" = ") for tail in tails):
        return [rule + tail for rule, tail in zip(rules, tails)]
    shown = []
    for rule, tail in zip(rules, tails):
        name, _, description = rule.partition(": ")
        if name.endswith(" (chosen)"):
            name, description = name[:-len(" (chosen)")], f"chosen; {description}"
        shown.append(f"{name} ({description}){tail}")
    return ["; ".join(shown)]


def chain_entries(steps: list[Step]) -> list[tuple[Step, ...]]:
    """The chain rule's steps as printed, one entry a line: a step whose rule is the identity (Ḡ ↦ Ḡ, an
    addition of a constant) shares the entry of the step that continues from the gradient it passes on,
    whose claim the entry shows (its own claim states the gradient just shown, unchanged)."""
    entries: list[tuple[Step, ...]] = []
    pending: list[Step] = []
    for k, step in enumerate(steps):
        pending.append(step)
        following = steps[k + 1] if k + 1 < len(steps) else None
        continues = following is not None and following.operation is not None and \
            following.operation is getattr(step.claim, "target", None) and not getattr(step.claim, "path", ())
        if k > 0 and step.passes_through and continues:
            continue
        entries.append(tuple(pending))
        pending = []
    return entries


def differential_entries(steps: list[Step]) -> list[tuple[Step, ...]]:
    """The differential route's steps as printed: consecutive rewrites that only move a factor across the
    Frobenius product are one line, citing each identity, showing the last one's form."""
    entries: list[tuple[Step, ...]] = []
    for step in steps:
        if step.moves_across and entries and entries[-1][-1].moves_across:
            entries[-1] += (step,)
        else:
            entries.append((step,))
    return entries


def entry_rule(entry: tuple[Step, ...], style: Style) -> str:
    """The rules of an entry's steps: "addition U + β: Ḡ ↦ Ḡ, then division …"; identities with "; "."""
    if entry[0].section == "chain":
        return style.words(", then ").join(step.rule_in(style) for step in entry)
    return style.words("; ").join(dict.fromkeys(step.rule_in(style) for step in entry))  # each identity once


def _comparison(item, times: str = "×") -> str:
    """The verdict of one comparison of the small check; for a Jacobian too large to print, what was compared."""
    size = item.size_text.replace("×", times)
    what = "" if item.printed else f"({size}, not printed) against central differences: "
    return f"{what}max relative difference {item.error:.1e}: {'agree' if item.error <= 1e-6 else 'DISAGREE'}"


def _shape_latex(shape: tuple) -> str:
    return r"\text{scalar}" if not shape else r" \times ".join(str(d) for d in shape)
