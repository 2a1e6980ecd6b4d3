"""Index (Einstein) notation for a derivative: ∂f[i,j]/∂X[k,l] as a sum of products of indexed factors.

This package owns the third route to a derivative (see APPROACHES.md, route 3): it reads the
differential df, linear in a symbolic dX (from `calculus.forward.differential`), as an index
expression, so that every derivative (gradient, Jacobian, 3rd- or 4th-order tensor, Hessian) has
the same uniform form:

    ∂(W @ X)[i,j]/∂W[k,l] = δ[i,k] X[l,j]        ∂inv(X)[i,j]/∂X[k,l] = -inv(X)[i,k] inv(X)[l,j]

Each linear operation has its index rule, in its entry of the operation table (`Op.index`): `A @ B`
is Σ_s A[i,s] B[s,j] (NumPy's 1-D rules included), `.T` swaps indices, `*` and `/` are elementwise
with NumPy broadcasting, tr(A) is Σ_s A[s,s], sum sums over fresh indices, outer(a, b) is a[i] b[j],
diag(v) is v[i] δ[i,j] and diag(M) is M[i,i], dX[a,b] is δ[a,k] δ[b,l]; vec and kron index their
operands with *composite* indices, written (a,b) and numbered row-major as NumPy's kron does
(a·|b| + b), so vec(M)[(b,a)] is M[a,b]. Anything else (nonlinear functions, inverses, determinants,
commutation matrices, sums that do not involve dX) is an *atom*, indexed and evaluated as a whole:
`tanh(X @ W)[i,j]`, `det(X)`. Kronecker deltas on summation indices are then eliminated, equal
factors become powers, and equal terms are merged. Free indices: i, j for the function, k, l for the
variable; summation indices p, q, r, s, t, u, ...

The result, `IndexForm`, prints (text, Unicode, LaTeX), states its order and shape, and evaluates
through einsum (`opt_einsum.contract`), which makes it an independent numeric cross-check of the
matrix-notation routes (`pullback`, `vec_form`).

The modules: `terms.py` (indexed factors, terms, and their simplification), `reading.py` (the
interpreter of the entries' index rules: a node of df, indexed), `form.py` (`IndexForm` and how it is
built and evaluated), `spelling.py` (its text, Unicode and LaTeX). It does not own differentials
(`calculus.forward`), the operations (`ops`) or printing of expressions (`language.printing`, used for
atoms).
"""
from .terms import Delta, Reshaped  # noqa: F401
from .reading import index_terms  # noqa: F401
from .form import IndexForm, index_form, index_form_of  # noqa: F401

__all__ = ["IndexForm", "Delta", "Reshaped", "index_form", "index_form_of", "index_terms"]
