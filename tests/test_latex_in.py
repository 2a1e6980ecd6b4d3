"""Formulas written in LaTeX read to the expressions they mean.

Every [[expression]] of the LaTeX seeds (../shared/corpus/latex/seeds.toml: formulas as the pages
matdiff was started from write them) reads to the node of its `means`; the entries not read yet are
listed with the reason, strictly, so that one read later must leave the list. Then the pieces:
products by juxtaposition settled by the shapes, the spellings of the transpose, the functions, the
declarations as pages write them, and the formulas with two readings, which are errors showing both.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

import matdiff as md
from matdiff.language.latex import AmbiguityError, parse_latex
from matdiff.language.latex_questions import parse_latex_claim, parse_latex_question

SEEDS = Path(os.environ.get("MATDIFF_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus" /
                            "check.py")).parent / "latex" / "seeds.toml"
SEED_FILE = tomllib.loads(SEEDS.read_text()) if SEEDS.is_file() else {}
ENTRIES = SEED_FILE.get("expression", [])
QUESTIONS = SEED_FILE.get("question", [])
CLAIMS = SEED_FILE.get("claim", [])
CLAIMS_NOT_READ_YET: dict[str, str] = {}  # id -> why

NOT_READ_YET: dict[str, str] = {}  # id -> why it is not read yet


def _param(entry):
    marks = [pytest.mark.xfail(reason=NOT_READ_YET[entry["id"]], strict=True, raises=md.NotSupportedError)] \
        if entry["id"] in NOT_READ_YET else []
    return pytest.param(entry, id=entry["id"], marks=marks)


@pytest.mark.skipif(not ENTRIES, reason="the LaTeX seeds (../shared/corpus/latex) are not here")
@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_a_seed_formula_reads_to_what_it_means(entry):
    assert parse_latex(entry["latex"], entry["where"]) is md.parse(entry["means"], entry["vars"]).node


@pytest.mark.skipif(not QUESTIONS, reason="the LaTeX seeds (../shared/corpus/latex) are not here")
@pytest.mark.parametrize("entry", QUESTIONS, ids=[e["id"] for e in QUESTIONS])
def test_a_seed_question_reads_to_its_function_and_variable(entry):
    question = parse_latex_question(entry["latex"], entry["where"])
    assert question.f is md.parse(entry["f"], entry["vars"]).node
    assert question.wrt == entry["wrt"]


def _claim_param(entry):
    marks = [pytest.mark.xfail(reason=CLAIMS_NOT_READ_YET[entry["id"]], strict=True, raises=md.MatdiffError)] \
        if entry["id"] in CLAIMS_NOT_READ_YET else []
    return pytest.param(entry, id=entry["id"], marks=marks)


@pytest.mark.skipif(not CLAIMS, reason="the LaTeX seeds (../shared/corpus/latex) are not here")
@pytest.mark.parametrize("entry", [_claim_param(e) for e in CLAIMS])
def test_a_seed_claim_reads_to_its_question_and_answer(entry):
    """The claim is read as written; whether it is right is md.verify's to say. A claim whose shapes do
    not fit (the backprop rule with its factors the wrong way round) is refused with a shape error."""
    f = md.parse(entry["f"], entry["vars"]).node
    variables = dict(entry["vars"]) | ({entry["vjp"]: " ".join(map(str, f.shape))} if "vjp" in entry else {})
    try:
        claim = parse_latex_claim(entry["latex"], entry["where"])
    except md.ShapeError:
        assert entry["verdict"] == "wrong"
        return
    assert (claim.question.f, claim.question.wrt, claim.cotangent) == (f, entry["wrt"], entry.get("vjp"))
    assert claim.claim is md.parse(entry["claim"], variables).node


WHERE = "x: n, y: n, A: n×n, B: n×n, X: n×n, W: m×q, Y: m×q, V: q×p, s: scalar, lam: scalar, g: function"


def reads(latex: str, where: str = WHERE) -> str:
    return str(parse_latex(latex, where))


def means(text: str, where: str = WHERE):
    return md.parse(text, where).node


@pytest.mark.parametrize("latex, text", [
    (r"x^T A x", "x @ A @ x"),
    (r"\mathbf{W}\mathbf{V}", "W @ V"),
    (r"W \cdot V", "W @ V"),
    (r"x y^T", "outer(x, y)"),
    (r"x^T y", "x @ y"),
    (r"s W", "s * W"),
    (r"W s", "W * s"),
    (r"2 x^T A x", "2 * (x @ A @ x)"),
    (r"\lambda \|W\|_F^2", "lam * norm2(W) ** 2"),
    (r"A X B", "A @ X @ B"),
    (r"x^T (A + B) y", "x @ (A + B) @ y"),
    (r"\mathbf{1}_n^T x", "ones(n) @ x"),
    (r"\mathbf{1}^T x", "ones(n) @ x"),
    (r"A I", "A"),
    (r"A + I", "A + eye(n)"),
    (r"A + I_n", "A + eye(n)"),
    (r"A + \lambda I", "A + lam * eye(n)"),
    (r"X^T X + 2 \lambda I", "X.T @ X + 2 * lam * eye(n)"),
    (r"W \mathbf{1}", "W @ ones(q)"),
    (r"\mathbf{1}^T W \mathbf{1}", "ones(m) @ W @ ones(q)"),
    (r"x \cdot y", "x @ y"),
    (r"e^{s}", "exp(s)"),
])
def test_a_product_written_side_by_side_is_the_one_the_shapes_allow(latex, text):
    assert parse_latex(latex, WHERE) is means(text)


@pytest.mark.parametrize("latex", [r"A^T", r"A^\top", r"A^{\top}", r"A^{T}", r"A^{\mathsf T}", r"A^{\mathsf{T}}",
                                   r"A'", r"A^\intercal", r"A^{\text{T}}"])
def test_every_spelling_of_the_transpose(latex):
    assert parse_latex(latex, WHERE) is means("A.T")


@pytest.mark.parametrize("latex, text", [
    (r"A^{-1}", "inv(A)"),
    (r"(A + B)^{-1}", "inv(A + B)"),
    (r"\operatorname{tr}(A X)", "tr(A @ X)"),
    (r"\mathrm{Tr}(A X)", "tr(A @ X)"),
    (r"\mathrm{tr}\, X", "tr(X)"),
    (r"tr(XA)", "tr(X @ A)"),
    (r"\det X", "det(X)"),
    (r"\log\det X", "logdet(X)"),
    (r"\log|X|", "logdet(X)"),
    (r"\|W - Y\|_F^2", "norm2(W - Y) ** 2"),
    (r"\Vert W\Vert_F", "norm2(W)"),
    (r"\left\| W \right\|_F", "norm2(W)"),
    (r"W \odot Y", "W * Y"),
    (r"W \circ Y", "W * Y"),
    (r"A \otimes B", "kron(A, B)"),
    (r"\frac{1}{2} \|W\|_F^2", "0.5 * norm2(W) ** 2"),
    (r"\frac{x^T A x}{s}", "(x @ A @ x) / s"),
    (r"\sqrt{s}", "sqrt(s)"),
    (r"\exp(W)", "exp(W)"),
    (r"\log(s)", "log(s)"),
    (r"\tanh(W)", "tanh(W)"),
    (r"\sigma(W)", "sigmoid(W)"),
    (r"\sum W", "sum(W)"),
    (r"g(W V)", "g(W @ V)"),
    (r"\bm x^T \boldsymbol{A} \mathbf x", "x @ A @ x"),
    (r"-x^T A x + \lambda", "lam - x @ A @ x"),
    (r"s^2", "s ** 2"),
    (r"\mathrm{tr}(A)^2", "tr(A) ** 2"),
    (r"x^T y / 2", "(x @ y) / 2"),
    (r"\log \lvert X \rvert", "logdet(X)"),
    (r"x^{\prime} A x", "x @ A @ x"),
    (r"\|x\|_1", "norm(x, 1)"),
    (r"\mathrm{diag}(x)", "diag(x)"),
    (r"\|W\|_{\text{F}}^{2}", "norm2(W) ** 2"),
    (r"\mathrm{Tr}(X^2)", "tr(matrix_power(X, 2))"),
    (r"X^{\circ 2}", "X ** 2"),
    (r"\|x - A y\|^2_2", "norm2(x - A @ y) ** 2"),
    (r"{\rm Tr}(A X)", "tr(A @ X)"),
    (r"A^{\rm T} B", "A.T @ B"),
    (r"A^{\operatorname{T}}", "A.T"),
    (r"\frac12 x^T A x", "0.5 * (x @ A @ x)"),
])
def test_the_functions_and_operators(latex, text):
    assert parse_latex(latex, WHERE) is means(text)


@pytest.mark.parametrize("latex, text", [
    (r"W_1 W_{2}", "W_1 @ W_2"),
    (r"\mathbf{W}_1 \mathbf{W}_{2}", "W_1 @ W_2"),
    (r"W_2\, g(W_1 x)", "W_2 @ g(W_1 @ x)"),
])
def test_a_subscripted_name_is_a_variable_of_its_own(latex, text):
    where = "x: n, W_1: n×n, W_2: n×n, g: function"
    assert parse_latex(latex, where) is md.parse(text, where).node


@pytest.mark.parametrize("latex, where, text, variables", [
    (r"\mathbf{W}\mathbf{X}", r"\mathbf{W} \in \Re^{m q}, \mathbf{X} \in \Re^{q n}", "W @ X", "W: m×q, X: q×n"),
    (r"W X", r"W \in \mathbb{R}^{m \times q}, X \in \mathbb R^{q\times n}", "W @ X", "W: m×q, X: q×n"),
    (r"x^T S^{-1} x", r"x \in \mathbb{R}^n, S \in \mathbb{S}^n_{++}", "x @ inv(S) @ x", "x: n, S: n×n spd"),
    (r"\lambda x", r"\lambda \in \mathbb{R}, x \in \mathbb{R}^n", "lam * x", "lam: scalar, x: n"),
    (r"D", r"\mathbf{D} = \mathbf{W}\mathbf{X}, \mathbf{W} \in \Re^{m q}, \mathbf{X} \in \Re^{q n}", "W @ X",
     "W: m×q, X: q×n"),
    (r"W X", {"W": ("m", "q"), "X": ("q", "n")}, "W @ X", "W: m×q, X: q×n"),
    (r"x^T A x", r"x ∈ ℝ^n, A \in R^{n \times n}", "x @ A @ x", "x: n, A: n×n"),
    (r"x^T A x", r"x \in \mathbb{R}^{n \times 1}, A \in \mathbb{R}^{n \times n}", "x @ A @ x", "x: n, A: n×n"),
])
def test_declarations_as_pages_write_them(latex, where, text, variables):
    assert parse_latex(latex, where) is md.parse(text, variables).node


def test_a_declared_set_keeps_its_property():
    assert md.parse_latex("S", r"S \in \mathbb{S}^n_{++}") == md.parse("S", "S: n×n spd")
    assert md.parse_latex("S", r"S \in \mathbb{S}^n") == md.parse("S", "S: n×n sym")


@pytest.mark.parametrize("latex, where, readings", [
    (r"X^T", "X: n×n, T: scalar", ["transpose", "power"]),
    (r"\sigma(x)", "x: n, sigma: scalar", ["logistic", "sigma times"]),
    (r"AB", "A: n×n, B: n×n, AB: n×n", ["AB", "A·B"]),
    (r"x^2", "x: n", ["x^T x", "entries"]),
    (r"\|X\|_2", "X: n×n", ["spectral", "Frobenius"]),
    (r"|x|", "x: n", ["norm", "absolute"]),
])
def test_a_formula_with_two_readings_is_an_error_showing_both(latex, where, readings):
    with pytest.raises(AmbiguityError) as caught:
        parse_latex(latex, where)
    assert isinstance(caught.value, md.ParseError)
    for reading in readings:
        assert reading in str(caught.value)


@pytest.mark.parametrize("latex, text", [
    (r"D_{ij} = \sum_k W_{ik} V_{kj}", "W @ V"),
    (r"D_{ij} = w_{ik} v_{kj}", "W @ V"),
    (r"C_{ij} = \sum_k \mathbf{W}_{ki} \mathbf{Y}_{kj}", "W.T @ Y"),
    (r"y_i = \sum_j A_{ij} x_j", "A @ x"),
    (r"y_j = \sum_i x_i A_{ij}", "x @ A"),
    (r"x_i A_{ij} y_j", "x @ A @ y"),
    (r"s\, x_i A_{ij} y_j", "s * (x @ A @ y)"),
    (r"\sum_i x_i", "sum(x)"),
    (r"\sum_{ij} W_{ij}", "sum(W)"),
])
def test_index_notation_chains_into_matrix_products(latex, text):
    assert parse_latex(latex, WHERE) is means(text)


@pytest.mark.parametrize("latex, where, error, words", [
    (r"x x", "x: n", md.ShapeError, "transpose one"),
    (r"W V", "W: m×q, V: p×r", md.ShapeError, ""),
    (r"W Z", "W: m×q", md.UnknownNameError, "'Z'"),
    (r"\frac{\partial}{\partial W} \|W\|_F^2", "W: m×q", md.NotSupportedError, "parse_latex_question"),
    (r"C_{ij} = \sum_l W_{ki} X_{kj}", "W: m×q, X: m×n", md.NotSupportedError, "each summed index appears twice"),
    (r"C_{ij} = W_{ii}", "W: m×m", md.NotSupportedError, "each free index once"),
    (r"\mathbf{1}", "x: n", md.ParseError, "size"),
    (r"\Gamma(s)", "s: scalar", md.UnknownNameError, "Gamma"),
])
def test_what_is_not_read_says_why(latex, where, error, words):
    with pytest.raises(error) as caught:
        parse_latex(latex, where)
    assert words in str(caught.value)


@pytest.mark.parametrize("latex, f, wrt", [
    (r"\frac{\partial}{\partial W} \|W - Y\|_F^2", "norm2(W - Y) ** 2", "W"),
    (r"\frac{d}{dx} x^T A x", "x @ A @ x", "x"),
    (r"\dfrac{\partial \log\det X}{\partial X}", "logdet(X)", "X"),
    (r"\frac{df}{d\lambda}, \quad f = \lambda \|W\|_F^2", "lam * norm2(W) ** 2", "lam"),
])
def test_a_question_names_the_function_and_the_variable(latex, f, wrt):
    question = parse_latex_question(latex, WHERE)
    assert (question.f, question.wrt) == (means(f), wrt)


@pytest.mark.parametrize("latex, error, words", [
    (r"\frac{\partial x^T A x}{\partial Z}", md.UnknownNameError, "'Z'"),
    (r"\frac{\partial}{\partial x}", md.ParseError, "no function"),
    (r"x^T A x", md.ParseError, "does not ask for a derivative"),
    (r"\frac{\partial f}{\partial W} = 2 W", md.NotSupportedError, "verify"),
])
def test_a_question_not_read_says_why(latex, error, words):
    with pytest.raises(error) as caught:
        parse_latex_question(latex, WHERE)
    assert words in str(caught.value)


def test_an_expression_reader_given_a_question_points_to_the_question_reader():
    with pytest.raises(md.NotSupportedError, match="parse_latex_question"):
        parse_latex(r"\frac{df}{dW}", WHERE)


@pytest.mark.parametrize("where", [
    "W: n×m, x: m; f = W x, w = vec(W)",
    r"W \in \mathbb{R}^{n \times m}, x \in \mathbb{R}^m, f = W x, w = \operatorname{vec}(W)",
    r"\mathbf{w} = \mathrm{vec}\left(\mathbf{W}\right), \mathbf{W} \in \Re^{n m}, \mathbf{x} \in \Re^{m}, f = W x",
])
def test_a_derivative_by_a_vec_form_asks_for_the_derivative_by_the_matrix_in_vec_form(where):
    question = parse_latex_question(r"\frac{\partial f}{\partial w}", where)
    assert (question.f, question.wrt, question.vec_form) == (md.parse("W @ x", "W: n×m, x: m").node, "W", True)
    by_name = parse_latex_question(r"\frac{\partial f}{\partial W}", where)
    assert (by_name.wrt, by_name.vec_form) == ("W", False)


def test_a_vec_form_claim_is_verified_as_the_derivative_by_the_matrix():
    claim = parse_latex_claim(r"\frac{\partial W x}{\partial w} = x^T \otimes I", "W: n×m, x: m, w = vec(W)")
    assert claim.claim is md.parse("kron(x, eye(n))", "W: n×m, x: m").node
    verdict = md.verify("W @ x", claim.question.wrt, "W: n×m, x: m", claim="kron(x, eye(n))")
    assert verdict.verdict == "correct"


@pytest.mark.parametrize("where, words", [
    ("x: m, n: scalar; f = n x, w = vec(x)", "x is of shape m"),
    ("W: n×m, x: m; f = W x, w = vec(V)", "V is not a declared variable"),
    ("W: n×m, A: m×m; f = W A, w = vec(W A)", "declared matrix"),
])
def test_a_vec_form_of_what_is_not_a_declared_matrix_is_an_error(where, words):
    with pytest.raises(md.MatdiffError) as caught:
        parse_latex_question(r"\frac{\partial f}{\partial w}", where)
    assert words in str(caught.value) and "vec" in str(caught.value)
