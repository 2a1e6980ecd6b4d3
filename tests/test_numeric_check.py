"""md.check as a witness: what central differences can and cannot tell, for piecewise-linear functions.

The Hessian of sum(relu(X @ w)), sum(abs(x)), sum(maximum(x, y)), clip and where is exactly zero away from
the kinks. Central differences of such an f measure only the rounding of its values magnified by 1/h²,
which the check must not take for an error (it did: 0.2 to 1.0 against a floor of 1e-8); a Hessian that is
wrong by more than the differences can resolve must still fail, for smooth and piecewise functions alike;
a point within a step of a kink is no witness, and a random one is drawn again.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import matdiff as md

check_module = importlib.import_module("matdiff.numeric_check")

PIECEWISE_LINEAR = [
    ("sum(relu(X @ w))", "w", "X: n×d, w: d"),
    ("sum(abs(x))", "x", "x: n"),
    ("norm(x, 1)", "x", "x: n"),
    ("sum(maximum(x, y))", "x", "x: n, y: n"),
    ("sum(minimum(A @ x, y))", "x", "A: n×n, x: n, y: n"),
    ("sum(clip(X @ w, -0.5, 0.5))", "w", "X: n×d, w: d"),
    ("sum(where(x > 0, x, 0.1 * x))", "x", "x: n"),
    ("sum(where(s > t, x, y) @ A)", "x", "s: scalar, t: scalar, x: n, y: n, A: n×m"),
    ("sum(minimum(r * adv, clip(r, 0.8, 1.2) * adv))", "r", "r: n pos, adv: n"),
    ("100 * sum(relu(X @ w))", "w", "X: n×d, w: d"),
    ("sum(abs(x - 10))", "x", "x: n"),
]


@pytest.mark.parametrize("f, wrt, shapes", PIECEWISE_LINEAR)
def test_the_hessian_of_a_piecewise_linear_function_is_zero_and_checks(f, wrt, shapes):
    hessian = md.derivative(f, wrt, shapes, order=2)
    point = check_module.random_point(hessian, check_module._sizes(hessian, None, None), np.random.default_rng(0))
    np.testing.assert_allclose(hessian.evaluate(point), 0.0, atol=1e-12)
    for seed in range(4):
        report = md.check(f, wrt, shapes, order=2, seed=seed)
        assert report.ok, str(report)


def test_an_exact_zero_is_judged_against_what_the_differences_resolve():
    """uᵀ H v = 0 against a second difference of about 1e-9: an error of at most the tolerance, not ~0.3."""
    report = md.check("sum(relu(X @ w))", "w", "X: n×d, w: d", order=2, use_jax=False)
    assert report.ok and report.max_error <= 1e-4, str(report)


def claimed(other: str):
    """md.check's derivative replaced by the derivative of another expression (a wrong answer to catch)."""
    real = check_module.derivative

    def derivative(expr, name, **kw):
        d = real(expr, name, **kw)
        wrong = real(md.parse(other, {n: spec.shape + tuple(spec.properties)
                                      for n, spec in expr.variables.items()}), name, **kw)
        d.evaluate = wrong.evaluate
        return d
    return derivative


@pytest.mark.parametrize("f, wrong, shapes", [
    ("sum(relu(x) ** 2)", "sum(relu(x))", "x: n"),                      # 2 diag(x > 0) claimed to be 0
    ("sum(relu(X @ w))", "0.001 * w @ w", "X: n×d, w: d"),              # 0 claimed to be 0.002 I
    ("sum(softplus(X @ w))", "1.001 * sum(softplus(X @ w))", "X: n×d, w: d"),  # smooth, 0.1% off
    ("sum(clip(X @ w, -0.5, 0.5) ** 2)", "sum(relu(X @ w) ** 2)", "X: n×d, w: d"),  # the wrong indicator
])
def test_a_wrong_hessian_still_fails(monkeypatch, f, wrong, shapes):
    monkeypatch.setattr(check_module, "derivative", claimed(wrong))
    report = md.check(f, "x" if "x:" in shapes else "w", shapes, order=2, use_jax=False)
    assert not report.ok, str(report)


def test_a_wrong_gradient_of_a_piecewise_function_still_fails(monkeypatch):
    monkeypatch.setattr(check_module, "derivative", claimed("sum(relu(X @ w)) + 0.00001 * sum(w)"))
    assert not md.check("sum(relu(X @ w))", "w", "X: n×d, w: d", use_jax=False).ok


def near_a_kink(distance: float):
    """X and w with (X @ w)[0] = distance: relu's kink that far from the point."""
    rng = np.random.default_rng(3)
    X, w = rng.normal(size=(4, 3)), rng.normal(size=3)
    return {"X": X, "w": w + (distance - X[0] @ w) * X[0] / (X[0] @ X[0])}


def test_a_direction_that_crosses_a_kink_is_no_witness():
    values = near_a_kink(3e-5)  # inside the stencil of step 1e-4 in most directions
    report = md.check("sum(relu(X @ w) ** 2)", "w", "X: n×d, w: d", order=2, values=values, use_jax=False)
    assert report.ok, str(report)
    assert "crossed a kink" in report.rows[0].note


def test_given_values_at_a_kink_are_not_passed():
    report = md.check("sum(relu(X @ w))", "w", "X: n×d, w: d", order=2, values=near_a_kink(1e-6), use_jax=False)
    assert not report.ok and "try other values" in str(report)


def test_a_random_point_at_a_kink_is_drawn_again(monkeypatch):
    real = check_module.random_point
    drawn = []

    def first_at_a_kink(expression, sizes, rng):
        drawn.append(1)
        return near_a_kink(1e-6) if len(drawn) == 1 else real(expression, sizes, rng)

    monkeypatch.setattr(check_module, "random_point", first_at_a_kink)
    report = md.check("sum(relu(X @ w))", "w", "X: n×d, w: d", order=2, sizes={"n": 4, "d": 3}, use_jax=False)
    assert report.ok and len(drawn) == 2, str(report)


def test_rounding_is_read_off_the_values_not_only_their_size():
    """sum((C + x) * H) rounds as its largest term, not as its value: with terms of ±1000 that cancel, f is
    about 1 but carries the rounding of 1000, which the probe sees and eps |f| would miss."""
    e = md.parse("sum((C + x) * H)", "C: m×n, x: n, H: m×n")
    rng = np.random.default_rng(1)
    a = 1e3 * rng.normal(size=(6, 4))
    values = {"C": a - a[::-1], "x": 0.1 * rng.normal(size=4), "H": np.ones((6, 4))}

    def at(x):
        return e.evaluate(dict(values, x=x))
    rounding = check_module.rounding_of(at, values["x"], False, np.random.default_rng(0))
    assert abs(at(values["x"])) < 10 and rounding > 100 * np.finfo(float).eps * abs(at(values["x"]))
