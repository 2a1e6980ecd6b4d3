"""Comparisons and piecewise functions: > < >= <= == as 0/1 arrays, relu, sign, maximum, minimum, clip,
where, and the names the language reads for what it already has (power, square, reciprocal, expit, pi).

Answers as textbooks write them (relu′(u) = (u > 0), the ReLU layer's X.T @ (G * (X @ W > 0)), clipping's
G * (|X| < 0.5)), each checked numerically at points away from the kinks (central differences and JAX),
through every output: vec forms, index notation, generated code in NumPy, JAX and PyTorch, explain.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import matdiff as md

MLP = "X: n×d, W1: d×h, b1: h, W2: h×k, Y: n×k"


# ---- answers as the textbook writes them ----------------------------------------------------------------

def test_relu_derivative_is_the_indicator_of_the_positive_part():
    assert md.derivative("sum(relu(x))", "x", "x: n").text == "x > 0"
    assert md.vjp("relu(X @ W)", "W", "X: n×d, W: d×h", cotangent="G").text == "X.T @ (G * (X @ W > 0))"


def test_relu_network_by_each_layer():
    f = "norm2(relu(X @ W1) @ W2 - Y) ** 2"
    assert md.derivative(f, "W2", MLP).text == "2 * relu(X @ W1).T @ (relu(X @ W1) @ W2 - Y)"
    assert md.derivative(f, "W1", MLP).text == "2 * X.T @ ((relu(X @ W1) @ W2 - Y) @ W2.T * (X @ W1 > 0))"
    bias = md.derivative("norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2", "b1", MLP).text
    assert bias == "2 * sum((relu(X @ W1 + b1) @ W2 - Y) @ W2.T * (X @ W1 + b1 > 0), axis=0)"


def test_relu_squared_by_its_argument():
    assert md.derivative("norm2(relu(W.T @ X)) ** 2", "W", "X: n×d, W: n×h").text == "2 * X @ relu(W.T @ X).T"


def test_leaky_relu_written_with_where():
    assert md.vjp("where(X > 0, X, 0.01 * X)", "X", "X: n×m", cotangent="G").text == "G * where(X > 0, 1, 0.01)"


def test_hinge_loss_subgradient():
    f = "sum(maximum(0, 1 - y * (X @ w))) + 0.5 * lam * w @ w"
    answer = md.derivative(f, "w", "X: n×p pos, w: p, y: n, lam: scalar pos")
    expected = md.parse("lam * w - X.T @ (y * (1 - y * (X @ w) > 0))", "X: n×p pos, w: p, y: n, lam: scalar pos")
    values = {"X": np.abs(np.random.default_rng(0).normal(size=(5, 3))), "w": np.array([0.3, -0.2, 0.5]),
              "y": np.array([1.0, -1.0, 1.0, -1.0, 1.0]), "lam": 0.1}
    np.testing.assert_allclose(answer.evaluate(values), expected.evaluate(values))
    assert "> 0" in answer.text and "maximum" not in answer.text


WHERE = "s: scalar, t: scalar, x: n, y: n, X: n×m, Y: n×m, A: n×m, B: m×k"


def test_where_is_constant_in_its_condition():
    """d where(c, a, b) = where(c, da, db): moving s across nothing but the test s > t moves no branch, and
    the derivative is a zero of the function's shape, through a product and a sum alike."""
    assert md.derivative("where(s > t, x, y) @ A", "s", WHERE).text == "zeros(m)"
    assert md.derivative("where(s > t, X, Y) @ B", "s", WHERE).text == "zeros(n, k)"
    assert md.derivative("sum(where(s > t, X, Y) @ B)", "s", WHERE).text == "0"
    assert md.vjp("where(s > t, x, y) @ A", "s", WHERE, cotangent="G").text == "0"


