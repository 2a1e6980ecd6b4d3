"""Time linear in the size of an expression, at any width and depth (issue #17): generated code for a long
sum of matrices, printing long chains and deep ones, and reading long sums.

Each timing is processor time (not wall time: the machine may be shared), with the garbage collector
paused, the two sizes alternating, best of three, each run on new variables (no cache of an earlier run
helps): twice the size must cost less than three times the time, where a quadratic step costs four (four
times the size: less than eight times the time, where a quadratic step costs sixteen).
"""
from __future__ import annotations

import ast
import gc
import random
import re
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

# `make test` runs this module alone, after the others: it measures how time grows
pytestmark = pytest.mark.alone


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


def assert_linear(best: dict[int, float], what: str, at_most: float = 3) -> None:
    """The larger size costs less than `at_most` times the time of the smaller."""
    small, large = sorted(best)
    assert best[large] < at_most * best[small], \
        f"{what}: {best[small]:.3f} s at {small}, {best[large]:.3f} s at {large}"


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


# ---- building long chains ------------------------------------------------------------------------


def test_a_chain_built_one_factor_at_a_time_ends_with_its_vector():
    x, a, b = md.vector("x", "n"), md.matrix("A", "n", "n"), md.matrix("B", "n", "n")
    s = a + a.T
    assert (x @ a @ b).node is (b.T @ a.T @ x).node
    assert (x @ a @ a.T @ s @ b).node is (b.T @ s @ a @ a.T @ x).node
    assert (x @ a @ md.inv(a)).node is x.node
    assert (x @ b @ a @ md.inv(a)).node is (b.T @ x).node
    e = x
    for k in range(1, 301):  # x @ A @ B @ A @ ... = ... @ Aᵀ @ Bᵀ @ Aᵀ @ x
        e = e @ (a if k % 2 else b)
        assert e.node.args[0] is (a if k % 2 else b).T.node and e.node.args[-1] is x.node and len(e.node.args) == k + 1
    assert e.node is ops.matmul_chain([(a if k % 2 else b).T.node for k in range(300, 0, -1)] + [x.node])
    f = x
    for k in range(1, 301):  # the same, a factor now on the left and now on the right
        f = f @ a if k % 2 else b.T @ f
    assert f.node is ops.matmul_chain([b.T.node, a.T.node] * 150 + [x.node])


def chain_steps(kind: str, depth: int, name: str) -> Callable[[], object]:
    """Building a chain of `depth` factors and a vector, one factor at a time (the factors are made before)."""
    x, a, b = md.vector(f"x{name}", "n"), md.matrix(f"A{name}", "n", "n"), md.matrix(f"B{name}", "n", "n")
    transposed, symmetric = a.T, a + a.T

    def vector_first():  # x @ A @ A @ ...
        e = x
        for _ in range(depth):
            e = e @ a
        return e

    def by_turns():  # B @ (... (B @ (x @ A)) @ A ...)
        e = x
        for k in range(depth):
            e = e @ a if k % 2 else b @ e
        return e

    def transposes_and_sums():  # x @ Aᵀ @ (A + Aᵀ) @ Aᵀ @ ...
        e = x
        for k in range(depth):
            e = e @ (transposed if k % 2 else symmetric)
        return e

    text = f"x{name}" + f" @ A{name}" * depth
    return {"x @ A @ A @ ...": vector_first, "B @ (x @ A) @ A, by turns": by_turns,
            "x @ A.T @ (A + A.T) @ ...": transposes_and_sums,
            "read from text": lambda: md.parse(text, {f"x{name}": ("n",), f"A{name}": ("n", "n")})}[kind]


@pytest.mark.parametrize("kind", ["x @ A @ A @ ...", "B @ (x @ A) @ A, by turns", "x @ A.T @ (A + A.T) @ ...",
                                  "read from text"])
def test_building_a_chain_that_gives_a_vector_takes_time_linear_in_its_factors(kind):
    """A chain that gives a vector is kept ending with its vector, Aᵀ @ ... @ Aᵀ @ x: each @ A turned it around
    and back, reading every factor twice (x @ A @ A @ ...: 0.014 s for 100 factors, 0.23 s for 400, 4.3 s for
    2,000). Each new chain node is still a new tuple of all its factors, copied and hashed where nodes are
    interned: that part, at C speed, grows with the square (4.4 times the time from 100 factors to 400,
    7 times from 500 to 2,000)."""
    assert_linear(best_times(lambda depth, name: chain_steps(kind, depth, name), (100, 400)), kind, at_most=8)


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


# ---- reading long sums and products -------------------------------------------------------------


