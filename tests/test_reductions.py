"""Reductions and the softmax family through every output, with NumPy's and scipy.special's meanings.

sum, mean, var, std, max, min (amax, amin) with axis (None, an int, a tuple, negative) and keepdims;
logsumexp with axis and keepdims, softmax and log_softmax with axis (None: the whole array). Each is
checked against something independent: the answers a textbook writes, md.check (central differences
and JAX) at order 1 and 2, backpropagation rules against central differences, index forms evaluated by
einsum, generated code in NumPy, JAX and PyTorch against evaluation, the claims of every derivation,
and NumPy itself for the values. Points keep the entries of a max or a min apart (no ties), where the
indicator X == max(X) is the derivative.
"""
from __future__ import annotations


import numpy as np
import pytest

import matdiff as md
from generated import call
from matdiff.derivation import Point

WHERE = "X: n×m, A: n×n, x: n, W: m×k, Y: n×k, b: k, w: m, y: n, s: scalar"
SIZES = {"n": 3, "m": 4, "k": 5}


def point(seed: int = 0) -> dict:
    """Values with distinct entries everywhere (a max or a min is taken at one entry only)."""
    rng = np.random.default_rng(seed)
    def spread_out(*shape):
        return rng.permutation(np.arange(int(np.prod(shape)))).reshape(shape) * 0.37 - 1.0 + \
            rng.uniform(0, 0.05, size=shape)
    return {"X": spread_out(3, 4), "A": rng.normal(size=(3, 3)) / 2, "x": spread_out(3), "W": rng.normal(size=(4, 5)),
            "Y": rng.uniform(size=(3, 5)), "b": rng.normal(size=5), "w": rng.normal(size=4), "y": rng.normal(size=3),
            "s": np.array(0.7)}


# ---- the answers textbooks write ---------------------------------------------------------------------

GRADIENTS = [
    ("sum(logsumexp(X, axis=1))", "X", "softmax(X, axis=1)"),
    ("sum(logsumexp(X, axis=0))", "X", "softmax(X, axis=0)"),
    ("logsumexp(X)", "X", "softmax(X)"),
    ("-sum(Y * log_softmax(X @ W, axis=1))", "W", "X.T @ (softmax(X @ W, axis=1) * sum(Y, axis=1, keepdims=True) - Y)"),
    ("sum(logsumexp(X @ W, axis=1)) - sum(Y * (X @ W))", "W", "X.T @ (softmax(X @ W, axis=1) - Y)"),
    ("sum(logsumexp(X @ W + b, axis=1)) - sum(Y * (X @ W + b))", "b", "sum(softmax(X @ W + b, axis=1) - Y, axis=0)"),
    ("var(x)", "x", "2 * (x - mean(x)) / n"),
    ("std(x)", "x", "(x - mean(x)) / (n * std(x))"),
    ("sum(var(X, axis=0))", "X", "2 * (X - mean(X, axis=0, keepdims=True)) / n"),
    ("mean((X @ w - y) ** 2)", "w", "2 * (X @ w - y) @ X / n"),
]


@pytest.mark.parametrize("f, wrt, expected", GRADIENTS)
def test_gradients_read_as_textbooks_write_them(f, wrt, expected):
    assert md.derivative(f, wrt, WHERE).text == expected


LAYER_NORM = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
NORM_WHERE = "X: n×d, gamma: d, beta: d"
VJPS = [
    ("softmax(X, axis=1)", "X", WHERE,
     "softmax(X, axis=1) * (G - sum(G * softmax(X, axis=1), axis=1, keepdims=True))"),
    ("log_softmax(X, axis=1)", "X", WHERE, "G - softmax(X, axis=1) * sum(G, axis=1, keepdims=True)"),
    ("std(X, axis=1, keepdims=True)", "X", WHERE,
     "(X - mean(X, axis=1, keepdims=True)) * G / (m * std(X, axis=1, keepdims=True))"),
    ("sum(X, axis=1, keepdims=True)", "X", WHERE, "G * ones(n, m)"),
    (LAYER_NORM, "beta", NORM_WHERE, "sum(G, axis=0)"),
    (LAYER_NORM, "gamma", NORM_WHERE,
     "sum((X - mean(X, axis=1, keepdims=True)) * G / sqrt(var(X, axis=1, keepdims=True) + 1e-05), axis=0)"),
]


