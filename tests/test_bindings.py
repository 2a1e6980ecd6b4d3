"""Named intermediates: every answer as `where` bindings of the subexpressions it repeats.

`.bound_text` is a block of assignments in the language, the last line the answer; `md.parse_block`
reads it back to the very node it came from (the corpus, our own cases, random expressions). Names
are the textbook's where a node has a role (Z, A, P, r, μ, σ, x̂), else T1, T2, ..., never a
variable's or a dimension's. A deep network's Hessian prints in size linear in its depth.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import matdiff as md

import corpus
from strategies import expressions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from hessians import chain  # noqa: E402  the k-layer network sum(tanh(W_k @ ... tanh(W_1 @ x)))
from test_web import ARTIFACTS, KATEX_VENDORED, browser, fill, wait_for  # noqa: E402, F401  the page's harness
from test_web import server as web_server  # noqa: E402, F401


def reads_back(answer: md.Expression) -> None:
    """The bound text is a block of assignments that parse_block reads back as the answer itself."""
    block = answer.bound_text
    assert md.parse_block(block, answer.variables).node is answer.node, block
    lines = block.split("\n")
    assert len(lines) == len(answer.bindings.lines) + 1
    assert all(re.match(r"[A-Za-z_][A-Za-z0-9_]* = ", line) for line in lines[:-1]), block
    assert len(answer.bound_unicode.split("\n")) == len(lines)
    if answer.bindings.lines:
        assert answer.bound_latex.startswith(r"\begin{aligned} ") and answer.bound_latex.endswith(r" \end{aligned}")
        assert answer.bound_latex.count(r" \\ ") == len(lines) - 1
    else:  # nothing repeated: the bound forms are the expression's own
        assert (answer.bound_text, answer.bound_unicode, answer.bound_latex) == \
            (answer.text, answer.unicode, answer.latex)


def names(answer: md.Expression) -> list[str]:
    return list(answer.bindings.names)


def ml(build, *args, **kwargs):
    """An answer with softmax along an axis, mean, var or std: skipped where the language lacks them."""
    try:
        return build(*args, **kwargs)
    except (md.ParseError, md.UnknownNameError) as error:
        pytest.skip(f"not in the language here: {str(error).splitlines()[0]}")


# ---- every answer reads back -------------------------------------------------------------------------

def _answer(case: dict) -> md.Derivative:
    shapes = corpus.declarations(case, with_properties=True)
    if case["kind"] == "vjp":
        return md.vjp(case["f"], case["wrt"], shapes, cotangent=case.get("cotangent", "G"))
    return md.derivative(case["f"], case["wrt"], shapes)


CASES = corpus.cases(("case", "vjp")) + corpus.extra_cases(("case", "vjp"))


@corpus.needs_corpus
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_answers_read_back(case):
    answer = _answer(case)
    reads_back(answer)
    reads_back(md.parse(case["f"], corpus.declarations(case, with_properties=True)))


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(expressions())
def test_random_expressions_and_their_derivatives_read_back(drawn):
    text, shapes = drawn
    expression = md.parse(text, shapes)
    reads_back(expression)
    for name in sorted(shapes)[:2]:
        try:
            answer = md.derivative(expression, name)
        except md.NotSupportedError:
            continue
        reads_back(answer)
        if not expression.shape:
            try:
                reads_back(md.hessian(expression, name))
            except md.NotSupportedError:
                pass


# ---- names as a textbook chooses them --------------------------------------------------------------

def test_pre_activation_and_activation():
    d = md.derivative("sum(tanh(X @ W + b) * exp(X @ W + b))", "W", "X: m×n, W: n×k, b: k")
    assert d.bound_text.split("\n")[:2] == ["Z = X @ W + b", "A = tanh(Z)"]
    reads_back(d)


def test_softmax_is_p():
    d = ml(md.derivative, "sum(V * softmax(Q @ K.T, axis=1))", "Q", "Q: n×d, K: n×d, V: n×n")
    assert d.bound_text == "P = softmax(Q @ K.T, axis=1)\nP * (V - sum(V * P, axis=1, keepdims=True)) @ K"
    assert d.bound_unicode.startswith("P = softmax(Q Kᵀ, axis=1)\n")
    assert d.bound_latex.startswith(r"\begin{aligned} P &= ")


def test_attention_names_p_and_its_cotangent_dp():
    """Attention's backward pass as the papers write it: P = softmax(S), dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P))."""
    shapes = "Q: n×d, K: m×d, V: m×p"
    by_q = ml(md.vjp, "softmax(Q @ K.T / sqrt(d), axis=1) @ V", "Q", shapes, cotangent="G")
    assert by_q.bound_text == ("P = softmax(Q @ K.T / sqrt(d), axis=1)\ndP = G @ V.T\n"
                               "P * (dP - sum(dP * P, axis=1, keepdims=True)) @ K / sqrt(d)")
    assert by_q.bound_unicode.split("\n")[1] == "dP = G Vᵀ" and r"\mathrm{d}P &= " in by_q.bound_latex
    by_k = ml(md.vjp, "softmax(Q @ K.T / sqrt(d), axis=1) @ V", "K", shapes, cotangent="G")
    assert names(by_k) == ["P", "dP"] and by_k.bound_text.endswith(".T @ Q / sqrt(d)")
    for answer in (by_q, by_k):
        reads_back(answer)
    # softmax cross-entropy repeats nothing: its answer is one line, X.T @ (P ⊙ rowsum(Y) − Y)
    ce = ml(md.derivative, "-sum(Y * log_softmax(X @ W, axis=1))", "W", "X: n×p, W: p×k, Y: n×k")
    assert not ce.bindings.lines and ce.text == "X.T @ (softmax(X @ W, axis=1) * sum(Y, axis=1, keepdims=True) - Y)"


