"""`explain` fits on one screen (≤ 60 lines) without dropping a route, a step or a check.

The printed forms fold what a student reads at a glance, never what the derivation claims: a chain-rule
step whose rule is the identity (Ḡ ↦ Ḡ, an addition of a constant) shares the line of the step that
continues from it; consecutive rewrites that only move a factor across the Frobenius product are one
line citing each identity; the layouts are one line where each is the answer or its transpose; a
Jacobian of more than a handful of rows is compared with central differences by its largest relative
difference, its entries not printed. `Derivation.steps` keeps every step and claim (`verify` checks
them all); each printed line is one of them.
"""
from __future__ import annotations

import re

import pytest

import matdiff as md
from matdiff.derivation.derivation import _layout_rows, chain_entries, differential_entries

SCREEN = 60
LAYER_NORM = ("gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta",
              "X", "X: n×d, gamma: d, beta: d")
LAYER_NORM_VECTOR = ("gamma * (x - mean(x)) / sqrt(var(x) + 1e-5) + beta", "x", "x: d, gamma: d, beta: d")
CROSS_ENTROPY = ("-sum(Y * log_softmax(X @ W, axis=1))", "W", "X: n×p, W: p×k, Y: n×k")  # ml2-ce-rows-W
NET = ("norm2(tanh(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k")

# The first edition's explanations, each at most as long as it is now (text and Unicode lines); before
# the folds they were 50, 50, 55, 44, 38, 37, 29, 28, 47, 46 lines.
FIRST_EDITION = [
    (("W @ X", "W", "W: m×q, X: q×n"), 44),
    (("W @ X", "X", "W: m×q, X: q×n"), 44),
    (("A @ X @ B", "X", "A: n×p, X: p×r, B: r×m"), 36),
    (("W @ x", "W", "W: n×m, x: m"), 38),
    (NET, 30),
    (("norm2(X - D @ R) ** 2", "D", "X: m×n, D: m×k, R: k×n"), 29),
    (("a @ G @ a", "G", "a: n, G: n×n"), 23),
    (("logdet(X)", "X", "X: n×n"), 22),
    (("0.5 * logdet(S) + 0.5 * (x - mu) @ inv(S) @ (x - mu)", "S", "x: n, mu: n, S: n×n spd"), 37),
    (("tanh(A @ x)", "x", "A: m×n, x: n"), 39),
]


def lines(text: str) -> int:
    return len(text.splitlines())


@pytest.mark.parametrize("question", [LAYER_NORM, LAYER_NORM_VECTOR, CROSS_ENTROPY],
                         ids=["layer norm by X", "layer norm by x", "cross-entropy by W"])
def test_the_second_editions_explanations_fit_on_a_screen(question):
    d = md.explain(*question)
    for form in (d.text, d.unicode):
        assert lines(form) <= SCREEN, form
    # every route, every check: nothing dropped to fit
    titles = re.findall(r"^\d\. (.+?)(?: \(|,|$)", d.unicode, flags=re.M)
    expected = ["Chain rule", "Differential route"] + (["Index notation"] if d.function.node.shape else []) + \
        ["What the notation means", "A small explicit check"]
    assert titles == expected
    assert d.example is not None and d.example.agrees and len(d.example.items) == (2 if d.vjp else 1)
    assert not [step.rule for step, error in d.verify(None, 0) if not error <= 1e-6]
    assert d.markdown.count("#### ") == len(expected) and d.latex.count(r"\paragraph{") == len(expected) + 1


@pytest.mark.parametrize("question, most", FIRST_EDITION, ids=[f"{q[0]} by {q[1]}" for q, _ in FIRST_EDITION])
def test_the_first_editions_explanations_get_no_longer(question, most):
    d = md.explain(*question)
    assert lines(d.text) <= most and lines(d.unicode) <= most


def test_an_identity_step_shares_the_line_of_the_step_that_continues_from_it():
    d = md.explain(*NET)
    assert [s.rule for s in d.chain_rule][1:] == ["squared Frobenius norm", "subtraction", "elementwise tanh",
                                                  "left multiplication by X"] or \
        [s.rule for s in d.chain_rule][1:] == ["squared Frobenius norm", "addition", "elementwise tanh",
                                               "left multiplication by X"]  # every step is kept
    entries = chain_entries(d.chain_rule)
    assert [len(e) for e in entries] == [1, 1, 2, 1]
    assert entries[2][0].passes_through and not entries[2][1].passes_through
    assert "   2. addition U − Y: Ḡ ↦ Ḡ, then elementwise tanh: Ḡ ↦ Ḡ ⊙ (1 − A²)\n" \
           "      ∂φ/∂(X W) = 2 (A − Y) ⊙ (1 − A²)   [n×k]" in d.unicode
    assert "2. addition U - Y: Gbar -> Gbar, then elementwise tanh: Gbar -> Gbar * (1 - A ** 2)" in d.text
    assert r"\bar{G} \mapsto \bar{G}$, then elementwise tanh" in d.markdown
    assert r"\text{, then }\text{elementwise tanh}" in d.latex


