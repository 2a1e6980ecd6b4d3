"""The terminal face of matdiff: `matdiff show` and `matdiff diff` (Typer, rendered with Rich).

This module owns the command line only: options, the output formats and how errors reach a
person. Parsing, shapes and calculus are the engine's (`matdiff.api`); nothing here computes.

Commands
    matdiff show "tr(A @ X @ B)" --where "A: n×p, X: p×q, B: q×n"
    matdiff diff "norm2(tanh(X @ W) - Y) ** 2" --wrt W --where "X: n×p, W: p×k, Y: n×k"
    matdiff diff "x @ A @ x" --wrt x --where "x: n, A: n×n" --order 2
    matdiff diff "W @ X" --wrt W --where "W: m×q, X: q×n" --vjp G
    matdiff diff "norm2(X - D @ R) ** 2" --wrt D --wrt R -w "X: m×n, D: m×k, R: k×n"   (both gradients)
    matdiff diff "norm2(X - D @ R) ** 2" --wrt D --wrt R --mixed -w "..."   (d/dR of d/dD f)
    matdiff diff "norm2(X*w-y)^2" --wrt w --syntax matrixcalculus            (matrixcalculus.org's language)
    matdiff diff --latex "\\frac{\\partial}{\\partial W} \\|XW - Y\\|_F^2" -w "X: n×p, W: p×k, Y: n×k"

Several --wrt print one report per variable: a line each in the one-line formats (text, unicode,
latex), in the order given; a JSON array of report objects with --format json.

Output formats (`--format`, both commands)
    (default)  `rich` when stdout is a terminal, `plain` when it is piped
    rich       a panel per form (text, Unicode, LaTeX) with the shape, kind and layout; where the
               answer repeats subexpressions and that is shorter, each form is its bound form: the
               repeated parts named once (Z = X @ W, ...), the answer on the last line
    plain      the same report as labelled lines, no colour
    text       one line: the answer (the derivative for `diff`, the expression for `show`)
               in the expression language, re-parseable by `matdiff.parse`
    unicode    one line: the answer in Unicode matrix notation
    latex      one line: the answer in LaTeX
    markdown   a Markdown block with display LaTeX (the bound form where shorter), for notes and notebooks
    json       the report as JSON: the schema in `matdiff.report` (shared with the page's API), the
               bound forms under "bound"

The expression
    Every command takes it as its first argument; `-` reads it from standard input
    (`echo "tr(A @ X)" | matdiff diff - --wrt X -w "A: n×n, X: n×n"`). It is in matdiff's language unless
    `--syntax matrixcalculus` (matrixcalculus.org's, `X'*A*X`) or `--latex` says otherwise (show, diff, explain,
    code); with `--latex` the declarations may be LaTeX too, and a whole question (`\\frac{\\partial}{\\partial W}
    …`) gives the variable, so that --wrt may be left out.

Errors
    Any `matdiff.MatdiffError` (text that does not parse, shapes that do not fit, an unknown
    name) is printed as one red message on stderr, caret lines included, with exit code 2 (the
    code Click gives usage errors). With `--format json` it is printed on stdout instead, as the
    JSON of `matdiff.report.error_json`: {"error", "message", "kind", "caret", "position",
    "suggestions"}, exit code 2 still. Other exceptions are bugs and keep their traceback.

Start-up
    A call loads what its command uses and no more: Rich when something is drawn on a terminal (a panel, a
    spinner, an error in red), each command's engine module when it runs, and no pydantic (see `PlainReading`).
    `matdiff diff` costs about what `python -c "import matdiff; …"` costs for the same derivative
    (tests/test_startup.py holds it to that).
"""

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__
from .api import SYMMETRIC_CONVENTIONS, SYNTAXES, Expression, derivative, parse, parse_latex, vjp
from .errors import MatdiffError
from .language.latex_declarations import declarations as latex_declarations
from .language.latex_questions import is_question, parse_latex_question
from .report import Report, error_json, index_text, report_json

if TYPE_CHECKING:
    from rich.console import Console

USAGE_ERROR_EXIT_CODE = 2  # what Click uses for a bad command line; a bad expression is one too


