"""The chain-rule route: reverse mode replayed over the expression DAG, one step per operation.

Outermost operation first, each step names the operation's rule in words (`right multiplication by X`),
gives it as a formula on a placeholder gradient (`Ḡ ↦ Ḡ Xᵀ`, from the operation table's own pullback)
and claims the gradient (cotangent) it passes on; a node used twice gets one contribution per use, then
their sum. For a function that is not a scalar the start is a symbolic upstream gradient G (the VJP of
φ = G : f). This module owns that replay and its words; the pullbacks are the operation table's.
"""
from __future__ import annotations

from ..errors import MatdiffError
from ..expr import Node, dependents, free_variables, topological
from ..ops import ONE, OPS, ZERO, add, var
from .claims import CotangentClaim, Objective
from .steps import PLACEHOLDERS, Step, is_short, rule_pattern, symmetric_words, zeros_like
from .styles import STYLES, Math, as_denominator, render_parts


def rule_words(node: Node, slot: int, fused: bool, taken: set = frozenset()) -> list:
    """The chain rule of `node` for its argument in `slot`, in words and math, as its entry words it: an
    operand named there is shown where it is short; where it is long, by its placeholder in the rule's form
    (division by U, the form Q Kᵀ / U shown after it), or as "the other factor" where the words name the
    operands and no form is shown (a product's)."""
    words = OPS[node.op].words
    parts = words.of(node, slot, fused) if words else [node.op]
    stand_ins = {} if words is not None and words.names_operands else rule_pattern(node, is_short, taken)[1]
    return [p if not isinstance(p, Node) or is_short(p) else stand_ins.get(p, "the other factor") for p in parts]


def chain_rule_steps(objective: Objective, x: Node, names: dict, taken: set, symmetric: str,
                     answer_node: Node | None) -> tuple[list[Step], Node]:
    """Reverse mode replayed, recording for each operation its rule, and the cotangents it passes on."""
    f = objective.function
    seed = ONE if objective.cotangent is None else objective.cotangent
    steps: list[Step] = []
    seed_words = ["start: ", "∂φ/∂φ = 1"] if objective.cotangent is None else \
        ["start: ", "the upstream gradient ", seed, " = ∂φ/∂", names["f"], " (φ = ", seed, " : ", names["f"], ")"]
    steps.append(Step("chain", render_parts(seed_words, STYLES["unicode"]),
                      CotangentClaim(objective, f, seed, names), seed, seed.shape, tuple(seed_words)))
    depending = dependents(f, x)
    if f not in depending:
        return steps, ZERO if not x.shape else zeros_like(x)
    needed = depending.__contains__
    waiting: dict[Node, list[Node]] = {f: [seed]}
    records: list[tuple] = []  # ("sum", node, total, count) or ("edge", node, slot, path, argument, cotangent, fused)
    contributions: dict[Node, int] = {}
    result = None
    for node in reversed(topological(f)):
        parts = waiting.pop(node, None)
        if parts is None:
            continue
        g = parts[0] if len(parts) == 1 else add(*parts)
        if len(parts) > 1:
            records.append(("sum", node, g, len(parts)))
        if node is x:
            result = g
            break
        used: set[int] = set()
        for argument, cotangent in OPS[node.op].pullback(node, g, needed):
            slot = next((i for i, a in enumerate(node.args) if a is argument and i not in used), None)
            fused = False
            if slot is not None:
                used.add(slot)
                path = ((node, slot),)
            else:  # a rule that reaches through its argument (‖u‖² to u)
                path = ()
                for i, a in enumerate(node.args):
                    for j, b in enumerate(a.args):
                        if b is argument and not path:
                            path = ((node, i), (a, j))
                fused = bool(path)
            records.append(("edge", node, slot, path, argument, cotangent, fused))
            contributions[argument] = contributions.get(argument, 0) + 1
            waiting.setdefault(argument, []).append(cotangent)
    if result is None:
        result = zeros_like(x)
    for record in records:
        if record[0] == "sum":
            _, node, g, count = record
            words = [f"sum of the {count} contributions to ", Math(*(as_denominator(node, STYLES[k])
                                                                  for k in ("unicode", "text", "latex")))]
            steps.append(Step("chain", render_parts(words, STYLES["unicode"]),
                              CotangentClaim(objective, node, g, names), g, node.shape, tuple(words),
                              contributions=count))
            continue
        _, node, slot, path, argument, cotangent, fused = record
        words = rule_words(node, slot if slot is not None else (path[0][1] if path else 0), fused, taken)
        mapping = _mapping(node, slot, path, fused, taken)
        partial = contributions.get(argument, 0) > 1
        claim = CotangentClaim(objective, argument, cotangent, names, path if partial else ())
        steps.append(Step("chain", render_parts(words, STYLES["unicode"]), claim, cotangent, argument.shape,
                          tuple(words), mapping, operation=node))
    if symmetric != "none" and x.ndim == 2 and x.params[1] & {"sym", "spd"} and answer_node is not None:
        words = symmetric_words(x, symmetric)
        steps.append(Step("chain", render_parts(words, STYLES["unicode"]),
                          CotangentClaim(objective, x, answer_node, names, symmetric=symmetric),
                          answer_node, x.shape, tuple(words)))
    return steps, result


def _mapping(node: Node, slot: int | None, path: tuple, fused: bool, taken: set) -> tuple:
    """(Ḡ, the rule applied to Ḡ) with long operands as placeholders: the rule as a formula."""
    try:
        pattern, _ = rule_pattern(node, is_short, taken)
        gbar = var("Ḡ" if node.shape else "ḡ", node.shape)
        if fused:
            i, j = path[0][1], path[1][1]
            target = pattern.args[i].args[j]
            position = 0
        else:
            target = pattern.args[slot]
            position = sum(1 for a in pattern.args[:slot] if a is target)
        entries = [c for a, c in OPS[pattern.op].pullback(pattern, gbar, lambda n: n is target) if a is target]
        stood_in = pattern is not node and any(v.params[0] in PLACEHOLDERS and v not in free_variables(node)
                                               for v in free_variables(pattern))
        words = OPS[node.op].words
        shown = stood_in and not (words and words.names_operands)  # a product's words name its operands
        return (gbar, entries[position], pattern if shown else None) if position < len(entries) else ()
    except (MatdiffError, IndexError, TypeError, ValueError, AttributeError):
        return ()
