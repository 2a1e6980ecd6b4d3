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


def _mixed_by_differences(f: str, first: str, second: str, where: str, values: dict, h: float = 1e-6):
    """∂²f/∂first∂second as a full tensor: central differences of matdiff's gradient by `first`."""
    import numpy as np

    gradient = md.derivative(f, first, where)
    x = values[second]
    out = np.zeros(np.shape(values[first]) + x.shape)
    for k in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[k] = h
        up = gradient.evaluate({**values, second: x + step})
        down = gradient.evaluate({**values, second: x - step})
        out[(...,) + k] = (up - down) / (2 * h)
    return out


def test_a_mixed_second_derivative_through_diag_and_a_broadcast_sum_terminates_and_is_right():
    import numpy as np

    where = "z: n, Z: n×n, b: n"
    rng = np.random.default_rng(0)
    values = {"z": rng.normal(size=3), "Z": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    d = md.derivative("sigmoid(diag(Z) @ (z + b))", ["z", "Z"], where)  # once looped: (P ⊗ Q) distributed and collected
    expected = _mixed_by_differences("sigmoid(diag(Z) @ (z + b))", "z", "Z", where, values)
    np.testing.assert_allclose(d.evaluate(values), expected, atol=1e-7)


@pytest.mark.parametrize("text, where, mentions", [
    ("sum(x / 0)", "x: n", "division by zero"),
    ("sum(x / zeros(n))", "x: n", "division by zero"),
    ("sum(x * ((-1) ** 0.5))", "x: n", "(-1) ** 0.5"),  # complex in Python, nan in NumPy
    ("1e999 * x", "x: n", "not finite"),
    ("x * 1e308 * 1e308", "x: n", "not finite"),  # an overflowing fold would print 'inf', which never reads back
])
def test_numbers_without_a_finite_real_value_are_a_clear_error(text, where, mentions):
    with pytest.raises(md.MatdiffError, match=None) as caught:
        md.derivative(text, "x", where)
    assert mentions in str(caught.value)


def test_the_trace_of_a_square_kronecker_product_of_non_square_factors_is_accepted():
    import numpy as np

    where = "X: n×p, R: p×n"  # X ⊗ R is np × pn: square, though X and R are not
    report = md.check("tr(kron(X, R))", "X", where)
    assert report.ok, str(report)
    assert np.isfinite(md.derivative("tr(kron(X, R))", "X", where).evaluate(
        {"X": np.ones((2, 3)), "R": np.ones((3, 2))})).all()


@pytest.mark.parametrize("text, where", [
    ("sum(exp(sin(x) * tanh(A @ x)))", "x: n, A: n×n"),
    ("x @ A @ x * sin(x @ x)", "x: n, A: n×n"),
    ("tanh(x) * exp(x * x)", "x: scalar"),
    ("sum(tanh(x))", "x: n"),
])
def test_a_tenth_derivative_is_quick_or_a_clear_refusal(text, where):
    import time

    start = time.perf_counter()
    try:
        md.derivative(text, "x", where, order=10)
    except md.NotSupportedError as refusal:
        assert "stopped after order" in str(refusal) and "distinct subexpressions" in str(refusal)
    assert time.perf_counter() - start < 5.0  # about 0.3 s alone; the bound leaves room for a busy machine


def test_third_and_fourth_derivatives_of_small_functions_are_still_given():
    assert md.derivative("sum(exp(sin(x) * tanh(A @ x)))", "x", "x: n, A: n×n", order=3).text
    assert md.derivative("x @ A @ x * sin(x @ x)", "x", "x: n, A: n×n", order=4).text


def test_log_det_of_a_kronecker_product_with_an_identity_stays_in_kronecker_form():
    where = "S: n×n, b: m"  # b only brings the dimension m
    assert md.derivative("logdet(kron(eye(m), S))", "S", where).text == "m * inv(S).T"
    hessian = md.derivative("logdet(kron(eye(m), S))", "S", where, order=2)
    assert hessian.text == "-m * kron(inv(S), inv(S).T) @ commutation(n, n)"  # n²×n², never (mn)²×(mn)²
    assert md.check("logdet(kron(eye(m), S))", "S", where, order=2).ok


def test_det_of_a_kronecker_product_is_a_product_of_powers():
    where = "S: n×n, A: p×p"
    report = md.check("det(kron(A, S))", "S", where)
    assert report.ok, str(report)
    assert "kron" not in md.derivative("det(kron(A, S))", "S", where).text
