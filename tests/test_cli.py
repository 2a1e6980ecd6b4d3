"""The command line (`matdiff show`, `matdiff diff`): every format, the JSON schema, errors, help, the demo.

The engine's own answers are the reference for what each form should say; these tests check that
the command line asks the right question and prints the right form, in the right place.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff.cli import app

ROOT = Path(__file__).resolve().parents[1]
TRACE = "tr(A @ X @ B)"
TRACE_SHAPES = "A: n×p, X: p×q, B: q×n"
LAYER = "norm2(tanh(X @ W) - Y) ** 2"
LAYER_SHAPES = "X: n×p, W: p×k, Y: n×k"
PRODUCT_SHAPES = "W: m×q, X: q×n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(*args: str, input: str | None = None, **env: str):
    return CliRunner().invoke(app, list(args), input=input, env=env or None)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def assert_ok(result) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)


# ---- show -------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["text", "unicode", "latex"])
def test_show_one_line_forms(form):
    result = run("show", TRACE, "--where", TRACE_SHAPES, "--format", form)
    assert_ok(result)
    assert result.stdout == getattr(md.parse(TRACE, TRACE_SHAPES), form) + "\n"


def test_show_text_is_the_expression_language():
    result = run("show", "tr(A @ X @ B)", "-w", TRACE_SHAPES, "-f", "text")
    assert result.stdout.strip() == "tr(A @ X @ B)"


def test_show_piped_default_is_a_plain_report_with_shape_and_every_form():
    expression = md.parse(LAYER, LAYER_SHAPES)
    result = run("show", LAYER, "--where", LAYER_SHAPES)
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert any(line.split() == ["shape", "scalar"] for line in lines)
    for form in ("text", "unicode", "latex"):
        assert any(line.startswith(form) and line.endswith(getattr(expression, form)) for line in lines), form
    assert "\x1b[" not in result.stdout and "╭" not in result.stdout


def test_show_matrix_shape_in_the_report():
    result = run("show", "A @ X", "-w", TRACE_SHAPES, "-f", "plain")
    assert_ok(result)
    assert "n×q" in result.stdout


def test_show_rich_has_a_panel_per_form():
    result = run("show", TRACE, "-w", TRACE_SHAPES, "--format", "rich")
    assert_ok(result)
    out = plain(result.stdout)
    for title in ("─ text ", "─ unicode ", "─ latex "):
        assert title in out
    assert "tr(A X B)" in out and "scalar" in out


def test_default_on_a_terminal_is_rich():
    result = run("show", TRACE, "-w", TRACE_SHAPES, FORCE_COLOR="1")
    assert_ok(result)
    assert "╭" in plain(result.stdout)


def test_show_markdown_has_display_latex():
    expression = md.parse(TRACE, TRACE_SHAPES)
    result = run("show", TRACE, "-w", TRACE_SHAPES, "-f", "markdown")
    assert_ok(result)
    assert f"$${expression.latex}$$" in result.stdout
    assert f"`{expression.text}`" in result.stdout


def test_show_without_declarations_for_a_constant_expression():
    result = run("show", "2 + 3", "-f", "json")
    assert_ok(result)
    assert json.loads(result.stdout)["shape"] == []


# ---- diff -------------------------------------------------------------------------------------


def test_gradient_of_trace():
    result = run("diff", TRACE, "--wrt", "X", "--where", TRACE_SHAPES, "--format", "text")
    assert_ok(result)
    assert result.stdout == "A.T @ B.T\n"


@pytest.mark.parametrize("form", ["text", "unicode", "latex"])
def test_diff_one_line_forms(form):
    expected = md.derivative(LAYER, "W", LAYER_SHAPES)
    result = run("diff", LAYER, "--wrt", "W", "--where", LAYER_SHAPES, "--format", form)
    assert_ok(result)
    assert result.stdout == getattr(expected, form) + "\n"


def test_diff_plain_report_names_kind_shape_and_layout():
    expected = md.derivative(LAYER, "W", LAYER_SHAPES)
    result = run("diff", LAYER, "-x", "W", "-w", LAYER_SHAPES, "-f", "plain")
    assert_ok(result)
    out = result.stdout
    assert "gradient" in out and "p×k" in out and expected.layout in out
    assert expected.prefers_bound  # tanh(X @ W) is written twice: A = tanh(X @ W), then the answer
    for form in ("text", "unicode", "latex"):
        first, *rest = expected.shown(form).split("\n")
        assert first in out and all(line in out for line in rest)
    assert "where           A named" in out


def test_diff_prints_a_deep_hessian_with_bindings():
    """A 16-layer network's Hessian, 23 kB as one line, is its bound form on the screen; text stays one line."""
    layers = 16
    expression = "x"
    for i in range(1, layers + 1):
        expression = f"tanh(W{i} @ {expression})"
    shapes = ", ".join(["x: n"] + [f"W{i}: n×n" for i in range(1, layers + 1)])
    result = run("diff", f"sum({expression})", "-x", "x", "-n", "2", "-w", shapes, "-f", "plain")
    assert_ok(result)
    expected = md.derivative(f"sum({expression})", "x", shapes, order=2)
    assert expected.bound_text.split("\n")[0] in result.stdout and expected.text not in result.stdout
    assert len(result.stdout) < len(expected.text)
    one_line = run("diff", f"sum({expression})", "-x", "x", "-n", "2", "-w", shapes, "-f", "text")
    assert one_line.stdout == expected.text + "\n"


