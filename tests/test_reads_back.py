"""Printed text means exactly the node it came from: `md.parse(e.text, declarations)` is `e.node` (#17).

The constructors make one node of each spelling they are given, so reading a printed text builds its node
again from scratch, in another order than it was first built (`x @ (A @ B)` is read as `(x @ A) @ B`). A
text reads back only where every path of the constructors to one value ends at one node. Transposition
is a path of its own: a chain turns its factors over and back (y @ M is kept as Mᵀ y), so transposing
twice must give the very node, whatever order a sum's terms were kept in.

The examples below are what random expressions found, each at its smallest. The differential check runs
the three generators of random expressions (tests/strategies.py's `sample` over every operation,
`sample_chain` of @ chains mixing kron with sums, scalars, unary minus under and over **, and
tests/test_tensor_properties.py's arrays of order ≥ 3) and asks of each expression, and of its derivative
and VJP by one variable, that the printed text reads back: a few hundred in `make test`, 7,000 under
--slow. As a script it prints its figures: `.venv/bin/python tests/test_reads_back.py --count 3000`.
"""
from __future__ import annotations

import random
import signal

import pytest
from hypothesis import HealthCheck, given, settings

import matdiff as md
from matdiff.ops import transpose

from strategies import sample, sample_chain


def reads_back(text: str, declarations: dict) -> bool:
    e = md.parse(text, declarations)
    return md.parse(e.text, declarations).node is e.node


# ---- what random expressions found ------------------------------------------------------------------------

VECTORS_AND_SUMS = {"x": ("n",), "y": ("n",), "B": ("n", "n"), "C": ("n", "n"), "D": ("n", "n"), "t": (),
                    "S": ("n", "n", "sym"), "z": ("n",)}


@pytest.mark.parametrize("text, printed", [
    ("x @ ((B + t) @ y)", "x @ (B + t) @ y"),  # (B + t)ᵀ is B.T + t, whose sum is t + B.T: transposed, t + B
    ("x @ ((B + 1) @ y)", "x @ (B + 1) @ y"),
    ("x @ ((B + S) @ y)", "x @ (B + S) @ y"),  # a symmetric term, like a scalar, is its own transpose
    ("x @ ((B + eye(n)) @ y)", "x @ (B + eye(n)) @ y"),
    ("x @ ((B + D @ C) @ y)", "x @ (B + D @ C) @ y"),  # (D C)ᵀ = Cᵀ Dᵀ is a product again, not a transposed leaf
    ("x @ ((B + outer(x, z)) @ y)", "x @ (B + outer(x, z)) @ y"),
    ("x @ ((B + D @ B) @ y)", "x @ (B + D @ B) @ y"),  # it was x @ (D @ B + B) @ y: the sum turned over and back
])
def test_a_vector_times_a_sum_reads_back_as_it_is_written(text, printed):
    e = md.parse(text, VECTORS_AND_SUMS)
    assert e.text == printed
    assert md.parse(e.text, VECTORS_AND_SUMS).node is e.node


@pytest.mark.parametrize("text", ["B + t", "B + 1", "B - t", "B + S", "B + eye(n)", "B + D @ C", "B + outer(x, z)",
                                  "B - C.T + D @ C", "t - B + C.T", "kron(B, C) + kron(D, B)"])
def test_transposing_twice_gives_the_very_node(text):
    m = md.parse(text, VECTORS_AND_SUMS).node
    assert transpose(transpose(m)) is m


def test_a_transposed_sum_whose_order_would_not_come_back_is_written_transposed():
    e = md.parse("(B + t).T", VECTORS_AND_SUMS)
    assert e.text == "(B + t).T"  # B.T + t would read as t + B.T, another node of the same value
    assert reads_back(e.text, VECTORS_AND_SUMS)
    assert md.parse("B.T + t", VECTORS_AND_SUMS).text == "t + B.T"


def test_a_sum_whose_turned_terms_would_change_order_is_not_written_turned():
    # the VJP of a transposed sum of chains (tests/fuzz.py --seed 0, input 54107): its transposed leaf
    # ((X @ X @ G).T / A).T, written first inside (…).T, went last when read back
    where = {"A": ("n", "n"), "X": ("n", "n")}
    d = md.vjp("(A @ X @ X @ X + X / A @ X @ X + X @ X @ A @ X + X @ X @ X @ A).T", "X", where, cotangent="G")
    assert d.text.startswith("(X @ X @ G).T / A + ")
    assert md.parse(d.text, d.variables).node is d.node


