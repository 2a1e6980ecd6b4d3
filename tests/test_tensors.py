"""Arrays of any order: einsum, permutations of axes, batched @, tensordot, reshape, and derivatives
that are arrays of order 3 and more, each checked numerically (central differences, and JAX where
installed) and against the published forms (Kolda & Bader 2009; the backprop rules of batched
products and attention)."""
import numpy as np
import pytest

import matdiff as md
from matdiff.codegen import compile as compile_code

from test_codegen import run

CP = {"T": "n m p", "A": "n r", "B": "m r", "C": "p r", "lam": "r"}
CP_FIT = "0.5 * sum((T - einsum('ir,jr,kr->ijk', A, B, C)) ** 2)"
STACKS = {"A": "b n m", "B": "b m p", "X": "b n d", "W": "d k", "Y": "b n k", "x": "m", "T": "b n m"}
HEADS = {"Q": "h n d", "K": "h m d", "V": "h m e"}
ATTENTION = "softmax(Q @ swapaxes(K, 1, 2) / sqrt(d), axis=2) @ V"


def checked(expr, wrt, shapes, order=1):
    report = md.check(expr, wrt, shapes, order=order)
    assert report.ok, str(report)
    return report


# ---- what the textbook writes ----------------------------------------------------------------------

def test_the_cp_gradient_is_the_mttkrp_of_the_residual():
    """∂/∂A ½‖T − [[A, B, C]]‖² = ([[A, B, C]] − T)₍₁₎ (C ⊙ B) (Kolda & Bader 2009, sec. 3.4)."""
    d = md.derivative(CP_FIT, "A", CP)
    assert d.text == "-einsum('ikl,kj,lj->ij', T - einsum('il,jl,kl->ijk', A, B, C), B, C)"
    assert d.shape == ("n", "r")
    for wrt in ("A", "B", "C", "lam"):
        checked(CP_FIT.replace("'ir,jr,kr->ijk', A", "'r,ir,jr,kr->ijk', lam, A") if wrt == "lam" else CP_FIT,
                wrt, CP)


def test_the_cp_hessian_is_the_normal_equations_of_als():
    """∂²/∂A² ½‖T − [[A, B, C]]‖² is (BᵀB ⊙ CᵀC) ⊗ I in vec form, the normal-equations matrix of CP-ALS
    (Kolda & Bader 2009, sec. 3.4); by the weights λ of ⟦λ; A, B, C⟧ it is AᵀA ⊙ BᵀB ⊙ CᵀC."""
    assert md.derivative(CP_FIT, "A", CP, order=2).text == "kron(B.T @ B * (C.T @ C), eye(n))"
    weighted = CP_FIT.replace("'ir,jr,kr->ijk', A", "'r,ir,jr,kr->ijk', lam, A")
    assert md.derivative(weighted, "lam", CP, order=2).text == "A.T @ A * (B.T @ B) * (C.T @ C)"
    checked(CP_FIT, "A", CP, order=2)
    checked(weighted, "lam", CP, order=2)


def test_a_batched_product_backpropagates_per_batch():
    """C_b = A_b B_b: Ā = G Bᵀ and B̄ = Aᵀ G for every b, written with @ and swapaxes."""
    assert md.vjp("A @ B", "A", STACKS).text == "G @ swapaxes(B, 1, 2)"
    assert md.vjp("A @ B", "B", STACKS).text == "swapaxes(A, 1, 2) @ G"
    assert md.derivative("sum((X @ W - Y) ** 2)", "X", STACKS).text == "2 * (X @ W - Y) @ W.T"
    checked("sum((X @ W - Y) ** 2)", "X", STACKS)
    checked("sum((X @ W - Y) ** 2)", "W", STACKS)


def test_a_weight_shared_over_a_batch_sums_its_gradients():
    """X_b W: W̄ = Σ_b X_bᵀ G_b, one contraction over the batch and the rows."""
    v = md.vjp("X @ W", "W", STACKS)
    assert v.shape == ("d", "k")
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    g = np.random.default_rng(1).normal(size=(2, 3, 5))
    expected = sum(x[b].T @ g[b] for b in range(2))
    assert np.allclose(v.evaluate({"X": x, "G": g, "W": np.zeros((4, 5))}), expected)


