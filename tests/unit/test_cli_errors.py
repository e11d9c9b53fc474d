"""`wssim validate` on bad configs: one paragraph on stderr naming the field, exit code 2, no traceback.

Every case runs the real command line in a subprocess; the processes are started together so the
module costs about one CLI start-up per core.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# name -> (YAML text or None for no file, extra arguments, fragments expected on stderr)
Case = tuple[str | None, list[str], list[str]]
Results = dict[tuple[str, str], subprocess.CompletedProcess[str]]
CASES: dict[str, Case] = {
    "unknown_field": (
        "name: t\ngatways:\n  count: 3\n",
        [],
        ["line 2", "unknown field `gatways`", "did you mean `gateways`?"],
    ),
    "wrong_unit": (
        "clients:\n  connect_ramp: 10 minutes\n",
        [],
        ["line 2", "`clients.connect_ramp`", "`min`"],
    ),
    "negative_count": ("clients:\n  count: -5\n", [], ["line 2", "`clients.count` must be at least 0"]),
    "wrong_type": ("gateways:\n  count: four\n", [], ["`gateways.count` must be an integer"]),
    "malformed_yaml": ("name: t\nclients:\n  count: 5\n gateways: 3\n", [], ["line 4", "not valid YAML"]),
    "missing_file": (None, [], ["not found", "did you mean", "quickstart"]),
    "bad_sweep_path": ("sweep:\n  gatways.count: [2, 4]\n", [], ["line 2", "sweep path `gatways.count`"]),
    "bad_override": (
        "name: t\n",
        ["--set", "gateways.cont=3"],
        ["--set gateways.cont=3", "did you mean `count`?"],
    ),
    "bad_override_value": (
        "name: t\n",
        ["--set", "gateways.count=x"],
        ["`gateways.count` must be an integer"],
    ),
    "empty_file": ("", [], ["is empty", "almost certainly not what you meant", "wssim scenarios"]),
    "comments_only": ("# a fleet, one day\n", [], ["is empty"]),
}


# Every verb that takes a config reports a bad one the same way; `run` must not start anything.
CASES["run_unknown_field"] = CASES["unknown_field"]
CASES["run_empty_file"] = CASES["empty_file"]
VERBS = {"run_unknown_field": ["run"], "run_empty_file": ["run"]}


def _command(entry: str) -> list[str]:
    if entry == "module":
        return [sys.executable, "-m", "wssim.cli"]
    return [str(Path(sys.executable).with_name("wssim"))]


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("cli")
    entries = ["module"]
    if Path(sys.executable).with_name("wssim").exists():
        entries.append("script")
    running: dict[tuple[str, str], subprocess.Popen[str]] = {}
    for name, (text, extra, _) in CASES.items():
        path = folder / f"{name}.yaml"
        if text is not None:
            path.write_text(text)
        target = str(path) if text is not None else str(folder / "quickstrat.yaml")
        # The console script is exercised on one case; the module entry on every case.
        for entry in entries if name == "unknown_field" else ["module"]:
            running[(name, entry)] = subprocess.Popen(
                [*_command(entry), *VERBS.get(name, ["validate"]), target, *extra],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=folder,
            )
    done: Results = {}
    for key, proc in running.items():
        out, err = proc.communicate(timeout=120)
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.mark.parametrize("name", list(CASES))
def test_validate_reports_one_paragraph_and_exits_2(results: Results, name: str) -> None:
    fragments = CASES[name][2]
    for (case, entry), proc in results.items():
        if case != name:
            continue
        assert proc.returncode == 2, (entry, proc.stderr)
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
        assert "pydantic" not in proc.stderr
        target = next(Path(arg) for arg in proc.args if str(arg).endswith(".yaml"))
        assert not (target.parent / "runs").exists(), "a bad config must not create output"
        message = proc.stderr.strip()
        assert message.count("\n") == 0, message
        for fragment in fragments:
            assert fragment.lower() in message.lower(), (fragment, message)


def test_console_script_was_exercised(
    results: dict[tuple[str, str], subprocess.CompletedProcess[str]],
) -> None:
    if not Path(sys.executable).with_name("wssim").exists():
        pytest.skip("the `wssim` console script is not installed next to this Python (pip install -e .)")
    assert ("unknown_field", "script") in results
