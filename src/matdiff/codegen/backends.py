"""The backends: their modules, their helper functions, and the spellings of code generation's own patterns.

An operation of the language is spelled in its own entry (`Op.code`, see `matdiff/ops/registry.py`).
What is spelled here is no operation: the structural patterns the lowering writes instead of forming a
matrix (diag(v) @ X as `v[:, None] * X`, kron(P, Q) @ x as a reshaped product, T + Tᵀ, ...), the
linear-algebra calls it chooses (`solve`, `multi_dot`), and the checks of the arguments' shapes.

This module owns what differs between NumPy, JAX and PyTorch; it knows no operation by name.
"""
from __future__ import annotations

from ..ops import OPS

BACKENDS = ("numpy", "jax", "torch")

# The modules each backend's code may use, as (name in the generated code, module to import). SciPy is
# imported only by code that uses it: scipy.special's expit, erf and ndtr, which NumPy lacks.
MODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "numpy": (("np", "numpy"), ("oe", "opt_einsum"), ("scipy", "scipy")),
    "jax": (("jax", "jax"), ("jnp", "jax.numpy")),
    "torch": (("torch", "torch"),),
}

# ---- the patterns' spellings ------------------------------------------------------------------------
# pattern: (placeholders, numpy, jax, torch); one string stands for all three backends. Templates are
# Python expressions written here, never user text; a placeholder is replaced by the code of an operand.
# `like` is an argument of the generated function, used for PyTorch's dtype and device.
PATTERNS: dict[str, tuple[str, ...]] = {
    "sum_axis": ("x axis", "x.sum(axis=axis)", "jnp.sum(x, axis=axis)", "torch.sum(x, axis)"),
    "sum_keepdims": ("x axis", "x.sum(axis=axis, keepdims=True)", "jnp.sum(x, axis=axis, keepdims=True)",
                     "torch.sum(x, axis, keepdim=True)"),
    "sum_product": ("x y", "np.vdot(x, y)", "jnp.vdot(x, y)", "torch.sum(x * y)"),  # sum(x ⊙ y)
    "sum_squares": ("x", "np.vdot(x, x)", "jnp.vdot(x, x)", "torch.sum(x * x)"),  # norm2(x) ** 2
    "diag_of_product": ("x y", "np.einsum('ij,ji->i', x, y)", "jnp.einsum('ij,ji->i', x, y)",
                        "torch.einsum('ij,ji->i', x, y)"),
    "multi_dot": ("xs", "np.linalg.multi_dot(xs)", "jnp.linalg.multi_dot(xs)", "torch.linalg.multi_dot(xs)"),
    "chain3": ("a b c", "_chain3(a, b, c)", "jnp.linalg.multi_dot([a, b, c])", "torch.linalg.multi_dot([a, b, c])"),
    # x ± y ⊙ z of arrays in one call where the backend has it (`products.multiply_add`): in PyTorch one temporary
    # fewer, which at 2000×512 in float64 (8 MB a temporary) costs as much as the arithmetic
    "add_product": ("x y z", "x + y * z", "x + y * z", "torch.addcmul(x, y, z)"),
    "sub_product": ("x y z", "x - y * z", "x - y * z", "torch.addcmul(x, y, z, value=-1.0)"),
    # a dimension made a floating array (jax.nn.sigmoid refuses an integer one)
    "array": ("x like", "np.asarray(x)", "jnp.asarray(x, dtype=float)", "torch.full((), x, dtype=like.dtype, device=like.device)"),
    # structure instead of materialised matrices
    "scale_rows": ("v x", "v[:, None] * x"),  # diag(v) @ X
    "column": ("v", "v[:, None]"),
    "plus_transpose": ("x", "x + x.T", "_plus_transpose(x)", "x + x.T"),  # a symmetric sum, T + Tᵀ
    # Xᵀ diag(c) X for c ≥ 0: NumPy's `Y.T @ Y` calls BLAS syrk (half the work); XLA and PyTorch do not
    "gram": ("x c", "_gram(x, c)", "x.T @ (c[:, None] * x)", "x.T @ (c[:, None] * x)"),
    "kron_matvec": ("p qt x p1 q1", "(p @ x.reshape(p1, q1) @ qt).reshape(-1)"),  # kron(P, Q) @ x
    "vecmat_kron": ("x pt q p0 q0", "(pt @ x.reshape(p0, q0) @ q).reshape(-1)"),  # x @ kron(P, Q)
    "flatten": ("x", "x.reshape(-1)"),  # row-major: vec(X.T)
    # Mᵀ x: XLA on CPU copies a transposed matrix before a matrix-vector product, x @ M contracts in place
    "transposed_matvec": ("m x", "m.T @ x", "x @ m", "m.T @ x"),
    "kron_matmul": ("p q x p1 q1",  # kron(P, Q) @ X, contracted without forming kron(P, Q)
                    "oe.contract('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])",
                    "jnp.einsum('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])",
                    "torch.einsum('ac,bd,cdk->abk', p, q, x.reshape(p1, q1, -1)).reshape(-1, x.shape[-1])"),
    "matmul_kron": ("x p q p0 q0",  # X @ kron(P, Q)
                    "oe.contract('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)",
                    "jnp.einsum('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)",
                    "torch.einsum('kab,ac,bd->kcd', x.reshape(-1, p0, q0), p, q).reshape(x.shape[0], -1)"),
    "commute_vector": ("x m n", "x.reshape(n, m).T.reshape(-1)"),  # commutation(m, n) @ x
    "commute_rows": ("x m n", "x.reshape(n, m, -1).transpose(1, 0, 2).reshape(m * n, -1)",
                     "x.reshape(n, m, -1).transpose(1, 0, 2).reshape(m * n, -1)",
                     "x.reshape(n, m, -1).permute(1, 0, 2).reshape(m * n, -1)"),
    "commute_columns": ("x m n", "x.reshape(-1, m, n).transpose(0, 2, 1).reshape(-1, m * n)",  # X @ K(m, n)
                        "x.reshape(-1, m, n).transpose(0, 2, 1).reshape(-1, m * n)",
                        "x.reshape(-1, m, n).permute(0, 2, 1).reshape(-1, m * n)"),
    # layer norm's passes, x̂ = (X − mean X) / sqrt(var X + ε) over X's trailing axes, as PyTorch's own kernels
    # (`patterns.kernels`): one call gives x̂ (or γ ⊙ x̂ + β), mean X and 1 / σ, one the pullback of x̂ of γ ⊙ g
    # and the gradients of γ and β. NumPy and XLA have none ("": the lowering writes the expression as it is)
    "standardize": ("x shape weight bias eps", "", "", "torch.native_layer_norm(x, shape, weight, bias, eps)"),
    "standardized_value": ("kernel", "", "", "kernel[0]"),
    "standardized_pullback": ("g x shape kernel weight bias mask", "", "",
                              "torch.ops.aten.native_layer_norm_backward(g, x, shape, kernel[1], kernel[2], weight, bias, "
                              "mask)"),
    # softmax's pullback P ⊙ (g − sum(g ⊙ P)) along an axis in one pass, and log-softmax's g − exp(L) ⊙ sum(g) from its
    # value L, where the backend has a kernel for them
    "softmax_pullback": ("g p axis", "", "", "torch._softmax_backward_data(g, p, axis, p.dtype)"),
    "log_softmax_pullback": ("g l axis", "", "", "torch._log_softmax_backward_data(g, l, axis, l.dtype)"),
    # the arguments' shapes, for the checks at the top of the function
    "ndim": ("x", "x.ndim"),
    "shape": ("x", "x.shape"),
    "scalar_ndim": ("x", "np.ndim(x)", "jnp.ndim(x)", "x.ndim"),
}

