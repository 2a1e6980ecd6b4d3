"""Errors are part of the interface.

Every mistake a user can make raises a `MatdiffError`: text that does not parse (with a caret
under the place), shapes that do not fit (naming both operands as the user wrote them, and their
shapes), names nobody declared (with the close matches). Nothing a user types makes matdiff raise
anything else, or hang.
"""
from __future__ import annotations

import re

import time
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff as md
from corpus import cases, declarations, needs_corpus
from strategies import examples, expressions

SHAPES = "W: m×q, X: n×q, A: n×p, B: p×m, C: n×k, S: n×n, x: n, y: m, s: scalar"


def error_of(text: str, shapes=SHAPES, expected: type = md.MatdiffError) -> str:
    with pytest.raises(expected) as info:
        md.parse(text, shapes)
    return str(info.value)


def pointed(message: str) -> tuple[str, int, int]:
    """The line of text an error shows, and the columns [start, end) its carets mark."""
    *_, line, carets = message.splitlines()
    assert line.startswith("    ") and carets.startswith("    "), message
    line, carets = line[4:], carets[4:].rstrip()
    start = carets.index("^")
    assert set(carets[start:]) == {"^"}, message
    return line, start, len(carets)


# ---- the corpus's bad inputs ------------------------------------------------------------------

@needs_corpus
@pytest.mark.parametrize("case", cases("bad"), ids=lambda c: c["id"])
def test_bad_corpus_case_raises_a_matdiff_error_naming_the_culprits(case):
    with pytest.raises(md.MatdiffError) as info:
        md.derivative(case["f"], case["wrt"], declarations(case))
    for mention in case.get("mentions", []):
        assert mention in str(info.value)


# ---- carets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, error, line, start, end", [
    ("W @@ X", md.ParseError, "W @@ X", 3, 4),              # the second @
    ("  W @@ X", md.ParseError, "  W @@ X", 5, 6),          # leading blanks keep their columns
    ("W @ (X", md.ParseError, "W @ (X", 4, 5),              # the ( never closed
    ("exp(x))", md.ParseError, "exp(x))", 6, 7),            # the unmatched )
    ("sum(x,, 1)", md.ParseError, "sum(x,, 1)", 6, 7),
    ("x y", md.ParseError, "x y", 2, 3),
    ("(S +\n x @@ S)", md.ParseError, " x @@ S)", 4, 5),     # the line of the error is shown
    ("x[0]", md.ParseError, "x[0]", 0, 4),
    ("x // 2", md.ParseError, "x // 2", 0, 6),
    ("S + 1e999", md.ParseError, "S + 1e999", 4, 9),
    ("sum(S, axis=x)", md.ParseError, "sum(S, axis=x)", 12, 13),
    ("tr(A @ B @ C)", md.ShapeError, "tr(A @ B @ C)", 3, 12),
    ("exp(W @ X)", md.ShapeError, "exp(W @ X)", 4, 9),
    ("logdt(S)", md.UnknownNameError, "logdt(S)", 0, 5),
    ("S + Xx", md.UnknownNameError, "S + Xx", 4, 6),
    ("eye(nn)", md.UnknownNameError, "eye(nn)", 4, 6),
])
def test_the_caret_stands_under_the_fault(text, error, line, start, end):
    assert pointed(error_of(text, expected=error)) == (line, start, end)


@pytest.mark.parametrize("text, says", [
    ("X.H", "the attribute .H is not part of the language (only .T is)"),  # not "X.H is a function"
    ("np.exp", "np.exp is a function: call it, as in np.exp(...)"),
    ("softmax(X, axis=2)", "softmax(X, axis=2): no axis 2; X is n×m, with axes 0 and 1"),
])
def test_a_misused_name_is_explained(text, says):
    with pytest.raises(md.MatdiffError, match=re.escape(says)):
        md.parse(text, "X: n×m")


def test_a_missing_operand_is_pointed_at_after_the_operator():
    line, start, _ = pointed(error_of("x +", expected=md.ParseError))
    assert line == "x +"
    assert start >= 2, "the caret should stand under or after the +, not under x"


