"""The operation table is complete: every entry declares what every interpreter needs.

A field an operation cannot have is `Absent("why")`; a field left at None is a half-declared entry,
and such an entry cannot land. Each interpreter's section below checks the fields it reads.
"""
import pytest

from matdiff.ops import OPS
from matdiff.ops.registry import INDEX_ROUTE, Absent

ENTRIES = sorted(OPS)


def declared(value) -> bool:
    """A field is declared when it has a value or says why it is absent."""
    return value is not None


@pytest.mark.parametrize("name", ENTRIES)
def test_meaning_and_calculus_are_declared(name):
    op = OPS[name]
    assert callable(op.evaluate)
    for field in ("pullback", "differential", "vec_jacobian"):
        value = getattr(op, field)
        assert declared(value), f"{name}: {field} is neither given nor Absent(why)"
        if isinstance(value, Absent):
            assert value.reason, f"{name}: {field} is Absent without a reason"
        else:
            assert callable(value), f"{name}: {field} is neither a rule nor Absent(why)"


@pytest.mark.parametrize("name", ENTRIES)
def test_an_operation_linear_in_its_arguments_has_a_vec_rule(name):
    """An operation explained by a linear identity (A : Bᵀ = Aᵀ : B, tr(B) = I : B, ...) holds the
    differential itself in a differential, so the vec form passes through it and needs its rule, unless the
    entry says its derivatives are read in index notation (einsum, permutations of axes, reshape), where the
    full array is built from the index form instead."""
    op = OPS[name]
    if op.identity and not isinstance(op.identity, Absent) and op.vec_jacobian is not INDEX_ROUTE:
        assert op.vec_jacobian and not isinstance(op.vec_jacobian, Absent), f"{name}: linear, but no vec rule"


# Leaves have no arguments, so no rule moves a cotangent through them: they say so (LEAF).
LEAVES = {"const", "var", "dim", "eye", "ones", "zeros", "commutation"}


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_leaves_declare_that_no_rule_moves_through_them(name):
    for field in ("pullback", "differential", "vec_jacobian", "words", "identity", "vec_identity"):
        assert isinstance(getattr(OPS[name], field), Absent)


# ---- code generation (matdiff.codegen reads `code`) ------------------------------------------------
import ast  # noqa: E402

from matdiff.ops.registry import Code  # noqa: E402

BACKENDS = ("numpy", "jax", "torch")


@pytest.mark.parametrize("name", ENTRIES)
def test_code_is_declared(name):
    """Every entry says how generated code computes it: its spelling in all three backends, or a
    lowering rule, or Absent(why); a spelling given for one backend is given for all three."""
    code = OPS[name].code
    if isinstance(code, Absent):
        assert code.reason, f"{name}: code is Absent without a reason"
        return
    assert isinstance(code, Code), f"{name}: code is neither a Code nor Absent(why)"
    spellings = [getattr(code, backend) for backend in BACKENDS]
    given = [s is not None for s in spellings]
    assert all(given) or (not any(given) and code.lower is not None), \
        f"{name}: code needs a spelling in each of {', '.join(BACKENDS)} or a lowering rule"
    for backend, text in zip(BACKENDS, spellings):
        if text is None:
            continue
        used = {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}
        missing = [p for p in code.placeholders.split() if p != "like" and p not in used]
        assert not missing, f"{name}: the {backend} spelling {text!r} does not use {missing}"


# ---- explain (matdiff.explain reads `words`, `identity`, `vec_identity`) ------------------------------
from matdiff.expr import make  # noqa: E402
from matdiff.ops import var  # noqa: E402
from matdiff.ops.registry import SpelledIdentity, Words  # noqa: E402

RULES = [name for name in ENTRIES if name not in LEAVES]


@pytest.mark.parametrize("name", RULES)
def test_explain_words_and_identities_are_declared(name):
    """Every operation a rule moves a gradient through names that rule in words, and says how the
    differential route explains it: its Frobenius identity and its vec rule, each spelled in Unicode,
    text and LaTeX, or Absent(why)."""
    op = OPS[name]
    assert isinstance(op.words, (Words, Absent)), f"{name}: words is neither Words(...) nor Absent(why)"
    for field in ("words", "identity", "vec_identity"):
        value = getattr(op, field)
        assert declared(value), f"{name}: {field} is neither given nor Absent(why)"
        if isinstance(value, Absent):
            assert value.reason, f"{name}: {field} is Absent without a reason"
        if isinstance(value, SpelledIdentity):
            assert value.unicode and value.text and value.latex, f"{name}: {field} lacks a spelling"