def test_residual_inside_a_norm_is_r():
    d = md.derivative("norm2(X @ w - y)", "w", "X: m×n, w: n, y: m")
    assert d.bound_text == "r = X @ w - y\nr @ X / norm2(r)"
    assert d.bound_unicode.startswith("r = X w − y\n") and d.bound_unicode.endswith(" / ‖r‖")
    matrix = md.derivative("norm2(A @ W - B) ** 2 + sum(A @ W - B)", "W", "A: m×n, W: n×k, B: m×k")
    assert "R" in names(matrix) or not matrix.bindings.lines  # a matrix residual is R
    reads_back(matrix)


def test_layer_norm_writes_sigma():
    d = ml(md.derivative, "sum(G * ((x - mean(x, axis=1, keepdims=True)) / sqrt(var(x, axis=1, keepdims=True) "
           "+ 1e-5)))", "x", "x: m×n, G: m×n")
    assert names(d) == ["sigma", "x_hat"]
    assert d.bound_text.startswith("sigma = sqrt(var(x, axis=1, keepdims=True) + 1e-05)\n")
    assert d.bound_unicode.startswith("σ = ")
    assert d.bound_latex.startswith(r"\begin{aligned} \sigma &= ")
    reads_back(d)
    # var + ε and its powers written through σ where no x − mean(x) takes them: (var + ε) ** 1.5 is σ ** 3
    e = ml(md.parse, "sum(x) / (var(x, axis=1, keepdims=True) + 1e-5) ** 1.5 + sqrt(var(x, axis=1, keepdims=True) "
           "+ 1e-5)", "x: m×n")
    assert e.bound_text == "sigma = sqrt(var(x, axis=1, keepdims=True) + 1e-05)\nsum(x) / sigma ** 3 + sigma"
    reads_back(e)


