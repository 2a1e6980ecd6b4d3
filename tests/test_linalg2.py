"""Linear algebra of the second edition: solve, matrix_power, pinv, cholesky, tril, triu, norm(x, 1).

Each operation through every output: the answers textbooks write (asserted as text), numeric checks of
first and second derivatives against central differences and JAX (`md.check`, at spd / well-conditioned
points), generated code in NumPy, JAX and PyTorch against matdiff's own evaluation, index forms evaluated
by einsum, every claim of `explain`, and the errors a user meets.
"""
from __future__ import annotations


import numpy as np
import pytest

import matdiff as md
from generated import call
from matdiff.ops import OPS
from matdiff.ops.registry import INDEXED_WHOLE

WHERE = ("A: n×n, B: n×m, K: n×n spd, C: n×n spd, S: n×n, X: n×n, M: n×m, T: m×2, P: 2×m, x: n, y: n, "
         "a: n, b: n, mu: n, t: pos, lam: pos")


def point(seed: int = 0, n: int = 3, m: int = 4) -> dict:
    """Values at which every function here is defined and well conditioned: A and S near 3 I, K and C spd,
    T tall and P wide of full rank, X small (its powers stay moderate), x away from 0 (|x| for the 1-norm)."""
    rng = np.random.default_rng(seed)

    def spd(k):
        c = rng.normal(size=(k, k))
        return c @ c.T / k + np.eye(k)

    return {"A": rng.normal(size=(n, n)) + 3 * np.eye(n), "B": rng.normal(size=(n, m)), "K": spd(n), "C": spd(n),
            "S": rng.normal(size=(n, n)) + 3 * np.eye(n), "X": 0.5 * rng.normal(size=(n, n)),
            "M": rng.normal(size=(n, m)), "T": rng.normal(size=(m, 2)), "P": rng.normal(size=(2, m)),
            "x": rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.5, 1.5, size=n), "y": rng.normal(size=n),
            "a": rng.normal(size=n), "b": rng.normal(size=n), "mu": rng.normal(size=n),
            "t": np.asarray(rng.uniform(0.5, 2.0)), "lam": np.asarray(rng.uniform(0.5, 2.0))}


def evaluates_as(text: str, expected: str, values: dict | None = None) -> bool:
    values = values or point()
    return np.allclose(md.parse(text, WHERE).evaluate(values), md.parse(expected, WHERE).evaluate(values),
                       rtol=1e-10, atol=1e-12)


# ---- the answers textbooks write -----------------------------------------------------------------------


def test_solve_reads_as_the_textbook_writes_it():
    # y^T K^-1 y (Matrix Cookbook eqs. 61, 81), written with solve; never through inv
    assert md.gradient("y @ solve(K, y)", "y", WHERE).text == "2 * solve(K, y)"
    assert md.gradient("y @ solve(K, y)", "K", WHERE).text == "-outer(solve(K, y), solve(K, y))"
    assert md.gradient("y @ solve(S, y)", "S", WHERE).text == "-outer(solve(S.T, y), solve(S, y))"  # S unstructured
    assert md.gradient("0.5 * (x - mu) @ solve(K, x - mu) + 0.5 * logdet(K)", "mu", WHERE).text == \
        "-solve(K, x - mu)"
    # Giles (2008): C = A^-1 B, backprop to A and to B
    assert md.vjp("solve(A, B)", "A", WHERE, cotangent="G").text == "-solve(A.T, G) @ solve(A, B).T"
    assert md.vjp("solve(A, B)", "B", WHERE, cotangent="G").text == "solve(A.T, G)"
    assert md.vjp("solve(A, x)", "A", WHERE, cotangent="g").text == "-outer(solve(A.T, g), solve(A, x))"
    # the Jacobian of A^-1 b by b is A^-1
    assert md.derivative("solve(A, x)", "x", WHERE).text == "inv(A)"


