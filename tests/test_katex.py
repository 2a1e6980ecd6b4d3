"""Every LaTeX string matdiff prints renders in KaTeX itself, the renderer of the page.

The strings: the derivative (`d.latex`) and its index form (`d.index.latex`) of every case of the
corpus (../shared/corpus/cases and next/, tests/cases/), the LaTeX of `explain` for each (its steps'
claims and rules, the math of its Markdown, the aligned blocks of its LaTeX fragment), a fixed sample
of the property tests' expressions (tests/strategies.py) with a derivative of each, every function of
the language as its entry spells it, names as people write them (W1, alpha, x_hat), and the Jupyter
displays. All of them go to ONE node process as JSON on stdin (the vendored `katex` package,
`throwOnError: true`, display mode); it answers with a JSON list of the errors. A KaTeX "strict"
warning (a character it has no font for, such as ∂ in \\text{}) counts as an error too: the page
would show a fallback glyph. Without node or `node_modules/katex` (`make setup` / `npm ci`) the tests
are skipped with that reason.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import matdiff as md
from matdiff.derivation.styles import STYLES
from matdiff.language.parse import CALLS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CHECK_PATH, cases, check, extra_cases  # noqa: E402
from strategies import expressions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KATEX = ROOT / "node_modules" / "katex"
NODE = shutil.which("node")
needs_katex = pytest.mark.skipif(
    NODE is None or not (KATEX / "package.json").is_file(),
    reason="KaTeX is rendered by node with node_modules/katex: install node and run `make setup` (npm ci)")

# Reads a JSON list of LaTeX strings on stdin, writes a JSON list of {index, message} for those that fail.
RENDER = r"""
const katex = require(process.argv[1]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => input += chunk);
process.stdin.on("end", () => {
  const errors = [];
  JSON.parse(input).forEach((tex, index) => {
    const warnings = [];
    try {
      katex.renderToString(tex, {displayMode: true, throwOnError: true,
                                 strict: (code, message) => { warnings.push(code + ": " + message); return "ignore"; }});
      if (warnings.length) errors.push({index, message: "strict: " + warnings.join("; ")});
    } catch (error) {
      errors.push({index, message: String(error.message)});
    }
  });
  process.stdout.write(JSON.stringify(errors));
});
"""

MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)
ALIGN = re.compile(r"\\begin\{align\*\}.*?\\end\{align\*\}|\\\[(.+?)\\\]", re.S)


def render(strings: list[str]) -> list[dict]:
    """[{index, message}] for the strings KaTeX refuses; one node process for all of them."""
    done = subprocess.run([NODE, "-e", RENDER, str(KATEX)], input=json.dumps(strings), capture_output=True,
                          text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def markdown_math(markdown: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in MATH.finditer(markdown)]


# ---- what matdiff prints --------------------------------------------------------------------------------


def corpus_cases() -> list[tuple[str, dict]]:
    """(source, case) for every case with an answer: cases/, next/ and tests/cases/."""
    if check is None:
        return []
    found = [("cases", c) for c in cases(("case", "vjp"))]
    found += [("next", c) for c in check.load_cases(sorted((CHECK_PATH.parent / "next").glob("*.toml")))
              if c["kind"] != "bad"]
    return found + [("tests/cases", c) for c in extra_cases(("case", "vjp"))]


def derivative_latex(d: md.Derivative) -> list[tuple[str, str]]:
    out = [("latex", d.latex)]
    if d.kind != "vjp":
        try:
            out.append(("index", d.index.latex))
        except md.MatdiffError:  # no index form (a tensor of order > 4): nothing printed
            pass
    return out


def explain_latex(x: md.Derivation) -> list[tuple[str, str]]:
    latex = STYLES["latex"]
    out = [("explain title", x.title.latex)]
    for step in x.steps:
        out += [(f"explain {step.section} claim", step.claim.latex), (f"explain {step.section} rule",
                                                                      step.rule_in(latex))]
    out += [("explain markdown", m) for m in markdown_math(x.markdown)]
    out += [("explain latex", m.group(1) or m.group(0)) for m in ALIGN.finditer(x.latex)]
    return out


def case_latex(case: dict) -> list[tuple[str, str]]:
    shapes = check.project_shapes(case)
    order = case.get("order", 1)
    try:
        if case["kind"] == "vjp":
            d = md.vjp(case["f"], case["wrt"], shapes, cotangent=case.get("cotangent", "G"))
        else:
            d = md.derivative(case["f"], case["wrt"], shapes, order=order)
    except md.MatdiffError:  # a case of next/ that matdiff does not derive yet
        return []
    out = derivative_latex(d)
    if order <= 2:
        try:
            x = md.explain(case["f"], case["wrt"], shapes, order=order, cotangent=case.get("cotangent", "G"),
                           example=False)
        except md.MatdiffError:
            return out
        out += explain_latex(x)
    return out


def property_sample(count: int = 60) -> list[tuple[str, dict]]:
    """A fixed sample of the property tests' expressions (derandomized: the same every run)."""
    drawn = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(expressions())
    def collect(example):
        drawn.append(example)

    collect()
    return drawn


