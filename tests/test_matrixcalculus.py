"""matrixcalculus.org's syntax in: `md.parse(text, shapes, syntax="matrixcalculus")`.

Every first-edition case of the corpus that can be written in matrixcalculus.org's syntax by a
mechanical rewrite (`@` → `*`, `.T` → `'`, `*` of arrays → `.*`, `ones(n)` → `vector(1)`, a vector on the
left of a product transposed to a row) reads to the same node as the case's own text; the examples of
matrixcalculus.org's documentation read to what they mean there, with the names nobody declared typed
by their first letter (a–g scalars, h–z vectors, A–Z matrices) and their sizes inferred; and what the
language cannot mean is refused with a caret under the text as written.
"""
from __future__ import annotations

import ast

import numpy as np
import pytest

import matdiff as md
from corpus import cases


def reads(text: str, shapes=None) -> md.Expression:
    return md.parse(text, shapes, syntax="matrixcalculus")


def shapes_of(expression: md.Expression) -> dict:
    return {name: spec.shape for name, spec in expression.variables.items()}


# ---- matrixcalculus.org's own examples (its documentation's list), as it types them --------------------

DOCUMENTATION = [  # its text, what it means in matdiff's language, with the shapes it infers
    ("0.5*x'*A*x", "0.5 * x @ A @ x", "x: n, A: n×n"),
    ("A*exp(x)", "A @ exp(x)", "A: n×m, x: m"),
    ("sin(x)'*y", "sin(x) @ y", "x: n, y: n"),
    ("(y.*v)'*x", "(y * v) @ x", "y: n, v: n, x: n"),
    ("a^b", "a ** b", "a: scalar, b: scalar"),
    ("norm1(A*x-y)", "norm(A @ x - y, 1)", "A: n×m, x: m, y: n"),
    ("norm2(A*x-y)^2", "norm2(A @ x - y) ** 2", "A: n×m, x: m, y: n"),
    ("sum(log(exp(-y.*(X*w)) + vector(1)))", "sum(log(exp(-y * (X @ w)) + ones(n)))", "y: n, X: n×m, w: m"),
    ("tr(A*X'*B*X*C)", "tr(A @ X.T @ B @ X @ C)", "A: n×m, X: p×m, B: p×p, C: m×n"),
    ("log(det(inv(X)))", "log(det(inv(X)))", "X: n×n"),
]


@pytest.mark.parametrize("text, means, inferred", DOCUMENTATION, ids=[t for t, _, _ in DOCUMENTATION])
def test_an_example_of_matrixcalculus_org_reads_to_what_it_means(text, means, inferred):
    read = reads(text)
    assert read.node is md.parse(means, inferred).node
    assert shapes_of(read) == {name: spec.shape for name, spec in md.parse_declarations(inferred).items()}


def test_the_undeclared_names_come_in_the_order_the_text_meets_them():
    assert list(reads("tr(A*X'*B*X*C)").variables) == ["A", "X", "B", "C"]


# ---- the corpus, rewritten mechanically into matrixcalculus.org's syntax -------------------------------

class Unwritable(Exception):
    """The case uses something matrixcalculus.org's language has not (softmax, kron, axis=, broadcasting)."""


_SAME_NAME = {"tr", "det", "logdet", "inv", "exp", "log", "sin", "cos", "tan", "tanh", "abs", "sign", "sqrt",
              "diag", "sum", "norm2", "sinh", "cosh"}