# Layer normalisation (Ba, Kiros & Hinton 2016) and its backward pass as the paper writes it: σ = sqrt(var(x) + ε),
# x̂ = (x − mean(x)) / σ, ∂x = (γ ⊙ g − mean(γ ⊙ g) − x̂ ⊙ mean(γ ⊙ g ⊙ x̂)) / σ
def test_layer_norm_backward_pass_is_the_papers():
    d = ml(md.vjp, "gamma * (x - mean(x)) / sqrt(var(x) + eps) + beta", "x", "x: n, gamma: n, beta: n, eps: scalar",
           cotangent="g")
    assert d.bound_text == ("sigma = sqrt(var(x) + eps)\nx_hat = (x - mean(x)) / sigma\n"
                            "(gamma * g - mean(gamma * g) - x_hat * mean(g * gamma * x_hat)) / sigma")
    assert d.bound_unicode.split("\n") == ["σ = sqrt(var(x) + ε)", "x̂ = (x − mean(x)) / σ",
                                           "(γ ⊙ g − mean(γ ⊙ g) − x̂ mean(g ⊙ γ ⊙ x̂)) / σ"]
    assert r"\hat{x} &= \frac{x - \operatorname{mean}\left(x\right)}{\sigma}" in d.bound_latex
    # the node itself is the paper's, one expression no longer than before (it was 141 characters, over σ³)
    assert d.text == ("(gamma * g - mean(gamma * g) - mean(g * gamma * (x - mean(x))) * (x - mean(x)) "
                      "/ (var(x) + eps)) / sqrt(var(x) + eps)")
    assert md.parse(d.text, d.variables).node is d.node
    reads_back(d)
    assert md.check("sum(g * (gamma * (x - mean(x)) / sqrt(var(x) + 1e-3) + beta))", ["x", "gamma"],
                    "x: n, gamma: n, beta: n, g: n", use_jax=False).ok
    # over σ only where no longer than otherwise: the Jacobian keeps diag(γ) taken out, over σ³
    jacobian = ml(md.derivative, "gamma * (x - mean(x)) / sqrt(var(x) + 1e-5) + beta", "x",
                  "x: n, gamma: n, beta: n")
    assert jacobian.text == ("diag(gamma) @ ((var(x) + 1e-05) * (eye(n) - 1 / n) - outer(x - mean(x), x - mean(x)) / n) "
                             "/ (var(x) + 1e-05) ** 1.5")
    standardization = ml(md.derivative, "(x - mean(x)) / sqrt(var(x) + 1e-5)", "x", "x: n")  # shorter over σ
    assert standardization.text == ("(eye(n) - 1 / n - outer(x - mean(x), x - mean(x)) / (n * (var(x) + 1e-05))) "
                                    "/ sqrt(var(x) + 1e-05)")


def test_row_wise_layer_norm_names_its_standardized_rows():
    f = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
    shapes = "X: n×d, gamma: d, beta: d"
    d = ml(md.vjp, f, "X", shapes, cotangent="G")
    assert d.bound_text == ("sigma = sqrt(var(X, axis=1, keepdims=True) + 1e-05)\n"
                            "X_hat = (X - mean(X, axis=1, keepdims=True)) / sigma\n"
                            "(gamma * G - mean(gamma * G, axis=1, keepdims=True) "
                            "- X_hat * mean(G * gamma * X_hat, axis=1, keepdims=True)) / sigma")
    assert d.prefers_bound and d.bound_unicode.split("\n")[1].startswith("X̂ = ")
    reads_back(d)
    assert md.check(f"sum(G * ({f}))", ["X", "gamma"], shapes + ", G: n×d", use_jax=False).ok
    # batch norm: the same over the batch (axis 0); γ stays with its terms
    batch = ml(md.vjp, f.replace("axis=1", "axis=0"), "X", shapes, cotangent="G")
    assert names(batch) == ["sigma", "X_hat"] and "X_hat * gamma * mean(G * X_hat, axis=0" in batch.bound_text
    reads_back(batch)
    assert md.check(f"sum(G * ({f.replace('axis=1', 'axis=0')}))", "X", shapes + ", G: n×d", use_jax=False).ok


def test_mean_normalised_input_and_std():
    e = ml(md.parse, "sum(exp((x - mean(x)) / std(x))) + sum(tanh((x - mean(x)) / std(x))) "
           "+ mean(x) * norm2(x - mean(x)) / std(x)", "x: n")
    assert e.bound_text.split("\n")[:4] == ["mu = mean(x)", "r = x - mu", "sigma = std(x)", "x_hat = r / sigma"]
    assert "x̂ = " in e.bound_unicode and r"\hat{x} &= " in e.bound_latex
    reads_back(e)
    mu = ml(md.parse, "sum(x - mean(x)) * mean(x)", "x: n")
    assert mu.bound_text == "mu = mean(x)\nsum(x - mu) * mu"
    assert mu.bound_unicode.startswith("μ = mean(x)\n")