def test_diff_rich_has_panels_kind_and_layout():
    expected = md.derivative("W @ X", "W", PRODUCT_SHAPES)
    result = run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, "-f", "rich")
    assert_ok(result)
    out = plain(result.stdout)
    assert "─ text " in out and "─ unicode " in out and "─ latex " in out
    assert expected.kind in out and expected.text in out
    assert "vec form" in out


def test_diff_markdown():
    expected = md.derivative(TRACE, "X", TRACE_SHAPES)
    result = run("diff", TRACE, "-x", "X", "-w", TRACE_SHAPES, "-f", "markdown")
    assert_ok(result)
    assert f"$${expected.latex}$$" in result.stdout
    assert f"`{expected.text}`" in result.stdout
    assert "gradient" in result.stdout


def test_vjp_of_a_product():
    by_w = run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, "--vjp", "G", "-f", "text")
    by_x = run("diff", "W @ X", "--wrt", "X", "-w", PRODUCT_SHAPES, "--vjp", "G", "-f", "text")
    assert_ok(by_w)
    assert_ok(by_x)
    assert by_w.stdout.strip() == "G @ X.T"
    assert by_x.stdout.strip() == "W.T @ G"


def test_hessian_by_order():
    expected = md.derivative("x @ A @ x", "x", "x: n, A: n×n", order=2)
    result = run("diff", "x @ A @ x", "--wrt", "x", "-w", "x: n, A: n×n", "--order", "2", "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert answer["derivative"]["kind"] == "hessian"
    assert answer["derivative"]["text"] == expected.text
    assert answer["wrt"] == ["x", "x"]


def test_mixed_derivative_is_asked_for_by_name():
    expected = md.derivative("tr(W @ X)", ("W", "X"), "W: m×q, X: q×m")
    result = run("diff", "tr(W @ X)", "--wrt", "W", "--wrt", "X", "--mixed", "-w", "W: m×q, X: q×m", "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert answer["wrt"] == ["W", "X"]
    assert answer["derivative"]["text"] == expected.text


def test_repeated_wrt_gives_the_gradient_by_each():
    f, where = "norm2(X - D @ R) ** 2", "X: m×n, D: m×k, R: k×n"
    expected = md.gradient(f, ["D", "R"], where)
    assert list(expected) == ["D", "R"] and expected["D"].text == md.gradient(f, "D", where).text
    result = run("diff", f, "--wrt", "D", "--wrt", "R", "-w", where, "-f", "text")
    assert_ok(result)
    assert result.stdout.splitlines() == [expected["D"].text, expected["R"].text]
    result = run("diff", f, "--wrt", "D", "--wrt", "R", "-w", where, "-f", "json")
    assert_ok(result)
    answers = json.loads(result.stdout)
    assert [a["wrt"] for a in answers] == [["D"], ["R"]]
    assert [a["derivative"]["kind"] for a in answers] == ["gradient", "gradient"]


@pytest.mark.parametrize("convention", ["sym", "cookbook", "none"])
def test_symmetric_convention_is_passed_through(convention):
    expected = md.derivative("logdet(S)", "S", "S: n×n sym", symmetric=convention)
    result = run("diff", "logdet(S)", "--wrt", "S", "-w", "S: n×n sym", "--symmetric", convention, "-f", "text")
    assert_ok(result)
    assert result.stdout.strip() == expected.text


# ---- JSON schema ------------------------------------------------------------------------------

TOP_KEYS = {"expression", "unicode", "latex", "shape", "variables", "wrt", "bound", "derivative"}
DERIVATIVE_KEYS = {"text", "unicode", "latex", "kind", "layout", "shape", "cotangent", "index", "bound"}


def assert_shape(shape) -> None:
    assert isinstance(shape, list)
    assert all(isinstance(d, (int, str)) and not isinstance(d, bool) for d in shape)


def test_json_schema_of_diff():
    result = run("diff", LAYER, "--wrt", "W", "-w", LAYER_SHAPES, "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert set(answer) == TOP_KEYS
    assert answer["expression"] == md.parse(LAYER, LAYER_SHAPES).text
    assert isinstance(answer["unicode"], str) and isinstance(answer["latex"], str)
    assert answer["shape"] == []
    assert answer["wrt"] == ["W"]
    assert answer["variables"]["W"] == {"shape": ["p", "k"], "properties": []}
    derivative = answer["derivative"]
    assert set(derivative) == DERIVATIVE_KEYS
    for key in ("text", "unicode", "latex", "kind", "layout"):
        assert isinstance(derivative[key], str)
    assert derivative["kind"] == "gradient"
    assert derivative["shape"] == ["p", "k"]
    assert derivative["cotangent"] is None
    assert derivative["text"] == md.derivative(LAYER, "W", LAYER_SHAPES).text
    assert derivative["index"] == md.derivative(LAYER, "W", LAYER_SHAPES).index.text
    assert answer["bound"] is None  # the function repeats nothing
    bound = derivative["bound"]  # the answer repeats tanh(X @ W): A = tanh(X @ W), then the answer
    assert bound["names"] == ["A"] and bound["shorter"] is True
    assert md.parse_block(bound["text"], LAYER_SHAPES) == md.derivative(LAYER, "W", LAYER_SHAPES)


def test_json_schema_of_show_has_every_key():
    result = run("show", TRACE, "-w", TRACE_SHAPES, "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert set(answer) == TOP_KEYS
    assert answer["derivative"] is None and answer["wrt"] == []
    assert answer["expression"] == "tr(A @ X @ B)"
    for spec in answer["variables"].values():
        assert_shape(spec["shape"])
        assert isinstance(spec["properties"], list)


def test_json_dims_are_ints_symbols_and_products():
    result = run("diff", "W @ X", "--wrt", "W", "-w", "W: 3×q, X: q×n", "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert answer["shape"] == [3, "n"]
    assert_shape(answer["derivative"]["shape"])
    assert answer["derivative"]["kind"] == "vec"
    assert len(answer["derivative"]["shape"]) == 2  # d vec(f) / d vec(W): products of dims, as text


def test_json_of_a_vjp_names_the_cotangent():
    result = run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, "--vjp", "G", "-f", "json")
    assert_ok(result)
    answer = json.loads(result.stdout)
    assert answer["derivative"]["kind"] == "vjp"
    assert answer["derivative"]["cotangent"] == "G"
    assert answer["variables"]["G"]["shape"] == ["m", "n"]


def test_json_properties_of_a_symmetric_variable():
    result = run("show", "logdet(S)", "-w", "S: n×n sym", "-f", "json")
    assert json.loads(result.stdout)["variables"]["S"]["properties"] == ["sym"]


# ---- errors -----------------------------------------------------------------------------------


def assert_one_clean_error(result) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("error: ") == 1


def test_parse_error_shows_the_caret():
    result = run("show", "tr(A @@ X)", "-w", "A: n×n, X: n×n")
    assert_one_clean_error(result)
    lines = result.stderr.splitlines()
    assert any(line.strip() == "tr(A @@ X)" for line in lines)
    caret_line = next(line for line in lines if line.strip() and set(line.strip()) == {"^"})
    source_line = next(line for line in lines if line.strip() == "tr(A @@ X)")
    assert source_line[caret_line.index("^")] == "@"


def test_shape_error_names_the_operands_with_a_caret():
    result = run("diff", "A @ X", "--wrt", "X", "-w", "A: n×p, X: q×n", "-f", "plain")
    assert_one_clean_error(result)
    assert "n×p" in result.stderr and "q×n" in result.stderr
    assert "^" in result.stderr


def test_unknown_variable_to_differentiate_by():
    result = run("diff", "tr(X)", "--wrt", "Y", "-w", "X: n×n")
    assert_one_clean_error(result)
    assert "'Y'" in result.stderr


def test_unknown_function():
    result = run("show", "foo(X)", "-w", "X: n×n")
    assert_one_clean_error(result)
    assert "foo" in result.stderr and "^" in result.stderr


def test_bad_declaration():
    result = run("show", "X", "-w", "X n×n")
    assert_one_clean_error(result)


def test_higher_order_of_a_matrix_function_is_not_supported():
    result = run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, "--order", "2")
    assert_one_clean_error(result)


@pytest.mark.parametrize("args", [
    ["--wrt", "W", "--wrt", "X", "--vjp", "G"],  # a VJP is by one variable
    ["--wrt", "W", "--wrt", "X", "--mixed", "--order", "2"],  # an order or a mixed derivative, not both
    ["--wrt", "W", "--mixed"],  # a mixed derivative needs two variables
    ["--wrt", "W", "--format", "html"],
    ["--wrt", "W", "--symmetric", "upper"],
    ["--wrt", "W", "--order", "0"],
])
def test_bad_command_lines_exit_2_without_traceback(args):
    result = run("diff", "W @ X", "-w", PRODUCT_SHAPES, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--order", "0"], "Invalid value for '--order' / '-n': Input should be greater than or equal to 1"),
    (["--order", "two"], "Input should be a valid integer"),
    (["--order", "1.5"], "Input should be a valid integer, got a number with a fractional part"),
    (["--format", "html"], "'html' is not one of 'rich', 'plain', 'text', 'unicode', 'latex', 'markdown', 'json'."),
])
def test_bad_option_values_are_named_with_the_option(args, message):
    """The command line reads its options without pydantic (cli.PlainReading), in Typer's words."""
    result = run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, *args)
    assert result.exit_code == 2
    assert message in " ".join(plain(result.output).replace("│", " ").split())


def test_option_values_read_as_typer_reads_them():
    # a choice in any case, an integral order written as a float, --wrt repeated: as Typer (with pydantic) read them
    result = run("diff", "x @ A @ x", "--wrt", "x", "-w", "x: n, A: n×n", "-f", "TEXT", "--order", "2.0")
    assert_ok(result)
    assert result.stdout == "A + A.T\n"
    result = run("diff", "W @ X", "--wrt", "W", "--wrt", "X", "-w", PRODUCT_SHAPES, "--vjp", "G", "-f", "text")
    assert result.exit_code == 2  # two variables reached the command as a list


def json_error(result) -> dict:
    """The error of a command run with --format json: on stdout, as JSON, exit code 2, nothing on stderr."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == "" and "Traceback" not in result.output
    return json.loads(result.stdout)


def test_json_errors_are_json_on_stdout_with_their_fields():
    error = json_error(run("diff", "A @ X", "--wrt", "X", "-w", "A: n×p, X: q×n", "-f", "json"))
    assert error == {
        "error": "A @ X: A is n×p but X is q×n (columns p ≠ rows q)\n    A @ X\n    ^^^^^",
        "message": "A @ X: A is n×p but X is q×n (columns p ≠ rows q)",
        "kind": "shape",
        "caret": "    A @ X\n    ^^^^^",
        "position": {"column": 0, "length": 5},
        "suggestions": [],
    }
    error = json_error(run("show", "tr(A @@ X)", "-w", "A: n×n, X: n×n", "-f", "json"))
    assert error["kind"] == "parse" and "tr(A @@ X)"[error["position"]["column"]] == "@"
    error = json_error(run("show", "lgdet(X)", "-w", "X: n×n", "-f", "json"))
    assert error["kind"] == "unknown name" and "logdet" in error["suggestions"]
    assert error["position"] == {"column": 0, "length": 5}


def test_json_errors_of_verify_explain_and_of_a_bad_combination_of_options():
    error = json_error(run("verify", "W @ X", "--wrt", "W", "--claim", "X.T +", "-w", PRODUCT_SHAPES, "-f", "json"))
    assert error["kind"] == "parse" and error["message"].startswith("the claim does not parse")
    error = json_error(run("explain", "W @ V", "--wrt", "W", "-w", PRODUCT_SHAPES, "-f", "json"))
    assert error["kind"] == "unknown name"
    error = json_error(run("diff", "W @ X", "--wrt", "W", "-w", PRODUCT_SHAPES, "--vjp", "G", "--order", "2",
                           "-f", "json"))
    assert error["kind"] == "usage" and error["message"] == "a VJP is by one variable, of order 1"


def test_a_dash_reads_the_expression_from_standard_input():
    result = run("diff", "-", "--wrt", "X", "-w", TRACE_SHAPES, "-f", "text", input=f"{TRACE}\n")
    assert_ok(result)
    assert result.stdout == md.derivative(TRACE, "X", TRACE_SHAPES).text + "\n"
    result = run("show", "-", "-w", TRACE_SHAPES, "-f", "json", input=TRACE)
    assert_ok(result)
    assert json.loads(result.stdout)["expression"] == TRACE
    result = run("code", "-", "--wrt", "X", "-w", TRACE_SHAPES, input=TRACE)
    assert_ok(result)
    assert "def f(A, X, B)" in result.stdout
    assert json_error(run("show", "-", "-f", "json", input=""))["message"] == "the expression is empty"


def test_a_pipe_into_matdiff():
    result = subprocess.run([sys.executable, "-m", "matdiff.cli", "diff", "-", "--wrt", "W", "-w", PRODUCT_SHAPES,
                             "-f", "text"], input="W @ X", capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout == "kron(X.T, eye(m))\n", result.stderr


def test_a_glued_declaration_like_nxn_suggests_n_times_n():
    result = run("show", "A @ x", "-w", "A: nxn, x: n")
    assert_one_clean_error(result)
    assert "'nxn' is one word, not a shape (did you mean 'n×n'?)" in result.stderr
    assert "'n x n'" in result.stderr and "'(n, n)'" in result.stderr
    error = json_error(run("show", "A", "-w", "A: 3x4", "-f", "json"))
    assert error["kind"] == "declaration" and error["suggestions"] == ["3×4"]
    with pytest.raises(md.MatdiffError, match="did you mean 'n1×k'"):
        md.parse("A", {"A": ("n1xk",)})
    # the written forms of a matrix, and dimension names that merely contain an x, are as before
    for declared in ("A: n×n", "A: n x n", "A: n X n", "A: (n, n)", "A: n by n"):
        assert md.parse("A", declared).shape == ("n", "n"), declared
    assert md.parse("A", "A: nx").shape == ("nx",) and md.parse("A", "A: maxlen").shape == ("maxlen",)


def test_diff_needs_wrt():
    result = run("diff", "W @ X", "-w", PRODUCT_SHAPES)
    assert result.exit_code == 2


# ---- help and version -------------------------------------------------------------------------


def test_version():
    result = run("--version")
    assert_ok(result)
    assert result.stdout.strip() == f"matdiff {md.__version__}"


def test_no_arguments_shows_help():
    result = run()
    assert "show" in plain(result.output) and "diff" in plain(result.output)


def test_app_help_lists_the_commands():
    result = run("--help")
    assert_ok(result)
    out = plain(result.stdout)
    assert "show" in out and "diff" in out and "--version" in out


def test_show_help_has_examples():
    result = run("show", "--help")
    assert_ok(result)
    out = plain(result.stdout)
    assert "Examples" in out
    assert 'matdiff show "tr(A @ X @ B)" --where "A: n×p, X: p×q, B: q×n"' in out
    assert "--format" in out


def test_diff_help_has_examples_of_every_option():
    result = run("diff", "--help")
    assert_ok(result)
    out = plain(result.stdout)
    assert "Examples" in out
    assert 'matdiff diff "tr(A @ X @ B)" --wrt X' in out
    for option in ("--vjp G", "--order 2", "--symmetric cookbook", "--format json"):
        assert option in out, option


# ---- the demo ---------------------------------------------------------------------------------


def test_demo_runs_and_every_derivative_agrees_with_finite_differences():
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True,
                               text=True, encoding="utf-8", timeout=120, cwd=ROOT,
                               env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "all agree" in completed.stdout
    assert "Traceback" not in completed.stderr


# ---- code and check ----------------------------------------------------------------------------

def test_code_prints_a_function_that_computes_value_and_gradient():
    result = run("code", LAYER, "--wrt", "W", "-w", LAYER_SHAPES)
    assert_ok(result)
    namespace: dict = {}
    import numpy as np
    exec(compile(result.stdout, "<generated>", "exec"), {"np": np}, namespace)
    rng = np.random.default_rng(0)
    x, w, y = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    value, grad = namespace["f"](x, w, y)
    assert np.isclose(value, np.linalg.norm(np.tanh(x @ w) - y) ** 2)
    expected = md.derivative(LAYER, "W", LAYER_SHAPES).evaluate({"X": x, "W": w, "Y": y})
    assert np.allclose(grad, expected)


def test_code_for_each_backend_and_hessian():
    for backend in ("numpy", "jax", "torch"):
        result = run("code", "x @ A @ x", "--wrt", "x", "-w", "x: n, A: n×n", "--backend", backend, "--hessian")
        assert_ok(result)
        assert "def f(" in result.stdout


def test_check_reports_errors_within_tolerance():
    result = run("check", LAYER, "--wrt", "W", "-w", LAYER_SHAPES)
    assert_ok(result)
    assert "central differences" in result.stdout and "all within tolerance" in result.stdout


def test_diff_with_check_appends_the_numeric_check():
    result = run("diff", "x @ A @ x", "--wrt", "x", "-w", "x: n, A: n×n", "--order", "2", "--check", "-f", "text")
    assert_ok(result)
    assert result.stdout.splitlines()[0] == "A + A.T"
    assert "all within tolerance" in result.stdout


def test_code_with_a_bad_name_is_a_clean_error():
    result = run("code", "sum(x)", "--wrt", "x", "-w", "x: n", "--name", "import")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
