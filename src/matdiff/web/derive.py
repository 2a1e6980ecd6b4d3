"""The answers behind the page: `POST /api/derive` and `POST /api/variables`, as plain functions.

`derive(request)` takes the page's request, {"expression", "where", "wrt", "order", "vjp"} (and,
optionally, "syntax", "symmetric" and a "claim" to judge), and returns the report both faces share
(`matdiff.report.report_json`, the schema in `matdiff.report`'s docstring) plus the page's sections:

    "read"     {"syntax", "function", "wrt", "question"}   how the expression was read: its syntax, the
                                                   function in the expression language, the variables
                                                   differentiated by, and whether a LaTeX question gave them
    "index"    {"text", "unicode", "latex"}         the derivative in index notation (`Derivative.index`;
                                                   for a VJP, of the derivative the rule transposes)
    "vec"      {"text", "unicode", "latex", "note"} the derivative as d vec(f) / d vec(X)
    "steps"    [{"section", "title", "text", "latex", "note"}]   how it comes about (`matdiff.explain`)
    "code"     {"numpy": source, "jax": ..., "torch": ...}      generated code (`matdiff.codegen`)
    "check"    {"ok", "text", "rows", "note"}       a numeric check (`matdiff.check`): not from
                                                   `derive` but from `check(request)`, which the server
                                                   runs after it, on its own workers and time limit
    "verdict"  {"verdict", "correct", "diagnosis", "text"}      the user's own answer judged, when a
                                                   "claim" is sent (`matdiff.verify`)

A section whose feature the installed library lacks is absent, so the page shows each feature as
it lands; a section that fails on this input holds {"error": message} instead, so that one
unfinished feature never hides the derivative.

"syntax" is the language of "expression": "matdiff" (the default), "latex" (`md.parse_latex`; the
declarations may be LaTeX too) or "matrixcalculus" (matrixcalculus.org's, `md.parse(..., syntax=...)`).
In LaTeX the expression may be a whole question, `\\frac{\\partial}{\\partial W} \\|XW - Y\\|_F^2`: then the
question names the variable and "wrt" may be left out (given, it must agree), as `matdiff diff --latex`
reads it.

Errors: a `matdiff.MatdiffError` (the text, the shapes, a name) propagates, message and caret
intact; a request that is not of the form above, or a text field over `MAX_TEXT` characters (never
cut short: the page says so too), raises `RequestError`. Both are the user's to fix; the server
turns them into 400 {"error": message}.

This module owns the shape of the page's answers; it computes nothing itself (`matdiff.api`
does), knows nothing of HTTP (`server.py`) and runs inside a worker process, under a time limit.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import matdiff
from matdiff.api import SYNTAXES as LANGUAGE_SYNTAXES
from matdiff.api import Derivative, Expression, derivative, parse, parse_latex, vjp
from matdiff.language.latex_declarations import declarations as latex_declarations
from matdiff.language.latex_questions import is_question, parse_latex_question
from matdiff.report import Report, report_json
from matdiff.dims import VarSpec, format_shape, parse_declarations

MAX_ORDER = 4  # higher derivatives are correct but grow fast; the page has a time limit anyway
MAX_TEXT = 4000  # characters per text field; the page's inputs say the same (static/index.html, data-limit)
BACKENDS = ("numpy", "jax", "torch")
FIELDS = ("expression", "syntax", "where", "wrt", "mixed", "order", "vjp", "symmetric", "claim")
SYNTAXES = (*LANGUAGE_SYNTAXES, "latex")  # md.parse's languages, and LaTeX (md.parse_latex)


class RequestError(ValueError):
    """A request that is not of the documented form (a missing field, a field of the wrong type)."""


# ---- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """What the page asks: the derivative of `expression` by `wrt`, or its VJP for `cotangent`."""

    expression: str
    syntax: str                # the expression's language: one of SYNTAXES
    where: str                 # the declarations, "W: m×q, X: q×n" (or LaTeX, with syntax "latex")
    wrt: tuple[str, ...]       # one name, or several for a mixed derivative; () while a LaTeX question names it
    order: int
    cotangent: str | None      # the upstream gradient's name for a VJP, else None
    symmetric: str | None      # the convention for sym/spd variables; None: the engine's default
    claim: str | None          # the user's own answer, to be judged


def _text_field(request: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = request.get(name, default)
    if not isinstance(value, str):
        raise RequestError(f'"{name}" must be text, got {type(value).__name__}')
    if len(value) > MAX_TEXT:
        raise RequestError(f'"{name}" is {len(value)} characters long; at most {MAX_TEXT} are accepted '
                           "(nothing was cut short)")
    return value


def _read_request(request: Any) -> PageRequest:
    """The request, checked field by field."""
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object")
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    expression = _text_field(request, "expression")
    if not expression.strip():
        raise RequestError("type an expression to differentiate, e.g. W @ X")
    syntax = _syntax(request)
    where = _text_field(request, "where", "")
    wrt = request.get("wrt")
    question = syntax == "latex" and is_question(expression)
    if question and wrt in (None, "", []):
        wrt = []  # the question names its variable (`read_function`)
    elif isinstance(wrt, str):
        wrt = [wrt]
    if not isinstance(wrt, list) or not (wrt or question) or not all(isinstance(w, str) and w for w in wrt):
        raise RequestError('"wrt" must name the variable to differentiate by, e.g. "W"' +
                           (" (or, in LaTeX, ask the question: \\frac{\\partial}{\\partial W} …)"
                            if syntax == "latex" else ""))
    order = request.get("order", 1)
    if order is None:
        order = 1
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise RequestError(f'"order" must be a whole number from 1 to {MAX_ORDER}, got {order!r}')
    cotangent = request.get("vjp")
    if cotangent is True:
        cotangent = "G"
    elif cotangent is False or cotangent == "":
        cotangent = None
    if cotangent is not None and not isinstance(cotangent, str):
        raise RequestError('"vjp" must be false, true or the upstream gradient\'s name, e.g. "G"')
    if cotangent is not None and (len(wrt) > 1 or order != 1):  # none: the one a question names
        raise RequestError("a VJP is by one variable, of order 1")
    if len(wrt) > 1 and order != 1:
        raise RequestError('give either "order" or several "wrt" variables, not both')
    mixed = request.get("mixed", False)
    if not isinstance(mixed, bool):
        raise RequestError('"mixed" must be true or false')
    if len(wrt) > 1 and not mixed:  # as the CLI: several variables are the mixed derivative only when asked so
        raise RequestError('several "wrt" variables give the mixed derivative d/d' + wrt[-1] + ' of d/d' + wrt[0] +
                           ' f only with "mixed": true; for the gradient by each, ask once per variable')
    if mixed and len(wrt) < 2:
        raise RequestError('"mixed": true needs two "wrt" variables, e.g. ["W", "X"]')
    if question and len(wrt) > 1:
        raise RequestError('a LaTeX question asks for the derivative by one variable: leave "wrt" out')
    symmetric = request.get("symmetric")
    if symmetric is not None and not isinstance(symmetric, str):
        raise RequestError('"symmetric" must be text: sym, cookbook or none')
    claim = request.get("claim")
    if claim is not None and not isinstance(claim, str):
        raise RequestError('"claim" must be text: your answer, in the expression language')
    if claim is not None:
        claim = _text_field(request, "claim")
    return PageRequest(expression, syntax, where, tuple(wrt), order, cotangent, symmetric,
                       (claim or "").strip() or None)


def _syntax(request: Mapping[str, Any]) -> str:
    syntax = request.get("syntax", "matdiff")
    if syntax is None:
        return "matdiff"
    if syntax not in SYNTAXES:
        shown = repr(syntax) if isinstance(syntax, str) else type(syntax).__name__
        raise RequestError(f'"syntax" must be one of {", ".join(SYNTAXES)}, got {shown}')
    return syntax


def read_function(asked: PageRequest) -> tuple[Expression, PageRequest, bool]:
    """The expression read in its syntax; the request with the variable a LaTeX question asks for; and
    whether the text was such a question (the rules of `matdiff diff --latex`)."""
    if asked.syntax != "latex":
        return parse(asked.expression, asked.where, syntax=asked.syntax), asked, False
    if not is_question(asked.expression):
        return parse_latex(asked.expression, asked.where), asked, False
    question = parse_latex_question(asked.expression, asked.where)
    if asked.wrt and asked.wrt != (question.wrt,):
        raise RequestError(f'the question asks for the derivative by {question.wrt}, not by '
                           f'{", ".join(asked.wrt)}: leave "wrt" out, or give {question.wrt}')
    function = Expression(question.f, latex_declarations(asked.where)[0])
    return function, replace(asked, wrt=(question.wrt,)), True


# ---- the answers ------------------------------------------------------------------------------


def variables(request: Any) -> dict[str, Any]:
    """POST /api/variables: the declared variables, for the page's "with respect to" choice, and the features."""
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object")
    syntax = _syntax(request)
    where = _text_field(request, "where", "")
    declared = latex_declarations(where)[0] if syntax == "latex" else parse_declarations(where)
    if syntax == "matrixcalculus" and request.get("expression"):
        # matrixcalculus.org types the names nobody declared by their first letter: offer those as well
        try:
            declared = {**declared, **parse(_text_field(request, "expression"), where, syntax=syntax).variables}
        except matdiff.MatdiffError:
            pass  # an expression still being typed: the declared names, until it reads
    return {"variables": {name: {"shape": [d if isinstance(d, int) else str(d) for d in spec.shape],
                                 "shape_text": format_shape(spec.shape), "properties": sorted(spec.properties)}
                          for name, spec in declared.items()},
            "features": features()}


