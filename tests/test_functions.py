"""Declared functions: `g: function` is an arbitrary smooth scalar function applied elementwise, g(X @ W);
its derivatives are grad(g)(u), grad(grad(g))(u), printed g′(u), g″(u).

The answers as the seed examples and textbooks write them, checked numerically (md.check binds g to a
fixed smooth function of its own; JAX differentiates that function itself), with values a user gives
(g and its derivatives as Python functions: `g`, `grad_g`, ...), through generated code, index notation,
explain, and the errors of a misused declaration.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import matdiff as md
from matdiff.ops.functions import StandIn

NET = "X: n×p, W: p×k, Y: n×k, g: function"
TANH = {"g": np.tanh, "grad_g": lambda u: 1 - np.tanh(u) ** 2,
        "grad_grad_g": lambda u: -2 * np.tanh(u) * (1 - np.tanh(u) ** 2)}


# ---- answers as the textbook writes them ----------------------------------------------------------------

def test_the_seed_example():
    assert md.derivative("norm2(g(X @ W) - Y) ** 2", "W", NET).text == "2 * X.T @ ((g(X @ W) - Y) * grad(g)(X @ W))"


def test_dictionary_learning_with_a_link():
    shapes = "X: m×n, D: m×k, R: k×n, g: function"
    f = "norm2(X - g(D @ R)) ** 2"
    assert md.derivative(f, "R", shapes).text == "-2 * D.T @ ((X - g(D @ R)) * grad(g)(D @ R))"
    d = md.derivative(f, "D", shapes)
    expected = md.parse("-2 * ((X - g(D @ R)) * grad(g)(D @ R)) @ R.T", shapes)
    rng = np.random.default_rng(0)
    values = {"X": rng.normal(size=(3, 4)), "D": rng.normal(size=(3, 2)), "R": rng.normal(size=(2, 4)), **TANH}
    np.testing.assert_allclose(d.evaluate(values), expected.evaluate(values))


def test_backprop_through_a_layer_and_the_glm_hessian():
    assert md.vjp("g(X @ W)", "W", NET, cotangent="G").text == "X.T @ (G * grad(g)(X @ W))"
    assert md.hessian("sum(g(A @ x))", "x", "A: m×n, x: n, g: function").text == "A.T @ diag(grad(grad(g))(A @ x)) @ A"
    third = md.derivative("grad(grad(g))(x) @ a", "x", "x: n, a: n, g: function").text
    assert third == "a * grad(grad(grad(g)))(x)"


def test_declarations_in_text_and_in_a_dictionary():
    for shapes in ("x: n, g: function", {"x": ("n",), "g": ("function",)}, {"x": "n", "g": "function"}):
        assert md.parse("g(x) + grad(g)(x)", shapes).text == "g(x) + grad(g)(x)"


@pytest.mark.parametrize("text, unicode, latex", [
    ("g(X @ W)", "g(X W)", r"g\left(X W\right)"),
    ("grad(g)(X @ W)", "g′(X W)", r"g'\left(X W\right)"),
    ("grad(grad(g))(X)", "g″(X)", r"g''\left(X\right)"),
    ("grad(grad(grad(grad(g))))(X)", "g⁽⁴⁾(X)", r"g^{(4)}\left(X\right)"),
    ("2 * grad(g)(X) ** 2", "2 g′(X)²", r"2 {g'\left(X\right)}^{2}"),
    ("phi(X).T", "phi(X)ᵀ", r"{\operatorname{phi}\left(X\right)}^\top"),
])
def test_printed_and_read_back(text, unicode, latex):
    shapes = NET + ", phi: function"
    e = md.parse(text, shapes)
    assert (e.text, e.unicode, e.latex) == (text, unicode, latex)
    assert md.parse(e.text, shapes).node is e.node


# ---- values: g and its derivatives as Python functions ----------------------------------------------------

def test_evaluate_takes_the_functions_by_name():
    rng = np.random.default_rng(1)
    X, W, Y = rng.normal(size=(3, 2)), rng.normal(size=(2, 4)), rng.normal(size=(3, 4))
    values = {"X": X, "W": W, "Y": Y, **TANH}
    f = md.parse("norm2(g(X @ W) - Y) ** 2", NET)
    assert f.evaluate(values) == pytest.approx(np.sum((np.tanh(X @ W) - Y) ** 2))
    d = md.derivative(f, "W")
    residual = np.tanh(X @ W) - Y
    np.testing.assert_allclose(d.evaluate(values), 2 * X.T @ (residual * (1 - np.tanh(X @ W) ** 2)))


def test_a_missing_or_misshapen_function_is_named():
    d = md.derivative("sum(g(x))", "x", "x: n, g: function")
    with pytest.raises(md.MatdiffError, match=r"grad\(g\).*grad_g"):
        d.evaluate({"x": np.ones(3), "g": np.tanh})
    with pytest.raises(md.MatdiffError, match="entry by entry"):
        d.evaluate({"x": np.ones(3), "grad_g": np.sum})


def test_the_stand_in_is_smooth_and_its_derivatives_are_its_own():
    u, h = np.linspace(-2, 2, 9), 1e-5
    for order in range(5):
        g, slope = StandIn("g", order), StandIn("g", order + 1)
        np.testing.assert_allclose((g(u + h) - g(u - h)) / (2 * h), slope(u), atol=1e-8)
    assert StandIn("g").derivative()(0.3) == StandIn("g", 1)(0.3)
    assert StandIn("g")(0.3) != StandIn("h")(0.3)  # each name its own function


# ---- checked numerically -----------------------------------------------------------------------------------

CHECKED = [
    ("norm2(g(X @ W) - Y) ** 2", ["W", "X"], NET),
    ("sum(g(A @ x))", ["x", "A"], "A: m×n, x: n, g: function"),
    ("sum(g(x) * h(x)) + grad(g)(x) @ x", ["x"], "x: n, g: function, h: function"),
    ("norm2(g(X @ W1) @ W2 - Y) ** 2", ["W1", "W2"], "X: n×d, W1: d×h, W2: h×k, Y: n×k, g: function"),
    ("sum(log(1 + g(X @ w) ** 2)) + grad(grad(g))(w) @ w", ["w"], "X: n×p, w: p, g: function"),
    ("tr(g(S) @ inv(S))", ["S"], "S: n×n spd, g: function"),
]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("f, wrt, shapes", CHECKED)
def test_agrees_with_finite_differences_and_jax(f, wrt, shapes, order):
    report = md.check(f, wrt, shapes, order=order)
    assert report.ok, str(report)
    assert any(row.method.startswith("jax") for row in report.rows)


def test_check_takes_the_users_functions():
    rng = np.random.default_rng(2)
    values = {"X": rng.normal(size=(3, 2)), "W": rng.normal(size=(2, 4)), "Y": rng.normal(size=(3, 4)), **TANH}
    report = md.check("norm2(g(X @ W) - Y) ** 2", "W", NET, values=values, use_jax=False)
    assert report.ok, str(report)


@pytest.mark.parametrize("f, wrt, shapes", [
    ("g(X @ W)", "W", NET),
    ("g(A @ x) * grad(g)(x)", "x", "A: n×n, x: n, g: function"),
])
def test_jacobians_and_index_forms(f, wrt, shapes):
    d = md.derivative(f, wrt, shapes)
    e = md.parse(f, shapes)
    rng = np.random.default_rng(3)
    sizes = {"n": 3, "p": 2, "k": 4}
    values = {name: rng.normal(size=tuple(sizes[s] for s in spec.shape))
              for name, spec in e.variables.items() if not spec.is_function} | TANH
    x, step, columns = values[wrt], 1e-7, []
    for k in np.ndindex(x.shape):
        bump = np.zeros(x.shape)
        bump[k] = step
        columns.append((e.evaluate({**values, wrt: x + bump}) - e.evaluate({**values, wrt: x - bump})) / (2 * step))
    numeric = np.stack(columns, axis=-1).reshape(e.evaluate(values).shape + x.shape)
    np.testing.assert_allclose(d.evaluate(values), numeric, rtol=1e-6, atol=1e-8)
    assert "grad(g)" in d.index.text
    np.testing.assert_allclose(d.index.evaluate(values), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_generated_code_takes_g_and_its_derivatives(backend):
    if backend != "numpy":
        module = pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        tanh = jax.numpy.tanh
    elif backend == "torch":
        tanh = module.tanh
    else:
        tanh = np.tanh
    functions = {"g": tanh, "grad_g": lambda u: 1 - tanh(u) ** 2,
                 "grad_grad_g": lambda u: -2 * tanh(u) * (1 - tanh(u) ** 2)}
    shapes = "A: m×n, x: n, g: function"
    f = "sum(g(A @ x)) + x @ x"
    fn = md.compile(f, ["x"], shapes, backend=backend, hessian=True)
    names = list(inspect.signature(fn).parameters)
    assert names == ["A", "x", "g", "grad_g", "grad_grad_g"]
    rng = np.random.default_rng(4)
    values = {"A": rng.normal(size=(3, 2)), "x": rng.normal(size=2)}
    arrays = {k: (module.as_tensor(v) if backend == "torch" else v) for k, v in values.items()}
    value, gradient, hessian = (np.asarray(r) for r in fn(*[arrays.get(n, functions.get(n)) for n in names]))
    values |= TANH
    np.testing.assert_allclose(value, md.parse(f, shapes).evaluate(values), rtol=1e-12)
    np.testing.assert_allclose(gradient, md.derivative(f, "x", shapes).evaluate(values), rtol=1e-10)
    np.testing.assert_allclose(hessian, md.hessian(f, "x", shapes).evaluate(values), rtol=1e-10)
    source = md.codegen(f, ["x"], shapes, backend=backend)
    assert "grad_g(t0)" in source and "g: function" in source


@pytest.mark.parametrize("f, wrt, shapes", [(f, w[0], s) for f, w, s in CHECKED])
def test_every_step_of_the_derivation_holds(f, wrt, shapes):
    for order in (1, 2):
        d = md.explain(f, wrt, shapes, order=order)
        failures = [(step.rule, error) for step, error in d.verify(None, 0) if not error <= 1e-6]
        assert not failures
    assert "declared function g" in md.explain(f, wrt, shapes).text


def test_verify_judges_a_claim_with_g():
    f = "norm2(g(X @ W) - Y) ** 2"
    right = md.verify(f, "W", NET, "2 * X.T @ ((g(X @ W) - Y) * grad(g)(X @ W))")
    wrong = md.verify(f, "W", NET, "2 * X.T @ (g(X @ W) - Y)")
    assert right.correct and not wrong.correct


# ---- errors ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, error, words", [
    ("grad(h)(X)", md.UnknownNameError, ["grad(h)", "h is not a declared function", "h: function"]),
    ("grad(X)(X)", md.UnknownNameError, ["X is a declared variable, not a function"]),
    ("g", md.ParseError, ["g is a function"]),
    ("g(X, X)", md.ParseError, ["g is applied to one array"]),
    ("grad(g)", md.ParseError, ["grad(g)(u)"]),
    ("grad(g, g)(X)", md.ParseError, ["grad takes one declared function"]),
    ("exp(g)", md.ParseError, ["g is a function"]),
    ("g(X @ Y)", md.ShapeError, ["X @ Y"]),
])
def test_a_misused_function_says_why(text, error, words):
    with pytest.raises(error) as caught:
        md.parse(text, NET)
    for word in words:
        assert word in str(caught.value), str(caught.value)


@pytest.mark.parametrize("shapes, words", [
    ("g: n function", ["g: function", "no dimensions"]),
    ("g: function sym", ["no dimensions or other properties"]),
])
def test_a_function_has_no_dimensions(shapes, words):
    with pytest.raises(md.DeclarationError) as caught:
        md.parse("g(x)", "x: n, " + shapes)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("name", ["exp", "sum", "grad"])
def test_a_function_does_not_take_a_name_of_the_language(name):
    with pytest.raises(md.DeclarationError, match=f"{name} is a function of the language"):
        md.parse("x", f"x: n, {name}: function")


def test_a_function_is_not_differentiated_by():
    with pytest.raises(md.MatdiffError, match=r"g is a declared function.*grad\(g\)\(u\)"):
        md.derivative("sum(g(X @ W))", "g", NET)