def test_several_of_a_role_are_numbered_in_dependency_order():
    d = md.derivative("sum(tanh(W2 @ tanh(W1 @ x)))", "x", "x: n, W1: n×n, W2: n×n", order=2)
    assert [n for n in names(d) if n.startswith("A")] == ["A1", "A2"]
    assert d.bound_unicode.startswith("A₁ = tanh(")
    assert r"A_{1} &= " in d.bound_latex
    reads_back(d)


def test_otherwise_t_names():
    d = md.derivative("sum(exp(x) * exp(x) * y) + sum(log(y) * exp(x))", "x", "x: n, y: n")
    e = md.parse("sum(cos(x) * y) + sum(cos(x) * exp(y))", "x: n, y: n")
    assert names(e) == ["T1"]
    reads_back(d)
    reads_back(e)


def test_names_never_clash_with_variables_dimensions_or_functions():
    shapes = "X: m×n, W: n×k, Z: m×k, A: m×k, T1: m×k, T2: m×k"
    d = md.derivative("sum(tanh(X @ W) * exp(X @ W)) + sum(Z * A * T1 * T2)", "W", shapes)
    taken = {"X", "W", "Z", "A", "T1", "T2", "m", "n", "k"}
    assert names(d) and not set(names(d)) & taken
    reads_back(d)
    with_dims = md.parse("sum(cos(x) * y) + sum(cos(x) * exp(y))", "x: T1, y: T1")
    assert names(with_dims) == ["T2"]
    reads_back(with_dims)


def test_a_matrix_and_its_transpose_are_one_name():
    e = md.parse("exp(X @ W) @ exp(X @ W).T", "X: m×n, W: n×m")
    assert e.bound_text == "T1 = exp(X @ W)\nT1 @ T1.T"
    reads_back(e)


# ---- size linear in the DAG -------------------------------------------------------------------------

@pytest.mark.parametrize("wrt", ["x", "W1"])
def test_deep_network_hessian_is_linear_in_depth(wrt):
    per_layer = {}
    for k in (8, 16, 32):
        expression, _ = chain(k, f"depth{k}" + ("a" if wrt == "x" else "b"))
        d = md.derivative(expression, wrt, order=2)
        reads_back(d)
        per_layer[k] = len(d.bound_text) / k
        assert max(len(line) for line in d.bound_text.split("\n")) < 2000
    assert per_layer[32] < 1.25 * per_layer[8], per_layer


def test_64_layers_print_small_and_read_back():
    expression, _ = chain(64, "n64")
    for wrt in ("x", "W1"):
        d = md.derivative(expression, wrt, order=2)
        for form in (d.bound_text, d.bound_unicode, d.bound_latex):
            assert len(form.encode()) < 50_000
        assert md.parse_block(d.bound_text, d.variables).node is d.node
        assert d.prefers_bound


# ---- parse_block --------------------------------------------------------------------------------

def test_parse_block_refuses_what_is_not_a_block():
    shapes = "X: n×n"
    assert md.parse_block("T1 = X @ X\n\nT1 + X", shapes) == md.parse("X @ X + X", shapes)
    for block, message in [("X = X @ X\nX", "declared variable"), ("n = X @ X\nn", "dimension"),
                           ("tr = X\ntr", "function"), ("T = X\nT = X\nT", "earlier line"),
                           ("T = X @ X", "last line"), ("X @ X\nX", "binds a name"), ("", "empty"),
                           ("T = \nT", "ends before"), ("T = X @ Y\nT", "unknown variable")]:
        with pytest.raises(md.MatdiffError, match=message):
            md.parse_block(block, shapes)


def test_parse_block_points_at_the_line():
    with pytest.raises(md.ParseError) as error:
        md.parse_block("T1 = X @ X\nT2 = T1 @@ X\nT2", "X: n×n")
    assert "T2 = T1 @@ X" in str(error.value)


# ---- the page shows the bound form ---------------------------------------------------------------

LAYER_NORM = "sum(G * (x - mean(x, axis=1, keepdims=True)) / sqrt(var(x, axis=1, keepdims=True) + 1e-5))"


PAGE_LAYER_NORM = ("gamma * (x - mean(x, axis=1, keepdims=True)) / sqrt(var(x, axis=1, keepdims=True) + 1e-5) "
                   "+ beta")