@pytest.mark.parametrize("text", ["1or x", "2and x", "1if x else x"])
def test_a_parse_error_is_the_only_report(text):
    # Python's own parser warns about such text (SyntaxWarning: invalid decimal literal) on stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(md.ParseError):
            md.parse(text, "x: n")
    assert [str(w.message) for w in caught] == []


# ---- shape errors name the operands as written --------------------------------------------------

@pytest.mark.parametrize("text, mentions", [
    ("W @ X", ["W @ X: W is m×q but X is n×q (columns q ≠ rows n)"]),
    ("tr(A @ B @ C)", ["A @ B", "C", "n×m", "n×k"]),
    ("tr(A@B@C)", ["A@B", "C"]),
    ("np.trace((A @ B) @ C)", ["A @ B", "C"]),
    ("X.T @ W.T", ["X.T", "W.T", "q×n", "q×m"]),
    ("np.exp(A)@S", ["np.exp(A)", "S", "n×p", "n×n"]),
    ("sum(X + W)", ["X", "W", "n×q", "m×q"]),
    ("A @ x + W", ["A @ x", "W"]),
    ("inv(W)", ["inv", "W", "m×q"]),
    ("det(x)", ["det", "x"]),
    ("tr(W @ X.T)", ["W @ X.T", "m×n"]),
    ("outer(S, x)", ["outer", "S", "n×n"]),
    ("S @ 2", ["2", "scalar"]),
    ("sum(x, axis=1)", ["axis", "x"]),
])
def test_a_shape_error_names_both_operands_and_their_shapes(text, mentions):
    message = error_of(text, expected=md.ShapeError)
    for mention in mentions:
        assert mention in message


# ---- unknown names suggest close matches ------------------------------------------------------

@pytest.mark.parametrize("text, shapes, suggestion", [
    ("logdt(X)", "X: n×n", "'logdet'"),
    ("Xx + 1", "X: n×n", "'X'"),
    ("trce(X)", "X: n×n", "'tr"),
    ("softmx(x)", "x: n", "'softmax'"),
    ("np.linalg.invv(X)", "X: n×n", "'inv'"),
    ("eye(nn) @ x", "x: n", "'n'"),
])
def test_an_unknown_name_suggests_the_close_ones(text, shapes, suggestion):
    message = error_of(text, shapes, md.UnknownNameError)
    assert "did you mean" in message
    assert suggestion in message.split("did you mean", 1)[1]


# ---- what the language does not read says so, and why --------------------------------------------

