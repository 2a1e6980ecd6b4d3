"""Regressions from fuzzing: printed text that means its node, no crash, no recursion on size.

Each example here was once wrong or crashed; the fuzz run (`make fuzz`) finds new ones and they land
here as fixed examples.
"""
import pytest

import matdiff as md

# `make test` runs this module alone, after the others: it measures time and memory
pytestmark = pytest.mark.alone

WHERE = "x: n, A: n×n, a: scalar, h: n, X: n×n, u: n"


@pytest.mark.parametrize("text, printed", [
    ("2.0 ** (-(x @ A))", "2 ** (-x @ A)"),        # not (2 ** -x) @ A
    ("a * -(x @ A)", "-a * x @ A"),
    ("2 ** -(x * x)", "2 ** -x ** 2"),
    ("-(x @ A) ** 2", "-(x @ A) ** 2"),
])
def test_a_negated_product_under_a_power_keeps_its_parentheses(text, printed):
    e = md.parse(text, WHERE)
    assert e.text == printed
    assert md.parse(e.text, WHERE).node is e.node


def _derive_many(first: int, last: int) -> None:
    for k in range(first, last):  # each call differs in its numbers, so each builds new nodes
        c = 1 + k * 0.001
        md.derivative(f"tr(A @ X @ B) * {c} + norm2(tanh(X @ W) - {c}) ** 2", "X",
                      "A: n×p, X: p×q, B: q×n, W: q×r").text