def _shown_on_the_page(browser, url: str, expression: str, shapes: str, wrt: str, expected: md.Expression,
                      screenshot: str):
    """The page's backprop rule (upstream gradient G) of `expression` by `wrt`: its text and Unicode are the
    bound forms of `expected`, its math is rendered by KaTeX; the form's last lines and the answer are
    saved to tests/artifacts/`screenshot` (docs/ holds a copy). The math element is returned."""
    from selenium.webdriver.common.by import By

    browser.matdiff_url = url
    fill(browser, expression, shapes, wrt, derive=False)
    browser.find_element(By.ID, "vjp").click()
    browser.find_element(By.ID, "derive").click()
    text = browser.find_element(By.ID, "derivative-text")
    first_line = expected.bound_text.split("\n")[0]
    wait_for(browser, lambda d: text.text.startswith(first_line))
    assert text.text == expected.bound_text
    assert browser.find_element(By.ID, "derivative-unicode").text == expected.bound_unicode
    math = browser.find_element(By.ID, "derivative-math")
    if KATEX_VENDORED:
        assert math.find_elements(By.CSS_SELECTOR, ".katex .katex-html")
        assert not math.find_elements(By.CSS_SELECTOR, ".katex-error")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = browser.get_window_size()
    browser.set_window_size(size["width"], 1000)
    try:
        browser.execute_script("document.getElementById('derive').scrollIntoView()")
        assert browser.save_screenshot(str(ARTIFACTS / screenshot))
    finally:
        browser.set_window_size(size["width"], size["height"])
    return math


def test_the_page_shows_a_layer_norm_with_sigma(web_server, browser):
    """The page writes layer norm's backprop rule with its bindings (σ = ..., x̂ = ..., the answer last, as
    Ba et al. write it), rendered by KaTeX; the screenshot is docs/page-bindings.png."""
    shapes = "x: m×n, gamma: n, beta: n"
    expected = ml(md.vjp, PAGE_LAYER_NORM, "x", shapes, cotangent="G")
    assert expected.prefers_bound and names(expected) == ["sigma", "x_hat"]
    math = _shown_on_the_page(browser, web_server.url, PAGE_LAYER_NORM, shapes, "x", expected, "page-bindings.png")
    if KATEX_VENDORED:
        shown = math.text.replace("\n", "")  # KaTeX lays out a superscript on a line of its own
        assert "σ" in shown and "γ⊙G" in shown and "10−5" in shown  # ε as a power of ten


def test_the_page_shows_attention_with_p_and_dp(web_server, browser):
    """Attention's backward pass by Q as the papers write it: P = softmax(Q Kᵀ / √d), dP = G Vᵀ, and the
    answer P ⊙ (dP − rowsum(dP ⊙ P)) K / √d; the screenshot is docs/page-attention.png."""
    attention = "softmax(Q @ K.T / sqrt(d), axis=1) @ V"
    shapes = "Q: n×d, K: m×d, V: m×p"
    expected = ml(md.vjp, attention, "Q", shapes, cotangent="G")
    assert expected.prefers_bound and names(expected) == ["P", "dP"]
    math = _shown_on_the_page(browser, web_server.url, attention, shapes, "Q", expected, "page-attention.png")
    if KATEX_VENDORED:
        assert "dP" in math.text.replace("\n", "") and "softmax" in math.text


def test_generated_code_shows_the_bound_form_in_its_docstring():
    expression, _ = chain(16, "layers16")
    source = md.codegen(expression, "x", hessian=True)
    docstring = source.split('"""')[1]
    hessian = md.derivative(expression, "x", order=2)
    assert f"∂²f/∂x² = {hessian.bound_text.split(chr(10))[-1]}" in docstring
    assert f"where {hessian.bound_text.split(chr(10))[0]}" in docstring
    assert hessian.text not in docstring and len(docstring) < len(hessian.text)


