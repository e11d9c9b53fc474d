"""Execute every notebook of the teaching suite end to end; any cell error fails the test.

Notebooks are stored as jupytext percent-format ``.py`` files. Each is converted in memory
(jupytext -> nbformat) and run by nbclient on the ``python3`` kernel, working directory
``notebooks/``. The structural checks (parameters cell, closing cell) are fast and always run.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT_S = 120  # one cell; a notebook is budgeted ~20 s on 2 cores, this is the hard stop
NOTEBOOK_TIMEOUT_S = 240


def _ids(path: Path) -> str:
    return path.stem


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """The ``python3`` kernel spec, installed for the current user when missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True)
    return "python3"


def test_the_suite_is_complete() -> None:
    """One notebook per trade-off of the senior checklist, plus the capstone."""
    stems = [p.stem for p in NOTEBOOKS]
    assert len(stems) == 9, stems
    assert [s[:2] for s in stems] == [f"{i:02d}" for i in range(1, 10)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_shape(path: Path) -> None:
    """A markdown intro first, a tagged parameters cell near the top, a live closing cell."""
    nb = jupytext.read(path)
    cells = nb.cells
    assert cells[0].cell_type == "markdown"
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] <= 4, f"{path.name}: one parameters cell near the top"
    headings = [c.source for c in cells if c.cell_type == "markdown"]
    assert any("What you should have seen" in h for h in headings), path.name
    assert any("Takeaway" in h for h in headings), path.name
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "matplotlib" not in code
    assert "plotly" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_parameters_cell_is_only_assignments(path: Path) -> None:
    """The cell participants edit holds plain ``NAME = literal`` lines, nothing that computes or imports."""
    nb = jupytext.read(path)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    tree = ast.parse(cell.source)
    assert tree.body, f"{path.name}: empty parameters cell"
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign), f"{path.name}: line {stmt.lineno} is not an assignment"
        ast.literal_eval(stmt.value)  # raises on anything but a literal (numbers, strings, lists, None)
        names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        assert names and all(n.isupper() for n in names), f"{path.name}: parameters are UPPER_CASE names"


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_executes(path: Path, kernel_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every cell; nbclient raises CellExecutionError on the first failing cell."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors
    closing = _closing_text(nb)
    assert closing.strip(), f"{path.name}: the closing cell printed nothing"
    nan = re.search(r"\bnan\b", closing, re.IGNORECASE)
    assert not nan, f"{path.name}: a closing number is NaN:\n{closing}"


def _closing_text(nb: Any) -> str:
    """Everything printed by the code cells under the "What you should have seen" heading."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            inside = "What you should have seen" in cell.source
        elif inside:
            out += [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    return "".join(out)