@pytest.mark.parametrize("text, declarations", [
    # printed -(y_2 + t) @ (B_2_2m + t) @ kron(y_2, x_m), which read as ... @ (t + B_2_2m) @ ...
    ("(-(y_2 + t)) @ ((B_2_2m + t) @ kron(y_2, x_m))", {"y_2": (2,), "t": (), "B_2_2m": (2, "2*m"), "x_m": ("m",)}),
    # printed ... @ (A_2_22 + B_2_22 + B_2_2 @ A_2_22) @ ..., read as ... @ (B_2_2 @ A_2_22 + A_2_22 + B_2_22) @ ...
    ("(-((y_mn - x_mn) @ (s * A_mn_2)) ** 2) @ (((A_2_22 + B_2_22) + (B_2_2 @ A_2_22)) @ (tanh(x_22) ** 2))",
     {"y_mn": ("m*n",), "x_mn": ("m*n",), "s": (), "A_mn_2": ("m*n", 2), "B_2_2": (2, 2), "A_2_22": (2, "2*2"),
      "B_2_22": (2, "2*2"), "x_22": ("2*2",)}),
])
def test_a_chain_mixing_kron_and_sums_reads_back(text, declarations):
    assert reads_back(text, declarations)
    for wrt in declarations:
        for result in (md.derivative(text, wrt, declarations), md.vjp(text, wrt, declarations, cotangent="G")):
            assert md.parse(result.text, result.variables).node is result.node, result.text


def test_the_jacobian_of_a_row_times_an_outer_product_of_a_softmax_is_one_flat_chain():
    # (xᵀA ⊗ I)(diag(s) ⊗ x)ᵀ merged into the product x xᵀ A diag(s), which stood in the chain as one factor
    where = {"x": ("n",), "A": ("n", "n"), "y": ("n",)}
    d = md.derivative("(x @ A) @ outer(softmax(y), x)", "y", where)
    assert d.text == "outer(x, x) @ A @ diag(softmax(y)) @ (eye(n) - softmax(y))"
    assert md.parse(d.text, d.variables).node is d.node


def test_a_stack_of_products_with_a_symmetric_matrix_is_one_node_either_way_round():
    """Fuzz input 24727 (seed 23): G @ (B @ B.T)ᵀ was einsum('ijl,kl->ijk', G, B Bᵀ), printed G @ (B @ B.T) as
    the matrix is symmetric, which read back as einsum('ijl,lk->ijk', ...): a symmetric operand's indices are
    now taken in the orientation that writes fewer permutations."""
    where = {"B": ("m", "p"), "X": ("n", "m", "m")}
    d = md.vjp("2 * X @ B @ B.T", "X", where, cotangent="G")
    assert d.text == "2 * G @ (B @ B.T)"
    assert md.parse(d.text, d.variables).node is d.node
    turned = md.parse("einsum('ijl,kl->ijk', G, B @ B.T)", {**where, "G": ("n", "m", "m")})
    assert turned.node is md.parse("G @ (B @ B.T)", {**where, "G": ("n", "m", "m")}).node


# ---- the differential check -----------------------------------------------------------------------------


class _TooLong(Exception):
    pass


def _alarm(*_):
    raise _TooLong


def differential(count: int, first_seed: int = 0, tensors: int = 0):
    """(how many texts were printed, [(family, seed, text, printed, read back) for each that does not read
    back]) over `count` expressions of each seeded family and `tensors` drawn arrays of order ≥ 3; the
    derivative and VJP by one variable of each are printed too."""
    printed, found = 0, []

    def check(family, seed, text, result) -> None:
        nonlocal printed
        printed += 1
        again = md.parse(result.text, result.variables)
        if again.node is not result.node:
            found.append((family, seed, text, result.text, again.text))

    def each(family, seed, text, declarations) -> None:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(10)
        try:
            check(family, seed, text, md.parse(text, declarations))
            names = sorted(n for n, d in declarations.items() if "function" not in d)
            if names:
                wrt = names[seed % len(names)]
                check(family + " derivative", seed, text, md.derivative(text, wrt, declarations))
                check(family + " vjp", seed, text, md.vjp(text, wrt, declarations, cotangent="G"))
        except (md.MatdiffError, _TooLong):  # what cannot be differentiated is other tests' business
            pass
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    for seed in range(first_seed, first_seed + count):
        each("expression", seed, *sample(random.Random(seed), max_depth=3))
        each("chain", seed, *sample_chain(random.Random(seed)))
    if tensors:
        from test_tensor_properties import tensor_expressions

        @settings(max_examples=tensors, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(tensor_expressions())
        def drawn(case):
            each("tensor", 0, case.text, case.shapes)

        drawn()
    return printed, found


def test_random_expressions_chains_and_arrays_read_back():
    printed, found = differential(100, tensors=50)
    assert printed > 500
    assert not found, found[:3]


@pytest.mark.slow
def test_seven_thousand_random_expressions_read_back():
    printed, found = differential(3000, first_seed=100, tensors=1000)
    assert printed > 15_000
    assert not found, found[:3]


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="how many printed texts of random expressions read back")
    parser.add_argument("--count", type=int, default=3000, help="expressions of each seeded family")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--tensors", type=int, default=1000, help="drawn arrays of order ≥ 3")
    options = parser.parse_args()
    start = time.time()
    printed, found = differential(options.count, options.seed, options.tensors)
    for finding in found:
        print(finding)
    families = {}
    for family, *_ in found:
        families[family] = families.get(family, 0) + 1
    print(f"{printed} texts printed ({options.count} expressions + {options.count} chains from seed {options.seed}, "
          f"{options.tensors} arrays, each with a derivative and a VJP), {len(found)} read back as another node "
          f"{families}, {time.time() - start:.0f} s")
