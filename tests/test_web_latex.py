"""The page reads LaTeX and matrixcalculus.org's syntax as well as the language: `"syntax"` in
`POST /api/derive` and `/api/variables`, and the page's choice of language, with the LaTeX typed shown
rendered under the box.

In LaTeX the expression may be a whole question, `\\frac{\\partial}{\\partial W} \\|XW - Y\\|_F^2`: the
question names the variable, so "wrt" may be left out (given, it must agree), as `matdiff diff --latex`
reads it; the answer says how the text was read ("read": the function in the language, the variable).
A seed question of ../shared/corpus/latex/seeds.toml goes through the API and through the page, and
gets the derivative of the expression the seed says it means.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

import matdiff as md
from matdiff.web.derive import FIELDS, SYNTAXES

from test_web import KATEX_VENDORED, browser, post, server, wait_for  # noqa: F401  the page's harness

# `make test` runs this module alone, after the others: its servers' time limits need the cores to themselves
pytestmark = pytest.mark.alone

SEEDS = Path(os.environ.get("MATDIFF_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus" /
                            "check.py")).parent / "latex" / "seeds.toml"
QUESTIONS = tomllib.loads(SEEDS.read_text()).get("question", []) if SEEDS.is_file() else []
needs_seeds = pytest.mark.skipif(not QUESTIONS, reason="the LaTeX seeds (../shared/corpus/latex) are not here")

NET = r"\frac{\partial}{\partial W} \|g(XW) - Y\|_F^2"  # the README's question
NET_WHERE = "X: n×p, W: p×k, Y: n×k, g: function"
LEAST_SQUARES_WHERE = (r"X \in \mathbb{R}^{n \times p}, W \in \mathbb{R}^{p \times k}, "
                       r"Y \in \mathbb{R}^{n \times k}")


def seed_question() -> dict:
    """The seed asking ∂/∂W of a function written after the operator, else the network's df/dW, else the first."""
    def after_the_operator(entry):
        return re.search(r"\\frac\s*\{\s*\\partial\s*\}\s*\{\s*\\partial\s*W\s*\}", entry["latex"])

    return next((q for q in QUESTIONS if after_the_operator(q)), None) or \
        next((q for q in QUESTIONS if q["id"] == "latex-q-net"), None) or QUESTIONS[0]


def expected(entry: dict) -> md.Expression:
    return md.derivative(entry["f"], entry["wrt"], entry["vars"])


# ---- the API ------------------------------------------------------------------------------------


def test_syntax_is_a_field_of_the_request():
    assert "syntax" in FIELDS and set(SYNTAXES) == {"matdiff", "latex", "matrixcalculus"}


