"""Every simplification of the smart constructors is an identity.

Each row: an expression as a user may write it, the canonical form matdiff builds for it, and the
declarations. The test checks the printed canonical form, and that its value equals the value of
the original text computed by the corpus's independent evaluator (no simplification there).
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff as md

import corpus

SHAPES = ("A: n×n, B: n×n, C: n×n, X: n×m, Y: n×m, Z: m×m, P: n×n spd, S: n×n sym, "
          "x: n, y: n, u: m, v: m, s: scalar, t: scalar, w: p, K: p×p, q: n pos")

IDENTITIES = [
    # transposes
    ("X.T.T", "X"),
    ("(A @ X).T", "X.T @ A.T"),
    ("(A + B).T", "A.T + B.T"),
    ("(2 * A).T", "2 * A.T"),
    ("S.T", "S"),
    ("inv(S).T", "inv(S)"),
    ("(X.T @ A @ X).T", "X.T @ A.T @ X"),
    ("(X.T @ S @ X).T", "X.T @ S @ X"),
    ("outer(x, y).T", "outer(y, x)"),
    ("x.T", "x"),
    ("commutation(n, m).T", "commutation(m, n)"),
    # sums
    ("X + X", "2 * X"),
    ("X - X + Y", "Y"),
    ("X + 0 * Y", "X"),
    ("A @ X + A.T @ X", "(A + A.T) @ X"),
    ("X @ Z + X @ Z.T", "X @ (Z + Z.T)"),
    ("A @ B @ C @ x - 2 * P @ B @ C @ x", "(A - 2 * P) @ B @ C @ x"),  # the whole shared run at once
    ("B @ C @ A @ x + B @ C @ y", "B @ C @ (A @ x + y)"),
    ("-y + x", "x - y"),
    ("A.T + A", "A + A.T"),
    ("s * A + s * B", "s * (A + B)"),
    ("outer(x, u) - outer(y, u)", "outer(x - y, u)"),
    ("-y * (1 - sigmoid(x)) + (1 - y) * sigmoid(x)", "sigmoid(x) - y"),
    # products
    ("1 * X", "X"),
    ("X * 2", "2 * X"),
    ("2 * (3 * X)", "6 * X"),
    ("x * x", "x ** 2"),
    ("x * x ** 2", "x ** 3"),
    ("-(-X)", "X"),
    ("X * ones(n, m)", "X"),
    ("G * (1 / Y)".replace("G", "X"), "X / Y"),
    ("(x ** 2) ** 3", "x ** 6"),
    ("X ** 1", "X"),
    # matrix products
    ("eye(n) @ X", "X"),
    ("X @ eye(m)", "X"),
    ("(2 * A) @ (s * X)", "2 * s * A @ X"),
    ("A @ inv(A)", "eye(n)"),
    ("inv(A) @ A @ X", "X"),
    ("A.T @ inv(A).T @ X", "X"),
    ("A.T @ x", "x @ A"),  # one node for both spellings; the shorter is printed
    ("(X / s) @ Z", "X @ Z / s"),
    ("kron(A, Z) @ kron(B, Z)", "kron(A @ B, Z @ Z)"),
    ("commutation(n, m) @ commutation(m, n)", "eye(m * n)"),
    ("kron(A, Z) @ vec(X.T)", "vec(Z @ X.T @ A.T)"),          # (P ⊗ Q) vec(V) = vec(Q V Pᵀ)
    ("outer(x, vec(X)) @ kron(Z, A)", "outer(x, vec(A.T @ X @ Z))"),
    ("kron(Z, A) @ vec(X)", "vec(A @ X @ Z.T)"),
    ("X / (2 * s)", "0.5 * X / s"),
    ("(2 * s ** 2) ** 2", "4 * s ** 4"),
    ("A @ x / (x @ A @ x) + x @ A / (x @ A @ x)", "(A + A.T) @ x / (x @ A @ x)"),
    ("A @ kron(u, eye(n))", "kron(u, A)"),                   # M (aᵀ ⊗ I) = aᵀ ⊗ M
    ("B @ kron(eye(n), u)", "kron(B, u)"),
    ("kron(u, eye(n)).T @ diag(x)", "kron(u, diag(x)).T"),
    ("kron(outer(u, ones(1)), eye(n))", "kron(u, eye(n)).T"),   # a vector as a column
    ("kron(Z, A) @ vec(X.T)", "kron(Z, A) @ vec(X.T)"),  # vec(Xᵀ) has the length, not the shape, to apply
    ("outer(A @ x, u)", "A @ outer(x, u)"),
    ("outer(x, Z @ u)", "outer(x, u) @ Z.T"),
    # inverses and determinants
    ("inv(inv(A))", "A"),
    ("inv(A.T)", "inv(A).T"),
    ("inv(A @ B)", "inv(B) @ inv(A)"),
    ("inv(2 * A)", "0.5 * inv(A)"),
    ("det(A.T)", "det(A)"),
    ("logdet(P.T)", "logdet(P)"),
    ("det(eye(n))", "1"),
    # traces and sums
    ("tr(A.T)", "tr(A)"),
    ("tr(A + B)", "tr(A) + tr(B)"),
    ("tr(3 * A)", "3 * tr(A)"),
    ("tr(outer(x, y))", "x @ y"),
    ("diag(outer(x, y))", "x * y"),
    ("sum(eye(n), axis=0)", "ones(n)"),
    ("sum(eye(n))", "n"),
    ("outer(x, ones(m)) * X", "diag(x) @ X"),                # column broadcasting, as the textbook writes it
    ("outer(ones(n), u) * X", "X * u"),                      # row broadcasting, as NumPy writes it
    ("diag(x) @ diag(y)", "diag(x * y)"),
    ("diag(x) - 2 * diag(y)", "diag(x - 2 * y)"),
    ("s * ones(n, m) + X", "s + X"),                          # the sum broadcasts s anyway
    ("sum(A * inv(A).T)", "n"),                              # tr(Aᵀ A⁻ᵀ) = tr(I)
    ("sqrt(q) * sqrt(q)", "q"),                               # where √q is defined
    ("q * sqrt(q)", "q ** 1.5"),
    ("q ** 0.5", "sqrt(q)"),
    ("1 / sqrt(q + t ** 2) - q / (q + t ** 2) ** 1.5", "t ** 2 / (q + t ** 2) ** 1.5"),  # (q + t²) - q
    ("x / (x @ x) ** 0.5 - y / (x @ x) ** 1.5", "x / sqrt(x @ x) - y / (x @ x) ** 1.5"),  # nothing cancels
    ("X * sin(X) - X * cos(X)", "X * (sin(X) - cos(X))"),   # a common elementwise factor
    ("s * (1 - s) ** 2 - s ** 2 * (1 - s)", "s * (1 - s) * (1 - 2 * s)"),  # common powers, least exponent
    ("np.exp(x) / np.sum(np.exp(x))", "softmax(x)"),
    ("np.log(np.sum(np.exp(x)))", "logsumexp(x)"),
    ("sum(A * eye(n))", "tr(A)"),
    ("tr(A @ outer(x, y) @ B)", "y @ B @ A @ x"),            # tr(L a bᵀ R) = bᵀ R L a
    ("tr(A @ (outer(x, x) + B @ outer(y, y)) @ C)", "x @ C @ A @ x + y @ C @ A @ B @ y"),
    ("sum(X - sum(X, axis=0) / n, axis=0)", "zeros(m)"),     # a row copied n times sums to n times it
    ("sum(diag(x), axis=1)", "x"),
    ("kron(x, eye(m)) @ commutation(n, m)", "kron(eye(m), x)"),
    ("kron(Z, A) @ (kron(eye(m), B) + kron(Z, C))", "kron(Z, A @ B) + kron(Z @ Z, A @ C)"),  # mixed products
    ("x @ A.T @ B.T @ B @ A @ x", "norm2(B @ A @ x) ** 2"),  # vᵀ Mᵀ M v = ‖M v‖²
    ("softmax(x + s)", "softmax(x)"),                          # a shift does not change softmax
    ("logsumexp(x + s)", "logsumexp(x) + s"),
    ("softmax(x) @ ones(n)", "1"),                             # vᵀ 1 = sum(v), and softmax sums to 1
    ("kron(u, eye(n)) @ kron(Z, A)", "kron(u @ Z, A)"),        # mixed product with a row vector
    ("kron(eye(m), ones(n)) @ diag(vec(X)) @ kron(eye(m), ones(n)).T", "diag(sum(X, axis=0))"),
    ("kron(ones(m), eye(n)) @ diag(vec(X)) @ kron(ones(m), eye(n)).T", "diag(sum(X, axis=1))"),
    ("commutation(n, m) @ kron(u, eye(n)).T", "kron(eye(n), u).T"),  # a transposed pair merges as its transpose
    ("commutation(n, m) @ vec(X)", "vec(X.T)"),
    ("outer(y, vec(X.T)) @ commutation(n, m)", "outer(y, vec(X))"),  # a vec(V)ᵀ K = a vec(Vᵀ)ᵀ
    ("sum(X * (A @ Y))", "sum(X * (A @ Y))"),                  # kept: tr(X.T @ A @ Y) is no shorter
    ("sum(A * B.T)", "tr(B @ A)"),                             # sum(P ⊙ Q) = tr(Pᵀ Q) where that is shorter
    ("tr(B.T @ A.T)", "tr(A @ B)"),
    ("vec(outer(ones(1), u) @ Z)", "u @ Z"),                   # a 1×k matrix vec'd is its row
    ("kron(x, eye(n)) @ kron(y, eye(n)).T", "x @ y * eye(n)"),    # (a ⊗ I)(b ⊗ I)ᵀ = (a·b) I
    ("kron(x, eye(n)) @ kron(eye(n), y).T", "outer(y, x)"),       # (a ⊗ I)(I ⊗ b)ᵀ = b aᵀ
    ("diag(A @ diag(x) @ B)", "A * B.T @ x"),                     # diag(P diag(v) Q) = (P ⊙ Qᵀ) v
    ("s * A @ X + s * B @ X", "s * (A + B) @ X"),                 # a scalar stays with its remainder
    ("(A / x).T / t", "(A / (t * x)).T"),                         # quotients merge under a transpose
    ("(x @ x) * x / t ** 2 - y / t ** 2", "(x @ x * x - y) / t ** 2"),  # a scalar in front of a quotient
    ("tr(kron(A, Z))", "tr(A) * tr(Z)"),
    ("tr(eye(n))", "n"),
    ("sum(2 * X)", "2 * sum(X)"),
    ("sum(X.T, axis=0)", "sum(X, axis=1)"),
    ("sum(outer(x, u))", "sum(x) * sum(u)"),
    ("sum(x, axis=0)", "sum(x)"),
    ("norm2(-2 * X)", "2 * norm2(X)"),
    ("norm2(X.T)", "norm2(X)"),
    # structure
    ("diag(diag(x))", "x"),
    ("diag(ones(n))", "eye(n)"),
    ("diag(eye(n))", "ones(n)"),
    ("vec(outer(x, u))", "kron(u, x)"),
    ("vec(x)", "x"),
    ("kron(eye(n), eye(m))", "eye(m * n)"),
    ("kron(2 * A, Z)", "2 * kron(A, Z)"),
    # elementwise functions
    ("log(exp(X))", "X"),
    ("exp(log(X))", "X"),
    ("log(1 + exp(X))", "softplus(X)"),
    ("log(sigmoid(X))", "-softplus(-X)"),
    ("log(1 - sigmoid(X))", "-softplus(X)"),
    ("sigmoid(-X)", "1 - sigmoid(X)"),
    ("log(softmax(x))", "x - logsumexp(x)"),
    ("abs(abs(X))", "abs(X)"),
    ("exp(0)", "1"),
]


@pytest.fixture(scope="module")
def check():
    return corpus.judge()


def _values(check, shapes):
    declared, props = check.parse_vars({name: " ".join(map(str, spec.shape)) + " " + " ".join(spec.properties)
                                        for name, spec in shapes.items()})
    sizes = check.bind_dims(declared)
    values = check.random_point(declared, props, sizes, np.random.default_rng(3))
    for name, spec in shapes.items():
        if "pos" in spec.properties or name in ("X", "Y"):
            values[name] = np.abs(values[name]) + 0.5  # logs and quotients of X and Y stay defined
    return values, sizes


@pytest.mark.parametrize("written, canonical", IDENTITIES, ids=[w for w, _ in IDENTITIES])
def test_rewrite_is_an_identity(written, canonical, check):
    shapes = md.parse_declarations(SHAPES)
    built = md.parse(written, shapes)
    assert built.text == canonical
    assert md.parse(canonical, shapes).node is built.node  # the canonical text reads back to the same node
    values, sizes = _values(check, shapes)
    original = check.evaluate(written, dict(values, **sizes))
    np.testing.assert_allclose(built.evaluate(values), original, rtol=1e-9, atol=1e-9)


def test_trace_of_a_scalar_is_the_scalar():
    assert md.parse("tr(s)", "s: scalar").text == "s"


def test_equal_expressions_are_one_node():
    shapes = md.parse_declarations(SHAPES)
    a = md.parse("tanh(A @ X) + X", shapes).node
    b = md.parse("X + tanh(A @ X)", shapes).node.args
    assert md.parse("tanh(A @ X)", shapes).node in b
    assert md.parse("tanh(A @ X) + X", shapes).node is a


def test_a_gradient_shares_the_nodes_of_its_function():
    d = md.derivative("norm2(tanh(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k")
    tanh_node = md.parse("tanh(X @ W)", "X: n×p, W: p×k").node
    from matdiff.expr import topological
    assert sum(1 for n in topological(d.node) if n is tanh_node) == 1
