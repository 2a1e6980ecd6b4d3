"""The report model both faces share: what `matdiff show`/`diff` print and what the page's API returns.

`Report` is an expression and, for a derivative, the derivative (and a VJP's cotangent);
`report_json` is its JSON object (`matdiff diff --format json`, and the core of the page's answers).
Stable: keys are never removed or renamed, and `show` and `diff` both emit every key.
`error_json` is a user error (`MatdiffError`) as JSON, for the same readers.

    {
      "expression": str,            # the parsed expression, in the expression language
      "unicode": str,               # the expression in Unicode notation
      "latex": str,                 # the expression in LaTeX
      "shape": [dim, ...],          # the expression's shape; [] for a scalar
      "variables": {name: {"shape": [dim, ...], "properties": [str, ...]}},
      "wrt": [str, ...],            # the variables differentiated by, in order; [] for `show`
      "bound": null | BOUND,        # the expression with where-bindings; null when it repeats nothing
      "derivative": null | {        # null for `show`
        "text": str, "unicode": str, "latex": str,
        "kind": str,                # gradient | jacobian | vec | derivative | hessian | vjp | ...
        "layout": str,              # a sentence naming the layout convention
        "shape": [dim, ...],
        "cotangent": null | str,    # the upstream-gradient name of a VJP (`--vjp G`)
        "index": null | str,        # the index (Einstein) form, e.g. "∂(W @ X)[i,j]/∂W[k,l] = δ[i,k] X[l,j]"
        "bound": null | BOUND       # the derivative with where-bindings; null when it repeats nothing
      }
    }
    BOUND = {"text": str, "unicode": str, "latex": str,  # assignments, the answer last (`matdiff.parse_block`)
             "names": [str, ...],   # the names bound, in dependency order (Z, P, sigma, T1, ...)
             "shorter": bool}       # shorter than the one-line form: what a screen shows
    A dim is an int (a fixed size) or a str: a symbol such as "n", or a product such as "m*n"
    (the length of vec(X) for an m×n X). For a VJP, "variables" includes the cotangent.

This module owns the data of a report, not its looks: the Rich panels, plain lines and Markdown
are the command line's (`cli.py`), the page's extra sections are `web/derive.py`'s. It sits
below both faces (outputs layer) and imports neither.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .api import Derivative, Expression
from .dims import Dim, Shape, VarSpec
from .errors import (DeclarationError, MatdiffError, NotSupportedError, ParseError, ShapeError, UnknownNameError,
                     ValueBindingError)


@dataclass(frozen=True)
class Report:
    """An expression and, for `diff`, its derivative: the one thing every output format renders."""

    expression: Expression
    derivative: Derivative | None = None
    cotangent: str | None = None

    @property
    def answer(self) -> Expression:
        """What a one-line format prints: the derivative when there is one."""
        return self.derivative if self.derivative is not None else self.expression

    @property
    def title(self) -> str:
        if self.derivative is None:
            return self.expression.text
        by = ", ".join(self.derivative.wrt)
        if self.cotangent is not None:
            return f"vjp of {self.expression.text} by {by} (cotangent {self.cotangent})"
        return f"{self.derivative.kind} of {self.expression.text} by {by}"


def dim_json(d: Dim) -> int | str:
    """A fixed size stays an int; a symbol or a product of symbols ("m*n") travels as text."""
    return d if isinstance(d, int) else str(d)


def shape_json(shape: Shape) -> list[int | str]:
    return [dim_json(d) for d in shape]


def variable_json(spec: VarSpec) -> dict[str, Any]:
    return {"shape": shape_json(spec.shape), "properties": sorted(spec.properties)}


def report_json(report: Report) -> dict[str, Any]:
    """The report as the JSON object of the module docstring."""
    e, d = report.expression, report.derivative
    variables = d.variables if d is not None else e.variables
    return {
        "expression": e.text,
        "unicode": e.unicode,
        "latex": e.latex,
        "shape": shape_json(e.shape),
        "variables": {name: variable_json(spec) for name, spec in variables.items()},
        "wrt": list(d.wrt) if d is not None else [],
        "bound": bound_json(e),
        "derivative": None if d is None else {
            "text": d.text,
            "unicode": d.unicode,
            "latex": d.latex,
            "kind": d.kind,
            "layout": d.layout,
            "shape": shape_json(d.shape),
            "cotangent": report.cotangent,
            "index": index_text(d),
            "bound": bound_json(d),
        },
    }


def bound_json(x: Expression) -> dict[str, Any] | None:
    """The bound form of an expression (its repeated subexpressions named), or None when it names nothing."""
    if not x.bindings.lines:
        return None
    return {"text": x.bound_text, "unicode": x.bound_unicode, "latex": x.bound_latex,
            "names": list(x.bindings.names), "shorter": x.prefers_bound}


def index_text(x: Expression) -> str | None:
    """The index (Einstein) form of a derivative, where there is one (not for a VJP)."""
    if getattr(x, "kind", "vjp") == "vjp":
        return None
    try:
        return x.index.text  # type: ignore[attr-defined]
    except MatdiffError:
        return None


# ---- errors -----------------------------------------------------------------------------------

ERROR_KINDS = ((ParseError, "parse"), (ShapeError, "shape"), (UnknownNameError, "unknown name"),
               (DeclarationError, "declaration"), (ValueBindingError, "values"), (NotSupportedError, "not supported"))
_CARET_LINE = re.compile(r" {4}( *)(\^+)\Z")
_SUGGESTIONS = re.compile(r"did you (?:mean|write) ([^?]+)\?")
_QUOTED = re.compile(r"'([^']*)'")


def error_json(error: Exception, kind: str | None = None) -> dict[str, Any]:
    """A user error as JSON: {"error", "message", "kind", "caret", "position", "suggestions"}.

    "error" is the whole text as the terminal shows it (caret lines included, like the page's
    400 answers); "message" the text without the caret lines; "kind" parse, shape, unknown name,
    declaration, values or not supported (or `kind`, for an error that is not a MatdiffError);
    "caret" the two lines under the message (the text, the carets) or null; "position" {"column",
    "length"} of the carets in the line shown (0-based) or null; "suggestions" the names a "did you
    mean ...?" offers. Read from the error as it is raised: `with_caret` and `close_matches`
    (`matdiff.errors`) write those parts in a fixed form.
    """
    text = str(error)
    lines = text.split("\n")
    caret = position = None
    if len(lines) >= 3 and (found := _CARET_LINE.match(lines[-1])):
        caret = "\n".join(lines[-2:])
        position = {"column": len(found.group(1)), "length": len(found.group(2))}
        lines = lines[:-2]
    message = "\n".join(lines)
    suggestions = [name for found in _SUGGESTIONS.finditer(message) for name in _QUOTED.findall(found.group(1))]
    kind = kind or next((word for family, word in ERROR_KINDS if isinstance(error, family)), "error")
    return {"error": text, "message": message, "kind": kind, "caret": caret, "position": position,
            "suggestions": suggestions}


__all__ = ["Report", "bound_json", "error_json", "index_text", "report_json", "shape_json", "variable_json"]