def test_the_language_is_the_default(server):
    seed = {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"}
    status, answer = post(server, "/api/derive", seed)
    assert status == 200 and post(server, "/api/derive", {**seed, "syntax": "matdiff"}) == (200, answer)
    assert answer["read"] == {"syntax": "matdiff", "function": "W @ X", "wrt": ["W"], "question": False}


@needs_seeds
def test_a_seed_question_in_latex_names_its_own_variable(server):
    seed = seed_question()
    status, answer = post(server, "/api/derive", {"expression": seed["latex"], "where": seed["where"],
                                                  "syntax": "latex"})
    assert status == 200, answer
    assert answer["derivative"]["text"] == expected(seed).text
    assert answer["wrt"] == [seed["wrt"]]
    assert answer["read"] == {"syntax": "latex", "function": md.parse(seed["f"], seed["vars"]).text,
                              "wrt": [seed["wrt"]], "question": True}


@needs_seeds
@pytest.mark.parametrize("seed", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_every_seed_question_is_answered(server, seed):
    status, answer = post(server, "/api/derive", {"expression": seed["latex"], "where": seed["where"],
                                                  "syntax": "latex"})
    assert status == 200, answer
    assert answer["derivative"]["text"] == expected(seed).text


def test_a_latex_question_given_its_variable_agrees_or_is_refused(server):
    asked = {"expression": NET, "where": NET_WHERE, "syntax": "latex"}
    status, answer = post(server, "/api/derive", asked)
    assert status == 200 and answer["derivative"]["text"] == "2 * X.T @ ((g(X @ W) - Y) * grad(g)(X @ W))"
    assert answer["read"]["function"] == "norm2(g(X @ W) - Y) ** 2" and answer["read"]["wrt"] == ["W"]
    assert post(server, "/api/derive", {**asked, "wrt": "W"}) == (200, answer)
    assert post(server, "/api/derive", {**asked, "wrt": ""}) == (200, answer)  # the page's "as the question asks"
    status, answer = post(server, "/api/derive", {**asked, "wrt": "X"})
    assert status == 400
    assert answer["error"] == 'the question asks for the derivative by W, not by X: leave "wrt" out, or give W'
    status, answer = post(server, "/api/derive", {**asked, "wrt": ["W", "X"], "mixed": True})
    assert status == 400 and "a LaTeX question asks for the derivative by one variable" in answer["error"]


def test_a_latex_question_asks_for_a_vjp_and_a_hessian(server):
    asked = {"expression": r"\frac{\partial}{\partial W} \|XW - Y\|_F^2", "where": LEAST_SQUARES_WHERE,
             "syntax": "latex"}
    status, answer = post(server, "/api/derive", {**asked, "order": 2})
    assert status == 200 and answer["derivative"]["kind"] == "hessian"
    assert answer["derivative"]["text"] == md.derivative("norm2(X @ W - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k",
                                                         order=2).text
    status, answer = post(server, "/api/derive", {"expression": r"\frac{\partial AXB}{\partial X}", "syntax": "latex",
                                                  "where": "A: n×p, X: p×r, B: r×m", "vjp": "G"})
    assert status == 200 and answer["derivative"]["text"] == "A.T @ G @ B.T"
    if hasattr(md, "check"):  # the numeric check reads the question too
        assert answer["check"]["ok"] is True, answer["check"]


def test_a_latex_formula_with_latex_declarations(server):
    status, answer = post(server, "/api/derive", {"expression": r"\|XW - Y\|_F^2", "where": LEAST_SQUARES_WHERE,
                                                  "wrt": "W", "syntax": "latex"})
    assert status == 200 and answer["derivative"]["text"] == "2 * X.T @ (X @ W - Y)"
    assert answer["read"] == {"syntax": "latex", "function": "norm2(X @ W - Y) ** 2", "wrt": ["W"],
                              "question": False}
    assert answer["variables"]["W"] == {"shape": ["p", "k"], "properties": []}
    # a formula that asks nothing needs its variable, as on the command line
    status, answer = post(server, "/api/derive", {"expression": r"\|XW - Y\|_F^2", "where": LEAST_SQUARES_WHERE,
                                                  "syntax": "latex"})
    assert status == 400
    assert answer["error"] == ('"wrt" must name the variable to differentiate by, e.g. "W" '
                               r"(or, in LaTeX, ask the question: \frac{\partial}{\partial W} …)")


def test_latex_errors_are_400_with_the_caret(server):
    status, answer = post(server, "/api/derive", {"expression": r"\|XW - Y", "where": LEAST_SQUARES_WHERE,
                                                  "wrt": "W", "syntax": "latex"})
    assert status == 400
    assert answer["error"] == "the norm opened here is not closed with \\| or \\Vert\n    \\|XW - Y\n    ^^"
    status, answer = post(server, "/api/derive", {"expression": r"\frac{\partial}{\partial V} \|XW - Y\|_F^2",
                                                  "where": LEAST_SQUARES_WHERE, "syntax": "latex"})
    assert status == 400 and "the derivative is asked by 'V', which is not a declared variable" in answer["error"]


def test_matrixcalculus_syntax(server):
    status, answer = post(server, "/api/derive", {"expression": "norm2(X*w-y)^2", "wrt": "w",
                                                  "syntax": "matrixcalculus"})
    assert status == 200 and answer["derivative"]["text"] == md.gradient("norm2(X*w-y)^2", "w",
                                                                         syntax="matrixcalculus").text
    assert answer["read"] == {"syntax": "matrixcalculus", "function": "norm2(X @ w - y) ** 2", "wrt": ["w"],
                              "question": False}
    status, answer = post(server, "/api/derive", {"expression": "x'*A*x", "where": "A: n×n sym", "wrt": "x",
                                                  "syntax": "matrixcalculus"})
    assert status == 200 and answer["derivative"]["text"] == "2 * A @ x"
    status, answer = post(server, "/api/derive", {"expression": "X*W", "where": "X: n×p, W: q×k", "wrt": "W",
                                                  "syntax": "matrixcalculus"})
    assert status == 400 and answer["error"].endswith("(p ≠ q)\n    X*W\n    ^^^")
    # matrixcalculus.org's syntax has no questions: a missing variable is missing
    status, answer = post(server, "/api/derive", {"expression": "x'*A*x", "syntax": "matrixcalculus"})
    assert status == 400 and answer["error"] == '"wrt" must name the variable to differentiate by, e.g. "W"'


@pytest.mark.parametrize("syntax, message", [
    ("tex", "\"syntax\" must be one of matdiff, matrixcalculus, latex, got 'tex'"),
    ("LaTeX", "\"syntax\" must be one of matdiff, matrixcalculus, latex, got 'LaTeX'"),
    (3, '"syntax" must be one of matdiff, matrixcalculus, latex, got int'),
    (["latex"], '"syntax" must be one of matdiff, matrixcalculus, latex, got list'),
])
def test_an_unknown_syntax_is_400(server, syntax, message):
    status, answer = post(server, "/api/derive", {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W",
                                                  "syntax": syntax})
    assert (status, answer) == (400, {"error": message})
    status, answer = post(server, "/api/variables", {"where": "W: m×q", "syntax": syntax})
    assert (status, answer) == (400, {"error": message})


def test_the_variables_to_choose_from_in_each_syntax(server):
    status, answer = post(server, "/api/variables", {"where": LEAST_SQUARES_WHERE, "syntax": "latex"})
    assert status == 200 and answer["variables"]["W"] == {"shape": ["p", "k"], "shape_text": "p×k",
                                                          "properties": []}
    assert list(answer["variables"]) == ["X", "W", "Y"]
    # matrixcalculus.org's undeclared names come from the expression, typed by their first letter
    status, answer = post(server, "/api/variables", {"where": "", "expression": "x'*A*x",
                                                     "syntax": "matrixcalculus"})
    assert status == 200 and {name: v["shape_text"] for name, v in answer["variables"].items()} == \
        {"x": "n", "A": "n×n"}
    status, answer = post(server, "/api/variables", {"where": "A: m×m", "expression": "x'*A*",
                                                     "syntax": "matrixcalculus"})  # still being typed
    assert status == 200 and list(answer["variables"]) == ["A"]


# ---- the page, in headless Chromium -------------------------------------------------------------


def type_into(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


@needs_seeds
def choices(driver) -> list:
    """The options of the page's variable list, found afresh."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    return Select(driver.find_element(By.ID, "wrt")).options


def test_the_page_answers_a_seed_question_pasted_in_latex(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    seed = seed_question()
    browser.get(server.url)
    Select(browser.find_element(By.ID, "syntax")).select_by_value("latex")
    type_into(browser, "where", seed["where"])
    type_into(browser, "expression", seed["latex"])
    preview = browser.find_element(By.ID, "expression-preview")
    if KATEX_VENDORED:  # what was pasted, rendered, before it is read
        wait_for(browser, lambda d: preview.is_displayed())
        assert preview.find_elements(By.CSS_SELECTOR, ".katex .katex-html")
        assert not preview.find_elements(By.CSS_SELECTOR, ".katex-error")
    # the question names W: no need to choose it (the page rebuilds the list: found again at each look)
    wait_for(browser, lambda d: seed["wrt"] in [o.get_attribute("value") for o in choices(d)])
    wrt = Select(browser.find_element(By.ID, "wrt"))
    assert wrt.first_selected_option.text == "as the question asks"
    browser.find_element(By.ID, "derive").click()

    text = browser.find_element(By.ID, "derivative-text")
    answer = expected(seed)
    wait_for(browser, lambda d: text.text == answer.shown("text"))
    assert browser.find_element(By.ID, "derivative-unicode").text == answer.shown("unicode")
    read = browser.find_element(By.ID, "read-as")
    assert read.text == (f"Read from LaTeX as {md.parse(seed['f'], seed['vars']).text}, by {seed['wrt']} "
                         "(the variable the question asks for)")
    assert not browser.find_element(By.ID, "error").is_displayed()

    # the choice is remembered; a formula that asks nothing needs its variable again
    browser.refresh()
    assert Select(browser.find_element(By.ID, "syntax")).first_selected_option.get_attribute("value") == "latex"
    type_into(browser, "where", LEAST_SQUARES_WHERE)
    type_into(browser, "expression", r"\|XW - Y")
    wait_for(browser, lambda d: [o.get_attribute("value") for o in choices(d)] == ["X", "W", "Y"])
    Select(browser.find_element(By.ID, "wrt")).select_by_value("W")
    browser.find_element(By.ID, "derive").click()
    error = browser.find_element(By.ID, "error")  # the caret under the LaTeX, as for the language
    wait_for(browser, lambda d: error.is_displayed())
    assert error.text.splitlines() == [r"the norm opened here is not closed with \| or \Vert", r"    \|XW - Y",
                                       "    ^^"]
    # an example is in the language: it switches back
    browser.find_element(By.CSS_SELECTOR, ".example[data-expression='W @ X']").click()
    text = browser.find_element(By.ID, "derivative-text")
    wait_for(browser, lambda d: text.text == "kron(X.T, eye(m))")
    assert Select(browser.find_element(By.ID, "syntax")).first_selected_option.get_attribute("value") == "matdiff"
    assert not browser.find_element(By.ID, "expression-preview").is_displayed()
    assert not browser.find_element(By.ID, "read-as").is_displayed()
