"""Arrays of any order: `einsum`, and the builders that read NumPy's batched `@` and `tensordot` as
einsums (the permutations of axes and reshape are in `axes.py`).

`einsum(subscripts, *operands)` is the contraction every multilinear operation on arrays of order ≥ 3
is: explicit output subscripts only (`'ijk,jr,kr->ir'`), checked against a strict grammar (letters,
commas, one `->`) before anything else, since it is the first user text that reaches generated code.
Its constructor keeps answers short: a nested einsum is merged into the one that uses it, a permuted or
transposed operand becomes renamed subscripts, an identity contracted on an index becomes an index
rename (δ elimination), scalars come out as a factor, a `ones` on a contracted index becomes a count,
two operands with the same indices become their elementwise product,
and the letters are renamed i, j, k, ... (the result's first, then the summed ones in order of
appearance), so that one contraction is one node. What is a plain matrix operation (A @ B, Aᵀ,
outer(a, b), tr(A), a sum) becomes that operation, so the matrix engine simplifies it further; a
single-operand permutation becomes a permutation node. Terms that contract the same operands but one,
which differ only by a permutation of its axes, are one contraction of their sum.

The calculus of einsum is einsum again: the pullback to an operand contracts the cotangent with the
other operands onto that operand's subscripts (a repeated subscript, a diagonal, gets an identity; one
summed over that operand alone gets a `ones`); the differential is the sum over operands; the index
rule is the contraction itself. A stack of matrix products prints with `@` (`as_batched_matmul`), and
holds each factor as `@` writes it, so that the text reads back as the same node.
"""
from __future__ import annotations

import re
import string


from ..dims import format_shape
from ..errors import ShapeError
from ..expr import Node, make
from .registry import BUILDERS, INDEX_ROUTE, Absent, Call, Code, Literal, Op, SpelledIdentity, Words, register
from . import algebra as A
from .algebra.broadcasting import _describe
from .algebra.sums import sum_identity
from .axes import PERMUTATIONS, _axis, _shape_words, permutation_of, permute

LETTERS = string.ascii_lowercase + string.ascii_uppercase
# letters, commas, one explicit `->`: nothing else reaches a node, a message, a docstring or generated code
_GRAMMAR = re.compile(r"[A-Za-z]*(,[A-Za-z]*)*->[A-Za-z]*\Z")


# ---- subscripts -----------------------------------------------------------------------------------


def parse_subscripts(spec: object, count: int | None = None) -> tuple[list[str], str]:
    """(input subscripts, output subscripts) of an einsum specification, after the strict grammar."""
    if not isinstance(spec, str):
        raise ShapeError(f"einsum needs its subscripts as a string such as 'ij,jk->ik', got {type(spec).__name__}")
    if len(spec) > 200 or not _GRAMMAR.match(spec.replace(" ", "")):
        shown = spec if len(spec) <= 40 and spec.isprintable() and "'" not in spec else "the subscripts"
        raise ShapeError(f"einsum subscripts {shown!s} are not of the form 'ij,jk->ik': letters for the axes of "
                         "each operand, separated by commas, then '->' and the letters of the result (written out: "
                         "the implicit form and '...' are not part of the language)")
    inputs, output = spec.replace(" ", "").split("->")
    operands = inputs.split(",")
    if count is not None and len(operands) != count:
        raise ShapeError(f"einsum('{spec}', ...): the subscripts name {len(operands)} operand"
                         f"{'s' if len(operands) != 1 else ''} but {count} {'are' if count != 1 else 'is'} given")
    repeated = sorted({c for c in output if output.count(c) > 1})
    if repeated:
        raise ShapeError(f"einsum('{spec}', ...): the output subscript {repeated[0]} is repeated (an index of the "
                         "result appears once)")
    missing = [c for c in output if c not in inputs]
    if missing:
        raise ShapeError(f"einsum('{spec}', ...): the output subscript {missing[0]} is no operand's")
    return operands, output


def _dims_of(spec: str, subscripts: list[str], operands) -> dict[str, object]:
    """Each subscript's dimension; an error names the subscript, the operands and their shapes."""
    dims: dict[str, object] = {}
    owner: dict[str, int] = {}
    for k, (letters, x) in enumerate(zip(subscripts, operands)):
        if len(letters) != x.ndim:
            raise ShapeError(f"einsum('{spec}', ...): operand {k + 1}, {_describe(x)}, is "
                             f"{_shape_words(x)}, but its subscripts '{letters}' name {len(letters)} "
                             f"ax{'es' if len(letters) != 1 else 'is'}", (x,), culprit=x)
        for c, d in zip(letters, x.shape):
            if c in dims and dims[c] != d:
                other = operands[owner[c]]
                raise ShapeError(f"einsum('{spec}', ...): the subscript {c} is {dims[c]} in {_describe(other)} "
                                 f"({format_shape(other.shape)}) but {d} in {_describe(x)} ({format_shape(x.shape)})",
                                 (other, x), culprit=x)
            dims[c] = d
            owner.setdefault(c, k)
    return dims