def test_where_sends_the_gradient_to_the_branch_chosen():
    assert md.derivative("where(s > t, x, y) @ A", "x", WHERE).text == "(s > t) * A.T"
    assert md.derivative("where(s > t, x, y) @ A", "y", WHERE).text == "(s <= t) * A.T"
    assert md.vjp("A.T @ where(x > 0, x, y)", "x", WHERE, cotangent="G").text == "A @ G * (x > 0)"
    assert md.vjp("where(X > 0, X, Y) @ B", "X", WHERE, cotangent="G").text == "G @ B.T * (X > 0)"
    assert md.vjp("where(X > 0, X, Y) @ B", "Y", WHERE, cotangent="G").text == "G @ B.T * (X <= 0)"


def test_where_of_any_condition_reads_in_index_notation():
    """where(C, dA, dB)[i] = [C ≠ 0][i] dA[i] + [C = 0][i] dB[i]: linear in the branches whatever C is (a
    condition that is no comparison stays a where, which the index form reads entry by entry)."""
    d = md.derivative("where(x, s * x, y) @ A", "s", WHERE)
    assert d.text == "where(x, x, 0) @ A"
    assert d.index.text == "∂f[i]/∂s = Σ_p where(x, 1, 0)[p] x[p] A[p,i]"
    assert md.derivative("where(X, s, t) @ B", "s", WHERE).index.text == \
        "∂(where(X, s, t) @ B)[i,j]/∂s = Σ_p where(X, 1, 0)[i,p] B[p,j]"


def test_clip_passes_the_gradient_inside_the_interval():
    assert md.vjp("clip(X, -0.5, 0.5)", "X", "X: n×m", cotangent="G").text == "G * (abs(X) < 0.5)"
    assert md.vjp("clip(X, 0, 1)", "X", "X: n×m", cotangent="G").text == "G * (X > 0) * (X < 1)"


def test_ppo_clipped_objective_reads_as_the_paper_writes_it():
    """Where clip passes r through, clip(r) is r: the clipped branch then never wins the minimum."""
    d = md.derivative("sum(minimum(r * adv, clip(r, 0.8, 1.2) * adv))", "r", "r: n pos, adv: n")
    assert d.text == "(r * adv <= clip(r, 0.8, 1.2) * adv) * adv"


def test_maximum_and_minimum_send_the_gradient_to_the_chosen_argument():
    shapes = "x: n, y: n"
    assert md.derivative("sum(maximum(x, y))", "x", shapes).text == "x >= y"
    assert md.derivative("sum(maximum(x, y))", "y", shapes).text == "x < y"
    assert md.derivative("sum(minimum(x, y))", "x", shapes).text == "x <= y"
    assert md.derivative("sum(minimum(x, y))", "y", shapes).text == "x > y"


def test_sign_and_comparisons_have_zero_derivative():
    assert md.derivative("sum(sign(x) * x)", "x", "x: n").text == "sign(x)"
    for text in ("sum(x > 0)", "sum(x <= 1)", "sum(x == 2)", "sum(sign(x))"):
        value = md.derivative(text, "x", "x: n").evaluate({"x": np.array([0.5, -1.0, 3.0])})
        np.testing.assert_array_equal(value, np.zeros(3))


def test_the_elementwise_functions_read_as_dlmf_writes_them():
    assert md.vjp("expm1(X)", "X", "X: n×m", cotangent="G").text == "G * exp(X)"
    assert md.derivative("sum(arctan(X @ w))", "w", "X: n×p, w: p").text == "1 / (1 + (X @ w) ** 2) @ X"
    assert md.derivative("sum(sinh(X) / cosh(X))", "X", "X: n×m").text == "1 - tanh(X) ** 2"
    assert md.derivative("sum(square(X @ W - Y))", "W", "X: n×p, W: p×k, Y: n×k").text == "2 * X.T @ (X @ W - Y)"
    silu = md.derivative("sum(silu(x))", "x", "x: n").text
    assert silu == "sigmoid(x) * (1 + x * (1 - sigmoid(x)))"


# ---- one node for equal spellings -------------------------------------------------------------------------

