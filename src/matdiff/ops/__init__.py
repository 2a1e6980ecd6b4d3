"""The operations of the language, one entry each (see `registry.py`), and their smart constructors.

Importing this package registers every operation. Constructors are the only way nodes are made.
"""
from .registry import OPS, Op, op_of  # noqa: F401
from .algebra import (ONE, ZERO, add, broadcast_to, chain_factors, commutation, const, dim, div, eye,  # noqa: F401
                      grad_left, grad_right, is_const, is_symmetric, is_zero, matmul, matmul_chain, mul, neg,
                      ones, power, scale, split_coefficient, split_scalars, sub, transpose, unbroadcast, var,
                      var_from_spec, zeros)
from .structure import diag, kron, norm2, outer, unvec, vec  # noqa: F401
from .reductions import inner, max_, mean, min_, std, sum_, variance  # noqa: F401
from .softmax_family import log_softmax, logsumexp, softmax  # noqa: F401
from .elementwise import ELEMENTWISE, abs_, cos, exp, log_, sigmoid, sin, softplus, sqrt, tanh  # noqa: F401
from .piecewise import clip, compare, maximum, minimum, relu, sign, where  # noqa: F401
from .functions import apply_function  # noqa: F401
from .linalg import det, inv, logdet, matrix_power, pinv, solve, tr  # noqa: F401
from .factorizations import cholesky, tril, triu  # noqa: F401
from .norms import norm, norm1  # noqa: F401
from .axes import moveaxis, permute, reshape, swapaxes, transpose_axes  # noqa: F401
from .tensors import batched_matmul, einsum, tensordot  # noqa: F401