def to_matrixcalculus(text: str, variables: dict) -> str:
    """The case's text in matrixcalculus.org's syntax. Every compound operand is parenthesized, so the
    rewrite keeps the case's own grouping; a 1-D vector is a column, written x' where it stands as a row."""
    def shape(node: ast.AST) -> tuple:
        return md.parse(ast.unparse(node), variables).shape

    def column(node: ast.AST) -> str:
        written, row = write(node)
        return f"({written})'" if row else written

    def row(node: ast.AST) -> str:
        written, is_row = write(node)
        return written if is_row else f"({written})'"

    def aligned(left: ast.AST, right: ast.AST) -> tuple[str, str, bool]:
        """Two operands of an elementwise operation, a row with a row or a column with a column."""
        sl, sr = shape(left), shape(right)
        if sl and sr and len(sl) != len(sr):
            raise Unwritable("broadcasting a vector along a matrix")
        (a, row_a), (b, row_b) = write(left), write(right)
        if len(sl) == 1 and len(sr) == 1 and row_a != row_b:
            return column(left), column(right), False
        return a, b, row_a if len(sl) == 1 else row_b

    def write(node: ast.AST) -> tuple[str, bool]:  # the text, and whether a vector stands as a row
        if isinstance(node, ast.Name):
            return node.id, False
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return repr(node.value), False
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner, is_row = write(node.operand)
            return f"-({inner})", is_row
        if isinstance(node, ast.Attribute) and node.attr == "T":
            inner, is_row = write(node.value)
            return (f"({inner})'", False) if len(shape(node.value)) == 2 else (inner, is_row)
        if isinstance(node, ast.BinOp):
            sl, sr = shape(node.left), shape(node.right)
            if isinstance(node.op, ast.MatMult):
                if not sl or not sr:
                    raise Unwritable("@ with a scalar")
                left = row(node.left) if len(sl) == 1 else write(node.left)[0]
                right = column(node.right) if len(sr) == 1 else write(node.right)[0]
                return f"({left})*({right})", len(sl) == 1 and len(sr) == 2
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*" if not sl or not sr else ".*",
                      ast.Div: "/" if not sr else "./", ast.Pow: "^" if not sl and not sr else ".^"}.get(type(node.op))
            if symbol is None:
                raise Unwritable(type(node.op).__name__)
            a, b, is_row = aligned(node.left, node.right)
            return f"({a}){symbol}({b})", is_row
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name, args = node.func.id, node.args
            if name in _SAME_NAME and len(args) == 1:
                inner, is_row = write(args[0])
                return f"{name}({inner})", is_row and len(shape(node)) == 1
            if name == "outer":
                return f"({column(args[0])})*({row(args[1])})", False
            if name == "norm" and len(args) == 2 and ast.literal_eval(args[1]) == 1:
                return f"norm1({write(args[0])[0]})", False
            if name == "matrix_power":
                return f"({write(args[0])[0]})^{ast.literal_eval(args[1])}", False
            if name == "ones":
                return ("vector(1)" if len(args) == 1 else "matrix(1)"), False
            if name == "eye":
                return "eye", False
        raise Unwritable(ast.unparse(node))

    return write(ast.parse(text, mode="eval").body)[0]


def _rewritten(kinds):
    out = []
    for case in cases(kinds):
        try:
            md.parse(case["f"], case["vars"])
            out.append(pytest.param(case, to_matrixcalculus(case["f"], case["vars"]), id=case["id"]))
        except (Unwritable, md.MatdiffError, SyntaxError):
            continue
    return out


CORPUS = _rewritten(("case", "vjp"))


def test_most_of_the_corpus_can_be_written_in_matrixcalculus_syntax():
    assert len(CORPUS) >= 100 or not cases()


@pytest.mark.parametrize("case, written", CORPUS)
def test_a_corpus_case_written_in_matrixcalculus_syntax_reads_to_the_same_node(case, written):
    assert reads(written, case["vars"]).node is md.parse(case["f"], case["vars"]).node


def _rewritten_bad():
    out = []
    for case in cases("bad"):
        try:
            md.parse(case["f"], case["vars"])
        except md.ShapeError:
            try:
                out.append(pytest.param(case, to_matrixcalculus(case["f"], case["vars"]), id=case["id"]))
            except (Unwritable, md.MatdiffError):
                pass
        except (md.MatdiffError, SyntaxError):
            pass
    return out


@pytest.mark.parametrize("case, written", _rewritten_bad())
def test_a_corpus_shape_error_is_a_shape_error_in_matrixcalculus_syntax_too(case, written):
    with pytest.raises(md.ShapeError):
        reads(written, case["vars"])


def test_the_rewrite_of_a_case_reads_like_matrixcalculus_org():
    assert to_matrixcalculus("a @ X @ b", {"a": "n", "X": "n m", "b": "m"}) == "(((a)')*(X))*(b)"
    assert to_matrixcalculus("outer(a, b)", {"a": "n", "b": "m"}) == "(a)*((b)')"


