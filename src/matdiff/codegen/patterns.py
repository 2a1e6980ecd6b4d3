"""Structural patterns: products written without forming their structured factors, and sign bounds.

A matrix product is where structure pays most, so the lowering of a chain F1 @ ... @ Fk (the rule of
`@` in its entry calls `Lowering.product`) is planned here: diag(v) @ M is `v[:, None] * M`,
kron(P, Q) @ vec(V) is vec(Q V Pᵀ) (an opt_einsum contraction for a matrix operand), the commutation
matrix is a reshape, M @ outer(a, b) @ N is outer(M a, Nᵀ b), inv(A) @ x is a solve, and Xᵀ diag(c) X
is a symmetric Gram product, and softmax's pullback, layer norm's x̂ = (X − mean X) / σ and its
pullback are the backend's own kernels where it has them (`kernels`). These are patterns over several operations, so this module recognises
operations by name: it is code generation's own knowledge, the way an optimiser knows the algebra.
The patterns' spellings are in `backends.PATTERNS`.

`bounds` (an interval holding every entry of an expression, from each operation's `Code.bounds`)
decides whether the Gram product may take square roots of its weights.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..calculus import pullback
from ..expr import Node
from ..ops import OPS, add, const, div, matmul_chain, mul, softmax, split_coefficient, sum_, transpose
from ..ops.reductions import axes_of, keeps, standardization
from .backends import spelling

if TYPE_CHECKING:
    from .lowering import Lowering
    from .terms import Term


# ---- signs: is a vector provably >= 0 (for the square root in a Gram product) -----------------------

def bounds(node: Node) -> tuple[float, float]:
    """An interval holding every entry of an expression ((-inf, inf) when unknown)."""
    return node.cached("codegen.bounds", _bounds)


def _bounds(node: Node) -> tuple[float, float]:
    rule = getattr(OPS[node.op].code, "bounds", None)
    return rule(node, bounds) if rule is not None else (-math.inf, math.inf)


def nonnegative(node: Node) -> bool:
    return bounds(node)[0] >= 0.0


# ---- @: chains with structure --------------------------------------------------------------------

def product(low: "Lowering", node: Node) -> "Term":
    """F1 @ ... @ Fk without forming diag, outer, kron or commutation matrices where avoidable.

    A vector at an end is multiplied in first (matrix-vector products only); a chain of matrices
    is left to `multi_dot` (three: `chain3`), which picks the cheapest order for the sizes at hand.
    """
    factors = list(low.splits.get(node, node.args))  # a run it shares with another product: one factor
    for i, f in enumerate(factors):  # L @ outer(a, b) @ R = outer(L @ a, Rᵀ @ b)
        if f.op == "outer":
            left = matmul_chain(factors[:i] + [f.args[0]])
            right = matmul_chain([f.args[1]] + factors[i + 1:])
            lt, rt = low.term(left), low.term(right)
            if left.ndim == 0 or right.ndim == 0:
                return low.binary("*", lt, rt, node.ndim)
            return low.spell("outer", lt, rt, ndim=2)
    if (len(factors) == 3 and _is_diag(factors[1]) and factors[0].ndim == 2
            and transpose(factors[2]) is factors[0]):
        return _gram(low, factors[2], factors[1].args[0])
    if factors[-1].ndim == 1:  # ... @ x: fold from the right, matrix-vector products only
        acc = low.term(factors[-1])
        x_node: Node | None = factors[-1]
        for f in reversed(factors[:-1]):
            acc, x_node = _apply_left(low, f, acc, x_node), None
        return acc
    if factors[0].ndim == 1:  # x @ ...: fold from the left
        acc = low.term(factors[0])
        for f in factors[1:]:
            acc = _apply_right(low, acc, f)
        return acc
    # matrices only: diagonal and permutation factors scale or permute a neighbour, Kronecker factors are
    # contracted with one, then one product of the rest
    items: list[Node | Term] = list(factors)
    for kind in (_is_cheap_structure, _is_kron):
        while len(items) > 1:
            i = next((i for i, f in enumerate(items) if isinstance(f, Node) and kind(f)), None)
            if i is None:
                break
            if i + 1 < len(items) and not (isinstance(items[i + 1], Node) and _is_cheap_structure(items[i + 1])):
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
            elif i > 0:
                items[i - 1:i + 1] = [_apply_right(low, _code(low, items[i - 1]), items[i])]
            else:
                items[i:i + 2] = [_apply_left(low, items[i], _code(low, items[i + 1]))]
    codes = [_code(low, f) for f in items]
    if len(codes) == 1:
        return codes[0]
    if len(codes) == 2:
        return low.binary("@", codes[0], codes[1], 2)
    if len(codes) == 3:
        return low.spell("chain3", *codes, ndim=2)
    return low.spell("multi_dot", low.make("List", None, codes), ndim=2)


def _code(low: "Lowering", item: "Node | Term") -> "Term":
    return low.term(item) if isinstance(item, Node) else item


def _is_diag(f: Node) -> bool:
    return f.op == "diag" and f.args[0].ndim == 1


def _is_kron(f: Node) -> bool:
    return f.op == "kron" and f.args[0].ndim == 2 and f.args[1].ndim == 2


def _solvable(low: "Lowering", f: Node) -> bool:
    """inv(A) used by this product alone: solve with A instead of forming the inverse."""
    return f.op == "inv" and low.uses.get(f, 0) <= 1


def _is_cheap_structure(f: Node) -> bool:
    return _is_diag(f) or f.op == "commutation"


def _apply_left(low: "Lowering", f: Node, x: "Term", x_node: Node | None = None) -> "Term":
    """The code of F @ x for a factor node F and code x (a vector or a matrix; x_node its node if known)."""
    nd = x.ndim
    if _is_diag(f):
        v = low.term(f.args[0])
        return low.binary("*", v, x, 1) if nd == 1 else low.spell("scale_rows", v, x, ndim=2)
    if _is_kron(f):
        p, q = f.args
        if x_node is not None and x_node.op == "vec":  # kron(P, Q) @ vec(V) = vec(Q V Pᵀ), flattened P Vᵀ Qᵀ
            return low.spell("flatten", low.term(matmul_chain([p, transpose(x_node.args[0]), transpose(q)])), ndim=1)
        if nd == 1:
            return low.spell("kron_matvec", low.term(p), low.term(transpose(q)), x, low.dim(p.shape[1]),
                             low.dim(q.shape[1]), ndim=1)
        return low.spell("kron_matmul", low.term(p), low.term(q), x, low.dim(p.shape[1]), low.dim(q.shape[1]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if x_node is not None and x_node.op == "vec" and x_node.args[0].shape == (m, n):  # K vec(A) = vec(Aᵀ)
            return low.spell("flatten", low.term(x_node.args[0]), ndim=1)
        return low.spell("commute_vector" if nd == 1 else "commute_rows", x, low.dim(m), low.dim(n), ndim=nd)
    if _solvable(low, f):
        return low.spell("solve", low.term(f.args[0]), x, ndim=nd)
    if f.op == "transpose" and _solvable(low, f.args[0]):  # inv(A).T @ x = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0].args[0])), x, ndim=nd)
    if f.op == "transpose" and nd == 1:
        return low.spell("transposed_matvec", low.term(f.args[0]), x, ndim=1)
    if f.op == "add" and nd == 1 and low.uses.get(f, 0) <= 1 and f.ndim == 2 \
            and all(t.shape == f.shape for t in f.args):  # not through broadcasting: (1 - B) @ x is no 1 @ x
        # (A + Bᵀ) @ x = A @ x + Bᵀ @ x: matrix-vector products instead of forming the sum
        return low.signed_sum([(c, _apply_left(low, body, x)) for c, body in map(split_coefficient, f.args)], 1)
    return low.binary("@", low.term(f), x, _matmul_ndim(f.ndim, nd))


def _matmul_ndim(a: int, b: int) -> int:
    """ndim of A @ B with NumPy's 1-D rules."""
    return max(a - 1, 0) + max(b - 1, 0)