# ---- einsum ----------------------------------------------------------------------------------------


def einsum(spec: str, *operands: Node) -> Node:
    """np.einsum(spec, *operands) with explicit output subscripts, simplified (see the module docstring)."""
    subscripts, output = parse_subscripts(spec, len(operands))
    dims = _dims_of(spec, subscripts, operands)
    return contraction([list(s) for s in subscripts], list(output), list(operands), dims)


class _Fresh:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> tuple:
        self.count += 1
        return ("fresh", self.count)


def contraction(inputs: list[list], output: list, operands: list[Node], dims: dict) -> Node:
    """The einsum of `operands` indexed by `inputs` (lists of any hashable labels) onto `output`."""
    fresh = _Fresh()
    inputs, operands, dims = [list(s) for s in inputs], list(operands), dict(dims)
    scalars: list[Node] = []
    changed = True
    while changed:
        changed = False
        for k, x in enumerate(operands):
            labels = inputs[k]
            if not x.shape:  # a scalar is a factor, in the order written: a scalar einsum merged in would come out
                scalars.append(x)  # after the other factors (e * s * x @ R would read back as s * e * x @ R)
                del inputs[k], operands[k]
                changed = True
                break
            replacement = _absorbed(x, labels, fresh, dims)
            if replacement is not None:
                new_inputs, new_operands = replacement
                inputs[k:k + 1] = new_inputs
                operands[k:k + 1] = new_operands
                changed = True
                break
            if x.op == "eye":
                a, b = labels
                others = [c for j, s in enumerate(inputs) if j != k for c in s]
                if a == b:
                    continue
                keep, drop = (a, b) if b not in output else (b, a) if a not in output else (None, None)
                if keep is None:
                    continue
                del inputs[k], operands[k]
                inputs = [[keep if c == drop else c for c in s] for s in inputs]
                if drop not in others and keep not in others and keep not in output:
                    scalars.append(A.dim(dims[keep]))  # Σ_a δ[a,a] = n
                changed = True
                break
            paired = _matrix_partner(k, inputs, output, operands)
            if paired is not None:  # Σ_m B[m,j] B[m,l] = (BᵀB)[j,l]: two matrices meeting on an index of their own
                j, product, product_labels = paired
                operands[k], inputs[k] = product, product_labels
                del inputs[j], operands[j]
                changed = True
                break
            twin = next((j for j in range(k + 1, len(operands)) if inputs[j] == labels and
                         operands[j].shape == x.shape), None)
            if twin is not None and len(set(labels)) == len(labels):  # the same indices: one elementwise product
                operands[k] = A.mul(x, operands[twin])
                del inputs[twin], operands[twin]
                changed = True
                break
            if x.op == "ones":
                elsewhere = {c for j, s in enumerate(inputs) if j != k for c in s}
                if len(set(labels)) == len(labels) and all(c in elsewhere or c not in output for c in labels):
                    counted = [c for c in labels if c not in elsewhere]  # Σ_a 1 = n
                    scalars.extend(A.dim(dims[c]) for c in counted)
                    del inputs[k], operands[k]
                    changed = True
                    break
    inputs, operands, factors = _scalar_components(inputs, output, operands, dims)
    scalars.extend(factors)
    if not operands:
        shape = tuple(dims[c] for c in output)
        one = A.ones(shape)
        return A.mul(*scalars, one) if scalars else one
    body = _canonical(inputs, output, operands, dims)
    return A.mul(*scalars, body) if scalars else body