def test_gaussian_process_likelihood_by_the_kernel():
    """Rasmussen & Williams eq. 5.9: (alpha alpha^T - K^-1) / 2, alpha = K^-1 y."""
    g = md.gradient("-0.5 * y @ solve(K, y) - 0.5 * logdet(K)", "K", WHERE)
    assert evaluates_as(g.text, "0.5 * (outer(solve(K, y), solve(K, y)) - inv(K))")
    d = md.derivative("-0.5 * y @ solve(t * C + eye(n), y) - 0.5 * logdet(t * C + eye(n))", "t", WHERE)
    assert evaluates_as(d.text, "0.5 * tr((outer(solve(t * C + eye(n), y), solve(t * C + eye(n), y)) "
                                "- inv(t * C + eye(n))) @ C)")


def test_matrix_power_reads_as_the_textbook_writes_it():
    # d tr(X^k)/dX = k (X^(k-1))^T (Cookbook eq. 121)
    assert md.gradient("tr(matrix_power(X, 3))", "X", WHERE).text == "3 * matrix_power(X, 2).T"
    assert md.gradient("tr(matrix_power(X, 1))", "X", WHERE).text == "eye(n)"
    # d a^T X^n b/dX = sum_r (X^r)^T a b^T (X^(n-1-r))^T (Cookbook eq. 90)
    g = md.gradient("a @ matrix_power(X, 3) @ b", "X", WHERE)
    assert evaluates_as(g.text, "outer(a, b) @ matrix_power(X, 2).T + X.T @ outer(a, b) @ X.T "
                                "+ matrix_power(X, 2).T @ outer(a, b)")
    # powers of one base merge; a negative power is a power of the inverse, as NumPy computes it
    assert md.parse("X @ matrix_power(X, 2)", WHERE).text == "matrix_power(X, 3)"
    assert md.parse("matrix_power(matrix_power(X, 2), 3)", WHERE).text == "matrix_power(X, 6)"
    assert md.parse("matrix_power(X, -2)", WHERE).text == "matrix_power(inv(X), 2)"
    assert md.parse("matrix_power(X, 0)", WHERE).text == "eye(n)"
    assert md.parse("matrix_power(X.T, 2)", WHERE).text == "matrix_power(X, 2).T"


def test_pinv_reads_as_the_textbook_writes_it():
    # d log det(A^T A)/dA = 2 (A^+)^T for A of full column rank (Cookbook eq. 55)
    assert md.gradient("logdet(T.T @ T)", "T", WHERE).text == "2 * pinv(T).T"
    assert md.gradient("logdet(P @ P.T)", "P", WHERE).text == "2 * pinv(P).T"
    # Golub & Pereyra (1973) for full column rank
    v = md.vjp("pinv(T)", "T", WHERE, cotangent="G")
    values = dict(point(), G=np.random.default_rng(5).normal(size=(2, 4)))
    expected = md.parse("-pinv(T).T @ G @ pinv(T).T + (eye(m) - T @ pinv(T)) @ G.T @ pinv(T) @ pinv(T).T",
                        WHERE + ", G: 2×m")
    np.testing.assert_allclose(v.evaluate(values), expected.evaluate(values), rtol=1e-10)
    # (A^T A)^-1 A^T is A^+ where A^T A is invertible; a square pinv of full rank is the inverse
    assert md.parse("inv(T.T @ T) @ T.T", WHERE).text == "pinv(T)"
    assert md.parse("pinv(T) @ T", WHERE).text == "eye(2)"
    assert md.parse("P.T @ inv(P @ P.T)", WHERE).text == "pinv(P)"
    assert md.parse("P @ pinv(P)", WHERE).text == "eye(2)"
    assert md.parse("pinv(A)", WHERE).text == "inv(A)"


