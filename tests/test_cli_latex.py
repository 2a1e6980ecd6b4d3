"""The command line reads LaTeX (`--latex`) and matrixcalculus.org's syntax (`--syntax matrixcalculus`).

`matdiff diff --latex "\\frac{\\partial}{\\partial W} \\|g(XW) - Y\\|_F^2" --where "…"` answers the question
the formula asks, by the variable it names; a formula alone is differentiated by --wrt. The engine's own
answers (`md.derivative` of what the formula means) are the reference: these tests check that the
command line reads the text in the language asked for and asks the engine the right question.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff.cli import app

QUESTION = r"\frac{\partial}{\partial W} \|g(XW) - Y\|_F^2"
WHERE = "X: n×p, W: p×k, Y: n×k, g: function"
MEANS = "norm2(g(X @ W) - Y) ** 2"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def said(result) -> str:
    """What the command printed, in one line: the boxes and the wrapping of a usage error taken out."""
    return " ".join(result.output.replace("│", " ").split())


def answer(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout.strip()


# ---- md.parse_latex and the questions, in Python -----------------------------------------------------

def test_parse_latex_gives_an_expression_as_parse_does():
    read = md.parse_latex("x^T A x", r"x \in \mathbb{R}^n, A \in \mathbb{R}^{n \times n}")
    assert isinstance(read, md.Expression)
    assert read == md.parse("x @ A @ x", "x: n, A: n×n")
    assert {name: spec.shape for name, spec in read.variables.items()} == {"x": ("n",), "A": ("n", "n")}
    assert md.gradient(read, "x") == md.gradient("x @ A @ x", "x", "x: n, A: n×n")


def test_a_question_and_a_claim_are_read_from_matdiff_itself():
    question = md.parse_latex_question(QUESTION, WHERE)
    assert (question.f, question.wrt) == (md.parse(MEANS, WHERE).node, "W")
    claim = md.parse_latex_claim(r"\frac{\partial\, W X}{\partial W} = X^T", "W: m×q, X: q×n")
    assert claim.question.wrt == "W"


# ---- --latex -----------------------------------------------------------------------------------------

def test_diff_answers_the_question_a_latex_formula_asks():
    assert answer("diff", "--latex", QUESTION, "-w", WHERE, "-f", "text") == md.derivative(MEANS, "W", WHERE).text


def test_diff_of_a_latex_formula_by_the_variable_given():
    assert answer("diff", "--latex", r"\|XW - Y\|_F^2", "--wrt", "X", "-w", WHERE, "-f", "text") == \
        md.derivative("norm2(X @ W - Y) ** 2", "X", WHERE).text


def test_latex_declarations_are_read_with_the_latex_formula():
    where = r"x \in \mathbb{R}^n, A \in \mathbb{R}^{n \times n}"
    assert answer("show", "--latex", "x^T A x", "-w", where, "-f", "text") == "x @ A @ x"
    assert answer("diff", "--latex", r"\frac{\partial\, x^T A x}{\partial x}", "-w", where, "-f", "text") == \
        md.derivative("x @ A @ x", "x", "x: n, A: n×n").text


def test_show_of_a_question_shows_the_function_it_asks_about():
    assert answer("show", "--latex", QUESTION, "-w", WHERE, "-f", "text") == MEANS


def test_explain_and_code_take_the_variable_from_the_question():
    explained = answer("explain", "--latex", QUESTION, "-w", WHERE, "-f", "text")
    assert md.derivative(MEANS, "W", WHERE).text in explained
    source = answer("code", "--latex", r"\frac{\partial}{\partial W} \|XW - Y\|_F^2", "-w", "X: n×p, W: p×k, Y: n×k")
    assert "grad_W" in source


def test_a_question_by_one_variable_and_a_wrt_by_another_is_refused():
    result = run("diff", "--latex", QUESTION, "-w", WHERE, "--wrt", "X")
    assert result.exit_code == 2
    assert "asks for the derivative by W" in said(result)


def test_a_formula_without_a_variable_is_refused():
    result = run("diff", "--latex", r"\|XW - Y\|_F^2", "-w", WHERE)
    assert result.exit_code == 2
    assert "give the variable" in said(result)


def test_latex_and_another_syntax_are_refused_together():
    result = run("diff", "--latex", "x^T x", "--wrt", "x", "-w", "x: n", "--syntax", "matrixcalculus")
    assert result.exit_code == 2
    assert "give it or --syntax, not both" in said(result)


# ---- --syntax matrixcalculus ---------------------------------------------------------------------------

def test_diff_reads_matrixcalculus_org_and_infers_the_shapes():
    assert answer("diff", "norm2(X*w-y)^2", "--wrt", "w", "--syntax", "matrixcalculus", "-f", "text") == \
        md.derivative("norm2(X @ w - y) ** 2", "w", "X: n×m, w: m, y: n").text


def test_the_shapes_inferred_in_matrixcalculus_syntax_are_in_the_report():
    report = json.loads(answer("show", "x'*A*x", "--syntax", "matrixcalculus", "-w", "A: d×d", "-f", "json"))
    assert report["expression"] == "x @ A @ x"
    assert {name: v["shape"] for name, v in report["variables"].items()} == {"A": ["d", "d"], "x": ["d"]}


def test_show_explain_and_code_read_matrixcalculus_org_too():
    assert answer("show", "X'*A*X", "--syntax", "matrixcalculus", "-f", "text") == "X.T @ A @ X"
    explained = answer("explain", "x'*A*x", "--wrt", "x", "--syntax", "matrixcalculus", "-f", "text")
    assert md.derivative("x @ A @ x", "x", "x: n, A: n×n").text in explained
    assert "def f(x, A)" in answer("code", "x'*A*x", "--wrt", "x", "--syntax", "matrixcalculus")


def test_a_matrixcalculus_error_points_into_the_text_as_written():
    result = run("diff", "x*y", "--wrt", "x", "--syntax", "matrixcalculus", "-f", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert "x'*y is the inner product" in error["message"]
    assert error["caret"] == "    x*y\n    ^^^"


@pytest.mark.parametrize("command", ["show", "diff"])
def test_the_default_syntax_is_matdiffs_own(command):
    args = [command, "x @ x", "-w", "x: n", "-f", "text"] + (["--wrt", "x"] if command == "diff" else [])
    assert answer(*args) and answer(*args, "--syntax", "matdiff") == answer(*args)
