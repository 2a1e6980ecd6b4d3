"""Work linear in the size of an expression: wide sums, long chains, deep networks.

Timings on a shared machine are noise, so these tests count work instead: the Python function calls
(`sys.setprofile`) a construction or a derivation makes, per term or per layer, at two sizes. A
quadratic step (every term of a sum read again at each `+`, a chain scanned whole at each `@`) makes
the count per term grow with the size; linear work keeps it flat. `benchmarks/scaling.py` prints the
times themselves.
"""
from __future__ import annotations

import random
import sys

import pytest

import matdiff as md
from matdiff import ops
from matdiff.ops.algebra import chains, sums

# `make test` runs this module alone, after the others: it measures how time grows
pytestmark = pytest.mark.alone

# Calls per term or layer may differ between two sizes by a little (fixed costs spread thinner, a
# rewrite that fires at one size only); a quadratic step multiplies them by the ratio of the sizes (4).
FLAT = 1.5


def python_calls(build) -> int:
    """The Python function calls `build()` makes (generators resumed included)."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        build()
    finally:
        sys.setprofile(previous)
    return calls


def per_unit(measure, small: int, large: int) -> tuple[float, float]:
    return python_calls(lambda: measure(small)) / small, python_calls(lambda: measure(large)) / large


# ---- wide sums ----------------------------------------------------------------------------------


def wide_sum(k: int, *, name: str = "c", prepend: bool = False, number: float = 1.0) -> md.Symbolic:
    """c0 * sum(tanh(x)) + c1 * sum(sin(x)) + ... built one `+` at a time, as a loop in a notebook does
    (each term times `number`: 0.5 * c0 * ... + 0.5 * c1 * ... is 0.5 * (c0 * ... + c1 * ...))."""
    x = md.vector("x", "n")
    s = md.sum(md.sin(x))
    e = number * md.scalar(f"{name}0") * md.sum(md.tanh(x))
    for i in range(1, k):
        term = number * md.scalar(f"{name}{i}") * s
        e = term + e if prepend else e + term
    return e


@pytest.mark.parametrize("prepend, number", [(False, 1.0), (True, 1.0), (False, 0.5), (False, -1.0)],
                         ids=["e + term", "term + e", "e + 0.5 * term", "e - term"])
def test_adding_a_term_to_a_wide_sum_reads_only_the_new_term(prepend, number):
    small, large = per_unit(lambda k: wide_sum(k, name=f"c{k}_", prepend=prepend, number=number), 200, 800)
    assert large < FLAT * small, f"calls per term: {small:.0f} at 200 terms, {large:.0f} at 800"


def test_a_wide_sum_derives_prints_and_reads_back():
    e = wide_sum(2000, name="w")
    assert len(e.node.args) == 2000
    g = md.grad(e, md.vector("x", "n"))
    assert g.text.endswith(" + w1) * cos(x) + w0 * (1 - tanh(x) ** 2)")
    assert md.parse(e.text, {"x": ("n",), **{f"w{i}": () for i in range(2000)}}).node is e.node


def random_term(rng: random.Random, scalars, matrices, vectors):
    """A term of the kinds the sum's rewrites look at: numbers, transposes, chains with shared ends,
    outer products, diagonals, quotients, shared scalar factors, sums and blocks of ones."""
    s, t = rng.sample(scalars, 2)
    a, b = rng.sample(matrices, 2)
    u, v = rng.sample(vectors, 2)
    c = rng.choice([1.0, -1.0, 2.0, -3.0, 0.5])
    kinds = [
        lambda: ops.mul(s, a), lambda: ops.scale(c, ops.transpose(a)), lambda: ops.matmul(a, b),
        lambda: ops.scale(c, ops.matmul(a, matrices[0])), lambda: ops.matmul(matrices[1], a),
        lambda: ops.outer(u, v), lambda: ops.diag(u), lambda: ops.div(a, s), lambda: ops.mul(s, ops.const(c)),
        lambda: ops.mul(s, scalars[0], a), lambda: ops.scale(c, s), lambda: ops.ones(a.shape),
        lambda: ops.mul(s, ops.tanh(a)), lambda: ops.scale(c, ops.add(a, b)), lambda: ops.sub(a, s),
        lambda: ops.mul(ops.add(s, t), a), lambda: ops.zeros(a.shape), lambda: u,
        lambda: ops.div(ops.mul(s, a), scalars[1]), lambda: ops.mul(s, ops.transpose(ops.matmul(a, b))),
    ]
    return rng.choice(kinds)()


@pytest.mark.parametrize("seed", range(8))
def test_a_term_added_to_a_wide_sum_gives_the_node_of_the_full_path(seed):
    """Where the shortcut for wide sums applies, its node is the one every rewrite would build. Odd
    seeds give most terms one number c, so that the sum is c * (a wide sum)."""
    rng = random.Random(seed)
    scalars = [md.scalar(f"s{i}").node for i in range(40)]
    matrices = [md.matrix(f"A{i}", "n", "n").node for i in range(8)]
    vectors = [md.vector(f"v{i}", "n").node for i in range(5)]
    c = rng.choice([2.0, -1.0, 0.5]) if seed % 2 else 1.0

    def term():
        t = random_term(rng, scalars, matrices, vectors)
        return ops.scale(c, t) if rng.random() < 0.9 else t

    e = ops.add(*(term() for _ in range(20)))
    for _ in range(60):
        new = [term() for _ in range(rng.choice([1, 1, 2]))]
        terms = (*new, e) if rng.random() < 0.3 else (e, *new)
        e = ops.add(*terms)
        assert e is sums._canonical_sum(terms)


# ---- chains and networks ------------------------------------------------------------------------


def long_chain(k: int, *, left: bool) -> None:
    """W_k @ ... @ W_1 (each factor put on the left) or W_1 @ ... @ W_k (on the right), one @ at a time."""
    ws = [md.matrix(f"W{k}_{i}", "n", "n") for i in range(k)]
    p = ws[0]
    for w in ws[1:]:
        p = w @ p if left else p @ w
    assert len(p.node.args) == k


@pytest.mark.parametrize("left", [True, False], ids=["W @ chain", "chain @ W"])
def test_a_chain_times_a_factor_reads_only_the_new_factor(left):
    small, large = per_unit(lambda k: long_chain(k, left=left), 100, 400)
    assert large < FLAT * small, f"calls per factor: {small:.0f} at 100 factors, {large:.0f} at 400"


def network(k: int, n: str) -> tuple[md.Symbolic, md.Symbolic]:
    """sum(tanh(W_k @ ... tanh(W_1 @ x))) and x."""
    x = md.vector("x", n)
    h = x
    for i in range(1, k + 1):
        h = md.tanh(md.matrix(f"W{i}", n, n) @ h)
    return md.sum(h), x


def network_by_w1(k: int, n: str) -> tuple[md.Symbolic, md.Symbolic]:
    """sum(tanh(W_k @ ... tanh(W_1 @ x))) and W1: each layer's term of the Hessian holds every layer below."""
    f, _ = network(k, n)
    return f, md.matrix("W1", n, n)


