"""Property tests: derivatives of random well-shaped expressions agree with finite differences and JAX.

The expressions come from tests/strategies.py (every operation of the language, random symbolic
shapes, numerically tame). For a random variable of each expression we check, at a random point:
the backpropagation rule (VJP) against central differences of sum(G ⊙ f); the derivative (gradient,
Jacobian or vec form, as the full tensor) against central differences; and both against JAX's
jacfwd of the same text through an independent JAX evaluator. Scalar functions also get their
Hessian checked.

A declared function g is bound to the corpus checker's fixed smooth function (g(u) = a sin(b u + c) +
q u² / 2), its derivatives grad_g, grad_grad_g, ... given to matdiff as values. Points are skipped where
a derivative does not exist or central differences cannot judge it: near a kink (the argument of relu,
abs, sign or norm(x, 1) near 0, the two sides of maximum, minimum, a comparison or clip near a tie, a
where's condition near 0, the largest entries of a max near a tie, a std near 0), where a matrix that det,
logdet, inv, solve, cholesky or pinv sees is near singular, and where f is too large. A tie that holds for
every value (max of s * ones(n), relu of a zero entry of diag(x)) is no kink: it is told apart by holding
at a second point, every variable moved independently (a 2-norm of 0 is skipped all the same: the
derivative u / norm2(u) is 0 / 0 there).

`test_every_operation_name_is_drawn` checks that the generator draws every name of the language (the
names of every entry of `matdiff.ops.OPS`, and the operators and declared functions of the entries that
have none); `test_each_operation_at_the_root_agrees_with_finite_differences_and_jax` makes sure each
way the generator builds an expression is checked in the derandomized run, not only drawn.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import matdiff as md

import corpus
from strategies import examples, expressions, options_for, sample

check = corpus.check  # None without the corpus: then every test here is skipped
pytestmark = corpus.needs_corpus


def _point(shapes, seed):
    dims = {name: tuple(d for d in s if d not in check.PROPERTIES) for name, s in shapes.items()}
    props = {name: {d for d in s if d in check.PROPERTIES} for name, s in shapes.items()}
    sizes = check.bind_dims(dims)
    values = check.random_point(dims, props, sizes, np.random.default_rng(seed))
    for name in [name for name in values if "function" in props[name]]:  # matdiff takes g's derivatives too
        value = values[name]
        for order in range(1, 4):
            value = value.derivative()
            values["grad_" * order + name] = value
    return dims, props, values, sizes


def _unstructured(dims, props):
    """Declarations for matdiff: the derivative is compared entry by entry (no sym/spd structure)."""
    return {name: ("function",) if "function" in props[name] else tuple(d) for name, d in dims.items()}


MARGIN = 1e-3  # how near a kink, relative to the size of what is compared, a point may not be


def _close(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _reference(text, wrt, values, sizes, weights=None):
    env = dict(values, **sizes)

    def f(x):
        value = check.evaluate(text, dict(env, **{wrt: x}))
        return value if weights is None else np.sum(weights * value)

    return check.jacobian_fd(f, values[wrt])


def _tame(text, values, sizes):
    """Skip points where f is too large or too curved for central differences to judge."""
    with np.errstate(all="ignore"):
        try:
            value = check.evaluate(text, dict(values, **sizes))
        except (FloatingPointError, check.EvalError, np.linalg.LinAlgError, ValueError):
            return None
    if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > 1e4:
        return None
    return value


def _value_of(node, shapes, values):
    return md.Expression(node, md.parse_declarations(shapes)).evaluate(values)


def _well_conditioned(text, shapes, values) -> bool:
    """Every matrix that det, logdet, inv, solve or cholesky sees is comfortably invertible at this point,
    and the one pinv sees of full rank: their derivatives (det(X) X⁻ᵀ, X⁻ᵀ, -X⁻ᵀ G X⁻ᵀ, Golub and
    Pereyra's for pinv) hold only there."""
    from matdiff.expr import topological
    node = md.parse(text, shapes).node
    for n in topological(node):
        if n.op in ("det", "logdet", "inv", "solve", "cholesky", "pinv"):
            matrix = _value_of(n.args[0], shapes, values)
            if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e8:
                return False
    return True


def _gaps(node, shapes, values):
    """How far the arguments of a node with a kink are from it, as arrays [(gap, scale), ...]: the
    argument of relu, abs, sign, norm(x, 1); the difference of the sides of maximum, minimum, a comparison,
    clip; a where's condition (unless it is 0/1, a comparison's, whose own sides are looked at); the two
    largest (smallest) entries of a max (min); the std itself; the 2-norm itself."""
    if node.op not in _KINKS:
        return []
    args = [np.asarray(_value_of(a, shapes, values), dtype=float) for a in node.args]
    scale = max([1.0] + [float(np.max(np.abs(a), initial=0.0)) for a in args])
    op = node.op
    if op in ("relu", "abs", "sign", "norm1"):
        return [(args[0], scale)]
    if op == "norm2":
        return [(np.linalg.norm(args[0]), scale)]
    if op == "where":
        return [] if np.all(np.isin(args[0], (0.0, 1.0))) else [(args[0], scale)]
    if op == "clip":
        return [(args[0] - args[1], scale), (args[0] - args[2], scale)]
    if op in ("max", "min", "std"):
        x = args[0]
        axis = node.params[0]
        axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
        along = np.moveaxis(x, axes, tuple(range(-len(axes), 0))).reshape(
            tuple(d for i, d in enumerate(x.shape) if i not in axes) + (-1,))
        if op == "std":
            return [(np.std(along, axis=-1), scale)]
        if along.shape[-1] < 2:
            return []
        ordered = np.sort(along, axis=-1)
        return [(ordered[..., -1] - ordered[..., -2] if op == "max" else ordered[..., 1] - ordered[..., 0], scale)]
    return [(args[0] - args[1], scale)]  # maximum, minimum, the comparisons


_KINKS = {"relu", "abs", "sign", "norm1", "norm2", "maximum", "minimum", "clip", "where", "max", "min", "std",
          "greater", "less", "greater_equal", "less_equal", "equal"}
# a 2-norm of an argument that is 0 for every value is 0, but its derivative u / norm2(u) is written 0 / 0
_KINKS_EVEN_FOR_EVERY_VALUE = {"norm2"}


def _away_from_kinks(text, shapes, values, seed) -> bool:
    """No argument of a function with a kink is within MARGIN of it at this point, except where it sits
    on the kink for every value (it does so at a second point too, every variable moved by itself)."""
    from matdiff.expr import topological
    rng = np.random.default_rng(seed + 100)
    moved = {name: v if callable(v) else v + 0.05 * rng.normal(size=np.shape(v)) for name, v in values.items()}
    for n in topological(md.parse(text, shapes).node):
        gaps = _gaps(n, shapes, values)
        on_kink = [np.abs(gap) <= 1e-12 * scale for gap, scale in gaps]
        if any(np.any((np.abs(gap) < MARGIN * scale) & ~on) for (gap, scale), on in zip(gaps, on_kink)):
            return False
        if any(np.any(on) for on in on_kink):
            if n.op in _KINKS_EVEN_FOR_EVERY_VALUE:
                return False
            try:
                gaps_moved = _gaps(n, shapes, moved)
            except md.MatdiffError:  # the second point is outside the domain: no telling, so skip
                return False
            if any(np.any(on & (np.abs(gap) > 1e-12 * scale)) for (gap, scale), on in zip(gaps_moved, on_kink)):
                return False
    return True


def _evaluate(result, values):
    """The derivative's value; points where it needs the inverse of a singular matrix are skipped
    (the Cookbook's det(X) X⁻ᵀ is the derivative of det only where X is invertible)."""
    try:
        return result.evaluate(values)
    except md.ValueBindingError as exc:
        assume("Singular matrix" not in str(exc))
        raise


def _case(drawn, choice, seed):
    """(text, value, values, sizes, wrt, declarations) for a drawn expression at a random point, or
    the example is skipped: no variable, a value too wild to difference, a near-singular matrix, or a
    point near a kink."""
    text, shapes = drawn
    dims, props, values, sizes = _point(shapes, seed)
    value = _tame(text, values, sizes)
    assume(value is not None)
    names = sorted(name for name in dims if "function" not in props[name])
    assume(names)
    declared = _unstructured(dims, props)
    assume(_well_conditioned(text, declared, values))
    assume(_away_from_kinks(text, declared, values, seed))
    return text, value, values, sizes, names[choice % len(names)], declared


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# per way of building an expression (ROOTS, below): 3, and 100 under --slow (45 ways, not 2,000 each)
ROOT_EXAMPLES = max(3, examples(3) // 20)


def _agrees_with_finite_differences(text, value, values, sizes, wrt, declared, seed):
    # VJP with a random upstream gradient
    weights = np.random.default_rng(seed + 10).normal(size=np.shape(value))
    rule = md.vjp(text, wrt, declared, cotangent="G")
    rule_value = _evaluate(rule, dict(values, G=weights))
    assume(np.all(np.isfinite(rule_value)))
    _close(rule_value, _reference(text, wrt, values, sizes, weights), 2e-5)
    # the derivative itself, as the full tensor
    derivative = md.derivative(text, wrt, declared)
    value = _evaluate(derivative, values)
    # abs at an exact 0 (say abs(diag(x)) off the diagonal) has no derivative: skip such points
    assume(np.all(np.isfinite(value)))
    _close(value, _reference(text, wrt, values, sizes), 2e-5)
    # what is printed means the same to the independent evaluator, and reads back to the same node
    _close(check.evaluate(derivative.text, dict(values, **sizes)), derivative.evaluate_as_written(values), 1e-8)
    assert md.parse(derivative.text, derivative.variables).node is derivative.node


def _jacobian_agrees_with_jax(text, values, sizes, wrt, declared):
    jax_reference = pytest.importorskip("jax_reference")
    derivative = md.derivative(text, wrt, declared)
    expected = np.asarray(jax_reference.jacobian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))  # e.g. norm2 at 0, where JAX gives nan
    value = _evaluate(derivative, values)
    # abs at an exact 0 (abs(diag(x)) off the diagonal) has no derivative: matdiff says nan, JAX takes 0
    assume(np.all(np.isfinite(value)))
    _close(value, expected, 1e-7)


def _hessian_agrees_with_jax(text, values, sizes, wrt, declared):
    jax_reference = pytest.importorskip("jax_reference")
    hessian = md.derivative(text, wrt, declared, order=2)
    expected = np.asarray(jax_reference.hessian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))
    value = _evaluate(hessian, values)
    assume(np.all(np.isfinite(value)))
    _close(value, expected, 1e-6)