# ---- the operators ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, means, shapes", [
    ("X'*A*X", "X.T @ A @ X", "X: n×m, A: n×n"),
    ("x'*y", "x @ y", "x: n, y: n"),  # a row times a column: the inner product
    ("x*y'", "outer(x, y)", "x: n, y: m"),  # a column times a row: the outer product
    ("(x'*A)'", "x @ A", "x: n, A: n×m"),  # a row's transpose is a column: both are matdiff's 1-D x @ A
    ("x'*A*y*z", "x @ A @ y * z", "x: n, A: n×m, y: m, z: p"),  # a scalar times a vector
    ("2*X", "2 * X", "X: n×m"),
    ("X.*Y", "X * Y", "X: n×m, Y: n×m"),
    ("X./Y", "X / Y", "X: n×m, Y: n×m"),
    ("X.^2", "X ** 2", "X: n×m"),
    ("x/a", "x / a", "x: n, a: scalar"),
    ("1./x", "1 / x", "x: n"),
    ("2.*x", "2 * x", "x: n"),  # 2. is not a number here: .* is the operator, as in MATLAB
    ("-a^2", "-a ** 2", "a: scalar"),  # the power binds tighter than the minus
    ("2^3^2", "(2 ** 3) ** 2", ""),  # and to the left, as in MATLAB
    ("a^-1", "a ** -1", "a: scalar"),
    ("X^2", "matrix_power(X, 2)", "X: n×n"),  # an integer power of a matrix is the matrix power
    ("X^3", "matrix_power(X, 3)", "X: n×n"),
    ("X^-1", "inv(X)", "X: n×n"),
    ("X^0", "eye(n)", "X: n×n"),
    ("x.'*y", "x @ y", "x: n, y: n"),
    ("A*x + b", "A @ x + b", "A: n×m, x: m, b: n"),  # b declared a vector: a declaration wins over the letter
])
def test_an_operator_reads_as_matrixcalculus_org_means_it(text, means, shapes):
    read = reads(text, shapes)
    assert read.node is md.parse(means, shapes).node


def test_a_matrix_power_is_the_product_of_the_matrix_with_itself():
    X = np.random.default_rng(0).normal(size=(4, 4))
    assert np.allclose(reads("X^3").evaluate({"X": X}), X @ X @ X)


@pytest.mark.parametrize("text, means, shapes", [
    ("norm1(x)", "norm(x, 1)", "x: n"),
    ("norm1(X)", "sum(abs(X))", "X: n×m"),  # the entrywise 1-norm, not NumPy's largest column sum
    ("norm2(x)", "norm2(x)", "x: n"),
    ("norm2(X)", "norm2(X)", "X: n×m"),  # the Frobenius norm
    ("sum(X)", "sum(X)", "X: n×m"),
    ("sum(x')", "sum(x)", "x: n"),
    ("tr(X)", "tr(X)", "X: n×n"),
    ("det(X)", "det(X)", "X: n×n"),
    ("logdet(X)", "logdet(X)", "X: n×n"),
    ("inv(X)", "inv(X)", "X: n×n"),
    ("diag(x)", "diag(x)", "x: n"),
    ("diag(X)", "diag(X)", "X: n×n"),
    ("exp(X)", "exp(X)", "X: n×m"),  # elementwise, not the matrix exponential
    ("tanh(W*x)", "tanh(W @ x)", "W: n×m, x: m"),
    ("x + vector(1)", "x + ones(n)", "x: n"),
    ("x'*matrix(1)*y", "x @ ones(n, m) @ y", "x: n, y: m"),
    ("x + vector(3)", "x + 3 * ones(n)", "x: n"),
    ("X + a*eye", "X + a * eye(n)", "X: n×n, a: scalar"),
    ("tr(a)", "a", "a: scalar"),  # a scalar is a 1×1 matrix
    ("inv(a)", "1 / a", "a: scalar"),
])
def test_a_function_reads_as_matrixcalculus_org_means_it(text, means, shapes):
    assert reads(text, shapes).node is md.parse(means, shapes).node


def test_the_translation_means_what_numpy_computes_for_the_formula():
    rng = np.random.default_rng(1)
    X, w, y = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    value = reads("sum(log(exp(-y.*(X*w)) + vector(1)))").evaluate({"X": X, "w": w, "y": y})
    assert np.isclose(value, np.sum(np.log(np.exp(-y * (X @ w)) + 1)))


# ---- typing by first letter, and the sizes inferred ------------------------------------------------------

def test_an_undeclared_name_is_typed_by_its_first_letter():
    assert shapes_of(reads("a*h + b*z")) == {"a": (), "h": ("n",), "b": (), "z": ("n",)}
    assert shapes_of(reads("sum(G)")) == {"G": ("n", "m")}
    assert shapes_of(reads("sum(mu)")) == {"mu": ("n",)}


