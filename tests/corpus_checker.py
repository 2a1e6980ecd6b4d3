"""The corpus's independent checker (../shared/corpus/check.py), imported by path for the tests.

It owns its own NumPy evaluator of the language and its own finite differences, so tests that use
it compare matdiff against something matdiff did not compute.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def load():
    path = CORPUS / "check.py"
    if not path.exists():
        pytest.skip("the shared corpus is not next to this checkout")
    spec = importlib.util.spec_from_file_location("corpus_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(kinds=("case", "vjp", "bad")):
    if not (CORPUS / "cases").exists():
        return []
    check = load()
    return [c for c in check.load_cases(sorted((CORPUS / "cases").glob("*.toml"))) if c["kind"] in kinds]
