"""What the notation means: the layouts of the answer, the name of the derivative, and notes.

The answer in numerator, denominator and mixed layout (each checked against the full derivative
tensor), how the derivative of f by X is named (∂f/∂x, or ∂ vec(F)/∂ vec(X)ᵀ), and the notes that say
what a Frobenius product, a Jacobian, a 4th-order tensor or a Hessian-vector product is here. This
module owns those words; the answer itself is `api.derivative`'s.
"""
from __future__ import annotations

import re

from ..api import Derivative
from ..dims import format_shape
from ..expr import Node
from ..language import to_latex, to_text, to_unicode
from ..ops import transpose
from .claims import LayoutClaim, Objective
from .index import SUBSCRIPTS
from .steps import Step, math_name
from .styles import Math

LAYOUTS = ("numerator", "denominator", "mixed")


def derivative_label(f: Node, x: Node, names: dict) -> Math:
    fn, xn = names["f"], math_name(x.params[0])
    if not x.shape or (f.ndim == 1 and x.ndim == 1) or f.ndim > 2 or x.ndim > 2:  # a Jacobian, or the full array
        return Math(f"∂{fn.unicode}/∂{xn.unicode}", f"d{fn.text}/d{xn.text}",
                    rf"\frac{{\partial {fn.latex}}}{{\partial {xn.latex}}}")
    return Math(f"∂ vec({fn.unicode})/∂ vec({xn.unicode})ᵀ", f"d vec({fn.text}) / d vec({xn.text})",
                rf"\frac{{\partial \operatorname{{vec}}({fn.latex})}}{{\partial \operatorname{{vec}}({xn.latex})^\top}}")


def layout_steps(f: Node, x: Node, objective_f: Objective, answer: Derivative, names: dict, chosen: str,
                 symmetric: str) -> list[Step]:
    """The answer in numerator, denominator and mixed layout, each checked against the full tensor."""
    node = answer.node
    fname = names["f"].unicode
    xn = x.params[0]
    xs, fs = format_shape(x.shape), format_shape(f.shape)
    t = transpose(node)
    gradient_words = f"shaped like {xn} ({xs}), the gradient"
    if not f.shape and not x.shape:
        table = {k: (node, "full", "a scalar") for k in LAYOUTS}
    elif not f.shape and x.ndim == 1:
        table = {"numerator": (node, "row", f"a 1×{xs} row, ∂φ/∂{xn}ᵀ"),
                 "denominator": (node, "column", f"a {xs}×1 column"),
                 "mixed": (node, "full", gradient_words)}
    elif not f.shape:
        table = {"numerator": (t, "transpose", f"{format_shape(tuple(reversed(x.shape)))}, transposed"),
                 "denominator": (node, "full", gradient_words),
                 "mixed": (node, "full", gradient_words)}
    elif not x.shape:
        shaped = f"shaped like {fname} ({fs})"
        table = {"numerator": (node, "full", shaped),
                 "denominator": (node, "row", f"a 1×{fs} row") if f.ndim == 1 else
                 (t, "transpose", f"{format_shape(tuple(reversed(f.shape)))}, transposed"),
                 "mixed": (node, "full", shaped)}
    elif f.ndim == 1 and x.ndim == 1:
        table = {"numerator": (node, "full", f"the Jacobian, {fs}×{xs}, J[i, j] = ∂{fname}[i]/∂{xn}[j]"),
                 "denominator": (t, "transpose", f"{xs}×{fs}, the Jacobian transposed"),
                 "mixed": (node, "full", "the Jacobian, as in numerator layout")}
    else:
        table = {"numerator": (node, "vec", f"d vec({fname})/d vec({xn})ᵀ, a row per entry of vec({fname})"),
                 "denominator": (t, "vec_transpose", f"d vec({fname})ᵀ/d vec({xn}), transposed"),
                 "mixed": (node, "vec", "as numerator layout")}
    steps = []
    for layout in LAYOUTS:
        expression, arrangement, description = table[layout]
        marker = " (chosen)" if layout == chosen else ""
        words = (f"{layout}{marker}: {description}",)
        row = arrangement == "row"  # a gradient by a vector as the row ∂φ/∂xᵀ: (X w − y)ᵀX, not Xᵀ(X w − y)
        shown = Math(f"{layout}: {to_unicode(expression, row=row)}", f"{layout}: {to_text(expression)}",
                     rf"\text{{{layout}: }} {to_latex(expression, row=row)}")
        claim = LayoutClaim(objective_f, x, expression, arrangement, shown, symmetric)
        steps.append(Step("notation", words[0], claim, expression, expression.shape, words))
    return steps


