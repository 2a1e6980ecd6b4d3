"""Whole questions written in LaTeX: `\\frac{\\partial AXB}{\\partial X}`,
`\\cfrac{\\partial W\\mathbf{x}}{\\partial W}`,
`\\frac{\\delta \\mathbf{D}}{\\delta \\mathbf{W}}` (D defined in `where`), `\\frac{df}{dW}, \\quad f(W) = …`
(f defined after the question), `\\frac{\\partial}{\\partial W} \\|W\\|_F^2` (the function after the operator),
`\\frac{\\partial f}{\\partial w}` with `w = vec(W)` declared (the derivative by W in vec form).

What is asked is read here: the function and the variable; taking the derivative is the calculus's
business, above this layer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ops
from ..dims import VarSpec, dim_symbols
from ..errors import MatdiffError, NotSupportedError, ParseError, UnknownNameError
from ..expr import Node
from .latex import checked_text, read_formula, tokenize
from .latex_declarations import declarations, plain_name, top_level_split, vec_forms

_FRACTIONS = ("frac", "cfrac", "dfrac", "tfrac")
# the differential written before the function and before the variable: ∂, δ (as some pages write it), d
_DIFFERENTIAL = re.compile(r"^\s*(?:\\partial|\\delta|∂|\\mathrm\s*\{\s*d\s*\}|\\operatorname\s*\{\s*d\s*\}|"
                           r"d(?![a-z]{2}))\s*(?:\\[,;!]\s*)*")


# what makes LaTeX a question rather than a formula: a ∂ or ∇ anywhere, or a leading \frac{d…} / \frac{\delta…}
_ASKS = re.compile(r"\\partial|\\nabla|∂|^\s*\\[cdt]?frac\s*\{\s*(?:\\delta|d)")


def is_question(text: str) -> bool:
    """Whether LaTeX text asks for a derivative (read it with `parse_latex_question`) rather than being a
    formula: the CLI and the page decide by this one test."""
    return _ASKS.search(text) is not None


@dataclass(frozen=True)
class Question:
    """A derivative asked: of `f` by the variable named `wrt`; with `vec_form`, by vec(wrt) (asked by a name
    declared `w = vec(W)`): d f / d vec(W), the layout the derivative of a vector by a matrix has."""
    f: Node
    wrt: str
    vec_form: bool = False


def parse_latex_question(text: str, where: "str | dict | None" = None) -> Question:
    """The function and the variable of a derivative asked in LaTeX."""
    checked_text(text, "question")
    variables, definitions = declarations(where)
    question, *rest = top_level_split(text, ",")
    for part in rest:  # f(W) = …, written after the question
        lhs, equals, body = part.partition("=")
        if not equals:
            raise ParseError(f"cannot read {part.strip()!r} after the question: a definition such as f(W) = … is")
        lhs = re.sub(r"\\(?:quad|qquad|[,;!])|\(.*\)", "", lhs)
        definitions[plain_name(lhs.strip(), part)] = body.strip()
    numerator, denominator, after = _fraction(question)
    of, by = _DIFFERENTIAL.match(numerator), _DIFFERENTIAL.match(denominator)
    if of is None or by is None:
        raise ParseError(f"{question.strip()!r} is not a derivative: write \\frac{{\\partial f}}{{\\partial X}}")
    written_f = numerator[of.end():].strip() or after.strip()
    if not written_f:
        raise ParseError("the question names no function to differentiate")
    if numerator[of.end():].strip() and after.strip():
        raise NotSupportedError(f"cannot read {after.strip()!r} after the derivative (a stated derivative, "
                                "∂f/∂X = …, is for verify)")
    wrt = plain_name(denominator[by.end():].strip(), question)
    by_vec = vec_forms(variables, definitions)
    if wrt in by_vec:  # w = vec(W): the derivative by w is the derivative by W in vec form
        return Question(read_formula(written_f, variables, definitions), by_vec[wrt], vec_form=True)
    if wrt not in variables or variables[wrt].is_function:
        declared = ", ".join(sorted(n for n, s in variables.items() if not s.is_function)) or "none"
        raise UnknownNameError(f"the derivative is asked by {wrt!r}, which is not a declared variable "
                               f"(declared: {declared})")
    return Question(read_formula(written_f, variables, definitions), wrt)


def _fraction(question: str) -> tuple[str, str, str]:
    """The numerator, the denominator and what follows, of the \\frac{…}{…} that opens `question`."""
    tokens = tokenize(question)
    if not (tokens[0].kind == "macro" and tokens[0].text in _FRACTIONS):
        raise ParseError(f"{question.strip()!r} does not ask for a derivative: write \\frac{{\\partial f}}"
                         "{\\partial X}")
    groups, at = [], 1
    for _ in range(2):
        if tokens[at].text != "{":
            raise ParseError("\\frac is followed by two groups {…}{…}")
        depth, opening = 0, tokens[at]
        while True:
            token = tokens[at]
            if token.kind == "end":
                raise ParseError("a group { of the fraction is not closed")
            depth += (token.text == "{") - (token.text == "}") if token.kind == "symbol" else 0
            at += 1
            if depth == 0:
                groups.append(question[opening.end:token.start])
                break
    return groups[0], groups[1], question[tokens[at].start:]


@dataclass(frozen=True)
class Claim:
    """A derivative stated: `question`'s answer is `claim`. With `cotangent` set, the claim is a
    vector-Jacobian product written with the upstream gradient (∂f/∂D in `∂f/∂W = ∂f/∂D X^T`), which
    stands in `claim` as the variable of that name, of the shape of `question.f`."""
    question: Question
    claim: Node
    cotangent: str | None = None


_UPSTREAM = re.compile(r"\\[cdt]?frac\s*\{\s*(?:\\partial|\\delta|∂|d)\s*f\s*\}\s*\{\s*(?:\\partial|\\delta|∂|d)\s*"
                       r"((?:\\mathbf\s*\{\s*)?[A-Za-z]\w*\s*\}?)\s*\}")


def parse_latex_claim(text: str, where: "str | dict | None" = None, cotangent: str = "G") -> Claim:
    """A stated derivative, `\\frac{\\partial f}{\\partial X} = …`: the question and the claimed answer.
    The last side of a chain `∂f/∂W = ∂f/∂D ∂D/∂W = …` is the claim."""
    sides = [side for side in top_level_split(text, "=")]
    if len(sides) < 2:
        raise ParseError("a stated derivative is written \\frac{\\partial f}{\\partial X} = …")
    question, claim = sides[0], sides[-1]
    variables, definitions = declarations(where)
    numerator = _fraction(question)[0]
    upstream = _UPSTREAM.search(claim)
    if upstream is not None and "f" not in definitions:  # ∂f/∂D X^T: the VJP of D with the cotangent ∂f/∂D
        through = plain_name(upstream.group(1), claim)
        if through not in definitions:
            raise UnknownNameError(f"{through} in ∂f/∂{through} is not defined (declare {through} = …)")
        asked = parse_latex_question(question.replace(numerator, numerator.replace("f", through, 1), 1), where)
        spec = VarSpec(cotangent, asked.f.shape, frozenset())
        read = read_formula(_UPSTREAM.sub(cotangent, claim), {**variables, cotangent: spec}, definitions)
        return Claim(asked, read, cotangent)
    asked = parse_latex_question(question, where)
    return Claim(asked, _read_claim(claim, variables, definitions, asked))


def _read_claim(claim: str, variables: dict[str, VarSpec], definitions: dict[str, str], asked: Question) -> Node:
    """The claimed derivative. An I written without its size where nothing beside it gives one (x^T ⊗ I)
    takes the size of a declared dimension that makes the claim the derivative's shape, when one alone does."""
    try:
        return read_formula(claim, variables, definitions)
    except ParseError as error:
        tokens = tokenize(claim)
        unsized = [t for t, after in zip(tokens, tokens[1:]) if t.kind == "name" and t.text == "I"
                   and not (after.kind == "symbol" and after.text == "_")]
        if not unsized or "I" in variables or "I" in definitions:
            raise
        by = ops.var_from_spec(variables[asked.wrt])
        shapes = {tuple(asked.f.shape) + tuple(ops.vec(by).shape)}
        if not asked.vec_form:
            shapes.add(tuple(asked.f.shape) + tuple(by.shape))
        sizes = sorted({str(d) for spec in variables.values() for d in dim_symbols(spec.shape)})
        readings = []
        for size in sizes:
            text = claim
            for token in reversed(unsized):
                text = f"{text[:token.end]}_{{{size}}}{text[token.end:]}"
            try:
                node = read_formula(text, variables, definitions)
            except MatdiffError:
                continue
            if tuple(node.shape) in shapes:
                readings.append(node)
        if len(readings) != 1:
            raise error
        return readings[0]