def traces(k: int, n: str) -> tuple[md.Symbolic, md.Symbolic]:
    """tr(A1 @ X) + tr(X @ B2 @ X) + tr(X.T @ C3 @ X) + tr(P4 @ X @ Q4 @ X.T) + ... (k terms) and X."""
    X = md.matrix("X", n, n)

    def m(name):
        return md.matrix(name, n, n)

    forms = (lambda i: md.tr(m(f"A{i}") @ X), lambda i: md.tr(X @ m(f"B{i}") @ X),
             lambda i: md.tr(X.T @ m(f"C{i}") @ X), lambda i: md.tr(m(f"P{i}") @ X @ m(f"Q{i}") @ X.T))
    f = forms[0](0)
    for i in range(1, k):
        f = f + forms[i % 4](i)
    return f, X


@pytest.mark.parametrize("family, order, small, large, within", [
    (network, 1, 32, 128, FLAT),
    # most of a layer's work is linear here: a chain scanned whole at each @ added 40% from 16 to 128
    (network, 2, 16, 128, 1.2),
    (traces, 1, 32, 128, FLAT),
    (traces, 2, 16, 128, FLAT),
    # a chain extended by a factor is not read again whole for its Kronecker rules, nor turned around whole
    (network_by_w1, 2, 16, 128, 1.2),
], ids=["network gradient", "network Hessian", "traces gradient", "traces Hessian", "network Hessian by W1"])
def test_derivation_work_per_layer_is_flat(family, order, small, large, within):
    def derive(k):
        f, x = family(k, f"n{family.__name__}{order}_{k}")  # a fresh dimension: no node of it interned yet
        md.derivative(f, x.node.params[0], order=order)

    per_small, per_large = per_unit(derive, small, large)
    assert per_large < within * per_small, f"calls per layer: {per_small:.0f} at k={small}, {per_large:.0f} at k={large}"


