"""Generated code for very long sums and very deep chains: no recursion on the expression's size, and
time and source linear in it (issue #17).

A sum of k terms is a term k deep; the generator writes its partial sums every `MAX_DEPTH` terms as
lines of their own (`t1 = t0 + a49 + ...`), so neither the generator, `ast.unparse` nor Python's
compiler recurses k levels. Values are checked against matdiff's own evaluation.
"""
from __future__ import annotations

import ast
import gc
import time

import numpy as np
import pytest

import matdiff as md
from matdiff.codegen.function import MAX_DEPTH

# `make test` runs this module alone, after the others: it measures how time grows
pytestmark = pytest.mark.alone


def wide_sum(k: int, name: str = "x") -> md.Symbolic:
    """1 * sum(sin(x * 1)) + 2 * sum(sin(x * 2)) + ... + k * sum(sin(x * k)): nothing merges or cancels."""
    x = md.vector(name, "n")
    f = 0
    for i in range(1, k + 1):
        f = f + i * md.sum(md.sin(x * i))
    return f


def deepest_statement(source: str) -> int:
    """How deep the most deeply nested statement of the source nests (walked without recursion)."""
    deepest = 0
    stack = [(node, 1) for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if not isinstance(child, ast.stmt))
    return deepest


def assert_matches_evaluation(f: md.Symbolic, wrt: str, k: int) -> str:
    """Compile f and its gradient by `wrt` to NumPy; both equal matdiff's evaluation at a point."""
    function = md.compile(f, [wrt])
    x = np.linspace(-1.0, 1.0, 7)
    value, gradient = function(x)
    scale = float(k) ** 3  # the gradient's terms are up to k² in size, k of them
    np.testing.assert_allclose(value, f.evaluate({wrt: x}), rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(gradient, md.derivative(f, wrt).evaluate({wrt: x}), rtol=1e-9, atol=1e-12 * scale)
    return function.source


def test_a_thousand_term_sum_generates_code_that_matches_evaluation():
    source = assert_matches_evaluation(wide_sum(1000), "x", 1000)  # once RecursionError in is_trivial
    assert deepest_statement(source) <= 3 * MAX_DEPTH


@pytest.mark.slow  # about 6 s of processor time, most of it deriving and printing the 5,000 terms
def test_a_five_thousand_term_sum_generates_code_that_matches_evaluation():
    source = assert_matches_evaluation(wide_sum(5000), "x", 5000)
    assert deepest_statement(source) <= 3 * MAX_DEPTH


@pytest.mark.parametrize("depth", [400, pytest.param(1000, marks=pytest.mark.slow)])  # 400: once RecursionError
def test_a_deep_chain_of_functions_generates_code_that_matches_evaluation(depth):
    x = md.vector("x", "n")
    f = x
    for _ in range(depth):
        f = md.sin(f)
    source = assert_matches_evaluation(md.sum(f), "x", 1)
    assert deepest_statement(source) <= 3 * MAX_DEPTH


@pytest.mark.parametrize("depth", [400, pytest.param(1000, marks=pytest.mark.slow)])  # 400: once RecursionError
def test_a_long_chain_of_matrix_vector_products_generates_code(depth):
    x, a = md.vector("x", "n"), md.matrix("A", "n", "n")
    f = x
    for _ in range(depth):
        f = a @ f
    function = md.compile(md.sum(f), ["x"])  # A @ (A @ (... @ x)): code nested to the right
    assert deepest_statement(function.source) <= 3 * MAX_DEPTH
    rng = np.random.default_rng(0)
    A, x0 = rng.standard_normal((3, 3)) / 3, rng.standard_normal(3)
    value, gradient = function(A=A, x=x0)
    np.testing.assert_allclose(value, md.sum(f).evaluate({"x": x0, "A": A}), rtol=1e-9, atol=1e-300)
    g = md.derivative(md.sum(f), "x").evaluate({"x": x0, "A": A})
    np.testing.assert_allclose(gradient, g, rtol=1e-9, atol=1e-300)


def test_four_times_the_terms_cost_less_than_eight_times_the_time_and_four_times_the_source():
    """Linear, not quadratic: four times the terms cost about four times as much, where a quadratic cost
    would be sixteen times (the margin leaves room for a loaded machine). Processor time (not wall time:
    the machine may be shared), the garbage collector paused, the two sizes alternating, best of three,
    each run on new variables (no cache of an earlier run helps)."""
    best = {200: float("inf"), 800: float("inf")}
    size = {}
    for run in range(3):
        for k in best:
            name = f"x{k}_{run}"
            f = wide_sum(k, name)
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                source = md.codegen(f, [name])
                best[k] = min(best[k], time.process_time() - start)
            finally:
                gc.enable()
            size[k] = len(source)
    assert best[800] < 8 * best[200], f"200 terms: {best[200]:.2f} s, 800 terms: {best[800]:.2f} s"
    assert size[800] < 4.5 * size[200], f"200 terms: {size[200]} characters, 800 terms: {size[800]}"


def network(k: int, n: str) -> tuple[md.Symbolic, md.Symbolic]:
    """sum(tanh(W_k @ ... tanh(W_1 @ x))) and W1."""
    x = md.vector("x", n)
    h = x
    for i in range(1, k + 1):
        h = md.tanh(md.matrix(f"W{i}", n, n) @ h)
    return md.sum(h), md.matrix("W1", n, n)


def test_a_deep_networks_hessian_by_its_first_layer_shares_the_products_below_each_layer():
    """Each layer's term of the Hessian by W1 holds the product of every layer below (W7 D6 W6 ⋯ D1 (x ⊗ I),
    W6 D5 ⋯): computed one by one they cost time and source in the square of the depth. The products that
    end alike are computed from their shared part, once: source per layer flat, values as evaluated."""
    per_layer = {}
    for k in (8, 32):
        f, W1 = network(k, f"s{k}")
        source = md.codegen(f, ["W1"], hessian=True)
        per_layer[k] = len(source.split('"""')[2]) / k  # the code, not its docstring
    assert per_layer[32] < 1.3 * per_layer[8], per_layer
    assert "multi_dot" not in source  # each product is one factor times a shared one
    f, W1 = network(5, "v")
    function = md.compile(f, ["W1"], hessian=True)
    rng = np.random.default_rng(0)
    values = {name: rng.normal(size=(3, 3)) / 2 for name in ("W1", "W2", "W3", "W4", "W5")} | {"x": rng.normal(size=3)}
    _, _, hessian = function(**values)
    full = md.derivative(f, "W1", order=2).evaluate(values)  # ∂²f/∂W1[i,j]∂W1[k,l]: vec(W1) is column-major
    np.testing.assert_allclose(hessian, full.reshape((9, 9), order="F"), rtol=1e-9, atol=1e-12)
