"""The facilitator's answer key: the answers the notebooks give, collected by running them.

``python -m wssim.lessons.answer_key`` executes every notebook headless (as CI does: jupytext, then
nbclient on the ``python3`` kernel) and prints, as Markdown, each exercise's question, the model's
answer and its one-line explanation, the notebook's closing findings and its open question. ``python -m
wssim.lessons.answer_key 04 12`` does the same for some notebooks, and ``--set NAME=VALUE`` changes a
parameter first (as a participant would in the parameters cell). Nothing is typed by hand: the
answers are the ones :func:`wssim.lessons.exercises.reveal` displays for the notebook's parameters.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from wssim.lessons.exercises import ANSWER_MIME
from wssim.lessons.lab import NOTEBOOK_DIR, LabError, find_notebook

CELL_TIMEOUT_S = 300


class ParameterError(ValueError):
    """A ``--set`` the notebook cannot take; the message says which parameter and how to fix it."""


def set_parameters(nb: Any, changes: dict[str, str]) -> Any:
    """``nb`` with lines ``NAME = ...`` of its ``parameters`` cell replaced by ``NAME = value``."""
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    for name, value in changes.items():
        hits = [i for i, line in enumerate(lines) if re.match(rf"{re.escape(name)}\s*=", line)]
        if not hits:
            known = ", ".join(m for line in lines if (m := line.split("=")[0].strip()).isupper())
            raise ParameterError(
                f"--set {name}: the notebook has no parameter `{name}`; its parameters are {known}."
            )
        lines[hits[0]] = f"{name} = {value}"
    cell.source = "\n".join(lines)
    return nb


def execute(path: Path, changes: dict[str, str] | None = None) -> Any:
    """The notebook at ``path`` (jupytext percent format) with ``changes`` to its parameters, every cell
    run, working directory its folder."""
    import jupytext
    import nbclient

    nb = set_parameters(jupytext.read(path), changes or {})
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    return nb


def questions(nb: Any) -> dict[str, str]:
    """Each exercise's title by key, from its ``### Exercise NN.k · Title`` heading."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for key, title in re.findall(r"^### Exercise (\d\d\.\d+) · (.+)$", cell.source, re.MULTILINE):
                found[key] = title.strip()
    return found


def answers(nb: Any) -> list[dict[str, str]]:
    """The answers the executed notebook revealed, in order: key, text, why."""
    return [
        out["data"][ANSWER_MIME]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if ANSWER_MIME in out.get("data", {})
    ]


def findings(nb: Any) -> str:
    """What the code cells under the "What you should have seen" heading printed."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            inside = "What you should have seen" in cell.source
        elif inside:
            out += [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    return "".join(out).strip()


def discussion(nb: Any) -> str:
    """The open question the notebook closes on (the text under its ``## For discussion`` heading)."""
    last = nb.cells[-1].source if nb.cells else ""
    return " ".join(last.split("## For discussion", 1)[1].split()) if "## For discussion" in last else ""


def markdown(path: Path, nb: Any, seconds: float | None = None) -> str:
    """The answer key of one executed notebook as Markdown."""
    titles = questions(nb)
    took = f" (ran in {seconds:.0f} s)" if seconds is not None else ""
    lines = [f"### `{path.stem}`{took}", "", "| exercise | the model's answer | why |", "|---|---|---|"]
    for a in answers(nb):
        title = titles.get(a["key"], "")
        lines.append(f"| {a['key']} {title} | **{a['text']}** | {a['why']} |")
    closing = findings(nb)
    if closing:
        lines += ["", "```text", closing, "```"]
    question = discussion(nb)
    if question:
        lines += ["", f"**For discussion.** {question}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the answer key of the notebooks named in ``argv`` (numbers or names; all if none), with
    ``--set NAME=VALUE`` changes to their parameters."""
    parser = argparse.ArgumentParser(
        prog="python -m wssim.lessons.answer_key", description=__doc__.split("\n")[0]
    )
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: every notebook)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        changes = dict(item.split("=", 1) for item in args.set)
        paths = [find_notebook(n) for n in args.notebooks] or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
        for path in paths:
            started = time.perf_counter()
            nb = execute(path, changes)
            print(markdown(path, nb, time.perf_counter() - started), flush=True)
    except (ParameterError, LabError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print("error: --set takes NAME=VALUE, e.g. --set GATEWAYS=8 (a Python literal).", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