def test_a_network_deeper_than_the_recursion_limit_derives():
    """Nothing in building or differentiating recurses on the depth of an expression."""
    depth = sys.getrecursionlimit() + 500
    f, x = network(depth, "d")
    assert md.grad(f, x).size > depth
    assert md.grad(f, md.matrix("W1", "d", "d")).size > depth


def test_a_hessian_by_the_first_layer_deeper_than_the_recursion_limit():
    """The Hessian by W1 pushes transposes through chains of sums as deep as the network: they are built
    bottom-up, the parts first, not one call inside another (RecursionError at 128 layers)."""
    limit = sys.getrecursionlimit()
    depth = 400
    f, x = network(depth, "h")
    sys.setrecursionlimit(300)  # below the depth: a recursion on it fails here, at a modest size
    try:
        d = md.derivative(f, md.matrix("W1", "h", "h"), order=2)
    finally:
        sys.setrecursionlimit(limit)
    assert d.size > depth


def test_a_chain_turned_around_from_the_chain_it_extends_is_turned_factor_by_factor():
    """`chain_transpose` reads only the factors a chain adds to a shorter one whose transpose it reuses, as
    a deep network's Jacobians D_k W_k ⋯ D_1 W_1 (x ⊗ I) are built: the result is the node the factors
    transposed one by one give."""
    x = md.vector("x", "t").node
    built = [ops.kron(x, ops.diag(ops.tanh(x)))]
    for i in range(1, 13):
        W = md.matrix(f"W{i}", "t", "t").node
        layer = (ops.diag(ops.exp(ops.matmul(W, x))), W, ops.transpose(W))[i % 3]
        built.append(ops.matmul(layer, built[-1]) if i % 2 else ops.matmul(ops.matmul(layer, W), built[-1]))
    extended = 0
    for chain in built[1:]:
        extended += chains.extended_chain(chain) is not None
        by_factors = chains.matmul_chain([ops.transpose(f) for f in reversed(chain.args)])
        assert chains.chain_transpose(chain) is by_factors
        assert ops.transpose(by_factors) is chain
    assert extended >= 10


def test_bound_forms_of_a_network_hessian_are_printed_in_linear_work():
    """Writing the Hessian by W1 with bindings asks whether a sum reads back turned around only where the
    turned spelling is the shorter: asked of every sum, it transposed the whole graph below each one."""
    def prints(k):
        f, x = network(k, f"b_{k}")
        d = md.derivative(f, md.matrix("W1", f"b_{k}", f"b_{k}"), order=2)
        d.bound_text, d.bound_unicode, d.bound_latex

    per_small, per_large = per_unit(prints, 16, 64)
    assert per_large < FLAT * per_small, f"calls per layer: {per_small:.0f} at k=16, {per_large:.0f} at k=64"


def test_code_for_a_network_hessian_is_linear_work_per_layer():
    """Lowering a deep Hessian asks for the transpose of each 2-D node once (to reuse the code of Mᵀ for M):
    those transposes are memoised weakly, so letting each go rebuilt every transpose below it at every level,
    quadratic work, with a recursion as deep as the network (RecursionError at 256 layers)."""
    def generate(k):
        f, x = network(k, f"c_{k}")
        md.codegen(f, ["x"], hessian=True)

    per_small, per_large = per_unit(generate, 16, 64)
    assert per_large < FLAT * per_small, f"calls per layer: {per_small:.0f} at k=16, {per_large:.0f} at k=64"


def test_code_for_a_hessian_deeper_than_the_recursion_limit():
    f, x = network(sys.getrecursionlimit() // 2 + 100, "e")
    source = md.codegen(f, ["x"], hessian=True)
    assert "hess_x" in source


def test_a_long_product_is_interned_as_one_node_however_it_is_built():
    """A product of many factors is keyed by its factors with their hash kept (`expr._LongArguments`): built
    again, factor by factor or at once, it is the same node; another order of its factors is another node."""
    from matdiff import ops
    from matdiff.expr import _LONG

    factors = [md.matrix(f"L{i}", "n_long", "n_long").node for i in range(2 * _LONG)]
    at_once = ops.matmul_chain(factors)
    one_by_one = factors[0]
    for f in factors[1:]:
        one_by_one = ops.matmul(one_by_one, f)
    assert at_once is one_by_one and len(at_once.args) == 2 * _LONG
    assert ops.matmul_chain(factors[::-1]) is not at_once
    assert ops.matmul_chain(factors[:-1]) is not at_once and ops.matmul_chain(factors[:-1]).args == tuple(factors[:-1])
