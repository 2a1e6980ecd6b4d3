"""Index (Einstein) notation for derivatives: `Derivative.index` (matdiff.calculus.index).

The seed examples are checked as exact text; every case of the corpus, and random expressions,
are checked numerically: the einsum evaluation of the index form must equal the full tensor of
`Derivative.evaluate` and central finite differences from the corpus's own evaluator (check.py).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff.calculus import differential, vec_form
from matdiff.calculus.index import Delta, index_form, index_form_of
from matdiff.ops import var, var_from_spec

import corpus

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _load_check():
    path = CORPUS / "check.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("corpus_check_for_index", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load_check()
needs_corpus = pytest.mark.skipif(check is None, reason=f"the corpus is not at {CORPUS}")


def index_text(expr: str, wrt, shapes: str, order: int = 1) -> str:
    return md.derivative(expr, wrt, shapes, order=order).index.text


def random_values(shapes: dict, sizes: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=tuple(sizes.get(d, d) for d in dims)) for name, dims in shapes.items()}


# ---- the seed examples, as text -------------------------------------------------------------------


def test_matrix_product_by_left_factor():
    assert index_text("W @ X", "W", "W: m×q, X: q×n") == "∂(W @ X)[i,j]/∂W[k,l] = δ[i,k] X[l,j]"


def test_matrix_product_by_right_factor():
    assert index_text("W @ X", "X", "W: m×q, X: q×n") == "∂(W @ X)[i,j]/∂X[k,l] = W[i,k] δ[j,l]"


def test_matrix_vector_product_by_matrix():
    assert index_text("W @ x", "W", "W: n×m, x: m") == "∂(W @ x)[i]/∂W[k,l] = δ[i,k] x[l]"


def test_sandwich_by_middle():
    assert index_text("A @ X @ B", "X", "A: n×p, X: p×r, B: r×m") == "∂(A @ X @ B)[i,j]/∂X[k,l] = A[i,k] B[l,j]"


def test_trace_of_sandwich():
    assert index_text("tr(A @ X @ B)", "X", "A: n×p, X: p×r, B: r×n") == "∂tr(A @ X @ B)/∂X[k,l] = Σ_q A[q,k] B[l,q]"


def test_quadratic_form_hessian():
    assert index_text("x @ A @ x", "x", "x: n, A: n×n", order=2) == "∂²(x @ A @ x)/∂x[i]∂x[k] = A[i,k] + A[k,i]"


def test_logdet():
    assert index_text("logdet(X)", "X", "X: n×n") == "∂logdet(X)/∂X[k,l] = inv(X)[l,k]"


def test_inverse():
    assert index_text("inv(X)", "X", "X: n×n") == "∂inv(X)[i,j]/∂X[k,l] = -inv(X)[i,k] inv(X)[l,j]"


def test_named_function_and_spellings():
    d = md.derivative("W @ X", "W", "W: m×q, X: q×n")
    named = index_form(d, name="D")
    assert named.text == "∂D[i,j]/∂W[k,l] = δ[i,k] X[l,j]"
    assert named.latex == r"\frac{\partial D_{ij}}{\partial W_{kl}} = \delta_{ik} X_{lj}"
    assert d.index.unicode == "∂(W X)ᵢⱼ/∂Wₖₗ = δᵢₖ Xₗⱼ"
    assert d.index.free_indices == ("i", "j", "k", "l")
    assert d.index.shape_text == "a 4th-order tensor of shape m×n×m×q"
    ((coefficient, subscripts, operands),) = d.index.einsum
    assert (coefficient, subscripts) == (1.0, "ik,lj->ijkl")
    assert isinstance(operands[0], Delta) and str(operands[0]) == "delta"
    assert str(operands[1]) == "X"


def test_scalar_function_is_f_when_long():
    text = index_text("norm2(tanh(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k")
    # no index letter is a dimension's name: W is p×k, so W[r,s] summed over q
    assert text == "∂f/∂W[r,s] = 2 Σ_q X[q,r] (tanh(X @ W) - Y)[q,s] (1 - tanh(X @ W) ** 2)[q,s]"


# ---- more rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr, wrt, shapes, order, expected", [
    ("det(X)", "X", "X: n×n", 1, "∂det(X)/∂X[k,l] = det(X) inv(X)[l,k]"),
    ("tr(X)", "X", "X: n×n", 1, "∂tr(X)/∂X[k,l] = δ[k,l]"),
    ("X.T", "X", "X: n×m", 1, "∂(X.T)[i,j]/∂X[k,l] = δ[i,l] δ[j,k]"),
    ("x * y", "x", "x: n, y: n", 1, "∂(x * y)[i]/∂x[k] = y[i] δ[i,k]"),
    ("X + b", "b", "X: n×m, b: m", 1, "∂(X + b)[i,j]/∂b[k] = δ[j,k]"),
    ("sum(X, axis=0)", "X", "X: n×m", 1, "∂sum(X, axis=0)[i]/∂X[k,l] = δ[i,l]"),
    ("outer(a, x)", "x", "a: m, x: n", 1, "∂outer(a, x)[i,j]/∂x[k] = a[i] δ[j,k]"),
    ("diag(x)", "x", "x: n", 1, "∂diag(x)[i,j]/∂x[k] = δ[i,j] δ[i,k]"),
    ("diag(X)", "X", "X: n×n", 1, "∂diag(X)[i]/∂X[k,l] = δ[i,k] δ[i,l]"),
    ("X / s", "s", "X: n×m, s: scalar", 1, "∂(X / s)[i,j]/∂s = -X[i,j] / s^2"),
    ("sum(sqrt(X))", "X", "X: n×m pos", 1, "∂sum(sqrt(X))/∂X[k,l] = 0.5 / sqrt(X)[k,l]"),
    ("softmax(x)", "x", "x: n", 1, "∂softmax(x)[i]/∂x[k] = softmax(x)[i] δ[i,k] - softmax(x)[i] softmax(x)[k]"),
    ("norm2(x)", "x", "x: n", 2, "∂²norm2(x)/∂x[i]∂x[k] = δ[i,k] / norm2(x) - x[i] x[k] / norm2(x)^3"),
    ("(x @ x) ** 2", "x", "x: n", 2, "∂²((x @ x) ** 2)/∂x[i]∂x[k] = 8 x[i] x[k] + 4 Σ_p x[p]^2 δ[i,k]"),
    ("tr(X @ X)", "X", "X: n×n", 2, "∂²tr(X @ X)/∂X[i,j]∂X[k,l] = 2 δ[i,l] δ[j,k]"),
    ("logdet(X)", "X", "X: n×n", 2, "∂²logdet(X)/∂X[i,j]∂X[k,l] = -inv(X)[l,i] inv(X)[j,k]"),
    ("sum(x ** 4)", "x", "x: n", 3, "∂³sum(x ** 4)/∂x[i]∂x[j]∂x[k] = 24 x[i] δ[i,j] δ[i,k]"),
    ("vec(X)", "X", "X: n×m", 1, "∂vec(X)[i]/∂X[k,l] = δ[i,(l,k)]"),
    ("kron(A, X)", "X", "A: 2×3, X: n×m", 1, "∂kron(A, X)[i,j]/∂X[k,l] = Σ_{p,q} A[p,q] δ[i,(p,k)] δ[j,(q,l)]"),
    ("tr(A)", "X", "A: n×n, X: n×n", 1, "∂tr(A)/∂X[k,l] = 0"),
])
def test_index_rules(expr, wrt, shapes, order, expected):
    d = md.derivative(expr, wrt, shapes, order=order)
    assert d.index.text == expected
    values = random_values({n: s.shape for n, s in d.variables.items()}, {"n": 3, "m": 4, "p": 2})
    for name, spec in d.variables.items():
        if "pos" in spec.properties:
            values[name] = np.abs(values[name]) + 0.5
    np.testing.assert_allclose(d.index.evaluate(values), d.evaluate(values), rtol=1e-10, atol=1e-12)


def test_mixed_second_derivative():
    d = md.derivative("tr(W1 @ W2)", ["W1", "W2"], "W1: n×m, W2: m×n")
    assert d.index.text == "∂²tr(W1 @ W2)/∂W1[i,j]∂W2[k,l] = δ[i,l] δ[j,k]"
    assert d.index.shape_text == "a 4th-order tensor of shape n×m×m×n"


def test_orders_and_shapes_are_stated():
    assert md.derivative("2 * s", "s", "s: scalar").index.shape_text == "a scalar (a 0th-order tensor)"
    assert md.derivative("a @ x", "x", "a: n, x: n").index.shape_text == "a vector (a 1st-order tensor) of length n"
    assert md.derivative("A @ x", "x", "A: m×n, x: n").index.shape_text == \
        "a matrix (a 2nd-order tensor) of shape m×n"
    assert md.derivative("W @ x", "W", "W: n×m, x: m").index.shape_text == "a 3rd-order tensor of shape n×n×m"


def test_latex_and_unicode_of_a_sum_and_a_quotient():
    d = md.derivative("norm2(x)", "x", "x: n", order=2)
    assert d.index.latex == (r"\frac{\partial^2 \left\lVert x \right\rVert}{\partial x_{i} \, \partial x_{k}} = "
                             r"\frac{\delta_{ik}}{\left\lVert x \right\rVert} - "
                             r"\frac{x_{i} x_{k}}{\left\lVert x \right\rVert^{3}}")
    assert d.index.unicode == "∂²‖x‖/∂xᵢ∂xₖ = δᵢₖ / ‖x‖ − xᵢ xₖ / ‖x‖³"
    t = md.derivative("tr(A @ X @ B)", "X", "A: n×p, X: p×r, B: r×n").index
    assert t.latex == r"\frac{\partial \operatorname{tr}\left(A X B\right)}{\partial X_{kl}} = \sum_{q} A_{qk} B_{lq}"
    assert t.unicode == "∂tr(A X B)/∂X[k,l] = Σ_q A[q,k] B[l,q]"  # p is a dimension; q has no subscript letter


@pytest.mark.parametrize("convention, expected", [
    ("sym", "∂tr(A @ S)/∂S[k,l] = 0.5 A[k,l] + 0.5 A[l,k]"),
    ("cookbook", "∂tr(A @ S)/∂S[k,l] = A[k,l] + A[l,k] - A[l,k] δ[k,l]"),
    ("none", "∂tr(A @ S)/∂S[k,l] = A[l,k]"),
])
def test_symmetric_variable_follows_the_gradient_convention(convention, expected):
    d = md.derivative("tr(A @ S)", "S", "A: n×n, S: n×n sym", symmetric=convention)
    assert d.index.text == expected
    values = random_values({"A": ("n", "n"), "S": ("n", "n")}, {"n": 4})
    values["S"] = values["S"] + values["S"].T
    np.testing.assert_allclose(d.index.evaluate(values), d.evaluate(values), rtol=1e-12)


def test_backpropagation_rule_has_no_index_form():
    v = md.vjp("W @ X", "W", "W: m×q, X: q×n")
    with pytest.raises(md.NotSupportedError):
        v.index


@needs_corpus
def test_kron_of_vectors_where_the_matrix_routes_refuse():
    # the gradient and vec-form routes do not take kron with a vector operand; index notation does
    shapes = {"x": (2,), "y": ("k",)}
    e = md.parse("kron(x, y)", shapes)
    form = index_form_of(e.node, var_from_spec(e.variables["x"]), e.variables)
    assert form.text == "∂kron(x, y)[i]/∂x[r] = Σ_p y[p] δ[i,(r,p)]"  # k is y's length
    values = random_values(shapes, {"k": 3})
    reference = check.jacobian_fd(lambda x: np.kron(x, values["y"]), values["x"])
    np.testing.assert_allclose(form.evaluate(values), reference, rtol=1e-6, atol=1e-8)


# ---- the corpus, numerically -------------------------------------------------------------------------


def _corpus_cases() -> list:
    if check is None:
        return []
    found = check.load_cases(sorted((CORPUS / "cases").glob("*.toml")))
    return [c for c in found if c["kind"] == "case"] + corpus.extra_cases("case")


@needs_corpus
@pytest.mark.parametrize("case", _corpus_cases(), ids=lambda c: c["id"])
def test_corpus_case_index_form_evaluates_to_the_derivative(case):
    shapes, props = check.parse_vars(case["vars"])  # as check.py calls matdiff: shapes without properties
    d = md.derivative(case["f"], case["wrt"], shapes, order=case.get("order", 1))
    form = d.index
    assert form.text.count(" = ") == 1 and len(form.free_indices) == d.base.ndim + d.by.ndim
    sizes = check.bind_dims(shapes)
    rtol = 1e-4 if case.get("order", 1) == 2 else 1e-5
    for seed in (0, 1):
        values = check.random_point(shapes, props, sizes, np.random.default_rng(seed))
        result = form.evaluate(values)
        full = d.evaluate(values)
        assert result.shape == full.shape
        np.testing.assert_allclose(result, full, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(full).max()))
        reference, out_ndim = check.reference_for(case, values, sizes)
        ok, why = check.agrees(result, reference, out_ndim, rtol)
        assert ok and why == "full", why


# ---- random expressions (tests/strategies.py, where present) --------------------------------------

_STRATEGIES = Path(__file__).resolve().parent / "strategies.py"

if _STRATEGIES.is_file():
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    sys.path.insert(0, str(_STRATEGIES.parent))
    import strategies  # noqa: E402

    def _declared_and_point(shapes: dict, seed: int = 0):
        """The declarations without properties (a sym/spd variable is then differentiated entry by
        entry, as finite differences do), and a point that has the properties (spd stays spd)."""
        plain = {k: tuple(d for d in v if d not in check.PROPERTIES) for k, v in shapes.items()}
        props = {k: {d for d in v if d in check.PROPERTIES} for k, v in shapes.items()}
        sizes = check.bind_dims(plain)
        return plain, sizes, check.random_point(plain, props, sizes, np.random.default_rng(seed))

    def _vec_reading(base, by, variables, values, shape):
        """The full tensor that vec_form reads off the same differential the index form was built from."""
        d_x = var("∂" + by.params[0], by.shape)
        jacobian = vec_form(differential(base, by, d_x), d_x)
        value = md.Expression(jacobian, variables).evaluate(values)
        nf = base.ndim
        tensor = value.reshape(tuple(reversed(shape[:nf])) + tuple(reversed(shape[nf:])))
        return tensor.transpose(list(range(nf))[::-1] + [nf + a for a in range(len(shape) - nf)][::-1])

    def _close(a, b, rtol):
        scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
        return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=rtol * scale)

    @needs_corpus
    @settings(max_examples=strategies.examples(60), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategies.expressions(), st.data())
    def test_random_index_forms_evaluate_to_the_derivative(example, data):
        """The index route and the matrix routes (gradient, vec form) give the same tensor."""
        text, shapes = example
        assume(shapes)
        wrt = data.draw(st.sampled_from(sorted(shapes)))
        order = data.draw(st.sampled_from((1, 1, 2)))
        declared, sizes, values = _declared_and_point(shapes)
        try:  # what the engine refuses or cannot build is judged by its own tests
            d = md.derivative(text, wrt, declared, order=order)
        except md.MatdiffError:
            assume(False)
        with np.errstate(all="ignore"):
            try:
                full = d.evaluate(values)
            except (md.ValueBindingError, ValueError):  # e.g. a vec form of the wrong size: an engine bug
                assume(False)
            assume(np.all(np.isfinite(full)))
            result = d.index.evaluate(values)

            if not _close(result, full, 1e-6):
                # A gradient comes from reverse mode, the index form from the differential: where they
                # differ, the index form must still be right, by finite differences of the very node
                # differentiated, or at least read the differential it was given as vec_form reads it
                # (then the differential itself is at fault, an engine bug judged by the engine's tests).
                def f_of(x):
                    return md.parse(text, declared).evaluate(dict(values, **{wrt: x}))

                reference = (check.hessian_fd if order == 2 else check.jacobian_fd)(f_of, values[wrt])
                reading = _vec_reading(d.base, d.by, d.variables, values, result.shape)
                assert _close(result, reference, 1e-4) or _close(result, reading, 1e-6), \
                    f"index form wrong for {text} by {wrt}: {d.index.text}"
                assume(False)

    @needs_corpus
    @settings(max_examples=strategies.examples(40), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategies.expressions(), st.data())
    def test_random_index_forms_match_finite_differences(example, data):
        """Against check.py's own evaluator, including what the matrix routes refuse (kron of vectors)."""
        text, shapes = example
        assume(shapes)
        wrt = data.draw(st.sampled_from(sorted(shapes)))
        declared, sizes, values = _declared_and_point(shapes)
        try:
            e = md.parse(text, declared)
        except md.MatdiffError:
            assume(False)
        form = index_form_of(e.node, var_from_spec(e.variables[wrt]), e.variables)
        env = dict(values, **sizes)

        def f_of(x):
            return check.evaluate(text, dict(env, **{wrt: x}))

        try:
            reference = check.jacobian_fd(f_of, values[wrt])
            meaning = check.evaluate(text, env)
        except (FloatingPointError, ValueError, np.linalg.LinAlgError):
            assume(False)
        assume(np.all(np.isfinite(reference)))
        with np.errstate(all="ignore"):
            # what parsing and simplification build is judged elsewhere; here only the index route
            assume(_close(e.evaluate(values), meaning, 1e-9))
            try:  # the rules' own singularities (d det X = det X tr(X⁻¹ dX) at a singular X)
                result = form.evaluate(values)
            except md.ValueBindingError:
                assume(False)
            assume(np.all(np.isfinite(result)))
        if not _close(result, reference, 1e-4):
            # right for the differential it was given? then the differential is at fault (engine bug)
            try:
                reading = _vec_reading(form.base, form.by, e.variables, values, result.shape)
            except md.MatdiffError:
                reading = None
            assert reading is not None and _close(result, reading, 1e-6), f"{text} by {wrt}: {form.text}"