@pytest.mark.parametrize("text, error, says", [
    # what NumPy has that the language lacks, by name (never "unknown function")
    ("np.linalg.eigh(S)", md.NotSupportedError, "np.linalg.eigh is not part of the language yet"),
    ("np.linalg.eig(S)", md.NotSupportedError, "np.linalg.eig is not part of the language yet"),
    ("np.linalg.svd(W)", md.NotSupportedError, "np.linalg.svd is not part of the language yet"),
    ("np.linalg.qr(W)", md.NotSupportedError, "np.linalg.qr is not part of the language yet"),
    ("np.linalg.lstsq(A, x)", md.NotSupportedError, "np.linalg.lstsq is not part of the language yet"),
    ("scipy.linalg.expm(S)", md.NotSupportedError, "scipy.linalg.expm is not part of the language yet"),
    ("np.concatenate((x, x))", md.NotSupportedError, "np.concatenate is not part of the language yet"),
    ("np.stack([x, x])", md.NotSupportedError, "np.stack is not part of the language yet"),
    ("np.cumsum(x)", md.NotSupportedError, "np.cumsum is not part of the language yet"),
    ("np.sort(x)", md.NotSupportedError, "np.sort is not part of the language yet"),
    ("np.argmax(x)", md.NotSupportedError, "np.argmax is not part of the language yet"),
    ("np.reshape(W, (q, q))", md.ShapeError, "which cannot be arranged as q×q"),
    ("np.einsum('ij->i', W, X)", md.ShapeError, "the subscripts name 1 operand but 2 are given"),
    ("X.cumsum()", md.NotSupportedError, "the method .cumsum is not part of the language yet"),
    ("X.flatten()", md.NotSupportedError, "X.flatten() is vec(X.T)"),
    ("x[0]", md.ParseError, "indexing and slicing (x[0], X[:, 1]) are not part of the language yet"),
    ("W[:, 1]", md.ParseError, "indexing and slicing (x[0], X[:, 1]) are not part of the language yet"),
    # a name whose meaning in its library is not the language's
    ("np.linalg.norm(S, 2)", md.ShapeError, "norm of order 2 of a matrix is its spectral norm"),
    ("jax.nn.gelu(x)", md.ParseError, "write jax.nn.gelu(u, approximate=False)"),
    ("torch.var(x)", md.ParseError, "torch.var divides by n - 1"),
    ("torch.max(X, 1)", md.ParseError, "returns the values and their indices"),
    ("torch.norm(S)", md.ParseError, "torch.norm's p=2 of a matrix is its Frobenius norm"),
    ("scipy.linalg.cholesky(S)", md.ParseError, "write scipy.linalg.cholesky(A, lower=True)"),
    ("scipy.special.tanh(x)", md.UnknownNameError, "scipy.special.tanh is not read from scipy.special"),
    # a spelling used other than NumPy uses it
    ("np.dot(x)", md.ParseError, "np.dot takes two arrays and no keywords: write a @ b"),
    ("np.dot(x, x, out=x)", md.ParseError, "np.dot takes two arrays and no keywords: write a @ b"),
    ("np.negative(x, x)", md.ParseError, "np.negative takes one array and no keywords: write -a"),
    ("X.sum(0, True)", md.ParseError, "NumPy reads the next one as a dtype or an output array"),
    ("np.sum(X, 0, True)", md.ParseError, "keepdims is written as a keyword"),
    ("W.transpose(1, 0, 2)", md.ShapeError, "axes must list each of the 2 axes of W"),
    ("X.foo()", md.ParseError, "the method .foo is not part of the language"),
    ("x.sum", md.ParseError, "x.sum is a method: call it, as in x.sum()"),
    ("x(x)", md.ParseError, "x is a declared variable, not a function"),
])
def test_what_the_language_does_not_read_says_why(text, error, says):
    assert says in error_of(text, expected=error)


@pytest.mark.parametrize("text, error, says", [
    ("W.shape[2]", md.ShapeError, "W.shape[2]: W is m×q, with axes 0 and 1"),
    ("len(s)", md.ShapeError, "len(s): s is a scalar, which has no axes"),
    ("W.shape[0:1]", md.ParseError, "W.shape is indexed by one axis, as in W.shape[0]"),
    ("W.shape", md.ParseError, "W.shape is a tuple; W.shape[0] is a dimension, a number"),
])
def test_a_dimension_read_off_an_array_names_the_array_and_its_shape(text, error, says):
    assert says in error_of(text, expected=error)


@pytest.mark.parametrize("text, error, line, start, end", [
    ("np.linalg.eigh(S)", md.NotSupportedError, "np.linalg.eigh(S)", 0, 14),  # the name
    ("X.cumsum()", md.NotSupportedError, "X.cumsum()", 2, 8),                  # the method's name
    ("X.sum(0, True)", md.ParseError, "X.sum(0, True)", 9, 13),                # the argument NumPy reads otherwise
    ("np.dot(W, X)", md.ShapeError, "np.dot(W, X)", 0, 12),
    ("W.dot(X)", md.ShapeError, "W.dot(X)", 0, 8),
    ("jax.nn.gelu(x)", md.ParseError, "jax.nn.gelu(x)", 0, 11),
])
def test_the_caret_stands_under_a_pasted_spelling(text, error, line, start, end):
    assert pointed(error_of(text, expected=error)) == (line, start, end)


@pytest.mark.parametrize("text, mentions", [
    ("np.dot(W, X)", ["W", "X", "m×q", "n×q"]),
    ("np.matmul(x, W)", ["x", "W", "m×q"]),
    ("np.multiply(W, X)", ["W", "X", "m×q", "n×q"]),
    ("np.add(x, y)", ["x", "y"]),
    ("A.dot(x)", ["A", "x", "n×p"]),
    ("np.exp(A).T.dot(y)", ["np.exp(A).T", "y"]),
])
def test_a_pasted_spelling_names_the_operands_and_shapes(text, mentions):
    message = error_of(text, expected=md.ShapeError)
    for mention in mentions:
        assert mention in message