def _scalar_components(inputs: list[list], output: list, operands: list[Node], dims: dict):
    """(inputs, operands, scalar factors): a group of operands sharing no index with the others and none
    with the result is a number of its own, Σ_ij M[i,i] N[j,j] = tr(M) tr(N), taken out as a factor."""
    if len(operands) < 2:
        return inputs, operands, []
    group = list(range(len(operands)))  # union-find over the operands, joined by shared indices

    def root(k: int) -> int:
        while group[k] != k:
            group[k] = group[group[k]]
            k = group[k]
        return k

    owner: dict = {}
    for k, labels in enumerate(inputs):
        for c in labels:
            if c in owner:
                group[root(k)] = root(owner[c])
            else:
                owner[c] = k
    members: dict[int, list[int]] = {}
    for k in range(len(operands)):
        members.setdefault(root(k), []).append(k)
    if len(members) == 1:
        return inputs, operands, []
    scalars, kept = [], []
    for ks in members.values():
        if any(c in output for k in ks for c in inputs[k]):
            kept.extend(ks)
        else:
            scalars.append(contraction([inputs[k] for k in ks], [], [operands[k] for k in ks], dims))
    kept.sort()
    return [inputs[k] for k in kept], [operands[k] for k in kept], scalars


def _matrix_partner(k: int, inputs: list[list], output: list, operands: list[Node]):
    """(j, the matrix product, its labels) where operands k and j are matrices sharing exactly one index
    that no other operand and not the result carries, and nothing else: their product is a matrix of the
    two remaining indices (Gram matrices BᵀB of the CP normal equations); else None."""
    x, labels = operands[k], inputs[k]
    if x.ndim != 2 or len(operands) < 3 or len(set(labels)) != 2:
        return None
    for j in range(k + 1, len(operands)):
        y, other = operands[j], inputs[j]
        if y.ndim != 2 or len(set(other)) != 2:
            continue
        shared = set(labels) & set(other)
        if len(shared) != 1:
            continue
        (c,) = shared
        if c in output or any(c in s for t, s in enumerate(inputs) if t not in (k, j)):
            continue
        left = x if labels[1] == c else transpose(x)
        right = y if other[0] == c else transpose(y)
        return j, A.matmul(left, right), [labels[0] if labels[1] == c else labels[1],
                                           other[1] if other[0] == c else other[0]]
    return None


def _absorbed(x: Node, labels: list, fresh: _Fresh, dims: dict):
    """The operands and subscripts that stand for operand x indexed by `labels`, where x dissolves into
    the contraction (a nested einsum, a permutation, a transpose, a product with a scalar); else None."""
    if x.op == "einsum":
        inner_inputs, inner_output = parse_subscripts(x.params[0])
        rename = dict(zip(inner_output, labels))
        for letters, arg in zip(inner_inputs, x.args):
            for c, d in zip(letters, arg.shape):
                if c not in rename:
                    rename[c] = fresh()
                dims[rename[c]] = d
        return [[rename[c] for c in letters] for letters in inner_inputs], list(x.args)
    if x.op in PERMUTATIONS:
        axes = permutation_of(x)
        inner = [None] * len(axes)
        for a, source in enumerate(axes):
            inner[source] = labels[a]
        return [inner], [x.args[0]]
    if x.op == "transpose":
        return [list(reversed(labels))], [x.args[0]]
    if x.op == "mul" and x.shape:
        scalars, array = A.split_scalars(x)
        if scalars and array is not x:
            return [[] for _ in scalars] + [labels], scalars + [array]
    if x.op == "div" and x.shape and not x.args[1].shape:
        return [labels, []], [x.args[0], A.div(A.ONE, x.args[1])]
    if x.op == "zeros":
        return None
    return None


def _canonical(inputs: list[list], output: list, operands: list[Node], dims: dict) -> Node:
    """The node of a simplified contraction: a matrix operation where it is one, else an einsum whose
    letters are i, j, k, ... in order of appearance."""
    if any(x.op == "zeros" for x in operands):
        return A.zeros(tuple(dims[c] for c in output))
    # A symmetric matrix reads the same either way round, C[k,l] = C[l,k]: of the orientations, the contraction
    # written with the fewest permuted operands, then the first subscripts, so that G @ (B @ B.T) and its
    # transposed spelling are one node
    built = min((_oriented(variant, output, operands, dims) for variant in _orientations(inputs, operands)),
                key=_written_key)
    return _as_written(built) if len(operands) == 2 and built.op == "einsum" else built


def _oriented(inputs: list[list], output: list, operands: list[Node], dims: dict) -> Node:
    if len(operands) == 2:  # a stack of products is kept in the order it is written in with fewer permutations
        built = _lettered(inputs, output, operands, dims)
        if built.op == "einsum":
            swapped = _lettered(inputs[::-1], output, operands[::-1], dims)
            if _permutations_written(swapped) < _permutations_written(built):
                built = swapped
        return built
    return _lettered(inputs, output, operands, dims)


