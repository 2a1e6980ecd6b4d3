"""Property tests: derivatives of random well-shaped expressions agree with finite differences and JAX.

The expressions come from tests/strategies.py (every operation of the language, random symbolic
shapes, numerically tame). For a random variable of each expression we check, at a random point:
the backpropagation rule (VJP) against central differences of sum(G ⊙ f); the derivative (gradient,
Jacobian or vec form, as the full tensor) against central differences; and both against JAX's
jacfwd of the same text through an independent JAX evaluator. Scalar functions also get their
Hessian checked.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import matdiff as md

import corpus
from strategies import examples, expressions

check = corpus.check  # None without the corpus: then every test here is skipped
pytestmark = corpus.needs_corpus


def _point(shapes, seed):
    dims = {name: tuple(d for d in s if d not in check.PROPERTIES) for name, s in shapes.items()}
    props = {name: {d for d in s if d in check.PROPERTIES} for name, s in shapes.items()}
    sizes = check.bind_dims(dims)
    values = check.random_point(dims, props, sizes, np.random.default_rng(seed))
    return dims, values, sizes


def _unstructured(dims):
    """Declarations for matdiff: the derivative is compared entry by entry (no sym/spd structure)."""
    return {name: tuple(d) for name, d in dims.items()}


def _close(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _reference(text, wrt, values, sizes, weights=None):
    env = dict(values, **sizes)

    def f(x):
        value = check.evaluate(text, dict(env, **{wrt: x}))
        return value if weights is None else np.sum(weights * value)

    return check.jacobian_fd(f, values[wrt])


def _tame(text, values, sizes):
    """Skip points where f is too large or too curved for central differences to judge."""
    with np.errstate(all="ignore"):
        try:
            value = check.evaluate(text, dict(values, **sizes))
        except (FloatingPointError, check.EvalError, np.linalg.LinAlgError, ValueError):
            return None
    if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > 1e4:
        return None
    return value


def _well_conditioned(text, shapes, values) -> bool:
    """Every matrix that det, logdet or inv sees is comfortably invertible at this point: their
    Cookbook derivatives (det(X) X⁻ᵀ, X⁻ᵀ, -X⁻ᵀ G X⁻ᵀ) hold only there."""
    from matdiff.expr import topological
    node = md.parse(text, shapes).node
    for n in topological(node):
        if n.op in ("det", "logdet", "inv"):
            matrix = md.Expression(n.args[0], md.parse_declarations(shapes)).evaluate(values)
            if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e8:
                return False
    return True


def _evaluate(result, values):
    """The derivative's value; points where it needs the inverse of a singular matrix are skipped
    (the Cookbook's det(X) X⁻ᵀ is the derivative of det only where X is invertible)."""
    try:
        return result.evaluate(values)
    except md.ValueBindingError as exc:
        assume("Singular matrix" not in str(exc))
        raise


def _case(drawn, choice, seed):
    """(text, value, values, sizes, wrt, declarations) for a drawn expression at a random point, or
    the example is skipped: no variable, a value too wild to difference, or a near-singular matrix."""
    text, shapes = drawn
    dims, values, sizes = _point(shapes, seed)
    value = _tame(text, values, sizes)
    assume(value is not None)
    names = sorted(dims)
    assume(names)
    declared = _unstructured(dims)
    assume(_well_conditioned(text, declared, values))
    return text, value, values, sizes, names[choice % len(names)], declared


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@settings(max_examples=examples(60), **SETTINGS)
@given(drawn=expressions(), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_vjp_and_derivative_agree_with_finite_differences(drawn, choice, seed):
    text, value, values, sizes, wrt, declared = _case(drawn, choice, seed)
    # VJP with a random upstream gradient
    weights = np.random.default_rng(seed + 10).normal(size=np.shape(value))
    rule = md.vjp(text, wrt, declared, cotangent="G")
    rule_value = _evaluate(rule, dict(values, G=weights))
    assume(np.all(np.isfinite(rule_value)))
    _close(rule_value, _reference(text, wrt, values, sizes, weights), 2e-5)
    # the derivative itself, as the full tensor
    derivative = md.derivative(text, wrt, declared)
    value = _evaluate(derivative, values)
    # abs at an exact 0 (say abs(diag(x)) off the diagonal) has no derivative: skip such points
    assume(np.all(np.isfinite(value)))
    _close(value, _reference(text, wrt, values, sizes), 2e-5)
    # what is printed means the same to the independent evaluator, and reads back to the same node
    _close(check.evaluate(derivative.text, dict(values, **sizes)), derivative.evaluate_as_written(values), 1e-8)
    assert md.parse(derivative.text, derivative.variables).node is derivative.node


@settings(max_examples=examples(40), **SETTINGS)
@given(drawn=expressions(shape=()), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_gradient_and_hessian_agree_with_jax(drawn, choice, seed):
    jax_reference = pytest.importorskip("jax_reference")
    text, _, values, sizes, wrt, declared = _case(drawn, choice, seed)
    gradient = md.derivative(text, wrt, declared)
    expected = np.asarray(jax_reference.jacobian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))  # e.g. norm2 at 0, where JAX gives nan
    value = _evaluate(gradient, values)
    assume(np.all(np.isfinite(value)))  # abs at an exact 0: no derivative (matdiff nan, JAX 0)
    _close(value, expected, 1e-7)
    hessian = md.derivative(text, wrt, declared, order=2)
    expected = np.asarray(jax_reference.hessian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))
    value = _evaluate(hessian, values)
    assume(np.all(np.isfinite(value)))
    _close(value, expected, 1e-6)


@settings(max_examples=examples(40), **SETTINGS)
@given(drawn=expressions(), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_jacobians_agree_with_jax(drawn, choice, seed):
    jax_reference = pytest.importorskip("jax_reference")
    text, _, values, sizes, wrt, declared = _case(drawn, choice, seed)
    derivative = md.derivative(text, wrt, declared)
    expected = np.asarray(jax_reference.jacobian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))
    value = _evaluate(derivative, values)
    # abs at an exact 0 (abs(diag(x)) off the diagonal) has no derivative: matdiff says nan, JAX takes 0
    assume(np.all(np.isfinite(value)))
    _close(value, expected, 1e-7)
