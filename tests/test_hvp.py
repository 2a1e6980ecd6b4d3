"""Hessian-vector products, H v, without forming H (`md.hvp`).

H v is the directional derivative of the gradient: d/dt ∇f(x + t v) at t = 0. Each answer is checked
three ways: against the Hessian matdiff forms (in vec form for a matrix variable) times vec(v); against
central differences of the gradient, (∇f(x + h v) − ∇f(x − h v)) / 2h, in float64; and, where JAX is
installed, against `jax.jvp(jax.grad(f))`, JAX's forward-over-reverse product.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff as md
from matdiff.numeric_check import random_point

SIZES = {"n": 5, "d": 3, "h": 4, "k": 2}

SINGLE = [
    ("x @ A @ x", "x", "x: n, A: n×n"),
    ("sum(softplus(X @ w)) - y @ X @ w", "w", "X: n×d, w: d, y: n"),
    ("norm2(tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2", "W1", "X: n×d, W1: d×h, b1: h, W2: h×k, b2: k, Y: n×k"),
    ("norm2(relu(X @ W1) @ W2 - Y) ** 2", "W2", "X: n×d, W1: d×h, W2: h×k, Y: n×k"),
    ("-sum(Y * log_softmax(X @ W, axis=1))", "W", "X: n×d, W: d×k, Y: n×k"),
    ("0.5 * logdet(S) + 0.5 * (x - mu) @ inv(S) @ (x - mu)", "mu", "x: n, mu: n, S: n×n spd"),
    ("logdet(S) + tr(inv(S) @ C)", "S", "S: n×n spd, C: n×n"),
]


def _column_major(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape(-1, order="F")


def _point(product: md.Derivative, seed: int = 0) -> dict:
    return random_point(product, SIZES, np.random.default_rng(seed))


@pytest.mark.parametrize("f, x, shapes", SINGLE)
def test_hvp_is_the_hessian_times_the_direction(f, x, shapes):
    product = md.hvp(f, x, shapes)
    point = _point(product)
    hessian = md.hessian(f, x, shapes)
    full = hessian.evaluate_as_written(point, SIZES)
    expected = full @ _column_major(point["v"])  # vec form: d² f / d vec(x) d vec(x)ᵀ
    found = product.evaluate(point, SIZES)
    assert found.shape == np.shape(point[x])
    np.testing.assert_allclose(_column_major(found), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("f, x, shapes", SINGLE)
def test_hvp_is_the_derivative_of_the_gradient_along_v(f, x, shapes):
    product = md.hvp(f, x, shapes)
    gradient = md.gradient(f, x, shapes)  # sym(∇f) for a symmetric S, as hvp takes it
    point = _point(product, seed=1)
    h = 1e-5

    def gradient_at(t):
        return gradient.evaluate(dict(point, **{x: point[x] + t * point["v"]}), SIZES)

    difference = (gradient_at(h) - gradient_at(-h)) / (2 * h)
    np.testing.assert_allclose(product.evaluate(point, SIZES), difference, rtol=1e-6, atol=1e-6)


def test_several_variables_give_one_part_each_along_the_whole_direction():
    f, shapes = "norm2(tanh(X @ W1) @ W2 - Y) ** 2", "X: n×d, W1: d×h, W2: h×k, Y: n×k"
    parts = md.hvp(f, ["W1", "W2"], shapes)
    assert list(parts) == ["W1", "W2"]
    point = _point(parts["W1"], seed=2)
    assert {"v_W1", "v_W2"} <= set(point)
    h = 1e-5
    gradients = md.gradient(f, ["W1", "W2"], shapes)

    def moved(t):
        return dict(point, W1=point["W1"] + t * point["v_W1"], W2=point["W2"] + t * point["v_W2"])

    for name, part in parts.items():
        difference = (gradients[name].evaluate(moved(h), SIZES) - gradients[name].evaluate(moved(-h), SIZES)) / (2 * h)
        np.testing.assert_allclose(part.evaluate(point, SIZES), difference, rtol=1e-6, atol=1e-6)


def test_the_logistic_hvp_reads_as_the_textbook_writes_it():
    # H v = Xᵀ (s ⊙ (1 − s) ⊙ X v), s = sigmoid(X w): two products with X, never the d×d Hessian
    product = md.hvp("sum(softplus(X @ w)) - y @ X @ w", "w", "X: n×d, w: d, y: n")
    assert product.text == "sigmoid(X @ w) * (1 - sigmoid(X @ w)) * (X @ v) @ X"
    assert md.parse(product.text, product.variables).node is product.node
    source = md.codegen(product, gradients=False)
    assert "X.T @" in source and "X @ v" in source


@pytest.mark.parametrize("f, x, shapes", SINGLE[:4])
def test_hvp_against_jax_forward_over_reverse(f, x, shapes):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    product = md.hvp(f, x, shapes)
    point = _point(product, seed=3)
    function = md.compile(f, [], shapes, backend="jax", gradients=False)
    names = list(function.__code__.co_varnames[:function.__code__.co_argcount])

    def value(y):
        return function(*[y if name == x else point[name] for name in names])[0]

    _, expected = jax.jvp(jax.grad(value), (point[x],), (point["v"],))
    np.testing.assert_allclose(product.evaluate(point, SIZES), np.asarray(expected), rtol=1e-9, atol=1e-9)


def test_generated_hvp_code_agrees_with_the_expression():
    f, shapes = "norm2(tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2", "X: n×d, W1: d×h, b1: h, W2: h×k, b2: k, Y: n×k"
    product = md.hvp(f, "W1", shapes)
    point = _point(product, seed=4)
    function = md.compile(product, gradients=False)
    names = list(function.__code__.co_varnames[:function.__code__.co_argcount])
    (found,) = function(*[point[name] for name in names])
    np.testing.assert_allclose(found, product.evaluate(point, SIZES), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: md.hvp("A @ x", "x", "A: n×n, x: n"), "scalar function"),
    (lambda: md.hvp("x @ A @ x", "x", "x: n, A: n×n", direction="A"), "already the name"),
    (lambda: md.hvp("x @ A @ x", "x", "x: n, A: n×n", direction="n"), "already the name"),
    (lambda: md.hvp("x @ A @ x", "x", "x: n, A: n×n", direction="not a name"), "needs a name"),
    (lambda: md.hvp("x @ A @ x", ["x", "A"], "x: n, A: n×n", direction=["u"]), "one direction per variable"),
    (lambda: md.hvp("x @ A @ x", "y", "x: n, A: n×n"), "y"),
])
def test_bad_questions_are_matdiff_errors(call, message):
    with pytest.raises(md.MatdiffError, match=message):
        call()
