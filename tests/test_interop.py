"""Derivatives out, into JAX, PyTorch and SciPy: `md.jax_function`, `md.torch_function`, `md.objective`.

The exported functions are checked by the tools' own gradient checkers against finite differences
(`jax.test_util.check_grads`, `torch.autograd.gradcheck`, float64) over the corpus's scalar cases and its
backpropagation (VJP) cases, their second derivatives over the corpus's Hessian cases; then `jit`, `vmap`
and sharding, the errors, SciPy's minimize converging on logistic regression and a Gaussian process's
hyperparameters, and the sources `matdiff code --emit` prints, run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import matdiff as md
from corpus import cases, check, needs_corpus
from matdiff.cli import app

FIRST = [c for c in cases(("case", "vjp")) if c.get("order", 1) == 1
         and (c["kind"] == "vjp" or not md.parse(c["f"], check.project_shapes(c)).shape)]
SECOND = [c for c in cases("case") if c.get("order", 1) == 2]


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # finite differences need float64
    return jax


def _point(case: dict):
    """The case's declarations (the variable differentiated by unstructured) and its values at check.py's point."""
    shapes = check.project_shapes(case)
    _, _, sizes, values = check.setup(case, 0)
    used = md.parse(case["f"], shapes).variables
    return shapes, sizes, {k: v for k, v in values.items() if k in used}


# ---- the corpus, through each tool's gradient checker -------------------------------------------------

@needs_corpus
@pytest.mark.parametrize("case", FIRST, ids=[c["id"] for c in FIRST])
def test_jax_function_passes_check_grads(case):
    jax = _jax()
    from jax.test_util import check_grads
    shapes, _, values = _point(case)
    w = case["wrt"]
    f = md.jax_function(case["f"], w, shapes)
    arrays = {k: jax.numpy.asarray(v) for k, v in values.items()}
    check_grads(lambda x: f(**dict(arrays, **{w: x})), (arrays[w],), order=1, modes=["rev"])


@needs_corpus
@pytest.mark.parametrize("case", FIRST, ids=[c["id"] for c in FIRST])
def test_torch_function_passes_gradcheck(case):
    torch = pytest.importorskip("torch")
    shapes, _, values = _point(case)
    w = case["wrt"]
    f = md.torch_function(case["f"], w, shapes)
    tensors = {k: torch.tensor(v) for k, v in values.items()}
    x = tensors[w].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: f(**dict(tensors, **{w: x})), (x,))


@needs_corpus
@pytest.mark.parametrize("case", SECOND, ids=[c["id"] for c in SECOND])
def test_second_derivatives_through_the_backward_pass_and_the_objective(case):
    """JAX differentiates the custom backward pass again, autograd the torch one (double backward); the
    objective's Hessian is the corpus's finite-difference Hessian and its hessp is that Hessian times p."""
    shapes, sizes, values = _point(case)
    w = case["wrt"]
    data = {k: v for k, v in values.items() if k != w}
    reference, _ = check.reference_for(case, values, sizes)
    objective = md.objective(case["f"], w, shapes, data, sizes=sizes)
    x = objective.flatten({w: values[w]})
    H = objective.hess(x)
    ok, why = check.agrees(H, reference.reshape(x.size, x.size), 2, 1e-4)  # row-major on both sides
    assert ok, why
    p = np.random.default_rng(1).normal(size=x.size)
    assert np.allclose(objective.hessp(x, p), H @ p, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(H).max()))
    if _has("jax"):
        jax = _jax()
        from jax.test_util import check_grads
        f = md.jax_function(case["f"], w, shapes)
        arrays = {k: jax.numpy.asarray(v) for k, v in values.items()}
        check_grads(lambda x: f(**dict(arrays, **{w: x})), (arrays[w],), order=2, modes=["rev"])
    if _has("torch"):
        import torch
        g = md.torch_function(case["f"], w, shapes)
        tensors = {k: torch.tensor(v) for k, v in values.items()}
        t = tensors[w].clone().requires_grad_()
        assert torch.autograd.gradgradcheck(lambda x: g(**dict(tensors, **{w: x})), (t,))


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---- JAX: arguments, jit, vmap, the refusal, sharding ------------------------------------------------

LOGISTIC = "sum(softplus(X @ w)) - y @ X @ w"
LOGISTIC_SHAPES = "X: n×p, w: p, y: n"


def _logistic_data(n: int = 40, p: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ rng.normal(size=p)))).astype(float)
    return X, y, rng.normal(size=p)


def _logistic_gradient(X, y, w):
    return X.T @ (1 / (1 + np.exp(-X @ w)) - y)


def test_jax_function_takes_positions_or_keywords_and_traces_under_jit_and_vmap():
    jax = _jax()
    X, y, w = _logistic_data()
    f = md.jax_function(LOGISTIC, "w", LOGISTIC_SHAPES)
    assert "custom_vjp" in f.source and "_f_rules" in f.source
    assert np.isclose(f(X, w, y), f(y=y, X=X, w=w))
    grad = jax.jit(jax.grad(f, argnums=1))
    assert np.allclose(grad(X, w, y), _logistic_gradient(X, y, w))
    ws = np.stack([w, w + 1, w - 2])
    batched = jax.vmap(jax.grad(f, argnums=1), in_axes=(None, 0, None))(X, ws, y)
    assert np.allclose(batched, [_logistic_gradient(X, y, v) for v in ws])
    per_example = jax.jit(jax.vmap(jax.grad(lambda x, w, t: f(x[None], w, t[None]), argnums=1), in_axes=(0, None, 0)))
    assert np.allclose(per_example(X, w, y).sum(axis=0), _logistic_gradient(X, y, w))


def test_jax_function_refuses_a_gradient_by_a_constant():
    jax = _jax()
    X, y, w = _logistic_data()
    f = md.jax_function(LOGISTIC, "w", LOGISTIC_SHAPES)
    with pytest.raises(ValueError, match="rules for w only.*X or y"):
        jax.grad(f, argnums=0)(X, w, y)


def test_jax_function_with_several_variables_and_a_matrix_output():
    jax = _jax()
    from jax.test_util import check_grads
    rng = np.random.default_rng(2)
    f = md.jax_function("tanh(X @ W + outer(ones(n), b))", ["W", "b"], "X: n×d, W: d×h, b: h")
    X, W, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    check_grads(lambda W, b: f(X, W, b), (W, b), order=2, modes=["rev"])
    assert f(X, W, b).shape == (5, 2)


SHARDED = textwrap.dedent('''
    import numpy as np, jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import matdiff as md
    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows, whole = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    rng = np.random.default_rng(0)
    n, p = 64, 5
    X, y, w = rng.normal(size=(n, p)), rng.uniform(size=n), rng.normal(size=p)
    f = md.jax_function("sum(softplus(X @ w)) - y @ X @ w", "w", "X: n×p, w: p, y: n")
    placed = dict(X=jax.device_put(X, rows), y=jax.device_put(y, rows), w=jax.device_put(w, whole))
    assert len(placed["X"].sharding.device_set) == 4
    args = (placed["X"], placed["w"], placed["y"])
    value, grad = jax.jit(jax.value_and_grad(f, argnums=1))(*args)
    assert np.allclose(grad, X.T @ (1 / (1 + np.exp(-X @ w)) - y), rtol=1e-10, atol=1e-10)
    assert np.isclose(value, np.logaddexp(0, X @ w).sum() - y @ X @ w)
    hessian = jax.jit(jax.jacrev(jax.grad(f, argnums=1), argnums=1))(*args)
    s = 1 / (1 + np.exp(-X @ w))
    assert np.allclose(hessian, X.T @ (X * (s * (1 - s))[:, None]))
    print("sharded ok")
''')


def test_jax_function_runs_jitted_on_arrays_sharded_over_four_devices():
    pytest.importorskip("jax")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "sharded ok" in done.stdout, done.stderr[-3000:]


# ---- PyTorch: numbers, double backward, torch.func, the refusal ---------------------------------------

def test_torch_function_double_backward_and_torch_func():
    torch = pytest.importorskip("torch")
    X, y, w = (torch.tensor(a) for a in _logistic_data())
    f = md.torch_function(LOGISTIC, "w", LOGISTIC_SHAPES)
    assert "torch.autograd.Function" in f.source
    H = torch.autograd.functional.hessian(lambda w: f(X, w, y), w)
    s = torch.sigmoid(X @ w)
    assert torch.allclose(H, X.T @ (X * (s * (1 - s))[:, None]))
    ws = torch.stack([w, w + 1])
    batched = torch.func.vmap(torch.func.grad(lambda w: f(X, w, y)))(ws)
    assert torch.allclose(batched[1], X.T @ (torch.sigmoid(X @ (w + 1)) - y))
    g = md.torch_function("lam * norm2(x) ** 2 + x @ A @ x", ["x", "lam"], "x: n, A: n×n, lam: scalar")
    x = torch.tensor(np.random.default_rng(0).normal(size=3), requires_grad=True)
    A = torch.eye(3, dtype=torch.float64)
    g(x, A, 0.5).backward()  # a number becomes a tensor of x's dtype
    assert torch.allclose(x.grad, 2 * 1.5 * x.detach())


def test_torch_function_refuses_a_gradient_by_a_constant():
    torch = pytest.importorskip("torch")
    X, y, w = (torch.tensor(a) for a in _logistic_data())
    f = md.torch_function(LOGISTIC, "w", LOGISTIC_SHAPES)
    with pytest.raises(ValueError, match="rules for w only"):
        f(X.requires_grad_(), w.requires_grad_(), y).backward()


def test_exports_refuse_what_they_cannot_take():
    with pytest.raises(md.NotSupportedError, match="declared as a function"):
        md.jax_function("sum(g(X @ W))", "W", "X: n×d, W: d×h, g: function")
    with pytest.raises(md.UnknownNameError, match="'V'"):
        md.torch_function("sum(W)", "V", "W: n×m")
    with pytest.raises(md.NotSupportedError, match="scalar"):
        md.objective("X @ w", "w", "X: n×p, w: p", {"X": np.ones((2, 3))})
    with pytest.raises(md.ValueBindingError, match="lacks y"):
        md.objective(LOGISTIC, "w", LOGISTIC_SHAPES, {"X": np.ones((2, 3))})
    with pytest.raises(md.UnknownNameError, match="'Z'"):
        md.objective(LOGISTIC, "w", LOGISTIC_SHAPES, {"X": np.ones((2, 3)), "y": np.ones(2), "Z": 1.0})


# ---- SciPy: the objective, minimize on the examples --------------------------------------------------

def test_objective_flattens_row_major_and_its_derivatives_agree_with_finite_differences():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    text = "norm2(tanh(X @ W) @ V - Y) ** 2 + 0.1 * norm2(W) ** 2 + s ** 2 * sum(V)"
    objective = md.objective(text, ["W", "s", "V"], "X: n×d, W: d×h, V: h×k, Y: n×k, s: scalar",
                             {"X": X, "Y": Y}, sizes={"h": 4})
    values = {"W": rng.normal(size=(3, 4)), "s": 0.7, "V": rng.normal(size=(4, 2))}
    x = objective.flatten(values)
    assert x.size == objective.size == 12 + 1 + 8 and np.array_equal(x[:12], values["W"].ravel())
    assert objective.unflatten(x)["V"].shape == (4, 2)
    eps = 1e-6
    steps = np.eye(x.size) * eps
    numeric_jac = np.array([(objective.fun(x + e) - objective.fun(x - e)) / (2 * eps) for e in steps])
    assert np.allclose(objective.jac(x), numeric_jac, rtol=1e-6, atol=1e-6)
    numeric_hess = np.array([(objective.jac(x + e) - objective.jac(x - e)) / (2 * eps) for e in steps])
    H = objective.hess(x)
    assert np.allclose(H, H.T) and np.allclose(H, numeric_hess, rtol=1e-5, atol=1e-5)
    p = rng.normal(size=x.size)
    assert np.allclose(objective.hessp(x, p), H @ p)


def test_objective_without_hessian_and_with_sizes_no_data_has():
    objective = md.objective("norm2(x - 1) ** 2", "x", "x: n", {}, sizes={"n": 3}, hessian=False)
    assert np.allclose(objective.jac(np.zeros(3)), -2 * np.ones(3))
    with pytest.raises(NotImplementedError, match="hessian=False"):
        objective.hess(np.zeros(3))
    with pytest.raises(md.ValueBindingError, match="sizes"):
        md.objective("norm2(x - 1) ** 2", "x", "x: n", {})


def _minimize_all(objective, x0):
    from scipy.optimize import minimize
    runs = {"Newton-CG": dict(hessp=objective.hessp, options={"xtol": 1e-10}),
            "trust-exact": dict(hess=objective.hess, options={"gtol": 1e-8}),
            # ftol: a relative reduction of f the line search can still see in float64; at 1e-15, a few
            # rounding errors of f, SciPy 1.17 stops at the optimum with "ABNORMAL" (a failed line search)
            "L-BFGS-B": dict(options={"gtol": 1e-8, "ftol": 1e-13})}
    results = {}
    for method, extra in runs.items():
        result = minimize(objective.fun, x0, jac=objective.jac, method=method, **extra)
        assert result.success, (method, result.message)
        results[method] = result.x
    return results


def test_scipy_minimize_fits_logistic_regression():
    pytest.importorskip("scipy")
    X, y, _ = _logistic_data(n=200, p=5, seed=4)
    objective = md.objective("sum(softplus(X @ w)) - y @ X @ w + 0.5 * lam * norm2(w) ** 2", "w",
                             "X: n×p, w: p, y: n, lam: scalar", {"X": X, "y": y, "lam": 1.0})
    results = _minimize_all(objective, np.zeros(5))
    for method, w in results.items():
        assert np.linalg.norm(objective.jac(w)) < 1e-5, method
        assert np.allclose(w, results["trust-exact"], atol=1e-5), method


GP = "0.5 * y @ solve(exp(a) * C + exp(b) * eye(n), y) + 0.5 * logdet(exp(a) * C + exp(b) * eye(n))"


def test_scipy_minimize_fits_a_gaussian_process_signal_variance_and_noise():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0, 10, size=60))
    C = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2)  # an RBF kernel of length scale 1
    K = 2.0 * C + 0.1 * np.eye(t.size)  # signal variance 2, noise 0.1
    y = np.linalg.cholesky(K) @ rng.normal(size=t.size)
    objective = md.objective(GP, ["a", "b"], "a: scalar, b: scalar, C: n×n spd, y: n", {"C": C, "y": y})
    results = _minimize_all(objective, np.zeros(2))
    for method, ab in results.items():
        assert np.linalg.norm(objective.jac(ab)) < 1e-5, method
        assert np.allclose(ab, results["trust-exact"], atol=1e-4), method
    signal, noise = np.exp(results["trust-exact"])
    assert 0.5 < signal < 8 and 0.02 < noise < 0.5  # near the truth, for 60 points


# ---- the command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("emit, module", [("custom_vjp", "jax"), ("autograd_function", "torch"),
                                          ("objective", "scipy")])
def test_code_emit_prints_source_that_runs(emit, module):
    pytest.importorskip(module)
    if module == "jax":
        _jax()
    result = CliRunner().invoke(app, ["code", LOGISTIC, "--wrt", "w", "--where", LOGISTIC_SHAPES, "--emit", emit])
    assert result.exit_code == 0, result.output
    namespace: dict = {}
    exec(compile(result.output, "<emitted>", "exec"), namespace)  # noqa: S102 - matdiff's own output
    X, y, w = _logistic_data()
    if emit == "objective":
        objective = namespace["Objective"](X, y)
        assert np.allclose(objective.jac(w), _logistic_gradient(X, y, w))
        assert objective.hess(w).shape == (4, 4)
    elif emit == "custom_vjp":
        import jax
        assert np.allclose(jax.grad(namespace["f"], argnums=1)(X, w, y), _logistic_gradient(X, y, w))
    else:
        import torch
        wt = torch.tensor(w, requires_grad=True)
        namespace["f"](torch.tensor(X), wt, torch.tensor(y)).backward()
        assert np.allclose(wt.grad.numpy(), _logistic_gradient(X, y, w))


def test_code_emit_refuses_options_it_does_not_take():
    result = CliRunner().invoke(app, ["code", LOGISTIC, "--wrt", "w", "--where", LOGISTIC_SHAPES,
                                      "--emit", "objective", "--hessian"])
    assert result.exit_code == 2 and "--hessian" in result.output