def _bytes_kept_per_derivation(warm: int, measured: int) -> float:
    """Memory still held after `measured` more distinct derivations, per derivation (tracemalloc)."""
    import gc
    import tracemalloc

    _derive_many(0, warm)
    gc.collect()
    tracemalloc.start()
    try:
        _derive_many(warm, warm + measured // 4)
        gc.collect()
        early = tracemalloc.get_traced_memory()[0]
        _derive_many(warm + measured // 4, warm + measured)
        gc.collect()
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (late - early) / (measured - measured // 4)


# Keeping every node ever built held about 7,700 bytes per derivation of this expression; freeing
# unused nodes holds nothing but the noise of dictionary resizes.
def test_memory_stays_flat_over_many_distinct_derivations():
    assert _bytes_kept_per_derivation(200, 800) < 100


@pytest.mark.slow
def test_memory_stays_flat_over_ten_thousand_distinct_derivations():
    assert _bytes_kept_per_derivation(500, 10_000) < 20


def _compile_many(first: int, last: int) -> None:
    for k in range(first, last):  # each call differs in its numbers, so each writes new source
        md.compile(f"sum(tanh(X @ W) * {1 + k * 0.001})", "W", "X: n×p, W: p×k")


def _generated_files() -> set[str]:
    import linecache

    return {name for name in linecache.cache if name.startswith("<matdiff-")}


# The page's numeric check compiles a function per request: its source stayed in linecache and its file
# name in Python's interned names, about 2,900 bytes per function here, so the checking processes of
# `matdiff serve` grew by some 3.5 MB per 1,000 requests (#17, benchmarks/page_soak.py)
def test_memory_stays_flat_over_many_compiled_functions_dropped():
    import gc
    import tracemalloc

    _compile_many(0, 30)
    gc.collect()
    files = _generated_files()
    tracemalloc.start()
    try:
        _compile_many(30, 60)
        gc.collect()
        early = tracemalloc.get_traced_memory()[0]
        _compile_many(60, 150)
        gc.collect()
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert (late - early) / 90 < 1000, f"{(late - early) / 90:.0f} bytes kept per function"  # now about 200
    assert _generated_files() <= files, "the source of a dropped function is kept"


def test_a_compiled_function_shows_its_source_in_tracebacks_while_it_lives():
    import gc
    import linecache

    f = md.compile("sum(tanh(X @ W))", "W", "X: n×p, W: p×k")
    gc.collect()
    code = f.__code__
    assert linecache.getline(code.co_filename, code.co_firstlineno).startswith("def f(")
    name = code.co_filename
    del f, code
    gc.collect()
    assert name not in linecache.cache


def test_an_objective_for_scipy_keeps_its_source_no_longer_than_itself():
    import gc

    files = _generated_files()
    import numpy as np

    data = {"X": np.ones((3, 2)), "y": np.ones(3)}
    objective = md.objective("sum(softplus(X @ w)) - y @ X @ w", "w", "X: n×p, w: p, y: n", data)
    assert len(_generated_files() - files) == 1  # its class's methods show their lines in tracebacks
    del objective
    gc.collect()
    assert _generated_files() <= files


def _mixed_by_differences(f: str, first: str, second: str, where: str, values: dict, h: float = 1e-6):
    """∂²f/∂first∂second as a full tensor: central differences of matdiff's gradient by `first`."""
    import numpy as np

    gradient = md.derivative(f, first, where)
    x = values[second]
    out = np.zeros(np.shape(values[first]) + x.shape)
    for k in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[k] = h
        up = gradient.evaluate({**values, second: x + step})
        down = gradient.evaluate({**values, second: x - step})
        out[(...,) + k] = (up - down) / (2 * h)
    return out


def test_a_mixed_second_derivative_through_diag_and_a_broadcast_sum_terminates_and_is_right():
    import numpy as np

    where = "z: n, Z: n×n, b: n"
    rng = np.random.default_rng(0)
    values = {"z": rng.normal(size=3), "Z": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    d = md.derivative("sigmoid(diag(Z) @ (z + b))", ["z", "Z"], where)  # once looped: (P ⊗ Q) distributed and collected
    expected = _mixed_by_differences("sigmoid(diag(Z) @ (z + b))", "z", "Z", where, values)
    np.testing.assert_allclose(d.evaluate(values), expected, atol=1e-7)


@pytest.mark.parametrize("text, where, mentions", [
    ("sum(x / 0)", "x: n", "division by zero"),
    ("sum(x / zeros(n))", "x: n", "division by zero"),
    ("sum(x * ((-1) ** 0.5))", "x: n", "(-1) ** 0.5"),  # complex in Python, nan in NumPy
    ("1e999 * x", "x: n", "not finite"),
    ("x * 1e308 * 1e308", "x: n", "not finite"),  # an overflowing fold would print 'inf', which never reads back
])
def test_numbers_without_a_finite_real_value_are_a_clear_error(text, where, mentions):
    with pytest.raises(md.MatdiffError, match=None) as caught:
        md.derivative(text, "x", where)
    assert mentions in str(caught.value)


def test_the_trace_of_a_square_kronecker_product_of_non_square_factors_is_accepted():
    import numpy as np

    where = "X: n×p, R: p×n"  # X ⊗ R is np × pn: square, though X and R are not
    report = md.check("tr(kron(X, R))", "X", where)
    assert report.ok, str(report)
    assert np.isfinite(md.derivative("tr(kron(X, R))", "X", where).evaluate(
        {"X": np.ones((2, 3)), "R": np.ones((3, 2))})).all()


@pytest.mark.parametrize("text, where", [
    ("sum(exp(sin(x) * tanh(A @ x)))", "x: n, A: n×n"),
    ("x @ A @ x * sin(x @ x)", "x: n, A: n×n"),
    ("tanh(x) * exp(x * x)", "x: scalar"),
    ("sum(tanh(x))", "x: n"),
])
def test_a_tenth_derivative_is_quick_or_a_clear_refusal(text, where):
    import time

    start = time.perf_counter()
    try:
        md.derivative(text, "x", where, order=10)
    except md.NotSupportedError as refusal:
        assert "stopped after order" in str(refusal) and "distinct subexpressions" in str(refusal)
    assert time.perf_counter() - start < 5.0  # about 0.3 s alone; the bound leaves room for a busy machine


def test_third_and_fourth_derivatives_of_small_functions_are_still_given():
    assert md.derivative("sum(exp(sin(x) * tanh(A @ x)))", "x", "x: n, A: n×n", order=3).text
    assert md.derivative("x @ A @ x * sin(x @ x)", "x", "x: n, A: n×n", order=4).text


def test_log_det_of_a_kronecker_product_with_an_identity_stays_in_kronecker_form():
    where = "S: n×n, b: m"  # b only brings the dimension m
    assert md.derivative("logdet(kron(eye(m), S))", "S", where).text == "m * inv(S).T"
    hessian = md.derivative("logdet(kron(eye(m), S))", "S", where, order=2)
    assert hessian.text == "-m * kron(inv(S), inv(S).T) @ commutation(n, n)"  # n²×n², never (mn)²×(mn)²
    assert md.check("logdet(kron(eye(m), S))", "S", where, order=2).ok


def test_det_of_a_kronecker_product_is_a_product_of_powers():
    where = "S: n×n, A: p×p"
    report = md.check("det(kron(A, S))", "S", where)
    assert report.ok, str(report)
    assert "kron" not in md.derivative("det(kron(A, S))", "S", where).text


# ---- found by the fuzz run (tests/fuzz.py, `make fuzz`) -----------------------------------------

def _differences(f: str, wrt: str, where, values: dict, cotangent=None, h: float = 1e-6):
    """∂f/∂wrt as the full tensor f.shape + wrt.shape by central differences (with a cotangent G: the
    gradient of sum(G * f), what a VJP gives)."""
    import numpy as np

    expression = md.parse(f, where)

    def value(point):
        out = np.asarray(expression.evaluate({**values, wrt: point}), dtype=float)
        return out if cotangent is None else np.sum(cotangent * out)

    x = np.asarray(values[wrt], dtype=float)
    out = np.zeros(np.shape(value(x)) + x.shape)
    for k in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[k] = h
        out[(...,) + k] = (value(x + step) - value(x - step)) / (2 * h)
    return out


def _reads_back(result) -> None:
    again = md.parse(result.text, result.variables)
    assert again.node is result.node, f"{result.text!r} reads back as {again.text!r}"


def _point(where: str, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = {"n": 3, "m": 4, "p": 2, "k": 5, "d": 2}
    return {name: rng.normal(size=tuple(sizes.get(d, d) for d in spec.shape)) if spec.shape else rng.normal()
            for name, spec in md.parse_declarations(where).items()}


def test_number_terms_left_apart_by_a_stripped_broadcast_are_one_number():
    import numpy as np

    where = "x: n, y: n"
    d = md.derivative("sum(x / 3 + 2 * y + x + sin(x))", "x", where)  # once '1 + cos(x) + 0.3333333333333333'
    assert d.text == "1.3333333333333333 + cos(x)"
    _reads_back(d)
    values = _point(where)
    np.testing.assert_allclose(d.evaluate(values), _differences("sum(x / 3 + 2 * y + x + sin(x))", "x", where,
                                                                values), atol=1e-7)


def test_a_sum_inside_a_stripped_broadcast_is_flattened_into_the_outer_sum():
    import numpy as np

    where = "x: n, y: n"
    f = "sum(x / norm2(x) ** 2) + sum(outer(x, y))"  # once printed '... + (sum(y) + 1 / norm2(x) ** 2) ...'
    d = md.derivative(f, "x", where)
    _reads_back(d)
    values = _point(where)
    np.testing.assert_allclose(d.evaluate(values), _differences(f, "x", where, values), atol=1e-6)


def test_terms_a_declined_factoring_leaves_alone_keep_their_places():
    import numpy as np

    where = "A: m×n, x: n, b: m, w: m"
    f = "(x / norm2(x)) - ((A @ x - b) @ diag(w) @ (A @ x - b))"
    rule = md.vjp(f, "x", where)  # G / ‖x‖ and the ‖x‖³ term were grouped, declined, and moved together
    assert rule.text == "G / norm2(x) - 2 * sum(G) * (A @ x - b) @ diag(w) @ A - sum(G * x) * x / norm2(x) ** 3"
    _reads_back(rule)
    values = _point(where)
    values["G"] = np.random.default_rng(1).normal(size=3)
    np.testing.assert_allclose(rule.evaluate(values), _differences(f, "x", where, values, cotangent=values["G"]),
                               atol=1e-6)


@pytest.mark.parametrize("f, wrt, where, order", [
    # (Sᵀ @ (A ⊗ A)).T reads as a sum: the transposed chain distributes the Kronecker product
    ("A.T @ (eye(m) / norm2(A @ x - b) - outer(A @ x - b, A @ x - b) / norm2(A @ x + b) ** 3) @ A", "b",
     "A: m×n, x: n, b: m", 1),
    ("softplus(tr(inv(X.T @ C @ X) @ (X.T @ B @ X)))", "X", "B: n×n sym, C: n×n spd, X: n×2", 2),
])
def test_a_chain_is_printed_flipped_only_where_that_reads_back_as_the_chain(f, wrt, where, order):
    import numpy as np

    d = md.derivative(f, wrt, where, order=order)
    _reads_back(d)
    values = _point(where)
    if order == 1:
        np.testing.assert_allclose(d.evaluate(values), _differences(f, wrt, where, values), atol=1e-5)
    else:
        values["C"] = values["C"] @ values["C"].T + 3 * np.eye(3)
        values["B"] = values["B"] + values["B"].T
        gradient = md.derivative(f, wrt, where)
        by_differences = _differences(gradient.text, wrt, gradient.variables, values)
        np.testing.assert_allclose(d.evaluate(values), by_differences, atol=1e-5)


def test_a_large_integer_dimension_is_printed_exactly():
    d = md.derivative("x @ x", "x", "x: 99999999999999999999", order=2)  # once 'eye(1e+20)', which never reads back
    assert d.text == "2 * eye(99999999999999999999)"
    _reads_back(d)
    _reads_back(md.derivative("sum(x) * (x @ x)", "x", "x: 3*n*99999999999999999999"))


@pytest.mark.parametrize("call, mentions", [
    (lambda: md.parse("x", "lambda: n, x: n"), "keyword"),
    (lambda: md.parse("x", {"None": ("n",), "x": ("n",)}), "keyword"),
    (lambda: md.vjp("X @ x", "x", "X: n×n, x: n", cotangent="φ"), "cotangent"),  # a name no declaration takes
    (lambda: md.vjp("X @ x", "x", "X: n×n, x: n", cotangent="True"), "cotangent"),
    (lambda: md.vjp("X @ x", "x", "X: n×n, x: n", cotangent="n"), "dimension"),
    (lambda: md.codegen("sum(x)", None, "x: n"), "names"),  # once TypeError: 'NoneType' object is not iterable
    (lambda: md.codegen("sum(x)", object, "x: n"), "names"),
    (lambda: md.codegen("sum(x)", [["x"]], "x: n"), "names"),
])
def test_names_no_answer_could_read_back_with_are_refused(call, mentions):
    with pytest.raises(md.MatdiffError) as caught:
        call()
    assert mentions in str(caught.value)


@pytest.mark.parametrize("text, shown", [
    ("x * (-8) ** (1 / 3)", "(-8) ** (1 / 3): the constant result"),  # once '(-8) ** 1 / 3', which is finite
    ("A @ (x + x)", "A @ (x + x): A is n×m but (x + x) is n"),  # once 'A @ x + x: ...'
])
def test_an_operand_written_as_an_operation_keeps_its_parentheses_in_a_message(text, shown):
    with pytest.raises(md.MatdiffError) as caught:
        md.parse(text, "x: n, A: n×m")
    assert shown in str(caught.value)


@pytest.mark.parametrize("text, where, printed", [
    # vec(X) @ K is Kᵀ vec(X) = K vec(X), which is vec(X.T): the vector-first chain, turned, merges again
    ("diag(vec(X.T)) + vec(X) @ commutation(n, n)", "X: n×n", "diag(vec(X.T)) + vec(X.T)"),
    ("vec(X) @ commutation(n, m)", "X: n×m", "commutation(m, n) @ vec(X)"),
])
def test_a_chain_turned_to_end_with_its_vector_merges_its_turned_factors(text, where, printed):
    e = md.parse(text, where)
    assert e.text == printed
    _reads_back(e)


@pytest.mark.parametrize("f, wrt, where", [
    # the gradient of a matrix by a vector in vec form, once printed as a transposed sum whose terms, turned,
    # merge Kronecker products that the terms as built do not
    ("A.T @ (eye(m) / norm2(A @ x - b) - outer(A @ x - b, A @ x - b) / norm2(A @ x - b) ** 3) @ A", "x",
     "A: m×n, x: n, b: m"),
    ("(logdet(S) + tr(inv(S) @ outer(x - mu, x - mu))) * (-outer(inv(X).T @ ones(n), inv(X) @ a))", "S",
     "X: n×n, a: n, x: n, mu: n, S: n×n spd"),
])
def test_a_sum_is_printed_transposed_only_where_that_reads_back_as_the_sum(f, wrt, where):
    import numpy as np

    d = md.derivative(f, wrt, where)
    _reads_back(d)
    values = _point(where)
    if "S" in values:
        values["S"] = values["S"] @ values["S"].T + 3 * np.eye(3)
    np.testing.assert_allclose(d.evaluate(values), _differences(f, wrt, where, values), atol=1e-5)


def test_a_merged_factor_merges_in_turn_with_the_factor_before_it():
    # (P ⊗ Q) vec(V) = vec(Q V Pᵀ), and then K(m, n) vec(Q V Pᵀ) = vec(P Vᵀ Qᵀ): once left as K @ vec(Q V Pᵀ),
    # which reads back merged
    e = md.parse("commutation(m, n) @ kron(P, Q) @ vec(V)", "P: n×p, Q: m×q, V: q×p")
    assert e.text == "vec(P @ V.T @ Q.T)"
    _reads_back(e)


def test_a_hessian_whose_vec_forms_merge_after_a_kronecker_product_reads_back():
    import numpy as np

    where = "A: m×m, X: n×m"
    f = "tr(X @ A @ X.T) * det(A + X.T @ X)"  # once printed with commutation(m, n) @ vec(A.T @ X.T) left unmerged
    d = md.derivative(f, "X", where, order=2)
    _reads_back(d)
    values = _point(where)
    gradient = md.derivative(f, "X", where)
    np.testing.assert_allclose(d.evaluate(values), _differences(gradient.text, "X", gradient.variables, values),
                               rtol=1e-5, atol=1e-5)


def test_a_number_a_merge_gives_leads_the_chain():
    # (uᵀ ⊗ I)(xᵀ ⊗ diag(s))ᵀ = (u·x) diag(s): once left as the factor (u·x) * diag(s) inside the chain
    e = md.parse("kron(u, eye(k)) @ (kron(x, diag(s)).T @ B)", "u: n, x: n, s: k, B: k×m")
    assert e.text == "u @ x * diag(s) @ B"
    _reads_back(e)
    where = "X: n×n, W: k×n, x: n, y: k"
    f = "outer(sum(y) * softmax(W @ x) - y, x) @ diag(X)"
    _reads_back(md.derivative(f, "W", where))


def test_a_transposed_product_is_spelt_factor_by_factor_only_where_that_reads_back():
    import numpy as np

    where = "X: n×d, W: k×d, Y: n×k"
    f = "(diag(sum(exp(X @ W.T), axis=1)) @ exp(X @ W.T) - Y).T @ X"
    rule = md.vjp(f, "W", where)  # once (outer(ones(k), v) + M) * E.T: outer(ones(k), v) + M reads back as v + M
    _reads_back(rule)
    values = _point(where)
    values["G"] = np.random.default_rng(2).normal(size=(5, 2))
    np.testing.assert_allclose(rule.evaluate(values), _differences(f, "W", where, values, cotangent=values["G"]),
                               rtol=1e-6, atol=1e-6)


def test_a_transposed_product_inside_a_product_is_printed_whole():
    import numpy as np

    where = "X: n×n"
    rule = md.vjp("(eye(n) * exp(X)).T", "X", where)  # once 'G.T * eye(n) * exp(X)': one flat product read back
    assert rule.text == "(G * eye(n)).T * exp(X)"
    _reads_back(rule)
    values = _point(where)
    values["G"] = np.random.default_rng(3).normal(size=(3, 3))
    np.testing.assert_allclose(rule.evaluate(values), _differences("(eye(n) * exp(X)).T", "X", where, values,
                                                                   cotangent=values["G"]), atol=1e-6)


# ---- arrays of order 3 in operations of vectors and matrices (found by tests/fuzz.py --seed 0) -------------


def test_kron_of_an_array_of_order_three_is_a_shape_error_that_names_it():
    with pytest.raises(md.ShapeError, match="kron takes vectors and matrices, but A has 3 axes"):
        md.derivative("kron(A, X)", "X", {"A": ("k", "p", "p"), "X": ("m", "n")})


@pytest.mark.parametrize("text, where", [
    ("diag(vec(3 * X ** 2))", {"X": ("n", "m", "q")}),
    ("2 * outer(vec(X.T), vec(A.T))", {"A": ("m", "n"), "X": ("n", "m", "n")}),
    ("sum(vec(X) * vec(X) * vec(B))", {"X": ("n", "m", "q"), "B": ("n", "m", "q")}),
    ("X ** 3", "X: n × m × k"),
])
def test_vec_of_an_array_of_order_three_differentiates_and_its_answer_again(text, where):
    """vec stacks an array of any order column-major (the first axis fastest); its pullback is the C-order
    reshape to the reversed shape with its axes reversed, and its index form has one index per axis."""
    d = md.derivative(text, "X", where)
    assert md.check(text, "X", where).ok
    md.derivative(d.text, "X", where)  # the printed answer (3 * diag(vec(X ** 2)) for X ** 3) derives too


def test_transposes_held_while_bindings_are_chosen_are_let_go_after():
    """The printer holds every transpose it asks for while it chooses an answer's bindings (the memo of a
    transpose is weak, and a deep answer's would be built again at each display); once done, they go."""
    import gc
    import weakref

    from matdiff.ops import matmul, transpose
    from matdiff.ops.algebra.transposition import holding_transposes

    A, B = md.matrix("A_held", "n_held", "n_held").node, md.matrix("B_held", "n_held", "n_held").node
    with holding_transposes():
        turned = weakref.ref(transpose(matmul(A, B)))
        gc.collect()
        assert turned() is not None  # held: asked again, it is not built again
    gc.collect()
    assert turned() is None


def test_the_cyclic_collector_is_paused_while_a_graph_is_built_and_resumed_as_it_was_found(monkeypatch):
    """A derivation, its bindings and its code pause Python's cyclic collector (a deep Hessian's flat products
    hold the square of the depth in references, read at each full collection) and leave it as they found it:
    running, or stopped by the caller; after an error too; nested, the outermost block resumes it."""
    import gc
    import threading

    from matdiff.expr import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves it to the outer one
    assert gc.isenabled()

    # the derivation, the choice of bindings and the lowering to code each run with it paused
    from importlib import import_module
    running = {}
    for module, name in (("matdiff.api", "derive_once"), ("matdiff.language.bindings", "_bound"),
                         ("matdiff.codegen.function", "_emit")):
        module = import_module(module)  # matdiff.codegen.function is also a function's name
        def watched(*args, _inner=getattr(module, name), _name=name, **kwargs):
            running[_name] = gc.isenabled()
            return _inner(*args, **kwargs)
        monkeypatch.setattr(module, name, watched)
    f, where = "sum(tanh(W2 @ tanh(W1 @ x)))", "x: n, W1: n×n, W2: n×n"
    md.derivative(f, "W1", where, order=2).bound_text
    md.codegen(f, ["W1"], where, hessian=True)
    assert running == {"derive_once": False, "_bound": False, "_emit": False}
    assert gc.isenabled()

    with pytest.raises(md.MatdiffError):
        md.derivative("x @ y", "x", "x: n, y: m")
    assert gc.isenabled()

    gc.disable()  # stopped by the caller: stays stopped
    try:
        md.derivative("x @ A @ x", "x", "x: n, A: n×n")
        assert not gc.isenabled()
    finally:
        gc.enable()

    # two threads in blocks at once: the collector runs again only once both have left
    inside, leave = threading.Barrier(2), threading.Event()

    def block():
        with collector_paused():
            inside.wait()
            leave.wait()

    other = threading.Thread(target=block)
    other.start()
    with collector_paused():
        inside.wait()
    assert not gc.isenabled()  # the other thread is still inside
    leave.set()
    other.join()
    assert gc.isenabled()


def test_a_derivation_and_its_printing_build_each_transpose_once(monkeypatch):
    """Fuzz seed 41, input 15247: the Jacobian by C (vec form) of the printed gradient of a 150-factor chain
    with C in it 40 times took 5.9 s to derive and 1.1 s to print, building the transposes of its runs again
    and again (their memo is weak); a derivation and a display now hold the transposes they build (1.3 s,
    0.4 s). Here, at 60 factors, each transpose is built once (it was up to 80 times)."""
    from collections import Counter

    from matdiff.ops.algebra import transposition

    text = ("x @ inv(D) @ inv(D) @ S @ C @ A @ C.T @ C.T @ S @ C @ S @ C @ C @ S @ C.T @ D @ C.T @ inv(D) @ S @ C"
            " @ inv(D) @ S @ C @ C @ C.T @ D @ C.T @ C.T @ C @ inv(D) @ C.T @ S @ D @ S @ S @ inv(D) @ C.T @ C.T"
            " @ C.T @ S @ C.T @ D @ C.T @ inv(D) @ C.T @ S @ C @ C @ C @ C.T @ D @ C @ C @ inv(D) @ inv(D) @ A"
            " @ C @ C.T @ C @ y")
    first = md.derivative(text, "A", "x: n, y: n, A: n×n, C: n×n, D: n×n, S: n×n spd")
    built: Counter = Counter()
    transposed = transposition._transposed

    def counted(node):
        built[node] += 1
        return transposed(node)
    monkeypatch.setattr(transposition, "_transposed", counted)
    d = md.derivative(first.text, "C", first.variables)
    assert built and max(built.values()) == 1
    built.clear()
    d.text, d.unicode, d.latex
    assert max(built.values(), default=1) == 1


def test_an_identity_one_thread_sets_aside_is_still_applied_in_another():
    """Layer norm's backward pass is written over σ by a sum identity, which its rule sets aside while it builds
    the sum it compares with. That is per thread: a derivation in another thread, meanwhile, gets the answer
    it gets alone (the flag was one for the whole process)."""
    import threading

    from matdiff.ops.algebra.sums import identity_left_out, without_identity

    f = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
    where = "X: n×d, gamma: d, beta: d"
    alone = md.vjp(f, "X", where, cotangent="G").text
    assert "/ sqrt(var(X, axis=1, keepdims=True) + 1e-05)" in alone  # over σ, as the papers write it
    inside, leave = threading.Barrier(2), threading.Event()

    def aside():
        with without_identity("over deviation"):
            inside.wait()
            leave.wait()

    other = threading.Thread(target=aside)
    other.start()
    try:
        inside.wait()
        assert not identity_left_out("over deviation")
        assert md.vjp(f.replace("1e-5", "2e-5"), "X", where, cotangent="G").text == alone.replace("1e-05", "2e-05")
    finally:
        leave.set()
        other.join()


def test_threads_building_the_same_expressions_at_once_get_one_node_each():
    """Equal expressions are one node (hash-consing) in every thread: two threads that missed the table for one
    key at once each made a node (8 threads building 20,000 numbers at once made about 600 such pairs)."""
    import sys
    import threading

    from matdiff.expr import make

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: the race, if there is one
    built: dict[int, list] = {}
    start = threading.Barrier(8)

    def build(thread: int) -> None:
        start.wait()
        built[thread] = [make("const", (), (i + 0.25,), ()) for i in range(20000)]

    threads = [threading.Thread(target=build, args=(t,)) for t in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switching)
    assert all(len({id(built[t][i]) for t in built}) == 1 for i in range(20000))
