"""Diagnosis of a wrong claim: the names of the usual confusions.

The factor of a backpropagation rule taken for the derivative (`Xᵀ` for ∂(W X)/∂W), an answer that
holds only for a symmetric matrix (the `+ Aᵀ` of a quadratic form, possibly up to a factor 2), the rule
or derivative of another variable, a derivative whose variable indices were summed away, a scalar
derivative that lacks its sum, a shape the derivative cannot have. Each is a `Finding`, checked
numerically at the same points as the verdict (comparison.py).
"""
from __future__ import annotations

import numpy as np

from ..api import Derivative, Expression, parse
from ..dims import VarSpec, dim_product, format_shape
from ..errors import MatdiffError
from ..expr import free_variables
from .comparison import TOLERANCE, WRONG, Point, Problem, match_claim, ordinal, relative_error, vec_layout
from .result import Finding


# the ways a claim C can be the factor of a rule ∂φ/∂V in the upstream gradient G (None: shapes do not fit)
FACTOR_FORMS = (
    lambda g, c: g @ c if g.ndim and c.ndim else None,                         # G C
    lambda g, c: c @ g if g.ndim and c.ndim else None,                         # C G
    lambda g, c: g @ c.T if g.ndim and c.ndim == 2 else None,                  # G Cᵀ
    lambda g, c: c.T @ g if g.ndim and c.ndim == 2 else None,                  # Cᵀ G
    lambda g, c: g * c if c.shape == g.shape or not c.ndim else None,          # G ⊙ C
    lambda g, c: np.outer(g, c) if g.ndim == 1 and c.ndim == 1 else None,      # g cᵀ
    lambda g, c: np.outer(c, g) if g.ndim == 1 and c.ndim == 1 else None,      # c gᵀ
)


def factor_of_rule(problem: Problem, points: list[Point], claim: Expression) -> Finding | None:
    """Is the claim the factor C of some variable's backprop rule ∂φ/∂V = G C, C G, G ⊙ C, ...?"""
    g_name = problem.rule_cotangent
    if g_name is None or not problem.rules or g_name in names_in(claim):
        return None
    for variable in problem.rules:
        for form in FACTOR_FORMS:
            errors = []
            for p in points:
                g = p.values[g_name]
                try:
                    product = form(g, p.claim)
                except ValueError:
                    product = None
                if product is None:
                    break
                errors.append(relative_error(np.asarray(product), p.extra[f"rule:{variable}"]))
            if len(errors) == len(points) and max(errors) <= TOLERANCE:
                return _factor_finding(problem, variable, claim)
    return None


def _factor_finding(problem: Problem, variable: str, claim: Expression) -> Finding:
    x = problem.wrt
    rule = problem.rules[variable]
    rule_text = f"∂φ/∂{variable} = {rule.unicode}"
    g = problem.rule_cotangent
    what = (f"the derivative d({problem.function.text})/d{x}, which is {ordinal(problem.truth)}"
            if problem.cotangent is None else f"the backpropagation rule itself, which has the shape of {x}")
    if variable == x:
        text = f"{claim.unicode} is the factor in the backpropagation rule {rule_text} ({g} = ∂φ/∂f), not {what}"
    else:
        own = problem.rules.get(x)
        text = (f"{claim.unicode} is the factor in the backpropagation rule for {variable}, {rule_text} "
                f"({g} = ∂φ/∂f), not for {x}" + (f" (∂φ/∂{x} = {own.unicode})" if own else "") + f"; nor is it {what}")
    return Finding("backprop factor", text)


def other_variable(problem: Problem, points: list[Point]) -> Finding | None:
    for variable, d in problem.others.items():
        key = f"other:{variable}"
        expected = [p.extra[key] for p in points]
        written = []
        for p, full in zip(points, expected):
            forms = [full]
            if problem.cotangent is None and full.ndim > 2:
                forms.append(vec_layout(full, len(p.base_shape)))
            written.append(forms)
        ok = any(all(relative_error(p.claim, forms[k]) <= TOLERANCE for p, forms in zip(points, written))
                 for k in range(len(written[0])))
        if ok:
            if problem.cotangent is not None:
                return Finding("other variable", f"the claim is the backpropagation rule for {variable} "
                               f"(∂φ/∂{variable} = {d.unicode}), not for {problem.wrt} "
                               f"(∂φ/∂{problem.wrt} = {problem.truth.unicode})")
            return Finding("other variable", f"the claim is the derivative by {variable} ({d.text}), "
                           f"not by {problem.wrt}")
    return None


