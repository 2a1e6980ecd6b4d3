"""Every elementwise function of the operation table, through every output, checked numerically.

The functions are read from the table (`matdiff.ops.ELEMENTWISE`), so an operation added there is
tested here without an edit: its gradient, VJP and Hessian against finite differences and JAX
(`md.check`), its index form evaluated by einsum against the full derivative, its generated code in
NumPy, JAX and PyTorch against matdiff's own evaluation, its derivation's every claim, and its
spellings (the text reads back to the same node; Unicode and LaTeX are written).
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import matdiff as md
from matdiff.ops import ELEMENTWISE

WHERE = "X: n×m, A: n×n, x: n"
# Arguments in [0.5, 0.9]: inside the domain of every function (log, sqrt, arcsin, tan, ...) and
# away from every kink (abs, relu, sign at 0), so that finite differences judge the derivative.
INSIDE = "0.7 + 0.2 * sin({})"
FUNCTIONS = sorted(ELEMENTWISE)


def scalar_of(name: str) -> str:
    return f"sum({name}({INSIDE.format('A @ x')}))"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradient_and_hessian_agree_with_finite_differences_and_jax(name):
    for order in (1, 2):
        report = md.check(scalar_of(name), "x", WHERE, order=order)
        assert report.ok, str(report)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_backprop_rule_agrees_with_finite_differences(name):
    f = f"{name}({INSIDE.format('X')})"
    rule = md.vjp(f, "X", WHERE, cotangent="G")
    rng = np.random.default_rng(1)
    values = {"X": rng.normal(size=(3, 4)), "G": rng.normal(size=(3, 4))}
    phi = md.parse(f"sum(G * {f})", WHERE + ", G: n×m")
    step, expected = 1e-6, np.zeros((3, 4))
    for k in np.ndindex(3, 4):
        e = np.zeros((3, 4))
        e[k] = step
        expected[k] = (phi.evaluate({**values, "X": values["X"] + e})
                       - phi.evaluate({**values, "X": values["X"] - e})) / (2 * step)
    np.testing.assert_allclose(rule.evaluate(values), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_index_form_evaluates_to_the_derivative(name):
    d = md.derivative(f"{name}({INSIDE.format('A @ x')})", "x", WHERE)  # a Jacobian
    rng = np.random.default_rng(2)
    values = {"A": rng.normal(size=(3, 3)), "x": rng.normal(size=3)}
    assert d.index.text
    np.testing.assert_allclose(d.index.evaluate(values), d.evaluate(values), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_generated_code_agrees_with_evaluation(name, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    f = scalar_of(name)
    fn = md.compile(f, ["x"], WHERE, backend=backend)
    rng = np.random.default_rng(3)
    values = {"A": rng.normal(size=(3, 3)), "x": rng.normal(size=3)}
    names = [p for p in inspect.signature(fn).parameters]
    if backend == "torch":
        import torch
        args = [torch.as_tensor(values[p]) for p in names]
    else:
        args = [values[p] for p in names]
    value, gradient = (np.asarray(r) for r in fn(*args))
    np.testing.assert_allclose(value, md.parse(f, WHERE).evaluate(values), rtol=1e-10)
    np.testing.assert_allclose(gradient, md.derivative(f, "x", WHERE).evaluate(values), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_step_of_its_derivation_holds(name):
    d = md.explain(scalar_of(name), "x", WHERE)
    failures = [(step.rule, error) for step, error in d.verify(None, 0) if not error <= 1e-6]
    assert not failures
    assert any(name in step.rule for step in d.steps)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_spellings_read_back_and_render(name):
    e = md.parse(f"{name}(X) + {name}(X.T).T", WHERE)
    assert md.parse(e.text, WHERE).node is e.node
    assert e.unicode and e.latex
    gradient = md.derivative(scalar_of(name), "x", WHERE)
    assert md.parse(gradient.text, WHERE).node is gradient.node


def test_tan_reads_as_the_textbook_writes_it():
    assert md.vjp("tan(X)", "X", WHERE, cotangent="G").text == "G / cos(X) ** 2"
    assert md.derivative("tan(x)", "x", WHERE).text == "diag(1 / cos(x) ** 2)"