def _orientations(inputs: list[list], operands: list[Node]):
    """The subscripts as given, and with each symmetric matrix operand's two indices swapped (up to three
    such operands: eight variants)."""
    turnable = [i for i, (labels, x) in enumerate(zip(inputs, operands))
                if len(labels) == 2 and labels[0] != labels[1] and A.is_symmetric(x)][:3]
    for mask in range(2 ** len(turnable)):
        yield [labels[::-1] if i in turnable and mask >> turnable.index(i) & 1 else labels
               for i, labels in enumerate(inputs)]


def _written_key(node: Node) -> tuple:
    """Which of equal contractions to keep: a matrix operation, else fewer permuted operands, first subscripts."""
    if node.op != "einsum":
        return (0, 0.0, "")
    return (1, _permutations_written(node), node.params[0])


def _as_written(node: Node) -> Node:
    """A stack of products holds each factor as `@` writes it, so that its text reads back as this node:
    where the transpose of an operand is no transpose node but the transpose pushed inside it
    (einsum('ijl,kl->ijk', T, C + D) is written T @ (C.T + D.T)), the product of the factors written."""
    product = as_batched_matmul(node)
    if product is None or all(_permutes(f, x) for f, x in zip(product, node.args)):
        return node
    return batched_matmul(*product)  # each factor its own operand now: built once more, it stays


def _permutes(factor: Node, operand: Node) -> bool:
    """The factor is the operand or a permutation node of it, which the contraction takes apart again."""
    return factor is operand or (factor.op in PERMUTATIONS or factor.op == "transpose") and factor.args[0] is operand


def _permutations_written(node: Node) -> float:
    """How many permuted operands the node is written with as a stack of products (inf: not one)."""
    product = as_batched_matmul(node)
    if product is None:
        return float("inf")
    return sum(f.op in PERMUTATIONS or f.op == "transpose" for f in product)


def _lettered(inputs: list[list], output: list, operands: list[Node], dims: dict) -> Node:
    letters: dict = {}
    for labels in [output] + inputs:  # the result's indices first, i j k …, then the summed ones
        for c in labels:
            if c not in letters:
                letters[c] = LETTERS[_ORDER[len(letters)]] if len(letters) < len(_ORDER) else None
    if None in letters.values():
        raise ShapeError(f"an einsum of {len(letters)} distinct indices: more than the {len(LETTERS)} letters "
                         "subscripts can name")
    spelled = [[letters[c] for c in labels] for labels in inputs]
    out = [letters[c] for c in output]
    simpler = _as_matrix_operation(spelled, out, operands)
    if simpler is not None:
        return simpler
    spec = ",".join("".join(s) for s in spelled) + "->" + "".join(out)
    shape = tuple(dims[c] for c in output)
    return make("einsum", tuple(operands), (spec,), shape)


# i, j, k, l, m, ... then the rest of the alphabet, then capitals: as a textbook indexes
_ORDER = [LETTERS.index(c) for c in "ijklmnopqrstuvwxyzabcdefgh"] + list(range(26, 52))


def _as_matrix_operation(inputs: list[list[str]], output: list[str], operands: list[Node]) -> Node | None:
    """The contraction as the matrix operation it is, where it is one: a permutation of one operand, a
    sum over axes, A @ B (with transposes), outer(a, b), tr(A), an elementwise product."""
    counts: dict[str, int] = {}
    for labels in inputs:
        for c in labels:
            counts[c] = counts.get(c, 0) + 1
    if len(operands) == 1:
        (labels,), (x,) = inputs, operands
        if len(set(labels)) == len(labels):
            if sorted(output) == sorted(labels):
                return permute(x, tuple(labels.index(c) for c in output))
            summed = tuple(a for a, c in enumerate(labels) if c not in output)
            kept = [c for c in labels if c in output]
            reduced = sum_(x, summed if len(summed) > 1 else summed[0]) if len(summed) < x.ndim else sum_(x)
            return permute(reduced, tuple(kept.index(c) for c in output))
        if x.ndim == 2 and labels[0] == labels[1] and not output:
            return tr(x)
        if x.ndim == 2 and labels[0] == labels[1] and output == labels[:1]:
            return diag(x)
        return None
    if len(operands) != 2 or any(len(set(s)) != len(s) for s in inputs) or len(output) > 2:
        return None
    (a, b), (x, y) = inputs, operands
    if x.ndim > 2 or y.ndim > 2:
        return None
    shared = [c for c in a if c in b]
    contracted = [c for c in shared if c not in output]
    if not shared and x.ndim == y.ndim == 1 and output == a + b:
        return outer(x, y)
    if len(contracted) == 1 and len(shared) == 1:
        (c,) = contracted
        left = [d for d in a if d != c]
        right = [d for d in b if d != c]
        if output != left + right:
            if output == right + left and len(output) == 2:  # (A B)ᵀ = Bᵀ Aᵀ: the product taken in that order
                return _as_matrix_operation([b, a], right + left, [y, x])
            return None
        x_ = x if x.ndim == 1 or a[-1] == c else transpose(x)
        y_ = y if y.ndim == 1 or b[0] == c else transpose(y)
        return A.matmul(x_, y_)
    if not contracted and sorted(a) == sorted(b) == sorted(output) and x.ndim == 2:
        x_ = x if a == output else transpose(x)
        y_ = y if b == output else transpose(y)
        return A.mul(x_, y_)
    if not contracted and x.ndim == y.ndim == 1 and a == b == output:
        return A.mul(x, y)
    if sorted(a) == sorted(b) and not output:  # Σ x ⊙ y
        return sum_(A.mul(x, y if a == b else transpose(y)))
    return None