def features() -> dict[str, bool]:
    """Which of the optional sections this installation can give (the page hides the others' inputs)."""
    return {name: callable(getattr(matdiff, name, None)) for name in ("explain", "codegen", "check", "verify")}


def derive(request: Any) -> dict[str, Any]:
    """POST /api/derive: the shared JSON report of the derivative, plus the page's sections (not the check)."""
    function, asked, question = read_function(_read_request(request))
    options = {} if asked.symmetric is None else {"symmetric": asked.symmetric}
    if asked.cotangent is not None:
        result = vjp(function, asked.wrt[0], cotangent=asked.cotangent, **options)
    else:
        result = derivative(function, asked.wrt, order=asked.order, **options)
    answer = report_json(Report(function, result, asked.cotangent))
    answer["read"] = {"syntax": asked.syntax, "function": function.text, "wrt": list(asked.wrt),
                      "question": question}
    if hasattr(Derivative, "index"):
        # a backpropagation rule has no index form of its own: show the one of the derivative it transposes
        indexed = (lambda: derivative(function, asked.wrt[0])) if asked.cotangent is not None else (lambda: result)
        answer["index"] = _section(lambda: _forms(indexed().index))
    answer["vec"] = _section(lambda: vec_section(function, result, asked.cotangent))
    for name, build in (("steps", steps_section), ("code", code_section), ("verdict", verdict_section)):
        section = build(function, result, asked)
        if section is not None:
            answer[name] = section
    return answer