def test_bound_latex_renders_in_katex():
    """Every bound LaTeX block (aligned) of the corpus's answers, the ML examples and a deep Hessian, and an
    explanation written with the same names, through KaTeX itself (throwOnError, strict)."""
    katex = pytest.importorskip("test_katex")
    if katex.NODE is None or not (katex.KATEX / "package.json").is_file():
        pytest.skip("KaTeX is rendered by node with node_modules/katex (make setup)")
    answers = [_answer(case) for case in CASES]
    answers += [md.derivative(chain(16, "layers16")[0], wrt, order=2) for wrt in ("x", "W1")]
    try:
        answers += [md.derivative(LAYER_NORM, "x", "x: m×n, G: m×n"),
                    md.derivative("sum(V * softmax(Q @ K.T, axis=1))", "Q", "Q: n×d, K: n×d, V: n×n"),
                    md.vjp("softmax(Q @ K.T / sqrt(d), axis=1) @ V", "Q", "Q: n×d, K: m×d, V: m×p", cotangent="G"),
                    md.vjp("gamma * (x - mean(x)) / sqrt(var(x) + eps) + beta", "x",
                           "x: n, gamma: n, beta: n, eps: scalar", cotangent="g")]
        answers += [md.vjp(f"gamma * (X - mean(X, axis={a}, keepdims=True)) / sqrt(var(X, axis={a}, keepdims=True) "
                           "+ 1e-5) + beta", "X", "X: n×d, gamma: d, beta: d", cotangent="G") for a in (0, 1)]
        explained = md.explain(LAYER_NORM, "x", "x: m×n, G: m×n", example=False)
        strings = katex.markdown_math(explained.markdown)
    except md.MatdiffError:
        strings = []
    strings += [a.bound_latex for a in answers if a.bindings.lines]
    assert len(strings) > 50
    failures = katex.render(strings)
    assert not failures, [(strings[f["index"]][:200], f["message"]) for f in failures[:5]]


def test_explaining_attention_names_p_and_dp_as_its_backprop_rule_does():
    """A matrix function is explained by its Jacobian and its backprop rule: the steps (the chain rule's,
    which are the backprop rule's) write P and dP, as the page's answer does; the Jacobian keeps its own names."""
    attention = "softmax(Q @ K.T / sqrt(d), axis=1) @ V"
    shapes = "Q: n×d, K: m×d, V: m×p"
    explained = ml(md.explain, attention, "Q", shapes, example=False)
    rule = md.vjp(attention, "Q", shapes, cotangent="G")
    text = explained.unicode
    assert f"∂φ/∂Q = {rule.bound_unicode.split(chr(10))[-1]}\n        where P = softmax(Q Kᵀ / sqrt(d), axis=1)\n" \
           "              dP = G Vᵀ" in text
    chain_rule = text.split("1. Chain rule")[1].split("\n2. ")[0]
    assert "∂φ/∂P = dP" in chain_rule and "∂φ/∂(Q Kᵀ / sqrt(d)) = P ⊙ (dP − sum(dP ⊙ P" in chain_rule
    assert "division by U in Q Kᵀ / U: Ḡ ↦ Ḡ / U" in chain_rule  # a long divisor by its placeholder
    assert "where T₁ = " in text  # the Jacobian in vec form, by its own bindings
    assert r"\mathrm{d}P &= " in explained.markdown


def test_explain_uses_the_answers_names():
    explained = ml(md.explain, LAYER_NORM, "x", "x: m×n, G: m×n", example=False)
    answer = md.derivative(LAYER_NORM, "x", "x: m×n, G: m×n")
    text = explained.unicode
    assert f"Answer: ∂φ/∂x = {answer.bound_unicode.split(chr(10))[-1]}" in text
    assert "        where σ = sqrt(var(x, axis=1, keepdims=True) + 10⁻⁵)" in text
    chain_rule = text.split("1. Chain rule")[1].split("\n2. ")[0]
    # the steps write the same parts by the same names: σ, σ² (var + ε) and x̂
    assert "∂φ/∂σ = −sum(G ⊙ x̂, axis=1, keepdims=True) / σ" in chain_rule and "∂φ/∂σ²" in chain_rule
    assert "dphi/d(sigma ** 2)" in explained.text  # a name written with a space is put in parentheses
    assert r"\text{where}\quad \sigma &= " in explained.markdown and r"\text{where}\quad \sigma &= " in explained.latex
    plain = md.explain("tr(A @ X @ B)", "X", "A: n×p, X: p×q, B: q×n", example=False)
    assert "where" not in plain.unicode.split("\n")[2]  # nothing repeated: the answer alone