@settings(max_examples=examples(60), **SETTINGS)
@given(drawn=expressions(functions=True), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_vjp_and_derivative_agree_with_finite_differences(drawn, choice, seed):
    text, value, values, sizes, wrt, declared = _case(drawn, choice, seed)
    _agrees_with_finite_differences(text, value, values, sizes, wrt, declared, seed)


@settings(max_examples=examples(40), **SETTINGS)
@given(drawn=expressions(shape=(), functions=True), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_gradient_and_hessian_agree_with_jax(drawn, choice, seed):
    text, _, values, sizes, wrt, declared = _case(drawn, choice, seed)
    _jacobian_agrees_with_jax(text, values, sizes, wrt, declared)
    _hessian_agrees_with_jax(text, values, sizes, wrt, declared)


@settings(max_examples=examples(40), **SETTINGS)
@given(drawn=expressions(functions=True), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_jacobians_agree_with_jax(drawn, choice, seed):
    text, _, values, sizes, wrt, declared = _case(drawn, choice, seed)
    _jacobian_agrees_with_jax(text, values, sizes, wrt, declared)


# every way the generator builds an expression (an option of _Writer.any, a leaf aside)
ROOTS = sorted({option for shape in [(), ("n",), ("n", "m"), ("m", "m")] for option in options_for(shape)} - {"leaf"})


@pytest.mark.parametrize("root", ROOTS)
@settings(max_examples=ROOT_EXAMPLES, **SETTINGS)
@given(data=st.data(), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_each_operation_at_the_root_agrees_with_finite_differences_and_jax(root, data, choice, seed):
    """Each way of building an expression, outermost, in a few examples of the derandomized run: the random
    expressions of the tests above meet the rarer ones (cholesky, a declared g, norm(x, 1)) only by chance."""
    drawn = data.draw(expressions(root=root, functions=True), label="drawn")
    text, value, values, sizes, wrt, declared = _case(drawn, choice, seed)
    _agrees_with_finite_differences(text, value, values, sizes, wrt, declared, seed)
    _jacobian_agrees_with_jax(text, values, sizes, wrt, declared)
    if not np.shape(value):
        _hessian_agrees_with_jax(text, values, sizes, wrt, declared)


# ---- generated code ---------------------------------------------------------------------------------------

def _backends() -> list[str]:
    import importlib.util
    return ["numpy"] + [b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None]


@settings(max_examples=examples(30), **SETTINGS)
@given(drawn=expressions(), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_generated_code_agrees_with_the_evaluator_and_finite_differences(drawn, choice, seed):
    """The function `md.compile` writes, in each backend installed (JAX jitted): its value is the one the
    checker's own evaluator gives, and its backpropagation rule, for a random upstream gradient G, the one
    central differences of sum(G ⊙ f) give. Code generation's rewrites (shared runs, regrouped products,
    a factor moved, PyTorch's kernels for softmax and layer norm) are checked here on expressions nobody
    chose."""
    from generated import call
    text, value, values, sizes, wrt, declared = _case(drawn, choice, seed)
    weights = np.random.default_rng(seed + 10).normal(size=np.shape(value))
    expected = _reference(text, wrt, values, sizes, weights)
    assume(np.all(np.isfinite(expected)))
    for backend in _backends():
        function = md.compile(text, [wrt], declared, backend=backend, cotangent="G")
        got_value, got = call(function, backend, dict(values, G=weights), sizes)
        _close(got_value, value, 1e-8)
        _close(got, expected, 2e-5)


@settings(max_examples=examples(20), **SETTINGS)
@given(drawn=expressions(shape=()), choice=st.integers(0, 100), seed=st.integers(0, 3))
def test_generated_hessians_agree_with_jax(drawn, choice, seed):
    """The Hessian `md.compile(..., hessian=True)` writes (NumPy), as the full tensor, against JAX's hessian of
    the same text through the independent JAX evaluator."""
    from generated import call
    jax_reference = pytest.importorskip("jax_reference")
    text, value, values, sizes, wrt, declared = _case(drawn, choice, seed)
    expected = np.asarray(jax_reference.hessian(text, wrt, values, sizes))
    assume(np.all(np.isfinite(expected)))
    got_value, _, hessian = call(md.compile(text, [wrt], declared, hessian=True), "numpy", values, sizes)
    assume(np.all(np.isfinite(hessian)))  # abs at an exact 0: matdiff says nan, JAX takes 0
    _close(got_value, value, 1e-8)
    shape = np.shape(values[wrt])
    if len(shape) == 2 and hessian.ndim == 2:  # in vec form, column-major: entry (i + j m, k + l m) is H[i, j, k, l]
        hessian = hessian.reshape(shape[1], shape[0], shape[1], shape[0]).transpose(1, 0, 3, 2)
    _close(hessian, expected, 1e-6)


# ---- the generator draws every operation of the language ------------------------------------------------

# names of the language that are no entry of the table: the constant pi and the derivative of a declared g
LANGUAGE_EXTRAS = {"pi", "grad"}


def _names_written(text: str) -> set[str]:
    """The function names a text calls (np. and np.linalg. taken off), and the constants it names."""
    import ast
    found = set()
    for node in ast.walk(ast.parse(text, mode="eval")):
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Call):
            found.add(ast.unparse(node.func).removeprefix("np.").removeprefix("linalg."))
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and ast.unparse(node) == "np.pi":
            found.add("pi")
    return found


def test_every_operation_name_is_drawn():
    """Over a fixed run of the generator (`strategies.sample`, the writer of `expressions()` with its choices
    made by a seeded random.Random, so the run is the same every time and fast), every name of every entry
    of the operation table is written, and every entry without a name (an operator, a declared function, a
    number) is a node of some parsed expression: an operation the generator never draws fails here, not by
    going untested."""
    import random
    from matdiff.expr import topological
    from matdiff.ops import OPS

    named = {name for op in OPS.values() if isinstance(op.names, tuple) for name in op.names} | LANGUAGE_EXTRAS
    unnamed = {key for key, op in OPS.items() if not isinstance(op.names, tuple)}
    rng, written, built = random.Random(14), set(), set()
    for _ in range(DRAWS):
        text, shapes = sample(rng, functions=True)
        written |= _names_written(text)
        if not unnamed <= built:
            built.update(n.op for n in topological(md.parse(text, shapes).node))
    assert named - written == set(), "names the generator never writes"
    assert unnamed - built == set(), "operations without a name the generator never builds"


DRAWS = 3000


# ---- the points the checks skip -----------------------------------------------------------------------------

W_SYM = [[0.3, 0.7, -0.2], [0.7, 0.1, 0.5], [-0.2, 0.5, 0.9]]


@pytest.mark.parametrize("text, shapes, values, away", [
    ("relu(x_n - 0.5)", {"x_n": ("n",)}, {"x_n": [0.1, 0.5004, 0.9]}, False),
    ("relu(x_n - 0.5)", {"x_n": ("n",)}, {"x_n": [0.1, 0.6, 0.9]}, True),
    ("sign(x_n) + abs(s)", {"x_n": ("n",), "s": ()}, {"x_n": [0.1, 0.6, 0.9], "s": -2e-4}, False),
    ("clip(x_n, -0.5, 0.5)", {"x_n": ("n",)}, {"x_n": [0.1, 0.4999, 0.9]}, False),
    ("x_n * (x_n > s)", {"x_n": ("n",), "s": ()}, {"x_n": [0.1, 0.6, 0.9], "s": 0.6001}, False),
    ("where(x_n >= s, x_n, 0)", {"x_n": ("n",), "s": ()}, {"x_n": [0.1, 0.6, 0.9], "s": 0.3}, True),
    ("max(x_n)", {"x_n": ("n",)}, {"x_n": [0.3, 0.3002, 0.1]}, False),
    ("min(A_nm, axis=1)", {"A_nm": ("n", "m")}, {"A_nm": [[0.1, 0.5], [0.7, 0.7002]]}, False),
    ("norm(x_n, 1)", {"x_n": ("n",)}, {"x_n": [0.1, -1e-5, 0.9]}, False),
    ("std(x_n)", {"x_n": ("n",)}, {"x_n": [0.2, 0.2, 0.2001]}, False),
    # on the kink for every value: no kink (max of s * ones(n) is s; sign of diag(x) off its diagonal is 0)
    ("max(s * ones(n)) + std(s * ones(n))", {"s": (), "x_n": ("n",)}, {"s": 0.4, "x_n": [0.1, 0.2, 0.3]}, True),
    ("sum(sign(diag(x_n)))", {"x_n": ("n",)}, {"x_n": [0.1, 0.6, 0.9]}, True),
    ("norm2(where(x_n, zeros(n), x_n))", {"x_n": ("n",)}, {"x_n": [0.1, 0.6, 0.9]}, False),  # its u / norm2(u): 0 / 0
    # on the kink only where W is symmetric: its entries are differentiated one by one
    ("maximum(W_nn, W_nn.T)", {"W_nn": ("n", "n")}, {"W_nn": W_SYM}, False),
])
def test_points_near_a_kink_are_skipped(text, shapes, values, away):
    values = {name: np.asarray(v, dtype=float) for name, v in values.items()}
    assert _away_from_kinks(text, shapes, values, seed=0) is away


# ---- what the property tests found (each a bug in matdiff, marked until it is fixed) --------------------------


def _finite_differences(text, wrt, values, sizes):
    return check.jacobian_fd(lambda v: check.evaluate(text, dict(values, **sizes, **{wrt: v})), values[wrt])


@pytest.mark.parametrize("text", [
    "max(outer(x, ones(n)))",  # a copy counts once: max over the copied axis is the mean along it first
    "max(outer(x, ones(n)), axis=1)",
    "min(x + zeros((2, n)))",
    "max(kron(x, ones(2)))",
    "max(outer(x, ones(n)), axis=0)",
    "max(s * ones(n)) + min(x + zeros((2, n)), axis=0) @ x",
])
def test_a_max_over_entries_equal_for_every_value_counts_each_value_once(text):
    values, sizes = {"x": np.array([0.1, 0.5, 0.3]), "s": np.array(0.7)}, {"n": 3}
    derivative = md.derivative(text, "x", "x: n, s: scalar")
    _close(derivative.evaluate(values), _finite_differences(text, "x", values, sizes), 1e-6)


@pytest.mark.xfail(strict=True, reason=(
    "matdiff bug: pinv of a square matrix is read as inv (ops/linalg.py: 'a square matrix of full rank'), so "
    "pinv of one of lower rank for every value (outer(x, x), ones((n, n)), X @ X.T of an n×k X) parses and "
    "then fails to evaluate ('Singular matrix'), where NumPy gives its pseudo-inverse: NumPy's value, or a "
    "refusal when it is read, expected"))
def test_pinv_of_a_matrix_of_lower_rank_is_numpys_or_refused():
    x = np.array([1.0, 2.0, 3.0])
    try:
        expression = md.parse("pinv(outer(x, x))", "x: n")
    except md.MatdiffError:
        return  # refused, with a reason
    np.testing.assert_allclose(expression.evaluate({"x": x}), np.linalg.pinv(np.outer(x, x)), rtol=1e-10)
