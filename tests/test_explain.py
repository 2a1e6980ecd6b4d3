"""Derivations (`matdiff.explain`): every step's claim holds numerically, the routes end at the answer.

Each step of a derivation carries a claim: "the cotangent of node N is E" (checked as the gradient of
φ by the value of N, or by the value one operation receives, by central differences), "dφ = this form
of dX" (checked against the central difference of φ along a random dX), "the tensor is this index
form", "the answer in this layout is E". The tests walk the steps of every corpus case, the seed
examples and random expressions (tests/strategies.py) and check every claim at random points; the
routes' final answers are also judged by the corpus's own evaluator (check.py), independently of
matdiff's evaluation. A corrupted claim must fail its check, so that passing means something.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff.dims import dim_value
from matdiff.cli import app
from matdiff.derivation import CotangentClaim, DifferentialClaim, Derivation, LayoutClaim, Point, explain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import cases, check, declarations, extra_cases, needs_corpus  # noqa: E402

HOLDS = 1e-5  # relative error of a claim against central differences
NET = "norm2(tanh(X @ W) - Y) ** 2"
NET_SHAPES = "X: n×p, W: p×k, Y: n×k"
SEEDS = [
    ("W @ X", "W", "W: m×q, X: q×n"),
    ("W @ X", "X", "W: m×q, X: q×n"),
    ("A @ X @ B", "X", "A: n×p, X: p×r, B: r×m"),
    ("W @ x", "W", "W: n×m, x: m"),
    (NET, "W", NET_SHAPES),
    ("norm2(X - D @ R) ** 2", "D", "X: m×n, D: m×k, R: k×n"),
    ("norm2(X - D @ R) ** 2", "R", "X: m×n, D: m×k, R: k×n"),
    ("a @ G @ a", "G", "a: n, G: n×n"),
]


def failing_claims(d: Derivation, point: Point | None = None, seed: int = 0) -> list[str]:
    return [f"{step.section}: {step.rule} | {step.claim.unicode} (error {error:.1e})"
            for step, error in d.verify(point, seed) if not error <= HOLDS]


def read_off(d: Derivation):
    """The differential route's answer: the gradient (or VJP) read off dφ = M : dX, before any symmetrising."""
    steps = [s for s in d.differential_route if s.rule.startswith("read off: dφ")]
    assert len(steps) == 1, [s.rule for s in d.differential_route]
    return steps[0].expression


def jacobian_read_off(d: Derivation):
    steps = [s for s in d.differential_route if isinstance(s.claim, LayoutClaim)]
    return steps[0].expression if steps else None


# ---- the seed examples ------------------------------------------------------------------------------


@pytest.mark.parametrize("expr,wrt,shapes", SEEDS, ids=[f"{e} by {w}" for e, w, _ in SEEDS])
def test_seed_examples_every_claim_holds(expr, wrt, shapes):
    d = md.explain(expr, wrt, shapes)
    assert d.steps and all(s.rule and s.claim is not None for s in d.steps)
    for seed in (0, 1):
        assert not failing_claims(d, seed=seed)
    assert d.example is not None and d.example.agrees


def test_matrix_product_derivation_reads_like_the_backprop_rules():
    d = md.explain("W @ X", "W", "W: m×q, X: q×n")
    assert d.vjp.text == "G @ X.T"
    (step,) = d.chain_rule[1:]
    assert step.rule == "right multiplication by X"
    assert step.title == "right multiplication by X: Ḡ ↦ Ḡ Xᵀ"
    assert step.claim.unicode == "∂φ/∂W = G Xᵀ" and step.shape == ("m", "q")
    forms = [s.claim.unicode for s in d.differential_route]
    assert "dD = dW X" in forms
    assert "vec(dD) = (Xᵀ ⊗ Iₘ) vec(dW)" in forms
    assert "dφ = G : dW X" in forms and "dφ = G Xᵀ : dW" in forms
    rules = [s.rule for s in d.differential_route]
    assert "A : BC = ACᵀ : B" in rules and "vec(AXB) = (Bᵀ ⊗ A) vec X" in rules
    index = [s.claim.unicode for s in d.index_route]
    assert index[0] == "Dᵢⱼ = Σₚ Wᵢₚ Xₚⱼ"
    if len(index) > 1:  # calculus.index present
        assert index[1] == "∂Dᵢⱼ/∂Wₖₗ = δᵢₖ Xₗⱼ"
        assert index[2].endswith("= (G Xᵀ)ₖₗ")
    text = d.unicode
    assert "4th-order tensor" in text and "dW = dD Xᵀ in backprop code" in text