def notation_notes(f: Node, x: Node, names: dict, answer: Derivative, vjp_answer: Derivative | None,
                   cotangent: Node | None, order: int = 1) -> list[Math]:
    fname, xn = names["f"], x.params[0]
    dx = "d" + xn
    notes = [Math(f"A : B = sum(A ⊙ B) = tr(AᵀB) is the Frobenius product (aᵀb for vectors): "
                  f"dφ = M : {dx} means ∂φ/∂{xn} = M. This answer: {answer.layout}.",
                  f"A : B = sum(A * B) = tr(A.T @ B) is the Frobenius product (a @ b for vectors): "
                  f"dphi = M : {dx} means dphi/d{xn} = M. This answer: {answer.layout}.",
                  r"A : B = \operatorname{sum}(A \odot B) = \operatorname{tr}(A^\top B)\text{ (Frobenius product): }"
                  rf"\mathrm{{d}}\varphi = M : \mathrm{{d}}{xn} \Rightarrow \partial\varphi/\partial {xn} = M")]
    if order == 2 and cotangent is not None and vjp_answer is not None:
        g = cotangent.params[0]
        unicode = (f"The Hessian of f is the derivative of its gradient g = ∂f/∂{xn}: the routes above differentiate "
                   f"g. Contracted with a vector {g} it is the Hessian-vector product ∂(gᵀ{g})/∂{xn} = "
                   f"{to_unicode(vjp_answer.node)}.")
        text = (f"The Hessian of f is the derivative of its gradient g = df/d{xn}: the routes above differentiate "
                f"g. Contracted with a vector {g} it is the Hessian-vector product d(g @ {g})/d{xn} = "
                f"{to_text(vjp_answer.node)}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    elif f.shape and cotangent is not None and vjp_answer is not None and x.shape and f.ndim + x.ndim == 2:
        g = cotangent.params[0]
        unicode = (f"∂{fname.unicode}/∂{xn} is the Jacobian J; contracted with an upstream gradient "
                   f"{g} = ∂φ/∂{fname.unicode} it gives the backprop rule ∂φ/∂{xn} = Jᵀ{g} = "
                   f"{to_unicode(vjp_answer.node)}.")
        text = (f"d{fname.text}/d{xn} is the Jacobian J; contracted with an upstream gradient "
                f"{g} = dphi/d{fname.text} it gives the backprop rule dphi/d{xn} = J.T @ {g} = "
                f"{to_text(vjp_answer.node)}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    elif f.shape and cotangent is not None and vjp_answer is not None and x.shape:
        order = f.ndim + x.ndim
        what = {2: "a matrix", 3: "a 3rd-order tensor", 4: "a 4th-order tensor"}.get(order, "a tensor")
        shape = format_shape(tuple(f.shape) + tuple(x.shape))
        g = cotangent.params[0]
        vjp_u, vjp_t = to_unicode(vjp_answer.node), to_text(vjp_answer.node)
        code_u = re.sub(rf"\b{re.escape(g)}\b", "d" + fname.unicode, vjp_u)
        code_t = re.sub(rf"\b{re.escape(g)}\b", "d" + fname.text, vjp_t)
        fi, vi = "ij"[:f.ndim], "kl"[:x.ndim]
        entry_u = f"∂{fname.unicode}{fi.translate(SUBSCRIPTS)}/∂{xn}{vi.translate(SUBSCRIPTS)}"
        entry_t = f"d{fname.text}[{','.join(fi)}]/d{xn}[{','.join(vi)}]"
        if f.ndim == 2 or x.ndim == 2:
            written_u = f"matdiff writes it as the matrix d vec({fname.unicode})/d vec({xn})ᵀ"
            written_t = f"matdiff writes it as the matrix d vec({fname.text}) / d vec({xn})"
        else:
            written_u = written_t = "the Jacobian"
        unicode = (f"{fname.unicode} is {format_shape(f.shape)}, {xn} is {format_shape(x.shape)}: ∂{fname.unicode}/∂{xn} "
                   f"is {what} ({shape}), {entry_u}; {written_u}. The rule you may have seen, "
                   f"d{xn} = {code_u} in backprop code, is ∂φ/∂{xn} = {vjp_u}: the gradient of a scalar φ through "
                   f"{fname.unicode}, with {g} = ∂φ/∂{fname.unicode}; it contracts the tensor with {g}.")
        text = (f"{fname.text} is {format_shape(f.shape)}, {xn} is {format_shape(x.shape)}: d{fname.text}/d{xn} "
                f"is {what} ({shape}), {entry_t}; {written_t}. The rule you may have seen, "
                f"d{xn} = {code_t} in backprop code, is dphi/d{xn} = {vjp_t}: the gradient of a scalar phi through "
                f"{fname.text}, with {g} = dphi/d{fname.text}; it contracts the tensor with {g}.")
        notes.append(Math(unicode, text, r"\text{" + text.replace("_", r"\_") + "}"))
    return notes
