"""Generated code (NumPy, JAX, PyTorch) against finite differences, and the numeric checks of `md.check`.

Every public corpus case is compiled in each backend and its last output (gradient, Jacobian, vec
form, Hessian or backpropagation rule) is compared with central differences of the case's function
by the corpus's own checker, which trusts nothing of matdiff. Then: the structure the generator
exploits (diag, kron, commutation, outer, solve, Gram products) against the engine's evaluation, the
shape checks, the names that must be refused, JAX under `jit` and sharding, PyTorch on CUDA, `md.check`.
"""
from __future__ import annotations

import functools
import math
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff.numeric_check import random_point
from matdiff.codegen import PATTERNS, codegen, compile as compile_code
from matdiff.ops import OPS
from matdiff.ops.registry import Code
from generated import call as run, jax_x64 as _jax

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _load_checker():
    path = CORPUS / "check.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("corpus_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _load_checker()
# the shared corpus and our own held-out identities (tests/cases), judged alike
CASE_FILES = sorted((CORPUS / "cases").glob("*.toml")) + sorted((Path(__file__).parent / "cases").glob("*.toml"))
CASES = [c for c in corpus.load_cases(CASE_FILES) if c["kind"] != "bad"] if corpus else []


@functools.lru_cache(maxsize=None)
def reference(case_id: str):
    """(values, sizes, finite-difference derivative, its output ndim, value of f) for a corpus case."""
    case = next(c for c in CASES if c["id"] == case_id)
    _, _, sizes, values = corpus.setup(case, 0)
    derivative, out_ndim = corpus.reference_for(case, values, sizes)
    value = corpus.evaluate(case["f"], dict(values, **sizes))
    return values, sizes, derivative, out_ndim, value


# ---- the corpus, in every backend ---------------------------------------------------------------------

BACKENDS = ["numpy", "jax", "torch"]


