"""The `Verdict` of a claimed derivative, and how it is written: text, Unicode, Markdown, JSON.

A verdict holds the judgement (*correct*, *correct up to a convention*, *wrong*), the diagnosis (a list
of `Finding`s, each a named confusion with its one-line explanation), the `Evidence` (both sides at the
first random point, their shapes, the relative error at every point) and the `Answer` (the correct
derivative in each form that applies). This module owns those types and their rendering; the
judgement is comparison.py's and diagnosis.py's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CORRECT, CONVENTION, WRONG = "correct", "correct up to a convention", "wrong"
VERDICTS = (CORRECT, CONVENTION, WRONG)


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a short name (`kind`) and its one-line explanation."""

    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.explanation}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "explanation": self.explanation}


@dataclass
class Evidence:
    """Both sides at the first random point, their shapes, and the relative error at every point.

    `compared_with` names the form of the true derivative the claim was held against (the full
    tensor, the vec form, or the convention the claim follows); `errors` is empty where no form of
    the derivative has the claim's shape.
    """

    points: int
    sizes: dict[str, int]
    claim_shape: str
    claim_value: np.ndarray
    true_shape: str
    written_shape: str
    compared_with: str
    true_value: np.ndarray
    errors: list[float] = field(default_factory=list)

    @property
    def max_error(self) -> float | None:
        """The largest relative error over the points (None where the shapes differ)."""
        return max(self.errors) if self.errors else None

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "sizes": dict(self.sizes), "claim_shape": self.claim_shape,
                "claim": _json_array(self.claim_value), "true_shape": self.true_shape,
                "written_shape": self.written_shape, "compared_with": self.compared_with,
                "true": _json_array(self.true_value), "errors": list(self.errors), "max_error": self.max_error}


@dataclass
class Answer:
    """The correct answer, as `derivative` (or `vjp`) gives it, in each form that applies."""

    text: str
    unicode: str
    latex: str
    kind: str
    layout: str
    matrix: str | None          # the derivative where a matrix (or vector) has its shape
    vec: str | None             # d vec(f) / d vec(X) where no matrix has the full tensor's shape
    index: str | None           # index (Einstein) notation, where matdiff has it
    backprop: str | None        # the backpropagation rule ∂φ/∂X for G = ∂φ/∂f (non-scalar f)
    conventions: dict[str, str] = field(default_factory=dict)  # symmetric variable: sym / cookbook / none

    def rows(self) -> list[tuple[str, str]]:
        rows = [("derivative", self.matrix), ("vec form", self.vec), ("index", self.index),
                ("backprop", self.backprop)]
        rows += [(f"symmetric={name}", text) for name, text in self.conventions.items()]
        return [(label, value) for label, value in rows if value]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "unicode": self.unicode, "latex": self.latex, "kind": self.kind,
                "layout": self.layout, "matrix": self.matrix, "vec": self.vec, "index": self.index,
                "backprop": self.backprop, "conventions": dict(self.conventions)}


@dataclass
class Verdict:
    """The judgement of a claimed derivative: `verdict`, `diagnosis`, `evidence` and `answer`."""

    expression: str
    wrt: str
    order: int
    claim: str
    claim_unicode: str
    cotangent: str | None
    verdict: str
    diagnosis: list[Finding]
    evidence: Evidence
    answer: Answer

    @property
    def correct(self) -> bool:
        """True for *correct* and for *correct up to a convention*."""
        return self.verdict != WRONG

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.diagnosis]

    def _lines(self, claim: str, answer: str) -> list[str]:
        what = "backpropagation rule" if self.cotangent else "derivative" if self.order == 1 else \
            "Hessian" if self.order == 2 else f"derivative of order {self.order}"
        lines = [f"verdict: {self.verdict}",
                 f"claim:   {claim}   as the {what} of {self.expression} by {self.wrt}"
                 + (f" (cotangent {self.cotangent} = ∂φ/∂f)" if self.cotangent else "")]
        if self.diagnosis:
            lines.append("diagnosis:")
            lines.extend(f"  - {finding}" for finding in self.diagnosis)
        e = self.evidence
        sizes = ", ".join(f"{k}={v}" for k, v in e.sizes.items()) or "none"
        lines.append(f"evidence ({e.points} random points; sizes at the first: {sizes}):")
        lines.append(_labelled(f"  claim ({e.claim_shape})", e.claim_value))
        lines.append(_labelled(f"  true, {e.compared_with} ({format_numeric(e.true_value.shape)})", e.true_value))
        if e.max_error is None:
            lines.append(f"  shapes differ: the claim is {e.claim_shape}, the derivative {e.true_shape}"
                         + (f" (written {e.written_shape})" if e.written_shape != e.true_shape else ""))
        else:
            lines.append(f"  largest relative error: {e.max_error:.2e} "
                         f"(per point: {', '.join(f'{x:.1e}' for x in e.errors)})")
        lines.append(f"answer:  {answer}   ({self.answer.layout})")
        lines.extend(f"  {label}: {value}" for label, value in self.answer.rows())
        return lines

    @property
    def text(self) -> str:
        return "\n".join(self._lines(self.claim, self.answer.text))

    @property
    def unicode(self) -> str:
        return "\n".join(self._lines(self.claim_unicode, self.answer.unicode))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Verdict({self.verdict!r}, claim={self.claim!r}, diagnosis={self.kinds})"

    def _repr_markdown_(self) -> str:
        head = f"**{self.verdict}**: `{self.claim}` for the derivative of `{self.expression}` by `{self.wrt}`"
        items = "\n".join(f"- *{f.kind}*: {f.explanation}" for f in self.diagnosis)
        error = self.evidence.max_error
        error_line = ("shapes differ" if error is None else f"largest relative error {error:.2e}") + \
            f" over {self.evidence.points} random points"
        return f"{head}\n\n{items}\n\n{error_line}; the answer: $${self.answer.latex}$$"

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "wrt": self.wrt, "order": self.order, "claim": self.claim,
                "cotangent": self.cotangent, "verdict": self.verdict,
                "diagnosis": [f.to_json() for f in self.diagnosis], "evidence": self.evidence.to_json(),
                "answer": self.answer.to_json()}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def format_numeric(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if shape else "scalar"


def _labelled(label: str, value: np.ndarray) -> str:
    value = np.asarray(value, dtype=float) + 0.0  # no "-0." in print
    text = np.array2string(value, precision=4, suppress_small=True, max_line_width=110, threshold=60)
    pad = " " * (len(label) + 3)
    return f"{label} = " + text.replace("\n", "\n" + pad)


def _json_array(value: np.ndarray) -> Any:
    array = np.asarray(value, dtype=float)
    return np.where(np.isfinite(array), array, None).tolist()  # JSON has no NaN: null