def test_cholesky_reads_as_the_textbook_writes_it():
    # NumPy reads the lower triangle of K: the gradient by an unstructured K is lower-triangular (Murray 2016)
    assert md.gradient("sum(log(diag(cholesky(S))))", "S", WHERE).text == "tril(inv(S)) - 0.5 * diag(diag(inv(S)))"
    assert md.gradient("sum(log(diag(cholesky(K))))", "K", WHERE).text == "0.5 * inv(K)"  # K spd: log det(K) / 2
    # log det(X^T X) = 2 sum log diag(chol(X^T X)) (GPML alg. 2.1): 2 (X^+)^T
    assert md.gradient("2 * sum(log(diag(cholesky(T.T @ T))))", "T", WHERE).text == "2 * pinv(T).T"
    assert md.derivative("sum(log(diag(cholesky(K + t * eye(n)))))", "t", WHERE).text == \
        "0.5 * tr(inv(K + t * eye(n)))"
    assert md.gradient("tr(cholesky(M @ M.T + eye(n)))", "M", WHERE).text == \
        "inv(cholesky(M @ M.T + eye(n))).T @ diag(diag(cholesky(M @ M.T + eye(n)))) @ " \
        "inv(cholesky(M @ M.T + eye(n))) @ M"
    # the factor of a symmetric matrix times its transpose is the matrix (not so where NumPy reads a triangle)
    assert md.parse("cholesky(K) @ cholesky(K).T", WHERE).text == "K"
    assert md.parse("cholesky(S) @ cholesky(S).T", WHERE).text == "cholesky(S) @ cholesky(S).T"


def test_cholesky_gradient_by_an_unstructured_matrix_is_lower_triangular():
    values = point()
    rng = np.random.default_rng(7)
    values["S"] = values["K"]  # an spd value for the unstructured S
    values["W"] = rng.normal(size=(3, 3))
    where = WHERE + ", W: n×n"
    g = md.gradient("sum(cholesky(S) * W)", "S", where).evaluate(values)
    assert np.allclose(np.triu(g, 1), 0.0)
    report = md.check("sum(cholesky(S) * W)", "S", where, values=values, order=2)
    assert report.ok, str(report)


def test_triangles_and_norms_read_as_the_textbook_writes_them():
    assert md.gradient("sum(tril(X) * X)", "X", WHERE).text == "2 * tril(X)"
    assert md.vjp("tril(X)", "X", WHERE, cotangent="G").text == "tril(G)"
    assert md.vjp("triu(M)", "M", WHERE, cotangent="G").text == "triu(G)"
    assert md.parse("tril(tril(X))", WHERE).text == "tril(X)"
    assert md.parse("triu(tril(X))", WHERE).text == "diag(diag(X))"
    assert md.parse("tril(cholesky(K))", WHERE).text == "cholesky(K)"
    assert md.parse("tril(X.T)", WHERE).text == "triu(X).T"
    assert md.parse("tr(tril(X))", WHERE).text == "tr(X)"
    # a triangle and its mirror image hold the diagonal twice: for a symmetric K the whole of K
    assert md.parse("tril(K) + tril(K).T - diag(diag(K))", WHERE).text == "K"
    assert md.parse("tril(S) + tril(S).T - diag(diag(S))", WHERE).text == "tril(S) + tril(S).T - diag(diag(S))"
    # the 1-norm: sign(x) wherever no x_i is 0; the lasso (Tibshirani 1996)
    assert md.gradient("norm(x, 1)", "x", WHERE).text == "sign(x)"
    assert md.parse("norm(x, 1)", WHERE).text == "norm(x, 1)"
    assert md.parse("norm(-2 * x, 1)", WHERE).text == "2 * norm(x, 1)"
    lasso = md.gradient("norm2(M.T @ x - y @ B) ** 2 + lam * norm(x, 1)", "x", WHERE)
    assert evaluates_as(lasso.text, "2 * M @ (M.T @ x - y @ B) + lam * sign(x)")
    # the 2-norm and the Frobenius norm are norm2, whichever spelling
    for text in ("norm(x)", "norm(x, 2)", "np.linalg.norm(x, ord=2)", "norm(x, None)"):
        assert md.parse(text, WHERE).text == "norm2(x)"
    assert md.parse("norm(M, 'fro')", WHERE).text == "norm2(M)"
    assert md.parse("norm(M)", WHERE).text == "norm2(M)"


