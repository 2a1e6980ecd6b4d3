"""The index route: a function that is not a scalar, written and differentiated with indices.

The definition of an entry as a sum of products (`D_ij = Σ_p W_ip X_pj`, an einsum, checked against the
function), the derivative as a tensor (`∂D_ij/∂W_kl = δ_ik X_lj`, from `calculus.index`), and the backprop
rule as that tensor's contraction with the upstream gradient G_ij. This module owns those steps and the
spelling of indexed names; the index forms of the derivatives are `calculus.index`'s.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..api import Derivative
from ..dims import VarSpec
from ..errors import MatdiffError
from ..expr import Node, make
from ..language import to_latex, to_text, to_unicode
from ..language.names import latex_name, unicode_subscripted
from .claims import EinsumClaim, Objective, Point, TensorClaim, value_at
from .steps import Step
from .styles import Math

SUBSCRIPTS = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def indexed(node: Node, indices: str, style: str) -> str:
    """node[indices] in a style: X[p,k], Xₚₖ, X_{pk}; a name's own subscript and the indices as one, W_{1,pk}
    (W₁ indexed is (W₁)ₚₖ); anything but a variable in parentheses."""
    if node.op == "var" and style == "latex" and indices:
        return latex_name(node.params[0], indices)
    text = {"unicode": to_unicode, "text": to_text, "latex": to_latex}[style](node)
    if node.op != "var" or (style == "unicode" and indices and unicode_subscripted(node.params[0])):
        text = f"({text})" if style != "latex" else rf"\left({text}\right)"
    if not indices:
        return text
    if style == "unicode":
        return text + indices.translate(SUBSCRIPTS)
    if style == "text":
        return text + "[" + ",".join(indices) + "]"
    return text + "_{" + indices + "}"


def _index_definition(f: Node, fname: Math, out: str, pool: list) -> EinsumClaim | None:
    """f[i,j] written with indices, for the operations that are sums of products (an einsum); `out` are its
    entry's indices and `pool` the letters to sum over (none of them a dimension's name)."""
    operands: list[Node] = []
    subscripts: list[str] = []
    if f.op == "matmul":
        # factor t carries the indices at its two boundaries; the outer boundaries are the entry's own
        # indices (absent at a vector end), the inner ones are summed
        k = len(f.args)
        free = iter(out)
        letters = iter(sorted(pool, key=lambda c: c not in "prstuv"))  # letters with Unicode subscripts first
        first_vector, last_vector = f.args[0].ndim == 1, f.args[-1].ndim == 1
        bounds = [None if first_vector else next(free)] + [next(letters) for _ in range(k - 1)]
        bounds.append(None if last_vector else next(free))
        for t, factor in enumerate(f.args, start=1):
            subscripts.append(bounds[t - 1] + bounds[t] if factor.ndim == 2 else
                              bounds[1] if t == 1 else bounds[k - 1])
            operands.append(factor)
    elif f.op == "transpose":
        operands, subscripts = [f.args[0]], [out[::-1]]
    elif f.op == "mul" and all(a.shape == f.shape for a in f.args):
        operands, subscripts = list(f.args), [out] * len(f.args)
    elif f.op == "outer":
        operands, subscripts = list(f.args), list(out)
    else:
        return None
    spec = ",".join(subscripts) + "->" + out
    try:
        np.einsum(spec, *[np.ones([2] * len(s)) for s in subscripts])
    except ValueError:
        return None
    summed = "".join(sorted(set("".join(subscripts)) - set(out)))

    def spelled(style: str) -> str:
        parts = [indexed(o, s, style) for o, s in zip(operands, subscripts)]
        if style == "unicode":
            lhs = fname.unicode + out.translate(SUBSCRIPTS)
            total = ("Σ" + summed.translate(SUBSCRIPTS) + " ") if summed else ""
            return f"{lhs} = {total}{' '.join(parts)}"
        if style == "text":
            lhs = fname.text + ("[" + ",".join(out) + "]" if out else "")
            total = ("sum_" + summed + " ") if summed else ""
            return f"{lhs} = {total}{' '.join(parts)}"
        total = (r"\sum_{" + summed + "} ") if summed else ""
        return f"{{{fname.latex}}}_{{{out}}} = {total}{' '.join(parts)}" if "_" in fname.latex else \
            f"{fname.latex}_{{{out}}} = {total}{' '.join(parts)}"

    return EinsumClaim(f, spec, tuple(operands), Math(spelled("unicode"), spelled("text"), spelled("latex")))


def index_route_steps(f: Node, x: Node, objective: Objective, names: dict, answer: Derivative,
                      vjp_answer: Derivative | None, variables: Mapping[str, VarSpec]) -> tuple[list[Step], str]:
    steps: list[Step] = []
    from ..calculus.index.form import index_letters
    out, _, pool = index_letters(f, x, variables)
    definition = _index_definition(f, names["f"], "".join(out), pool)
    if definition is not None:
        words = ("definition, indices i, j for the entries, summed over repeated letters",)
        steps.append(Step("index", words[0], definition, f, f.shape, words))
    try:
        from ..calculus.index import index_form, index_form_of
    except ImportError:
        return steps, "index notation is not available in this version"
    try:
        name = names["f"].unicode if len(names["f"].unicode) == 1 and len(answer.wrt) == 1 else None
        form = index_form(answer, name)
        shown = Math(form.unicode, form.text, form.latex)
        words = (f"the derivative as a tensor: {form.shape_text}",)
        steps.append(Step("index", words[0], TensorClaim(Objective(f), x, (form.evaluate,), shown),
                          None, form.shape, words))
        if vjp_answer is not None and objective.cotangent is not None:
            g = objective.cotangent
            # φ = sum(G ⊙ f) built as it stands: the constructors could respell f (a symmetric variable is
            # its own transpose to them), which would change φ off the symmetric matrices
            phi = make("sum", (make("mul", (g, f), (), f.shape),), (None, None), ())
            contracted = index_form_of(phi, x, dict(variables, **{g.params[0]: VarSpec(g.params[0], g.shape)}),
                                       header={"name": "φ"})
            fi = "".join(form.free_indices[:f.ndim])
            vi = "".join(contracted.free_indices)
            gname = g.params[0]
            rhs = [part.split(" = ", 1)[1] for part in (contracted.unicode, contracted.text, contracted.latex)]
            vjp_node = vjp_answer.node
            f_sub = fi.translate(SUBSCRIPTS)
            fl = names["f"].latex
            f_entry = f"{{{fl}}}_{{{fi}}}" if "_" in fl else f"{fl}_{{{fi}}}"
            total = Math(
                f"∂φ/∂{indexed(x, vi, 'unicode')} = Σ{f_sub} {indexed(g, fi, 'unicode')} "
                f"∂{names['f'].unicode}{f_sub}/∂{indexed(x, vi, 'unicode')} = {rhs[0]}"
                f" = {indexed(vjp_node, vi, 'unicode')}",
                f"dphi/d{x.params[0]}[{','.join(vi)}] = sum_{fi} {gname}[{','.join(fi)}] "
                f"d{names['f'].text}[{','.join(fi)}]/d{x.params[0]}[{','.join(vi)}] = {rhs[1]}"
                f" = {indexed(vjp_node, vi, 'text')}",
                rf"\frac{{\partial\varphi}}{{\partial {indexed(x, vi, 'latex')}}} = \sum_{{{fi}}} "
                rf"{indexed(g, fi, 'latex')} \frac{{\partial {f_entry}}}{{\partial {indexed(x, vi, 'latex')}}} = {rhs[2]}"
                rf" = {indexed(vjp_node, vi, 'latex')}")

            def as_written(values, sizes, node=vjp_node):
                return value_at(node, Point(values, sizes))

            words = ("contract with the upstream gradient: the backprop rule",)
            steps.append(Step("index", words[0], TensorClaim(objective, x, (contracted.evaluate, as_written), total),
                              vjp_node, x.shape, words))
    except (MatdiffError, TypeError, ValueError, AttributeError, KeyError, IndexError):
        return steps, "this derivative has no index form here"
    return steps, ""