@pytest.mark.parametrize("text, suggestion", [
    ("np.linalg.inverse(S)", "'inv'"),
    ("np.matmult(S, S)", "'matmul'"),
    ("torch.clampp(x, 0, 1)", "'clamp'"),
    ("tf.reduce_sum(x)", "'sum'"),
])
def test_an_unknown_pasted_name_suggests_the_right_one(text, suggestion):
    message = error_of(text, expected=md.UnknownNameError)
    assert suggestion in message.split("did you mean", 1)[1]


@pytest.mark.parametrize("text", ["np.mx(x)", "np.max(x)", "np.maxx(x)"])
def test_a_short_name_is_not_near_a_long_one_that_ends_in_it(text):
    # max is not softmax: either it reads as max, or the suggestion is not softmax
    try:
        md.parse(text, SHAPES)
    except md.UnknownNameError as error:
        assert "softmax" not in str(error)


def _library_calls():
    from matdiff.language import spellings
    for library in spellings.LIBRARIES:
        prefix = library.prefixes[0]
        for name in sorted(library.names):
            yield f"{prefix}{name}(S)"
            yield f"{prefix}{name}(S, x)"


@pytest.mark.parametrize("text", list(_library_calls()))
def test_every_pasted_name_reads_or_says_why(text):
    try:
        md.parse(text, SHAPES)
    except md.MatdiffError as error:
        assert pointed(str(error))  # with a caret


def test_a_name_not_yet_in_the_language_is_not_one_of_its_names():
    from matdiff.language import spellings
    from matdiff.language.parse import CALLS
    assert not set(spellings.NOT_YET) & set(CALLS), "take the names the language now has off spellings.NOT_YET"


def test_differentiating_by_an_undeclared_name_suggests_the_declared_one():
    with pytest.raises(md.UnknownNameError, match="'X'"):
        md.derivative("tr(X)", "XX", "X: n×n")


@pytest.mark.parametrize("wrt", [3, None, 2.5, ["X", 3], ()], ids=repr)
def test_differentiating_by_something_that_is_not_a_name_is_a_matdiff_error(wrt):
    with pytest.raises(md.MatdiffError):
        md.derivative("tr(X)", wrt, "X: n×n")


@pytest.mark.parametrize("kwargs", [{"order": 0}, {"order": "2"}, {"order": True}, {"symmetric": "both"}])
def test_bad_options_are_matdiff_errors(kwargs):
    with pytest.raises(md.MatdiffError):
        md.derivative("tr(X)", "X", "X: n×n", **kwargs)


def test_an_undeclared_variable_in_the_function_is_named():
    with pytest.raises(md.UnknownNameError, match="Y"):
        md.derivative("tr(X @ Y)", "X", "X: n×n")


def test_a_cotangent_of_the_wrong_shape_is_refused():
    with pytest.raises(md.DeclarationError, match="G"):
        md.vjp("W @ X", "W", "W: m×q, X: q×n, G: n×m", cotangent="G")



def test_a_cotangent_named_as_a_variable_of_f_is_refused():
    """Fuzz input 10084 (seed 7): the cotangent A beside the spd variable A of f printed two different
    things as A, and the answer read back as another expression."""
    shapes = {"A": ("n", "n", "spd"), "B": ("n", "n", "spd"), "t": ("pos",)}
    with pytest.raises(md.DeclarationError, match="'A' is a variable of f.*such as 'G'"):
        md.vjp("-inv(A + t * B) @ B @ inv(A + t * B)", "t", shapes, cotangent="A")
    assert md.vjp("2 * x", "x", "x: n, G: n").text == "2 * G"  # declared beside f, unused by it: the cotangent ----------------------------------------------