def _collected(terms: list[Node]) -> list[Node] | None:
    """Terms that contract the same operands but one, which differ only up to a permutation of its axes,
    as one contraction of their sum: x @ swapaxes(T, 1, 2) + x @ T = x @ (swapaxes(T, 1, 2) + T) (the
    common factor pulled out, as the Hessian of a cubic form is written)."""
    groups: dict = {}
    for position, term in enumerate(terms):
        c, body = A.split_coefficient(term)
        if body.op != "einsum":
            continue
        inputs, output = parse_subscripts(body.params[0])
        for k, (letters, x) in enumerate(zip(inputs, body.args)):
            if len(set(letters)) != len(letters):
                continue
            ordered = "".join(sorted(letters))
            spec = ",".join(ordered if j == k else s for j, s in enumerate(inputs)) + "->" + output
            others = body.args[:k] + body.args[k + 1:]
            axes = tuple(letters.index(ch) for ch in ordered)
            groups.setdefault((spec, k, others), []).append((position, c, permute(x, axes)))
    for (spec, k, others), members in groups.items():
        if len(members) < 2:
            continue
        hole = A.add(*(A.scale(c, part) for _, c, part in members))
        operands = list(others[:k]) + [hole] + list(others[k:])
        used = {position for position, _, _ in members}
        return [t for position, t in enumerate(terms) if position not in used] + [einsum(spec, *operands)]
    return None


sum_identity(_collected)


def _evaluate(node: Node, args: list, sizes: dict):
    from opt_einsum import contract
    return contract(node.params[0], *args)


def _pullback_einsum(node: Node, g: Node, needed) -> list[tuple[Node, Node]]:
    inputs, output = parse_subscripts(node.params[0])
    dims = {c: d for letters, x in zip(inputs, node.args) for c, d in zip(letters, x.shape)}
    out = []
    for k, x in enumerate(node.args):
        if not needed(x):
            continue
        out.append((x, _cotangent_of(k, inputs, output, node.args, g, dims)))
    return out


def _cotangent_of(k: int, inputs: list[str], output: str, operands, g: Node, dims: dict) -> Node:
    """∂ sum(g ⊙ einsum(...)) / ∂ operand k: g contracted with the other operands onto operand k's
    subscripts; a subscript repeated in operand k (a diagonal) gets an identity, one that operand k alone
    carries gets a ones."""
    target = list(inputs[k])
    labels: list[list] = [list(output)]
    args: list[Node] = [g]
    for j, (letters, x) in enumerate(zip(inputs, operands)):
        if j != k:
            labels.append(list(letters))
            args.append(x)
    result: list = []
    for position, c in enumerate(target):
        if c in result:  # a diagonal: the cotangent lives on it, δ[c, c']
            copy = ("copy", position)
            dims[copy] = dims[c]
            labels.append([c, copy])
            args.append(A.eye(dims[c]))
            result.append(copy)
        else:
            result.append(c)
    present = {c for s in labels for c in s}
    for c in result:
        if c not in present:
            labels.append([c])
            args.append(A.ones((dims[c],)))
            present.add(c)
    return contraction(labels, result, args, dims)


def _differential_einsum(node: Node, d) -> Node:
    inputs, output = parse_subscripts(node.params[0])
    dims = {c: dd for letters, x in zip(inputs, node.args) for c, dd in zip(letters, x.shape)}
    terms = []
    for k, dk in enumerate(d):
        if dk is None:
            continue
        operands = list(node.args)
        operands[k] = dk
        terms.append(contraction([list(s) for s in inputs], list(output), operands, dims))
    return A.add(*terms)