def _apply_right(low: "Lowering", x: "Term", f: Node) -> "Term":
    """The code of x @ F for code x (a vector or a matrix) and a factor node F."""
    nd = x.ndim
    if _is_diag(f):
        return low.binary("*", x, low.term(f.args[0]), nd)
    if _is_kron(f):
        p, q = f.args
        if nd == 1:
            return low.spell("vecmat_kron", x, low.term(transpose(p)), low.term(q), low.dim(p.shape[0]),
                             low.dim(q.shape[0]), ndim=1)
        return low.spell("matmul_kron", x, low.term(p), low.term(q), low.dim(p.shape[0]), low.dim(q.shape[0]), ndim=2)
    if f.op == "commutation":
        m, n = f.params
        if nd == 1:  # x @ K(m, n) = K(n, m) @ x
            return low.spell("commute_vector", x, low.dim(n), low.dim(m), ndim=1)
        return low.spell("commute_columns", x, low.dim(m), low.dim(n), ndim=2)
    if _solvable(low, f) and nd == 1:  # x @ inv(A) = solve(A.T, x)
        return low.spell("solve", low.term(transpose(f.args[0])), x, ndim=1)
    if nd == 1 and f.ndim == 2 and f.op == "transpose":  # x @ Mᵀ = M @ x
        return _apply_left(low, f.args[0], x)
    return low.binary("@", x, low.term(f), _matmul_ndim(nd, f.ndim))