def _section(build: Callable[[], Any]) -> Any:
    """A section, or {"error": message} when building it fails: the derivative is still worth showing."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - optional sections come from features still being written
        return {"error": f"{type(error).__name__}: {error}" if not isinstance(error, matdiff.MatdiffError)
                else str(error)}


def _forms(x: Any) -> dict[str, str]:
    return {"text": x.text, "unicode": x.unicode, "latex": x.latex}


def vec_section(function: Expression, d: Derivative, cotangent: str | None = None) -> dict[str, str]:
    """The derivative as d vec(f) / d vec(X) (column-major), with a sentence saying how it relates."""
    by = d.wrt[-1]
    if d.kind == "vjp":
        jacobian = derivative(function, by)
        return {**_forms(jacobian), "note": f"J = d vec(f) / d vec({by}); the VJP is Jᵀ vec({cotangent}), "
                                            f"reshaped to the shape of {by}"}
    if d.kind == "gradient" and len(d.shape) == 2:
        return {**_forms(parse(f"vec({d.text})", d.variables)),
                "note": f"d f / d vec({by}) = vec(∇f)ᵀ, column-major vec"}
    if d.kind == "derivative" and len(d.shape) == 2:
        return {**_forms(parse(f"vec({d.text})", d.variables)), "note": f"d vec(f) / d{by} = vec(∂f/∂{by})"}
    return {**_forms(d), "note": f"the derivative above is already in this form ({d.layout})"}


def _call(feature: Callable, *args: Any, **options: Any) -> Any:
    """Call a feature with the options its signature accepts (features still in progress may lack some)."""
    try:
        parameters = inspect.signature(feature).parameters
    except (TypeError, ValueError):
        return feature(*args, **options)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return feature(*args, **options)
    return feature(*args, **{k: v for k, v in options.items() if k in parameters})


def _plain(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else getattr(value, "text", None) or str(value)


def _step_json(step: Any, section_titles: Mapping[str, str],
               styles: Mapping[str, Any] | None = None) -> dict[str, str]:
    """One step of `matdiff.explain`, whatever form it takes (a dict, an object, text), as title/text/latex;
    with `styles` (where the page shows the answer with its bindings) its claim written with the same names."""
    if isinstance(step, str):
        return {"section": "", "title": "", "text": step, "latex": "", "note": ""}
    get = step.get if isinstance(step, Mapping) else (lambda key: getattr(step, key, None))

    def first(*keys: str) -> Any:
        return next((get(k) for k in keys if get(k) not in (None, "")), None)

    claim = get("claim")
    if styles is not None and hasattr(claim, "render"):  # the claim, in the names of the answer shown
        result, latex = claim.render(styles["unicode"]), claim.render(styles["latex"])
    else:
        result = first("result", "expression", "after", "text", "unicode")
        latex = first("latex") or getattr(result, "latex", None) or ""
    text = _plain(result) or ("" if latex else str(step))
    section = _plain(first("section"))
    return {"section": section_titles.get(section, section),
            "title": _plain(first("title", "rule", "name", "label", "description")), "text": text,
            "latex": latex if isinstance(latex, str) else "", "note": _plain(first("note", "why", "reason"))}


def steps_section(function: Expression, d: Derivative, asked: PageRequest) -> Any:
    explain = getattr(matdiff, "explain", None)
    if not callable(explain):
        return None

    def build() -> list[dict[str, str]]:
        wrt = asked.wrt[0] if len(asked.wrt) == 1 else list(asked.wrt)
        options = {"order": asked.order, "cotangent": asked.cotangent}
        if asked.symmetric is not None:
            options["symmetric"] = asked.symmetric
        explained = _call(explain, function, wrt, **options)
        steps = getattr(explained, "steps", explained)
        titles = getattr(inspect.getmodule(explain), "SECTION_TITLES", {})  # "chain" -> "Chain rule (...)"
        if isinstance(steps, str):
            return [_step_json(line, titles) for line in steps.splitlines() if line.strip()]
        named = getattr(explained, "style_for", None)  # the names the page's answer shows, in the steps too
        styles = {form: named(form) for form in ("unicode", "latex")} if d.prefers_bound and named else None
        return [_step_json(step, titles, styles) for step in steps]

    return _section(build)


def code_section(function: Expression, d: Derivative, asked: PageRequest) -> Any:
    codegen = getattr(matdiff, "codegen", None)
    if not callable(codegen):
        return None
    if asked.order > 2:
        return {"error": "code is generated for gradients and Hessians (order 1 and 2)"}
    options: dict[str, Any] = {"hessian": asked.order == 2}
    if asked.cotangent is not None:
        options["cotangent"] = asked.cotangent
    if asked.symmetric is not None:
        options["symmetric"] = asked.symmetric
    wrt = list(dict.fromkeys(asked.wrt))
    return {backend: _section(lambda backend=backend: _call(codegen, function, wrt, backend=backend, **options))
            for backend in BACKENDS}


def _number(x: Any) -> Any:
    """A float for JSON: NaN and infinities are not JSON, so they travel as text."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return x
    return float(x) if math.isfinite(x) else str(x)


