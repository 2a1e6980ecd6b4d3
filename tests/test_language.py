"""The expression language: parse, shape-check, print, re-parse to the same node, evaluate.

The meaning of a text is what check.py's own NumPy evaluator computes for it (the corpus judge,
independent of matdiff). For every expression `e`:

    parse(print(e)) is e            (printing loses nothing; nodes are hash-consed)
    value(e) == value(print(e))     (simplification and printing keep the meaning)

checked on every expression of the corpus and on random well-shaped expressions.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import matdiff as md
from corpus import assert_same_value, cases, check, declarations, needs_corpus, random_point, reference
from strategies import examples, expressions


def assert_round_trip(e: md.Expression, shapes) -> None:
    again = md.parse(e.text, shapes)
    assert again.node is e.node, f"{e.text!r} re-parses to {again.text!r}"
    assert again.text == e.text
    assert isinstance(e.unicode, str) and e.unicode
    assert isinstance(e.latex, str) and e.latex


# ---- every expression of the corpus -----------------------------------------------------------

def _corpus_expressions():
    for case in cases():
        if case["kind"] == "bad":
            continue
        yield pytest.param(case, "f", id=f"{case['id']}-f")
        yield pytest.param(case, "expect", id=f"{case['id']}-expect")


def _declarations_for(case: dict, field: str, with_properties: bool) -> dict:
    shapes = declarations(case, with_properties)
    if case["kind"] == "vjp" and field == "expect":  # the answer is written with the upstream gradient
        f_shape = md.parse(case["f"], shapes).shape
        shapes[case.get("cotangent", "G")] = tuple(d if isinstance(d, int) else str(d) for d in f_shape)
    return shapes


@needs_corpus
@pytest.mark.parametrize("case, field", list(_corpus_expressions()))
@pytest.mark.parametrize("with_properties", [False, True], ids=["plain", "properties"])
def test_corpus_expression_parses_prints_and_evaluates(case, field, with_properties):
    shapes = _declarations_for(case, field, with_properties)
    text = case[field]
    e = md.parse(text, shapes)
    assert_round_trip(e, shapes)

    _, _, sizes, values = check.setup(case, seed=0)  # for a vjp this includes the cotangent G
    truth = reference(text, values, sizes)
    assert len(e.shape) == truth.ndim
    assert_same_value(e.evaluate(values), truth, f"matdiff's value of {text!r}")
    assert_same_value(reference(e.text, values, sizes), truth, f"{text!r} printed as {e.text!r}")


# ---- random well-shaped expressions -----------------------------------------------------------

RANDOM = settings(max_examples=examples(1000), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@RANDOM
@given(expressions())
def test_printing_then_parsing_gives_the_same_node(drawn):
    text, shapes = drawn
    assert_round_trip(md.parse(text, shapes), shapes)


@needs_corpus
@RANDOM
@given(expressions())
def test_matdiff_and_the_judge_agree_on_the_value(drawn):
    text, shapes = drawn
    e = md.parse(text, shapes)
    values, sizes = random_point(shapes, seed=0)
    try:
        truth = reference(text, values, sizes)
    except (FloatingPointError, np.linalg.LinAlgError):
        assume(False)  # overflow in the reference evaluator: not a question about matdiff
    assume(np.all(np.abs(truth) < 1e6))
    assert len(e.shape) == truth.ndim
    assert_same_value(e.evaluate(values), truth, f"matdiff's value of {text!r} (printed {e.text!r})")
    assert_same_value(reference(e.text, values, sizes), truth, f"{text!r} printed as {e.text!r}")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_depth=4))
def test_printers_never_crash(drawn):
    text, shapes = drawn
    e = md.parse(text, shapes)
    for printed in (e.text, e.unicode, e.latex, repr(e), e.shape_text):
        assert isinstance(printed, str) and printed


# ---- expressions that random testing found hard (each once got a wrong value or shape) -------------

@needs_corpus
@pytest.mark.parametrize("text, shapes", [
    ("diag(diag(A))", "A: n×n"),                   # the diagonal part of A, not A
    ("diag(diag(x))", "x: n"),                     # x itself
    ("tr(A + 1)", "A: n×n"),                       # tr(A) + n
    ("tr(A - 2 * s)", "A: n×n, s: scalar"),
    ("tr(A + x)", "A: n×n, x: n"),                 # x broadcast along the rows: tr(A) + sum(x)
    ("tr(kron(A, B + 1))", "A: n×n, B: m×m"),
    ("(A + x).T", "A: n×m, x: m"),                 # x broadcast along the rows, then transposed
    ("(x * A).T", "A: m×n, x: n"),
    ("(A.T - x * B).T", "A: 3×k, x: 3, B: k×3"),
    ("(y + S).T", "S: n×n sym, y: n"),             # S symmetric, but y + S is not
    ("sigmoid((y + S).T)", "S: n×n spd, y: n"),
    ("x @ (A + y)", "A: n×n, x: n, y: n"),         # a row vector times a broadcast sum
    ("x @ (A * y) @ z", "A: n×m, x: n, y: m, z: m"),
    ("A @ B + A @ v", "A: n×n, B: n×n, v: n"),     # A @ v is broadcast along the rows: not A @ (B + v)
    ("A @ B + A @ v", "A: m×p, B: p×m, v: p"),
    ("(exp(S) ** A).T", "S: n×n sym, A: n×n"),    # a symmetric base, but not a symmetric power
    ("x - x - s - t", "s: scalar, t: scalar, x: n"),      # a vector, though x - x cancels
    ("sum(x - x - s - t)", "s: scalar, t: scalar, x: n"),  # -n (s + t)
    ("s * n ** -1.0 + x", "s: scalar, x: n"),      # NumPy refuses the integer n to the integer power -1
])
def test_meaning_survives_simplification_and_printing(text, shapes):
    e = md.parse(text, shapes)
    assert_round_trip(e, shapes)
    declared = {name: spec.shape + tuple(sorted(spec.properties)) for name, spec in e.variables.items()}
    for seed in (0, 1):
        values, sizes = random_point(declared, seed)
        truth = reference(text, values, sizes)
        assert_same_value(e.evaluate(values), truth, f"matdiff's value of {text!r} (printed {e.text!r})")
        assert_same_value(reference(e.text, values, sizes), truth, f"{text!r} printed as {e.text!r}")


@pytest.mark.parametrize("text, shapes", [
    ("cos(A.T).T", "A: n×m"),
    ("(-exp(A.T)).T", "A: n×m"),
    ("abs(sigmoid(A.T)).T", "A: n×m"),
    ("tr(eye(2)) - x", "x: n"),                    # the dimension 2 and the number 2
    ("sum(ones(n, 2), axis=1)", "x: n"),
    ("B @ (-(x / 2))", "B: n×m, x: m"),
    ("tr(kron(A, eye(3))) * s", "A: n×n, s: scalar"),
    ("v @ commutation(k, k) @ w", "v: k*k, w: k*k"),
    ("tr(eye(2 * n))", "x: n"),                    # the dimension 2·n and the product 2 * n
    ("tr(eye(n * m)) * x", "x: n, y: m"),
    ("tr(kron(eye(m), eye(m)))", "x: m"),          # m * m, not m ** 2
    ("s * ones(n, m) / B", "s: scalar, B: n×m"),   # ones(n, m) is not the number 1
    ("(B + x).T + C.T", "B: m×n, C: m×n, x: n"),   # a broadcast sum inside a transposed sum
    ("(x - A).T + A.T", "A: m×n, x: n"),
    ("(A + ones(n, m)) - (s - 1)", "A: n×m, s: scalar"),
])
def test_tricky_expressions_round_trip(text, shapes):
    assert_round_trip(md.parse(text, shapes), shapes)


@pytest.mark.parametrize("text, printed", [
    ("2 + x", ["2 + x"]),
    ("x - 2", ["x - 2"]),
    ("2 * ones(n) / x", ["2 / x", "2 * ones(n) / x"]),
    ("tr(A @ X)", ["tr(A @ X)"]),
    ("A.T.T", ["A"]),
])
def test_printing_is_plain(text, printed):
    assert md.parse(text, "A: n×m, X: m×n, x: n").text in printed


def test_equal_expressions_are_the_same_node():
    shapes = {"A": ("n", "m"), "X": ("m", "n")}
    assert md.parse("tr(A @ X)", shapes).node is md.parse("np.trace(A@X)", shapes).node
    assert md.parse("A.T.T", shapes).node is md.parse("A", shapes).node


def test_a_name_is_a_variable_or_a_dimension_never_both():
    # were n both, tr(eye(n)) + n would print as "n + n" and re-parse as 2 * n
    with pytest.raises(md.DeclarationError, match="n"):
        md.parse("tr(eye(n)) + n", "n: scalar, x: n")


# ---- calls: the names and parameters each operation's entry declares ---------------------------

@pytest.mark.parametrize("text, printed", [
    ("trace(X)", "tr(X)"), ("np.trace(X)", "tr(X)"), ("np.linalg.norm(X, 'fro')", "norm2(X)"),
    ("norm(x, ord=2)", "norm2(x)"), ("norm(x, None)", "norm2(x)"), ("sum(X, 0)", "sum(X, axis=0)"),
    ("sum(X, axis=-1)", "sum(X, axis=1)"), ("sum(x, axis=None)", "sum(x)"), ("ones((n, n))", "ones(n, n)"),
    ("transpose(X)", "X.T"), ("np.kron(x, X)", "kron(x, X)"),
])
def test_aliases_and_literal_parameters_read_as_numpy_means_them(text, printed):
    assert md.parse(text, "X: n×n, x: n").text == printed


@pytest.mark.parametrize("text, says", [
    ("sum(X, 1, True, 2)", "sum takes one array (and an axis and keepdims), got 4 arguments"),
    ("sum(X, 1, keepdims=2)", "keepdims is True or False"),
    ("sum(X, 1, True)", "keepdims is written as a keyword"),  # NumPy reads a dtype there
    ("sum(X, foo=1)", "sum takes only the keyword axis=0 or keepdims=True"),
    ("sum(X, 0, axis=1)", "sum takes only the keyword axis=0 or keepdims=True"),
    ("sum(X, axis=1.0)", "an axis is an integer, a tuple of integers or None"),
    ("norm(x, 3)", "the orders of norm in the language are ord=2"),
    ("norm(x, 2, 2)", "norm takes one array (and an order), got 3 arguments"),
    ("tr(X, axis=1)", "tr takes no keyword arguments"),
    ("kron(X)", "kron takes 2 arguments, got 1"),
    ("eye(n, n)", "eye takes 1 dimension(s), got 2"),
    ("zeros(" + ", ".join(["n"] * 33) + ")", "zeros takes 1 to 32 dimension(s), got 33"),
    ("commutation((n, n))", "a dimension must be a name such as n"),
])
def test_a_call_that_does_not_fit_its_entry_says_why(text, says):
    with pytest.raises(md.ParseError, match=re.escape(says)):
        md.parse(text, "X: n×n, x: n")


# ---- the spellings people paste: each reads as the language writes it ------------------------------

PASTED = "A: n×n, X: n×m, W: m×k, x: n, y: n, s: scalar, t: scalar"


@pytest.mark.parametrize("pasted, canonical", [
    # NumPy's functions for the operators; np.dot is @ for vectors and matrices, a product with a scalar
    ("np.dot(x, y)", "x @ y"), ("np.dot(A, x)", "A @ x"), ("np.dot(x, A)", "x @ A"), ("np.dot(X, W)", "X @ W"),
    ("np.dot(s, x)", "s * x"), ("np.dot(X, s)", "X * s"), ("np.dot(s, t)", "s * t"),
    ("np.matmul(A, X)", "A @ X"), ("np.multiply(x, y)", "x * y"), ("np.divide(x, y)", "x / y"),
    ("np.true_divide(X, s)", "X / s"), ("np.add(x, y)", "x + y"), ("np.subtract(x, y)", "x - y"),
    ("np.negative(X)", "-X"), ("np.absolute(x)", "abs(x)"), ("np.transpose(X)", "X.T"),
    ("np.dot(np.dot(X.T, A), x)", "X.T @ A @ x"),
    # NumPy's array methods: the function of the same name with the array first
    ("x.dot(y)", "x @ y"), ("A.T.dot(x)", "A.T @ x"), ("(A @ X).T.dot(x)", "(A @ X).T @ x"), ("s.dot(x)", "s * x"),
    ("X.sum(axis=0)", "sum(X, axis=0)"), ("X.sum(0)", "sum(X, axis=0)"), ("np.exp(X).sum()", "sum(exp(X))"),
    ("X.transpose()", "X.T"), ("A.trace()", "tr(A)"),
    # jax.numpy is NumPy
    ("jnp.dot(A, x)", "A @ x"), ("jax.numpy.linalg.inv(A)", "inv(A)"), ("jnp.sum(X, axis=1)", "sum(X, axis=1)"),
    ("jnp.linalg.det(A)", "det(A)"),
    # scipy.special, and jax.scipy.special
    ("scipy.special.logsumexp(X, axis=1)", "logsumexp(X, axis=1)"), ("special.softmax(x)", "softmax(x)"),
    ("sp.special.softmax(X, axis=0)", "softmax(X, axis=0)"), ("jax.scipy.special.logsumexp(x)", "logsumexp(x)"),
    # jax.nn.softmax normalises over the last axis where scipy's normalises over the whole array
    ("jax.nn.softmax(X)", "softmax(X, axis=1)"), ("jax.nn.softmax(X, axis=-1)", "softmax(X, axis=1)"),
    ("jax.nn.softmax(x)", "softmax(x)"), ("jax.nn.softmax(X, axis=0)", "softmax(X, axis=0)"),
    ("jax.nn.softmax(X, 0)", "softmax(X, axis=0)"), ("jax.nn.sigmoid(x)", "sigmoid(x)"),
    ("jax.nn.softplus(x)", "softplus(x)"), ("jax.nn.logsumexp(X)", "logsumexp(X)"),
    # PyTorch, where its meaning is NumPy's (dim is axis; F.softmax without dim takes the last axis)
    ("torch.sum(X, dim=0)", "sum(X, axis=0)"), ("torch.sum(X, 1)", "sum(X, axis=1)"),
    ("torch.softmax(X, dim=0)", "softmax(X, axis=0)"), ("F.softmax(X)", "softmax(X, axis=1)"),
    ("torch.mm(A, X)", "A @ X"), ("torch.mv(A, x)", "A @ x"), ("torch.t(X)", "X.T"), ("torch.inverse(A)", "inv(A)"),
    ("torch.linalg.norm(X)", "norm2(X)"), ("torch.nn.functional.softplus(x)", "softplus(x)"),
    ("torch.exp(x) * torch.sigmoid(y)", "exp(x) * sigmoid(y)"),
])
def test_a_pasted_spelling_reads_as_the_language_writes_it(pasted, canonical):
    assert md.parse(pasted, PASTED).node is md.parse(canonical, PASTED).node


@pytest.mark.parametrize("pasted, canonical", [
    ("x.mean()", "mean(x)"), ("X.mean(axis=0)", "mean(X, axis=0)"), ("X.var(1)", "var(X, axis=1)"),
    ("X.std(axis=0, keepdims=True)", "std(X, axis=0, keepdims=True)"),
    ("X.max(axis=1, keepdims=True)", "max(X, axis=1, keepdims=True)"), ("x.min()", "min(x)"),
    ("np.max(X, axis=0)", "max(X, axis=0)"), ("np.amax(x)", "max(x)"), ("X.clip(0, 1)", "clip(X, 0, 1)"),
    ("np.power(x, 3)", "x ** 3"), ("np.square(x)", "square(x)"), ("np.maximum(X, 0)", "maximum(X, 0)"),
    ("scipy.special.expit(x)", "expit(x)"), ("scipy.special.log_softmax(X, axis=1)", "log_softmax(X, axis=1)"),
    ("special.erf(x)", "erf(x)"), ("jax.nn.gelu(x, approximate=False)", "gelu(x)"),
    ("jax.nn.relu(X)", "relu(X)"), ("jax.nn.silu(x)", "silu(x)"), ("jax.nn.swish(x)", "silu(x)"),
    ("jax.nn.log_softmax(X)", "log_softmax(X, axis=1)"), ("jax.nn.logsumexp(X, axis=1, keepdims=True)",
                                                          "logsumexp(X, axis=1, keepdims=True)"),
    ("scipy.linalg.cholesky(A, lower=True)", "cholesky(A)"), ("jnp.linalg.solve(A, X)", "solve(A, X)"),
    ("torch.sum(X, dim=0, keepdim=True)", "sum(X, axis=0, keepdims=True)"),
    ("torch.sum(X, 1, True)", "sum(X, axis=1, keepdims=True)"), ("torch.clamp(x, 0, 1)", "clip(x, 0, 1)"),
    ("torch.logsumexp(X, dim=1)", "logsumexp(X, axis=1)"), ("F.gelu(x)", "gelu(x)"),
    ("torch.special.expit(x)", "expit(x)"), ("torch.linalg.cholesky(A)", "cholesky(A)"),
    ("torch.amax(X, dim=1, keepdim=True)", "max(X, axis=1, keepdims=True)"),
    ("(X - X.mean(axis=0)) / X.std(axis=0)", "(X - mean(X, axis=0)) / std(X, axis=0)"),
])
def test_a_pasted_spelling_of_the_second_edition_reads_as_the_language_writes_it(pasted, canonical):
    assert md.parse(pasted, PASTED).node is md.parse(canonical, PASTED).node


@pytest.mark.parametrize("pasted, canonical", [
    ("X.shape[0]", "n"), ("X.shape[1]", "m"), ("X.shape[-1]", "m"), ("(A @ X).shape[1]", "m"), ("len(x)", "n"),
    ("len(X)", "n"), ("X.size", "n * m"), ("s.size", "1"),
    ("np.sum((X @ W - np.ones((n, k))) ** 2) / X.shape[0]", "sum((X @ W - ones(n, k)) ** 2) / n"),
    ("np.sum(x * y) / len(y)", "sum(x * y) / n"),
])
def test_a_dimension_read_off_an_array_is_the_dimension(pasted, canonical):
    assert md.parse(pasted, PASTED).node is md.parse(canonical, PASTED).node


def test_a_pasted_spelling_computes_what_numpy_computes():
    rng = np.random.default_rng(0)
    A, X, x = rng.standard_normal((3, 3)), rng.standard_normal((3, 2)), rng.standard_normal(3)
    values = {"A": A, "X": X, "x": x, "y": x, "s": 2.0, "t": 3.0, "W": rng.standard_normal((2, 4))}
    for text, truth in [("np.dot(np.dot(X.T, A), x)", np.dot(np.dot(X.T, A), x)), ("A.T.dot(x)", A.T.dot(x)),
                        ("X.sum(0)", X.sum(0)), ("np.dot(s, x)", np.dot(2.0, x)), ("jax.nn.softmax(X)",
                        np.exp(X) / np.exp(X).sum(axis=-1, keepdims=True))]:
        assert np.allclose(md.parse(text, PASTED).evaluate(values), truth), text


# ---- declarations ---------------------------------------------------------------------------

SHAPE_OF = {"X": ("n", "m"), "x": ("n",), "s": (), "K": (2, "n")}


@pytest.mark.parametrize("text", [
    "X: n×m, x: n, s: scalar, K: 2×n",
    "X: n x m, x: n, s: scalar, K: 2 x n",
    "X: (n, m), x: (n,), s: (), K: (2, n)",
    "X: n m; x: n; s: scalar; K: 2 n",
    "X: n by m, x: n, s: scalar, K: 2 by n",
    "X: n X m, x: n, s: scalar, K: 2 X n",   # an upper-case X separates dimensions too
    "X: [n, m]\nx: n\ns: scalar\nK: [2, n]",
])
def test_text_declarations_match_the_dictionary(text):
    assert {name: spec.shape for name, spec in md.parse_declarations(text).items()} == SHAPE_OF
    assert md.parse_declarations(text) == md.parse_declarations(SHAPE_OF)


@pytest.mark.parametrize("dims", [("n", "m"), ["n", "m"], "n m", "n×m", "(n, m)"])
def test_dictionary_values_may_be_tuples_lists_or_text(dims):
    assert md.parse_declarations({"X": dims})["X"].shape == ("n", "m")


@pytest.mark.parametrize("text, shape, properties", [
    ("S: n×n sym", ("n", "n"), {"sym"}),
    ("S: n x n spd", ("n", "n"), {"spd"}),
    ("S: (n, n) spd", ("n", "n"), {"spd"}),
    ("S: 3×3 sym", (3, 3), {"sym"}),
    ("x: n pos", ("n",), {"pos"}),
])
def test_properties_are_declared_after_the_dimensions(text, shape, properties):
    (spec,) = md.parse_declarations(text).values()
    assert spec.shape == shape and set(spec.properties) == properties
    dict_form = md.parse_declarations({spec.name: shape + tuple(properties)})
    assert dict_form[spec.name] == spec


def test_declared_shapes_are_the_shapes_of_expressions():
    shapes = "X: n×m, x: n, s: scalar"
    assert md.parse("X", shapes).shape == ("n", "m")
    assert md.parse("x", shapes).shape == ("n",)
    assert md.parse("s", shapes).shape == ()
    assert md.parse("X.T @ x", shapes).shape == ("m",)
    assert md.parse("x @ X", {"X": ("n", "m"), "x": ("n",)}).shape == ("m",)


def test_arrays_of_any_order_are_declared_as_matrices_are():
    for spelled in ("T: n×m×p", "T: n x m x p", "T: (n, m, p)", "T: n m p", {"T": ("n", "m", "p")}):
        assert md.parse("T", spelled).shape == ("n", "m", "p")
    assert md.parse("T", "T: b×h×n×d").shape == ("b", "h", "n", "d")


@pytest.mark.parametrize("bad", [
    "X n×m",                 # no colon
    "1X: n",                 # not a name
    "X: n, X: m",            # declared twice
    "S: n×m sym",            # symmetric but not square
    "x: n spd",              # spd vector
    "X: 0",                  # a dimension of size 0
    "X: n-m",                # not a dimension
    "X: -1",
    "X: (n, m",              # unbalanced parenthesis
    {"X": ("n", 0)},
    {"X": ("n", True)},
    {"X": 3.5},
    {"X": None},
    {"1X": ("n",)},
    {3: ("n",)},
    {"X": ("n", 2.0)},
    [("X", ("n",))],
], ids=repr)
def test_bad_declarations_raise_declaration_error(bad):
    with pytest.raises(md.DeclarationError):
        md.parse_declarations(bad)
    with pytest.raises(md.DeclarationError):
        md.parse("1", bad)


# ---- binding values to dimensions ------------------------------------------------------------

def binding_error(text: str, shapes, values: dict) -> str:
    with pytest.raises(md.ValueBindingError) as info:
        md.parse(text, shapes).evaluate(values)
    assert isinstance(info.value, md.MatdiffError)
    return str(info.value)


def names(message: str, *words: str) -> bool:
    """Does the message name each of these (as whole words: `x`, not the x of `matrix`)?"""
    return all(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


def test_a_value_whose_length_disagrees_names_the_variable_and_dimension():
    message = binding_error("A @ x", "A: n×m, x: m", {"A": np.ones((3, 4)), "x": np.ones(5)})
    assert names(message, "x", "m", "5", "4")


def test_a_value_that_disagrees_with_an_integer_dimension_is_named():
    message = binding_error("X @ y", "X: 2×n, y: n", {"X": np.ones((3, 4)), "y": np.ones(4)})
    assert names(message, "X", "2", "3")


def test_a_value_of_the_wrong_rank_is_named():
    message = binding_error("A @ x", "A: n×m, x: m", {"A": np.ones((3, 4)), "x": np.ones((4, 1))})
    assert names(message, "x") and "(4, 1)" in message


def test_the_same_dimension_bound_twice_differently_is_named():
    message = binding_error("x + y", "x: n, y: n", {"x": np.ones(3), "y": np.ones(4)})
    assert names(message, "n", "y", "4", "3")


def test_a_missing_value_is_named():
    assert names(binding_error("A @ x", "A: n×m, x: m", {"A": np.ones((3, 4))}), "x")


def test_a_value_that_is_not_numbers_is_named():
    assert names(binding_error("sum(x)", "x: n", {"x": "abc"}), "x")


def test_a_dimension_used_only_as_a_number_needs_a_size():
    e = md.parse("n * x", "x: k, y: n")
    with pytest.raises(md.ValueBindingError) as info:
        e.evaluate({"x": np.ones(3)})
    assert names(str(info.value), "n")
    assert np.array_equal(e.evaluate({"x": np.ones(3)}, sizes={"n": 5}), np.full(3, 5.0))


def test_values_bind_dimension_names_used_as_numbers():
    e = md.parse("n * sum(x) + tr(eye(m))", "x: n, A: m×n")
    assert e.evaluate({"x": np.ones(3), "A": np.ones((4, 3))}) == pytest.approx(3 * 3 + 4)