def test_a_stack_of_matrix_vector_products_has_the_stack_as_its_jacobian():
    assert md.derivative("A @ x", "x", STACKS).text == "A"


def test_multi_head_attention_backpropagates_as_flash_attention_writes_it():
    v = md.vjp(ATTENTION, "V", HEADS)
    assert v.text == "swapaxes(softmax(Q @ swapaxes(K, 1, 2) / sqrt(d), axis=2), 1, 2) @ G"
    for wrt in ("Q", "K", "V"):
        report = md.check(f"sum(sin({ATTENTION}))", wrt, HEADS)
        assert report.ok, str(report)


def test_permutations_of_axes_are_undone_by_their_inverse():
    """transpose(T, (2, 0, 1)) backpropagates through the inverse permutation, moveaxis(G, 0, 2)."""
    assert md.vjp("transpose(T, (2, 0, 1))", "T", {"T": "n m p"}).text == "moveaxis(G, 0, 2)"
    assert md.vjp("moveaxis(T, 0, 2)", "T", {"T": "n m p"}).text == "moveaxis(G, 2, 0)"
    assert md.vjp("swapaxes(T, 0, 1)", "T", {"T": "n m p"}).text == "swapaxes(G, 0, 1)"
    checked("sum(cos(transpose(T, (2, 0, 1))) * U)", "T", {"T": "n m p", "U": "p n m"})


def test_the_jacobian_of_a_moment_tensor_is_an_array_of_order_four():
    """d(x ⊗ x ⊗ x)/dx = e x x + x e x + x x e (Anandkumar et al. 2014)."""
    d = md.derivative("einsum('i,j,k->ijk', x, x, x)", "x", {"x": "n"})
    assert d.shape == ("n", "n", "n", "n")
    assert d.text.count("eye(n)") == 3
    checked("einsum('i,j,k->ijk', x, x, x)", "x", {"x": "n"})


def test_the_hessian_of_a_cubic_form_is_six_times_symmetric_t_x():
    """∇ einsum('ijk,i,j,k->', T, x, x, x) = S(·, x, x) with S = T + T₍₂₁₃₎ + T₍₂₃₁₎, and the Hessian
    (S + S₍₁₃₂₎) x: the three placements of x collected as one contraction of T's permutations."""
    cubic, shapes = "einsum('ijk,i,j,k->', T, x, x, x)", {"T": "n n n", "x": "n"}
    assert md.derivative(cubic, "x", shapes).text == \
        "einsum('ijk,j,k->i', T + swapaxes(T, 0, 1) + moveaxis(T, 2, 0), x, x)"
    assert md.derivative(cubic, "x", shapes, order=2).text == \
        "(T + swapaxes(T, 0, 1) + moveaxis(T, 2, 0)) @ x + x @ (T + swapaxes(T, 0, 1) + moveaxis(T, 2, 0))"
    checked(cubic, "x", shapes)
    checked(cubic, "x", shapes, order=2)


def test_the_hessian_of_a_separable_sum_over_an_array_is_diagonal_in_vec_form():
    d = md.derivative("sum(T ** 3)", "T", {"T": "n m p"}, order=2)
    assert d.text == "6 * diag(vec(T))"
    checked("sum(exp(T) * T ** 2)", "T", {"T": "n m p"}, order=2)


def test_reductions_over_axis_tuples_and_their_jacobians():
    assert md.vjp("mean(T, axis=1)", "T", {"T": "n m p"}).text == "einsum('ik,j->ijk', G, ones(m)) / m"
    d = md.derivative("sum(T, axis=(0, 2))", "T", {"T": "n m p"})
    assert d.shape == ("m", "n", "m", "p")
    checked("sum(T, axis=(0, 2))", "T", {"T": "n m p"})
    checked("sum(var(T, axis=(1, 2)) * log(sum(exp(T), axis=2)).T)", "T", {"T": "n m p"})


