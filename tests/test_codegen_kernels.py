"""Softmax and layer norm in generated PyTorch code are PyTorch's own kernels (`codegen/patterns.py`, kernels):
softmax's pullback P ⊙ (g − sum(g ⊙ P)) is one `_softmax_backward_data`; x̂ = (X − mean X) / sqrt(var X + ε)
over X's trailing axes is one `native_layer_norm` call, and its pullback h ↦ (h − mean h − x̂ ⊙ mean(h ⊙ x̂)) / σ
one `native_layer_norm_backward`, wherever a derivative passes through them. Each function is checked against
central differences of the expression and against matdiff's evaluation of its derivative; where the kernels
do not compute the same thing, nothing changes."""
from __future__ import annotations

import numpy as np
import pytest

import matdiff as md
from generated import call

LAYER_NORM = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
SIZES = {"n": 5, "d": 4, "m": 3, "b": 2, "e": 3, "k": 3}


def body(source: str) -> str:
    return source.split('"""')[-1]


def values_for(e, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {v: rng.normal(size=tuple(SIZES[d] for d in var.shape)) for v, var in e.variables.items()}


def central_difference(e, values: dict, wrt: str, weights: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂/∂wrt of sum(weights ⊙ f), entry by entry, by central differences of the expression's value."""
    grad = np.zeros_like(values[wrt])
    for i in np.ndindex(grad.shape):
        plus, minus = dict(values), dict(values)
        plus[wrt] = values[wrt].copy()
        minus[wrt] = values[wrt].copy()
        plus[wrt][i] += h
        minus[wrt][i] -= h
        grad[i] = (np.sum(weights * e.evaluate(plus)) - np.sum(weights * e.evaluate(minus))) / (2 * h)
    return grad


def check(text: str, wrt: list[str], shapes: str, cotangent: bool = False) -> str:
    """The generated PyTorch function's value and derivatives against the expression's evaluation, central
    differences and matdiff's evaluation of each derivative; its statements returned."""
    pytest.importorskip("torch")
    e = md.parse(text, shapes)
    values = values_for(e)
    value = e.evaluate(values)
    weights = np.random.default_rng(1).normal(size=np.shape(value)) if cotangent else np.ones_like(value)
    if cotangent:
        values["G"] = weights
    f = md.compile(e, wrt, backend="torch", cotangent="G" if cotangent else None)
    got_value, *got = call(f, "torch", values)
    np.testing.assert_allclose(got_value, value, rtol=1e-12, atol=1e-12)
    for v, derivative in zip(wrt, got):
        symbolic = (md.vjp(e, v, cotangent="G") if cotangent else md.gradient(e, v)).evaluate(values)
        np.testing.assert_allclose(derivative, symbolic, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(derivative, central_difference(e, values, v, weights), rtol=1e-6, atol=1e-7)
    return body(f.source)


def test_layer_norm_backpropagation_is_two_kernel_calls():
    """γ ⊙ x̂ + β, its VJPs by X, γ and β: the forward kernel, given γ and β, gives the value, μ and 1/σ; the
    backward one, given G and γ, gives the three VJPs (by γ sum(x̂ ⊙ G), by β sum(G), over the rows)."""
    source = check(LAYER_NORM, ["X", "gamma", "beta"], "X: n×d, gamma: d, beta: d", cotangent=True)
    assert "t0 = torch.native_layer_norm(X, (d,), gamma, beta, 1e-05)" in source
    assert "t1 = torch.ops.aten.native_layer_norm_backward(G, X, (d,), t0[1], t0[2], gamma, beta, [True, True, True])" \
        in source
    assert "vjp_X = t1[0]" in source and "vjp_gamma = t1[1]" in source and "vjp_beta = t1[2]" in source
    assert "value = t0[0]" in source
    assert "sqrt" not in source and "mean" not in source and "sum" not in source


def test_the_vjp_by_x_alone_passes_the_weight_and_asks_for_nothing_more():
    source = check(LAYER_NORM, ["X"], "X: n×d, gamma: d, beta: d", cotangent=True)
    assert "native_layer_norm_backward(G, X, (d,), t0[1], t0[2], gamma, None, [True, False, False])[0]" in source


def test_without_a_pullback_x_hat_comes_from_the_kernel_where_nothing_else_needs_its_parts():
    source = check(LAYER_NORM, ["gamma"], "X: n×d, gamma: d, beta: d", cotangent=True)
    assert "t0 = torch.native_layer_norm(X, (d,), None, None, 1e-05)[0]" in source
    assert "value = torch.addcmul(beta, gamma, t0)" in source and "backward" not in source


def test_a_layer_norm_layer_in_a_network():
    """tanh(γ ⊙ x̂ + β) with x̂ standardizing X W: the kernels take X W, the cotangent 1 - tanh² and γ; β's
    gradient, n - sum(tanh²) as the derivative simplifies it, is written as it is."""
    source = check("sum(tanh(gamma * (X @ W - mean(X @ W, axis=1, keepdims=True)) / sqrt(var(X @ W, axis=1, "
                   "keepdims=True) + 1e-5) + beta))", ["W", "gamma", "beta"], "X: n×m, W: m×d, gamma: d, beta: d")
    assert "torch.native_layer_norm(t0, (d,), gamma, beta, 1e-05)" in source
    assert "grad_gamma = t4[1]" in source and "grad_W = X.T @ t4[0]" in source


@pytest.mark.parametrize("text, wrt, shapes", [
    # inside a network: the standardized input is X @ W, the cotangent 1 - tanh² (a node, not an argument)
    ("sum(tanh((X @ W - mean(X @ W, axis=1, keepdims=True)) / sqrt(var(X @ W, axis=1, keepdims=True) + 1e-5)))",
     ["W"], "X: n×m, W: m×d"),
    # the last axis of a 3-D array, negated
    ("-sum(C * (X - mean(X, axis=-1, keepdims=True)) / sqrt(var(X, axis=-1, keepdims=True) + 0.001))",
     ["X"], "X: b×n×d, C: b×n×d"),
    # the last two axes at once
    ("sum(C * (X - mean(X, axis=(1, 2), keepdims=True)) / sqrt(var(X, axis=(1, 2), keepdims=True) + 0.001))",
     ["X"], "X: b×n×d, C: b×n×d"),
    ("sum(C * (x - mean(x)) / sqrt(var(x) + 0.001))", ["x"], "x: d, C: d"),  # a vector, its only axis
    ("sum(C * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True)))", ["X"], "X: n×d, C: n×d"),
    # a residual connection: the kernel's pullback is one term of the gradient
    ("sum(X + (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) * C)",
     ["X"], "X: n×d, C: n×d"),
    ("sum(2 * C * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5))",
     ["X"], "X: n×d, C: n×d"),
])
def test_a_derivative_through_a_standardization_over_trailing_axes_calls_the_kernels(text, wrt, shapes):
    source = check(text, wrt, shapes)
    assert "torch.native_layer_norm(" in source and "native_layer_norm_backward(" in source


@pytest.mark.parametrize("text, shapes", [
    # over the first axis (batch norm's): the kernel normalizes trailing axes only
    ("sum(C * (X - mean(X, axis=0, keepdims=True)) / sqrt(var(X, axis=0, keepdims=True) + 1e-5))", "X: n×d, C: n×d"),
    # ε an argument: the kernel takes a number
    ("sum(C * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + e))",
     "X: n×d, C: n×d, e: scalar"),
    # σ squared: no standardization
    ("sum(C * (X - mean(X, axis=1, keepdims=True)) / (var(X, axis=1, keepdims=True) + 1e-5))", "X: n×d, C: n×d"),
])
def test_other_normalizations_are_written_as_they_are(text, shapes):
    source = check(text, ["X"], shapes)
    assert "native_layer_norm" not in source


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_backends_without_the_kernels_write_the_expression(backend):
    source = body(md.codegen(LAYER_NORM, ["X", "gamma", "beta"], "X: n×d, gamma: d, beta: d", backend, cotangent="G"))
    assert "native_layer_norm" not in source and "sqrt" in source


def test_attention_backpropagation_calls_the_softmax_kernel():
    source = check("softmax(c * Q @ K.T, axis=1) @ V", ["Q", "K", "V"], "Q: n×e, K: n×e, V: n×e, c: scalar",
                   cotangent=True)
    assert "torch._softmax_backward_data(G @ V.T, t0, 1, t0.dtype)" in source
    assert "torch.sum" not in source  # sum(g ⊙ P) is the kernel's


def test_softmax_cross_entropy_calls_the_log_softmax_kernel():
    """softmax(Z) ⊙ sum(Y) − Y is log-softmax's pullback of −Y: one pass from the forward pass's log-softmax."""
    source = check("-sum(Y * log_softmax(X @ W, axis=1))", ["W"], "X: n×d, W: d×k, Y: n×k")
    assert "t0 = torch.log_softmax(X @ W, dim=1)" in source
    assert "grad_W = X.T @ torch._log_softmax_backward_data(-Y, t0, 1, t0.dtype)" in source


@pytest.mark.parametrize("text, wrt, shapes", [
    ("sum(C * log_softmax(x))", ["x"], "x: n, C: n"),
    ("sum(tanh(log_softmax(X, axis=0)))", ["X"], "X: n×d"),
])
def test_a_derivative_through_a_log_softmax_along_one_axis_calls_the_kernel(text, wrt, shapes):
    assert "_log_softmax_backward_data(" in check(text, wrt, shapes)


@pytest.mark.parametrize("text, wrt, shapes", [
    ("sum(C * softmax(x))", ["x"], "x: n, C: n"),
    ("sum(C * softmax(X, axis=0))", ["X"], "X: n×d, C: n×d"),
    ("sum(C * softmax(X @ W, axis=-1))", ["W"], "X: b×n×m, W: m×d, C: b×n×d"),
    ("sum(tanh(softmax(X, axis=1) + softmax(X, axis=0)))", ["X"], "X: n×d"),  # two softmaxes, a cotangent each
])
def test_a_derivative_through_a_softmax_along_one_axis_calls_the_kernel(text, wrt, shapes):
    assert "_softmax_backward_data(" in check(text, wrt, shapes)


def test_a_softmax_over_two_axes_is_written_as_it_is():
    assert "_softmax_backward_data" not in check("sum(C * softmax(X, axis=(0, 1)))", ["X"], "X: n×d, C: n×d")
    assert "backward" not in check("sum(C * log_softmax(X, axis=(0, 1)))", ["X"], "X: n×d, C: n×d")


def test_cross_entropy_through_logsumexp_has_no_log_softmax_to_pull_back_through():
    assert "backward" not in check("sum(logsumexp(X @ W, axis=1)) - sum(Y * (X @ W))", ["W"], "X: n×d, W: d×k, Y: n×k")


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_backends_without_a_softmax_kernel_write_the_expression(backend):
    source = body(md.codegen("softmax(c * Q @ K.T, axis=1) @ V", ["Q", "K", "V"], "Q: n×e, K: n×e, V: n×e, c: scalar",
                             backend, cotangent="G"))
    assert "_softmax_backward_data" not in source


def test_relu_backpropagation_is_one_threshold_pass():
    """g ⊙ (u > 0) as threshold_backward(g, u, 0), as autograd's relu backward: no 0/1 array made and cast; the
    call is linear in g, so the factor 2 the gradients share is still applied once, to the residual."""
    source = check("norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2", ["W1", "b1", "W2"],
                   "X: n×d, W1: d×m, b1: m, W2: m×k, Y: n×k")
    assert "t3 = 2.0 * t2" in source and source.count("2.0 *") == 1
    assert "torch.ops.aten.threshold_backward(t3 @ W2.T, t0, 0.0)" in source and ">" not in source


def test_tanh_backpropagation_is_one_pass_from_the_forward_tanh():
    """g ⊙ (1 − tanh²u) as tanh_backward(g, tanh u), tanh u being the forward pass's own temporary."""
    source = check("norm2(tanh(X @ W1) @ W2 - Y) ** 2", ["W1", "W2"], "X: n×d, W1: d×m, W2: m×k, Y: n×k")
    assert "t0 = torch.tanh(X @ W1)" in source
    assert "torch.ops.aten.tanh_backward(t1 @ W2.T, t0)" in source and "** 2" not in source
