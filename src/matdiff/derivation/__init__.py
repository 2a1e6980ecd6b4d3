"""Derivations: how a derivative comes about, step by step, each step a claim that can be checked.

`explain(expr, wrt, shapes)` shows one derivative four ways, as a textbook or a backprop lecture
would, and returns a `Derivation`:

1. the chain rule: reverse mode replayed over the expression DAG (as `calculus.reverse` does),
   outermost operation first, one step per operation with its rule (`G ↦ G Xᵀ`, right
   multiplication by X) and the gradient (cotangent) it passes on. For a function that is not a
   scalar the start is a symbolic upstream gradient G, i.e. the VJP of φ = G : f;
2. the differential route (Magnus & Neudecker): df from `calculus.forward.differential`, then a
   Frobenius-product mover brings every term to the form M : dX one identity at a time
   (`A : BC = BᵀA : C`, trace cyclicity, `A : (B ⊙ C) = (A ⊙ B) : C`, ...) and reads ∂φ/∂X = M off;
   for a matrix-valued f also the vec form, `vec(AXB) = (Bᵀ ⊗ A) vec X`;
3. for a function that is not a scalar, index notation (`calculus.index` when present): the
   definition `D_ij = Σ_p W_ip X_pj`, the tensor `∂D_ij/∂W_kl = δ_ik X_lj`, and the backprop rule
   as its contraction with G_ij;
4. what the notation means: the layout of the answer, numerator/denominator/mixed layouts, and
   what "the derivative of a matrix by a matrix" is; then a small check with 0/1 matrices,
   the formula against central differences, printed as NumPy arrays.

Every step carries a machine-checkable `Claim` (an equality between expressions, checked at a
point against finite differences of the function alone: `Derivation.verify()`).

The package owns the presentation of derivations and their claims, one concern per module:
- `styles`: the three spellings (Unicode, text, LaTeX) and how words and math are rendered;
- `claims`: what a step states and how it is checked at a point;
- `steps`: `Step`, the names a derivation gives, the form of a rule with placeholders;
- `chain`, `differential`, `index`: the three routes;
- `notation`: the layouts, the name of the derivative, the notes;
- `example`: the small explicit check with 0/1 matrices;
- `derivation`: the `Derivation` result, its checks and printed forms;
- this module: `explain`, which runs the routes and assembles their steps.
It does not own any rule: the pullbacks, differentials, vec forms and the words and identities that
explain each operation are the operation table's (`matdiff.ops`), replayed here.
"""
from __future__ import annotations

from typing import Any

from ..api import Derivative, Expression, _expression, _variable, derivative, derive_once, vjp
from ..dims import VarSpec
from ..errors import DeclarationError, NotSupportedError
from ..expr import Node, free_variables
from ..ops import var
from .chain import chain_rule_steps
from .claims import Claim, CotangentClaim, DifferentialClaim, LayoutClaim, NumericClaim, Objective, Point
from .derivation import Derivation
from .differential import differential_route_steps
from .example import array_text, small_example
from .index import index_route_steps
from .notation import LAYOUTS, layout_steps, notation_notes
from .steps import Step, fresh_name, math_name
from .styles import STYLES, Math, render_parts


