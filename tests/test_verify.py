"""`md.verify` and `matdiff verify`: the verdict on a claimed derivative, its diagnosis, evidence and answer.

The seed examples of issue #9 first (the factor of a backprop rule taken for dD/dW, a derivative
summed over the variable's indices, 2Ax for a non-symmetric quadratic form, a transposed gradient),
then each convention and each confusion, the symmetric-matrix conventions, backprop-rule claims,
errors, the output forms, and every answer of the public corpus recognised as correct.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff.cli import app

from corpus import cases, declarations, extra_cases, needs_corpus

PRODUCT = "W: m×q, X: q×n"
CONVENTION = "correct up to a convention"


def verdict(expr, wrt, shapes, claim, **options):
    return md.verify(expr, wrt, shapes, claim=claim, **options)


def explanation(result, kind):
    found = [f.explanation for f in result.diagnosis if f.kind == kind]
    assert found, f"no {kind!r} finding in {result.kinds}"
    return found[0]


# ---- the seed examples ------------------------------------------------------------------------


def test_XT_for_WX_by_W_is_the_factor_of_the_backprop_rule_not_the_4th_order_derivative():
    result = verdict("W @ X", "W", PRODUCT, "X.T")
    assert result.verdict == "wrong"
    why = explanation(result, "backprop factor")
    assert "∂φ/∂W = G Xᵀ" in why and "4th-order tensor" in why
    assert "shape" in result.kinds
    e = result.evidence
    assert e.claim_shape == "n×q" and e.true_shape == "m×n×m×q" and e.max_error is None
    assert result.answer.vec == "kron(X.T, eye(m))" and result.answer.backprop == "G @ X.T"


def test_WT_for_WX_by_W_is_the_factor_of_the_rule_for_X():
    result = verdict("W @ X", "W", PRODUCT, "W.T")
    assert result.verdict == "wrong"
    why = explanation(result, "backprop factor")
    assert "rule for X" in why and "∂φ/∂X = Wᵀ G" in why and "∂φ/∂W = G Xᵀ" in why


def test_X_for_WX_by_W_is_the_factor_transposed():
    assert "backprop factor" in verdict("W @ X", "W", PRODUCT, "X").kinds


def test_a_vector_for_Wx_by_W_is_wrong_the_derivative_is_a_3rd_order_tensor():
    result = verdict("W @ x", "W", "W: n×m, x: m", "(x.T @ ones(m)) * ones(n)")
    assert result.verdict == "wrong"
    assert "3rd-order tensor (n×n×m)" in explanation(result, "shape")
    assert "every entry of W moves together" in explanation(result, "summed over the variable")
    assert result.evidence.claim_shape == "n" and result.evidence.true_shape == "n×n×m"
    assert result.answer.vec == "kron(x, eye(n))"
    if result.answer.index is not None:  # the index form, where matdiff has it: δ_ik x_l
        assert "δ" in result.answer.index


def test_2Ax_for_a_non_symmetric_quadratic_form_is_wrong_and_holds_only_for_symmetric_A():
    result = verdict("x @ A @ x", "x", "x: n, A: n×n", "2 * A @ x")
    assert result.verdict == "wrong"
    why = explanation(result, "symmetric only")
    assert "A is symmetric" in why and "(A + A.T) @ x" in why
    assert verdict("x @ A @ x", "x", "x: n, A: n×n sym", "2 * A @ x").verdict == "correct"
    assert verdict("x @ A @ x", "x", "x: n, A: n×n", "(A + A.T) @ x").verdict == "correct"


def test_Ax_for_a_quadratic_form_is_off_by_2_and_holds_only_for_symmetric_A():
    result = verdict("x @ A @ x", "x", "x: n, A: n×n", "A @ x")
    assert result.verdict == "wrong" and result.kinds == ["symmetric only", "factor 2"]


def test_a_transposed_gradient_is_correct_up_to_the_layout():
    result = verdict("a @ X @ b", "X", "a: n, X: n×m, b: m", "outer(b, a)")
    assert result.verdict == CONVENTION and result.kinds == ["transposed layout"]
    assert result.evidence.compared_with == "transposed layout" and result.evidence.max_error < 1e-12
    assert verdict("a @ X @ b", "X", "a: n, X: n×m, b: m", "outer(a, b)").verdict == "correct"


# ---- conventions ------------------------------------------------------------------------------


@pytest.mark.parametrize("expr, wrt, shapes, claim, kind", [
    ("A @ x", "x", "A: m×n, x: n", "A.T", "transposed layout"),                   # denominator layout
    ("tr(A @ X)", "X", "A: n×n, X: n×n", "A", "transposed layout"),               # square: values decide
    ("W @ X", "W", PRODUCT, "kron(X, eye(m))", "transposed vec form"),
    ("W @ X", "W", PRODUCT, "kron(eye(m), X.T)", "row-major vec"),
    ("tr(A @ X)", "X", "A: m×n, X: n×m", "vec(A.T)", "vec of the gradient"),      # vec vs full
    ("tanh(X)", "X", "X: n×m", "1 - tanh(X) ** 2", "elementwise"),
    ("exp(x)", "x", "x: n", "exp(x)", "elementwise"),
    ("s * X", "s", "s: scalar, X: n×m", "sum(X)", "gradient of sum(f)"),
    ("sum(C + x)", "x", "C: m×n, x: n", "ones(n)", "missing sum"),                # a factor m
])
def test_conventions(expr, wrt, shapes, claim, kind):
    result = verdict(expr, wrt, shapes, claim)
    assert result.verdict == CONVENTION, result.text
    assert kind in result.kinds


def test_the_missing_sum_factor_is_the_size_of_the_dimension():
    result = verdict("sum(C + x)", "x", "C: m×n, x: n", "ones(n)")
    assert "divided by m" in explanation(result, "missing sum")
    assert verdict("sum(C + x)", "x", "C: m×n, x: n", "m * ones(n)").verdict == "correct"


def test_a_claim_that_needs_a_sum_is_wrong():
    result = verdict("sum(s * X)", "s", "s: scalar, X: n×m", "X")
    assert result.verdict == "wrong" and "missing sum" in result.kinds


# ---- factor 2, sign ---------------------------------------------------------------------------

LEAST_SQUARES = ("norm2(A @ x - b) ** 2", "x", "A: m×n, x: n, b: m")


@pytest.mark.parametrize("claim, kind, words", [
    ("A.T @ (A @ x - b)", "factor 2", "a factor 2 missing"),
    ("4 * A.T @ (A @ x - b)", "factor 2", "a factor 2 too many"),
    ("-2 * A.T @ (A @ x - b)", "sign", "wrong sign"),
    ("-A.T @ (A @ x - b)", "factor 2 and sign", "wrong sign"),
    ("3 * A.T @ (A @ x - b)", "scalar factor", "1.5 times"),
])
def test_factor_and_sign(claim, kind, words):
    result = verdict(*LEAST_SQUARES, claim)
    assert result.verdict == "wrong"
    assert words in explanation(result, kind)


def test_a_factor_on_a_transposed_layout_names_both():
    result = verdict("a @ X @ b", "X", "a: n, X: n×m, b: m", "-outer(b, a)")
    assert result.verdict == "wrong" and result.kinds[:2] == ["transposed layout", "sign"]


# ---- symmetric matrices -----------------------------------------------------------------------

SYM = "A: n×n, S: n×n sym"


@pytest.mark.parametrize("claim, expected, kind", [
    ("(A + A.T) / 2", "correct", None),                        # sym(G): matdiff's default
    ("A.T", CONVENTION, "symmetric=none"),                     # the unstructured gradient G
    ("A + A.T - A * eye(n)", CONVENTION, "symmetric=cookbook"),  # the Cookbook's G + Gᵀ − G ⊙ I
    ("A", CONVENTION, "symmetric part"),                       # same on symmetric directions
    ("A + A.T", "wrong", "factor 2"),
])
def test_symmetric_variable_conventions(claim, expected, kind):
    result = verdict("tr(A @ S)", "S", SYM, claim)
    assert result.verdict == expected, result.text
    if kind:
        assert kind in result.kinds
    assert set(result.answer.conventions) == {"sym", "none", "cookbook"}
    assert result.answer.conventions["none"] == "A.T"


def test_logdet_of_a_symmetric_matrix():
    assert verdict("logdet(S)", "S", "S: n×n spd", "inv(S)").verdict == "correct"
    assert verdict("logdet(S)", "S", "S: n×n spd", "inv(S).T").verdict == "correct"
    cookbook = verdict("logdet(S)", "S", "S: n×n spd", "2 * inv(S) - inv(S) * eye(n)")
    assert cookbook.verdict == CONVENTION and cookbook.kinds == ["symmetric=cookbook"]


def test_the_cookbook_rule_for_an_undeclared_symmetric_matrix_holds_only_if_it_is_symmetric():
    result = verdict("logdet(S)", "S", "S: n×n", "2 * inv(S) - inv(S) * eye(n)")
    assert result.verdict == "wrong"
    assert result.kinds[:2] == ["symmetric only", "symmetric=cookbook"]
    assert "declare S sym" in explanation(result, "symmetric only")


def test_a_symmetric_hessian_is_compared_on_symmetric_directions():
    # the Hessian of logdet on symmetric matrices: -K (S⁻ᵀ ⊗ S⁻¹) and -(S⁻¹ ⊗ S⁻¹) are the same bilinear form
    for claim in ("-commutation(n, n) @ kron(inv(S).T, inv(S))", "-kron(inv(S), inv(S))"):
        assert verdict("logdet(S)", "S", "S: n×n spd", claim, order=2).verdict == "correct"
    assert verdict("logdet(S)", "S", "S: n×n spd", "kron(inv(S), inv(S))", order=2).verdict == "wrong"


def test_hessians():
    assert verdict("x @ A @ x", "x", "x: n, A: n×n", "A + A.T", order=2).verdict == "correct"
    result = verdict("x @ A @ x", "x", "x: n, A: n×n", "2 * A", order=2)
    assert result.verdict == "wrong" and "symmetric only" in result.kinds


# ---- backpropagation rules --------------------------------------------------------------------


def test_a_backprop_rule_claim_finds_its_cotangent():
    result = verdict("W @ X", "W", PRODUCT, "G @ X.T")
    assert result.verdict == "correct" and result.cotangent == "G"
    assert result.answer.text == "G @ X.T" and result.answer.vec == "kron(X.T, eye(m))"


@pytest.mark.parametrize("claim", ["G.dot(X.T)", "np.dot(G, X.T)", "X.dot(G.T).T"])
def test_a_backprop_rule_pasted_from_numpy_finds_its_cotangent(claim):
    result = verdict("W @ X", "W", PRODUCT, claim)  # the array of a method is a value, not a function's name
    assert result.verdict == "correct" and result.cotangent == "G"


def test_a_backprop_rule_with_a_named_or_declared_cotangent():
    assert verdict("W @ X", "W", PRODUCT, "dY @ X.T", cotangent="dY").verdict == "correct"
    assert verdict("W @ X", "W", PRODUCT + ", G: m×n", "G @ X.T").verdict == "correct"


def test_the_rule_of_the_other_variable():
    result = verdict("W @ X", "W", PRODUCT, "W.T @ G")
    assert result.verdict == "wrong"
    assert "rule for X" in explanation(result, "other variable")


def test_the_gradient_by_another_variable():
    result = verdict("norm2(X - D @ R) ** 2", "D", "X: m×n, D: m×k, R: k×n", "-2 * D.T @ (X - D @ R)")
    assert result.verdict == "wrong" and "by R" in explanation(result, "other variable")


# ---- several points, distinct sizes -------------------------------------------------------------


def test_the_verdict_does_not_rest_on_one_point():
    # 3 * ones(n) is right at the first point only, where m = 3
    result = verdict("sum(C + x)", "x", "C: m×n, x: n", "3 * ones(n)")
    assert result.evidence.sizes["m"] == 3 and result.evidence.points == 3
    assert result.verdict != "correct"
    assert result.evidence.max_error is not None and result.evidence.errors[0] < 1e-12 < result.evidence.max_error


def test_values_that_differ():
    result = verdict(*LEAST_SQUARES, "A.T @ b")
    assert result.verdict == "wrong" and result.kinds == ["values"]
    assert result.evidence.max_error > 1e-3


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("claim, error, words", [
    ("X.T @", md.ParseError, "the claim does not parse"),
    ("X @ W", md.ShapeError, "the claim does not shape-check"),
    ("Xt", md.UnknownNameError, "did you mean 'X'"),
    ("G @ H", md.UnknownNameError, "unknown variable"),
])
def test_claims_that_do_not_parse_or_shape_check(claim, error, words):
    with pytest.raises(error, match=words):
        verdict("W @ X", "W", PRODUCT, claim)


def test_an_unknown_variable_and_a_misdeclared_cotangent():
    with pytest.raises(md.UnknownNameError, match="not a declared variable"):
        verdict("W @ X", "V", PRODUCT, "X.T")
    with pytest.raises(md.DeclarationError, match="must have the function's shape"):
        verdict("W @ X", "W", PRODUCT + ", G: m×q", "G @ X.T", cotangent="G")


# ---- the result's forms -----------------------------------------------------------------------


def test_text_unicode_markdown_and_json():
    result = verdict("W @ X", "W", PRODUCT, "X.T")
    assert result.text.startswith("verdict: wrong") and "backprop factor" in result.text
    assert "Xᵀ" in result.unicode
    assert result._repr_markdown_().startswith("**wrong**")
    data = json.loads(json.dumps(result.to_json()))
    assert data["verdict"] == "wrong" and data["diagnosis"][0]["kind"] == "backprop factor"
    assert data["evidence"]["claim_shape"] == "n×q" and data["answer"]["vec"] == "kron(X.T, eye(m))"


def run(*args):
    return CliRunner().invoke(app, ["verify", *args])


def test_cli_text_and_exit_code():
    result = run("W @ X", "--wrt", "W", "--claim", "X.T", "--where", PRODUCT)
    assert result.exit_code == 1 and "backprop factor" in result.stdout
    assert run("W @ X", "--wrt", "W", "--claim", "G @ X.T", "-w", PRODUCT).exit_code == 0


def test_cli_json():
    result = run("a @ X @ b", "--wrt", "X", "--claim", "outer(b, a)", "-w", "a: n, X: n×m, b: m", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["verdict"] == CONVENTION and data["diagnosis"][0]["kind"] == "transposed layout"


def test_cli_error():
    result = run("W @ X", "--wrt", "W", "--claim", "X.T @", "-w", PRODUCT)
    assert result.exit_code == 2 and "the claim does not parse" in result.stderr


# ---- the corpus: every published answer is recognised as correct ------------------------------

CORPUS = [c for c in cases() if c["kind"] in ("case", "vjp")] + extra_cases(("case", "vjp"))


@needs_corpus
@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_every_corpus_answer_is_correct(case):
    shapes = declarations(case, with_properties=True)
    if case["kind"] == "vjp":
        result = md.verify(case["f"], case["wrt"], shapes, claim=case["expect"], cotangent=case.get("cotangent", "G"))
    else:
        result = md.verify(case["f"], case["wrt"], shapes, claim=case["expect"], order=case.get("order", 1))
    if result.kinds == ["symmetric=none"]:
        # a published unstructured gradient by a variable declared symmetric: matdiff answers sym(G)
        # and names the convention; without the declaration the claim is matdiff's answer itself
        assert result.verdict == "correct up to a convention", result.text
        shapes = declarations(case)
        result = md.verify(case["f"], case["wrt"], shapes, claim=case["expect"], order=case.get("order", 1))
    assert result.verdict == "correct", result.text
    assert result.evidence.max_error < 1e-7


@needs_corpus
@pytest.mark.parametrize("case", [c for c in CORPUS if c["kind"] == "vjp"], ids=lambda c: c["id"])
def test_corpus_backprop_rules_are_recognised_without_naming_the_cotangent(case):
    result = md.verify(case["f"], case["wrt"], declarations(case, with_properties=True), claim=case["expect"])
    if "G" in case["expect"]:
        assert result.cotangent == "G" and result.verdict == "correct", result.text