@pytest.mark.parametrize("written, same", [
    ("maximum(X, 0)", "relu(X)"), ("maximum(0, X)", "relu(X)"), ("np.maximum(X, 0)", "relu(X)"),
    ("power(X, 3)", "X ** 3"), ("np.power(X, 0.5)", "sqrt(X)"), ("square(X)", "X ** 2"),
    ("reciprocal(X)", "1 / X"), ("expit(X)", "sigmoid(X)"),
    ("0 < X", "X > 0"), ("where(X > 0, X, 0)", "X * (X > 0)"), ("where(X > 0, 0, X)", "X * (X <= 0)"),
    ("where(X > 0, 1, 0)", "X > 0"), ("sin(X) / cos(X)", "tan(X)"), ("pi * X", "3.141592653589793 * X"),
    ("np.pi * X", "pi * X"), ("relu(relu(X))", "relu(X)"), ("(X > 0) * 1", "X > 0"),
    ("(X > 0) ** 2", "X > 0"), ("(X > 0) * (X > 0)", "X > 0"), ("relu(X) * (X > 0)", "relu(X)"),
])
def test_equal_spellings_are_one_node(written, same):
    shapes = "X: n×m"
    assert md.parse(written, shapes).node is md.parse(same, shapes).node


def test_numbers_fold():
    assert md.parse("relu(-2) + sign(-3) + maximum(1, 2) + clip(5, 0, 1) + (2 > 1)", "").text == "3"


@pytest.mark.parametrize("text, unicode, latex", [
    ("x > 0", "x > 0", "x > 0"),
    ("x >= y", "x ≥ y", r"x \geq y"),
    ("x <= y", "x ≤ y", r"x \leq y"),
    ("G * (x == y)", "G ⊙ (x = y)", r"G \odot \left(x = y\right)"),
    ("(x > 0) > (y < 1)", "(x > 0) > (y < 1)", r"\left(x > 0\right) > \left(y < 1\right)"),
    ("where(x > 0, x, y)", "where(x > 0, x, y)", r"\operatorname{where}\left(x > 0, x, y\right)"),
    ("clip(x, y, G)", "clip(x, y, G)", r"\operatorname{clip}\left(x, y, G\right)"),
])
def test_comparisons_print_and_read_back(text, unicode, latex):
    shapes = "x: n, y: n, G: n"
    e = md.parse(text, shapes)
    assert (e.text, e.unicode, e.latex) == (text, unicode, latex)
    assert md.parse(e.text, shapes).node is e.node


# ---- checked numerically, away from the kinks -----------------------------------------------------------

CHECKED = [
    ("norm2(relu(X @ W1) @ W2 - Y) ** 2", ["W1", "W2"], MLP),
    ("norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2", ["b1"], MLP),
    ("norm2(gelu(X @ W1) @ W2 - Y) ** 2", ["W1"], MLP),
    ("norm2(silu(X @ W1) @ W2 - Y) ** 2", ["W1"], MLP),
    ("sum(where(X > 0, X, 0.01 * X) ** 2)", ["X"], "X: n×m"),
    ("sum(where(A @ x > 0, exp(A @ x), x @ x))", ["x"], "A: n×n, x: n"),
    ("sum(maximum(A @ x, y) ** 2) + sum(minimum(x, y) ** 3)", ["x", "y"], "A: n×n, x: n, y: n"),
    ("sum(clip(X @ w, -0.5, 0.5) ** 2)", ["w"], "X: n×p, w: p"),
    ("sum(clip(x, lo - 1, hi + 1) ** 2)", ["x", "lo", "hi"], "x: n, lo: scalar small, hi: scalar small"),
    ("sum(minimum(r * adv, clip(r, 0.8, 1.2) * adv))", ["r"], "r: n pos, adv: n"),
    ("sum(maximum(0, 1 - y * (X @ w))) + 0.5 * lam * w @ w", ["w"], "X: n×p pos, w: p, y: n, lam: scalar pos"),
    ("sum(sign(x) * x ** 2) + sum(abs(x) * (x > 0))", ["x"], "x: n"),
    ("sum(log1p((X @ w - y) ** 2)) + sum(log2(exp(X @ w)) + log10(exp(X @ w)))", ["w"], "X: n×p, w: p, y: n"),
    ("sum(arcsinh(X @ w) + arctan(X @ w) + sinh(X @ w) * cosh(X @ w) + expm1(X @ w))", ["w"], "X: n×p, w: p"),
    ("sum(erf(X @ w)) + sum(expit(X @ w) * reciprocal(1 + square(X @ w)))", ["w"], "X: n×p, w: p"),
    ("sum(power(x, 3) * pi)", ["x"], "x: n pos"),
    ("sum(where(s > t, x, y) @ A)", ["s", "t", "x", "y", "A"], WHERE),
    ("norm2(where(s > t, X, Y) @ B) ** 2", ["s", "X", "Y", "B"], WHERE),
    ("norm2(where(x, s * x, y) @ A) ** 2", ["s", "x", "y"], WHERE),
]