def test_matrix_product_by_right_factor_and_sandwich():
    d = md.explain("W @ X", "X", "W: m×q, X: q×n")
    assert d.chain_rule[1].rule == "left multiplication by W" and d.vjp.text == "W.T @ G"
    d = md.explain("A @ X @ B", "X", "A: n×p, X: p×r, B: r×m")
    assert d.answer.text == "kron(B.T, A)" and d.vjp.text == "A.T @ G @ B.T"
    assert "A : BCD = BᵀADᵀ : C" in [s.rule for s in d.differential_route]


def test_one_layer_net_fits_in_forty_lines_and_names_its_rules():
    d = md.explain(NET, "W", NET_SHAPES)
    for form in (d.text, d.unicode):
        assert len(form.splitlines()) <= 40, form
    rules = [s.rule for s in d.chain_rule]
    assert rules[1:] == ["squared Frobenius norm", "subtraction", "elementwise tanh", "left multiplication by X"] \
        or rules[1:] == ["squared Frobenius norm", "addition", "elementwise tanh", "left multiplication by X"]
    assert d.chain_rule[3].title == "elementwise tanh: Ḡ ↦ Ḡ ⊙ (1 − tanh(X W)²)"
    assert d.chain_rule[-1].expression is d.answer.node
    assert [s.rule for s in d.differential_route][1:3] == ["sum(A ⊙ B) = A : B", "A : BC = BᵀA : C"]
    assert read_off(d) is d.answer.node


def test_dictionary_learning_and_quadratic_form():
    d = md.explain("norm2(X - D @ R) ** 2", "D", "X: m×n, D: m×k, R: k×n")
    assert d.answer.text == "-2 * (X - D @ R) @ R.T" and read_off(d) is d.answer.node
    assert "right multiplication by R" in [s.rule for s in d.chain_rule]
    d = md.explain("a @ G @ a", "G", "a: n, G: n×n")
    assert d.answer.text == "outer(a, a)" and "a bᵀ : C = aᵀ C b" in [s.rule for s in d.differential_route]


def test_row_broadcast_sums_over_rows():
    d = md.explain("X + b", "b", "X: n×m, b: m")
    assert d.chain_rule[1].rule == "row-broadcast addition (sum over rows)"
    assert d.vjp.text == "sum(G, axis=0)"
    assert not failing_claims(d)


def test_a_shared_node_gets_a_contribution_per_use_then_their_sum():
    d = md.explain("tr(X @ X)", "X", "X: n×n")
    units = [s.claim.unicode for s in d.chain_rule]
    assert "∂φ/∂X (through X X, factor 1) = Xᵀ" in units and "∂φ/∂X (through X X, factor 2) = Xᵀ" in units
    assert units[-1] == "∂φ/∂X = 2 Xᵀ"
    assert not failing_claims(d)


def test_symmetric_variable_ends_with_the_symmetric_gradient():
    d = md.explain("0.5 * logdet(S) + 0.5 * (x - mu) @ inv(S) @ (x - mu)", "S", "x: n, mu: n, S: n×n spd")
    assert d.chain_rule[-1].rule.startswith("S is symmetric")
    assert d.differential_route[-1].expression is d.answer.node
    assert not failing_claims(d)


def test_hessian_is_the_derivative_of_the_gradient():
    d = md.explain("x @ A @ x", "x", "x: n, A: n×n", order=2)
    assert d.gradient is not None and md.Expression(d.gradient, d.variables).text == "(A + A.T) @ x"
    assert jacobian_read_off(d) is d.answer.node and d.answer.text == "A + A.T"
    assert not failing_claims(d)


# ---- the notation ------------------------------------------------------------------------------------