def _index_einsum(ix, node: Node, idx: tuple):
    """einsum(...)[idx] = Σ over the contracted subscripts of the product of the operands' entries."""
    inputs, output = parse_subscripts(node.params[0])
    entries = dict(zip(output, idx))
    summed = []
    for letters, x in zip(inputs, node.args):
        for c, d in zip(letters, x.shape):
            if c not in entries:
                entries[c] = ix.fresh(d)
                summed.append(entries[c])
    parts = [ix.indexed(x, tuple(entries[c] for c in letters)) for letters, x in zip(inputs, node.args)]
    return ix.summing(ix.product(*parts), summed)


def _lower_einsum(low, node: Node):
    """The backend's einsum on the subscripts, a string that passed the grammar (letters, commas, one ->)."""
    function = low.spell("einsum")
    operands = [low.as_array(a) for a in node.args]
    spec = low.make("Constant", node.params[0])
    if low.backend == "numpy":  # np.einsum's own path search, BLAS where a pair contracts as a product
        optimize = low.make("Constant", True)
        return low.make("Call", (1 + len(operands), ("optimize",)), [function, spec, *operands, optimize], node.ndim)
    return low.make("Call", (1 + len(operands), ()), [function, spec, *operands], node.ndim)


def _unicode_einsum(a) -> str:
    return _math_einsum(a, latex=False)


def _latex_einsum(a) -> str:
    return _math_einsum(a, latex=True)


def _math_einsum(a, latex: bool) -> str:
    """Kolda & Bader's notation where it applies (the n-mode products T ×₂ U, the CP model ⟦A, B, C⟧ and
    ⟦λ; A, B, C⟧), else Σ_{summed} A[i,j] B[j,k], bracketed and indexed by the output: [Σⱼ A[i,j] B[j,k]]ᵢₖ."""
    spec = a.keyword("subscripts")
    inputs, output = parse_subscripts(spec.strip("'"))
    literature = _mode_products(a, inputs, output, latex) or _kruskal(a, inputs, output, latex)
    if literature:
        return literature
    summed = sorted({c for s in inputs for c in s} - set(output), key=lambda c: spec.index(c))
    factors = []
    for t, letters in enumerate(inputs):
        body = a.atom(t)
        if len(letters) == 2 and getattr(a.args[t], "kind", None) == "call" and a.args[t].value == "eye":
            body = r"\delta" if latex else "δ"  # an identity indexed is the Kronecker delta
        if latex:
            factors.append(f"{{{body}}}_{{{letters}}}" if letters else body)
        else:
            factors.append(f"{body}[{','.join(letters)}]" if letters else body)
    if latex:
        total = (rf"\sum_{{{''.join(summed)}}} " if summed else "") + " ".join(factors)
        return rf"\left[{total}\right]_{{{''.join(output)}}}" if output else total
    total = (f"Σ_{''.join(summed)} " if summed else "") + " ".join(factors)
    return f"[{total}][{','.join(output)}]" if output else total


def _mode_products(a, inputs: list[str], output: str, latex: bool) -> str | None:
    """T ×ₙ U ×ₘ V (Kolda & Bader 2009, sec. 2.5): every operand after the first a matrix whose second index
    is a mode of the first operand (of order ≥ 3) and whose first index takes that mode's place."""
    core = inputs[0]
    if len(core) < 3 or len(set(core)) != len(core) or len(output) != len(core) or len(inputs) < 2:
        return None
    modes = []
    for t, letters in enumerate(inputs[1:], start=1):
        if len(letters) != 2:
            return None
        row, column = letters
        if column not in core or row in core or core.index(column) >= len(output) or \
                output[core.index(column)] != row or column in output:
            return None
        modes.append((core.index(column) + 1, t))
    if sorted(m for m, _ in modes) != sorted({m for m, _ in modes}) or \
            any(output[p] != c for p, c in enumerate(core) if p + 1 not in {m for m, _ in modes}):
        return None
    times = r" \times_{%d} " if latex else " ×%s "
    out = a.atom(0)
    for mode, t in sorted(modes):
        out += (times % mode if latex else times % str(mode).translate(_SUBSCRIPT_DIGITS)) + a.atom(t)
    return out


