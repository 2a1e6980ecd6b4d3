"""The one family of errors a user of matdiff can cause.

Every error raised because of user input (text that does not parse, shapes that do not fit, a
name nobody declared, values that disagree with the declarations) is a `MatdiffError`. Messages
point at the text with a caret where there is text, and name operands and shapes where shapes
are at fault.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class MatdiffError(Exception):
    """Base class of every error a user can cause."""


class ParseError(MatdiffError):
    """The text is not an expression of the language (shown with a caret under the position)."""


class ShapeError(MatdiffError):
    """Operands whose shapes do not fit the operation."""

    def __init__(self, message: str, operands: tuple = (), culprit=None) -> None:
        super().__init__(message)
        self.operands = operands
        self.culprit = culprit  # the operand at fault, where one is (an einsum operand whose axes disagree)


class UnknownNameError(MatdiffError):
    """A variable or function that is not declared or not part of the language."""


class DeclarationError(MatdiffError):
    """A malformed variable declaration (`"X: n×m, x: n"` or a shapes dictionary)."""


class ValueBindingError(MatdiffError):
    """Numeric values whose shapes disagree with the declarations or with each other."""


class NotSupportedError(MatdiffError):
    """A well-formed request that matdiff cannot answer (yet); the message says which part."""


def with_caret(message: str, text: str, start: int, end: int | None = None) -> str:
    """`message`, then the text with a caret (or a run of carets) under [start, end)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    column = start - line_start
    width = max(1, min((end if end is not None else start + 1), line_end) - start)
    return f"{message}\n    {line}\n    {' ' * column}{'^' * width}"


def close_matches(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'logdet'?)' for the nearest candidates, or '' when nothing is near."""
    found = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not found:
        lowered = [c for c in set(candidates) if c.lower() == name.lower()]
        found = sorted(lowered)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"
