"""Reading a Jacobian off a differential: the matrix J with vec(df) = J vec(dX).

`df` is linear in dX and built only from linear operations around it (sums, products with
expressions free of dX, `@`, `.T`, tr, sum, diag, outer, kron, vec). Each such operation declares
how it acts on J (`vec_jacobian` in `matdiff.ops`): vec(A M B) = (Bᵀ ⊗ A) vec M, vec(Mᵀ) = K vec M,
vec(u ⊙ M) = diag(vec u) vec M, tr(M) = vec(I)ᵀ vec M, ... The Kronecker mixed-product rule and
the other simplifications of `@` then bring J to the Cookbook's form, e.g. kron(B.T, A).
"""
from __future__ import annotations

from ..dims import size_of
from ..errors import NotSupportedError
from ..expr import Node, dependents, topological
from ..ops import OPS, eye, zeros


def vec_form(linear: Node, d_wrt: Node) -> Node:
    """J with vec(linear) = J vec(d_wrt); a vector (a row) when `linear` is a scalar."""
    found: dict[Node, Node] = {}
    depending = dependents(linear, d_wrt)
    for node in topological(linear):
        if node not in depending:
            continue
        if node is d_wrt:
            found[node] = eye(size_of(d_wrt.shape))
            continue
        rule = OPS[node.op].vec_jacobian
        if not rule:  # None, or Absent(why): a nonlinear operation never holds the differential itself
            why = f": {rule.reason}" if rule is not None else ""
            raise NotSupportedError(f"the vec form through {node.op} is not available{why}")
        found[node] = rule(node, tuple(found.get(a) for a in node.args))
    if linear not in found:
        rows = size_of(linear.shape) if linear.shape else None
        return zeros((rows, size_of(d_wrt.shape)) if rows is not None else (size_of(d_wrt.shape),))
    return found[linear]
