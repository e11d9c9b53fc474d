"""`wssim lab`: the JupyterLab command it starts and its errors (the real JupyterLab is driven in
tests/integration/test_jupyterlab_browser.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wssim.lessons.lab import NOTEBOOK_DIR, SETTINGS_DIR, LabError, find_notebook, lab_command

WSSIM = [sys.executable, "-m", "wssim"]


def test_help_works_after_the_development_install():
    proc = subprocess.run([*WSSIM, "lab", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "JupyterLab" in proc.stdout and "--port" in proc.stdout


def test_an_unknown_notebook_is_one_paragraph_and_exit_2():
    proc = subprocess.run([*WSSIM, "lab", "99"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no notebook `99`" in proc.stderr and "04_reconnect_storms" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_command_serves_the_notebooks_with_python_files_opening_as_notebooks():
    cmd = lab_command("04", port=8999, browser=False, extra=["--IdentityProvider.token=t"])
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={NOTEBOOK_DIR}" in cmd
    assert "--ServerApp.port=8999" in cmd and "--no-browser" in cmd and "--IdentityProvider.token=t" in cmd
    assert cmd[-1] == str(NOTEBOOK_DIR / "04_reconnect_storms.py")
    settings = json.loads((SETTINGS_DIR / "overrides.json").read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"python": "Jupytext Notebook"}
    assert f"--LabApp.app_settings_dir={SETTINGS_DIR}" in cmd


@pytest.mark.parametrize("name", ["04", "04_reconnect_storms", "04_reconnect_storms.py"])
def test_a_notebook_is_found_by_number_stem_or_file_name(name):
    assert find_notebook(name) == NOTEBOOK_DIR / "04_reconnect_storms.py"


def test_a_missing_notebook_folder_says_where_the_notebooks_come_from(tmp_path):
    with pytest.raises(LabError, match="source checkout"):
        lab_command(folder=tmp_path / "nowhere")