def _gram(low: "Lowering", x: Node, c: Node) -> "Term":
    """Xᵀ diag(c) X, symmetric: where c ≥ 0 the backend's `gram` (NumPy: (X ⊙ √c)ᵀ(X ⊙ √c), BLAS syrk, where
    X is big enough for it to pay), else Xᵀ(c ⊙ X)."""
    xt = low.term(x)
    if nonnegative(c):
        return low.spell("gram", xt, low.term(c), ndim=2)
    return low.binary("@", low.term(transpose(x)), low.spell("scale_rows", low.term(c), xt, ndim=2), 2)


# ---- the backend's kernels: softmax's pullback, layer norm's x̂ and its pullback ----------------------

@dataclass(eq=False)  # one per σ, a key by identity
class Standardized:
    """x̂ = (X − mean X) / σ with σ = sqrt(var X + ε) over X's last `axes` axes, as layer norm standardizes:
    PyTorch's `native_layer_norm` gives x̂, mean X and 1 / σ in one call (`kernel`, once lowered), and its
    `native_layer_norm_backward` the pullback h ↦ (h − mean h − x̂ ⊙ mean(h ⊙ x̂)) / σ in another
    (`StandardizedPullback`)."""

    x: Node
    deviation: Node  # X − mean X
    sigma: Node
    hat: Node
    axes: int
    epsilon: float
    kernel: "Term | None" = None
    pulled_back: bool = False  # the backward kernel is called: the forward one is, whatever else is written
    weight: Node | None = None  # γ and β where the forward kernel computes γ ⊙ x̂ + β instead of x̂ (`kernels`)
    bias: Node | None = None

    @property
    def normalized(self) -> tuple:
        """The shape of the axes standardized over (the kernels' `normalized_shape`)."""
        return self.x.shape[self.x.ndim - self.axes:]

    @property
    def leading(self) -> tuple[int, ...]:
        """The other axes, over which the gradients of γ and β sum."""
        return tuple(range(self.x.ndim - self.axes))


def standardizations(backend: str, nodes: Collection[Node]) -> dict[Node, Standardized]:
    """The standardizations over trailing axes whose σ is among `nodes` (keyed by σ), for a backend with the
    kernels; none for another."""
    if not spelling("standardize", backend)[1]:
        return {}
    found: dict[Node, Standardized] = {}
    for v in nodes:
        pair = standardization(v) if v.op in ("variance", "add") else None
        if pair is None or pair[1] not in nodes:  # var(X) of sqrt(var(X) + ε): a σ no node divides by
            continue
        moment, epsilon = v, 0.0
        if v.op == "add":
            moment = next(t for t in v.args if t.op == "variance")
            rest = [t for t in v.args if t is not moment]
            if not all(t.op == "const" for t in rest):  # ε a scalar argument: the kernel takes a number
                continue
            epsilon = float(sum(t.params[0] for t in rest))
        x, axes = moment.args[0], axes_of(moment)
        if not axes or axes != tuple(range(x.ndim - len(axes), x.ndim)):  # layer norm's, not batch norm's
            continue
        deviation, sigma = pair
        found[sigma] = Standardized(x, deviation, sigma, div(deviation, sigma), len(axes), epsilon)
    return found


