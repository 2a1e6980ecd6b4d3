"""Answers in Unicode and LaTeX as a textbook writes them; the text form stays the language.

A vector v @ M is the column Mᵀ v (`2 Xᵀ(X w − y)`), (X w − y)ᵀX only where a row is meant; a scalar
multiplies by juxtaposition (`λ I`), ⊙ stands between arrays only; a product of dimensions is a power
(`I_{n²}`); names are written as a person writes them (W₁, α, x̂); index letters are never the name of a
dimension; the notation section of `explain` marks as chosen the layout of the answer; one gradient per
variable; every Jupyter display is produced (its LaTeX is rendered by KaTeX in tests/test_katex.py).
"""
from __future__ import annotations

import re

import pytest

import matdiff as md
from matdiff.language import to_latex, to_unicode

LEAST_SQUARES = ("norm2(X @ w - y) ** 2", "w", "X: n×p, w: p, y: n")


def test_a_vector_times_a_matrix_is_the_column_of_the_textbook():
    d = md.derivative(*LEAST_SQUARES)
    assert d.text == "2 * (X @ w - y) @ X"  # the language as it was
    assert d.unicode == "2 Xᵀ(X w − y)"
    assert d.latex == r"2 {X}^\top \left(X w - y\right)"
    assert to_unicode(d.node, row=True) == "2 (X w − y)ᵀ X"  # the row form, where a row is meant
    assert md.parse("x @ A", "x: n, A: n×m").unicode == "Aᵀ x"
    assert md.parse("x @ A @ B", "x: n, A: n×m, B: m×k").unicode == "Bᵀ Aᵀ x"
    assert md.parse("x @ A @ x", "x: n, A: n×n").unicode == "xᵀ A x"  # a scalar: the row form is the textbook's
    assert md.parse("2 * x @ A @ x", "x: n, A: n×n").unicode == "2 xᵀ A x"
    s = md.parse("x @ S", "x: n, S: n×n sym")
    assert s.unicode == "S x"  # a symmetric matrix is its own transpose


def test_a_scalar_multiplies_by_juxtaposition():
    assert md.parse("lam * eye(n)", "lam: scalar, A: n×n").unicode == "λ Iₙ"
    assert md.parse("lam * eye(n)", "lam: scalar, A: n×n").latex == r"\lambda I_{n}"
    assert md.derivative("logdet(kron(eye(n), S))", "S", "S: n×n spd").unicode == "n S⁻¹"
    d = md.derivative("N * logdet(S) + tr(inv(S) @ A)", "S", "S: n×n spd, A: n×n, N: scalar")
    assert "⊙" not in d.unicode and r"\odot" not in d.latex and "N S⁻¹" in d.unicode
    assert md.parse("x * y", "x: n, y: n").unicode == "x ⊙ y"  # between arrays it stays
    assert md.parse("s * x * y", "x: n, y: n, s: scalar").unicode == "s x ⊙ y"
    assert md.parse("(x @ A) * y", "x: n, A: n×n, y: n").unicode == "(Aᵀ x) ⊙ y"  # never read into ⊙


def test_a_product_of_dimensions_is_a_power():
    e = md.parse("eye(n * n)", "A: n×n")
    assert (e.unicode, e.latex) == ("Iₙ²", r"I_{{n}^{2}}")
    assert md.parse("n * n * x", "x: n").unicode == "n² x"


def test_names_as_a_person_writes_them():
    e = md.parse("alpha * W1 @ x_hat + lam * W_out @ y_bar",
                 "alpha: scalar, lam: scalar, W1: m×n, W_out: m×n, x_hat: n, y_bar: n")
    assert e.text == "alpha * W1 @ x_hat + lam * W_out @ y_bar"
    assert e.unicode == "α W₁ x̂ + λ W_out y\u0304"  # combining accents: x̂, ȳ
    assert e.latex == r"\alpha W_{1} \hat{x} + \lambda W_{\mathrm{out}} \bar{y}"
    d = md.derivative("sum(W1 @ x)", "W1", "W1: m×n, x: n")
    assert d.index.latex == r"\frac{\partial \operatorname{sum}\left(W_{1} x\right)}{\partial W_{1,kl}} = x_{l}"
    assert "(W₁)ₖₗ" in d.index.unicode  # W₁ indexed: never W₁ₖₗ