@pytest.mark.parametrize("f, wrt, where, expected", VJPS)
def test_backprop_rules_read_as_the_write_ups_give_them(f, wrt, where, expected):
    assert md.vjp(f, wrt, where, cotangent="G").text == expected


def test_layer_norm_backprop_keeps_mean_and_var_as_operations():
    text = md.vjp(LAYER_NORM, "X", NORM_WHERE, cotangent="G").text
    assert "mean(G * gamma * (X - mean(X, axis=1, keepdims=True)), axis=1, keepdims=True)" in text
    assert "mean(gamma * G, axis=1, keepdims=True)" in text
    assert "sum(" not in text  # a sum over the axis divided by its length is the mean


def test_hessians_read_as_textbooks_write_them():
    assert md.derivative("var(x)", "x", WHERE, order=2).text == "2 * (eye(n) - 1 / n) / n"
    assert md.derivative("sum(logsumexp(X @ W + b, axis=1)) - sum(Y * (X @ W + b))", "b", WHERE, order=2).text == \
        "diag(sum(softmax(X @ W + b, axis=1), axis=0)) - softmax(X @ W + b, axis=1).T @ softmax(X @ W + b, axis=1)"


# ---- shapes, values and spellings, as NumPy has them -------------------------------------------------

SHAPES = [
    ("sum(X, axis=1, keepdims=True)", ("n", 1)), ("mean(X, axis=0, keepdims=True)", (1, "m")),
    ("var(X, axis=-1)", ("n",)), ("std(X, keepdims=True)", (1, 1)), ("logsumexp(X, axis=0, keepdims=True)", (1, "m")),
    ("softmax(X)", ("n", "m")), ("log_softmax(X, axis=-2)", ("n", "m")), ("sum(X, axis=())", ("n", "m")),
]


@pytest.mark.parametrize("f, shape", SHAPES)
def test_shapes_are_numpys(f, shape):
    assert md.parse(f, WHERE).shape == shape


VALUES = [
    ("sum(X, axis=1, keepdims=True)", lambda v: np.sum(v["X"], axis=1, keepdims=True)),
    ("mean(X, axis=(0, 1))", lambda v: np.mean(v["X"])),
    ("var(X, axis=0)", lambda v: np.var(v["X"], axis=0)),
    ("std(X, axis=-1, keepdims=True)", lambda v: np.std(v["X"], axis=-1, keepdims=True)),
    ("logsumexp(X, axis=1, keepdims=True)", lambda v: np.log(np.sum(np.exp(v["X"]), axis=1, keepdims=True))),
    ("logsumexp(X)", lambda v: np.log(np.sum(np.exp(v["X"])))),
    ("softmax(X)", lambda v: np.exp(v["X"]) / np.sum(np.exp(v["X"]))),
    ("softmax(X, axis=0)", lambda v: np.exp(v["X"]) / np.sum(np.exp(v["X"]), axis=0)),
    ("log_softmax(X, axis=1)", lambda v: v["X"] - np.log(np.sum(np.exp(v["X"]), axis=1, keepdims=True))),
    ("X - mean(X, axis=1, keepdims=True)", lambda v: v["X"] - np.mean(v["X"], axis=1, keepdims=True)),
]


@pytest.mark.parametrize("f, numpy", VALUES)
def test_values_are_numpys_and_scipys(f, numpy):
    values = point()
    np.testing.assert_allclose(md.parse(f, WHERE).evaluate(values), numpy(values), rtol=1e-12)


@pytest.mark.parametrize("f", [f for f, _ in SHAPES[:-1] + VALUES] + [
    "sum(X, axis=(0, 1), keepdims=True)", "softmax(x + s)", "mean(X.T, axis=0)"])
def test_spellings_read_back_and_render(f):
    e = md.parse(f, WHERE)
    assert md.parse(e.text, WHERE).node is e.node, e.text
    assert e.unicode and e.latex and r"\left(" in e.latex and r"\sqrt\left(" not in e.latex