SIMPLIFIED = [  # each rewrite the constructors make, against NumPy on the text as written
    ("tril(cholesky(K) + 1)", lambda v: np.tril(np.linalg.cholesky(v["K"]) + 1)),
    ("triu(2 * cholesky(K))", lambda v: np.triu(2 * np.linalg.cholesky(v["K"]))),
    ("triu(cholesky(K) @ tril(X))", lambda v: np.triu(np.linalg.cholesky(v["K"]) @ np.tril(v["X"]))),
    ("tril(inv(cholesky(K)).T)", lambda v: np.tril(np.linalg.inv(np.linalg.cholesky(v["K"])).T)),
    ("cholesky(4 * K)", lambda v: np.linalg.cholesky(4 * v["K"])),
    ("cholesky(diag(exp(x)))", lambda v: np.linalg.cholesky(np.diag(np.exp(v["x"])))),
    ("matrix_power(-2 * X, 3)", lambda v: np.linalg.matrix_power(-2 * v["X"], 3)),
    ("matrix_power(X, -2)", lambda v: np.linalg.matrix_power(v["X"], -2)),
    ("X.T @ matrix_power(X.T, 2)", lambda v: v["X"].T @ np.linalg.matrix_power(v["X"].T, 2)),
    ("solve(2 * A, 3 * B / t)", lambda v: np.linalg.solve(2 * v["A"], 3 * v["B"] / v["t"])),
    ("solve(inv(A), B)", lambda v: np.linalg.solve(np.linalg.inv(v["A"]), v["B"])),
    ("T @ inv(T.T @ T)", lambda v: v["T"] @ np.linalg.inv(v["T"].T @ v["T"])),
    ("inv(P @ P.T) @ P", lambda v: np.linalg.inv(v["P"] @ v["P"].T) @ v["P"]),
    ("pinv(pinv(T))", lambda v: np.linalg.pinv(np.linalg.pinv(v["T"]))),
    ("pinv(3 * T.T)", lambda v: np.linalg.pinv(3 * v["T"].T)),
    ("inv(cholesky(K)).T @ inv(cholesky(K))", lambda v: np.linalg.inv(v["K"])),
    ("norm(-3 * x, 1)", lambda v: np.linalg.norm(-3 * v["x"], 1)),
]


@pytest.mark.parametrize("text, numpy_value", SIMPLIFIED, ids=[t for t, _ in SIMPLIFIED])
def test_simplifications_keep_numpy_values(text, numpy_value):
    values = point(3)
    np.testing.assert_allclose(md.parse(text, WHERE).evaluate(values), numpy_value(values), rtol=1e-9, atol=1e-12)


# ---- numeric checks: first and second derivatives against finite differences and JAX ----------------------

CHECKED = [
    ("y @ solve(K, y)", "y"), ("y @ solve(K, y)", "K"), ("y @ solve(A, y)", "A"), ("sum(solve(A, B) ** 2)", "A"),
    ("sum(solve(A, B) ** 2)", "B"), ("x @ solve(A.T @ A + eye(n), x)", "A"),
    ("-0.5 * y @ solve(t * C + eye(n), y) - 0.5 * logdet(t * C + eye(n))", "t"),
    ("tr(matrix_power(X, 3))", "X"), ("a @ matrix_power(X, 4) @ b", "X"), ("tr(matrix_power(A, -2))", "A"),
    ("sum(pinv(T) ** 2)", "T"), ("sum(pinv(P) ** 2)", "P"), ("logdet(T.T @ T)", "T"),
    ("sum(log(diag(cholesky(K))))", "K"), ("2 * sum(log(diag(cholesky(T.T @ T))))", "T"),
    ("sum(log(diag(cholesky(K + t * eye(n)))))", "t"), ("tr(cholesky(M @ M.T + eye(n)))", "M"),
    ("sum(cholesky(K) * C)", "K"), ("y @ cholesky(M @ M.T + K) @ y", "M"),
    ("sum(tril(X) * X) + sum(triu(X @ X) ** 2)", "X"), ("norm(x, 1) * norm(x) + norm(M.T @ x, 1)", "x"),
]