PPO = "sum(minimum(r * adv, clip(r, 0.8, 1.2) * adv))"  # piecewise linear: its Hessian is zero


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("f, wrt, shapes", CHECKED)
def test_agrees_with_finite_differences_and_jax(f, wrt, shapes, order):
    report = md.check(f, wrt, shapes, order=order)
    assert report.ok, str(report)


VECTOR_FUNCTIONS = [  # matrices by matrices (vec forms) and vectors by vectors (Jacobians)
    ("where(X > 0, X, 0.01 * X)", "X", "X: n×m"),
    ("clip(X @ W, -0.5, 0.5)", "W", "X: n×d, W: d×h"),
    ("maximum(A @ x, x)", "x", "A: n×n, x: n"),
    ("relu(A @ x) * sign(x)", "x", "A: n×n, x: n"),
    ("where(s > t, x, y) @ A", "s", WHERE),
    ("where(s > t, X, Y) @ B", "X", WHERE),
    ("where(x > 0, x, y) @ A", "y", WHERE),
    ("where(x, s * x, y) @ A", "s", WHERE),
    ("where(X, s, t) @ B", "s", WHERE),
]


@pytest.mark.parametrize("f, wrt, shapes", VECTOR_FUNCTIONS)
def test_jacobians_and_index_forms_agree_with_finite_differences(f, wrt, shapes):
    d = md.derivative(f, wrt, shapes)
    rng = np.random.default_rng(4)
    e = md.parse(f, shapes)
    sizes = {"n": 3, "m": 4, "d": 2, "h": 5, "k": 2}
    values = {}
    for name, spec in e.variables.items():
        values[name] = rng.normal(size=tuple(sizes[s] for s in spec.shape))
    x = values[wrt]
    step, columns = 1e-7, []
    for k in np.ndindex(x.shape):
        bump = np.zeros(x.shape)
        bump[k] = step
        columns.append((e.evaluate({**values, wrt: x + bump}) - e.evaluate({**values, wrt: x - bump})) / (2 * step))
    numeric = np.stack(columns, axis=-1).reshape(e.evaluate(values).shape + x.shape)
    np.testing.assert_allclose(d.evaluate(values), numeric, rtol=1e-6, atol=1e-8)
    assert d.index.text
    np.testing.assert_allclose(d.index.evaluate(values), numeric, rtol=1e-6, atol=1e-8)


