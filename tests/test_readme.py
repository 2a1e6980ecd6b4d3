"""The README's Python examples run and give what the README says they give.

In a ```python block, a line followed by a comment line `# '...'` (or `# "..."`) is evaluated and its value
compared with the quoted text; every other line is executed as written.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    for block in blocks:
        lines = block.splitlines()
        for i, line in enumerate(lines):
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if line.strip() and not line.startswith("#"):
                code, _, comment = line.partition("  # ")
                if comment.startswith(("'", '"')):  # an inline answer
                    yield code, ast.literal_eval(comment.strip())
                    continue
                quoted = following.startswith(("# '", '# "'))
                expected = ast.literal_eval(following[1:].strip()) if quoted else None
                yield code, expected


def test_readme_examples_give_what_the_readme_says():
    namespace: dict = {}
    checked = 0
    for line, expected in _examples():
        if expected is None:
            exec(line, namespace)
        else:
            assert eval(line, namespace) == expected, line
            checked += 1
    assert checked >= 6


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
