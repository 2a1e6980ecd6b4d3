"""The derivative as the full array D[i…, k…] = ∂f[i…]/∂X[k…] of shape F + S, written with einsum.

Where no matrix expression has the derivative's shape and the vec form does not apply (an array of order
≥ 3 on either side, or a contraction with no vec rule), the derivative is read off the index form of the
differential (`calculus.index`): each term, coefficient · Σ Π factors, is one einsum of its factors, a
Kronecker delta between a function index and a variable index becomes an identity (`eye(n)`), and a
delta on a summation index has already been eliminated. The einsum constructor then merges and renames,
so that ∂(x xᵀ)/∂x reads `einsum('ik,j->ijk', eye(n), x) + einsum('i,jk->ijk', x, eye(n))`.
"""
from __future__ import annotations

from ..dims import dim_product
from ..errors import NotSupportedError
from ..expr import Node
from ..ops import add, const, diag, eye, mul, ones, power, reshape, vec
from ..ops.tensors import contraction
from .index.form import index_form_of
from .index.terms import Delta, Reshaped


def full_array(f: Node, x: Node) -> Node:
    """∂f/∂x as the array of shape f.shape + x.shape (einsums of the factors of the index form); an
    elementwise map (f[i…] = u[i…] x[i…], a Hessian of a separable sum) as its vec form diag(vec(u))."""
    form = index_form_of(f, x, {})
    diagonal = _elementwise(form, f, x)
    if diagonal is not None:
        return diag(vec(diagonal))
    terms = []
    for coefficient, subscripts, operands in form.einsum:
        inputs, output = subscripts.split("->")
        labels = [list(s) for s in inputs.split(",")] if inputs else []
        nodes, dims = [], {}
        for letters, operand in zip(labels, operands):
            node = _operand(operand)
            nodes.append(node)
            for c, d in zip(letters, node.shape):
                dims[c] = d
        if not nodes:
            terms.append(const(coefficient))
            continue
        term = contraction(labels, list(output), nodes, dims)
        terms.append(term if coefficient == 1.0 else mul(const(coefficient), term))
    if not terms:
        from ..ops import zeros
        return zeros(tuple(f.shape) + tuple(x.shape))
    return add(*terms)


def _elementwise(form, f: Node, x: Node) -> Node | None:
    """u where every term is c · u_t[i…] · Π_t δ[i_t, k_t] (df = u ⊙ dX, same shapes): u = Σ c u_t."""
    if f.shape != x.shape or f.ndim < 3 or not form.terms:
        return None
    fi, vi = form.free_indices[:f.ndim], form.free_indices[f.ndim:]
    deltas = {(a, b) for a, b in zip(fi, vi)}
    parts = []
    for term in form.terms:
        if term.summed:
            return None
        found = {f_.axes for f_ in term.factors if f_.is_delta}
        atoms = [f_ for f_ in term.factors if not f_.is_delta]
        if found != deltas or len(found) + len(atoms) != len(term.factors):
            return None
        if any(a.axes not in ((), tuple(fi)) for a in atoms):
            return None
        factors = [a.base if a.power == 1.0 else power(a.base, const(a.power)) for a in atoms]
        parts.append(mul(const(term.coefficient), *factors, ones(f.shape)) if not any(a.axes for a in atoms)
                     else mul(const(term.coefficient), *factors))
    return add(*parts)


def _operand(operand) -> Node:
    if isinstance(operand, Delta):
        if len(operand.left) == 1 and operand.left == operand.right:
            return eye(operand.left[0])
        size = dim_product(*operand.left)
        if size != dim_product(*operand.right):
            raise NotSupportedError("the full array of this derivative needs a rectangular delta between composite "
                                    "indices, which has no einsum form")
        # δ[(a,b),(c,d)] between two row-major numberings of the same entries: the identity, reshaped
        return reshape(eye(size), tuple(operand.left) + tuple(operand.right))
    if isinstance(operand, Reshaped):
        return reshape(operand.node, operand.shape)
    return operand