# Helper functions a backend's spelling may call, written into the generated source below the function
# (only where used).
#
# _gram: Xᵀ diag(c) X as (X ⊙ √c)ᵀ(X ⊙ √c) is BLAS syrk, half the multiplications of Xᵀ(c ⊙ X), but it takes a pass of
# square roots and NumPy then copies one triangle onto the other (p² entries). Measured with one OpenBLAS thread
# (CPU time, X n×p): syrk is 1.1-1.9x faster from p ≈ 96 up (n = 64, p = 128: 1.13; n = 2000, p = 250: 1.86) and for
# a long X (n = 10000, p = 64: 1.39), but 1.1-1.5x slower for a small or short one (n = 256, p = 32: 0.67;
# n = 512, p = 64: 0.87) and 2-3x slower for a wide one with few rows (n = 16, p = 256: 0.45; n = 32, p = 512: 0.46),
# where the copy outweighs the multiplications saved. The shapes are known at run time: the helper chooses.
#
# _plus_transpose: XLA on CPU fuses a transposed operand into a strided loop that runs about ten times
# slower than a plain transpose (A + A.T at n = 2000: 60 ms against NumPy's 4.4 ms); the same sum over square
# tiles is a transpose XLA handles well. Shapes are static under jit, so the tiling is chosen at trace time.
# Tiles of a multiple of 8 that is not a power of two come first: at n = 2000, 40 took 4.2 ms, 80 4.0, 50 8.2,
# 16 or 8 60; at n = 1000 and 1200, 40 took 0.4 and 0.7 ms, 50 2.0 and 2.9.
#
# _chain3: A @ B @ C in the cheaper order, the choice np.linalg.multi_dot makes, without its overhead (validation,
# a cost table): 2.3 µs against 2.7 µs for 16×16 matrices, where the products themselves take 2 µs. XLA chooses
# at trace time and PyTorch in C++, so there multi_dot stays.
HELPERS: dict[str, dict[str, str]] = {
    "_chain3": {"numpy": '''
def _chain3(a, b, c):
    """a @ b @ c for matrices, in the order with fewer multiplications."""
    (p, q), (r, s) = a.shape, c.shape
    if p * r * (q + s) <= q * s * (p + r):
        return a @ b @ c
    return a @ (b @ c)
'''},
    "_gram": {"numpy": '''
def _gram(x, c):
    """x.T @ (c[:, None] * x) for c >= 0, by syrk where x is big enough for it to pay."""
    n, p = x.shape
    if n >= 64 and (p >= 96 or n * p * p >= 8388608):
        y = x * np.sqrt(c)[:, None]
        return y.T @ y
    return x.T @ (c[:, None] * x)
'''},
    "_plus_transpose": {"jax": '''
def _plus_transpose(a):
    """a + a.T for a square a, as a sum over square tiles where that is faster under XLA."""
    n = a.shape[0]
    b = next((b for b in (40, 80, 48, 24, 20, 64, 32, 16, 50, 25) if n % b == 0), 0)
    if n < 800 or not b:
        return a + a.T
    tiles = a.reshape(n // b, b, n // b, b)
    return (tiles + tiles.transpose(2, 3, 0, 1)).reshape(n, n)
'''},
}

# Calls worth a line of their own even when used once: factorisations and big products (the names of
# backend functions, whichever operation or pattern spelled them).
EXPENSIVE = ("inv", "det", "slogdet", "solve", "cholesky", "pinv", "matrix_power", "kron", "contract",
             "multi_dot")


def spelling(what: str, backend: str) -> tuple[list[str], str]:
    """(placeholders, template) of a pattern, or of an operation by its entry's `code`."""
    if what in PATTERNS:
        entry = PATTERNS[what]
        text = entry[1] if len(entry) == 2 else entry[1 + BACKENDS.index(backend)]
        return entry[0].split(), text
    code = OPS[what].code
    return code.placeholders.split(), getattr(code, backend)