def test_the_start_is_in_the_chain_rules_title_and_a_sum_of_contributions_is_one_line():
    d = md.explain(*LAYER_NORM)
    assert "1. Chain rule (reverse mode, outermost operation first), starting from the upstream gradient " \
           "G = ∂φ/∂D (φ = G : D)\n   1. addition U + β: Ḡ ↦ Ḡ, then division by V in U / V" in d.unicode
    assert "   10. sum of the 3 contributions to X: ∂φ/∂X = " in d.unicode
    # Ḡ ↦ Ḡ to the variable itself continues nowhere: its rule and the gradient it passes on, one line
    assert "   6. addition X + U: Ḡ ↦ Ḡ, so ∂φ/∂X (through X − mean(X, axis=1, keepdims=True)) = γ ⊙ G / σ" \
           "   [n×d]" in d.unicode
    assert "1. Chain rule (reverse mode, outermost operation first), starting from ∂φ/∂φ = 1" in \
        md.explain(*CROSS_ENTROPY).unicode


def test_every_printed_chain_and_differential_line_is_a_claim_of_a_step():
    d = md.explain(*LAYER_NORM)
    style = d.style_for("unicode")  # σ = sqrt(var(X, …) + 10⁻⁵), as the answer names it
    claims = {step.claim.render(style) for step in d.steps}
    chain = d.unicode.split("\n1. Chain rule")[1].split("\n2. ")[0]
    printed = re.findall(r"^      (∂φ/∂.*?)   \[", chain, flags=re.M)
    printed += re.findall(r"(?:, so |: )(∂φ/∂.*?)   \[", chain)
    assert len(printed) == len(chain_entries(d.chain_rule)) - 1 and set(printed) <= claims
    assert len(d.chain_rule) - len(chain_entries(d.chain_rule)) == 2  # U + β and U + 10⁻⁵ folded
    route = d.unicode.split("\n2. Differential route")[1].split("\n3. ")[0]
    printed = re.findall(r"^   (?:dφ|  ) = (.*?)   \[", route, flags=re.M)
    assert len(printed) == len([e for e in differential_entries(d.differential_route)
                                if e[-1].claim.render(style).startswith("dφ = ")])
    assert {f"dφ = {p}" for p in printed} <= claims


def test_rewrites_that_only_move_factors_are_one_line_citing_each_identity():
    d = md.explain(*LAYER_NORM_VECTOR)
    entries = differential_entries(d.differential_route)
    assert sum(len(e) for e in entries) == len(d.differential_route)
    assert "   [A : (B / c) = (A / c) : B; A : (B ⊙ C) = (A ⊙ B) : C]" in d.unicode
    assert "   [A : (B / c) = (A / c) : B; A : (B * C) = (A * B) : C]" in d.text
    assert r"A : (B / c) = (A / c) : B};{A : (B \odot C)" in d.markdown.replace(r"\text{; }", ";")
    # an identity used twice in a run is cited once; splitting a sum and collecting keep their own line
    x = md.explain(*LAYER_NORM)
    tags = re.findall(r"   \[([^\[\]]*)\]$", x.unicode.split("\n2. ")[1].split("\n3. ")[0], flags=re.M)
    assert all(len(set(tag.split("; "))) == len(tag.split("; ")) for tag in tags)
    assert "A : (B + C) = A : B + A : C" in tags and "A : C + B : C = (A + B) : C" in tags
    # the differential rules are named on the differential's own line
    assert "[the differential, by the rules of each operation: d(U + β) = dU; d(U / V) = dU / V" in x.unicode


def test_a_large_jacobian_is_compared_by_its_largest_difference_and_the_backprop_rule_printed():
    d = md.explain(*LAYER_NORM)
    jacobian, rule = d.example.items
    assert not jacobian.printed and rule.printed and jacobian.reference.shape == (6, 6)
    check = d.unicode.split("\n5. A small explicit check")[1]
    assert check.startswith(" (n = 2, d = 3; 0/1 entries, chosen so that the function is defined)")
    assert f"∂ vec(D)/∂ vec(X)ᵀ, the answer (6×6, not printed) against central differences: max relative " \
           f"difference {jacobian.error:.1e}: agree" in check
    assert check.count("formula:") == 1 and check.count("central difference:") == 1
    assert "the answer (6×6, not printed)" in d.markdown and "the answer (6 x 6, not printed)" in d.latex
    small = md.explain(*LAYER_NORM_VECTOR)  # a 2×2 Jacobian is printed
    assert all(item.printed for item in small.example.items) and small.unicode.count("formula:") == 2


def test_the_layouts_are_one_line_where_each_is_the_answer_or_its_transpose():
    d = md.explain(*CROSS_ENTROPY)
    assert "Jacobians as in numerator): numerator (k×p, transposed) = (the answer)ᵀ; denominator (shaped like W " \
           "(p×k), the gradient) = the answer; mixed (chosen; shaped like W (p×k), the gradient) = the answer" in d.unicode
    assert "- numerator (k×p, transposed) = the answer transposed; denominator" in d.markdown
    chosen = md.explain("tr(A @ X)", "X", "A: m×n, X: n×m", layout="numerator").unicode
    assert "numerator (chosen; m×n, transposed) = (the answer)ᵀ; denominator" in chosen
    # a layout written out (neither the answer nor its transpose): a row each, as before
    rows = _layout_rows(["numerator (chosen): m×n, transposed", "mixed: shaped like X"], [": A", " = the answer"])
    assert rows == ["numerator (chosen): m×n, transposed: A", "mixed: shaped like X = the answer"]