def collapsed(problem: Problem, points: list[Point]) -> Finding | None:
    """The claim is the tensor summed over the variable's indices: the derivative along all-ones."""
    if problem.out_ndim == 0 or not points[0].by_shape or problem.order != 1:
        return None
    nb = problem.out_ndim
    if all(relative_error(p.claim, p.truth.sum(axis=tuple(range(nb, p.truth.ndim)))) <= TOLERANCE for p in points):
        x = problem.wrt
        return Finding("summed over the variable", f"the claim is Σ over {x}'s indices of ∂f[i…]/∂{x}[k…], the "
                       f"change of f when every entry of {x} moves together; the derivative keeps {x}'s indices: "
                       f"it is {ordinal(problem.truth)}" + _index_suffix(problem.truth))
    return None


def lacks_sum(problem: Problem, points: list[Point]) -> Finding | None:
    if points[0].truth.ndim != 0 or points[0].claim.ndim == 0:
        return None
    if all(relative_error(np.asarray(np.sum(p.claim)), p.truth) <= TOLERANCE for p in points):
        return Finding("missing sum", "the derivative is a scalar, the sum of the claim's entries: the claim "
                       "needs a sum(...)")
    return None


def _index_suffix(d: Derivative) -> str:
    index = index_text(d)
    return f"; in index form {index}" if index else ""


def index_text(d: Derivative) -> str | None:
    """The index form where the Derivative has one (another part of matdiff owns it; degrade gracefully)."""
    try:
        index = getattr(d, "index", None)
        return None if index is None else getattr(index, "unicode", None) or index.text
    except (MatdiffError, NotImplementedError, AttributeError):
        return None


def shape_finding(problem: Problem, claim: Expression) -> Finding:
    d, x = problem.truth, problem.wrt
    if problem.cotangent is not None:
        return Finding("shape", f"the claim is {claim.shape_text}; a backpropagation rule ∂φ/∂{x} has the shape "
                       f"of {x}, {format_shape(problem.spec.shape)}")
    full = tuple(d.base.shape) + tuple(d.by.shape)
    text = (f"the claim is {claim.shape_text}; the derivative of f ({format_shape(d.base.shape)}) by {x} "
            f"({format_shape(d.by.shape)}) is {ordinal(d)}")
    if len(d.base.shape) >= 1 and len(d.by.shape) >= 1 and len(full) > 2:
        vec_shape = (dim_product(*d.base.shape), dim_product(*d.by.shape))
        text += f", written in vec form d vec(f)/d vec({x}) as {format_shape(vec_shape)}"
    if problem.order == 1 and d.base.shape and problem.function.shape:
        text += f"; a backpropagation rule (with a cotangent G) would have the shape of {x}"
    return Finding("shape", text + _index_suffix(d))


def symmetric_only(problem: Problem, claim_text: str, claim_variables_extra: dict, seeds,
                    factor_allowed: bool) -> list[Finding]:
    """Does the claim hold once a square matrix of f is symmetric (the + Aᵀ of a quadratic form)?
    With `factor_allowed`, also up to a constant factor (2Ax for the gradient of xᵀAx/2, say)."""
    squares = [name for name in problem.in_f
               if len(problem.variables[name].shape) == 2
               and problem.variables[name].shape[0] == problem.variables[name].shape[1]
               and not problem.variables[name].properties & {"sym", "spd", "pos"}]
    trials = [[name] for name in squares] + ([squares] if len(squares) > 1 else [])
    for names in trials:
        variables = dict(problem.variables)
        for name in names:
            spec = variables[name]
            variables[name] = VarSpec(name, spec.shape, spec.properties | {"sym"})
        try:
            # re-read f: a variable node carries its properties, so f must be built with the new ones
            function = parse(problem.function.text, variables)
            hypothesis = Problem(function, variables, problem.wrt, problem.order, problem.cotangent,
                                  diagnostics=False)
            claim = parse(claim_text, dict(variables, **claim_variables_extra))
            match = match_claim(hypothesis, hypothesis.points(claim, seeds))
        except MatdiffError:
            continue
        if match is None or (match.status == WRONG and not factor_allowed):
            continue
        which = " and ".join(names)
        plural = len(names) > 1
        general = problem.truth.text
        if problem.wrt in names:
            text = (f"the claim holds only for symmetric {which}; for a general {which} the answer is {general} "
                    f"(declare {problem.wrt} sym if it is symmetric)")
        else:
            text = (f"the claim holds only when {which} {'are' if plural else 'is'} symmetric: it confuses "
                    f"{' and '.join(f'{n} with {n}ᵀ' for n in names)}, as 2Ax for ∇ₓ xᵀAx = (A + Aᵀ)x does "
                    f"(equal only for A = Aᵀ); for a general {which} the answer is {general}")
        return [Finding("symmetric only", text)] + match.findings
    return []


def names_in(expression: Expression) -> set[str]:
    return {v.params[0] for v in free_variables(expression.node)}
