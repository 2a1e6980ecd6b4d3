"""The operation table is complete: every entry declares what every interpreter needs.

A field an operation cannot have is `Absent("why")`; a field left at None is a half-declared entry,
and such an entry cannot land. Each interpreter's section below checks the fields it reads.
"""
import pytest

from matdiff.ops import OPS
from matdiff.ops.registry import Absent

ENTRIES = sorted(OPS)


def declared(value) -> bool:
    """A field is declared when it has a value or says why it is absent."""
    return value is not None


@pytest.mark.parametrize("name", ENTRIES)
def test_meaning_and_calculus_are_declared(name):
    op = OPS[name]
    assert callable(op.evaluate)
    for field in ("pullback", "differential"):
        value = getattr(op, field)
        assert declared(value) or op.name in LEAVES, f"{name}: {field} is neither given nor Absent(why)"
        if isinstance(value, Absent):
            assert value.reason, f"{name}: {field} is Absent without a reason"


# Leaves have no arguments, so no rule moves a cotangent through them.
LEAVES = {"const", "var", "dim", "eye", "ones", "zeros", "commutation"}


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