def kernels(backend: str, found: dict[Node, Standardized], uses: dict[Node, int]
            ) -> dict[Node, Callable[["Lowering"], "Term"]]:
    """The nodes among `uses` that the backend's kernels compute, each with the rule writing its code:
    - softmax's and log-softmax's pullbacks (`softmax_pullbacks`);
    - the pullbacks of the standardizations `found` and their weights' gradients (`standardized_pullbacks`);
    - where the forward kernel is called for them anyway, x̂ and a ⊙ (X − mean X) / σ, which is a ⊙ x̂;
    - γ ⊙ x̂ + β (γ and β of the normalized axes' shape) where x̂ is used for nothing else: the forward kernel
      takes γ and β, and the backward one then gives β's gradient too, the sum of g over the other axes."""
    rules: dict[Node, Callable[["Lowering"], "Term"]] = softmax_pullbacks(backend, uses)
    if not found:
        return rules
    pulled = standardized_pullbacks(found, uses)
    for node, (call, output) in pulled.items():
        rules[node] = functools.partial(standardized_pullback, call=call, output=output)
        call.standardized.pulled_back = True
    products: dict[Standardized, list[Node]] = {}
    for node in uses:
        s = found.get(node.args[1]) if node.op == "div" else None
        if s is None or not s.pulled_back:
            continue
        numerator = node.args[0]
        if numerator is s.deviation:
            factor = None
        elif numerator.op == "mul" and numerator.args.count(s.deviation) == 1:
            factor = mul(*(a for a in numerator.args if a is not s.deviation))
        else:
            continue
        rules[node] = functools.partial(_standardized_times, s=s, factor=factor)
        products.setdefault(s, []).append(node)
    # a ⊙ x̂ needed by a node the backward kernel computes only (sum(x̂ ⊙ g), γ's gradient) is needed by nothing
    needed = {p: False for ps in products.values() for p in ps}
    for node in uses:
        if node not in pulled:
            for a in node.args:
                if a in needed:
                    needed[a] = True
    for node in uses:
        affine = _affine(node, found, products, needed, uses)
        if affine is not None:
            for product in products[affine]:  # the kernel's output is γ ⊙ x̂ + β now, not x̂: written as they are
                del rules[product]
            rules[node] = functools.partial(_kernel_value, s=affine)
    calls = {id(call): call for call, _ in pulled.values()}.values()
    sums = [node for node in uses if node.op == "sum"]
    for call in calls:  # β's gradient, sum(g) over the other axes
        s = call.standardized
        if s.bias is None or not s.leading:
            continue
        match = _alike_among(sums, sum_(call.cotangent, s.leading))
        if match is not None and match not in rules:
            call.bias_gradient = match
            rules[match] = functools.partial(standardized_pullback, call=call, output=2)
    return rules


def _affine(node: Node, found: dict[Node, Standardized], products: dict[Standardized, list[Node]],
            needed: dict[Node, bool], uses: dict[Node, int]) -> Standardized | None:
    """The standardization where `node` is γ ⊙ x̂ + β, its γ and β recorded; None where it is not, or another
    a ⊙ x̂ is needed too (the affine kernel's output is not x̂)."""
    if node.op != "add" or len(node.args) != 2:
        return None
    for product, bias in (node.args, node.args[::-1]):
        s = found.get(product.args[1]) if product.op == "div" else None
        if s is None or product not in products.get(s, ()) or uses.get(product) != 1 or s.bias is not None \
                or any(needed[p] for p in products[s] if p is not product):
            continue
        numerator = product.args[0]
        weight = None if numerator is s.deviation else mul(*(a for a in numerator.args if a is not s.deviation))
        if bias.shape == s.normalized and (weight is None or weight.shape == s.normalized):
            s.weight, s.bias = weight, bias
            return s
    return None


def _standardized_times(low: "Lowering", *, s: Standardized, factor: Node | None) -> "Term":
    """a ⊙ x̂ (or x̂ alone), x̂ from the forward kernel."""
    hat = _kernel_value(low, s=s)
    return hat if factor is None else low.binary("*", low.term(factor), hat, max(factor.ndim, s.x.ndim))


def _kernel_value(low: "Lowering", *, s: Standardized) -> "Term":
    """The forward kernel's first output: x̂, or γ ⊙ x̂ + β where it is given γ and β."""
    return low.spell("standardized_value", _kernel(low, s), ndim=s.x.ndim)


