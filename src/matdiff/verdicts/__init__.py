"""Checking a claimed derivative: `verify(expr, wrt, shapes, claim="X.T")` and the `Verdict` it returns.

    >>> import matdiff as md
    >>> v = md.verify("W @ X", "W", "W: m×q, X: q×n", claim="X.T")
    >>> v.verdict
    'wrong'
    >>> print(v.diagnosis[0])                                      # doctest: +ELLIPSIS
    backprop factor: Xᵀ is the factor in the backpropagation rule ∂φ/∂W = G Xᵀ ...

This package owns the judgement of a claim against matdiff's own derivative, numerically at several
random points (each with its own sizes per dimension name, all different, so that a transposition
slip cannot hide behind a square matrix), and the names of the usual confusions:
- the verdict: *correct*, *correct up to a convention* (transposed layout, vec vs full tensor, the
  symmetric-matrix conventions, the elementwise derivative, a dimension-size factor from a missing
  sum), or *wrong*;
- the diagnosis: the factor of a backpropagation rule taken for the derivative, a factor 2 or a
  sign, an answer that holds only for a symmetric matrix (the `+ Aᵀ` of a quadratic form), the rule
  of another variable, a derivative whose variable indices were summed away, a shape that cannot be;
- the evidence (both sides at the first point, their shapes, the largest relative error) and the
  answer (matrix or vec form, index form, backpropagation rule).

A claim may be a backpropagation rule: it then uses a cotangent `G = ∂φ/∂f` (named by `cotangent=`,
or an undeclared name of the claim, found by itself) and is judged against `matdiff.vjp`.

It does not own differentiation (the truth is `api.derivative` / `api.vjp`), the meaning of the
language (`evaluate`), nor how random points honour `spd`/`sym`/`pos`/`small` (`check.random_point`).

One concern per module: `result` (the `Verdict` and its parts, and how they are written), `comparison`
(the points, the forms of the truth, which one a claim equals), `diagnosis` (the confusions named for a
wrong claim); this module reads the claim and its cotangent, and assembles the verdict (`verify`).
"""
from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..api import Expression, derivative, parse, vjp
from ..dims import VarSpec, dim_symbols, format_shape, parse_declarations
from ..errors import DeclarationError, MatdiffError, UnknownNameError, close_matches
from ..language.spellings import library_of
from .comparison import Match, Point, Problem, fresh_name, match_claim, relative_error
from .diagnosis import (collapsed, factor_of_rule, index_text, lacks_sum, names_in, other_variable, shape_finding,
                        symmetric_only)
from .result import CONVENTION, CORRECT, VERDICTS, WRONG, Answer, Evidence, Finding, Verdict

SEEDS = (0, 1, 2)          # three points, each with its own sizes: no verdict rests on one point


