"""Elementwise products in generated code make the fewest passes (`codegen/products.py`), and compute
what they did: the small factors first, a product computed anyway reused, a shared quotient formed once."""
from __future__ import annotations

import numpy as np
import pytest

import matdiff as md


def body(source: str) -> str:
    """The generated function's statements, after its docstring."""
    return source.split('"""')[-1]


def assert_matches_evaluation(expr: str, shapes: str, sizes: dict, cotangent: bool = False) -> None:
    """The generated NumPy function's value (and VJPs by every variable) equal matdiff's evaluation."""
    e = md.parse(expr, shapes)
    rng = np.random.default_rng(0)
    values = {v: rng.uniform(0.5, 1.5, tuple(sizes.get(d, d) for d in var.shape)) for v, var in e.variables.items()}
    wrt = list(e.variables)
    if cotangent:
        values["G"] = rng.normal(size=np.shape(e.evaluate(values)))
    f = md.compile(e, wrt, cotangent="G" if cotangent else None)
    value, *vjps = f(*values.values())
    np.testing.assert_allclose(value, e.evaluate(values), rtol=1e-12)
    for v, got in zip(wrt, vjps):
        expected = md.vjp(e, v, cotangent="G").evaluate(values)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_small_factors_are_multiplied_together_before_the_big_array():
    # X * m / s with m and s columns: one pass over X with m / s, where X * m, then / s, is two
    source = md.codegen("X * m / s", [], "X: n×d, m: n×1, s: n×1", gradients=False)
    assert "value = X * (m / s)" in body(source)
    assert_matches_evaluation("X * m / s", "X: n×d, m: n×1, s: n×1", {"n": 5, "d": 3}, cotangent=True)


def test_a_scalar_scales_the_column_not_the_array():
    # c X ⊙ m and c (X / s), c a scalar and m, s columns: c scales the column
    shapes = "X: n×d, m: n×1, s: n×1, c: scalar"
    assert "value = c * m * X" in body(md.codegen("X * m * c", [], shapes, gradients=False))
    assert "value = c / s * X" in body(md.codegen("c * (X / s)", [], shapes, gradients=False))
    assert_matches_evaluation("c * (X / s)", shapes, {"n": 5, "d": 3}, cotangent=True)


def test_a_product_computed_anyway_is_reused_by_a_product_of_more_factors():
    # exp(A ⊙ B) computes A ⊙ B; B ⊙ A ⊙ C is that times C
    source = body(md.codegen("exp(A * B) + B * A * C", [], "A: n×d, B: n×d, C: n×d", gradients=False))
    assert "t0 = A * B" in source and "t0 * C" in source and "B * A" not in source
    assert_matches_evaluation("exp(A * B) + B * A * C", "A: n×d, B: n×d, C: n×d", {"n": 4, "d": 3}, cotangent=True)


def test_a_quotient_several_products_share_is_formed_once():
    source = body(md.codegen("sum(X / s * a) + sum(X / s * b)", [], "X: n×d, s: n×1, a: n×d, b: n×d",
                             gradients=False))
    assert "t0 = X / s" in source and source.count("/") == 1


def test_a_product_as_cheap_as_any_grouping_stays_as_written():
    source = body(md.codegen("A * B * C", [], "A: n×d, B: n×d, C: n×d", gradients=False))
    assert "value = A * B * C" in source


LAYER_NORM = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"


def test_layer_norm_backpropagation_forms_x_hat_and_gamma_g_once():
    """As one writes it by hand: x̂ = (X - μ) / σ and γ ⊙ G once, and the mean of γ ⊙ G ⊙ (X - μ) over
    σ² applied to the column before X - μ."""
    source = body(md.codegen(LAYER_NORM, ["X", "gamma", "beta"], "X: n×d, gamma: d, beta: d", cotangent="G"))
    assert source.count("gamma * G") == 1 and "G * gamma" not in source
    assert source.count("t0 / t2") == 1  # x̂, shared by the value and the VJP by gamma
    assert "t0 * (" in source  # the column m / σ² first


