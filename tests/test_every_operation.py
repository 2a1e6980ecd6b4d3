"""Every elementwise function of the operation table, through every output, checked numerically.

The functions are read from the table (`matdiff.ops.ELEMENTWISE`), so an operation added there is
tested here without an edit: its gradient, VJP and Hessian against finite differences and JAX
(`md.check`), its index form evaluated by einsum against the full derivative, its generated code in
NumPy, JAX and PyTorch against matdiff's own evaluation, its derivation's every claim, and its
spellings (the text reads back to the same node; Unicode and LaTeX are written).

Every other entry of the table has one scalar function in `ENTRIES` (a test fails for an entry without
one): its generated code in NumPy, JAX (jitted) and PyTorch computes the value, gradient and Hessian that
matdiff's own evaluation gives.
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


# ---- every entry of the table, in generated code ----------------------------------------------------

EVERY = "X: n×m, Y: n×m, A: n×n, x: n, y: n, T: n×m×k, Z: m×k, Q: n×m×k×k, g: function"
SIZES = {"n": 3, "m": 4, "k": 2}
# One scalar function per entry of `matdiff.ops.OPS` (the elementwise ones above have their own), and the
# variable its gradient and Hessian are taken by: the entry is a node of the function or of its gradient
# (an entry that is only a spelling, square(u) read as u ** 2, appears in the text).
ENTRIES = {
    "const": ("sum(2.5 * sin(x))", "x"), "var": ("sum(sin(x))", "x"), "dim": ("n * sum(sin(x))", "x"),
    "eye": ("sum(sin((eye(n) + A) @ x))", "x"), "ones": ("x @ ones((n, n)) @ sin(x)", "x"),
    "zeros": ("sum(sign(x)) + sum(sin(A))", "x"),  # the gradient by x is zeros(n)
    "commutation": ("vec(X) @ commutation(n, m) @ vec(sin(Y.T))", "Y"),
    "mul": ("sum(x * sin(y))", "x"), "div": ("sum(x / exp(y))", "y"), "pow": ("sum(exp(x) ** 1.5)", "x"),
    "matmul": ("x @ A @ y", "A"), "add": ("sum(sin(x + y))", "x"), "transpose": ("sum(sin(A.T @ x) * y)", "A"),
    "norm2": ("norm2(A @ x)", "x"), "diag": ("sum(sin(diag(x) @ A @ y))", "x"),
    "outer": ("sum(sin(outer(x, y)))", "x"), "kron": ("sum(sin(kron(A, X)) * kron(A, Y))", "X"),
    "vec": ("vec(A) @ vec(sin(A))", "A"), "sum": ("sum(sin(X), axis=0) @ sum(cos(X), axis=0)", "X"),
    "mean": ("mean(X * sin(X), axis=1) @ x", "X"), "variance": ("var(A @ x)", "x"), "std": ("std(A @ x)", "x"),
    "max": ("max(A @ x)", "x"), "min": ("sum(min(X, axis=0) ** 2)", "X"),
    "tr": ("tr(A @ A)", "A"), "det": ("det(A)", "A"), "logdet": ("logdet(A @ A.T + eye(n))", "A"),
    "inv": ("sum(inv(A @ A.T + eye(n)))", "A"), "solve": ("sum(sin(solve(A @ A.T + eye(n), y)))", "A"),
    "matrix_power": ("sum(matrix_power(A, 3))", "A"), "pinv": ("sum(pinv(X) @ sin(Y))", "X"),
    "swapaxes": ("sum(swapaxes(T, 0, 2) ** 2 * sin(swapaxes(T, 0, 2)))", "T"),
    "moveaxis": ("sum(sin(moveaxis(T, 0, 2)) * moveaxis(T, 0, 2))", "T"),
    "permute": ("sum(sin(transpose(Q, (1, 3, 0, 2))) * transpose(Q, (1, 3, 0, 2)))", "Q"),
    "reshape": ("sum(sin(reshape(X, (m, n))) @ x)", "X"), "einsum": ("einsum('ijk,jk->i', T, sin(Z)) @ sin(x)", "Z"),
    "logsumexp": ("logsumexp(A @ x)", "x"), "softmax": ("softmax(A @ x) @ y", "x"),
    "log_softmax": ("sum(log_softmax(X, axis=1) * Y)", "X"),
    "square": ("sum(square(A @ x))", "x"), "reciprocal": ("sum(reciprocal(exp(A @ x)))", "x"),
    "power": ("sum(power(exp(x), sin(y)))", "y"),
    "greater": ("sum(sin(x) * (A @ x > y))", "x"), "less": ("sum(sin(x) * (A @ x < y))", "x"),
    "greater_equal": ("sum(sin(x) * (A @ x >= y))", "x"), "less_equal": ("sum(sin(x) * (A @ x <= y))", "x"),
    "equal": ("sum(sin(x) * (A @ x == y))", "x"),
    "relu": ("sum(relu(A @ x) ** 2)", "x"), "sign": ("sum(sign(A @ x) * sin(x))", "x"),
    "maximum": ("sum(maximum(A @ x, sin(y)) ** 2)", "x"), "minimum": ("sum(minimum(A @ x, sin(y)) ** 2)", "x"),
    "clip": ("sum(clip(A @ x, -0.5, 0.5) ** 2)", "x"), "where": ("sum(where(A @ x > 0, sin(x), y * x ** 2))", "x"),
    "apply": ("sum(g(A @ x) * grad(g)(x))", "x"),
    "tril": ("sum(sin(tril(A) @ x))", "A"), "triu": ("sum(sin(triu(A) @ x))", "A"),
    "cholesky": ("sum(cholesky(A @ A.T + n * eye(n)))", "A"), "norm1": ("norm(A @ x, 1)", "x"),
}


def _entry_values(seed: int = 4) -> dict:
    from matdiff.ops.functions import stand_in_values
    n, m, k = SIZES["n"], SIZES["m"], SIZES["k"]
    shapes = {"X": (n, m), "Y": (n, m), "A": (n, n), "x": (n,), "y": (n,), "T": (n, m, k), "Z": (m, k),
              "Q": (n, m, k, k)}
    rng = np.random.default_rng(seed)
    return dict({name: rng.normal(size=shape) for name, shape in shapes.items()}, **stand_in_values("g"))


def _nodes(expression) -> set[str]:
    from matdiff.expr import topological
    return {node.op for node in topological(expression.node)}


def test_every_entry_of_the_table_has_a_function_here():
    from matdiff.ops import OPS
    from matdiff.ops.registry import Code
    assert set(OPS) - set(ELEMENTWISE) - set(ENTRIES) == set(), "an entry without a function in ENTRIES"
    for name, (f, wrt) in ENTRIES.items():
        if isinstance(OPS[name].code, Code):  # lowered by code generation: a node of f or of its gradient
            assert name in _nodes(md.parse(f, EVERY)) | _nodes(md.derivative(f, wrt, EVERY)), (name, f)
        else:  # a spelling of another operation (square(u) is u ** 2): the function spells it
            assert any(f"{spelling}(" in f for spelling in OPS[name].names), (name, f)


def _call(fn, backend: str, values: dict):
    """The generated function at `values` (arrays of its backend; JAX jitted), its results as NumPy arrays."""
    names = list(inspect.signature(fn).parameters)
    if backend == "jax":
        import jax
        functions = tuple(p for p in names if callable(values[p]))
        jitted = jax.jit(fn, static_argnames=functions)
        return [np.asarray(r) for r in jitted(**{p: values[p] if p in functions else jax.numpy.asarray(values[p])
                                                 for p in names})]
    if backend == "torch":
        import torch
        return [r.numpy() for r in fn(**{p: values[p] if callable(values[p]) else torch.as_tensor(values[p])
                                          for p in names})]
    return [np.asarray(r) for r in fn(**{p: values[p] for p in names})]


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_generated_code_of_every_entry_agrees_with_evaluation(name, backend):
    """Value, gradient and Hessian computed by the generated code of each backend are matdiff's own."""
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    f, wrt = ENTRIES[name]
    fn = md.compile(f, [wrt], EVERY, backend=backend, hessian=True)
    values = _entry_values()
    value, gradient, hessian = _call(fn, backend, values)
    expected = (md.parse(f, EVERY).evaluate(values), md.derivative(f, wrt, EVERY).evaluate(values),
                md.derivative(f, wrt, EVERY, order=2).evaluate(values))
    if hessian.shape != expected[2].shape:  # by a matrix or an array: the vec form, column-major vec
        expected = expected[:2] + (expected[2].reshape(hessian.shape, order="F"),)
    for got, want, what in zip((value, gradient, hessian), expected, ("value", "gradient", "Hessian")):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=f"{what}\n{fn.source}")


