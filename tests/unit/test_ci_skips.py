"""Under CI a skip fails the run: a missing module or server must not pass silently."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest(tmp_path: Path, body: str, ci: bool) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests"
    tests.mkdir(parents=True)
    (tests / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tests / "test_probe.py").write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


IMPORT_FAILS = """
    import pytest
    mod = pytest.importorskip("wssim_no_such_module")

    def test_uses_it():
        assert mod
"""

SKIPS_IN_TEST = """
    import pytest

    def test_needs_a_server():
        pytest.skip("redis-server not found")
"""


def test_a_module_that_cannot_be_imported_fails_the_run_under_ci(tmp_path: Path) -> None:
    done = _pytest(tmp_path, IMPORT_FAILS, ci=True)
    assert done.returncode != 0, done.stdout
    assert "skipped under CI" in done.stdout


def test_a_skip_inside_a_test_fails_under_ci_and_is_a_skip_locally(tmp_path: Path) -> None:
    assert _pytest(tmp_path / "ci", SKIPS_IN_TEST, ci=True).returncode != 0
    local = _pytest(tmp_path / "local", SKIPS_IN_TEST, ci=False)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