SIMPLER = [
    ("sum(softmax(X, axis=1), axis=1)", "ones(n)"),  # a softmax sums to 1 along its axis
    ("sum(softmax(X, axis=0))", "m"),
    ("softmax(X + s, axis=1)", "softmax(X, axis=1)"),  # a shift along the axis changes nothing
    ("logsumexp(X + sum(W), axis=1)", "logsumexp(X, axis=1) + sum(W)"),
    ("logsumexp(X + sum(X, axis=1, keepdims=True), axis=1, keepdims=True)",
     "logsumexp(X, axis=1, keepdims=True) + sum(X, axis=1, keepdims=True)"),
    ("var(3 * X + s, axis=0)", "9 * var(X, axis=0)"),
    ("std(-2 * X, axis=1)", "2 * std(X, axis=1)"),
    ("mean(X.T, axis=0)", "mean(X, axis=1)"),
    ("mean(X - mean(X, axis=1, keepdims=True), axis=1, keepdims=True)", "zeros(n, 1)"),
    ("sum(X / std(X, axis=1, keepdims=True), axis=1, keepdims=True)",
     "sum(X, axis=1, keepdims=True) / std(X, axis=1, keepdims=True)"),  # a factor constant along the axis
    ("sum(X * mean(X, axis=0), axis=1)", "X @ mean(X, axis=0)"),  # a row broadcast: a matrix-vector product
    ("log(softmax(X, axis=1))", "X - logsumexp(X, axis=1, keepdims=True)"),
    ("log(sum(exp(X), axis=0))", "logsumexp(X, axis=0)"),
]


@pytest.mark.parametrize("f, simpler", SIMPLER)
def test_constructors_apply_the_identities_of_reductions(f, simpler):
    e = md.parse(f, WHERE)
    assert e.text == simpler
    values = point(1)
    np.testing.assert_allclose(e.evaluate(values), np.broadcast_to(md.parse(simpler, WHERE).evaluate(values),
                                                                    e.evaluate(values).shape), atol=1e-12)


# ---- numerically, against finite differences and JAX ---------------------------------------------------

SCALARS = [
    ("sum(sum(X, axis=1, keepdims=True) ** 2 * X)", "X"),
    ("sum(mean(X, axis=0) ** 2)", "X"),
    ("sum(X * mean(X, axis=(0, 1), keepdims=True))", "X"),
    ("sum(var(X, axis=0) * mean(X, axis=0))", "X"),
    ("sum(std(X, axis=1, keepdims=True) * X)", "X"),
    ("var(x) + std(A @ x)", "x"),
    ("sum(logsumexp(X, axis=1, keepdims=True) * X)", "X"),
    ("logsumexp(X @ W)", "W"),
    ("sum(softmax(X, axis=1) * X)", "X"),
    ("sum(softmax(X, axis=0) ** 2)", "X"),
    ("sum(softmax(X) * X)", "X"),
    ("sum(log_softmax(X, axis=1) * X)", "X"),
    ("-x @ log_softmax(A @ x)", "x"),
    ("-sum(Y * log_softmax(X @ W + b, axis=1))", "b"),
    ("sum((softmax(X @ W, axis=-1) @ W.T * X) ** 2)", "W"),
]


@pytest.mark.parametrize("f, wrt", SCALARS)
@pytest.mark.parametrize("order", [1, 2])
def test_derivatives_agree_with_finite_differences_and_jax(f, wrt, order):
    report = md.check(f, wrt, WHERE, order=order, values=point(), sizes=SIZES)
    assert report.ok, str(report)


ARRAYS = [  # non-scalar functions, for backpropagation rules and index forms
    ("sum(X, axis=0, keepdims=True)", "X"), ("mean(X, axis=1)", "X"), ("var(X, axis=1, keepdims=True)", "X"),
    ("std(X, axis=0)", "X"),
    ("logsumexp(X, axis=1, keepdims=True)", "X"), ("softmax(X, axis=0)", "X"), ("softmax(X)", "X"),
    ("log_softmax(X)", "X"), ("log_softmax(X, axis=1) * X", "X"), ("softmax(A @ x)", "x"),
    ("(X - mean(X, axis=0, keepdims=True)) / std(X, axis=0, keepdims=True)", "X"),
]