def test_reshape_is_read_in_c_order():
    f = "reshape(T, (n, m * p)) @ reshape(W, (m * p,))"
    shapes = {"T": "n m p", "W": "m p"}
    assert md.derivative(f, "T", shapes).text == "einsum('ij,kl->ijkl', eye(n), W)"
    checked(f, "T", shapes)
    checked(f, "W", shapes)


def test_the_norm_of_an_array_is_the_2_norm_of_all_its_entries():
    assert md.derivative("norm(T)", "T", {"T": "n m p"}).text == "T / norm2(T)"
    checked("norm(T - U) ** 2", "T", {"T": "n m p", "U": "n m p"})


def test_tensordot_contracts_the_last_axes_of_one_with_the_first_of_the_other():
    shapes = {"T": "n m p", "W": "m p"}
    assert md.parse("tensordot(T, W, axes=2)", shapes).text == "einsum('ijk,jk->i', T, W)"
    assert md.derivative("tensordot(T, W, axes=2)", "W", shapes).text == "T"
    assert md.parse("tensordot(T, W, axes=((1, 2), (0, 1)))", shapes).node is \
        md.parse("tensordot(T, W)", shapes).node


@pytest.mark.parametrize("pasted, read", [
    ('np.einsum("ijk,jr->ikr", T, B)', "swapaxes(T, 1, 2) @ B"),
    ('torch.einsum("ijk,jr->ikr", T, B)', "swapaxes(T, 1, 2) @ B"),
    ("T.transpose(1, 0, 2)", "swapaxes(T, 0, 1)"),
    ("T.transpose((2, 0, 1))", "moveaxis(T, 2, 0)"),
    ("T.transpose()", "swapaxes(T, 0, 2)"),
    ("T.permute(1, 0, 2)", "swapaxes(T, 0, 1)"),
    ("torch.permute(T, (1, 0, 2))", "swapaxes(T, 0, 1)"),
    ("torch.transpose(T, 0, 1)", "swapaxes(T, 0, 1)"),  # torch's transpose swaps the two dimensions it names
    ("torch.movedim(T, 0, 2)", "moveaxis(T, 0, 2)"),
    ("T.swapaxes(1, 2)", "swapaxes(T, 1, 2)"),
    ("T.reshape(n, m * p)", "reshape(T, (n, m * p))"),
    ("T.reshape((n, m * p))", "reshape(T, (n, m * p))"),
    ("torch.reshape(T, (n, m * p))", "reshape(T, (n, m * p))"),
    ("np.tensordot(T, M, axes=2)", "einsum('ijk,jk->i', T, M)"),
    ("T.sum(axis=(0, 1))", "sum(T, axis=(0, 1))"),
    ("np.linalg.norm(T)", "norm2(T)"),
])
def test_the_spellings_people_paste_for_arrays(pasted, read):
    assert md.parse(pasted, {"T": "n m p", "B": "m r", "M": "m p"}).text == read


# ---- simplification ------------------------------------------------------------------------------------