def test_a_number_with_an_exponent_is_a_power_of_ten():
    shapes = "x: n, X: n×n"
    layer_norm = md.parse("x / sqrt(var(x) + 1e-5)", shapes)
    assert layer_norm.text == "x / sqrt(var(x) + 1e-05)"  # the language as Python writes the number
    assert layer_norm.unicode == "x / sqrt(var(x) + 10⁻⁵)"
    assert layer_norm.latex.endswith(r"+ 10^{-5}}}")
    assert md.parse("2.5e-7 * x", shapes).unicode == "2.5 · 10⁻⁷ x"
    assert md.parse("1e20 * x", shapes).latex == "10^{20} x"
    assert md.parse("x - 1e-5", shapes).unicode == "x − 10⁻⁵"
    # a product as the base of a power, or a divisor, keeps its parentheses
    assert md.parse("x ** 2.5e-7", shapes).unicode == "x^(2.5 · 10⁻⁷)"
    assert md.parse("x / 2.5e-7", shapes).unicode == "x / (2.5 · 10⁻⁷)"
    assert md.parse("x ** 1e-5", shapes).latex == "{x}^{10^{-5}}"


def test_sqrt_is_written_with_its_radical():
    assert md.parse("sqrt(x @ x)", "x: n").latex == r"\sqrt{{x}^\top x}"
    d = md.derivative("sqrt(x @ inv(S) @ x)", "x", "x: n, S: n×n spd")
    assert r"\sqrt\left" not in d.latex and r"\sqrt{" in d.latex and r"\sqrt\left" not in d.index.latex


def test_index_letters_are_never_a_dimension():
    form = md.derivative("norm2(tanh(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k").index
    letters = set(re.findall(r"\[([a-z,()]+)\]", form.text)[0].replace(",", "")) | \
        {c for group in re.findall(r"\[([a-z,()]+)\]", form.text) for c in group if c.isalpha()}
    assert not letters & {"n", "p", "k"}, form.text
    assert "Σ_p" not in form.text
    x = md.explain("W @ X", "W", "W: i×j, X: j×k")  # dimensions named i, j, k: the entries take other letters
    for step in x.index_route:
        used = {c for group in re.findall(r"\[([a-z,]+)\]", step.claim.text) for c in group if c.isalpha()}
        assert not used & {"i", "j", "k"}, step.claim.text


def test_the_layout_chosen_is_the_answers_own():
    x = md.explain("tr(A @ X)", "X", "A: m×n, X: n×m")  # the answer Aᵀ is n×m, the shape of X
    chosen = [s for s in x.layouts if "(chosen)" in s.rule]
    assert len(chosen) == 1 and chosen[0].expression is x.answer.node
    x = md.explain(*LEAST_SQUARES, layout="numerator")
    row = next(s for s in x.layouts if s.rule.startswith("numerator (chosen)"))
    assert row.claim.unicode == "numerator: 2 (X w − y)ᵀ X"  # the row ∂φ/∂wᵀ, written as a row


def test_one_gradient_per_variable():
    where = "X: m×n, D: m×k, R: k×n"
    g = md.gradient("norm2(X - D @ R) ** 2", ["D", "R"], where)
    assert list(g) == ["D", "R"]
    assert g["D"].text == "-2 * (X - D @ R) @ R.T" and g["R"].text == "-2 * D.T @ (X - D @ R)"
    assert g["R"].unicode == "−2 Dᵀ(X − D R)"
    assert md.derivative("norm2(X - D @ R) ** 2", ["D", "R"], where).kind == "hessian"  # mixed, by name
    with pytest.raises(md.MatdiffError, match="Q"):
        md.gradient("norm2(X - D @ R) ** 2", ["D", "Q"], where)


def test_every_result_displays_in_jupyter():
    where = "X: m×n, D: m×k, R: k×n"
    f = "norm2(X - D @ R) ** 2"
    d = md.derivative(f, "D", where)
    assert d._repr_latex_().startswith("$") and "$$" in d._repr_markdown_()
    assert md.parse(f, where)._repr_latex_().startswith("$")
    assert "$$" in md.explain(f, "D", where)._repr_markdown_()
    verdict = md.verify(f, "D", where, claim="2 * R @ (X - D @ R).T")
    assert "**wrong**" in verdict._repr_markdown_() and "$$" in verdict._repr_markdown_()
    report = md.check(f, ("D", "R"), where)
    table = report._repr_markdown_()
    assert "| by | method | error | tolerance |" in table and table.count("\n| `") == len(report.rows)
    assert "$$" in md.gradient(f, ["D", "R"], where)._repr_markdown_()


def test_the_text_form_is_unchanged_and_reads_back():
    for text, where in [("2 * (X @ w - y) @ X", "X: n×p, w: p, y: n"), ("lam * eye(n)", "lam: scalar, A: n×n"),
                        ("eye(n * n)", "A: n×n"), ("alpha * W1 @ x_hat", "alpha: scalar, W1: m×n, x_hat: n")]:
        e = md.parse(text, where)
        assert e.text == text and md.parse(e.text, where).node is e.node
    assert to_latex(md.parse("x", "x: n").node, row=True) == r"{x}^\top"