def test_layouts_are_given_and_checked():
    d = md.explain("tanh(A @ x)", "x", "A: m×n, x: n", layout="denominator")
    by_layout = {s.rule.split(":")[0]: s for s in d.layouts}
    assert set(by_layout) == {"numerator", "denominator (chosen)", "mixed"}
    assert by_layout["numerator"].expression is d.answer.node
    assert by_layout["denominator (chosen)"].expression is md.parse("(diag(1 - tanh(A @ x) ** 2) @ A).T",
                                                                     "A: m×n, x: n").node
    assert "mixed" in d.unicode and "Jacobians as in numerator" in d.unicode
    assert not failing_claims(d)
    g = md.explain("tr(A @ X)", "X", "A: m×n, X: n×m")  # by default the layout chosen is the answer's own
    assert {s.rule.split(":")[0]: s.expression for s in g.layouts}["mixed (chosen)"] is g.answer.node
    g = md.explain("tr(A @ X)", "X", "A: m×n, X: n×m", layout="numerator")
    assert {s.rule.split(":")[0]: s.expression for s in g.layouts}["numerator (chosen)"] is \
        md.parse("A", "A: m×n").node  # the transpose of the gradient A.T
    assert "in numerator layout (chosen): A" in g.unicode  # stated next to the answer, never instead of it
    with pytest.raises(md.MatdiffError, match="layout"):
        md.explain("W @ X", "W", "W: m×q, X: q×n", layout="column")


def test_formats():
    d = md.explain(NET, "W", NET_SHAPES)
    assert "φ" not in d.text and "∂" not in d.text and "dphi/dW = 2 * X.T @" in d.text
    assert "∂φ/∂W = 2 Xᵀ" in d.unicode and str(d) == d.unicode
    assert d._repr_markdown_() == d.markdown and "$$" in d.markdown and "```python" in d.markdown
    assert r"\begin{align*}" in d.latex and r"\frac{\partial \varphi}" in d.latex
    data = json.loads(d.json)
    assert data["answer"]["text"] == d.answer.text
    assert {"section", "rule", "claim", "expression", "shape"} <= set(data["steps"][0])
    for step in d.steps:
        assert isinstance(step.rule, str) and step.claim.text and step.claim.unicode and step.claim.latex
        assert isinstance(step.shape, tuple)


def test_small_check_uses_copyable_zero_one_arrays():
    d = md.explain("logdet(X)", "X", "X: n×n")
    ex = d.example
    assert ex is not None and ex.agrees and set(ex.sizes.values()) <= {2, 3}
    assert abs(np.linalg.det(ex.values["X"])) >= 1  # invertible: a 0/1 matrix plus the identity where needed
    assert all(set(np.unique(v)) <= {0.0, 1.0, 2.0} for v in ex.values.values())
    scope = {"np": np}
    exec("\n".join(ex.assignments()), scope)
    assert np.array_equal(scope["X"], ex.values["X"])
    d = md.explain("sum(log(X))", "X", "X: n×m pos")
    assert np.all(d.example.values["X"] > 0)


# ---- the checks have teeth ------------------------------------------------------------------------------


def test_a_wrong_claim_fails_its_check():
    d = md.explain(NET, "W", NET_SHAPES)
    point = d.random_point(0)
    for step in d.steps:
        claim = step.claim
        if isinstance(claim, CotangentClaim) and claim.expression.shape:
            wrong = CotangentClaim(claim.objective, claim.target, md.ops.mul(md.ops.const(2.0), claim.expression),
                                   claim.names, claim.path, claim.symmetric)
            assert wrong.check(point) > 1e-3, step
        if isinstance(claim, DifferentialClaim):
            wrong = DifferentialClaim(claim.objective, claim.x, claim.dx, md.ops.mul(md.ops.const(1.5), claim.form),
                                      claim.shown)
            assert wrong.check(point) > 1e-3, step


# ---- every case of the corpus -----------------------------------------------------------------------


def _corpus_point(d: Derivation, seed: int) -> Point:
    """check.py's random point (its sizes, spd/pos/sym points) for the derivation's variables, G included."""
    shapes = {name: tuple(spec.shape) + tuple(sorted(spec.properties)) for name, spec in d.variables.items()}
    dims, props = {}, {}
    for name, words in shapes.items():
        dims[name] = tuple(w for w in words if w not in check.PROPERTIES)
        props[name] = {w for w in words if w in check.PROPERTIES}
    # check.py knows dimension names; a cotangent of a Kronecker product has a product of them (n*k)
    plain = {name: ds for name, ds in dims.items() if all(isinstance(x, (str, int)) for x in ds)}
    sizes = check.bind_dims(plain)
    rng = np.random.default_rng(seed)
    values = check.random_point(plain, props, sizes, rng)
    for name in dims.keys() - plain.keys():
        values[name] = rng.normal(size=tuple(dim_value(x, sizes) for x in dims[name]))
    return Point(values, sizes)