@pytest.mark.parametrize("written, simplest", [
    ("einsum('ij,jk->ik', X, Y)", "X @ Y"),
    ("einsum('ij,jk->ki', X, Y)", "Y.T @ X.T"),  # the product transposed: (X Y)ᵀ
    ("einsum('ji->ij', X)", "X.T"),
    ("einsum('ij->', X)", "sum(X)"),
    ("einsum('ii->', S)", "tr(S)"),
    ("einsum('i,j->ij', x, x)", "outer(x, x)"),
    ("einsum('ij,jk->ik', eye(n), S)", "S"),
    ("einsum('ijk,kl->ijl', einsum('ijk->ikj', T), eye(n))", "swapaxes(T, 1, 2)"),
    ("einsum('ijk,jl->ilk', T, 2 * S)", "2 * S.T @ T"),  # Σ_j S[j,l] T[i,j,k]: Sᵀ times each T[i]
    ("einsum('ijk,i->jk', einsum('ia,ajk->ijk', S, T), x)", "einsum('kl,lij,k->ij', S, T, x)"),
    ("T.T", "swapaxes(T, 0, 2)"),
    ("transpose(T, (1, 2, 0))", "moveaxis(T, 0, 2)"),
    ("transpose(swapaxes(T, 0, 1), (1, 0, 2))", "T"),
    ("einsum('ii,jj->', S, S)", "tr(S) ** 2"),  # a group of operands sharing no index with the rest: a number
    ("einsum('ii,jk->jk', S, S)", "tr(S) * S"),
    ("einsum('ij,kj,kl->il', X, X, S)", "X @ X.T @ S"),  # two matrices meeting on an index of their own
])
def test_the_constructor_keeps_a_contraction_short(written, simplest):
    shapes = {"X": "n m", "Y": "m q", "S": "n n", "x": "n", "T": "n n n"}
    e = md.parse(written, shapes)
    assert e.text == simplest
    assert md.parse(e.text, shapes).node is e.node
    assert np.allclose(*(md.parse(t, shapes).evaluate(_values(shapes)) for t in (written, simplest)))


def _values(shapes, seed=0):
    rng = np.random.default_rng(seed)
    sizes = {"n": 3, "m": 4, "p": 5, "q": 2, "r": 2, "b": 2, "d": 3, "k": 2, "h": 2, "e": 3}
    return {name: rng.normal(size=tuple(sizes[d] for d in dims.split())) for name, dims in shapes.items()}


# ---- every output -----------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, shapes", [
    ("einsum('ijk,jr,kr->ir', T, B, C)", CP),
    ("X @ W", STACKS),
    ("swapaxes(A, 1, 2) @ A", STACKS),
    ("moveaxis(T, 0, 2)", {"T": "n m p"}),
    ("reshape(T, (n * m, p))", {"T": "n m p"}),
])
def test_every_spelling_of_an_array_expression(expr, shapes):
    e = md.parse(expr, shapes)
    assert md.parse(e.text, shapes).node is e.node
    assert e.unicode and e.latex and "'" not in e.latex