def read(text: str, declarations: dict, *, whole: bool = False) -> Node | str:
    """md.parse(text): the node, or the error's message. `whole`: with the recursion limit raised, so that
    Python's own parser builds the tree of the whole text (past about a thousand operands it gives up, and
    the text is read operand by operand), to compare the two."""
    limit = sys.getrecursionlimit()
    if whole:
        sys.setrecursionlimit(max(limit, 100_000))
    try:
        return md.parse(text, declarations).node
    except md.MatdiffError as error:
        return str(error)
    finally:
        sys.setrecursionlimit(limit)


DECLARED = {"x": ("n",), "y": ("n",), "A": ("n", "n"), "s": ()}
TERMS = ["s ** -2 * x", "1e-5 * sin(x)", "-(A @ x)", "A.T @ x / 2.5E+3", "x * s", "(x\n  + s * y)", "- -y",
         "2 ** -s * x", "tanh(A @ x - y) ** 2", "exp(-s) * x @ A", "x / (1 + s ** 2)", "-3 * A @ A @ x"]


def long_terms(k: int, seed: int) -> list[str]:
    """i * (a term of TERMS) for i = 1..k: numbers in every notation, signs, powers, @, .T, a newline in
    brackets (like terms merge in the sum)."""
    rng = random.Random(seed)
    return [f"{i} * ({rng.choice(TERMS)})" for i in range(1, k + 1)]


def long_sum(k: int, seed: int, newlines: bool = False) -> str:
    """The terms joined by + and - (a - before a term may be its sign); with `newlines`, some of them
    begin a line (for a text in parentheses)."""
    rng = random.Random(seed)
    signs = [" + ", " - ", " -"] + (["\n+ ", "\n  - "] if newlines else [])
    return "".join((rng.choice(signs) if i else rng.choice(["", "-"])) + term
                   for i, term in enumerate(long_terms(k, seed)))


def test_a_long_sum_reads_as_python_reads_it():
    text = "(" + long_sum(3000, 0, newlines=True) + ")"  # in parentheses, so that its newlines are in brackets
    with pytest.raises(RecursionError):  # too long for Python's parser to build its tree
        ast.parse(text, mode="eval")
    node = read(text, DECLARED)
    assert isinstance(node, Node) and node.op == "add", node
    assert node is read(text, DECLARED, whole=True)


def test_a_ten_thousand_term_sum_reads_back_from_its_text():
    x = md.vector("x", "n")
    f = ops.add(*(md.sin(i * x).node for i in range(1, 10_001)))  # sin(x) + sin(2 * x) + ...
    assert len(f.args) == 10_000
    assert read(to_text(f), {"x": ("n",)}) is f


def test_a_long_product_and_a_long_chain_read_as_python_reads_them():
    product = " * ".join(["(1 + s)", "s", "2", "x", "sin(s)"] * 600)
    chain = " @ ".join(["A", "A.T", "(A + A.T)"] * 1000) + " @ x"
    for text in (product, chain, f"s * ({product}) - 2 * ({chain})"):
        node = read(text, DECLARED)
        assert isinstance(node, Node), node
        assert node is read(text, DECLARED, whole=True)


def test_errors_in_a_long_sum_point_at_their_place():
    terms = long_terms(2500, 1)
    for where, wrong, message, culprit in [(1800, "2 * q * x", "unknown variable 'q'", "q"),
                                           (2100, "A @ s", "@ needs a vector or matrix on both sides", "A @ s"),
                                           (2200, "ones(3)", "+", None)]:
        before = " + ".join(terms[:where]) + " - "
        text = before + " - ".join([wrong] + terms[where:])
        error = read(text, DECLARED)
        assert isinstance(error, str) and message in error, error
        assert error == read(text, DECLARED, whole=True)  # the message and caret of Python's own tree
        if culprit is not None:  # the carets under it, on its line (some terms span two lines)
            at = len(before) + wrong.index(culprit)
            carets = error.split("\n")[-1]
            assert carets.index("^") - 4 == at - (text.rfind("\n", 0, at) + 1)
            assert carets.count("^") == len(culprit)


def test_reading_a_long_sum_takes_time_linear_in_its_terms():
    def parse(k, name):
        text = " - ".join(f"sin({i} * x{name})" for i in range(1, k + 1))  # 3,000 terms: past Python's parser
        return lambda: md.parse(text, {f"x{name}": ("n",)})

    assert_linear(best_times(parse, (3000, 6000)), "reading sums")


# ---- reading long sums and products inside calls ---------------------------------------------------

TEN_THOUSAND = [f"sin({i} * x)" if i % 2 else f"cos({i} * x) * y" for i in range(1, 10_001)]