def explain(expr: "str | Expression", wrt: str, shapes: Any = None, layout: str = "mixed", *,
            cotangent: str = "G", order: int = 1, symmetric: str = "sym", example: bool = True) -> Derivation:
    """The derivative of `expr` by `wrt`, derived step by step (see the module docstring).

    `layout` (numerator, denominator or mixed) is the layout the notation section marks as chosen; every
    layout's answer is given. The default, mixed, is the layout of the answer (gradients shaped like the
    variable, Jacobians in numerator layout); another choice is also stated next to the answer. `cotangent` names the upstream gradient of a function that is not a scalar.
    `order=2` explains a Hessian as the derivative of the gradient. `symmetric` is as in `derivative`.
    """
    cotangent = cotangent or "G"
    if layout not in LAYOUTS:
        raise DeclarationError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise DeclarationError(f"explain shows derivatives of order 1 and 2, got order={order!r}")
    node, variables = _expression(expr, shapes)
    if not isinstance(wrt, str):
        wrt = getattr(wrt, "text", wrt)
    x = _variable(wrt, variables)
    function = Expression(node, variables)
    taken = set(variables) | {v.params[0] for v in free_variables(node)}
    answer = derivative(function, wrt, order=order, symmetric=symmetric)
    gradient_node = None
    objective_node = node
    if order == 2:
        if node.shape:
            raise NotSupportedError("a Hessian is for a scalar function")
        gradient_node = derive_once(node, x, symmetric)
        node = gradient_node
    names: dict = {"phi": Math("φ", "phi", r"\varphi"), "objective_node": objective_node}
    if node.shape:
        preferred = ("g", "h") if order == 2 else (("D", "F", "H", "Z") if node.ndim == 2 else ("f", "h", "z", "u"))
        names["f"] = math_name(fresh_name(preferred, taken))
    else:
        names["f"] = Math("φ", "phi", r"\varphi")
    g = None
    vjp_answer = None
    if node.shape:
        g_name = fresh_name((cotangent, cotangent + "_", "G", "H"), taken) if cotangent in taken else cotangent
        taken.add(g_name)
        g = var(g_name, node.shape)
        vjp_answer = vjp(Expression(node, variables), wrt, cotangent=g_name) if order == 1 else \
            _vjp_of(node, x, g, variables)
    objective = Objective(node, g)
    steps: list[Step] = []
    if order == 2:
        words = ("the gradient first: g = ∂f/∂", x)
        steps.append(Step("chain", render_parts(words, STYLES["unicode"]),
                          CotangentClaim(Objective(objective_node), x, gradient_node,
                                         {"phi": Math("f", "f", "f")},
                                         symmetric=symmetric if x.ndim == 2 and x.params[1] & {"sym", "spd"}
                                         else "none"),
                          gradient_node, x.shape, words))
    symmetric_x = x.ndim == 2 and bool(x.params[1] & {"sym", "spd"})
    sym_convention = symmetric if (not node.shape and symmetric_x) else "none"
    chain_steps, _ = chain_rule_steps(objective, x, names, taken, sym_convention,
                                      answer.node if not node.shape else None)
    if order == 2:  # the seed line stays first
        steps = [chain_steps[0], *steps, *chain_steps[1:]]
    else:
        steps += chain_steps
    steps += differential_route_steps(objective, x, names, taken, sym_convention, answer, vjp_answer)
    index_note = ""
    if node.shape:
        index_steps, index_note = index_route_steps(node, x, objective, names, answer, vjp_answer, variables)
        steps += index_steps
    layout_objective = Objective(node)
    steps += layout_steps(node, x, layout_objective, answer, names, layout, sym_convention)
    notes = notation_notes(node, x, names, answer, vjp_answer, g, order)
    small = None
    if example:
        small = small_example(node, x, variables, answer, vjp_answer, g, names, sym_convention)
        if small is not None:
            for item in small.items:
                words = ("at the 0/1 point: formula = central difference",)
                steps.append(Step("check", words[0], NumericClaim(item, Point(small.values, small.sizes)),
                                  item.formula, item.formula.shape, words))
    return Derivation(function, x, layout, answer, vjp_answer, g, names, steps, notes, small, index_note, order,
                      gradient_node, dict(variables, **({g.params[0]: VarSpec(g.params[0], g.shape)} if g is not None
                                                        else {})))


def _vjp_of(node: Node, x: Node, g: Node, variables) -> Derivative:
    from ..calculus import pullback
    return Derivative(pullback(node, x, g), dict(variables, **{g.params[0]: VarSpec(g.params[0], g.shape)}), node,
                      (x.params[0],), "vjp", f"backpropagation rule: ∂φ/∂{x.params[0]} given {g.params[0]}",
                      base=node, by=x)


__all__ = ["explain", "Derivation", "Step", "Claim", "CotangentClaim", "DifferentialClaim", "LayoutClaim", "Point",
           "LAYOUTS", "array_text"]
