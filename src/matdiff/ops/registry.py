"""The operation table: one `Op` entry per operation of the language, holding its whole story.

An entry declares everything about an operation in one place:
- meaning: how NumPy computes it (`evaluate`); the shape rule and always-valid simplifications are in
  the smart constructor that sits beside the entry in the same module;
- calculus: its pullback (reverse mode), its differential (forward mode), the matrix of its linear
  use in vec form (`vec_jacobian`), f' for an elementwise function (`derivative`), and how it reads in
  index notation (`index`);
- language: the names the parser reads it by (`names`, first the printed one) and its spellings in
  text, Unicode and LaTeX;
- outputs: its code in each backend (`code`) and the words that explain its rule (`words`, and the
  differential identities `identity` / `vec_identity` it is explained with).

Interpreters (evaluation, differentiation, parsing, printing, index notation, code generation,
explain) are generic: they look an operation up here and never know one by name. A field an
operation cannot have is declared `Absent("why")`, never left silently missing; `tests/test_op_table.py`
walks the table and fails for a half-declared entry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..expr import Node

# pullback(node, cotangent, needed) -> [(argument, cotangent of argument), ...]
Pullback = Callable[[Node, Node, Callable[[Node], bool]], list[tuple[Node, Node]]]
# differential(node, (d arg0 or None, d arg1 or None, ...)) -> d node
Differential = Callable[[Node, tuple[Any, ...]], Node]
# vec_jacobian(node, (J of arg0 or None, ...)) -> J of node, where J is the matrix with
# vec(d node) = J vec(dX), for a node linear in the arguments whose J is given
VecJacobian = Callable[[Node, tuple[Any, ...]], Node]
Evaluate = Callable[[Node, list, dict], Any]


@dataclass(frozen=True)
class Absent:
    """A field an operation deliberately lacks, with the reason (shown where a user asks for it)."""

    reason: str

    def __bool__(self) -> bool:  # `if op.vec_jacobian:` reads as "has one"
        return False


# bounds(node, bounds_of) -> (lo, hi): an interval holding every entry of node, where bounds_of(arg) is
# such an interval for an argument
Bounds = Callable[[Node, Callable[[Node], tuple[float, float]]], tuple[float, float]]


@dataclass(frozen=True)
class Code:
    """How generated code computes an operation (`matdiff.codegen` reads it and names no operation).

    `numpy`, `jax`, `torch`: its spelling in each backend, a Python expression whose placeholders (the
    names in `placeholders`, in the order of the node's arguments) stand for the code of the arguments,
    and `like` for an array argument of the generated function (PyTorch's constructors take its dtype
    and device). Templates are written here, never user text.

    `lower(low, node)`: a rule for an operation whose code depends on its parameters or on the
    structure of its arguments. `low` is code generation's lowering interpreter: `low.term(n)` is the
    code of a node, `low.spell(what, *codes, ndim=...)` a spelling (an operation's, by its name, or
    one of code generation's own patterns such as `sum_product`), `low.binary(op, a, b)`,
    `low.compare(symbol, a, b)` (a boolean array), `low.as_array(n)` (a number made an array of the
    backend), `low.num`, `low.dim`, `low.shape`, `low.transposed`, `low.signed_sum`, `low.product`,
    `low.make(kind, value, args)` (any Python expression, `codegen/terms.py`). Without a rule the
    operation is its spelling applied to its arguments.

    `bounds`: an interval holding every entry, from intervals of the arguments (None: unknown); code
    generation proves a weight nonnegative with it. `reuse_transpose`: the constructor moves a
    transpose inside the operation (the transpose of a sum is a sum of transposes), so where the code
    of the transposed node exists, this node's code is that with `.T`. `dimension_params`: its
    parameters are dimensions (eye(n)), which the generated function must have names for.
    `function_argument(node)`: the name of a function the generated function takes as an argument
    to compute this node (a declared function g: `g`, its derivative `grad_g`).
    `derivative`: for an elementwise f, the code of f'(x) from the code of x, where that is cheaper than
    the code of the derivative's own expression (gelu'(u) = Φ(u) + u φ(u) through scipy's ndtr, the Φ
    that the code of gelu computes too: equal code is computed once). `pullback`: the code of g ⊙ f'(x)
    in one call, placeholders "g x" (PyTorch's gelu_backward), for a product with f'(x) as a factor.
    `factor`: the code of the node as a factor of a product that has a floating factor too, where that is
    cheaper than its own code (a comparison: the backend's boolean array, which such a product reads as 0 and
    1, without the pass that makes it a floating array).
    """

    numpy: str | None = None
    jax: str | None = None
    torch: str | None = None
    placeholders: str = "x"
    lower: Callable[[Any, Node], Any] | None = None
    bounds: Bounds | None = None
    reuse_transpose: bool = False
    dimension_params: bool = False
    function_argument: Callable[[Node], str] | None = None
    derivative: "Code | None" = None
    pullback: "Code | None" = None
    factor: "Code | None" = None

    @classmethod
    def named(cls, name: str, **fields: Any) -> "Code":
        """The function of this name in NumPy, jax.numpy and torch: `np.exp(x)`, `jnp.exp(x)`, `torch.exp(x)`."""
        return cls(numpy=f"np.{name}(x)", jax=f"jnp.{name}(x)", torch=f"torch.{name}(x)", **fields)


def within(lo: float, hi: float) -> Bounds:
    """`Code.bounds` of an operation whose entries lie in [lo, hi] whatever its arguments."""
    return lambda node, bounds_of: (lo, hi)


@dataclass(frozen=True)
class Literal:
    """A literal parameter of a call, after its arrays: NumPy's `axis=` or `ord=`, written by position
    or as a keyword, a number (a minus sign allowed), a string or None.

    `accepts(value)` says which values the language takes, `error` is the message for any other, and
    `spelling` names the keyword as a message shows it ("axis=0 or axis=1"), `noun` the parameter
    ("an axis"). `passed`: the constructor receives it as a keyword, and the node keeps it in its
    `params` (in order, None when left out), where the printer reads it back as `axis=1`; otherwise
    it only selects what the language already means (`norm(X, 'fro')` is norm2(X)).
    `positional`: the printer writes it by position, as NumPy code does (`matrix_power(X, 3)`,
    `norm(x, 1)`), not as a keyword; `required`: a call without it is refused (NumPy has no default).
    """

    name: str
    accepts: Callable[[Any], bool]
    error: str
    spelling: str
    noun: str
    passed: bool = True
    positional: bool = False
    required: bool = False


@dataclass(frozen=True)
class Call:
    """How the parser builds an operation from a call of one of its `names`.

    `build` is the smart constructor, called with the built arrays (and passed literals as keywords).
    `arrays`: how many array arguments it takes; `literals`: the literal parameters after them.
    A constant matrix takes dimensions instead (`eye(n)`, `commutation(m, n)`): `dims` lists how many
    it accepts, and the node keeps them as its `params`; `shape`: they are one shape argument,
    written `ones(n, m)` or `ones((n, m))`, and `build` receives them as one tuple.
    """

    build: Callable[..., Node]
    arrays: int = 1  # -1: any number of arrays (einsum), after the literals, which then come first
    literals: tuple[Literal, ...] = ()
    dims: tuple[int, ...] = ()
    shape: bool = False


# index(reader, node, idx) -> the terms of node[idx], or None where this node has no index rule (it is
# then read through its vec form if it holds dX, else as an atom, indexed as a whole: exp(U)[i,j]).
# `idx` holds one index entry per axis of the node: a name, or a tuple of names (a composite index,
# row-major as NumPy's kron). `reader` is the index interpreter (calculus/index): reader.indexed(arg,
# entries) reads an argument, reader.fresh(dim) makes a summation index, reader.summing(terms, names)
# sums over them, reader.product(*sums) multiplies, reader.delta(a, b) is δ[a,b], reader.number(c) a
# constant, reader.of_argument(arg, node, idx) reads an operand NumPy broadcasts to node's shape,
# reader.broadcast / reader.raised / reader.has_dx as their docstrings say.
IndexRule = Callable[[Any, Node, tuple], Any]

# `index` of an operation with no index rule: it is an atom, indexed as a whole (tanh(X @ W)[i,j], det(X),
# inv(X)[k,l]); a differential holds it only away from dX, where its value is a known array.
INDEXED_WHOLE = Absent("no index rule: indexed as a whole, as an atom (tanh(U)[i,j], det(X))")


@dataclass(frozen=True)
class Words:
    """The chain rule of an operation in words, as `explain` names each step (`right multiplication by X`).

    `say`: the words, or a function (node, slot, fused) -> words for the argument in `slot` (`fused`:
    the rule reaches through that argument, ‖u‖² to u), a list of strings and nodes: an operand named
    in the words, shown as it is where it is short and as "the other factor" where it is long.
    `names_operands`: the words name the other operands (a product's), so the step does not show the
    rule's form with placeholders U, V after them.
    """

    say: str | Callable[[Node, int, bool], list]
    names_operands: bool = False

    def of(self, node: Node, slot: int, fused: bool) -> list:
        return [self.say] if isinstance(self.say, str) else list(self.say(node, slot, fused))


@dataclass(frozen=True)
class SpelledIdentity:
    """An identity that explains an operation's rule, spelled in Unicode, plain text and LaTeX.

    An entry's `identity` moves its linear use across a Frobenius product, M : op(dX) = op*(M) : dX
    (`A : Bᵀ = Aᵀ : B`, the adjoint of the operation, as the differential route of `explain` applies
    it); its `vec_identity` is its vec form (`vec(AXB) = (Bᵀ ⊗ A) vec X`).
    """

    unicode: str
    text: str
    latex: str


# `identity` and `vec_identity` of an operation that is not linear (tanh, inv, det, ...): its differential
# comes first, d tanh(U) = (1 − tanh(U)²) ⊙ dU, and the identities named are those of the products it gives.
# An operation that is not linear in its arguments never holds the differential itself in a differential
# (its rule is applied first), so the vec form never passes through it: this is the default of the field.
NO_VEC_RULE = Absent("not linear in its arguments: in a differential it is a constant factor, so a vec form "
                     "never passes through it")
# A leaf (a number, a variable, a dimension, a constant matrix) has no arguments: no rule moves through it.
LEAF = Absent("a leaf: it has no arguments, so no rule moves a derivative through it")
LEAF_RULES = dict(pullback=LEAF, differential=LEAF, vec_jacobian=LEAF, words=LEAF, identity=LEAF, vec_identity=LEAF)

# `vec_jacobian` of a linear operation on arrays of any order (einsum, a permutation of axes, reshape): its
# derivatives are read in index notation, and the full array F + S built from the index form
# (`calculus/arrays.py`), not passed through a vec form.
INDEX_ROUTE = Absent("linear, but read in index notation: the derivative is the full array, built from the "
                     "index form (calculus/arrays.py), not a vec form")

NOT_LINEAR = Absent("not linear: its differential rule is applied first, and the identities named are those "
                    "of the products it gives")


@dataclass(frozen=True)
class Op:
    name: str
    evaluate: Evaluate
    text: str = ""  # function name or operator symbol in the language
    # Unicode and LaTeX: a function's name, written name(args), or a function of its rendered arguments
    # (language/printing.py's _Arguments) for a spelling of its own: X⁻¹, ‖x‖, Iₙ
    unicode: str | Callable[[Any], str] = ""
    latex: str | Callable[[Any], str] = ""
    pullback: Pullback | Absent | None = None
    differential: Differential | Absent | None = None
    vec_jacobian: VecJacobian | Absent | None = NO_VEC_RULE  # an operation linear in its arguments gives one
    elementwise: bool = False  # f(X)[i, j] depends on X[i, j] alone
    derivative: Callable[[Node], Node] | None = None  # f' for elementwise unary f, as f'(arg)
    # ---- the language (language/parse.py reads these) ----
    names: tuple[str, ...] | Absent = ()  # the function names the parser accepts, the printed one first
    call: Call | None = None  # how the parser builds it from a call, for an operation with names
    # ---- index notation (calculus/index.py reads this) ----
    index: IndexRule | Absent | None = None
    # ---- code generation (codegen reads this): the spelling per backend, or a lowering rule ----
    code: Code | Absent | None = None
    # ---- explain (the chain-rule words, the differential identities) ----
    words: Words | Absent | None = None
    # an identity, or a function of the node choosing one (sum: all entries, or along an axis)
    identity: SpelledIdentity | Callable[[Node], SpelledIdentity] | Absent | None = None
    vec_identity: SpelledIdentity | Absent | None = None


OPS: dict[str, Op] = {}

# Names the parser reads that build another operation's node, with no node of their own: tensordot(a, b)
# is an einsum. name -> Call.
BUILDERS: dict[str, Call] = {}


def register(op: Op) -> Op:
    if op.name in OPS:
        raise RuntimeError(f"operation {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def op_of(node: Node) -> Op:
    return OPS[node.op]