CODE = [
    ("norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2", ["W1", "b1"], MLP, False),
    ("sum(where(X > 0, X, 0.01 * X) ** 2) + sum(clip(X, -0.5, 0.5))", ["X"], "X: n×m", False),
    ("sum(maximum(A @ x, 0.3) ** 2 + minimum(x, 0.1) ** 2) + max_like @ (A @ x >= 0)", ["x"],
     "A: n×n, x: n, max_like: n", True),
    ("sum(minimum(r * adv, clip(r, 0.8, 1.2) * adv))", ["r"], "r: n pos, adv: n", False),
    ("sum(gelu(X) + silu(X) + erf(X) + sign(X) * X)", ["X"], "X: n×m", False),
    # comparisons in arithmetic a boolean array does differently: True + True is True, True - True an error, a
    # product of boolean matrices a logical one, -True an error (a property test of generated code found it)
    ("sum((X > Y) + (X > Y)) + sum((X > Y) - (X < Y)) + sum((X > Y) @ (X > Y).T) + sum(-(X < Y) * X)",
     ["X"], "X: n×m, Y: n×m", False),
    ("sum(logsumexp(X > Y, axis=0)) + sum(exp(X) * (X > Y) * (Y > 0))", ["X"], "X: n×m, Y: n×m", False),
]


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("f, wrt, shapes, hessian", CODE)
def test_generated_code_agrees_with_evaluation(f, wrt, shapes, hessian, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    fn = md.compile(f, wrt, shapes, backend=backend, hessian=hessian)
    e = md.parse(f, shapes)
    rng = np.random.default_rng(5)
    sizes = {"n": 4, "m": 3, "d": 2, "h": 5, "k": 3}
    values = {name: rng.uniform(0.5, 1.5, size=tuple(sizes[s] for s in spec.shape)) if "pos" in spec.properties
              else rng.normal(size=tuple(sizes[s] for s in spec.shape)) for name, spec in e.variables.items()}
    names = list(inspect.signature(fn).parameters)
    if backend == "torch":
        import torch
        args = [torch.as_tensor(values[p]) for p in names]
    else:
        args = [values[p] for p in names]
    results = [np.asarray(r) for r in fn(*args)]
    expected = [e.evaluate(values)] + [md.derivative(f, w, shapes).evaluate(values) for w in wrt]
    expected += [md.derivative(f, w, shapes, order=2).evaluate(values) for w in wrt] if hessian else []
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_numpy_code_reads_as_numpy():
    """A comparison is a 0/1 array of the arguments' floating type; as a factor of a product with floats, its
    boolean array (as one writes relu's backward pass by hand)."""
    source = md.codegen("norm2(relu(X @ W1) @ W2 - Y) ** 2", ["W1"], MLP)
    assert "np.maximum(t0, 0.0)" in source and "* (t0 > 0.0)" in source and "astype" not in source
    assert "(X > Y).astype(X.dtype) - (X < Y).astype(X.dtype)" in md.codegen("sum((X > Y) - (X < Y))", ["X"],
                                                                                 "X: n×m, Y: n×m")
    leaky = md.codegen("where(X > 0, X, 0.01 * X)", ["X"], "X: n×m", cotangent="G")
    assert "np.where(X > 0.0, 1.0, 0.01)" in leaky


# PPO's two branches tie wherever clip passes r through: a step's claim, checked by moving one argument of
# the minimum alone, holds only away from ties (the answer itself is checked above)
@pytest.mark.parametrize("f, wrt, shapes", [(f, w[0], s) for f, w, s in CHECKED[:12] if f != PPO])
def test_every_step_of_the_derivation_holds(f, wrt, shapes):
    for order in (1, 2):
        d = md.explain(f, wrt, shapes, order=order)
        failures = [(step.rule, error) for step, error in d.verify(None, 0) if not error <= 1e-6]
        assert not failures


def test_explain_names_the_rules_in_words():
    text = md.explain("sum(where(X > 0, X, 0.01 * X)) + sum(clip(X, 0, 1)) + sum(maximum(X, Y))", "X",
                      "X: n×m, Y: n×m").text
    assert "clipping" in text and "elementwise maximum" in text


# ---- errors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("0 < x < 1", ["chained comparison", "(a < b) * (b < c)"]),
    ("x != 0", ["!=", "not part of the language"]),
    ("x in y", ["in", "not part of the language"]),
    ("where(A > 0, x, y)", ["where", "n×n", "m"]),
    ("maximum(x, A)", ["maximum", "x is m", "A is n×n"]),
    ("clip(x, A, 1)", ["clip", "x is m", "A is n×n"]),
    ("x > A", ["x > A", "m", "n×n"]),
    ("power(x)", ["power takes 2 arguments"]),
    ("square(x, x)", ["square takes 1 argument"]),
    ("relu", ["relu is a function"]),
])
def test_bad_input_says_what_is_wrong(text, words):
    with pytest.raises(md.MatdiffError) as caught:
        md.parse(text, "x: m, y: m, A: n×n")
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_pi_is_a_number():
    assert md.parse("pi", "").evaluate({}) == pytest.approx(math.pi)
    assert md.parse("math.pi / 2", "").evaluate({}) == pytest.approx(math.pi / 2)
    # a variable named pi is the variable
    assert md.parse("pi", "pi: n").node.op == "var"