@pytest.mark.parametrize("f, wrt", CHECKED)
def test_first_and_second_derivatives_agree_with_finite_differences_and_jax(f, wrt):
    values = point()
    for order in (1, 2):
        report = md.check(f, wrt, WHERE, order=order, values=values)
        assert report.ok, str(report)


def test_the_hessian_of_a_solve_is_symmetric_and_checked():
    h = md.hessian("y @ solve(K, y)", "y", WHERE)
    assert h.text == "2 * inv(K)"


# ---- generated code in NumPy, JAX and PyTorch ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("f, wrt", CHECKED)
def test_generated_code_agrees_with_evaluation(f, wrt, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    values = point()
    fn = md.compile(f, [wrt], WHERE, backend=backend)
    value, gradient = call(fn, backend, values, jit=False)
    np.testing.assert_allclose(value, md.parse(f, WHERE).evaluate(values), rtol=1e-9)
    np.testing.assert_allclose(gradient, md.derivative(f, wrt, WHERE).evaluate(values), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_a_solve_is_generated_as_a_solve(backend):
    source = md.codegen("y @ solve(K, y) + sum(solve(A, B))", ["y", "A", "B"], WHERE, backend=backend)
    assert "solve(" in source and "inv(" not in source


def test_jax_and_torch_factor_what_numpy_reads():
    """np.linalg.cholesky reads the lower triangle; JAX would symmetrise, so it is given that triangle mirrored."""
    source = md.codegen("sum(log(diag(cholesky(S))))", ["S"], WHERE, backend="jax")
    assert "jnp.tril(S) + jnp.tril(S, -1).T" in source


# ---- index notation ---------------------------------------------------------------------------------------

JACOBIANS = [("solve(A, x)", "x"), ("solve(A, x)", "A"), ("solve(A, B)", "B"), ("tril(X)", "X"), ("triu(M)", "M"),
             ("matrix_power(X, 3)", "X"), ("pinv(T)", "T"), ("cholesky(K)", "K"), ("tril(X) @ x", "x")]


@pytest.mark.parametrize("f, wrt", JACOBIANS + [("norm(x, 1)", "x"), ("y @ solve(K, y)", "y")])
def test_index_form_evaluates_to_the_derivative(f, wrt):
    d = md.derivative(f, wrt, WHERE)
    values = point(2)
    assert d.index.text
    np.testing.assert_allclose(d.index.evaluate(values), d.evaluate(values), rtol=1e-9, atol=1e-11)


def test_index_rules_read_as_the_textbook_writes_them():
    assert md.derivative("solve(A, x)", "x", WHERE).index.text == "∂solve(A, x)[i]/∂x[k] = inv(A)[i,k]"
    assert md.derivative("tril(X)", "X", WHERE).index.text == \
        "∂tril(X)[i,j]/∂X[k,l] = tril(ones(n, n))[i,j] δ[i,k] δ[j,l]"
    assert md.derivative("norm(x, 1)", "x", WHERE).index.text == "∂norm(x, 1)/∂x[k] = sign(x)[k]"
    # matrix_power, pinv and cholesky are not linear: in a differential their values are known arrays,
    # indexed as a whole (X²[i,j], chol(K)[i,j]), as inv and det are
    for name in ("matrix_power", "pinv", "cholesky"):
        assert OPS[name].index is INDEXED_WHOLE


# ---- explain: every claim holds ----------------------------------------------------------------------------

EXPLAINED = [("y @ solve(K, y)", "y", "linear solve"), ("sum(solve(A, B))", "A", "linear solve"),
             ("tr(matrix_power(X, 3))", "X", "matrix power"), ("sum(pinv(T))", "T", "pseudo-inverse"),
             ("sum(log(diag(cholesky(K))))", "K", "Cholesky"), ("tr(cholesky(M @ M.T + eye(n)))", "M", "Cholesky"),
             ("sum(tril(X) * X)", "X", "lower triangle"), ("norm(x, 1)", "x", "1-norm"),
             ("solve(A, x)", "x", "linear solve"), ("y @ tril(M)", "M", "lower triangle")]


@pytest.mark.parametrize("f, wrt, words", EXPLAINED)
def test_every_step_of_its_derivation_holds(f, wrt, words):
    d = md.explain(f, wrt, WHERE)
    failures = [(step.rule, error) for step, error in d.verify(None, 0) if not error <= 1e-6]
    assert not failures
    assert any(words in step.rule for step in d.steps)


# ---- spellings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["solve(A, B)", "matrix_power(X, 3)", "pinv(T)", "cholesky(K)", "tril(X)",
                                  "triu(M)", "norm(x, 1)"])