# ---- a function of a dimension used as a number ----------------------------------------------------------

def _dimension_cases():
    for name in FUNCTIONS:
        for backend in ("numpy", "jax", "torch"):
            yield pytest.param(name, backend, id=f"{name}-{backend}")


@pytest.mark.parametrize("name, backend", list(_dimension_cases()))
def test_generated_code_of_a_function_of_a_dimension(name, backend):
    """f(n) * s, where n is a dimension (an integer in the generated function): the code makes it an array
    of floats before the function sees it. n = 1: inside every function's domain (arcsin, log, ...)."""
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    f, where = f"{name}(n) * s", "s: scalar, x: n"
    fn = md.compile(f, ["s"], where, backend=backend)
    values = {"s": np.asarray(0.3), "x": np.ones(1)}
    expected = (md.parse(f, where).evaluate(values), md.derivative(f, "s", where).evaluate(values))
    if backend == "torch":
        import torch
        got = fn(torch.as_tensor(values["s"]), n=1)
    elif backend == "jax":
        import jax.numpy as jnp
        got = fn(jnp.asarray(values["s"]), n=1)
    else:
        got = fn(values["s"], n=1)
    for result, want in zip(got, expected):
        np.testing.assert_allclose(np.asarray(result), want, rtol=1e-10)