def _claim_names(text: str) -> list[str]:
    """The names a claim uses as values (not as functions), in order of appearance."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return []
    callees = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and library_of(ast.unparse(func))[0] is None:
                callees.add(id(func))  # a method, G.dot(X.T): its array G is a value
                continue
            callees.update(id(n) for n in ast.walk(func))
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in callees]
    return list(dict.fromkeys(names))


def _find_cotangent(claim: str, function: Expression, variables: dict[str, VarSpec]) -> str | None:
    """The one name of the claim that is neither declared nor a dimension: the claim is then a backprop rule."""
    dims = {s for spec in variables.values() for s in dim_symbols(spec.shape)}
    from ..language.parse import LANGUAGE_NAMES
    undeclared = [n for n in _claim_names(claim) if n not in variables and n not in dims and n not in LANGUAGE_NAMES]
    if len(undeclared) == 1 and not close_matches(undeclared[0], list(variables)):
        return undeclared[0]
    if undeclared:
        return None  # let the parser name them, with its hints
    in_f = names_in(function)
    unused = [n for n in _claim_names(claim) if n in variables and n not in in_f
              and variables[n].shape == function.shape and function.shape]
    return unused[0] if len(unused) == 1 else None


def verify(expr: "str | Expression", wrt: str, shapes: Any = None, claim: "str | None" = None, *,
           cotangent: str | None = None, order: int = 1, seeds=SEEDS) -> Verdict:
    """Judge a claimed derivative of `expr` by `wrt` (text of the language, same declarations).

    `claim` may use the declared variables and dimension names, and a cotangent `G = ∂φ/∂f` for a
    backpropagation rule (`cotangent="G"`, or an undeclared name of the claim). Returns a `Verdict`:
    `.verdict` (correct / correct up to a convention / wrong), `.diagnosis`, `.evidence`, `.answer`.
    A claim that does not parse or does not shape-check raises the MatdiffError that says why.
    """
    if not isinstance(claim, str):
        raise DeclarationError(f"the claim must be text of the expression language, got {type(claim).__name__}")
    if isinstance(expr, Expression):
        variables = dict(expr.variables)
        if shapes is None:
            function = Expression(expr.node, variables)
        else:  # new declarations may change a variable's properties, which its node carries: re-read f
            variables.update(parse_declarations(shapes))
            function = parse(expr.text, variables)
    else:
        variables = parse_declarations(shapes)
        function = parse(expr, variables)
    if wrt not in variables:
        hint = close_matches(str(wrt), variables)
        raise UnknownNameError(f"cannot verify a derivative by {wrt!r}: it is not a declared variable{hint} "
                               f"(declared: {', '.join(sorted(variables)) or 'none'})")
    if cotangent is None and order == 1:
        cotangent = _find_cotangent(claim, function, variables)
    if cotangent is not None:
        if order != 1:
            raise DeclarationError("a backpropagation rule (a claim with a cotangent) is of order 1")
        if cotangent in names_in(function):
            raise DeclarationError(f"the cotangent {cotangent} is a variable of the function; name it otherwise")
        if cotangent in variables and variables[cotangent].shape != function.shape:
            raise DeclarationError(f"{cotangent} is declared {format_shape(variables[cotangent].shape)}, but as the "
                                   f"upstream gradient ∂φ/∂f it must have the function's shape {function.shape_text}")
        variables = dict(variables)
        variables[cotangent] = VarSpec(cotangent, function.shape)
    try:
        claimed = parse(claim, variables)
    except MatdiffError as error:
        raise type(error)(f"the claim does not {'shape-check' if 'Shape' in type(error).__name__ else 'parse'}: "
                          f"{error}") from None
    problem = Problem(function, variables, wrt, order, cotangent)
    points = problem.points(claimed, seeds)
    match = match_claim(problem, points)
    findings: list[Finding] = []
    if match is not None:
        findings = list(match.findings)
    if match is None or match.status == WRONG:
        extra = {cotangent: variables[cotangent]} if cotangent is not None else {}
        findings += symmetric_only(problem, claim, extra, seeds, factor_allowed=match is None)
        for diagnose in (lambda: factor_of_rule(problem, points, claimed), lambda: other_variable(problem, points),
                         lambda: collapsed(problem, points), lambda: lacks_sum(problem, points)):
            finding = diagnose()
            if finding is not None:
                findings.append(finding)
        forms = problem.forms(points[0])
        if match is None and not forms:
            findings.append(shape_finding(problem, claimed))
        elif match is None and not findings:
            worst = min((max(relative_error(t[key][2], t[key][1]) for t in map(problem.forms, points)), key)
                        for key in forms)
            findings.append(Finding("values", f"the claim has a shape the derivative can be written in "
                                    f"({worst[1]}) but not its values: largest relative error {worst[0]:.2g}"))
    status = WRONG if match is None else match.status
    return Verdict(function.text, wrt, order, claim.strip(), claimed.unicode, cotangent, status, findings,
                   _evidence(problem, points, claimed, match), _answer(problem))


def _evidence(problem: Problem, points: list[Point], claim: Expression, match: Match | None) -> Evidence:
    d = problem.truth
    first = points[0]
    forms = problem.forms(first)
    if match is not None:
        key = match.key
    else:
        written = "vec form" if d.is_vec_form else problem.full_key
        key = written if written in forms else next(iter(forms), None)
    if key is not None and key in forms:
        errors = match.errors if match is not None else \
            [relative_error(problem.forms(p)[key][2], problem.forms(p)[key][1]) for p in points]
        true_value = forms[key][1]
    else:
        errors = []
        key = "vec form" if d.is_vec_form else problem.full_key
        true_value = d.evaluate_as_written(first.values, first.sizes)
    true_shape = (format_shape(tuple(d.base.shape) + tuple(d.by.shape)) if problem.cotangent is None
                  else format_shape(d.shape))
    return Evidence(len(points), dict(first.sizes), claim.shape_text, np.asarray(first.claim), true_shape,
                    d.shape_text, key, np.asarray(true_value), [float(e) for e in errors])


def _answer(problem: Problem) -> Answer:
    d = problem.truth
    function = problem.function
    if problem.cotangent is not None:
        underlying = derivative(function, problem.wrt)  # the derivative whose transpose the rule applies
        matrix = None if underlying.is_vec_form else underlying.text
        return Answer(d.text, d.unicode, d.latex, d.kind, d.layout, matrix,
                      underlying.text if underlying.is_vec_form else None, index_text(underlying), d.text,
                      {"none": d.text, **{c: r.text for c, r in problem.conventions.items()}}
                      if problem.conventions else {})
    backprop = None
    if function.shape and problem.order == 1:
        backprop = vjp(function, problem.wrt, cotangent=fresh_name("G", problem.variables)).text
    conventions = {"sym": d.text, **{c: r.text for c, r in problem.conventions.items()}} if problem.conventions else {}
    return Answer(d.text, d.unicode, d.latex, d.kind, d.layout, None if d.is_vec_form else d.text,
                  d.text if d.is_vec_form else None, index_text(d), backprop, conventions)


__all__ = ["verify", "Verdict", "Finding", "Evidence", "Answer", "VERDICTS", "CORRECT", "CONVENTION", "WRONG"]