def test_a_declared_name_keeps_its_declaration():
    assert shapes_of(reads("x'*A*x", "x: 3")) == {"x": (3,), "A": (3, 3)}
    assert shapes_of(reads("lam*x", "lam: scalar")) == {"lam": (), "x": ("n",)}


def test_an_undeclared_size_takes_the_name_of_the_declared_one_it_meets():
    assert shapes_of(reads("x'*A*y", "A: d×k")) == {"A": ("d", "k"), "x": ("d",), "y": ("k",)}


def test_a_fresh_size_never_takes_a_name_already_used():
    read = reads("n'*A*m", "A: p×q")
    assert shapes_of(read) == {"A": ("p", "q"), "n": ("p",), "m": ("q",)}
    assert shapes_of(reads("sum(X) + sum(n)")) == {"X": ("m", "p"), "n": ("q",)}


def test_the_inferred_shapes_differentiate():
    assert md.derivative("x'*A*x", "x", syntax="matrixcalculus") == \
        md.derivative("x @ A @ x", "x", "x: n, A: n×n")
    assert md.gradient("norm2(X*w-y)^2", "w", syntax="matrixcalculus") == \
        md.gradient("norm2(X @ w - y) ** 2", "w", "X: n×m, w: m, y: n")
    assert md.vjp("W*X", "W", syntax="matrixcalculus").text == "G @ X.T"
    both = md.gradient("norm2(X - D*R)^2", ["D", "R"], syntax="matrixcalculus")
    assert both["R"] == md.gradient("norm2(X - D @ R) ** 2", "R", "X: n×m, D: n×p, R: p×m")


def test_the_syntax_is_one_the_library_knows():
    with pytest.raises(md.DeclarationError, match="matrixcalculus"):
        md.parse("x", syntax="matlab")


# ---- what the language cannot mean, refused with the operands named and a caret under the text -------------

@pytest.mark.parametrize("text, shapes, error, words", [
    ("x*y", None, md.ShapeError, "x'*y is the inner product"),
    ("A*x", "A: n×m, x: n", md.ShapeError, "m ≠ n"),
    ("x'*A*x", "A: n×m", md.ShapeError, "x'*A (row vector, length m)"),
    ("x + y'", None, md.ShapeError, "transpose one of them"),
    ("x^2", None, md.ShapeError, "x.^2 raises its entries"),
    ("X^a", None, md.NotSupportedError, "a is not an integer"),
    ("X^0.5", None, md.NotSupportedError, "no matrix power"),
    ("X^2", "X: n×m", md.ShapeError, "square"),
    ("a^x", None, md.ShapeError, "must be a scalar"),
    ("a/x", None, md.ShapeError, "./ divides elementwise"),
    ("tr(x)", None, md.ShapeError, "square matrix"),
    ("sum(vector(1))", None, md.ShapeError, "set by nothing"),
    ("foo(x)", None, md.UnknownNameError, "not a function of matrixcalculus.org"),
    ("X @ Y", None, md.ParseError, "the matrix product is written *"),
    ("X**2", None, md.ParseError, "a power is written ^"),
    ("X.T", None, md.ParseError, "the transpose is written X'"),
    ("x y", None, md.ParseError, "a product is written with *"),
    ("(x + y", None, md.ParseError, "never closed"),
    ("exp", None, md.ParseError, "write exp(…)"),
    ("eye(3)", None, md.ParseError, "eye takes no argument"),
    ("in + x", None, md.UnknownNameError, "Python keyword"),
    ("__import__(x)", None, md.UnknownNameError, "not a function of matrixcalculus.org"),  # read, never run
    ("_a + x", None, md.UnknownNameError, "neither a–z nor A–Z"),
    ("sum(x, 1)", None, md.ParseError, "one argument"),
])
def test_what_the_language_cannot_mean_is_refused(text, shapes, error, words):
    with pytest.raises(error) as raised:
        reads(text, shapes)
    assert words in str(raised.value)


def test_the_caret_points_into_the_text_as_written():
    with pytest.raises(md.ShapeError) as raised:
        reads("norm2(x) + a*y'*B*z", "B: n×m, z: k")
    lines = str(raised.value).splitlines()
    assert lines[-2] == "    norm2(x) + a*y'*B*z"
    assert lines[-1] == "               " + "^" * 8  # under a*y'*B*z, the product whose sizes do not fit
