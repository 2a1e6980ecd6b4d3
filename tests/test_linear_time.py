"""Time linear in the size of an expression, at any width and depth (issue #17): generated code for a long
sum of matrices, printing long chains and deep ones, and reading long sums.

Each timing is processor time (not wall time: the machine may be shared), with the garbage collector
paused, the two sizes alternating, best of three, each run on new variables (no cache of an earlier run
helps): twice the size must cost less than three times the time, where a quadratic step costs four.
"""
from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

import matdiff as md
from matdiff import ops
from matdiff.codegen.lowering import Lowering
from matdiff.expr import Node
from matdiff.language.printing import to_latex, to_text, to_unicode


def best_times(work: Callable[[int, str], Callable[[], object]], sizes: tuple[int, int]) -> dict[int, float]:
    """The least processor time of `work(size, fresh_name)()` over three runs of each size, alternating.
    `work` prepares what is timed (building the expression is not) and returns the step to time."""
    best = {k: float("inf") for k in sizes}
    for run in range(3):
        for k in sizes:
            step = work(k, f"{k}_{run}")
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                step()
                best[k] = min(best[k], time.process_time() - start)
            finally:
                gc.enable()
    return best


def assert_linear(best: dict[int, float], what: str) -> None:
    small, large = sorted(best)
    assert best[large] < 3 * best[small], f"{what}: {best[small]:.2f} s at {small}, {best[large]:.2f} s at {large}"


# ---- generated code for a long sum of matrices --------------------------------------------------


def products_and_transposes(k: int, name: str) -> Node:
    """X1 @ Y1 + ... + Xk @ Yk + (X1 @ Y1).T + ... + (Xk @ Yk).T (the transposes sort after the others):
    every term's partner Tᵀ far after it, so that the code computes each product once, as T + T.T."""
    products = [ops.matmul(md.matrix(f"X{name}_{i}", "n", "n").node, md.matrix(f"Y{name}_{i}", "n", "n").node)
                for i in range(1, k + 1)]
    return ops.add(*products, *map(ops.transpose, products))


def test_a_sum_of_products_and_their_transposes_computes_each_product_once():
    f = md.parse(to_text(products_and_transposes(3, "a")), {f"{m}a_{i}": ("n", "n") for m in "XY" for i in (1, 2, 3)})
    function = md.compile(f, [], gradients=False)
    body = function.source.split('"""')[-1]  # after the docstring, which shows the formula
    for i in (1, 2, 3):
        assert body.count(f"Xa_{i} @ Ya_{i}") == 1, function.source
    assert body.count(".T") == 3, function.source
    rng = np.random.default_rng(0)
    values = {f"{m}a_{i}": rng.standard_normal((3, 3)) for m in "XY" for i in (1, 2, 3)}
    (value,) = function(**values)
    np.testing.assert_allclose(value, f.evaluate(values), rtol=1e-12)


def test_code_for_a_long_sum_of_matrices_takes_time_linear_in_its_terms():
    """Each term's partner Tᵀ was searched for among all the terms: 0.44 s for 4,000 terms, 0.09 s for 2,000."""
    def lower(k, name):
        f = products_and_transposes(k, name)
        return lambda: Lowering("numpy", {"n": "n"}, None, {}).term(f)

    assert_linear(best_times(lower, (1000, 2000)), "code for pairs of terms T, Tᵀ")


# ---- printing ------------------------------------------------------------------------------------


def row_times_powers(depth: int, name: str) -> Node:
    """ones(n) @ A @ ... @ A (`depth` factors A): the gradient of sum(A @ (A @ (... @ x))) by x, kept as
    Aᵀ @ ... @ Aᵀ @ ones(n) and printed flipped, without its transposes."""
    a = md.matrix(f"A{name}", "n", "n").node
    return ops.matmul(ops.matmul_chain([ops.transpose(a)] * depth), ops.ones(("n",)))


def test_the_gradient_of_a_chain_of_matrix_vector_products_prints_without_transposes():
    x, a = md.vector("x", "n"), md.matrix("Aflip", "n", "n")
    f = x
    for _ in range(300):
        f = a @ f
    g = md.grad(md.sum(f), x)
    assert g.node is row_times_powers(300, "flip")
    assert g.text == "ones(n) @ " + " @ ".join(["Aflip"] * 300)
    assert md.parse(g.text, {"Aflip": ("n", "n")}).node is g.node


def test_printing_a_long_chain_spelt_flipped_takes_linear_time():
    """Whether the flipped spelling reads back was found by joining the transposed factors one at a time
    behind the vector, each step turning the whole chain around: 1.1 s for 1,000 factors."""
    def print_text(depth, name):
        chain = row_times_powers(depth, name)
        return lambda: to_text(chain)

    assert_linear(best_times(print_text, (4000, 8000)), "printing ones(n) @ A @ ... @ A")


def deep_chain(depth: int, name: str, kind: str) -> md.Symbolic:
    """sin(sin(... sin(x))) or tanh(A @ tanh(A @ ... tanh(A @ x))), `depth` functions deep."""
    x, a = md.vector(f"x{name}", "n"), md.matrix(f"A{name}", "n", "n")
    f = x
    for _ in range(depth):
        f = md.sin(f) if kind == "sin" else md.tanh(a @ f)
    return f


def test_a_chain_twenty_thousand_deep_prints_in_every_form():
    """Rendering walks the display tree with a stack of its own: the recursion limit stays as it is (raised
    to 200,000 as a stopgap, rendering 20,000 levels overflowed the C stack and crashed the process)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        f = deep_chain(20_000, "", "sin")
        assert f.text == "sin(" * 20_000 + "x" + ")" * 20_000
        assert f.unicode == f.text
        assert f.latex == r"\sin\left(" * 20_000 + "x" + r"\right)" * 20_000
        g = deep_chain(20_000, "", "tanh")
        assert g.text == "tanh(A @ " * 20_000 + "x" + ")" * 20_000
        assert g.unicode == "tanh(A " * 20_000 + "x" + ")" * 20_000
        assert g.latex == r"\tanh\left(A " * 20_000 + "x" + r"\right)" * 20_000
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("kind", ["sin", "tanh"], ids=["sin(sin(...))", "tanh(A @ tanh(A @ ...))"])
def test_printing_a_deep_chain_takes_time_linear_in_its_depth(kind):
    def print_all(depth, name):
        node = deep_chain(depth, name, kind).node
        return lambda: (to_text(node), to_unicode(node), to_latex(node))

    assert_linear(best_times(print_all, (2500, 5000)), f"printing {kind} chains")