def _arrays(backend: str):
    """The backend's array from a NumPy array (float64)."""
    if backend == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray
    if backend == "torch":
        torch = pytest.importorskip("torch")
        return lambda a: torch.tensor(a, dtype=torch.float64)
    return np.asarray


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_layer_norm_backpropagation_matches_evaluation_in_every_backend(backend):
    array = _arrays(backend)
    e = md.parse(LAYER_NORM, "X: n×d, gamma: d, beta: d")
    rng = np.random.default_rng(1)
    values = {"X": rng.normal(size=(6, 4)), "gamma": rng.normal(size=4), "beta": rng.normal(size=4),
              "G": rng.normal(size=(6, 4))}
    f = md.compile(e, ["X", "gamma", "beta"], backend=backend, cotangent="G")
    got = f(*(array(values[v]) for v in ("X", "gamma", "beta", "G")))
    expected = [e.evaluate(values)] + [md.vjp(e, v, cotangent="G").evaluate(values) for v in ("X", "gamma", "beta")]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-9)


def test_pytorch_adds_a_product_of_arrays_in_one_call():
    """x + y ⊙ z and x - y ⊙ z as torch.addcmul (a temporary fewer); NumPy and JAX write them as they are,
    and a number never takes x's place (addcmul takes tensors only)."""
    pytest.importorskip("torch")
    shapes = "X: n×d, gamma: d, beta: d"
    torch_source = body(md.codegen(LAYER_NORM, ["gamma"], shapes, "torch", cotangent="G"))
    assert "value = torch.addcmul(beta, gamma, t0)" in torch_source
    assert "torch.addcmul(Z, X, Y, value=-1.0)" in body(md.codegen("sum(Z - X * Y)", [], "X: n×d, Y: n×d, Z: n×d",
                                                                     "torch", gradients=False))
    assert "addcmul" not in body(md.codegen(LAYER_NORM, ["X", "gamma", "beta"], shapes, cotangent="G"))
    assert "torch.addcmul(Z, X, Y)" in body(md.codegen("sum(Z + X * Y)", [], "X: n×d, Y: n×d, Z: n×d", "torch",
                                                          gradients=False))
    assert "1.0 + X * Y" in body(md.codegen("sum(1 + X * Y)", [], "X: n×d, Y: n×d", "torch", gradients=False))


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_a_softmax_written_by_its_template_is_regrouped_too(backend):
    # softmax(Z) ⊙ sum(Y) in softmax cross-entropy's gradient: the template's exp(z) / exp(z).sum(...) has no
    # node of its own, yet its shapes are known (an elementwise call keeps its array's, a reduction with
    # keepdims its axis as 1), so the two columns are divided first: one pass over n×k, where there were two
    text, shapes = "-sum(Y * log_softmax(X @ W, axis=1))", "X: n×d, W: d×k, Y: n×k"
    if backend == "numpy":
        source = body(md.codegen(text, ["W"], shapes))
        assert "t2 * (Y.sum(axis=1, keepdims=True) / t3)" in source, source
    else:
        pytest.importorskip(backend)
    from generated import call as run
    e = md.parse(text, shapes)
    rng = np.random.default_rng(4)
    values = {"X": rng.normal(size=(6, 3)), "W": rng.normal(size=(3, 4)), "Y": rng.uniform(size=(6, 4))}
    value, grad = run(md.compile(e, ["W"], backend=backend), backend, values, {})
    np.testing.assert_allclose(value, e.evaluate(values), rtol=1e-12)
    np.testing.assert_allclose(grad, md.gradient(e, "W").evaluate(values), rtol=1e-10, atol=1e-12)


def test_the_shape_of_a_call_is_known_only_where_the_call_says_it():
    from matdiff.codegen.lowering import Lowering
    from matdiff.codegen.products import _shape

    low = Lowering("numpy", {}, None, {})
    x = low.name("x", 2)
    low.shapes[x] = ("n", "k")
    shapes: dict = {}
    np_ = low.name("np")
    exp = low.make("Call", (1, ()), (low.make("Attribute", "exp", (np_,)), x), 2)
    kept = low.make("Call", (0, ("axis", "keepdims")), (low.make("Attribute", "sum", (x,)), low.num(1),
                                                         low.make("Constant", True)), 2)
    dropped = low.make("Call", (0, ("axis",)), (low.make("Attribute", "sum", (x,)), low.num(1)), 1)
    maximum = low.make("Call", (2, ()), (low.make("Attribute", "maximum", (np_,)), x, low.num(0)), 2)
    assert _shape(exp, low, shapes) == ("n", "k")
    assert _shape(kept, low, shapes) == ("n", 1)
    assert _shape(dropped, low, shapes) is None  # not a shape this module needs: unknown, as before
    assert _shape(maximum, low, shapes) is None
