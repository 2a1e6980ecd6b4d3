"""Matrix products, `@`: the `matmul` entry, its smart constructor and the identities of chains.

An `@` chain is flat where vectors stay at the ends, scalar factors and divisors are pulled out,
identities dropped, `F @ inv(F)` cancelled, Kronecker mixed products formed, and a chain that yields
a vector ends with its vector (`B.T @ x` rather than `x @ B`). `grad_left` / `grad_right` are the
cotangents of the two sides of `A @ B`, NumPy's 1-D rules included.
Every rewrite is an identity that holds for all sizes; `tests/test_simplify.py` checks each one.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import NamedTuple

from ...dims import Shape
from ...errors import ShapeError
from ...expr import Node, make
from ..registry import Absent, Code, Op, SpelledIdentity, Words, register

_op_of = attrgetter("op")

# ---- matrix products --------------------------------------------------------------------------


def matmul_shape(a: Node, b: Node) -> Shape:
    for x in (a, b):
        if not x.shape:
            raise ShapeError(f"{_describe(a)} @ {_describe(b)}: {_describe(x)} is a scalar, "
                             f"but @ needs a vector or matrix on both sides (use * to scale)", (a, b))
    inner_a = a.shape[-1]
    inner_b = b.shape[0]
    if inner_a != inner_b:
        ia, ib = ("columns", "rows") if a.ndim == 2 else ("length", "length")
        if b.ndim == 1:
            ib = "length"
        raise ShapeError(shape_mismatch("@", a, b, f"{ia} {inner_a} ≠ {ib} {inner_b}"), (a, b))
    return a.shape[:-1] + b.shape[1:]


def chain_factors(node: Node) -> tuple[Node, ...]:
    return node.args if node.op == "matmul" else (node,)


def matmul(a: Node, b: Node) -> Node:
    if a.ndim > 2 or b.ndim > 2:  # stacks of matrices: NumPy's batched @, an einsum
        return batched_matmul(a, b)
    shape = matmul_shape(a, b)
    scalars_a, a = split_scalars(a)
    scalars_b, b = split_scalars(b)
    scalars = scalars_a + scalars_b
    a, divisor_a = split_divisor(a)
    b, divisor_b = split_divisor(b)
    if divisor_a is not None or divisor_b is not None:  # (A / s) @ B = (A @ B) / s
        divisor = mul(*(d for d in (divisor_a, divisor_b) if d is not None))
        return mul(*scalars, div(matmul(a, b), divisor))
    if is_zero(a) or is_zero(b):
        return zeros(shape)
    left = chain_factors(a)
    runs: list[_Run] = []  # the operands' settled chains, read no further than where they meet
    turns = None
    if len(left) > 1 and left[-1].ndim != 2:
        turned = _turned_times(a, b, shape)
        if turned is not None:
            return mul(*scalars, turned) if scalars else turned
        # (F v) @ B is vᵀ Fᵀ B: the vector leads, so that vectors stay at the ends of one flat chain
        left = (left[-1],) + tuple(transpose(f) for f in reversed(left[:-1]))
    else:
        turns = _turns_kept(a, b)
        if _is_settled(a):
            runs.append(_Run(0, len(left), _facts_of(a).krons, a))
    right = chain_factors(b)
    if len(right) > 1 and right[0].ndim != 2:
        right = (b,)
    elif _is_settled(b):
        runs.append(_Run(len(left), len(left) + len(right), _facts_of(b).krons, b))
    product = _chain(list(left) + list(right), shape, runs, turns)
    return mul(*scalars, product) if scalars else product


def _turned_times(a: Node, b: Node, shape: Shape) -> Node | None:
    """(F v) @ B as the rest of `matmul` builds it, Bᵀ F v, without reading F: None where that needs a look.

    `matmul` turns F v around to vᵀ Fᵀ, appends B and turns the product back (a chain that gives a vector
    ends with its vector), so x @ A @ ... @ A, built one factor at a time, read all its factors twice at
    each step: quadratic time. Where F v turns around settled (`_turns_settled`), B is a matrix or a chain
    of them that does too, and neither junction, F₁ᵀ B₁ nor B₁ᵀ F₁, merges, both turns leave every factor as
    it stands: the product is Bᵀ F v, each factor as it is."""
    if b.ndim != 2 or not _turns_settled(a) or not (_turns_settled(b) if b.op == "matmul" else _turns_alone(b)):
        return None
    right = chain_factors(b)
    first = a.args[0]
    turned_b = [transpose(f) for f in reversed(right)]
    if _merges(transpose(first), right[0]) or _merges(turned_b[-1], first):
        return None
    product = make("matmul", (*turned_b, *a.args), (), shape)
    # turned around it is vᵀ Fᵀ B: the neighbours of vᵀ Fᵀ and of B were looked at as they were built
    product.cached("chain", lambda _: _ChainFacts(settled=True, krons=0, turns=True))
    return product


def _turns_settled(chain: Node) -> bool:
    """Is the chain settled, and turned around (its factors transposed, in reverse order) settled too: each
    factor turned twice itself again, no two neighbours of the turned chain merging, no Kronecker factor?"""
    if chain.op != "matmul" or not _is_settled(chain):
        return False
    known = _facts_of(chain).turns
    return known if known is not None else chain.cached("turns settled", _turned_chain_settles)


def _turned_chain_settles(chain: Node) -> bool:
    turned = [transpose(f) for f in reversed(chain.args)]
    return all(_turns_alone(f) for f in chain.args) and not any(_merges(x, y) for x, y in zip(turned, turned[1:]))


def _turns_alone(f: Node) -> bool:
    """Is f, a factor of a chain, f transposed twice, and neither it nor its transpose an identity, a chain
    or a Kronecker product (what `_chain` looks at beyond neighbours)?"""
    flipped = transpose(f)
    return transpose(flipped) is f and not {f.op, flipped.op} & {"matmul", "eye", "kron"}


def _turns_kept(a: Node, b: Node) -> bool | None:
    """Whether a @ b, where b is a chain ending with a vector, turns around settled, known from what is known
    of a and b (True), or unknown (None): so that M @ (F v) need not be read when it is turned later. Good
    for the product as it stands, factor for factor (nothing merged: `_chain` checks its length)."""
    if b.op != "matmul" or b.args[-1].ndim != 1 or _facts_of(b).turns is not True or a.ndim != 2:
        return None
    if not (_facts_of(a).turns is True if a.op == "matmul" else _turns_alone(a)):
        return None
    last = a.args[-1] if a.op == "matmul" else a
    return None if _merges(transpose(b.args[0]), transpose(last)) else True


def _merges(x: Node, y: Node) -> bool:
    """Does an identity apply to the neighbours x @ y?"""
    return _may_merge(x, y) and _merge_adjacent(x, y) is not None


def _distribute_kron(a: Node, b: Node) -> Node | None:
    """(P ⊗ Q)(A + B) as (P ⊗ Q)A + (P ⊗ Q)B where every product merges (the mixed-product rule,
    (P ⊗ Q)(R ⊗ S) = PR ⊗ QS), so that a vec form reads term by term as the Cookbook writes it."""
    for k, s, k_left in ((a, b, True), (b, a, False)):
        if k.op == "kron" and s.op == "add" and all(t.shape == s.shape for t in s.args):
            products = [matmul(k, t) if k_left else matmul(t, k) for t in s.args]
            # all merged: no product still holds k, nor kᵀ (a vector-first chain is kept transposed)
            if not any(p.op == "matmul" and any(f is k or (f.op == "transpose" and f.args[0] is k) for f in p.args)
                       for p in products):
                return add(*products)
    return None


def subchain(chain: Node, start: int, stop: int) -> Node:
    """chain.args[start:stop] as a product. The factors of a built chain already fit and merge no
    further, so a run of matrices is the node as the constructor would make it, without checks."""
    factors = chain.args[start:stop]
    if len(factors) == 1:
        return factors[0]
    if factors[0].ndim == 2 and factors[-1].ndim == 2:  # a chain's vectors stand at its ends
        part = make("matmul", factors, (), (factors[0].shape[0], factors[-1].shape[1]))
        if _is_settled(chain):  # so is a run of its matrices
            facts = _facts_of(chain)
            # counted on the shorter side: a shared run is most of its chain (a deep Hessian's W7 D6 ⋯ D1)
            krons = facts.krons and (_kron_count(factors) if 2 * (stop - start) <= len(chain.args) else
                                     facts.krons - _kron_count(chain.args[:start]) - _kron_count(chain.args[stop:]))
            part.cached("chain", lambda _: _ChainFacts(settled=True, krons=krons, turns=facts.turns or None))
        return part
    return matmul_chain(factors)


def matmul_chain(factors: Sequence[Node]) -> Node:
    """F1 @ F2 @ ... @ Fk (left to right), through the constructor.

    Plain matrices (no scalar factor, no quotient, no zeros) are joined in one pass, so that long
    chains cost linear, not quadratic, time; anything else goes pairwise through `matmul`."""
    if len(factors) > 2 and all(f.ndim == 2 and f.op not in ("mul", "div", "zeros") for f in factors):
        flat: list[Node] = []
        runs: list[_Run] = []
        for left, right in zip(factors, factors[1:]):
            matmul_shape(left, right)  # the same shape errors as pairwise
        for f in factors:
            if _is_settled(f):
                runs.append(_Run(len(flat), len(flat) + len(f.args), _facts_of(f).krons, f))
            flat.extend(chain_factors(f))
        return _chain(flat, (factors[0].shape[0], factors[-1].shape[1]), runs)
    out = factors[0]
    for f in factors[1:]:
        out = matmul(out, f)
    return out


class _Run(NamedTuple):
    """factors[start:stop] of a product being built: the factors of `chain`, a settled chain, `krons` of
    them Kronecker products."""
    start: int
    stop: int
    krons: int
    chain: Node


def _chain(factors: list[Node], shape: Shape, runs: Sequence[_Run] = (), turns: bool | None = None) -> Node:
    """The product of `factors`, every identity of a chain applied. `runs` (in order) are settled
    chains among them: no two neighbours in one merge, so once one of its factors is on the stack as
    it is, the rest of the run follows unread. A long chain times a factor costs the new factor only.
    `turns`: whether the product turns around settled, where it is the factors as they stand."""
    product, facts = _built_chain(factors, shape, runs)
    if facts is not None:  # kept, so that this chain times a factor need not read it again
        if turns is not None and len(product.args) == len(factors):  # nothing merged, nor dropped
            facts = facts._replace(turns=turns)
        product.cached("chain", lambda _: facts)
    if runs and product.op == "matmul":
        _remember_longest_run(product, runs)
    return product


def _remember_longest_run(product: Node, runs: Sequence[_Run]) -> None:
    """Note on `product` the longest settled chain it holds as it stands (`note_run`), unless it was built
    before and noted then."""
    if "extends" not in product._cache:
        run = max(runs, key=lambda r: r.stop - r.start)
        note_run(product, run.chain, run.start)


def note_run(chain: Node, run: Node, start: int) -> None:
    """Note that `chain` holds the factors of the shorter chain `run` from position `start` on, so that its
    transpose can be built from the run's (`chain_transpose`); and the chain the run holds, in case the run
    was a step of a construction that is gone (D W J built as D @ (W @ J)). Held weakly: a chain built a
    factor at a time would otherwise keep every shorter chain alive. `_chain` notes the runs it reads; a
    caller that splits long chains where they share runs (the printer's bindings, code generation) notes
    them too, and holds the runs while it works."""
    stop = start + len(run.args)
    # strictly shorter: a product that is the run itself (an identity dropped) would note itself
    if run.op == "matmul" and 2 < len(run.args) < len(chain.args) and chain.args[start:stop] == run.args:
        inner = ((reference, start + at) for reference, at in run._cache.get("extends", ())[:1])
        chain._cache["extends"] = ((weakref.ref(run), start), *inner)


def extended_chain(chain: Node) -> tuple[Node, int] | None:
    """(a chain whose factors `chain` holds from position start on, start), where `_chain` noted one that
    is still alive."""
    for reference, start in chain._cache.get("extends", ()):
        run = reference()
        if run is not None:
            return run, start
    return None


def chain_transpose(chain: Node) -> Node:
    """(F₁ ⋯ Fₖ)ᵀ = Fₖᵀ ⋯ F₁ᵀ. Where the chain holds a shorter chain R (`extended_chain`), Rᵀ stands for
    R's factors, a settled run that is not read again: a chain built a factor at a time, as a deep network's
    Jacobians are, is turned around in the time of its new factors, not of all of them."""
    known = extended_chain(chain)
    factors = chain.args
    if known is None:
        return matmul_chain([transpose(f) for f in reversed(factors)])
    run, start = known
    stop = start + len(run.args)
    return matmul_chain([*(transpose(f) for f in reversed(factors[stop:])), transpose(run),
                         *(transpose(f) for f in reversed(factors[:start]))])


def _built_chain(factors: list[Node], shape: Shape, runs: Sequence[_Run]) -> tuple[Node, "_ChainFacts | None"]:
    """(the product, its facts where it is a chain of the factors left on the stack, each neighbour
    looked at as it stands; else None)."""
    stack: list[Node] = []
    krons = 0  # Kronecker factors on the stack
    numbers: list[Node] = []  # scalar factors that merges gave
    looked_at = True  # every neighbour on the stack has been looked at as it stands
    nested = False  # a product stands on the stack as one factor (a merge gave it): flattened below
    # The places s where stack[s - 1] @ stack[s] was not inside one settled run: the only neighbours a rule of
    # the whole chain (Kronecker products distributed, column sums) can apply to, so that a long chain with a
    # Kronecker factor, extended by a factor, is not read again whole.
    seams: list[int] = []
    pending = iter(runs)
    run = next(pending, None)
    i = 0
    while i < len(factors):
        f = factors[i]
        i += 1
        if f.op == "eye" and len(factors) > 1:
            continue
        if stack and _may_merge(stack[-1], f):
            merged = _merge_adjacent(stack[-1], f)
            if merged is not None:
                krons -= stack.pop().op == "kron"
                # merged in turn with the factors below it, so that the chain is the same however its factors
                # were grouped: K (P ⊗ Q) vec(V) = K vec(Q V Pᵀ) = vec(P Vᵀ Qᵀ)
                while merged.op != "eye" and stack and _may_merge(stack[-1], merged):
                    below = _merge_adjacent(stack[-1], merged)
                    if below is None:
                        break
                    krons -= stack.pop().op == "kron"
                    merged = below
                while seams and seams[-1] >= len(stack):
                    seams.pop()
                if merged.op == "mul":  # s * F from a merge, (aᵀ ⊗ P)(b ⊗ Q) = (aᵀb) PQ: the number leads the chain
                    found, merged = split_scalars(merged)
                    numbers.extend(found)
                if merged.op != "eye":
                    seams.append(len(stack))
                    stack.append(merged)
                    krons += merged.op == "kron"
                    nested = nested or merged.op == "matmul"
                continue
        seams.append(len(stack))
        stack.append(f)
        krons += f.op == "kron"
        nested = nested or f.op == "matmul"
        while run is not None and run.stop <= i:
            run = next(pending, None)
        if run is not None and run.start < i:  # f is in a settled run: the rest of it follows
            stack.extend(factors[i:run.stop])
            # the run's Kronecker factors, less those read one by one before f (and f)
            krons += run.krons and run.krons - _kron_count(factors[run.start:i])
            i = run.stop
    if numbers:
        return mul(*numbers, matmul_chain(stack) if stack else eye(shape[0])), None
    if not stack:
        return eye(shape[0]), None
    has_kron = krons > 0
    for i in (s - 1 for s in seams if s >= 1) if has_kron else ():
        distributed = _distribute_kron(stack[i], stack[i + 1])
        if distributed is not None:
            return (matmul_chain([*stack[:i], distributed, *stack[i + 2:]]) if len(stack) > 2 else distributed), None
    if stack[0].ndim == 1 and stack[-1].ndim == 2:
        # x @ B @ C is the vector C.T @ B.T @ x: a chain that gives a vector ends with its vector.
        stack = [transpose(f) for f in reversed(stack)]
        looked_at = False
        # the transposed factors may themselves simplify against each other (vec(X) @ K is K @ vec(X))
        if any(f.op == "matmul" for f in stack):
            return matmul_chain(stack), None
        return _built_chain(stack, shape, ())
    if len(stack) > 2 and stack[0].ndim == 1 and stack[-1].ndim == 1:
        # aᵀ M b = bᵀ Mᵀ a: of the two spellings keep the one with fewer transposes (a @ X @ b)
        flipped = [transpose(f) for f in reversed(stack)]
        if sum(f.op == "transpose" for f in flipped) < sum(f.op == "transpose" for f in stack) \
                and not any(f.op == "matmul" for f in flipped):
            stack = flipped
            seams = list(range(len(stack)))
            looked_at = False
    if len(stack) == 1:
        return stack[0], None
    if len(stack) == 2 and stack[0].ndim == stack[1].ndim == 1 and any(f.op == "ones" for f in stack):
        return sum_(stack[1] if stack[0].op == "ones" else stack[0]), None  # vᵀ 1 is the sum of v
    triples = sorted({i for s in seams for i in (s - 2, s - 1) if 0 <= i <= len(stack) - 3}) if has_kron else ()
    for i in triples:  # each holding a seam
        summed = _column_sums(*stack[i:i + 3])
        if summed is not None:
            return matmul_chain([*stack[:i], summed, *stack[i + 3:]]), None
    if _is_gram_form(stack):  # vᵀ Bᵀ B v = ‖B v‖²
        half = len(stack) // 2
        return power(norm2(matmul_chain(stack[half:])), const(2.0)), None
    if nested:  # a merge gave a product, (A ⊗ I)(Dᵀ ⊗ xᵀ) = A Dᵀ ⊗ xᵀ: its factors
        # join the chain, which is flat however it was grouped (the text reads back as this node)
        return _built_chain([g for f in stack for g in chain_factors(f)], shape, ())
    product = make("matmul", tuple(stack), (), shape)
    return product, (_ChainFacts(settled=True, krons=krons) if looked_at else None)


class _ChainFacts(NamedTuple):
    """What `_chain` needs to know of a chain it extends (kept on the chain node).

    settled: building the chain again from its factors gives the same node, each factor as it is
    (no identity, eye, Kronecker or vector rule applies to them), so a run of it is settled too.
    `_chain` knows it of the chains it builds looking at every neighbour as it stands; any other
    chain (after an identity, transposed, ...) is built again once, when first extended.
    krons: how many of its factors are Kronecker products.
    turns: whether it turns around settled (`_turns_settled`), where known as it was built; else None."""
    settled: bool
    krons: int
    turns: bool | None = None


def _facts_of(chain: Node) -> _ChainFacts:
    return chain.cached("chain", _chain_facts)


def _chain_facts(chain: Node) -> _ChainFacts:
    rebuilt, facts = _built_chain(list(chain.args), chain.shape, ())
    return facts if rebuilt is chain and facts is not None else _ChainFacts(settled=False, krons=_kron_count(chain.args))


def _is_settled(node: Node) -> bool:
    return node.op == "matmul" and _facts_of(node).settled


def _kron_count(factors: Sequence[Node]) -> int:
    return list(map(_op_of, factors)).count("kron")


def _may_merge(x: Node, y: Node) -> bool:
    """A quick test before `_merge_adjacent`'s full look: does x or y have identities with neighbours?"""
    return x.op in _MERGING or y.op in _MERGING or x.op == y.op == "diag"


def _column_sums(p: Node, d: Node, q: Node) -> Node | None:
    """(I ⊗ 1ᵀ) diag(vec M) (I ⊗ 1ᵀ)ᵀ = diag(sum(M, axis=0)) and (1ᵀ ⊗ I) diag(vec M) (1ᵀ ⊗ I)ᵀ =
    diag(sum(M, axis=1)): summing a broadcast vector's copies back (vectors in kron are rows)."""
    if p.op != "kron" or d.op != "diag" or d.args[0].op != "vec" or q is not transpose(p):
        return None
    m = d.args[0].args[0]
    if m.ndim != 2:
        return None
    left, right = p.args
    if left.op == "eye" and right.op == "ones" and right.ndim == 1 and m.shape == (right.shape[0], left.shape[0]):
        return diag(sum_(m, axis=0))
    if left.op == "ones" and left.ndim == 1 and right.op == "eye" and m.shape == (right.shape[0], left.shape[0]):
        return diag(sum_(m, axis=1))
    return None


def _is_gram_form(chain: list[Node]) -> bool:
    """v @ F1 @ ... @ Fk @ Fkᵀ @ ... @ F1ᵀ @ v: a vector, matrices mirrored by transposition, the vector."""
    k = len(chain)
    if k < 4 or k % 2 or chain[0] is not chain[-1] or chain[0].ndim != 1:
        return False
    return all(chain[-1 - i] is transpose(chain[i]) for i in range(1, k // 2))


# the operations `_merge_adjacent` has identities for (a quick test before the full look)
_MERGING = {"inv", "transpose", "commutation", "kron", "vec", "outer"}

# Identities of a product of two matrices that belong to an operation declared elsewhere (pinv, cholesky,
# matrix_power): its module declares them with `chain_identity`, and `_merge_pair` tries them last.
_PAIR_IDENTITIES: list[Callable[[Node, Node], Node | None]] = []


def chain_identity(operations: Sequence[str], rule: Callable[[Node, Node], Node | None]) -> None:
    """Declare `rule(x, y)`: x @ y as one factor (a node that is not itself a chain), or None where no
    identity applies; `operations` names the operations whose nodes the rule looks at."""
    _MERGING.update(operations)
    _PAIR_IDENTITIES.append(rule)


def _merge_adjacent(x: Node, y: Node) -> Node | None:
    """x @ y as one factor when an identity applies to x @ y, or to yᵀ @ xᵀ (then transposed back):
    a printed spelling may show the transposed pair, and reading it back must give the same node."""
    merged = _merge_pair(x, y)
    if merged is None and x.ndim == 2 and y.ndim == 2 and (_flips_to_kron(x) or _flips_to_kron(y)):
        flipped = _merge_pair(transpose(y), transpose(x))
        if flipped is not None:
            return transpose(flipped)
    return merged


def _flips_to_kron(x: Node) -> bool:
    """Is xᵀ a Kronecker product or a commutation matrix (the one-sided identities of `_merge_pair`)?"""
    return x.op == "commutation" or (x.op == "transpose" and x.args[0].op == "kron")


def _merge_pair(x: Node, y: Node) -> Node | None:
    """x @ y as one factor when an identity applies (inverse pairs, Kronecker products), else None."""
    if x.op == "kron" and y.op == "vec" and all(a.ndim == 2 for a in x.args):
        p, q = x.args  # (P ⊗ Q) vec(V) = vec(Q V Pᵀ), for V of Q's columns × P's columns
        if y.args[0].shape == (q.shape[1], p.shape[1]):
            return vec(matmul_chain([q, y.args[0], transpose(p)]))
    if x.op == "outer" and x.args[1].op == "vec" and y.op == "kron" and all(a.ndim == 2 for a in y.args):
        p, q = y.args  # a vec(V)ᵀ (P ⊗ Q) = a vec(Qᵀ V P)ᵀ, for V of Q's rows × P's rows
        if x.args[1].args[0].shape == (q.shape[0], p.shape[0]):
            return outer(x.args[0], vec(matmul_chain([transpose(q), x.args[1].args[0], p])))
    if x.op == "commutation" and y.op == "vec" and y.args[0].shape == x.params:
        return vec(transpose(y.args[0]))  # K(m, n) vec(V) = vec(Vᵀ) for V m×n
    if x.op == "outer" and x.args[1].op == "vec" and y.op == "commutation" \
            and x.args[1].args[0].shape == tuple(reversed(y.params)):
        return outer(x.args[0], vec(transpose(x.args[1].args[0])))  # a vec(V)ᵀ K(m, n) = a vec(Vᵀ)ᵀ, V n×m
    if x.ndim != 2 or y.ndim != 2:
        return None
    if (y.op == "inv" and y.args[0] is x) or (x.op == "inv" and x.args[0] is y):
        return eye(x.shape[0])
    if x.op == "transpose" and y.op == "transpose":
        p, q = x.args[0], y.args[0]
        if (q.op == "inv" and q.args[0] is p) or (p.op == "inv" and p.args[0] is q):
            return eye(x.shape[0])
    if x.op == "kron" and y.op == "commutation" and _vector_and_identity(x):
        a, b = x.args  # (aᵀ ⊗ I_m) K(n, m) = I_m ⊗ aᵀ and (I_m ⊗ aᵀ) K(m, n) = aᵀ ⊗ I_m, a of length n
        if a.ndim == 1 and y.params == (a.shape[0], b.shape[0]):
            return kron(b, a)
        if b.ndim == 1 and y.params == (a.shape[0], b.shape[0]):
            return kron(b, a)
    if x.op == "diag" and y.op == "diag" and x.args[0].ndim == 1 and y.args[0].ndim == 1:
        return diag(mul(x.args[0], y.args[0]))  # diag(u) diag(v) = diag(u ⊙ v)
    if y.op == "kron" and x.op != "kron" and _vector_and_identity(y):
        a, b = y.args  # M (aᵀ ⊗ I) = aᵀ ⊗ M and M (I ⊗ aᵀ) = M ⊗ aᵀ, vectors as rows
        return kron(a, x) if a.ndim == 1 else kron(x, b)
    if x.op == "commutation" and y.op == "commutation" and x.params == tuple(reversed(y.params)):
        return eye(x.shape[0])
    if x.op == "kron" and y.op == "transpose" and y.args[0].op == "kron":
        found = _kron_times_transposed(x.args, y.args[0].args)
        if found is not None:
            return found
    if x.op == "kron" and y.op == "kron":
        (a, b), (c, d) = x.args, y.args  # (A ⊗ B)(C ⊗ D) = AC ⊗ BD; a vector A or B is a row
        if c.ndim == d.ndim == 2 and a.shape[-1] == c.shape[0] and b.shape[-1] == d.shape[0]:
            return kron(matmul(a, c), matmul(b, d))
    for rule in _PAIR_IDENTITIES:
        merged = rule(x, y)
        if merged is not None:
            return merged
    return None


def _kron_times_transposed(left: tuple[Node, Node], right: tuple[Node, Node]) -> Node | None:
    """(A ⊗ B)(C ⊗ D)ᵀ = ACᵀ ⊗ BDᵀ with vectors as rows: a row times a transposed row is a number,
    and a row next to a column makes an outer product, (a ⊗ I)(b ⊗ I)ᵀ = (a·b) I, (a ⊗ I)(I ⊗ b)ᵀ = b aᵀ."""
    parts = []
    for p, q in zip(left, right):
        if p.shape[-1] != q.shape[-1]:
            return None
        if p.ndim == 1 and q.ndim == 1:
            parts.append(("number", matmul(p, q)))
        elif p.ndim == 1:
            parts.append(("row", matmul(q, p)))
        elif q.ndim == 1:
            parts.append(("column", matmul(p, q)))
        else:
            parts.append(("matrix", matmul(p, transpose(q))))
    (k1, v1), (k2, v2) = parts
    if {k1, k2} == {"row", "column"}:
        return outer(v1, v2) if k1 == "column" else outer(v2, v1)
    if "number" in (k1, k2) and "matrix" in (k1, k2):
        return mul(v1, v2)
    if k1 in ("matrix", "row") and k2 in ("matrix", "row") and "matrix" in (k1, k2):
        return kron(v1, v2)
    return None


def _vector_and_identity(k: Node) -> bool:
    """kron(a, I) or kron(I, a) for a vector a (a row, as NumPy's kron takes it)."""
    a, b = k.args
    return (a.ndim == 1 and b.op == "eye") or (a.op == "eye" and b.ndim == 1)


def _eval_matmul(node, args, sizes):
    out = args[0]
    for a in args[1:]:
        out = out @ a
    return out


def grad_left(a: Node, b: Node, g: Node) -> Node:
    """Cotangent of A in C = A @ B (NumPy's 1-D rules included)."""
    if a.ndim == 2:
        return matmul(g, transpose(b)) if b.ndim == 2 else outer(g, b)
    return matmul(b, g) if b.ndim == 2 else mul(g, b)


def grad_right(a: Node, b: Node, g: Node) -> Node:
    """Cotangent of B in C = A @ B."""
    if b.ndim == 2:
        return matmul(transpose(a), g) if a.ndim == 2 else outer(a, g)
    return matmul(transpose(a), g) if a.ndim == 2 else mul(g, a)


def _pull_matmul(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    factors = node.args
    k = len(factors)
    # the products F_0..F_{i-1} and F_i..F_{k-1}, built once each (linear, not quadratic, in k)
    prefixes: list[Node | None] = [None] * (k + 1)
    suffixes: list[Node | None] = [None] * (k + 1)
    for i in range(1, k + 1):
        prefixes[i] = factors[0] if i == 1 else matmul(prefixes[i - 1], factors[i - 1])
    for i in range(k - 1, -1, -1):
        suffixes[i] = factors[i] if i == k - 1 else matmul(factors[i], suffixes[i + 1])
    out = []
    for i, f in enumerate(factors):
        if not needed(f):
            continue
        cot = g
        if i > 0:  # C = L @ M with M = F_i @ R
            cot = grad_right(prefixes[i], suffixes[i], cot)
        if i < k - 1:  # M = F_i @ R
            cot = grad_left(f, suffixes[i + 1], cot)
        out.append((f, cot))
    return out


def _d_matmul(node: Node, d) -> Node:
    factors = node.args
    terms = []
    for i, di in enumerate(d):
        if di is not None:
            terms.append(matmul_chain(list(factors[:i]) + [di] + list(factors[i + 1:])))
    return add(*terms)


def _vec_matmul(node: Node, jacobians) -> Node:
    """J of L @ F_i @ R from the J of F_i: vec(A M B) = (Bᵀ ⊗ A) vec(M), with the 1-D cases."""
    i = _single(node, jacobians)
    jac = jacobians[i]
    factors = node.args
    f = factors[i]
    left = matmul_chain(factors[:i]) if i > 0 else None
    right = matmul_chain(factors[i + 1:]) if i < len(factors) - 1 else None
    if f.ndim == 1:  # a vector factor stands at an end: A @ f, a @ f, f @ B or f @ b
        if left is not None:
            return matmul(left, jac)
        return matmul(transpose(right), jac) if right.ndim == 2 else matmul(right, jac)
    p, q = f.shape
    if left is None:
        lhs = eye(p)
    else:
        lhs = left  # a 1-D left factor a gives kron(., a) = (. ⊗ aᵀ), as NumPy's kron of 1-D by 2-D
    if right is None:
        rhs = eye(q)
    else:
        rhs = transpose(right) if right.ndim == 2 else right
    return matmul(kron(rhs, lhs), jac)


def _matmul_words(node: Node, slot: int, fused: bool) -> list:
    left, right = node.args[:slot], node.args[slot + 1:]
    if not left:
        return ["right multiplication by ", matmul_chain(right)]
    if not right:
        return ["left multiplication by ", matmul_chain(left)]
    return ["multiplication by ", matmul_chain(left), " on the left and ", matmul_chain(right), " on the right"]


def _index_matmul(ix, node: Node, idx: tuple):
    """(A B C)[i,j] = Σ_{s,t} A[i,s] B[s,t] C[t,j]; a vector at an end has no free index there (NumPy's
    1-D rules)."""
    factors = node.args
    rest = list(idx)
    fresh = [ix.fresh(f.shape[-1]) for f in factors[:-1]]
    parts = []
    for t, f in enumerate(factors):
        entries = []
        if t == 0:
            if f.ndim == 2:
                entries.append(rest.pop(0))
        else:
            entries.append(fresh[t - 1])
        if t < len(factors) - 1:
            entries.append(fresh[t])
        elif f.ndim == 2:
            entries.append(rest.pop(0))
        parts.append(ix.indexed(f, tuple(entries)))
    return ix.summing(ix.product(*parts), fresh)


register(Op("matmul", _eval_matmul, text="@", unicode=" ", latex=" ",
            names=Absent("an operator of the language: a @ b"), index=_index_matmul,
            pullback=_pull_matmul, differential=_d_matmul, vec_jacobian=_vec_matmul,
            words=Words(_matmul_words, names_operands=True),
            identity=Absent("a product moves across a Frobenius product by the identities of products, "
                            "A : BC = BᵀA : C = ACᵀ : B, the differential route's own"),
            vec_identity=SpelledIdentity("vec(AXB) = (Bᵀ ⊗ A) vec X", "vec(A @ X @ B) = kron(B.T, A) @ vec(X)",
                                         r"\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}X"),
            # a chain is planned by code generation's structured products: diag, kron, commutation, outer
            # and inverse factors are applied to their neighbours, never formed where avoidable
            code=Code(lower=lambda low, node: low.product(node), reuse_transpose=True)))

# Late imports: the operations the rules above build (their modules import this one).
from .leaves import const, eye, is_zero, zeros  # noqa: E402
from .broadcasting import _describe, _single, shape_mismatch  # noqa: E402
from .sums import add  # noqa: E402
from .products import div, mul, power, split_divisor, split_scalars  # noqa: E402
from .transposition import transpose  # noqa: E402
from ..structure import diag, kron, norm2, outer, sum_, vec  # noqa: E402
from ..tensors import batched_matmul  # noqa: E402