def softmax_pullbacks(backend: str, uses: Collection[Node]) -> dict[Node, Callable[["Lowering"], "Term"]]:
    """The nodes among `uses` that are the pullback of some g through a softmax or a log-softmax along one axis,
    where the backend has a kernel for it (PyTorch's `_softmax_backward_data`, `_log_softmax_backward_data`:
    one pass over the array and g where the expression takes three or four):
    - softmax's P ⊙ (g − sum(g ⊙ P)), g the sum's terms but the one holding P;
    - log-softmax's g − softmax(Z) ⊙ sum(g), g the terms but the one holding softmax(Z) (softmax
      cross-entropy's gradient softmax(Z) ⊙ sum(Y) − Y is its pullback of −Y).
    The pullback built from that g is compared with the node, as the standardizations' are."""
    rules: dict[Node, Callable[["Lowering"], "Term"]] = {}
    if not spelling("softmax_pullback", backend)[1]:
        return rules
    logs = {}  # softmax(Z) -> log_softmax(Z), for the log-softmaxes among the nodes
    for node in uses:
        if node.op == "log_softmax" and len(axes_of(node)) == 1:
            logs[softmax(node.args[0], node.params[0])] = node
    for node in uses:
        if node.op == "mul" and len(node.args) == 2:
            for p, rest in (node.args, node.args[::-1]):
                if p.op != "softmax" or rest.op != "add" or p.shape != node.shape or len(axes_of(p)) != 1:
                    continue
                g = add(*(t for t in rest.args if not _holds(split_coefficient(t)[1], p)))
                if g.shape == p.shape and _alike(pullback(p, p.args[0], g), node):
                    rules[node] = functools.partial(_softmax_pullback, what="softmax_pullback", g=g, p=p)
                    break
        elif node.op == "add" and logs:
            for p, log in logs.items():
                held = [t for t in node.args if _holds(split_coefficient(t)[1], p)]
                if log.shape != node.shape or len(held) != 1:
                    continue
                g = add(*(t for t in node.args if t is not held[0]))
                if g.shape == log.shape and _alike(pullback(log, log.args[0], g), node):
                    rules[node] = functools.partial(_softmax_pullback, what="log_softmax_pullback", g=g, p=log)
                    break
    return rules


def _holds(term: Node, p: Node) -> bool:
    """Whether `term` has P as an argument or as an argument's argument: the sum(g ⊙ P) of softmax's pullback."""
    return any(a is p or p in a.args for a in term.args)


def _softmax_pullback(low: "Lowering", *, what: str, g: Node, p: Node) -> "Term":
    return low.spell(what, low.term(g), low.term(p), low.num(axes_of(p)[0]), ndim=p.ndim)


@dataclass
class StandardizedPullback:
    """One call of the backward kernel: the pullback of x̂ of h = weight ⊙ g (weight of the normalized axes'
    shape, or None and h = g), and, where the derivative has it too, the weight's gradient sum(x̂ ⊙ g) over
    the other axes, which the call gives beside it (as layer norm's dγ)."""

    standardized: Standardized
    cotangent: Node  # g
    weight: Node | None
    weight_gradient: Node | None = None
    bias_gradient: Node | None = None


def standardized_pullbacks(found: dict[Node, Standardized], nodes: Iterable[Node]
                           ) -> dict[Node, tuple[StandardizedPullback, int]]:
    """The nodes among `nodes` that a backward kernel's call gives: each as (the call, which of its outputs).

    The derivative writes the pullback of x̂ (h − mean h − (X − mean X) ⊙ mean(h ⊙ (X − mean X)) / σ²) / σ;
    which factor order its products take depends on the expression it came from. So h is read off the mean
    in the sum, the pullback of x̂ built from it, and the two compared up to the order of the terms of a sum
    and the factors of an elementwise product. A weight's gradient is found the same way, built from x̂ and g."""
    fused: dict[Node, tuple[StandardizedPullback, int]] = {}
    if not found:
        return fused
    nodes = list(nodes)
    calls: list[StandardizedPullback] = []
    for node in nodes:
        if node.op != "div" or node.args[1] not in found or node.args[0].op != "add":
            continue
        s = found[node.args[1]]
        for term in node.args[0].args:
            c, body = split_coefficient(term)
            if body.op != "mean" or body.args[0].shape != s.x.shape:
                continue
            h = body.args[0] if c == -1.0 else mul(const(-c), body.args[0])
            if _alike(pullback(s.hat, s.x, h), node):
                calls.append(_weighed(s, h))
                fused[node] = (calls[-1], 0)
                break
    sums = [node for node in nodes if node.op == "sum"]
    for call in calls:
        s = call.standardized
        if call.weight is None or not s.leading:
            continue
        match = _alike_among(sums, sum_(mul(s.hat, call.cotangent), s.leading))
        if match is not None and match not in fused:
            call.weight_gradient = match
            fused[match] = (call, 1)
    return fused


