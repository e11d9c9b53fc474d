"""``wssim lab``: JupyterLab on the teaching notebooks, the ``.py`` files opened as notebooks.

The notebooks are jupytext percent-format ``.py`` files in the source checkout's ``notebooks/``. JupyterLab
opens a ``.py`` file in its text editor unless the "Jupytext Notebook" viewer is the default for Python
files; ``labsettings/overrides.json`` makes it so, handed to JupyterLab as its application settings
directory (the user's own settings still apply on top).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
SETTINGS_DIR = Path(__file__).resolve().parent / "labsettings"
NEEDED = ("jupyterlab", "jupytext", "ipywidgets", "ipykernel")


class LabError(ValueError):
    """JupyterLab cannot be started as asked; the message says why and how to fix it."""


def missing_packages() -> list[str]:
    """The packages JupyterLab needs for the notebooks that are not installed."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def find_notebook(name: str, folder: Path = NOTEBOOK_DIR) -> Path:
    """The notebook ``name`` names: a file name, a stem, or its two-digit number (``04``)."""
    candidates = sorted(folder.glob("[0-9][0-9]_*.py"))
    for path in candidates:
        if name in (path.name, path.stem, path.stem[:2]):
            return path
    shown = ", ".join(p.stem for p in candidates)
    raise LabError(f"no notebook `{name}` in {folder}: give its number or name, one of {shown}.")


def lab_command(
    notebook: str | None = None,
    port: int | None = None,
    browser: bool = True,
    extra: list[str] | tuple[str, ...] = (),
    folder: Path = NOTEBOOK_DIR,
) -> list[str]:
    """The ``jupyter lab`` command line that serves ``folder`` (opening ``notebook`` if given)."""
    missing = missing_packages()
    if missing:
        raise LabError(
            f"`wssim lab` needs {', '.join(missing)}, which is not installed. Install the notebook extras "
            "from the source checkout: pip install -e '.[notebooks]' (the development install "
            "'.[dev]' includes them)."
        )
    if not folder.is_dir():
        raise LabError(
            f"the notebooks are not at {folder}: they ship with the source checkout, not the package. "
            "Clone the repository and install it with pip install -e '.[dev]'."
        )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}",
    ]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    cmd += list(extra)
    if notebook is not None:
        cmd.append(str(find_notebook(notebook, folder)))
    return cmd