def _kruskal(a, inputs: list[str], output: str, latex: bool) -> str | None:
    """⟦A, B, C⟧ = Σ_r a_r ∘ b_r ∘ c_r, and ⟦λ; A, B, C⟧ with weights (Kolda & Bader 2009, sec. 3)."""
    weights = inputs[0] if len(inputs[0]) == 1 else None
    factors = inputs[1:] if weights else inputs
    if len(factors) < 2 or any(len(f) != 2 for f in factors):
        return None
    rank = factors[0][1]
    if any(f[1] != rank for f in factors) or (weights and weights != rank) or rank in output or \
            "".join(f[0] for f in factors) != output or len(set(output)) != len(output):
        return None
    names = [a.atom(t) for t in range(len(inputs))]
    inside = (f"{names[0]}; " if weights else "") + ", ".join(names[1:] if weights else names)
    return rf"[\![{inside}]\!]" if latex else f"⟦{inside}⟧"


_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


_SUBSCRIPTS = Literal("subscripts", lambda v: isinstance(v, str), "einsum's first argument is its subscripts, a "
                      "string such as 'ij,jk->ik'", spelling="'ij,jk->ik'", noun="subscripts", positional=True,
                      required=True)

register(Op("einsum", _evaluate, text="einsum", unicode=_unicode_einsum, latex=_latex_einsum,
            names=("einsum",), call=Call(einsum, arrays=-1, literals=(_SUBSCRIPTS,)),
            pullback=_pullback_einsum, differential=_differential_einsum,
            vec_jacobian=INDEX_ROUTE,
            index=_index_einsum,
            words=Words("contraction (einsum) with the other operands"),
            identity=SpelledIdentity("G : einsum(A, dX, …) = einsum(G, A, … → X's indices) : dX",
                                     "sum(G * einsum(s, A, dX)) = sum(einsum(s', G, A) * dX)",
                                     r"G : \operatorname{einsum}(A, dX) = \operatorname{einsum}(G, A) : dX"),
            vec_identity=Absent("an einsum is read in index notation, not in vec form"),
            # NumPy: np.einsum(..., optimize=True), as NumPy code is written; JAX and PyTorch order it with opt_einsum
            code=Code(numpy="np.einsum", jax="jnp.einsum", torch="torch.einsum", placeholders="",
                      lower=_lower_einsum)))


def as_batched_matmul(node: Node) -> tuple[Node, Node] | None:
    """(a, b) with node = a @ b in NumPy's batched sense (each possibly a permutation of an operand), where
    the einsum is a stack of matrix products: how it is written, G @ swapaxes(B, 1, 2)."""
    if node.op != "einsum" or len(node.args) != 2 or all(x.ndim <= 2 for x in node.args):
        return None
    (a, b), out = parse_subscripts(node.params[0])
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        return None
    contracted = [c for c in a if c in b and c not in out]
    if len(contracted) != 1:
        return None
    (c,) = contracted
    position = len(out)
    column = row = None
    if b != c:
        column = out[position - 1] if position else None
        if column is None or column not in b or column in a:
            return None
        position -= 1
    if a != c:
        row = out[position - 1] if position else None
        if row is None or row not in a or row in b:
            return None
        position -= 1
    batch = out[:position]
    x, y = node.args
    arranged = []
    for letters, operand, core in ((a, x, [c] if row is None else [row, c]), (b, y, [c] if column is None else
                                                                           [c, column])):
        own = [d for d in letters if d not in core]
        if own != list(batch[len(batch) - len(own):]) or len(own) + len(core) != len(letters):
            return None
        wanted = own + core
        arranged.append(permute(operand, tuple(letters.index(d) for d in wanted)))
    return arranged[0], arranged[1]


# ---- batched @ and tensordot as einsums ------------------------------------------------------------