def test_words_read_for_every_argument():
    """The words of a rule are words and operands, for each argument of a node of the operation."""
    x, y = var("x", (3,)), var("y", (3,))
    for name in ("mul", "add", "div", "outer"):
        node = make(name, (x, y), (), (3, 3) if name == "outer" else (3,))
        for slot in (0, 1):
            parts = OPS[name].words.of(node, slot, False)
            assert parts and all(isinstance(p, str) or p is x or p is y for p in parts), (name, parts)
    assert OPS["tanh"].words.of(make("tanh", (x,), (), (3,)), 0, False) == ["elementwise tanh"]


# ---- the language and index notation (parse reads `names` and `call`, printing `names`, `unicode` and
# `latex`, calculus.index reads `index`) ----------------------------------------------------------------
import matdiff as md  # noqa: E402
from matdiff.language.parse import CALLS  # noqa: E402
from matdiff.ops.registry import Call  # noqa: E402


@pytest.mark.parametrize("name", ENTRIES)
def test_names_are_declared(name):
    """A function of the language has its names (the printed one first) and says how a call builds it;
    an operator, a number, a variable or a dimension says why it has no function name."""
    op = OPS[name]
    if isinstance(op.names, Absent):
        assert op.names.reason, f"{name}: names is Absent without a reason"
        assert op.call is None, f"{name}: a call without names"
        return
    assert op.names and all(n.isidentifier() for n in op.names), f"{name}: names {op.names!r}"
    assert isinstance(op.call, Call) and callable(op.call.build), f"{name}: names without a Call"
    assert op.call.arrays > 0 or op.call.arrays == -1 or op.call.dims, f"{name}: a call takes arrays or dimensions"
    if op.text.isidentifier():
        assert op.names[0] == op.text, f"{name}: the printed name {op.text!r} is not the first of {op.names}"
    for literal in op.call.literals:
        assert literal.error and literal.spelling and literal.noun, f"{name}: {literal.name} lacks its words"
    for field in ("unicode", "latex"):
        spelling = getattr(op, field)
        assert callable(spelling) or (isinstance(spelling, str) and spelling), f"{name}: no {field} spelling"


def test_a_name_means_one_operation():
    owners: dict[str, str] = {}
    for op in OPS.values():
        for n in op.names or ():
            assert n not in owners, f"{n!r} names both {owners[n]} and {op.name}"
            owners[n] = op.name


@pytest.mark.parametrize("name", ENTRIES)
def test_index_is_declared(name):
    """Every entry says how it reads in index notation: a rule, or Absent(why) (indexed as a whole)."""
    index = OPS[name].index
    if isinstance(index, Absent):
        assert index.reason, f"{name}: index is Absent without a reason"
    else:
        assert callable(index), f"{name}: index is neither a rule nor Absent(why)"


TENSOR_EXAMPLES = {"einsum": "einsum('ijk,jk->i', T, S)", "reshape": "reshape(T, (n, n * n))",
                   "swapaxes": "swapaxes(T, 0, 2)", "moveaxis": "moveaxis(T, 0, 2)", "tensordot": "tensordot(T, S)"}


@pytest.mark.parametrize("function", sorted(CALLS))
def test_every_function_name_reads_and_prints_back(function):
    """The parser and the printer know a function only by its entry: each name is read (a square matrix
    or a vector as its arguments, whichever fits), and each printed spelling reads back as that node."""
    call = CALLS[function].call
    shapes = "S: n×n, x: n, T: n×n×n"
    if function in TENSOR_EXAMPLES:  # their arguments are an array of order 3 and what it is contracted with
        attempts = [TENSOR_EXAMPLES[function]]
    elif call.dims:
        attempts = [f"{function}({', '.join(['n'] * call.dims[-1])})"]
    else:
        required = ["2"] * sum(literal.required for literal in call.literals)  # matrix_power(S, 2)
        attempts = [f"{function}({', '.join([a] * call.arrays + required)})" for a in ("S", "x")]
    for text in attempts:
        try:
            e = md.parse(text, shapes)
        except md.ShapeError:
            continue
        assert md.parse(e.text, shapes).node is e.node, (text, e.text)
        assert e.unicode and e.latex
        op = CALLS[function]
        if e.node.op == op.name and op.name != "transpose":  # transpose prints as .T
            assert e.text.startswith(op.names[0] + "("), (text, e.text)
        break
    else:
        pytest.fail(f"{function}: none of {attempts} reads")
    with pytest.raises(md.ParseError, match="is a function"):
        md.parse(function, shapes)