def property_latex(text: str, shapes: dict) -> list[tuple[str, str]]:
    e = md.parse(text, shapes)
    out = [("expression", e.latex)]
    for name in sorted(e.variables)[:2]:
        try:
            out += derivative_latex(md.derivative(e, name))
        except md.MatdiffError:
            pass
    return out


def entry_latex() -> list[tuple[str, str]]:
    """Every function of the language, read as its entry names it and printed as its entry spells it."""
    out = []
    for function, op in sorted(CALLS.items()):
        call = op.call
        attempts = [f"{function}({', '.join(['n'] * call.dims[-1])})"] if call.dims else \
            [f"{function}({', '.join([a] * call.arrays)})" for a in ("S", "x")]
        for text in attempts:
            try:
                out.append((function, md.parse(text, "S: n×n, x: n").latex))
                break
            except md.MatdiffError:
                continue
    return out


NAMES = ("W1", "W_1", "alpha", "lam", "eps", "sigma2", "x_hat", "mu_hat", "W_out", "x_star", "A_nm", "Sigma",
         "logits", "lr0", "W1_hat", "x_i", "theta_0", "Gbar")


def names_latex() -> list[tuple[str, str]]:
    """Names as people write them, in expressions, derivatives and index forms."""
    out = []
    for name in NAMES:
        where = f"{name}: n×n, v: n, s: scalar"
        for text in (f"tr({name} @ {name}) * s", f"v @ {name} @ v", f"sqrt(v @ {name} @ v) + s * sum({name})"):
            out += derivative_latex(md.derivative(text, name, where))
            out += derivative_latex(md.derivative(f"{name} @ v", name, where))
    return out


def repr_latex() -> list[tuple[str, str]]:
    """The math of the Jupyter displays (test_notation checks that each is produced)."""
    where = "X: m×n, D: m×k, R: k×n"
    f = "norm2(X - D @ R) ** 2"
    d = md.derivative(f, "D", where)
    shown = [d._repr_latex_(), d._repr_markdown_(), md.parse(f, where)._repr_latex_(),
             md.explain(f, "D", where)._repr_markdown_(), md.gradient(f, ["D", "R"], where)._repr_markdown_(),
             md.verify(f, "D", where, claim="-2 * (X - D @ R) @ R.T")._repr_markdown_(),
             md.verify(f, "D", where, claim="2 * R @ (X - D @ R).T")._repr_markdown_(),
             md.check(f, ("D", "R"), where)._repr_markdown_()]
    return [("repr", m) for text in shown for m in markdown_math(text)]


# ---- rendered once, judged by source ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[tuple[str, str, str]]]:
    """{source: [(what, latex, error)]}: every string of every source, rendered by one node process."""
    collected: list[tuple[str, str, str]] = []
    for source, case in corpus_cases():
        collected += [(source, f"{case['id']} {what}", latex) for what, latex in case_latex(case)]
    for text, shapes in property_sample():
        collected += [("properties", f"{text!r} {what}", latex) for what, latex in property_latex(text, shapes)]
    collected += [("entries", what, latex) for what, latex in entry_latex()]
    collected += [("names", what, latex) for what, latex in names_latex()]
    collected += [("reprs", what, latex) for what, latex in repr_latex()]
    distinct = list(dict.fromkeys(latex for _, _, latex in collected))
    failures = {distinct[e["index"]]: e["message"] for e in render(distinct)}
    by_source: dict[str, list] = defaultdict(list)
    for source, what, latex in collected:
        by_source[source].append((what, latex, failures.get(latex, "")))
    print(f"\nKaTeX: {len(collected)} strings ({len(distinct)} distinct) rendered, {len(failures)} failed: "
          + ", ".join(f"{s} {len(v)}" for s, v in by_source.items()))
    return by_source


def failures_of(rendered: dict, source: str) -> list[str]:
    return [f"{what}: {error}\n    {latex[:300]}" for what, latex, error in rendered[source] if error]


@needs_katex
@pytest.mark.parametrize("source", ["cases", "next", "tests/cases"])
def test_corpus_latex_renders(rendered, source):
    if check is None:
        pytest.skip(f"the corpus is not at {CHECK_PATH}")
    assert rendered[source], f"no LaTeX collected from {source}"
    failed = failures_of(rendered, source)
    assert not failed, f"{len(failed)} of {len(rendered[source])} fail:\n" + "\n".join(failed[:20])


@needs_katex
@pytest.mark.parametrize("source", ["properties", "entries", "names", "reprs"])
def test_latex_renders(rendered, source):
    assert rendered[source], f"no LaTeX collected from {source}"
    failed = failures_of(rendered, source)
    assert not failed, f"{len(failed)} of {len(rendered[source])} fail:\n" + "\n".join(failed[:20])


@needs_katex
def test_a_refused_string_is_reported():
    """The renderer is strict, so that passing means something: the spellings the issue found are refused."""
    errors = render([r"\sqrt\left(x\right)", r"W_{1}_{kl}", r"\text{∂f}", r"\sqrt{x} + W_{1,kl}"])
    assert [e["index"] for e in errors] == [0, 1, 2]
