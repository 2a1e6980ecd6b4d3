"""The differential route (Magnus & Neudecker): write dφ = M : dX, one identity at a time, read off ∂φ/∂X = M.

df comes from `calculus.forward.differential` (each operation's differential rule, named in the step's
details); a Frobenius-product mover then brings every term M : L(dX) to the form M' : dX, one identity at
a time (`A : BC = BᵀA : C`, trace cyclicity, `A : (B ⊙ C) = (A ⊙ B) : C`, …), and the gradient is read
off. For a matrix-valued f the route also gives the vec form, `vec(dF) = J vec(dX)` with
`vec(AXB) = (Bᵀ ⊗ A) vec X`, and reads the Jacobian off it. This module owns the mover and the
identities it names; the differentials, pullbacks and vec forms are the operation table's.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..api import Derivative
from ..calculus import differential, vec_form
from ..errors import MatdiffError, NotSupportedError
from ..expr import Node, dependents, topological
from ..language import to_latex, to_text, to_unicode
from ..ops import ONE, OPS, ZERO, add, inner, matmul, matmul_chain, mul, transpose, var, vec
from ..ops.registry import SpelledIdentity
from .claims import CotangentClaim, DifferentialClaim, LayoutClaim, Objective
from .notation import derivative_label
from .steps import Step, fresh_name, is_short, rule_pattern, symmetric_words, zeros_like
from .styles import STYLES, Math, Style, as_denominator, render_form, render_parts, wrap_sum

# The identities of the Frobenius product itself, A : B = sum(A ⊙ B) = tr(AᵀB): its definition, its
# linearity, and how a factor of a product moves across it. They are this route's own; an operation's own
# identity (A : Bᵀ = Aᵀ : B, tr(B) = I : B, ...) and vec rule are in its entry (`Op.identity`, `Op.vec_identity`).
IDENTITIES: dict[str, Math] = {
    "sum_product": Math("sum(A ⊙ B) = A : B", "sum(A * B) = A : B", r"\operatorname{sum}(A \odot B) = A : B"),
    "sum_product_broadcast": Math("sum(A ⊙ B) = A : B, the copies of a broadcast operand summed",
                                  "sum(A * B) = A : B, the copies of a broadcast operand summed",
                                  r"\operatorname{sum}(A \odot B) = A : B\ \text{(broadcast copies summed)}"),
    "left": Math("A : BC = BᵀA : C", "A : B @ C = B.T @ A : C", r"A : BC = B^\top A : C"),
    "right": Math("A : BC = ACᵀ : B", "A : B @ C = A @ C.T : B", r"A : BC = A C^\top : B"),
    "both": Math("A : BCD = BᵀADᵀ : C", "A : B @ C @ D = B.T @ A @ D.T : C", r"A : BCD = B^\top A D^\top : C"),
    "quadratic": Math("a bᵀ : C = aᵀ C b", "outer(a, b) : C = a @ C @ b", r"a b^\top : C = a^\top C b"),
    "hadamard": Math("A : (B ⊙ C) = (A ⊙ B) : C", "A : (B * C) = (A * B) : C",
                     r"A : (B \odot C) = (A \odot B) : C"),
    "scalar_array": Math("A : (b C) = (A : C) b", "A : (b * C) = (A : C) * b", r"A : (b C) = (A : C)\, b"),
    "scalar": Math("a (b c) = (a b) c", "a * (b * c) = (a * b) * c", r"a (b c) = (a b) c"),
    "add": Math("A : (B + C) = A : B + A : C", "A : (B + C) = A : B + A : C", r"A : (B + C) = A : B + A : C"),
    "add_broadcast": Math("A : (B + 𝟙cᵀ) = A : B + (Aᵀ𝟙) : c (broadcast terms summed)",
                          "A : (B + c) = A : B + sum(A, axis=0) : c (broadcast terms summed)",
                          r"A : (B + \mathbf{1}c^\top) = A : B + (A^\top\mathbf{1}) : c"),
    "trace_cyclic": Math("tr(ABC) = tr(CAB) = (CA)ᵀ : B (trace cyclicity, tr(PᵀQ) = P : Q)",
                         "tr(A @ B @ C) = tr(C @ A @ B) = (C @ A).T : B (trace cyclicity)",
                         r"\operatorname{tr}(ABC) = \operatorname{tr}(CAB) = (CA)^\top : B"),
    "collect": Math("A : C + B : C = (A + B) : C", "A : C + B : C = (A + B) : C", r"A : C + B : C = (A + B) : C"),
    "reverse": Math("the remaining terms by reverse mode", "the remaining terms by reverse mode",
                    r"\text{the remaining terms by reverse mode}"),
}
# A rewrite of one term to one term by any other identity only moves a factor across the Frobenius product
# (A : BC = BᵀA : C, A : (B ⊙ C) = (A ⊙ B) : C), or an operation as its adjoint (A : (B / c) = (A / c) : B,
# A : mean(B, axis) = …): consecutive such rewrites are printed as one line citing each identity. These keep
# a line of their own: the definition A : B = sum(A ⊙ B), trace cyclicity, a quadratic form, splitting a sum,
# collecting terms.
OWN_LINE = frozenset(IDENTITIES[k] for k in ("sum_product", "sum_product_broadcast", "trace_cyclic", "quadratic",
                                             "add", "add_broadcast", "collect", "reverse"))


def _spelled(identity: SpelledIdentity) -> Math:
    return Math(identity.unicode, identity.text, identity.latex)


def _d_name(x: Node, taken: set) -> str:
    return fresh_name(("d" + x.params[0], "d_" + x.params[0], "delta_" + x.params[0]), taken)


def _frobenius(m: Node, linear: Node) -> Node:
    return inner(m, linear)


def _form_node(pairs: Sequence[tuple[Node, Node]]) -> Node:
    if not pairs:
        return ZERO
    return add(*(_frobenius(m, linear) for m, linear in pairs))


def _dependent_index(factors: Sequence[Node], depends) -> int:
    found = [i for i, f in enumerate(factors) if depends(f)]
    if len(found) != 1:
        raise NotSupportedError("a product that is not linear in the differential")
    return found[0]


def _move(m: Node, linear: Node, dx: Node, depends) -> tuple[list[tuple[Node, Node]], Math] | None:
    """One identity applied to the term M : L (L linear in dX): the terms it becomes, and the identity.

    Products (sum of a Hadamard product, a trace of a product, matmul, ⊙) and sums move by the Frobenius
    product's own identities; any other linear operation by its entry's `identity`, applied through its
    pullback (the adjoint of its linear use)."""
    if linear is dx:
        return None
    op = linear.op
    needed = depends
    if op == "sum" and linear.params[0] is None and linear.args[0].op == "mul":
        product = linear.args[0]
        (_, spread), = OPS["sum"].pullback(linear, m, needed)
        entries = list(OPS["mul"].pullback(product, spread, needed))
        broadcast = any(a.shape != product.shape for a, _ in entries)
        return entries, IDENTITIES["sum_product_broadcast" if broadcast else "sum_product"]
    if op == "tr" and linear.args[0].op == "matmul" and all(f.ndim == 2 for f in linear.args[0].args):
        factors = linear.args[0].args
        i = _dependent_index(factors, depends)
        rest = list(factors[i + 1:]) + list(factors[:i])
        return [(factors[i], mul(m, transpose(matmul_chain(rest))))], IDENTITIES["trace_cyclic"]
    rule = OPS[op].pullback
    if not rule:
        return None
    if op == "matmul":
        factors = linear.args
        i = _dependent_index(factors, depends)
        left, right = factors[:i], factors[i + 1:]
        if not linear.shape and factors[i].ndim == 2 and left and right:
            key = "quadratic"
        else:
            key = "both" if left and right else "left" if left else "right"
        return list(rule(linear, m, needed)), IDENTITIES[key]
    if op == "mul":
        i = _dependent_index(linear.args, depends)
        if not linear.shape:
            key = "scalar"
        elif not linear.args[i].shape:
            key = "scalar_array"
        else:
            key = "hadamard"
        return list(rule(linear, m, needed)), IDENTITIES[key]
    if op == "add":
        broadcast = any(t.shape != linear.shape for t in linear.args if depends(t))
        return list(rule(linear, m, needed)), IDENTITIES["add_broadcast" if broadcast else "add"]
    identity = OPS[op].identity
    if not identity:  # not linear (its differential was taken first), or no identity of its own
        return None
    return list(rule(linear, m, needed)), _spelled(identity(linear) if callable(identity) else identity)


def _differential_rules(f: Node, x: Node, taken: set) -> list[Math]:
    """The differential rule of each operation between f and x, as the operation table states it:
    d tanh(U) = (1 − tanh(U)²) ⊙ dU, d(X W) = X dW, ..."""
    depending = dependents(f, x)
    rules: list[Math] = []
    seen: set[str] = set()
    covered: set[Node] = set()
    for node in reversed(topological(f)):
        if node not in depending or node is x or node in covered:
            continue
        if node.op == "pow" and node.args[0].op == "norm2":
            covered.add(node.args[0])
        try:
            pattern, stand_ins = rule_pattern(node, lambda a: not a.args or (a not in depending and is_short(a)),
                                              taken)
            moving = []
            for a in node.args:
                inner_arg = a.args[0] if (node.op == "pow" and a.op == "norm2") else a
                if inner_arg in depending:
                    moving.append(stand_ins.get(inner_arg, inner_arg))
            total = []
            done = set()
            for u in moving:
                if u in done:
                    continue
                done.add(u)
                du = var("d" + u.params[0], u.shape) if u.op == "var" else None
                if du is None:
                    continue
                total.append((u, du, differential(pattern, u, du)))
            d = add(*(t for _, _, t in total)) if total else None
        except (MatdiffError, TypeError, ValueError, AttributeError):
            continue
        if d is None:
            continue
        unicode = f"{_d_of(pattern, STYLES['unicode'])} = {to_unicode(d)}"
        if unicode in seen:
            continue
        seen.add(unicode)
        latex = rf"\mathrm{{d}}{as_denominator(pattern, STYLES['latex'])} = {to_latex(d)}"
        for u, du, _ in total:
            latex = latex.replace(to_latex(du), r"\mathrm{d}" + to_latex(u))
        rules.append(Math(unicode, f"{_d_of(pattern, STYLES['text'])} = {to_text(d)}", latex))
    return rules


def _d_of(pattern: Node, style: Style) -> str:
    label = as_denominator(pattern, style)
    return "d" + label if label.startswith("(") else "d " + label


def _form_step(objective: Objective, x: Node, dx: Node, pairs: list, lhs: Math, rule_parts: tuple,
               details: tuple = (), moves_across: bool = False) -> Step:
    node = _form_node(pairs)
    claim = DifferentialClaim(objective, x, dx, node, (tuple(pairs), lhs))
    return Step("differential", render_parts(rule_parts, STYLES["unicode"]), claim, node, (), rule_parts,
                details=details, moves_across=moves_across)


def differential_route_steps(objective: Objective, x: Node, names: dict, taken: set, symmetric: str,
                             answer: Derivative, vjp_answer: Derivative | None) -> list[Step]:
    f = objective.function
    dx = var(_d_name(x, taken), x.shape)
    df = differential(f, x, dx)
    steps: list[Step] = []
    d_phi = Math("dφ", "dphi", r"\mathrm{d}\varphi")
    depends = dependents(df, dx).__contains__
    rules = tuple(_differential_rules(f, x, taken))
    if f.shape:
        d_f = Math("d" + names["f"].unicode, "d" + names["f"].text, r"\mathrm{d}" + names["f"].latex)
        claim = DifferentialClaim(Objective(f), x, dx, df, (((ONE, df),), d_f), vectorized=False)
        steps.append(Step("differential", "the differential, by the rules of each operation", claim, df, f.shape,
                          ("the differential, by the rules of each operation",), details=rules))
        steps.extend(_vec_steps(f, x, dx, df, names, answer))
        pairs = [(objective.cotangent, df)]
        fn, g = names["f"], objective.cotangent.params[0]
        frobenius = Math(f"φ = {g} : {fn.unicode}, so dφ = {g} : d{fn.unicode} (A : B = sum(A ⊙ B) = tr(AᵀB))",
                         f"phi = {g} : {fn.text}, so dphi = {g} : d{fn.text} (A : B = sum(A * B) = tr(A.T @ B))",
                         rf"\varphi = {g} : {fn.latex},\ \mathrm{{d}}\varphi = {g} : \mathrm{{d}}{fn.latex}")
        steps.append(_form_step(objective, x, dx, pairs, d_phi, ("Frobenius product: ", frobenius)))
    else:
        pairs = [(ONE, df)]
        steps.append(_form_step(objective, x, dx, pairs, d_phi, ("the differential, by the rules of each operation",),
                                rules))
    shown = render_form(pairs, STYLES["unicode"])
    for _ in range(400):
        position = next((i for i, (_, linear) in enumerate(pairs) if linear is not dx), None)
        if position is None:
            break
        m, linear = pairs[position]
        try:
            moved = _move(m, linear, dx, depends)
        except (MatdiffError, AssertionError, TypeError, ValueError):
            moved = None
        if moved is None:  # an unexpected term (not a linear operation of dX): reverse mode finishes it
            rest = _form_node(pairs)
            from ..calculus import pullback
            pairs = [(pullback(rest, dx), dx)]
            steps.append(_form_step(objective, x, dx, pairs, d_phi, (IDENTITIES["reverse"],)))
            break
        entries, identity = moved
        pairs = pairs[:position] + [(c, a) for a, c in entries] + pairs[position + 1:]
        now = render_form(pairs, STYLES["unicode"])
        if now != shown:
            moves = len(entries) == 1 and identity not in OWN_LINE
            steps.append(_form_step(objective, x, dx, pairs, d_phi, (identity,), moves_across=moves))
            shown = now
    if len(pairs) > 1:
        pairs = [(add(*(m for m, _ in pairs)), dx)]
        steps.append(_form_step(objective, x, dx, pairs, d_phi, (IDENTITIES["collect"],)))
    gradient = pairs[0][0] if pairs else zeros_like(x)
    xn = x.params[0]
    words = ("read off: ", Math(f"dφ = M : {dx.params[0]} ⇒ ∂φ/∂{xn} = M", f"dphi = M : {dx.params[0]} => dphi/d{xn} = M",
                                rf"\mathrm{{d}}\varphi = M : \mathrm{{d}}{to_latex(x)} \Rightarrow "
                                rf"\partial\varphi/\partial {to_latex(x)} = M"))
    steps.append(Step("differential", render_parts(words, STYLES["unicode"]),
                      CotangentClaim(objective, x, gradient, names), gradient, x.shape, words))
    final = vjp_answer.node if vjp_answer is not None else answer.node
    if symmetric != "none" and x.ndim == 2 and x.params[1] & {"sym", "spd"} and not f.shape:
        words = tuple(symmetric_words(x, symmetric))
        steps.append(Step("differential", render_parts(words, STYLES["unicode"]),
                          CotangentClaim(objective, x, final, names, symmetric=symmetric), final, x.shape, words))
    return steps


def _vec_steps(f: Node, x: Node, dx: Node, df: Node, names: dict, answer: Derivative) -> list[Step]:
    """The Jacobian or vec form read off df: vec(dF) = J vec(dX) (a vector or scalar case without vec)."""
    fname = names["f"]
    try:
        if not x.shape:
            jacobian = differential(f, x, ONE)
            form = mul(jacobian, dx)
            lhs = Math("d" + fname.unicode, "d" + fname.text, r"\mathrm{d}" + fname.latex)
            rule: tuple = (f"derivative by a scalar: d{fname.unicode} = (∂{fname.unicode}/∂{x.params[0]}) "
                           f"d{x.params[0]}",)
            arrangement = "full"
        else:
            jacobian = vec_form(df, dx)
            vec_dx = vec(dx) if dx.ndim == 2 else dx
            form = matmul(jacobian, vec_dx)
            if f.ndim == 1 and x.ndim == 1:
                lhs = Math("d" + fname.unicode, "d" + fname.text, r"\mathrm{d}" + fname.latex)
                rule = (Math(f"Jacobian: d{fname.unicode} = J d{x.params[0]}", f"Jacobian: d{fname.text} = J d{x.params[0]}",
                             rf"\text{{Jacobian: }}\mathrm{{d}}{fname.latex} = J\,\mathrm{{d}}{to_latex(x)}"),)
                arrangement = "full"
            else:
                lhs = Math(f"vec(d{fname.unicode})", f"vec(d{fname.text})",
                           rf"\operatorname{{vec}}(\mathrm{{d}}{fname.latex})")
                rule = tuple(p for identity in _vec_identities(df, dx) for p in (_spelled(identity), "; "))[:-1]
                arrangement = "vec"
    except (MatdiffError, TypeError, ValueError):
        return []
    dx_shown = Math(f"vec({dx.params[0]})", f"vec({dx.params[0]})", rf"\operatorname{{vec}}(\mathrm{{d}}{to_latex(x)})") \
        if dx.ndim == 2 else Math(dx.params[0], dx.params[0], r"\mathrm{d}" + to_latex(x))
    rhs = Math(f"{wrap_sum(jacobian, to_unicode(jacobian))} {dx_shown.unicode}",
               f"{wrap_sum(jacobian, to_text(jacobian))} @ {dx_shown.text}" if x.shape else
               f"{wrap_sum(jacobian, to_text(jacobian))} * {dx_shown.text}",
               f"{wrap_sum(jacobian, to_latex(jacobian))} {dx_shown.latex}")
    claim = DifferentialClaim(Objective(f), x, dx, form, (((ONE, form),), lhs), vectorized=True, rhs=rhs)
    steps = [Step("differential", render_parts(rule, STYLES["unicode"]), claim, form, form.shape, rule)]
    what = derivative_label(f, x, names)
    words = ("read off: ", Math(f"{lhs.unicode} = J {dx_shown.unicode} ⇒ {what.unicode} = J",
                                f"{lhs.text} = J {dx_shown.text} => {what.text} = J",
                                rf"{lhs.latex} = J\,{dx_shown.latex} \Rightarrow {what.latex} = J"))
    steps.append(Step("differential", render_parts(words, STYLES["unicode"]),
                      LayoutClaim(Objective(f), x, jacobian, arrangement,
                                  Math(f"{what.unicode} = {to_unicode(jacobian)}",
                                       f"{what.text} = {to_text(jacobian)}",
                                       f"{what.latex} = {to_latex(jacobian)}")),
                      jacobian, jacobian.shape, words))
    return steps


# The order the vec rules of a step are named in: the general vec(AXB) = (Bᵀ ⊗ A) vec X first. Only the
# reading order: an operation not listed names its rule after these, in the order of the operation table.
VEC_RULE_ORDER = ("matmul", "transpose", "mul", "outer", "tr", "sum", "kron", "diag")


def _vec_identities(df: Node, dx: Node) -> list[SpelledIdentity]:
    """The vec rules of the operations df applies to dX (their entries' `vec_identity`); a product by scalars
    alone is a scaling and names no rule. With none, vec(AXB) = (Bᵀ ⊗ A) vec X (A and B identities)."""
    depending = dependents(df, dx)
    used = set()
    for n in depending:
        free = [a for a in n.args if a not in depending]
        if not free or any(a.shape for a in free):
            used.add(n.op)
    order = list(VEC_RULE_ORDER) + [name for name in OPS if name not in VEC_RULE_ORDER]
    found = [OPS[name].vec_identity for name in order if name in used and OPS[name].vec_identity]
    return found or [OPS["matmul"].vec_identity]
