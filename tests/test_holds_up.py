"""Regressions from fuzzing: printed text that means its node, no crash, no recursion on size.

Each example here was once wrong or crashed; the fuzz run (`make fuzz`) finds new ones and they land
here as fixed examples.
"""
import pytest

import matdiff as md

WHERE = "x: n, A: n×n, a: scalar, h: n, X: n×n, u: n"


@pytest.mark.parametrize("text, printed", [
    ("2.0 ** (-(x @ A))", "2 ** (-x @ A)"),        # not (2 ** -x) @ A
    ("a * -(x @ A)", "-a * x @ A"),
    ("2 ** -(x * x)", "2 ** -x ** 2"),
    ("-(x @ A) ** 2", "-(x @ A) ** 2"),
])
def test_a_negated_product_under_a_power_keeps_its_parentheses(text, printed):
    e = md.parse(text, WHERE)
    assert e.text == printed
    assert md.parse(e.text, WHERE).node is e.node