# ---- reading the arguments without pydantic ------------------------------------------------------------------
# Typer (0.29) reads every argument through a pydantic TypeAdapter, and loading pydantic costs a quarter of a
# whole `matdiff diff` call. This command line takes only text, lists of text, bounded integers and choices (str
# Enums); each of its parameters gets a reading of its own here before Typer would build an adapter, with Typer's
# messages. Any other parameter, or a Typer without the hook (`_runtime_param`), reads as Typer reads it.
FLAG_WORDS = {**dict.fromkeys(("", "0", "off", "f", "false", "n", "no"), False),
              **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True)}


class PlainReading:
    """One parameter's reading, in the place of Typer's `RuntimeParam`: `coerce(value, param, ctx)`."""

    def __init__(self, read_one: Callable[[Any, Any], Any], multiple: bool) -> None:
        self.read_one, self.multiple = read_one, multiple

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if self.multiple else None
        try:
            if self.multiple:
                if isinstance(value, str):
                    raise ValueError("Value must be an iterable.")
                return [self.read_one(item, ctx) for item in value]
            return self.read_one(value, ctx)
        except ValueError as error:
            raise typer.BadParameter(str(error), ctx=ctx, param=param) from None


def read_integer(least: "int | None", most: "int | None") -> Callable[[Any, Any], int]:
    def read(value: Any, ctx: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            try:
                written = float(value)  # "2.0" is 2, as Typer reads it
            except (TypeError, ValueError):
                raise ValueError("Input should be a valid integer, unable to parse string as an integer") from None
            if not written.is_integer():
                raise ValueError("Input should be a valid integer, got a number with a fractional part") from None
            number = int(written)
        if least is not None and number < least:
            raise ValueError(f"Input should be greater than or equal to {least}")
        if most is not None and number > most:
            raise ValueError(f"Input should be less than or equal to {most}")
        return number
    return read


def read_flag(value: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    if (word := str(value).strip().lower()) not in FLAG_WORDS:
        raise ValueError("Input should be a valid boolean, unable to interpret input")
    return FLAG_WORDS[word]


def plain_reading(param: Any) -> "PlainReading | None":
    """The reading of a parameter of one of this command line's kinds; None leaves it to Typer."""
    try:
        from typer._param_types import coerce_cli_choice
        annotation, info = param.type_descriptor.annotation, param.type_descriptor.parameter_info
        if info.parser is not None or info.clamp:
            return None
    except (ImportError, AttributeError):
        return None
    multiple = bool(param.multiple) or param.nargs == -1
    if multiple:
        if annotation != list[str]:
            return None
        annotation = str
    if annotation is str:
        return PlainReading(lambda value, ctx: str(value), multiple)
    if annotation is bool:
        return PlainReading(read_flag, multiple)
    if annotation is int:
        return PlainReading(read_integer(info.min, info.max), multiple)
    if isinstance(annotation, type) and issubclass(annotation, Enum) and issubclass(annotation, str):
        return PlainReading(lambda value, ctx: coerce_cli_choice(
            value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx), multiple)
    return None


class ReadPlainly:
    """A Typer command or group whose parameters (--help included) are read by `plain_reading` where they can be."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "_runtime_param", False) is None and (reading := plain_reading(param)) is not None:
                param._runtime_param = reading
        return params


class MatdiffGroup(ReadPlainly, TyperGroup):
    pass


class MatdiffCommand(ReadPlainly, TyperCommand):
    pass


def is_terminal(stderr: bool = False) -> bool:
    """Whether Rich would draw on stdout (stderr): loads Rich only where it could say yes."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not (tty or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1"):
        return False  # Rich's own test comes to no either way
    from rich.console import Console
    return Console(stderr=stderr).is_terminal


app = typer.Typer(
    name="matdiff",
    cls=MatdiffGroup,
    epilog="Run [bold]matdiff show --help[/bold] or [bold]matdiff diff --help[/bold] for examples.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # a bug report should not dump every local of the engine
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(str, Enum):
    rich = "rich"
    plain = "plain"
    text = "text"
    unicode = "unicode"
    latex = "latex"
    markdown = "markdown"
    json = "json"


SymmetricConvention = Enum("SymmetricConvention", {c: c for c in SYMMETRIC_CONVENTIONS}, type=str)

FormatOption = Annotated[
    Optional[OutputFormat],
    typer.Option("--format", "-f", case_sensitive=False, show_default=False,
                 help="Default: rich on a terminal, plain when piped."),
]
WhereOption = Annotated[
    Optional[str],
    typer.Option("--where", "-w", metavar="DECLARATIONS",
                 help='The variables\' shapes, e.g. "X: n×m, x: n, s: scalar, S: n×n sym" '
                      '(also "n x m", "(n, m)").'),
]

InputSyntax = Enum("InputSyntax", {name: name for name in SYNTAXES}, type=str)
SyntaxOption = Annotated[
    Optional[InputSyntax],
    typer.Option("--syntax", case_sensitive=False, show_default=False,
                 help="The expression's language: matdiff (default, NumPy's) or matrixcalculus (matrixcalculus.org's: "
                      "X'*A*X, .*, vector(1); undeclared names typed by their first letter, a–g scalars, h–z vectors, "
                      "A–Z matrices, and their sizes inferred)."),
]
LatexOption = Annotated[
    bool,
    typer.Option("--latex", help="Read the expression as LaTeX (x^T A x, \\|XW - Y\\|_F^2; --where may be LaTeX too, "
                                 "W \\in \\mathbb{R}^{m \\times q}). A whole question, \\frac{\\partial}{\\partial W} …, "
                                 "also says the variable."),
]
# a derivative asked in LaTeX: ∂ or ∇ anywhere, or a fraction of differentials, \frac{df}{dW}


def read_function(expression: str, where: str | None, syntax: "InputSyntax | None",
                  latex: bool) -> tuple[Expression, str | None]:
    """The expression argument read in its language, and the variable a LaTeX question asks for (else None)."""
    text = read_expression(expression)
    if not latex:
        return parse(text, where, syntax=syntax.value if syntax is not None else "matdiff"), None
    if syntax is not None and syntax.value != "matdiff":
        raise typer.BadParameter("--latex reads LaTeX; give it or --syntax, not both", param_hint="'--latex'")
    if is_question(text):
        question = parse_latex_question(text, where)
        return Expression(question.f, latex_declarations(where)[0]), question.wrt
    return parse_latex(text, where), None


def variables_asked(wrt: "list[str] | None", asked: str | None) -> list[str]:
    """--wrt, or the variable the LaTeX question asks for (the two agree where both are given)."""
    if asked is not None:
        if wrt and list(dict.fromkeys(wrt)) != [asked]:
            raise typer.BadParameter(f"the question asks for the derivative by {asked}; drop --wrt",
                                     param_hint="'--wrt'")
        return [asked]
    if not wrt:
        raise typer.BadParameter("give the variable to differentiate by (or, with --latex, ask the question: "
                                 "\\frac{\\partial}{\\partial W} …)", param_hint="'--wrt'")
    return wrt


# ---- the report (matdiff.report): what both commands print, in every format ------------------------------------


def _forms(x: Expression) -> list[tuple[str, str]]:
    """The answer in each form a screen shows: the bound form (named parts, the answer last) where shorter."""
    forms = [(label, x.shown(label)) for label in ("text", "unicode", "latex")]
    index = index_text(x) if hasattr(x, "kind") and not x.prefers_bound else None
    return forms + ([("index", index)] if index else [])


def _facts(report: Report) -> list[tuple[str, str]]:
    """The labelled facts above the forms: shapes, kind and layout."""
    e, d = report.expression, report.derivative
    if d is None:
        return [("shape", e.shape_text)]
    facts = [("function", e.text), ("function shape", e.shape_text), ("wrt", ", ".join(d.wrt)),
             ("kind", d.kind), ("shape", d.shape_text), ("layout", d.layout)]
    if d.prefers_bound:
        named = d.bindings.names
        shown = ", ".join(named[:8]) + (f", … ({len(named)} in all)" if len(named) > 8 else "")
        facts.append(("where", f"{shown} named, the answer on the last line (matdiff.parse_block reads the text)"))
    return facts


def render_plain(report: Report) -> str:
    rows = _facts(report) + _forms(report.answer)
    width = max(len(label) for label, _ in rows)
    indent = "\n" + " " * (width + 2)  # a bound form's further lines, under its first
    return "\n".join(f"{label.ljust(width)}  {indent.join(value.split(chr(10)))}" for label, value in rows)


def render_markdown(report: Report) -> str:
    e, d = report.expression, report.derivative
    if d is None:
        head = f"**Expression** `{e.text}` ({e.shape_text}):\n\n$${e.latex}$$"
    else:
        head = d._repr_markdown_() + f"\n\nShape: {d.shape_text}."
    forms = "\n".join(f"- {label}:\n\n  ```\n  {value.replace(chr(10), chr(10) + '  ')}\n  ```" if "\n" in value
                      else f"- {label}: `{value}`" for label, value in _forms(report.answer)[:2])
    return f"{head}\n\n{forms}"


def render_rich(report: Report, console: "Console") -> None:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan", no_wrap=True)
    facts.add_column()
    for label, value in _facts(report):
        facts.add_row(label, Text(value))  # Text, not a markup string: expressions may contain [ ]
    panels = [Panel(Text(value), title=label, title_align="left", border_style="blue")
              for label, value in _forms(report.answer)]
    console.print(Panel(Group(facts, *panels), title=Text(report.title, style="bold"), title_align="left"))


TEXT_RENDERERS: dict[OutputFormat, Callable[[Report], str]] = {
    OutputFormat.plain: render_plain,
    OutputFormat.text: lambda report: report.answer.text,
    OutputFormat.unicode: lambda report: report.answer.unicode,
    OutputFormat.latex: lambda report: report.answer.latex,
    OutputFormat.markdown: render_markdown,
    OutputFormat.json: lambda report: json.dumps(report_json(report), indent=2, ensure_ascii=False),
}


def emit(report: "Report | list[Report]", output_format: OutputFormat | None) -> None:
    """Print the report to stdout in the chosen format (default: rich on a terminal, else plain).

    Several reports (a derivative per --wrt) print one after the other: a line each in the one-line formats,
    a blank line between blocks, and a JSON array of report objects."""
    reports = report if isinstance(report, list) else [report]
    if output_format is None:
        output_format = OutputFormat.rich if is_terminal() else OutputFormat.plain
    if output_format is OutputFormat.rich:
        from rich.console import Console
        console = Console(highlight=False)
        for each in reports:
            render_rich(each, console)
    elif output_format is OutputFormat.json and len(reports) > 1:
        typer.echo(json.dumps([report_json(each) for each in reports], indent=2, ensure_ascii=False))
    else:
        one_line = output_format in (OutputFormat.text, OutputFormat.unicode, OutputFormat.latex)
        typer.echo(("\n" if one_line else "\n\n").join(TEXT_RENDERERS[output_format](each) for each in reports))


@contextlib.contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner on stderr while long work runs (big Hessians), only when stderr is a terminal."""
    if not is_terminal(stderr=True):
        yield
        return
    from rich.console import Console
    with Console(stderr=True).status(f"{what}…", spinner="dots"):
        yield


@contextlib.contextmanager
def reporting_errors(as_json: bool = False) -> Iterator[None]:
    """Turn a MatdiffError into exit code 2 without a traceback: one red message on stderr, or its JSON on stdout.

    With `as_json` (--format json), a bad combination of options found here is JSON too (kind "usage").
    """
    try:
        yield
    except MatdiffError as error:
        if as_json:
            typer.echo(json.dumps(error_json(error), indent=2, ensure_ascii=False))
        else:
            from rich.console import Console
            from rich.text import Text
            # soft_wrap: never re-wrap the message, or the caret would no longer sit under its column
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                Text(f"error: {error}", style="bold red"))
        raise typer.Exit(USAGE_ERROR_EXIT_CODE) from None
    except typer.BadParameter as error:
        if not as_json:
            raise
        typer.echo(json.dumps(error_json(error, kind="usage"), indent=2, ensure_ascii=False))
        raise typer.Exit(USAGE_ERROR_EXIT_CODE) from None


def read_expression(expression: str) -> str:
    """The expression argument as given; `-` reads it from standard input."""
    return sys.stdin.read().strip() if expression == "-" else expression


# ---- commands ---------------------------------------------------------------------------------


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"matdiff {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Symbolic matrix calculus: gradients, Jacobians, Hessians and backprop rules in matrix notation."""


SHOW_EXAMPLES = """\
[bold]Examples[/bold]

  matdiff show "tr(A @ X @ B)" --where "A: n×p, X: p×q, B: q×n"

  matdiff show "norm2(tanh(X @ W) - Y) ** 2" -w "X: n×p, W: p×k, Y: n×k" -f latex

  matdiff show "x @ A @ x" -w "x: n, A: (n, n)" --format json
"""

DIFF_EXAMPLES = """\
[bold]Examples[/bold]

  [dim]# gradient of a scalar: the shape of X -> A.T @ B.T[/dim]
  matdiff diff "tr(A @ X @ B)" --wrt X --where "A: n×p, X: p×q, B: q×n"

  matdiff diff "norm2(tanh(X @ W) - Y) ** 2" --wrt W -w "X: n×p, W: p×k, Y: n×k"

  [dim]# matrix by matrix: vec form -> kron(X.T, eye(m))[/dim]
  matdiff diff "W @ X" --wrt W -w "W: m×q, X: q×n"

  [dim]# backpropagation rule for an upstream gradient G -> G @ X.T[/dim]
  matdiff diff "W @ X" --wrt W -w "W: m×q, X: q×n" --vjp G

  [dim]# Hessian: the n×n matrix A + Aᵀ[/dim]
  matdiff diff "x @ A @ x" --wrt x -w "x: n, A: n×n" --order 2

  matdiff diff "logdet(S)" --wrt S -w "S: n×n sym" --symmetric cookbook

  matdiff diff "norm2(X - D @ R) ** 2" --wrt D -w "X: m×n, D: m×k, R: k×n"

  [dim]# both gradients; --mixed gives the mixed second derivative d/dR of d/dD f instead[/dim]
  matdiff diff "norm2(X - D @ R) ** 2" --wrt D --wrt R -w "X: m×n, D: m×k, R: k×n"

  matdiff diff "a @ G @ a" --wrt G -w "a: n, G: n×n" --format json
"""


@app.command(cls=MatdiffCommand, epilog=SHOW_EXAMPLES)
def show(
    expression: Annotated[str, typer.Argument(help="An expression, e.g. \"tr(A @ X @ B)\"; - reads it from stdin.",
                                              show_default=False)],
    where: WhereOption = None,
    output_format: FormatOption = None,
    syntax: SyntaxOption = None,
    latex: LatexOption = False,
) -> None:
    """Parse and shape-check an expression; print its shape and its text, Unicode and LaTeX forms.

    A LaTeX question (--latex "\\frac{\\partial}{\\partial W} …") shows the function it asks about."""
    with reporting_errors(output_format is OutputFormat.json):
        emit(Report(read_function(expression, where, syntax, latex)[0]), output_format)


@app.command(cls=MatdiffCommand, epilog=DIFF_EXAMPLES)
def diff(
    expression: Annotated[str, typer.Argument(help="The function to differentiate; - reads it from stdin.",
                                              show_default=False)],
    wrt: Annotated[Optional[list[str]], typer.Option(
        "--wrt", "-x", metavar="NAME", show_default=False,
        help="The variable to differentiate by; repeat it for the derivative by each (--wrt D --wrt R: both "
             "gradients). A LaTeX question (--latex) names it itself.")] = None,
    where: WhereOption = None,
    order: Annotated[int, typer.Option("--order", "-n", min=1, help="The order: 2 gives the Hessian.")] = 1,
    cotangent: Annotated[Optional[str], typer.Option(
        "--vjp", metavar="COTANGENT", show_default=False,
        help="Give the backpropagation rule (VJP) for an upstream gradient with this name, e.g. G.")] = None,
    symmetric: Annotated[Optional[SymmetricConvention], typer.Option(
        "--symmetric", case_sensitive=False, show_default=False,
        help="For a variable declared sym/spd: sym gives (G + Gᵀ)/2 (default), cookbook G + Gᵀ − G ⊙ I, "
             "none the unstructured gradient (the default for --vjp).")] = None,
    output_format: FormatOption = None,
    mixed: Annotated[bool, typer.Option(
        "--mixed", help="With several --wrt: the mixed derivative, d/dR of d/dD f for --wrt D --wrt R, instead "
                        "of the derivative by each.")] = False,
    numeric_check: Annotated[bool, typer.Option(
        "--check", help="Also check the derivative numerically (central differences, and JAX where installed); "
                        "exit code 1 if it fails.")] = False,
    syntax: SyntaxOption = None,
    latex: LatexOption = False,
) -> None:
    """Differentiate an expression; print the derivative (text, Unicode, LaTeX), its kind, shape and layout.

    A scalar function gives the gradient, the shape of the variable.
    A vector by a vector gives the Jacobian ∂f/∂x (numerator layout, one row per entry of f).
    Anything else gives the vec form d vec(f) / d vec(X) (column-major, Matrix Cookbook).
    Several --wrt give the derivative by each variable, one after the other (both gradients);
    --mixed gives the mixed derivative instead. --vjp gives the backpropagation rule.
    """
    with reporting_errors(output_format is OutputFormat.json):
        function, asked = read_function(expression, where, syntax, latex)
        wrt = variables_asked(wrt, asked)
        if cotangent is not None and (len(wrt) != 1 or order != 1 or mixed):
            raise typer.BadParameter("a VJP is by one variable, of order 1", param_hint="'--vjp'")
        if mixed and len(wrt) < 2:
            raise typer.BadParameter("a mixed derivative needs two or more --wrt", param_hint="'--mixed'")
        if mixed and order != 1:
            raise typer.BadParameter("give either --order or --mixed, not both", param_hint="'--order'")
        options = {} if symmetric is None else {"symmetric": symmetric.value}
        with working("differentiating"):
            if cotangent is not None:
                results = [vjp(function, wrt[0], cotangent=cotangent, **options)]
            elif mixed:
                results = [derivative(function, tuple(wrt), **options)]
            else:  # one derivative per variable, in the order given
                results = [derivative(function, name, order=order, **options) for name in dict.fromkeys(wrt)]
        emit([Report(function, result, cotangent) for result in results], output_format)
        if numeric_check:
            from .numeric_check import check  # loads only when asked for
            with working("checking"):
                report = check(function, tuple(dict.fromkeys(wrt)), order=min(1 if mixed else order, 2),
                               **options)
            typer.echo(str(report), err=output_format is OutputFormat.json)
            if not report.ok:
                raise typer.Exit(1)


@app.command(cls=MatdiffCommand, add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(ctx: typer.Context) -> None:
    """Serve the local web page: type an expression and its declarations, see the derivative rendered.

    Options: --host, --port, --allow-remote, --quiet (matdiff serve --help). The page is its own
    program (python -m matdiff.web); this command hands over to it, so the two faces share no code.
    """
    package_root = str(Path(__file__).resolve().parents[1])  # the folder holding matdiff/
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "matdiff.web", *ctx.args])


VERIFY_EXAMPLES = """\
[bold]Examples[/bold]

  [dim]# wrong: X.T is the factor of the backprop rule G @ X.T, not d(W @ X)/dW[/dim]
  matdiff verify "W @ X" --wrt W --claim "X.T" --where "W: m×q, X: q×n"

  [dim]# a backprop rule: the claim uses the upstream gradient G (or name it with --vjp G)[/dim]
  matdiff verify "W @ X" --wrt W --claim "G @ X.T" -w "W: m×q, X: q×n"

  matdiff verify "x @ A @ x" --wrt x --claim "2 * A @ x" -w "x: n, A: n×n" --format json
"""


class VerifyFormat(str, Enum):
    text = "text"
    unicode = "unicode"
    markdown = "markdown"
    json = "json"


@app.command(cls=MatdiffCommand, epilog=VERIFY_EXAMPLES)
def verify(
    expression: Annotated[str, typer.Argument(help="The function, e.g. \"W @ X\"; - reads it from stdin.",
                                              show_default=False)],
    wrt: Annotated[str, typer.Option("--wrt", "-x", metavar="NAME", show_default=False,
                                     help="The variable the claim differentiates by.")],
    claim: Annotated[str, typer.Option("--claim", "-c", metavar="EXPRESSION", show_default=False,
                                       help="The claimed derivative, in the expression language.")],
    where: WhereOption = None,
    order: Annotated[int, typer.Option("--order", "-n", min=1, help="The order: 2 for a Hessian.")] = 1,
    cotangent: Annotated[Optional[str], typer.Option(
        "--vjp", metavar="COTANGENT", show_default=False,
        help="The claim is a backpropagation rule in this upstream gradient, e.g. G (found by itself when "
             "the claim uses one undeclared name).")] = None,
    output_format: Annotated[VerifyFormat, typer.Option("--format", "-f", case_sensitive=False)] = VerifyFormat.text,
) -> None:
    """Check a claimed derivative: correct, correct up to a convention, or wrong, with the diagnosis.

    The claim and the true derivative are compared at three random points, with a different size per dimension name.
    The report gives the verdict, what the claim is (a transposed layout, a backprop rule's factor, off by 2, ...),
    the evidence (both sides at the first point, the largest relative error) and the answer.
    Exit code 1 when the verdict is wrong, 2 when the claim or the expression does not parse.
    """
    from .verdicts import verify as verify_claim  # the verdict's module loads only when asked for
    with reporting_errors(output_format is VerifyFormat.json):
        result = verify_claim(read_expression(expression), wrt, where, claim=claim, cotangent=cotangent, order=order)
    render = {VerifyFormat.text: lambda: result.text, VerifyFormat.unicode: lambda: result.unicode,
              VerifyFormat.markdown: result._repr_markdown_, VerifyFormat.json: result.to_json_text}
    typer.echo(render[output_format]())
    if not result.correct:
        raise typer.Exit(1)


# ---- explain: the derivation, step by step (matdiff.explain) -----------------------------------------

class ExplainFormat(str, Enum):
    text = "text"
    unicode = "unicode"
    markdown = "markdown"
    latex = "latex"
    json = "json"


ExplainLayout = Enum("ExplainLayout", {name: name for name in ("numerator", "denominator", "mixed")}, type=str)

EXPLAIN_EXAMPLES = """\
[bold]Examples[/bold]

  matdiff explain "W @ X" --wrt W --where "W: m×q, X: q×n"

  matdiff explain "norm2(tanh(X @ W) - Y) ** 2" --wrt W -w "X: n×p, W: p×k, Y: n×k" -f markdown

  matdiff explain "x @ A @ x" --wrt x -w "x: n, A: n×n" --order 2 --layout denominator
"""


@app.command(cls=MatdiffCommand, epilog=EXPLAIN_EXAMPLES)
def explain(
    expression: Annotated[str, typer.Argument(help="The function to differentiate; - reads it from stdin.",
                                              show_default=False)],
    wrt: Annotated[Optional[str], typer.Option("--wrt", "-x", metavar="NAME", show_default=False,
                                               help="The variable to differentiate by (a LaTeX question names "
                                                    "it itself).")] = None,
    where: WhereOption = None,
    layout: Annotated[ExplainLayout, typer.Option("--layout", case_sensitive=False,
                                                  help="The layout the notation section marks as chosen "
                                                       "(mixed: the answer's own).")
                      ] = ExplainLayout.mixed,
    order: Annotated[int, typer.Option("--order", "-n", min=1, max=2, help="2 explains the Hessian.")] = 1,
    cotangent: Annotated[str, typer.Option("--cotangent", metavar="NAME",
                                           help="The upstream gradient's name, for a function that is not a "
                                                "scalar.")] = "G",
    output_format: Annotated[ExplainFormat, typer.Option("--format", "-f", case_sensitive=False)
                             ] = ExplainFormat.unicode,
    syntax: SyntaxOption = None,
    latex: LatexOption = False,
) -> None:
    """Show how a derivative comes about: the chain rule step by step, the differential route, index notation,
    what the layout conventions mean, and a check with small 0/1 matrices against central differences."""
    from .derivation import explain as derive_step_by_step  # loaded only when asked for
    with reporting_errors(output_format is ExplainFormat.json):
        function, asked = read_function(expression, where, syntax, latex)
        by, = variables_asked([wrt] if wrt else None, asked)
        derivation = derive_step_by_step(function, by, layout=layout.value, order=order, cotangent=cotangent)
    render = {ExplainFormat.text: lambda: derivation.text, ExplainFormat.unicode: lambda: derivation.unicode,
              ExplainFormat.markdown: lambda: derivation.markdown, ExplainFormat.latex: lambda: derivation.latex,
              ExplainFormat.json: lambda: derivation.json}
    typer.echo(render[output_format]())


CODE_EXAMPLES = """\
[bold]Examples[/bold]

  matdiff code "norm2(tanh(X @ W) - Y) ** 2" --wrt W --where "X: n×p, W: p×k, Y: n×k"

  matdiff code "sum(softplus(X @ w)) - y @ X @ w" --wrt w --where "X: n×p, w: p, y: n" --hessian --backend jax

  matdiff code "W @ X" --wrt W --where "W: m×q, X: q×n" --vjp G --backend torch

  [dim]# a jax.custom_vjp function, a torch.autograd.Function, an objective for scipy.optimize.minimize[/dim]
  matdiff code "sum(softplus(X @ w)) - y @ X @ w" --wrt w --where "X: n×p, w: p, y: n" --emit custom_vjp
"""


class Backend(str, Enum):
    numpy = "numpy"
    jax = "jax"
    torch = "torch"


class Emit(str, Enum):
    custom_vjp = "custom_vjp"
    autograd_function = "autograd_function"
    objective = "objective"


@app.command(cls=MatdiffCommand, epilog=CODE_EXAMPLES)
def code(
    expression: Annotated[str, typer.Argument(help="The function; - reads it from stdin.", show_default=False)],
    wrt: Annotated[Optional[list[str]], typer.Option("--wrt", "-x", metavar="NAME", show_default=False,
                                                     help="A variable to differentiate by (repeat for several; a "
                                                          "LaTeX question names it itself).")] = None,
    where: WhereOption = None,
    backend: Annotated[Backend, typer.Option("--backend", "-b", case_sensitive=False)] = Backend.numpy,
    hessian: Annotated[bool, typer.Option("--hessian", help="Also return the Hessian of each variable.")] = False,
    cotangent: Annotated[Optional[str], typer.Option(
        "--vjp", metavar="COTANGENT", show_default=False,
        help="Return backpropagation rules for an upstream gradient with this name instead.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", show_default=False,
                                                help="The generated function's name (default f; Objective).")] = None,
    emit: Annotated[Optional[Emit], typer.Option(
        "--emit", case_sensitive=False, show_default=False,
        help="Instead: a jax.custom_vjp function or a torch.autograd.Function with matdiff's backward pass, or an "
             "objective class (fun, jac, hess, hessp) for scipy.optimize.minimize.")] = None,
    syntax: SyntaxOption = None,
    latex: LatexOption = False,
) -> None:
    """Print Python source of f(variables…) -> (value, gradients…[, Hessians…]) for NumPy, JAX or PyTorch.

    Common subexpressions are computed once, diag(v) @ M becomes broadcasting, Kronecker products are
    not materialised where a matrix identity applies. The code asserts the arguments' shapes. With --emit,
    the source of the function `md.jax_function`, `md.torch_function` or `md.objective` runs.
    """
    from .codegen import codegen  # loads only when asked for
    with reporting_errors(), working("generating code"):
        function, asked = read_function(expression, where, syntax, latex)
        wrt = variables_asked(wrt, asked)
        if emit is not None:
            from .interop import source as interop_source
            for given, flag in ((hessian, "--hessian"), (cotangent, "--vjp"),
                                (backend is not Backend.numpy, "--backend")):
                if given:
                    raise typer.BadParameter(f"--emit {emit.value} writes its own backend and derivatives; drop {flag}",
                                             param_hint="'--emit'")
            source = interop_source(function, tuple(wrt), None, emit.value, name)
        else:
            source = codegen(function, tuple(wrt), None, backend=backend.value, hessian=hessian,
                             cotangent=cotangent, name=name or "f")
    if is_terminal():
        from rich.console import Console
        from rich.syntax import Syntax
        Console(highlight=False).print(Syntax(source, "python", theme="ansi_dark", word_wrap=True))
    else:
        typer.echo(source)


CHECK_EXAMPLES = """\
[bold]Examples[/bold]

  matdiff check "norm2(tanh(X @ W) - Y) ** 2" --wrt W --where "X: n×p, W: p×k, Y: n×k"

  matdiff check "logdet(S)" --wrt S --where "S: n×n spd" --order 2
"""


@app.command(cls=MatdiffCommand, name="check", epilog=CHECK_EXAMPLES)
def check_command(
    expression: Annotated[str, typer.Argument(help="The function; - reads it from stdin.", show_default=False)],
    wrt: Annotated[list[str], typer.Option("--wrt", "-x", metavar="NAME", show_default=False,
                                           help="A variable to check the derivative by (repeat for several).")],
    where: WhereOption = None,
    order: Annotated[int, typer.Option("--order", "-n", min=1, max=2, help="1: the derivative, 2: the Hessian.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="The random point and directions.")] = 0,
) -> None:
    """Check matdiff's derivative numerically: directional central differences (float64) and JAX where installed.

    Prints the relative error of each comparison; exit code 1 when one is above its tolerance.
    """
    from .numeric_check import check  # loads only when asked for
    with reporting_errors(), working("checking"):
        report = check(read_expression(expression), tuple(wrt), where, order=order, seed=seed)
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":  # python -m matdiff.cli
    app()