@pytest.mark.skipif(corpus is None, reason="the shared corpus is not present")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case_compiles_and_agrees_with_finite_differences(case, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    order = case.get("order", 1)
    cotangent = case.get("cotangent", "G") if case["kind"] == "vjp" else None
    fn = compile_code(case["f"], [case["wrt"]], corpus.project_shapes(case), backend=backend,
                      hessian=order == 2, cotangent=cotangent)
    values, sizes, derivative, out_ndim, value = reference(case["id"])
    results = run(fn, backend, values, sizes)
    assert np.allclose(results[0], value, rtol=1e-9, atol=1e-9), "the value of f"
    ok, why = corpus.agrees(results[-1], derivative, out_ndim, 1e-4 if order == 2 else 1e-5)
    assert ok, f"{case['id']} ({backend}): {why}\n{fn.source}"


# ---- structure exploited by the lowering ----------------------------------------------------------------

SHAPES = ("A: n×p, B: q×r, X: p×r, M: p*r × k, N: k × n*q, v: p*r, u: n*q, c: n, d: p, P: n×n, b: n, "
          "Q: p×p, C: n×n, a: p, W: n×p")
SIZES = {"n": 3, "p": 4, "q": 2, "r": 5, "k": 3}

STRUCTURE = [  # expression, text the NumPy code must contain, text it must not contain
    ("kron(A, B) @ v", "v.reshape(p, r)", "np.kron"),
    ("u @ kron(A, B)", "u.reshape(n, q)", "np.kron"),
    ("kron(A, B) @ M", "oe.contract(", "np.kron"),
    ("N @ kron(A, B)", "oe.contract(", "np.kron"),
    ("kron(A, B) @ vec(X.T)", "_chain3(B, X.T, A.T)", "np.kron"),  # the engine forms vec(B X^T A^T)
    ("A @ X @ B.T", "_chain3(A, X, B.T)", "multi_dot"),  # A @ (X @ B.T) here: 64 multiplications, not 90
    ("Q @ A.T @ P @ C", "np.linalg.multi_dot([Q, A.T, P, C])", "_chain3"),  # four or more: multi_dot's order
    ("commutation(p, r) @ vec(X)", "X.reshape(-1)", "np.eye"),
    ("commutation(p, r) @ M", ".transpose(1, 0, 2)", "np.eye"),
    ("N @ commutation(n, q)", ".transpose(0, 2, 1)", "np.eye"),
    ("diag(c) @ A", "c[:, None] * A", "np.diag"),
    ("A @ diag(d)", "A * d", "np.diag"),
    ("A @ diag(d) @ Q", "d[:, None] * Q", "np.diag"),
    ("b @ P @ diag(c) @ b", "c * b", "np.diag"),
    ("tr(P @ C @ P)", "np.vdot(", "np.trace"),
    ("diag(P @ C)", "np.einsum('ij,ji->i', P, C)", "np.diag"),
    ("inv(P) @ b", "np.linalg.solve(P, b)", "np.linalg.inv"),
    ("b @ inv(P)", "np.linalg.solve(P.T, b)", "np.linalg.inv"),
    ("A @ outer(d, a) @ Q", "np.outer(A @ d, Q.T @ a)", "@ np.outer"),
    ("W.T @ diag(exp(c)) @ W", "_gram(W, np.exp(c))", "np.diag"),  # c ≥ 0: the syrk form where it pays
    ("W.T @ diag(c) @ W", "W.T @ (c[:, None] * W)", "np.diag"),  # sign unknown: one product
    ("norm2(A) ** 2", "np.vdot(A, A)", "np.linalg.norm"),
]


def _point(expression: md.Expression, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = random_point(expression, SIZES, rng)
    values["P"] = values["P"] + 3 * np.eye(SIZES["n"])  # comfortably invertible
    return values


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text, present, absent", STRUCTURE, ids=[s[0] for s in STRUCTURE])
def test_structure_is_exploited_and_exact(text, present, absent, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    expression = md.parse(text, SHAPES)
    if backend == "numpy":
        source = codegen(expression, [], backend="numpy")
        assert present in source and absent not in source, source
    values = _point(expression)
    fn = compile_code(expression, [], backend=backend)
    (result,) = run(fn, backend, values, SIZES)
    assert np.allclose(result, expression.evaluate(values, sizes=SIZES), rtol=1e-10, atol=1e-10)


def test_shared_subexpressions_are_computed_once():
    source = codegen("norm2(tanh(X @ W) - Y) ** 2", ["W"], "X: n×p, W: p×k, Y: n×k").split('"""')[2]
    assert source.count("np.tanh(X @ W)") == 1
    assert "t0 = np.tanh(X @ W)" in source


def test_logistic_hessian_is_a_gram_product_without_diag():
    source = codegen("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", hessian=True)
    assert "np.diag" not in source and "_gram(X, " in source  # (X ⊙ √c)ᵀ(X ⊙ √c), BLAS syrk, where it pays
    fn = compile_code("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", hessian=True, gradients=False)
    rng = np.random.default_rng(0)
    for n, p in [(5, 3), (64, 256), (300, 100)]:  # Xᵀ(c ⊙ X), then syrk for the bigger two
        x, w, y = rng.normal(size=(n, p)), rng.normal(size=p) / np.sqrt(p), rng.uniform(size=n)
        s = 1 / (1 + np.exp(-x @ w))
        assert np.allclose(fn(x, w, y)[1], x.T @ (x * (s * (1 - s))[:, None]), rtol=1e-12, atol=1e-12)
    jax_source = codegen("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", "jax", True)
    assert "[:, None] * X" in jax_source and "jnp.diag" not in jax_source


@pytest.mark.parametrize("backend", BACKENDS)
def test_gelu_and_its_derivative_share_one_normal_cdf(backend):
    # gelu(u) = u Φ(u), gelu'(u) = Φ(u) + u φ(u) (Hendrycks & Gimpel): Φ computed once, by scipy's ndtr; PyTorch has
    # its own gelu, and g ⊙ gelu'(u) in one call, gelu_backward
    if backend != "numpy":
        pytest.importorskip(backend)
    text, shapes = "norm2(gelu(X @ W1) @ W2 - Y) ** 2", "X: n×d, W1: d×h, W2: h×k, Y: n×k"
    body = codegen(text, ["W1", "W2"], shapes, backend).split('"""')[2]
    if backend == "torch":
        assert "torch.ops.aten.gelu_backward(" in body and "erf" not in body and "ndtr" not in body
    else:  # NumPy: scipy's ndtr; JAX: ½ erfc(-u/√2), whose exp(-u²/2) XLA shares with φ(u)
        assert body.count("ndtr(" if backend == "numpy" else "erfc(") == 1
    if backend == "jax":  # erfc itself is the shared part (a shared ½ erfc, XLA computes in three fusions)
        assert "= jax.scipy.special.erfc(" in body and "0.5 * jax.scipy.special.erfc" not in body
    rng = np.random.default_rng(3)
    X, W1, W2, Y = rng.normal(size=(7, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 2)), rng.normal(size=(7, 2))
    z = X @ W1
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    r = (z * cdf) @ W2 - Y
    by_hand = [np.sum(r * r), X.T @ ((2 * r @ W2.T) * (cdf + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi))),
               (z * cdf).T @ (2 * r)]
    found = run(compile_code(text, ["W1", "W2"], shapes, backend), backend, dict(X=X, W1=W1, W2=W2, Y=Y))
    for got, want in zip(found, by_hand):
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_pytorch_softmax_over_one_axis_is_its_fused_kernel_and_over_several_the_formula():
    # torch.softmax over 2000×2000 takes 6.9 ms where exp(x - logsumexp(x)) took 48.7 ms; it takes one dim only
    torch = pytest.importorskip("torch")
    one = compile_code("sum(softmax(X, axis=1) * Y) + sum(log_softmax(X, axis=0) * Y)", [], "X: n×m, Y: n×m",
                       backend="torch", gradients=False)
    assert "torch.softmax(X, dim=1)" in one.source and "torch.log_softmax(X, dim=0)" in one.source
    both = compile_code("sum(softmax(X, axis=None) * Y)", [], "X: n×m, Y: n×m", backend="torch", gradients=False)
    assert "torch.logsumexp(X, dim=(0, 1), keepdim=True)" in both.source
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    for fn, want in ((one, np.sum(np.exp(x) / np.exp(x).sum(1, keepdims=True) * y)
                      + np.sum((x - np.log(np.exp(x).sum(0, keepdims=True))) * y)),
                     (both, np.sum(np.exp(x) / np.exp(x).sum() * y))):
        (value,) = fn(torch.from_numpy(x), torch.from_numpy(y))
        assert np.isclose(float(value), want, rtol=1e-12)


def test_sigmoid_code_keeps_its_relative_accuracy_far_below_zero():
    # ½(1 + tanh(x/2)), four passes, loses every digit of σ(-20) ≈ 2e-9 but the first eight; scipy's expit, one, none
    fn = compile_code("sum(sigmoid(x) * silu(x))", "x", "x: n")
    assert "scipy.special.expit(x)" in fn.source and "tanh" not in fn.source
    x = np.random.default_rng(0).normal(scale=8.0, size=5000)
    s = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    value, gradient = fn(x)
    assert np.isclose(value, np.sum(s * x * s), rtol=1e-13)
    assert np.allclose(gradient, s * (1 - s) * x * s + s * s * (1 + x * (1 - s)), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_factor_outputs_share_is_applied_once(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    text, shapes = "norm2(tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2", "X: n×d, W1: d×h, b1: h, W2: h×k, b2: k, Y: n×k"
    wrt = ["W1", "b1", "W2", "b2"]
    body = codegen(text, wrt, shapes, backend).split('"""')[2]
    # g = 2 r once, as backpropagation by hand: not 2 * (X.T @ ...), 2 * ....sum(...) for each gradient
    assert body.count("2.0 *") == 1 and "grad_W2 = t0.T @ t2" in body.replace("torch.", "").replace("jnp.", "")
    expression = md.parse(text, shapes)
    rng = np.random.default_rng(1)
    values = random_point(expression, {"n": 5, "d": 3, "h": 4, "k": 2}, rng)
    found = run(compile_code(text, wrt, shapes, backend), backend, values, {})
    for w, got in zip(wrt, found[1:]):
        assert np.allclose(got, md.derivative(expression, w).evaluate(values), rtol=1e-10, atol=1e-12)
    # where the shared term is bigger than the outputs (r n×m, the gradients n×k and m×k) each keeps its factor
    body = codegen("norm2(M - U @ V.T) ** 2", ["U", "V"], "M: n×m, U: n×k, V: m×k").split('"""')[2]
    assert "grad_U = -2.0 * (t0 @ V)" in body and "grad_V = -2.0 * (t0.T @ U)" in body


def test_symmetric_hessian_computes_the_kronecker_product_once():
    source = codegen("tr(X.T @ A @ X @ B)", ["X"], "X: n×m, A: n×n, B: m×m", hessian=True)
    assert source.count("np.kron") == 1 and ".T" in source.split("hess_X =")[1]


def test_transposed_subexpression_is_reused():
    body = codegen("norm2(M - U @ V.T) ** 2", ["U", "V"], "M: n×m, U: n×k, V: m×k").split('"""')[2]
    assert body.count("U @ V.T") == 1 and "V @ U.T" not in body and "t0.T @ U" in body


def test_docstring_carries_the_formulas_and_shapes():
    fn = compile_code("tr(A @ X @ B)", ["X"], {"A": ("n", "p"), "X": ("p", "q"), "B": ("q", "n")})
    assert "∂f/∂X" in fn.__doc__ and "A.T @ B.T" in fn.__doc__ and "X: p×q" in fn.__doc__


def test_arguments_are_the_used_variables_in_declaration_order():
    fn = compile_code("sum(W @ x) + lam", ["x"], "lam: scalar, unused: n, W: m×n, x: n")
    assert list(inspect.signature(fn).parameters) == ["lam", "W", "x"]


def test_hessian_alone_and_vjp_forms():
    fn = compile_code("x @ A @ x", ["x"], "x: n, A: n×n", hessian=True, gradients=False)
    rng = np.random.default_rng(0)
    x, a = rng.normal(size=3), rng.normal(size=(3, 3))
    value, hess = fn(x, a)
    assert np.allclose(hess, a + a.T)
    rule = compile_code("tanh(W @ X)", ["W"], "W: m×q, X: q×n", cotangent="G")
    assert list(inspect.signature(rule).parameters) == ["W", "X", "G"]
    w, xm, g = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    _, vjp_w = rule(w, xm, g)
    assert np.allclose(vjp_w, (g * (1 - np.tanh(w @ xm) ** 2)) @ xm.T)


def test_constant_derivatives_are_arrays():
    fn = compile_code("3 * lam + sum(x)", ["lam"], "lam: scalar, x: n", hessian=True)
    value, grad, hess = fn(np.float64(2.0), np.ones(3))
    assert isinstance(grad, np.ndarray) and grad == 3.0 and hess == 0.0


# ---- shapes and names -------------------------------------------------------------------------------

def test_shapes_are_bound_and_checked():
    fn = compile_code("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n")
    x, w, y = np.ones((5, 3)), np.ones(3), np.ones(5)
    fn(x, w, y)
    with pytest.raises(AssertionError, match=r"w has shape \(4,\), expected p"):
        fn(x, np.ones(4), y)
    with pytest.raises(AssertionError, match="X must be 2-D"):
        fn(np.ones(5), w, y)
    with pytest.raises(AssertionError, match=r"y has shape \(4,\), expected n"):
        fn(x, w, np.ones(4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_checks_cost_one_line_or_are_left_out(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    text, shapes = "norm2(tanh(X @ W1 + b1) @ W2 - Y) ** 2 + lam * sum(b1)", "X: n×d, W1: d×h, b1: h, W2: h×k, Y: n×k, lam: scalar"
    checked = codegen(text, ["W1"], shapes, backend)
    # every shape unpacked at once, the asserts only where the dimensions disagree
    assert "(n, d), (d_W1, h), (h_b1,), (h_W2, k), (n_Y, k_Y) = (X.shape, W1.shape" in checked
    assert checked.index("if not agree:") < checked.index("assert ")
    unchecked = codegen(text, ["W1"], shapes, backend, check_shapes=False)
    assert "assert" not in unchecked and "agree" not in unchecked
    rng = np.random.default_rng(0)
    values = dict(X=rng.normal(size=(5, 3)), W1=rng.normal(size=(3, 4)), b1=rng.normal(size=4),
                  W2=rng.normal(size=(4, 2)), Y=rng.normal(size=(5, 2)), lam=np.float64(0.5))
    with_check, without = (compile_code(text, ["W1"], shapes, backend, check_shapes=c) for c in (True, False))
    for a, b in zip(run(with_check, backend, values, {}), run(without, backend, values, {})):
        assert np.allclose(a, b)
    if backend == "numpy":
        for name, bad in [("Y", np.ones((5, 3))), ("b1", np.ones(3)), ("W2", np.ones(4)), ("lam", np.ones(2))]:
            with pytest.raises(AssertionError, match=f"{name} (has shape|must be)"):
                with_check(**dict(values, **{name: bad}))
    # a dimension the code reads (a reshape, ones(n)) is still bound without the check
    source = codegen("sum(X) * n", ["X"], "X: n×m", backend, check_shapes=False)
    assert "n, m = X.shape" in source


@pytest.mark.parametrize("bad", ["__import__", "os.system", "np", "import", "print", "x; import os", "é"])
def test_unsafe_variable_names_are_refused(bad):
    with pytest.raises(md.MatdiffError) as error:
        codegen("sum(x)", ["x"], {"x": ("n",), bad: ("n",)})
    assert repr(bad) in str(error.value)


def test_unsafe_variable_name_in_an_expression_is_refused():
    with pytest.raises(md.MatdiffError, match="__import__"):
        md.compile("sum(__import__)", ["__import__"], {"__import__": ("n",)})


@pytest.mark.parametrize("bad", ["f(): pass\nimport os\ndef g", "os.system", "__init__", "lambda"])
def test_unsafe_function_names_are_refused(bad):
    with pytest.raises(md.MatdiffError):
        codegen("sum(x)", ["x"], "x: n", name=bad)


def test_source_embeds_no_user_text_unescaped():
    source = codegen("sum(x) / 3.0000000000000004 + 1e-300", ["x"], "x: n")
    assert "3.0000000000000004" in source and "1e-300" in source  # numbers by repr, exactly
    compile(source, "<test>", "exec")


def test_namespace_holds_only_the_backend_modules():
    fn = compile_code("tr(kron(A, B) @ M @ N)", [], "A: n×n, B: m×m, M: n*m × k, N: k × n*m")
    assert set(fn.__globals__) - {"__builtins__", "f"} <= {"np", "oe"}


def test_unknown_backend_and_variable():
    with pytest.raises(md.MatdiffError, match="backend"):
        codegen("sum(x)", ["x"], "x: n", backend="tensorflow")
    with pytest.raises(md.MatdiffError, match="'y'"):
        codegen("sum(x)", ["y"], "x: n")


def test_every_spelling_parses_in_every_backend():
    for what, entry in PATTERNS.items():
        assert any(entry[1:]), what
        for text in filter(None, entry[1:]):  # "": the backend has no kernel for it (layer norm's, outside PyTorch)
            compile(text, what, "eval")
    for name, op in OPS.items():
        for backend in BACKENDS:
            text = getattr(op.code, backend) if isinstance(op.code, Code) else None
            if text is not None:
                compile(text, name, "eval")


def test_patterns_are_no_operations():
    """A spelling is looked up by name among the patterns, then the operations: no name may be both."""
    assert not set(PATTERNS) & set(OPS)


# ---- JAX: jit and sharding; PyTorch: device placement ----------------------------------------------

MLP = "norm2(tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2"
MLP_SHAPES = "X: n×d, W1: d×h, b1: h, W2: h×k, b2: k, Y: n×k"

SHARDED = textwrap.dedent('''
    import numpy as np, jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import matdiff as md
    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows, whole = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    rng = np.random.default_rng(0)
    n, d, h, k = 64, 5, 6, 3
    values = dict(X=rng.normal(size=(n, d)), W1=rng.normal(size=(d, h)), b1=rng.normal(size=h),
                  W2=rng.normal(size=(h, k)), b2=rng.normal(size=k), Y=rng.normal(size=(n, k)))
    wrt = ["W1", "b1", "W2", "b2"]
    reference = md.compile(MLP, wrt, SHAPES)(**values)
    f = jax.jit(md.compile(MLP, wrt, SHAPES, backend="jax"))
    placed = {k: jax.device_put(v, rows if k in ("X", "Y") else whole) for k, v in values.items()}
    assert len(placed["X"].sharding.device_set) == 4
    results = f(**placed)
    for got, want in zip(results, reference):
        assert np.allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)
    logistic = jax.jit(md.compile("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n",
                                  backend="jax", hessian=True))
    X = jax.device_put(values["X"], rows)
    y = jax.device_put(rng.uniform(size=n), rows)
    w = jax.device_put(rng.normal(size=d), whole)
    _, g, H = logistic(X, w, y)
    s = 1 / (1 + np.exp(-values["X"] @ np.asarray(w)))
    assert np.allclose(np.asarray(H), values["X"].T @ (values["X"] * (s * (1 - s))[:, None]))
    print("sharded ok")
''')


def test_jax_code_runs_jitted_on_arrays_sharded_over_four_devices():
    pytest.importorskip("jax")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    script = f"MLP = {MLP!r}\nSHAPES = {MLP_SHAPES!r}\n" + SHARDED
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "sharded ok" in done.stdout, done.stderr[-3000:]


def test_torch_code_is_device_agnostic():
    for text, shapes in [("tr(X @ X)", "X: n×n"), ("logdet(X)", "X: n×n"), ("sum(exp(x))", "x: n"),
                         ("3 * lam + sum(x)", "lam: scalar, x: n")]:
        source = codegen(text, [shapes.split(":")[0]], shapes, backend="torch", hessian=True)
        assert "torch.tensor(" not in source
        for creation in ("torch.eye(", "torch.ones(", "torch.zeros(", "torch.full(", "torch.arange("):
            for call in source.split(creation)[1:]:
                assert "device=" in call.split("\n")[0], source


def test_torch_code_runs_on_cuda_when_present():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    for text in ("tr(X @ X)", "logdet(X)", "sum(exp(X)) + norm2(X) ** 2"):
        fn = compile_code(text, ["X"], "X: n×n", backend="torch", hessian=True)
        on_gpu = fn(torch.as_tensor(x, device="cuda"))
        on_cpu = fn(torch.as_tensor(x))
        for g, c in zip(on_gpu, on_cpu):
            assert g.device.type == "cuda" and np.allclose(g.cpu().numpy(), c.numpy())


def test_jax_code_is_pure_and_jittable_for_structured_hessians():
    jax = _jax()
    fn = jax.jit(compile_code("logdet(X)", ["X"], "X: n×n", backend="jax", hessian=True))
    x = np.eye(3) * 2 + 0.1
    _, grad, hess = fn(jax.numpy.asarray(x))
    reference = md.derivative("logdet(X)", "X", "X: n×n", order=2).evaluate_as_written({"X": x})
    assert np.allclose(np.asarray(hess), reference)


# ---- md.check ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, wrt, shapes, order", [
    ("tr(A @ X @ B)", ["X"], "A: n×p, X: p×q, B: q×n", 1),
    ("A @ X @ B", ["X"], "A: n×p, X: p×q, B: q×m", 1),
    ("sum(softplus(X @ w)) - y @ X @ w", ["w"], "X: n×p, w: p, y: n", 2),
    ("0.5 * logdet(S) + 0.5 * (x - mu) @ inv(S) @ (x - mu)", ["mu", "S"], "x: n, mu: n, S: n×n spd", 1),
    ("logdet(X)", ["X"], "X: n×n spd", 2),
    ("norm2(tanh(X @ W1 + b1) @ W2 - Y) ** 2", ["W1", "b1"], "X: n×d, W1: d×h, b1: h, W2: h×k, Y: n×k", 1),
])
def test_check_reports_small_errors(text, wrt, shapes, order):
    report = md.check(text, wrt, shapes, order=order)
    assert report.ok, str(report)
    methods = {r.method.split()[0] for r in report.rows}
    assert "central" in methods
    if importlib.util.find_spec("jax"):
        assert any(m.startswith("jax.") for m in methods)
    text_report = str(report)
    assert "within tolerance" in text_report and all(w in text_report for w in wrt)


def test_check_catches_a_wrong_derivative(monkeypatch):
    check_module = sys.modules["matdiff.numeric_check"]
    real = check_module.derivative

    def off_by_a_transpose(expr, name, **kw):
        d = real(expr, name, **kw)
        d.evaluate = lambda values, sizes=None: real(expr, name, **kw).evaluate(values, sizes).T
        return d

    monkeypatch.setattr(check_module, "derivative", off_by_a_transpose)
    report = md.check("tr(A @ X)", "X", "A: n×n, X: n×n")
    assert not report.ok and "FAILED" in str(report)


def test_check_with_given_values_and_without_jax():
    x = np.array([1.0, 2.0, 3.0])
    report = md.check("x @ x", "x", "x: n", values={"x": x}, use_jax=False)
    assert report.ok and report.sizes == {"n": 3} and len(report.rows) == 1


def test_a_vjp_computes_its_value_after_the_backward_pass_and_returns_it_first():
    # computed first, f would be one more large array alive through the whole backward pass
    text = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
    shapes = "X: n×d, gamma: d, beta: d"
    fn = compile_code(text, ["X", "gamma", "beta"], shapes, cotangent="G")
    body = fn.source.split('"""')[2]
    assert body.index("value =") > max(body.index(f"vjp_{w} =") for w in ("X", "gamma", "beta"))
    assert "return (value, vjp_X, vjp_gamma, vjp_beta)" in body
    expression = md.parse(text, shapes)
    rng = np.random.default_rng(3)
    values = random_point(expression, {"n": 4, "d": 5}, rng)
    G = rng.normal(size=(4, 5))
    value, *pulled = fn(values["X"], values["gamma"], values["beta"], G)
    assert np.allclose(value, expression.evaluate(values), rtol=1e-12)
    for w, got in zip(("X", "gamma", "beta"), pulled):
        assert np.allclose(got, md.vjp(expression, w).evaluate({**values, "G": G}), rtol=1e-10, atol=1e-12)
    # a scalar f, or one equal to another output, keeps its place
    assert compile_code("x @ A @ x", ["x"], "x: n, A: n×n").source.split('"""')[2].index("value =") < \
        compile_code("x @ A @ x", ["x"], "x: n, A: n×n").source.split('"""')[2].index("grad_x =")


@pytest.mark.parametrize("n", [7, 1000, 1001, 1200])
def test_the_jax_hessian_of_a_quadratic_form_is_a_plus_a_transpose_at_tiled_and_plain_sizes(n):
    # under XLA a + a.T is summed over square tiles where n has a good tile size (1000, 1200: 40) and plainly
    # otherwise (7; 1001 has none): the same sums, so exactly NumPy's
    pytest.importorskip("jax")
    fn = compile_code("x @ A @ x", ["x"], "x: n, A: n×n", backend="jax", hessian=True)
    assert "_plus_transpose(A)" in fn.source
    rng = np.random.default_rng(n)
    A, x = rng.normal(size=(n, n)), rng.normal(size=n)
    value, gradient, hessian = run(fn, "jax", {"x": x, "A": A})
    assert np.array_equal(np.asarray(hessian), A + A.T)
    assert np.allclose(gradient, (A + A.T) @ x, rtol=1e-12) and np.isclose(value, x @ A @ x, rtol=1e-12)