def batched_matmul(a: Node, b: Node) -> Node:
    """np.matmul(a, b) where an operand has 3 or more axes: a stack of matrix products, the leading axes
    broadcast as NumPy broadcasts them."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"{_describe(a)} @ {_describe(b)}: @ takes arrays, not a scalar (use *)", (a, b))
    a_core = 2 if a.ndim >= 2 else 1
    b_core = 2 if b.ndim >= 2 else 1
    a_batch, b_batch = a.shape[:a.ndim - a_core], b.shape[:b.ndim - b_core]
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if inner_a != inner_b:
        raise ShapeError(f"{_describe(a)} @ {_describe(b)}: {_describe(a)} is {format_shape(a.shape)} but "
                         f"{_describe(b)} is {format_shape(b.shape)} (the contracted axes differ: "
                         f"{inner_a} ≠ {inner_b})", (a, b), culprit=b)
    batch_len = max(len(a_batch), len(b_batch))
    batch_labels = [("batch", t) for t in range(batch_len)]
    dims: dict = {}
    batch_shape = []
    for t in range(batch_len):
        da = a_batch[t - (batch_len - len(a_batch))] if t >= batch_len - len(a_batch) else 1
        db = b_batch[t - (batch_len - len(b_batch))] if t >= batch_len - len(b_batch) else 1
        if da != db and 1 not in (da, db):
            raise ShapeError(f"{_describe(a)} @ {_describe(b)}: the stacks cannot be broadcast together: "
                             f"{_describe(a)} is {format_shape(a.shape)} and {_describe(b)} is "
                             f"{format_shape(b.shape)} ({da} ≠ {db})", (a, b), culprit=b)
        batch_shape.append(da if da != 1 else db)
    if any(d == 1 for d in batch_shape) or any(d == 1 for d in a_batch + b_batch):
        raise ShapeError(f"{_describe(a)} @ {_describe(b)}: stacks with axes of length 1 are not part of the "
                         "language yet", (a, b))
    for label, d in zip(batch_labels, batch_shape):
        dims[label] = d
    row, inner, column = ("row",), ("inner",), ("column",)
    dims[inner] = inner_a
    a_labels = batch_labels[batch_len - len(a_batch):] + ([row, inner] if a_core == 2 else [inner])
    b_labels = batch_labels[batch_len - len(b_batch):] + ([inner, column] if b_core == 2 else [inner])
    if a_core == 2:
        dims[row] = a.shape[-2]
    if b_core == 2:
        dims[column] = b.shape[-1]
    output = batch_labels + ([row] if a_core == 2 else []) + ([column] if b_core == 2 else [])
    return contraction([a_labels, b_labels], output, [a, b], dims)


def tensordot(a: Node, b: Node, axes: object = 2) -> Node:
    """np.tensordot(a, b, axes): the last `axes` axes of a contracted with the first of b, or the pairs
    of axes given as two sequences."""
    what = f"tensordot({_describe(a)}, {_describe(b)}, axes={axes})"
    if isinstance(axes, int) and not isinstance(axes, bool):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ShapeError(f"{what}: cannot contract {axes} axes: {_describe(a)} is {_shape_words(a)} and "
                             f"{_describe(b)} is {_shape_words(b)}", (a, b))
        pairs = list(zip(range(a.ndim - axes, a.ndim), range(axes)))
    elif isinstance(axes, tuple) and len(axes) == 2:
        left, right = (t if isinstance(t, tuple) else (t,) for t in axes)
        if len(left) != len(right):
            raise ShapeError(f"{what}: the two lists of axes differ in length", (a, b))
        pairs = [(_axis(a, p, what), _axis(b, q, what)) for p, q in zip(left, right)]
    else:
        raise ShapeError(f"{what}: axes is a number of axes or a pair of sequences of axes", (a, b))
    a_labels = [("a", t) for t in range(a.ndim)]
    b_labels = [("b", t) for t in range(b.ndim)]
    dims = {label: d for label, d in zip(a_labels, a.shape)} | {label: d for label, d in zip(b_labels, b.shape)}
    for p, q in pairs:
        if a.shape[p] != b.shape[q]:
            raise ShapeError(f"{what}: axis {p} of {_describe(a)} ({format_shape(a.shape)}) has length {a.shape[p]} "
                             f"but axis {q} of {_describe(b)} ({format_shape(b.shape)}) has {b.shape[q]}", (a, b))
        b_labels[q] = a_labels[p]
    contracted = {a_labels[p] for p, _ in pairs}
    output = [c for c in a_labels if c not in contracted] + [c for c in b_labels if c not in contracted]
    return contraction([a_labels, b_labels], output, [a, b], dims)


def _tensordot_axes(v: object) -> bool:
    """axes=k, or a pair of axes or of tuples of axes, ((1, 2), (0, 1)): integers, nothing else."""
    def axis_or_axes(a: object) -> bool:
        return isinstance(a, int) and not isinstance(a, bool) or isinstance(a, tuple) and all(
            isinstance(b, int) and not isinstance(b, bool) for b in a)
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, tuple) and len(v) == 2 and all(
        axis_or_axes(a) for a in v)


_TENSORDOT_AXES = Literal("axes", _tensordot_axes,
                          "axes is a number of axes (axes=2) or two tuples of axes, ((1, 2), (0, 1))",
                          spelling="axes=2", noun="the axes")
BUILDERS["tensordot"] = Call(tensordot, arrays=2, literals=(_TENSORDOT_AXES,))


# Late imports: the operations the rules above build.
from .algebra.transposition import transpose  # noqa: E402
from .structure import diag, outer  # noqa: E402
from .linalg import tr  # noqa: E402
from .reductions import sum_  # noqa: E402