def _weighed(s: Standardized, h: Node) -> StandardizedPullback:
    """h as weight ⊙ g, the weight a factor of the normalized axes' shape (the kernel multiplies it in), or
    as g alone."""
    factors = list(h.args) if h.op == "mul" else [h]
    weights = [i for i, f in enumerate(factors) if f.shape == s.normalized]
    if len(weights) == 1 and len(factors) > 1:
        weight = factors.pop(weights[0])
        g = mul(*factors)
        if g.shape == s.x.shape:
            return StandardizedPullback(s, g, weight)
    return StandardizedPullback(s, h, None)


def _alike(a: Node, b: Node, budget: list[int] | None = None) -> bool:
    """a and b the same up to the order of a sum's terms and an elementwise product's factors. Where the two
    differ below more than a few dozen nodes the answer is False (then nothing is fused: the expression is
    written as it is), which keeps the recursion shallow."""
    if a is b:
        return True
    budget = [64] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0 or a.op != b.op or a.params != b.params or a.shape != b.shape or len(a.args) != len(b.args):
        return False
    if a.op not in ("add", "mul"):
        return all(_alike(x, y, budget) for x, y in zip(a.args, b.args))
    rest = list(b.args)
    for x in a.args:
        j = next((j for j, y in enumerate(rest) if _alike(x, y, budget)), None)
        if j is None:
            return False
        del rest[j]
    return True


def _alike_among(nodes: Sequence[Node], wanted: Node) -> Node | None:
    """The node among `nodes` alike `wanted` (`_alike`), or None."""
    return next((n for n in nodes if n.shape == wanted.shape and _alike(wanted, n)), None)


def _kernel(low: "Lowering", s: Standardized) -> "Term":
    if s.kernel is None:
        s.kernel = low.spell("standardize", low.term(s.x), low.shape(s.normalized),
                             _optional(low, s.weight), _optional(low, s.bias), low.num(s.epsilon))
    return s.kernel


def _optional(low: "Lowering", node: Node | None) -> "Term":
    return low.make("Constant", None) if node is None else low.term(node)


def standardized_pullback(low: "Lowering", *, call: StandardizedPullback, output: int) -> "Term":
    """An output of a backward kernel's call (see `standardized_pullbacks`): 0 the pullback of x̂, 1 the
    weight's gradient, 2 the bias's."""
    s = call.standardized
    flags = (True, call.weight_gradient is not None, call.bias_gradient is not None)
    mask = low.make("List", None, [low.make("Constant", flag) for flag in flags])
    code = low.spell("standardized_pullback", low.term(call.cotangent), low.term(s.x),
                     low.shape(s.normalized), _kernel(low, s), _optional(low, call.weight),
                     _optional(low, s.bias if flags[2] else None), mask)
    return low.make("Subscript", None, (code, low.num(output)), s.x.ndim if output == 0 else s.axes)


def standardized_values(low: "Lowering", results: Sequence["Term"]) -> list["Term"]:
    """The outputs with each x̂ written (X − mean X) / σ taken from the kernel instead, where the kernel is
    called anyway (for a pullback) or where that leaves X − mean X and σ computed for nothing else."""
    results = list(results)
    for s in low.standardized.values():
        if s.weight is not None or s.bias is not None:  # the kernel gives γ ⊙ x̂ + β, not x̂
            continue
        deviation, sigma = low.lowered(s.deviation), low.lowered(s.sigma)
        if deviation is None or sigma is None:
            continue
        called = s.kernel is not None

        def substitute(t: "Term") -> "tuple[Term, bool]":
            if t.kind == "BinOp" and t.value == "/" and t.args[0] is deviation and t.args[1] is sigma:
                return _kernel_value(low, s=s), True
            return t, False

        rewritten = low.rebuilt(results, substitute)
        if rewritten != results and (called or not _reaches(rewritten, {id(deviation), id(sigma)})):
            results = rewritten
    return results


def _reaches(roots: Sequence["Term"], targets: set[int]) -> bool:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if id(t) in targets:
            return True
        if id(t) not in seen:
            seen.add(id(t))
            stack.extend(t.args)
    return False