def check(request: Any) -> Any:
    """The "check" section of POST /api/derive, for a request `derive` has answered (None: no check installed).

    Asked on its own so that the server can run it after the answer, with its own time limit: a
    check that overruns costs its section, never the derivative.
    """
    function, asked, _ = read_function(_read_request(request))
    return check_section(function, asked)


def check_section(function: Expression, asked: PageRequest) -> Any:
    check = getattr(matdiff, "check", None)
    if not callable(check):
        return None
    if asked.order > 2:
        return {"error": "the numeric check covers order 1 and 2"}
    if asked.symmetric == "cookbook":
        return {"error": "the Cookbook's G + Gᵀ − G ⊙ I is not a directional derivative: it has no numeric check"}

    def build() -> dict[str, Any]:
        checked, note = function, ""
        if asked.cotangent is not None:  # the VJP is by definition the gradient of φ = sum(G ⊙ f)
            g = asked.cotangent
            checked = parse(f"sum({g} * ({function.text}))", {**function.variables, g: VarSpec(g, function.shape)})
            note = f"checked as the gradient of φ = sum({g} ⊙ f), which the VJP is"
        options: dict[str, Any] = {"order": asked.order}
        symmetric = asked.symmetric or ("none" if asked.cotangent is not None else None)
        if symmetric is not None:
            options["symmetric"] = symmetric
        report = _call(check, checked, list(dict.fromkeys(asked.wrt)), **options)
        rows = [{"wrt": _plain(getattr(r, "wrt", "")), "method": _plain(getattr(r, "method", "")),
                 "error": _number(getattr(r, "error", None)), "tolerance": _number(getattr(r, "tolerance", None)),
                 "ok": bool(getattr(r, "ok", False)), "note": _plain(getattr(r, "note", ""))}
                for r in getattr(report, "rows", [])]
        ok = getattr(report, "ok", None)
        return {"ok": None if ok is None else bool(ok), "text": str(report), "rows": rows, "note": note}

    return _section(build)


def verdict_section(function: Expression, d: Derivative, asked: PageRequest) -> Any:
    verify = getattr(matdiff, "verify", None)
    if asked.claim is None or not callable(verify):
        return None
    if len(asked.wrt) != 1:
        return {"error": "an answer is judged for a derivative by one variable"}

    def build() -> dict[str, Any]:
        options = {"order": asked.order}
        if asked.cotangent is not None:
            options["cotangent"] = asked.cotangent
        verdict = _call(verify, function, asked.wrt[0], claim=asked.claim, **options)
        diagnosis = [{"kind": _plain(getattr(f, "kind", "")), "explanation": _plain(getattr(f, "explanation", f))}
                     for f in getattr(verdict, "diagnosis", [])]
        return {"verdict": _plain(getattr(verdict, "verdict", "")), "correct": bool(getattr(verdict, "correct", False)),
                "diagnosis": diagnosis, "text": getattr(verdict, "unicode", None) or str(verdict)}

    return _section(build)


__all__ = ["FIELDS", "MAX_ORDER", "MAX_TEXT", "SYNTAXES", "PageRequest", "RequestError", "check", "derive",
           "features", "read_function", "variables"]