def test_spellings_read_back_and_render(text):
    e = md.parse(text, WHERE)
    assert md.parse(e.text, WHERE).node is e.node
    assert e.unicode and e.latex and r"\left(" not in e.latex.split("\\left(")[0][-6:]


def test_unicode_and_latex_read_as_mathematics():
    assert md.parse("solve(K, y)", WHERE).unicode == "(K⁻¹ y)"
    assert md.parse("matrix_power(X, 3)", WHERE).unicode == "X³"
    assert md.parse("matrix_power(X, 3)", WHERE).latex == "{X}^{3}"
    assert md.parse("pinv(T)", WHERE).unicode == "T⁺"
    assert md.parse("norm(x, 1)", WHERE).unicode == "‖x‖₁"
    assert md.gradient("y @ solve(S, y)", "S", WHERE).unicode == "−(Sᵀ⁻¹ y) (S⁻¹ y)ᵀ"


# ---- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, says", [
    ("solve(M, y)", ["solve", "M", "n×m", "square"]),
    ("solve(A, b @ B)", ["solve", "A", "n×n", "b @ B", "m"]),
    ("solve(A, T)", ["solve", "A", "T", "m×2"]),
    ("solve(A, t)", ["solve", "t", "scalar"]),
    ("matrix_power(M, 2)", ["matrix_power", "M", "n×m", "square"]),
    ("cholesky(M)", ["cholesky", "M", "n×m", "square"]),
    ("pinv(x)", ["pinv", "x", "vector"]),
    ("tril(x)", ["tril", "x", "vector"]),
    ("norm(M, 2)", ["norm", "M", "n×m", "spectral norm", "not part of the language", "norm(M)"]),
    ("np.linalg.norm(X, ord=2)", ["X", "spectral norm"]),
    ("norm(M, 1)", ["M", "column sum", "sum(abs(M))"]),
    ("norm(x, 'fro')", ["x", "vector", "'fro'"]),
    ("norm(t, 1)", ["t", "scalar", "abs(t)"]),
])
def test_bad_input_is_refused_by_name_and_shape(text, says):
    with pytest.raises(md.ShapeError) as caught:
        md.parse(text, WHERE)
    message = str(caught.value)
    assert all(s in message for s in says), message


@pytest.mark.parametrize("text, says", [
    ("matrix_power(X, 2.5)", "matrix_power takes an integer power n"),
    ("matrix_power(X, n)", "matrix_power takes an integer power n"),
    ("matrix_power(X)", "matrix_power needs an integer power n"),
    ("norm(x, 3)", "the orders of norm in the language are"),
    ("norm(x, np.inf)", "the orders of norm in the language are"),
])
def test_literal_parameters_that_numpy_refuses_are_refused(text, says):
    with pytest.raises(md.ParseError, match=says) as caught:
        md.parse(text, WHERE)
    assert "^" in str(caught.value)  # the caret points at the text


def test_a_non_integer_power_is_refused_through_the_constructor_too():
    from matdiff.ops import matrix_power
    x = md.parse("X", WHERE).node
    with pytest.raises(md.MatdiffError, match="2.5"):
        matrix_power(x, 2.5)
