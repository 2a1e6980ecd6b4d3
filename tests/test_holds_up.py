"""Regressions from fuzzing: printed text that means its node, no crash, no recursion on size.

Each example here was once wrong or crashed; the fuzz run (`make fuzz`) finds new ones and they land
here as fixed examples.
"""
import pytest

import matdiff as md

WHERE = "x: n, A: n×n, a: scalar, h: n, X: n×n, u: n"


@pytest.mark.parametrize("text, printed", [
    ("2.0 ** (-(x @ A))", "2 ** (-x @ A)"),        # not (2 ** -x) @ A
    ("a * -(x @ A)", "-a * x @ A"),
    ("2 ** -(x * x)", "2 ** -x ** 2"),
    ("-(x @ A) ** 2", "-(x @ A) ** 2"),
])
def test_a_negated_product_under_a_power_keeps_its_parentheses(text, printed):
    e = md.parse(text, WHERE)
    assert e.text == printed
    assert md.parse(e.text, WHERE).node is e.node


def _derive_many(first: int, last: int) -> None:
    for k in range(first, last):  # each call differs in its numbers, so each builds new nodes
        c = 1 + k * 0.001
        md.derivative(f"tr(A @ X @ B) * {c} + norm2(tanh(X @ W) - {c}) ** 2", "X",
                      "A: n×p, X: p×q, B: q×n, W: q×r").text


def _bytes_kept_per_derivation(warm: int, measured: int) -> float:
    """Memory still held after `measured` more distinct derivations, per derivation (tracemalloc)."""
    import gc
    import tracemalloc

    _derive_many(0, warm)
    gc.collect()
    tracemalloc.start()
    try:
        _derive_many(warm, warm + measured // 4)
        gc.collect()
        early = tracemalloc.get_traced_memory()[0]
        _derive_many(warm + measured // 4, warm + measured)
        gc.collect()
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (late - early) / (measured - measured // 4)


# Keeping every node ever built held about 7,700 bytes per derivation of this expression; freeing
# unused nodes holds nothing but the noise of dictionary resizes.
def test_memory_stays_flat_over_many_distinct_derivations():
    assert _bytes_kept_per_derivation(200, 800) < 100


@pytest.mark.slow
def test_memory_stays_flat_over_ten_thousand_distinct_derivations():
    assert _bytes_kept_per_derivation(500, 10_000) < 20