FUZZ_SHAPES = "X: n×m, A: n×n, S: n×n spd, x: n, y: m, s: scalar"
WRT = st.sampled_from(["X", "A", "S", "x", "y", "s", "Z", "", "n"])
TOKENS = [
    # names: declared, undeclared, dimensions
    "X", "A", "S", "x", "y", "s", "Z", "Xx", "n", "m", "k", "G",
    # numbers
    "0", "1", "2", "0.5", "1e-3", "1e308", "1e999", "10", "400", "-1", "1j", "True", "None", "'a'",
    # operators and punctuation
    "+", "-", "*", "/", "**", "@", "//", "%", "(", ")", "(", ")", ",", ".T", ".", "=", "[", "]", ":",
    "==", "~", "@@", "axis=", "axis=0", "axis=1", "axis=-1", "axis=2", " ", "\n", "\\", "lambda", "if",
    # functions, with and without the NumPy prefixes
    "tr", "trace", "det", "logdet", "inv", "exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid",
    "softplus", "softmax", "logsumexp", "sum", "norm2", "diag", "kron", "outer", "eye", "ones", "zeros",
    "commutation", "vec", "transpose", "np.", "np.linalg.", "matdiff.", "np.trace", "np.linalg.inv",
]
SOUPS = st.lists(st.sampled_from(TOKENS), max_size=25).flatmap(
    lambda tokens: st.sampled_from(["", " "]).map(lambda glue: glue.join(tokens)))
LANGUAGE_ALPHABET = st.sampled_from(list("XASxysnm0123456789.+-*/@()[],=_ eTtrdiglnpoxsaumv\n"))


def only_matdiff_errors(text: str, wrt: str, order: int) -> None:
    start = time.perf_counter()
    try:
        md.parse(text, FUZZ_SHAPES).text
    except md.MatdiffError:
        pass
    try:
        d = md.derivative(text, wrt, FUZZ_SHAPES, order=order)
        assert isinstance(d.text, str)
    except md.MatdiffError:
        pass
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{text!r} by {wrt!r} took {elapsed:.1f} s"


FUZZ = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=60), WRT, st.sampled_from([1, 2]))
def test_random_text_raises_only_matdiff_errors(text, wrt, order):
    only_matdiff_errors(text, wrt, order)


@FUZZ
@given(st.text(LANGUAGE_ALPHABET, max_size=40), WRT, st.sampled_from([1, 2]))
def test_random_text_from_the_language_alphabet_raises_only_matdiff_errors(text, wrt, order):
    only_matdiff_errors(text, wrt, order)


@FUZZ
@given(SOUPS, WRT, st.sampled_from([1, 2]))
def test_token_soups_raise_only_matdiff_errors(text, wrt, order):
    only_matdiff_errors(text, wrt, order)


@pytest.mark.parametrize("text", [
    "-" * 3000 + "s",                                   # deep unary minus
    "tr(A" + ".T" * 3000 + ")",                         # deep transposes
    "(" * 300 + "s" + ")" * 300,                        # deeper than Python's parser allows
    "x @ " + " @ ".join(["A"] * 500) + " @ x",          # a long chain
    " + ".join(["s"] * 3000),                           # longer than the length limit
    "sum(" + "exp(" * 150 + "x" + ")" * 150 + ")",
    "1" * 5000,                                         # a huge integer
    "s ** 10 ** 10 ** 10",
    "\x00",
])
def test_extreme_inputs_fail_cleanly_and_quickly(text):
    only_matdiff_errors(text, "s", 1)


@st.composite
def derivative_requests(draw):
    """A random well-shaped expression, perhaps damaged by one edit, and a name to differentiate by."""
    text, shapes = draw(expressions())
    if draw(st.booleans()):  # one character replaced, inserted or deleted
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        piece = draw(st.sampled_from(list("()@*+-.,T ") + ["**", ".T", "x_n", "n", "axis=1"]))
        text = text[:at] + (piece if edit != "delete" else "") + text[at + (edit != "insert"):]
    wrt = draw(st.sampled_from(sorted(shapes) + ["zz"]))
    return text, shapes, wrt, draw(st.sampled_from([1, 1, 2]))


@FUZZ
@given(derivative_requests())
def test_derivatives_of_random_expressions_raise_only_matdiff_errors(request):
    text, shapes, wrt, order = request
    start = time.perf_counter()
    try:
        d = md.derivative(text, wrt, shapes, order=order)
        assert md.parse(d.text, d.variables).node is d.node
    except md.MatdiffError:
        pass
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"d/d{wrt} {text!r} took {elapsed:.1f} s"
