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

from wssim.lessons.answer_key import findings

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT_S = 120  # one cell; a notebook is budgeted ~20 s on 2 cores, this is the hard stop
NOTEBOOK_TIMEOUT_S = 240
MAX_CELL_LINES = 20  # a cell a participant reads without scrolling


def _ids(path: Path) -> str:
    return path.stem


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """The ``python3`` kernel spec, installed for the current user when missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True)
    return "python3"


def test_the_readme_table_lists_every_notebook() -> None:
    """Each notebook has a unique two-digit number and a row in notebooks/README.md, and every row a file."""
    stems = [p.stem for p in NOTEBOOKS]
    assert len({s[:2] for s in stems}) == len(stems), stems
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\d\d_\w+)\.py` \|", readme, re.MULTILINE))
    assert rows == set(stems)


def exercises(nb: Any) -> list[tuple[str, int, int, int]]:
    """Each exercise as (key, its question cell, its prediction cell, its reveal cell) by cell index."""
    found = []
    for i, cell in enumerate(nb.cells):
        for key in re.findall(r"^### Exercise (\d\d\.\d+)", cell.source, re.MULTILINE):
            n = key.split(".")[1]
            predict = [j for j, c in enumerate(nb.cells) if re.match(rf"prediction_{n} = ", c.source)]
            reveal = [
                j for j, c in enumerate(nb.cells) if re.search(rf'reveal\(\s*"{re.escape(key)}"', c.source)
            ]
            found.append((key, i, predict[0] if predict else -1, reveal[0] if reveal else -1))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_exercises_predict_then_run_then_reveal(path: Path) -> None:
    """At least two exercises, each: a question, a prediction cell after it, the run and its reveal later."""
    nb = jupytext.read(path)
    found = exercises(nb)
    assert len(found) >= 2, f"{path.name}: {len(found)} exercises"
    for key, question, predict, reveal in found:
        assert key.startswith(path.stem[:2] + "."), (
            f"{path.name}: exercise {key} is numbered for another notebook"
        )
        assert question < predict < reveal, f"{path.name}: exercise {key} is not question, prediction, reveal"
        source = nb.cells[predict].source.strip()
        assert source.splitlines()[0].startswith(f"prediction_{key.split('.')[1]} = None"), source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_an_interactive_cell_simulates_and_a_question_closes(path: Path) -> None:
    """One cell calls ``explore`` with a simulation from the lessons; the last cell asks one open question."""
    nb = jupytext.read(path)
    interactive = [c for c in nb.cells if c.cell_type == "code" and "explore(" in c.source]
    assert len(interactive) == 1, f"{path.name}: one interactive cell"
    assert re.search(r"explore\(\s*\w+\.\w+,\s*\w+\.\w+", interactive[0].source), interactive[0].source
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "## For discussion" in last.source, path.name
    question = last.source.split("## For discussion", 1)[1]
    assert question.count("?") >= 1, f"{path.name}: the discussion ends on a question"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_cells_read_like_a_lesson(path: Path) -> None:
    """Analysis lives in wssim.lessons: no code cell is longer than a screenful, no function is defined."""
    nb = jupytext.read(path)
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, ast.FunctionDef | ast.ClassDef) for n in ast.walk(tree)), cell.source
        assert len(cell.source.splitlines()) <= MAX_CELL_LINES, (
            f"{path.name}: a cell of {len(cell.source.splitlines())} lines"
        )


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
    closing = findings(nb)
    assert closing.strip(), f"{path.name}: the closing cell printed nothing"
    nan = re.search(r"\bnan\b", closing, re.IGNORECASE)
    assert not nan, f"{path.name}: a closing number is NaN:\n{closing}"