def ten_thousand_terms() -> list[Node]:
    x, y = md.vector("x", "n"), md.vector("y", "n")
    return [(md.sin(i * x) if i % 2 else md.cos(i * x) * y).node for i in range(1, 10_001)]


def test_a_ten_thousand_term_sum_reads_as_the_argument_of_a_function():
    x, y, a = (md.vector("x", "n").node, md.vector("y", "n").node, md.matrix("A", "n", "n").node)
    total = ops.add(*ten_thousand_terms())
    declared = {"x": ("n",), "y": ("n",), "A": ("n", "n")}
    long = " + ".join(TEN_THOUSAND)
    assert read(f"sum(tanh({long}))", declared) is ops.sum_(ops.tanh(total))
    assert read(f"exp(A @ ({long}))", declared) is ops.exp(ops.matmul(a, total))
    assert read(f"norm2(tanh(A @ sin({long}) + y)) ** 2", declared) is \
        ops.power(ops.norm2(ops.tanh(ops.add(ops.matmul(a, ops.sin(total)), y))), ops.const(2.0))
    assert read(f"sum(outer(x, {long}), axis=0)", declared) is ops.sum_(ops.outer(x, total), axis=0)
    assert read(f"-(A @ ({long})).sum()", declared) is ops.neg(ops.sum_(ops.matmul(a, total)))


def test_a_ten_thousand_factor_product_reads_as_the_argument_of_a_function():
    x = md.vector("x", "n")
    factors = [md.sin(i * x).node for i in range(1, 10_001)]
    text = "exp(" + " * ".join(f"sin({i} * x)" for i in range(1, 10_001)) + ")"
    assert read(text, {"x": ("n",)}) is ops.exp(ops.mul(*factors))


@pytest.mark.parametrize("wrong, message, culprit", [("2 * q * x", "unknown variable 'q'", "q"),
                                                     ("A @ s", "@ needs a vector or matrix on both sides", "A @ s")])
@pytest.mark.parametrize("newline", [" ", "\n    "], ids=["one line", "many lines"])
def test_an_error_in_a_long_sum_inside_a_call_points_at_its_place(wrong, message, culprit, newline):
    terms = list(TEN_THOUSAND)
    terms[5000] = wrong
    before = "sum(tanh(" + " +".join(term + (newline if i % 10 == 9 else " ") for i, term in enumerate(terms[:5000])) + \
        "+ "
    text = before + " + ".join(terms[5000:]) + "))"
    error = read(text, {"x": ("n",), "y": ("n",), "A": ("n", "n"), "s": ()})
    assert isinstance(error, str) and message in error, error
    at = len(before) + wrong.index(culprit)  # the carets under the culprit, on its line
    carets = error.split("\n")[-1]
    assert carets.index("^") - 4 == at - (text.rfind("\n", 0, at) + 1)
    assert carets.count("^") == len(culprit)


@pytest.mark.parametrize("text", [
    "sum(tanh(S))", "exp(S)", "sum(S, axis=0)", "x @ tanh(S)", "-(S).T", "sum((S) ** 2)", "sum(tanh(S)) + s * sum(exp(S))",
    "sum(maximum(S, x))", "sum(tanh(A @ (sin(S) + x) * (P)))", "(S).sum()", "sum(" + "tanh(" * 30 + "S" + ")" * 31,
    "where(x > 0, S, x)", "norm2(x) ** sum(sin(S))", "sum(tanh(S + 'α'))", "sum(tanh(S + q))", "sum(tanh(S + A @ s))"],
    ids=lambda text: text if len(text) < 50 else "sum(tanh(tanh(... 30 deep (S))))")
def test_a_long_sum_or_product_inside_calls_reads_as_python_reads_it(text):
    """S, a sum of 3,000 terms (some of them on lines of their own), and P, a product of 3,000 factors: past
    what Python's parser builds."""
    product = " * ".join(["(1 + s)", "s", "2", "sin(s)"] * 750)
    text = text.replace("S", long_sum(3000, 2, newlines=True)).replace("P", product)
    with pytest.raises(RecursionError):
        ast.parse(text, mode="eval")
    node = read(text, DECLARED)
    assert node == read(text, DECLARED, whole=True)  # the node, or the message and caret of Python's own tree


def test_reading_a_long_sum_inside_calls_takes_time_linear_in_its_terms():
    def parse(k, name):
        text = "sum(tanh(x{0} @ A{0} + ".format(name) + " - ".join(f"sin({i} * x{name})" for i in range(1, k + 1)) + "))"
        return lambda: md.parse(text, {f"x{name}": ("n",), f"A{name}": ("n", "n")})

    assert_linear(best_times(parse, (3000, 6000)), "reading sums inside calls")
