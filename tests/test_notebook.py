"""examples/tour.ipynb runs from top to bottom in a kernel of this very Python (the project's .venv),
and every result in it displays as math: the Jupyter face of matdiff.

The kernel is a kernelspec written for the test into a temporary JUPYTER_PATH, whose argv is
`sys.executable`, so that no `python3` kernel registered elsewhere on the machine can stand in.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "examples" / "tour.ipynb"
KERNEL = "matdiff-tour"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The tour, executed in a kernel of sys.executable, with one cell appended that reports the kernel's Python."""
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec = jupyter_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "matdiff (this Python)", "language": "python"}))
    notebook = nbformat.read(TOUR, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(jupyter_path))
        client = nbclient.NotebookClient(notebook, kernel_name=KERNEL, timeout=180,
                                         resources={"metadata": {"path": str(TOUR.parent)}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    return notebook


def outputs(notebook, source_start: str) -> list[dict]:
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    assert len(cells) == 1, source_start
    return cells[0].outputs


def shown(notebook, source_start: str, mime: str = "text/plain") -> str:
    """What a cell displayed in one format (its result) or printed."""
    texts = []
    for output in outputs(notebook, source_start):
        if output.output_type == "stream":
            texts.append(output.text)
        elif mime in output.get("data", {}):
            texts.append(output.data[mime])
    return "".join(texts)


def test_the_kernel_is_this_python(executed):
    assert Path(shown(executed, "import sys").strip()).resolve() == Path(sys.executable).resolve()


def test_the_tour_shows_each_result_as_math(executed):
    assert shown(executed, "layer = md.parse", "text/latex").startswith("$")
    assert "(columns q ≠ rows n)\n    W @ X\n    ^^^^^" in shown(executed, "try:")

    assert "2 * X.T @ ((tanh(X @ W) - Y) * (1 - tanh(X @ W) ** 2))" in shown(executed, "print(gradient.text)")
    for cell, text, kind in [("gradient = ", "2 * X.T @ ((tanh(X @ W) - Y) * (1 - tanh(X @ W) ** 2))", "gradient"),
                             ('md.vjp("W @ X"', "G @ X.T", "vjp"),
                             ("jacobian = ", "kron(X.T, eye(m))", "vec"),
                             ("hessian = ", "A + A.T", "hessian"),
                             ('md.derivative("tr(X.T @ A @ X)"', "kron(eye(m), A + A.T)", "hessian")]:
        assert shown(executed, cell).startswith(f"Derivative({text!r}, kind={kind!r}, "), cell
        assert shown(executed, cell, "text/markdown").startswith(f"**{kind}**"), cell
        assert "$" in shown(executed, cell, "text/latex"), cell
    assert r"\otimes" in shown(executed, "jacobian = ", "text/latex")
    assert "δ[i,k] X[l,j]" in shown(executed, "jacobian.index")


def test_the_numbers_agree(executed):
    assert "array(" in shown(executed, "rng = ")
    assert shown(executed, 'print(md.check(').rstrip().endswith("all within tolerance")