CORPUS = [c for c in cases() if c["kind"] in ("case", "vjp")] + extra_cases(("case", "vjp"))


@needs_corpus
@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_every_claim_holds(case):
    d = explain(case["f"], case["wrt"], declarations(case, with_properties=True), order=case.get("order", 1))
    assert not failing_claims(d, _corpus_point(d, 0))
    assert d.example is None or d.example.agrees
    # the differential route ends at a derivative check.py itself accepts (its evaluator, its differences),
    # for the declarations check.py gives matdiff (no properties: a symmetric point, unstructured entries)
    if any(p in case["vars"][case["wrt"]].split() for p in ("sym", "spd")):
        d = explain(case["f"], case["wrt"], declarations(case), order=case.get("order", 1), example=False)
    if case["kind"] == "vjp":
        answer = read_off(d)
    elif d.function.node.shape or case.get("order", 1) == 2:
        answer = jacobian_read_off(d) or read_off(d)  # a second derivative by a scalar is read off as a scalar
    else:
        answer = read_off(d)
    text = md.Expression(answer, d.variables).text
    if case["kind"] == "vjp" and not d.function.node.shape:  # φ = G f for a scalar f: the rule is G ∂f/∂X
        text = f"{case.get('cotangent', 'G')} * ({text})"
    ok, why = check.check_text(case, text)
    assert ok, why


# ---- random expressions ---------------------------------------------------------------------------------

_STRATEGIES = Path(__file__).resolve().parent / "strategies.py"

if _STRATEGIES.is_file():
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    import strategies

    @settings(max_examples=strategies.examples(40), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategies.expressions(), st.data())
    def test_random_expressions_every_claim_holds(example, data):
        text, shapes = example
        assume(shapes)
        wrt = data.draw(st.sampled_from(sorted(shapes)))
        order = data.draw(st.sampled_from((1, 1, 2)))
        try:
            d = md.explain(text, wrt, shapes, order=order, example=False)
        except md.MatdiffError:  # what the engine refuses is judged by its own tests
            assume(False)
        point = d.random_point(1)
        with np.errstate(all="ignore"):
            results = d.verify(point)
        # where the function is not differentiable at the point (det of a singular product, |0|), the
        # engine's answer itself disagrees with the differences: nothing to judge there
        assume(all(error <= HOLDS for step, error in results if step.section == "notation"))
        # a claim whose expression is undefined here (det(U) U⁻ᵀ at a singular U) says nothing at this point
        assume(all(np.isfinite(error) for _, error in results))
        wrong = [f"{s.section}: {s.rule} | {s.claim.unicode} ({e:.1e})" for s, e in results if not e <= HOLDS]
        assert not wrong, f"{text} by {wrt} (order {order}):\n" + "\n".join(wrong)


# ---- the command line --------------------------------------------------------------------------------------


def test_cli_explain_formats():
    runner = CliRunner()
    result = runner.invoke(app, ["explain", "W @ X", "--wrt", "W", "--where", "W: m×q, X: q×n", "-f", "text"])
    assert result.exit_code == 0, result.output
    assert "right multiplication by X: Gbar -> Gbar @ X.T" in result.stdout
    result = runner.invoke(app, ["explain", NET, "--wrt", "W", "--where", NET_SHAPES, "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["answer"]["text"] == md.derivative(
        NET, "W", NET_SHAPES).text
    for fmt, marker in (("unicode", "Chain rule"), ("markdown", "$$"), ("latex", r"\begin{align*}")):
        result = runner.invoke(app, ["explain", "W @ x", "-x", "W", "-w", "W: n×m, x: m", "-f", fmt,
                                     "--layout", "mixed"])
        assert result.exit_code == 0 and marker in result.stdout, (fmt, result.output)
    result = runner.invoke(app, ["explain", "W @ X", "--wrt", "Q", "--where", "W: m×q, X: q×n"])
    assert result.exit_code == 2 and "Q" in result.stderr
