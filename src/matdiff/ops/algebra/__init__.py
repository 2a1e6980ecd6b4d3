"""Leaves and the arithmetic of the language: constants, variables, dimensions, `+ - * / ** @ .T`.

Each operation's smart constructor checks shapes (NumPy broadcasting for the elementwise ones) and
keeps nodes canonical, so that equal values built in different ways tend to be the same node. One
module per family, each with its entries and the identities its constructor applies:
- `leaves.py`: constants, variables, dimensions, `eye`, `ones`, `zeros`, the commutation matrix;
- `broadcasting.py`: the shape rule of `+ - * / **` and the calculus of a broadcast (no entry);
- `sums.py`: `+` and `-`, flat, like terms merged, common factors taken out;
- `products.py`: `*`, `/` and `**`, flat, coefficients in front, powers of one base merged;
- `chains.py`: `@`, flat chains, identities, inverse pairs and Kronecker products merged;
- `transposition.py`: `.T`, pushed down to the leaves, and what is symmetric.
Every rewrite is an identity that holds for all sizes; `tests/test_simplify.py` checks each one.

The modules call each other's constructors (a sum builds products and a product sums), so each
imports its siblings at its end; this package gathers the names the rest of `ops` uses.
"""
from .leaves import (ONE, ZERO, commutation, const, dim, eye, is_const, is_zero, ones, var, var_from_spec,  # noqa: F401
                     zeros)
from .broadcasting import (_describe, _single, broadcast_jacobian, broadcast_shapes, broadcast_to,  # noqa: F401
                           scale_jacobian, shape_mismatch, unbroadcast, vec_broadcast)
from .sums import add, neg, scale, split_coefficient, sub  # noqa: F401
from .products import div, mul, power, split_divisor, split_scalars  # noqa: F401
from .chains import chain_factors, grad_left, grad_right, matmul, matmul_chain, matmul_shape, subchain  # noqa: F401
from .transposition import (_ELEMENTWISE_UNARY, is_symmetric, transpose, transposed_spelling_is_simpler,  # noqa: F401
                            transposes_in, written_size)