@pytest.mark.parametrize("expr, unicode, latex", [
    ("einsum('ir,jr,kr->ijk', A, B, C)", "⟦A, B, C⟧", r"[\![A, B, C]\!]"),
    ("einsum('r,ir,jr,kr->ijk', lam, A, B, C)", "⟦λ; A, B, C⟧", r"[\![\lambda; A, B, C]\!]"),
    ("einsum('abc,ia,jb,kc->ijk', S, A, B, C)", "S ×₁ A ×₂ B ×₃ C",
     r"S \times_{1} A \times_{2} B \times_{3} C"),
    ("einsum('ijk,jr,kr->ir', T, B, C)", "[Σ_kl T[i,k,l] B[k,j] C[l,j]][i,j]",
     r"\left[\sum_{kl} {T}_{ikl} {B}_{kj} {C}_{lj}\right]_{ij}"),
])
def test_contractions_are_written_as_kolda_and_bader_write_them(expr, unicode, latex):
    """The CP model ⟦A, B, C⟧, the Tucker model S ×₁ A ×₂ B ×₃ C (Kolda & Bader 2009, secs. 2.5, 3, 4),
    and a Σ over the contracted indices where no such notation applies."""
    shapes = {"T": "n m p", "A": "n r", "B": "m r", "C": "p r", "lam": "r", "S": "r r r"}
    e = md.parse(expr, shapes)
    assert (e.unicode, e.latex) == (unicode, latex)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_generated_code_of_a_cp_gradient_in_every_backend(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    fn = compile_code(CP_FIT, ["A", "B"], CP, backend=backend)
    values = _values({k: v for k, v in CP.items() if k != "lam"})
    value, grad_a, grad_b = run(fn, backend, values)
    for wrt, got in (("A", grad_a), ("B", grad_b)):
        assert np.allclose(got, md.derivative(CP_FIT, wrt, CP).evaluate(values))
    assert np.isclose(value, md.parse(CP_FIT, CP).evaluate(values))


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_generated_code_of_attention_backpropagation(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    fn = compile_code(ATTENTION, ["Q", "V"], HEADS, backend=backend, cotangent="G")
    values = _values(dict(HEADS, G="h n e"))
    got = run(fn, backend, values)
    for wrt, result in zip(("Q", "V"), got[1:]):
        assert np.allclose(result, md.vjp(ATTENTION, wrt, HEADS).evaluate(values))


def test_explain_takes_the_index_route_first_for_an_array_of_order_three():
    e = md.explain("einsum('i,j,k->ijk', x, x, x)", "x", {"x": "n"})
    text = e.text
    assert text.index("Index notation") < text.index("Chain rule") < text.index("Differential route")
    assert "∂ vec" not in e.unicode and "the full array" in text


def test_the_index_form_of_an_array_derivative():
    d = md.derivative("einsum('ijk,li->ljk', T, U)", "U", {"T": "n m p", "U": "l n"})
    assert d.index.shape == ("l", "m", "p", "l", "n")
    values = _values({"T": "n m p", "U": "q n"} | {})
    values["U"] = np.random.default_rng(3).normal(size=(2, 3))
    assert np.allclose(d.index.evaluate(values, {"l": 2}), d.evaluate(values, {"l": 2}))


# ---- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("einsum('ij,jk->ik', T, B)", "operand 1, T, is n×m×p (3 axes), but its subscripts 'ij' name 2 axes"),
    ("einsum('ijk,jr->ir', T, C)", "the subscript j is m in T (n×m×p) but p in C (p×r)"),
    ("einsum('ijk->ii', T)", "the output subscript i is repeated"),
    ("einsum('ijk->z', T)", "the output subscript z is no operand's"),
    ("einsum('ijk', T)", "are not of the form 'ij,jk->ik'"),
    ("einsum('i.j->i', A)", "are not of the form"),
    ("einsum('ijk,jr->ir', T)", "the subscripts name 2 operands but 1 is given"),
    ("swapaxes(T, 1, 3)", "axis 3 is out of range: T is n×m×p (3 axes)"),
    ("transpose(T, (0, 1))", "axes must list each of the 3 axes of T"),
    ("transpose(T, (0, 1, 1))", "repeats one"),
    ("moveaxis(T, 0, -4)", "axis -4 is out of range"),
    ("sum(T, axis=(0, 3))", "axis 3"),
    ("S @ T", "the stacks cannot be broadcast together"),
    ("T @ B", "the contracted axes differ: p ≠ m"),
    ("reshape(T, (n, m))", "which cannot be arranged as n×m"),
    ("tensordot(T, B, axes=2)", "has length"),
    ("norm(T, 2)", "NumPy takes an order only for a vector or a matrix"),
])
def test_bad_array_input_names_the_subscript_or_axis_and_the_shapes(text, says):
    shapes = {"T": "n m p", "B": "m r", "C": "p r", "A": "n r", "S": "q p m"}
    with pytest.raises(md.MatdiffError) as info:
        md.parse(text, shapes)
    assert says in str(info.value)
    assert "^" in str(info.value)  # a caret under the call


HOSTILE = ["'''", '"""', "ij\n->i", "__import__('os')->i", "ij,jk->ik'); import os; ('", "i\\j->i", "ij->ij\x00",
           "ﬁ->ﬁ", "ij->" + "i" * 300]


@pytest.mark.parametrize("subscripts", HOSTILE)
def test_hostile_subscripts_reach_no_output(subscripts):
    """The subscripts are the first user text that can reach generated code: anything but letters, commas
    and one -> is refused before a node is made, whichever way it arrives."""
    from matdiff.ops import einsum, var
    with pytest.raises(md.MatdiffError):
        einsum(subscripts, var("A", ("n", "n")))
    with pytest.raises(md.MatdiffError):
        md.parse(f"einsum({subscripts!r}, A)", {"A": "n n"})
    with pytest.raises(md.MatdiffError):
        compile_code(f"sum(einsum({subscripts!r}, A))", ["A"], {"A": "n n"})
