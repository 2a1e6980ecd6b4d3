"""The layers of the package only look down: core → ops → language → calculus → api → outputs → faces.

Every `import` in src/matdiff (at the top of a module or inside a function) is read with `ast`; a
module may import from its own layer or a lower one, never a higher one, and the two faces (the
command line and the page) never import each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "matdiff"
LAYERS = [
    ("core", {"errors", "dims", "expr"}),
    ("ops", {"ops"}),
    ("language", {"language"}),
    ("calculus", {"calculus", "evaluate"}),  # interpreters of the operation table
    ("api", {"api", "symbolic"}),
    ("outputs", {"derivation", "verdicts", "codegen", "numeric_check", "report", "interop"}),
    ("faces", {"cli", "web"}),
]
RANK = {top: rank for rank, (_, tops) in enumerate(LAYERS) for top in tops}


def _top(module: Path) -> str:
    return module.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_tops(module: Path) -> list[tuple[int, str]]:
    """(line, top-level matdiff module) for every import of matdiff's own modules in `module`."""
    package = module.relative_to(PACKAGE).parent.parts  # where relative imports start
    found = []
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = list(base) + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [a.name for a in node.names]
            elif node.module and node.module.split(".")[0] == "matdiff":
                parts = node.module.split(".")[1:]
                names = [parts[0]] if parts else [a.name for a in node.names]
            else:
                continue
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names
                      if a.name.startswith("matdiff.")]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py" and p.name != "__main__.py"
                 or p.parent != PACKAGE and p.name == "__main__.py")


@pytest.mark.parametrize("module", MODULES, ids=[str(m.relative_to(PACKAGE)) for m in MODULES])
def test_a_module_imports_only_its_own_layer_or_lower_ones(module):
    own = _top(module)
    assert own in RANK, f"{own} is in no layer: add it to LAYERS"
    upward = [f"line {line}: {own} ({LAYERS[RANK[own]][0]}) imports {top} ({LAYERS[RANK[top]][0]})"
              for line, top in _imported_tops(module) if top in RANK and RANK[top] > RANK[own]]
    assert not upward


@pytest.mark.parametrize("module", MODULES, ids=[str(m.relative_to(PACKAGE)) for m in MODULES])
def test_the_faces_never_import_each_other(module):
    own = _top(module)
    if own in ("cli", "web"):
        other = "web" if own == "cli" else "cli"
        assert other not in {top for _, top in _imported_tops(module)}


def test_every_module_has_a_docstring_saying_what_it_owns():
    missing = [str(m.relative_to(PACKAGE)) for m in MODULES if not ast.get_docstring(ast.parse(m.read_text()))]
    assert not missing


def test_no_module_is_over_800_lines():
    long = {str(m.relative_to(PACKAGE)): n for m in MODULES if (n := len(m.read_text().splitlines())) > 800}
    assert not long