@pytest.mark.parametrize("f, wrt", ARRAYS)
def test_backprop_rules_agree_with_finite_differences(f, wrt):
    shape = md.parse(f, WHERE).shape
    names = "×".join(str(d) for d in shape) if shape else "scalar"
    rule = md.vjp(f, wrt, WHERE, cotangent="G")
    values = point(2)
    values["G"] = np.random.default_rng(3).normal(size=tuple(SIZES.get(d, d) for d in shape))
    phi = md.parse(f"sum(G * ({f}))", f"{WHERE}, G: {names}")
    x, step = values[wrt], 1e-6
    expected = np.zeros(x.shape)
    for k in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[k] = step
        expected[k] = (phi.evaluate({**values, wrt: x + e}) - phi.evaluate({**values, wrt: x - e})) / (2 * step)
    np.testing.assert_allclose(rule.evaluate(values), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, wrt", ARRAYS + SCALARS[:6])
def test_index_forms_evaluate_to_the_derivative(f, wrt):
    d = md.derivative(f, wrt, WHERE)
    values = point(4)
    assert d.index.text
    np.testing.assert_allclose(d.index.evaluate(values), d.evaluate(values), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("f, wrt", SCALARS)
def test_generated_code_agrees_with_evaluation(f, wrt, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    fn = md.compile(f, [wrt], WHERE, backend=backend)
    values = point(5)
    value, gradient = call(fn, backend, values, jit=False)
    np.testing.assert_allclose(value, md.parse(f, WHERE).evaluate(values), rtol=1e-10)
    np.testing.assert_allclose(gradient, md.derivative(f, wrt, WHERE).evaluate(values), rtol=1e-9, atol=1e-12)


def test_generated_code_is_stable_for_large_logits():
    """log_softmax and logsumexp go through a stable log-sum-exp: logits of 1000 give finite values."""
    f = "-sum(Y * log_softmax(X @ W, axis=1)) + sum(logsumexp(X @ W, axis=0))"
    values = point(6)
    values["X"] = values["X"] * 1000
    for backend in ("numpy", "torch"):
        fn = md.compile(f, ["W"], WHERE, backend=backend)
        assert all(np.all(np.isfinite(r)) for r in call(fn, backend, values, jit=False))


@pytest.mark.parametrize("f, wrt", SCALARS[::2])
def test_every_step_of_the_derivation_holds(f, wrt):
    d = md.explain(f, wrt, WHERE)
    failures = [(step.rule, error) for step, error in d.verify(_apart(d.random_point(0)), 0) if not error <= 1e-6]
    assert not failures


def _apart(at: Point) -> Point:
    """A derivation's random point with the entries of X and x apart (a max is taken at one entry)."""
    rng = np.random.default_rng(7)
    values = {k: rng.permutation(np.arange(np.size(v))).reshape(np.shape(v)) * 0.37 - 1.0 if k in ("X", "x") else v
              for k, v in at.values.items()}
    return Point(values, at.sizes)


def test_explain_of_cross_entropy_fits_on_a_screen_and_names_the_rules():
    ce = md.explain("-sum(Y * log_softmax(X @ W, axis=1))", "W", WHERE)
    assert len(ce.text.splitlines()) <= 60
    assert "log-softmax" in ce.text
    norm = md.explain(LAYER_NORM, "X", NORM_WHERE, cotangent="G")
    assert "variance" in norm.text and "mean over columns (axis 1)" in norm.text
    assert not [step.rule for step, error in norm.verify(None, 0) if not error <= 1e-6]


# ---- bad input: the operand, its shape and the axis -------------------------------------------------

ERRORS = [
    ("sum(X, axis=2)", ["X", "n×m", "axis 2"]),
    ("mean(X, axis=-3)", ["X", "n×m", "axis -3"]),
    ("softmax(x, axis=1)", ["x", "n", "axis 1"]),
    ("log_softmax(A @ x, axis=1)", ["A @ x", "n", "axis 1"]),
    ("sum(s, keepdims=True)", ["s", "scalar", "keepdims"]),
    ("mean(s, axis=0)", ["s", "scalar", "axis 0"]),
    ("var(X, axis=(0, 0))", ["X", "n×m", "axis 0", "twice"]),
    ("std(X, axis=(0, 2))", ["X", "n×m", "axis 2"]),
    ("logsumexp(X, axis=(0, 'a'))", ["axis"]),
    ("var(X, axis=1.5)", ["axis"]),
    ("sum(X, keepdims=1)", ["keepdims"]),
]


@pytest.mark.parametrize("f, mentions", ERRORS)
def test_bad_axes_name_the_operand_its_shape_and_the_axis(f, mentions):
    with pytest.raises(md.MatdiffError) as error:
        md.parse(f, WHERE)
    for word in mentions:
        assert word in str(error.value), (word, str(error.value))


# ---- max and min: the gradient goes where the extreme is taken ------------------------------------------

EXTREMA_TEXTBOOK = [
    ("sum(max(X, axis=0))", "X", "X == max(X, axis=0, keepdims=True)"),
    ("max(A @ x)", "x", "(A @ x == max(A @ x)) @ A"),
    ("sum(max(X, axis=1) ** 2)", "X", "2 * max(X, axis=1, keepdims=True) * (X == max(X, axis=1, keepdims=True))"),
]


@pytest.mark.parametrize("f, wrt, expected", EXTREMA_TEXTBOOK)
def test_the_gradient_of_a_max_is_the_indicator_of_where_it_is_taken(f, wrt, expected):
    assert md.derivative(f, wrt, WHERE).text == expected


def test_extrema_read_as_numpy_has_them():
    assert md.vjp("max(X, axis=1, keepdims=True)", "X", WHERE, cotangent="G").text == \
        "G * (X == max(X, axis=1, keepdims=True))"
    assert md.vjp("min(X, axis=0)", "X", WHERE, cotangent="G").text == "(X == min(X, axis=0, keepdims=True)) * G"
    values = point()
    for f, shape, numpy in [("max(x, keepdims=True)", (1,), np.max(values["x"], keepdims=True)),
                            ("min(X, axis=(0, 1))", (), np.min(values["X"])),
                            ("amax(X, axis=(1,))", ("n",), np.max(values["X"], axis=1)),
                            ("amin(X, axis=-2, keepdims=True)", (1, "m"), np.min(values["X"], axis=0, keepdims=True))]:
        e = md.parse(f, WHERE)
        assert e.shape == shape and md.parse(e.text, WHERE).node is e.node and e.latex
        np.testing.assert_array_equal(e.evaluate(values), numpy)
    assert md.parse("max(-2 * X, axis=1)", WHERE).text == "-2 * min(X, axis=1)"
    assert md.parse("max(X + mean(X, axis=0), axis=0)", WHERE).text == "max(X, axis=0) + mean(X, axis=0)"
    with pytest.raises(md.MatdiffError, match="max\\(s, axis=0\\): no axis 0; s is a scalar"):
        md.parse("max(s, axis=0)", WHERE)


@pytest.mark.parametrize("f, simpler", [
    ("max(s * ones(n))", "s"), ("min(zeros(n, m), axis=1)", "zeros(n)"), ("max(outer(ones(n), w), axis=0)", "w"),
    ("std(s * ones(n))", "0"), ("var(outer(ones(n), w), axis=0)", "zeros(m)"),
])
def test_an_array_equal_along_the_axes_has_no_single_extreme(f, simpler):
    """Every entry is the largest where all are equal (a copy of one value): the max is the value, and its
    derivative is that of the value, not of one entry counted as many times as it is copied."""
    assert md.parse(f, WHERE).text == simpler


@pytest.mark.parametrize("f, wrt", [("max(sin(s * ones(n)))", "s"), ("sum(min(X + mean(X, axis=0), axis=0))", "X")])
def test_extrema_of_copies_agree_with_finite_differences(f, wrt):
    assert md.check(f, wrt, WHERE, order=1, values=point(), sizes=SIZES).ok


EXTREMA = [
    ("sum(max(X, axis=1) ** 2)", "X"),
    ("sum(amin(X, axis=0, keepdims=True) * X)", "X"),
    ("max(A @ x) * min(x) + max(X)", "x"),
    ("sum(max(X @ W, axis=1) ** 2)", "W"),
]


@pytest.mark.parametrize("f, wrt", EXTREMA)
@pytest.mark.parametrize("order", [1, 2])
def test_extrema_agree_with_finite_differences_and_jax(f, wrt, order):
    test_derivatives_agree_with_finite_differences_and_jax(f, wrt, order)


@pytest.mark.parametrize("f, wrt", [("max(X, axis=1)", "X"), ("amin(X, axis=0, keepdims=True)", "X"),
                                    ("max(A @ x)", "x")])
def test_backprop_rules_and_index_forms_of_extrema(f, wrt):
    test_backprop_rules_agree_with_finite_differences(f, wrt)
    test_index_forms_evaluate_to_the_derivative(f, wrt)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("f, wrt", EXTREMA)
def test_generated_code_of_extrema_agrees_with_evaluation(f, wrt, backend):
    test_generated_code_agrees_with_evaluation(f, wrt, backend)


@pytest.mark.parametrize("f, wrt", EXTREMA[:3])
def test_every_step_of_a_derivation_through_an_extremum_holds(f, wrt):
    test_every_step_of_the_derivation_holds(f, wrt)
