"""The first hour of a new user, through the real command line (a subprocess each).

Resuming needs only the folder, notes say what a config's units mean, a missing file gets a suggestion
only when one is close, and the help shows what to type. The stand-in engine
(``test_sweep_engine:standin``) keeps the runs short.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

UNIT = Path(__file__).resolve().parent
ENGINE = ["--engine", "test_sweep_engine:standin"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(UNIT), os.environ.get("PYTHONPATH", "")])}


def wssim(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wssim", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=120,
    )


def hinted(stderr: str, prefix: str) -> list[str]:
    """The command printed after ``prefix``, as argv for this Python."""
    line = next(line for line in stderr.splitlines() if prefix in line)
    argv = shlex.split(line.split(prefix, 1)[1])
    assert argv[0] == "wssim", line
    return argv[1:]


def test_the_hint_after_failed_runs_resumes_with_the_set_values_and_replications(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump({"name": "grid", "duration": 60, "sweep": {"gateways.count": [1, 2]}}))
    out = tmp_path / "out"
    first = wssim("run", cfg, "--set", "clients.count=13", "--replications", "2", "--out", out, "-q", *ENGINE)
    assert first.returncode == 1, first.stderr  # clients.count == 13 makes the stand-in fail
    argv = hinted(first.stderr, "Re-run the failed ones with: ")
    assert "--set" not in argv and str(cfg) not in argv  # the folder holds both
    again = wssim(*argv, "-q")
    assert "different config" not in again.stderr, again.stderr
    assert again.returncode == 1 and again.stderr.count("unlucky client count 13") == 4  # 2 points × 2
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["clients"]["count"] == 13 and resolved["replications"] == 2


def test_resume_refuses_another_engine_and_a_different_config(tmp_path):
    out = tmp_path / "out"
    assert (
        wssim("run", "quickstart", "--set", "clients.count=50", "--out", out, "-q", *ENGINE).returncode == 0
    )
    other = wssim("run", "--resume", out, "--engine", "sim", "-q")
    assert other.returncode == 2 and "it was run with `test_sweep_engine:standin`" in other.stderr
    changed = wssim("run", "quickstart", "--resume", out, "-q")
    assert changed.returncode == 2 and "`clients.count`" in changed.stderr
    done = wssim("run", "--resume", out, "-q")
    assert done.returncode == 0, done.stderr


def test_a_decimal_size_is_noted_once(tmp_path):
    cfg = tmp_path / "gb.yaml"
    cfg.write_text("name: gb\ngateways: {memory: 4GB, base_memory: 200MB}\n")
    checked = wssim("validate", cfg)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.count("note:") == 1, checked.stderr
    assert "4,000,000,000 bytes" in checked.stderr and "`4GiB` (4,294,967,296 bytes)" in checked.stderr
    assert "base_memory: 200MB" in checked.stderr
    run = wssim("run", cfg, "--out", tmp_path / "out", *ENGINE)
    assert run.returncode == 0 and run.stderr.count("4,000,000,000 bytes") == 1, run.stderr
    manifest = yaml.safe_load((tmp_path / "out" / "manifest.json").read_text())
    assert [n["topic"] for n in manifest["notes"]] == ["units"]
    binary = tmp_path / "gib.yaml"
    binary.write_text("name: gib\ngateways: {memory: 4GiB}\n")
    assert "note:" not in wssim("validate", binary).stderr


def test_a_missing_file_gets_a_suggestion_only_when_a_name_is_close(tmp_path):
    (tmp_path / "empty.yaml").write_text("name: e\n")
    (tmp_path / "my-fleet.yaml").write_text("name: f\n")
    far = wssim("validate", "nope.yaml", cwd=tmp_path)
    assert far.returncode == 2 and "did you mean" not in far.stderr.lower(), far.stderr
    near = wssim("validate", "my-flet.yaml", cwd=tmp_path)
    assert "Did you mean `my-fleet.yaml`?" in near.stderr
    other_extension = wssim("validate", "my-fleet.yml", cwd=tmp_path)
    assert "Did you mean `my-fleet.yaml`?" in other_extension.stderr
    scenario = wssim("validate", "hred", cwd=tmp_path)
    assert "Did you mean `herd`?" in scenario.stderr


def test_the_help_shows_what_to_type_not_python_types():
    for command in ("run", "validate", "crosscheck", "schema", "report"):
        text = wssim(command, "--help").stdout
        options = text[text.index("Options:") :] if "Options:" in text else ""
        assert "<" not in options, (command, options)
    run = wssim("run", "--help").stdout
    assert "--set PATH=VALUE" in run and "--resume DIR" in run and "--workers N" in run


def test_a_run_that_cannot_fit_in_memory_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "absurd"
    for argv in (["validate", "quickstart"], ["run", "quickstart", "--out", out]):
        refused = wssim(*argv, "--set", "clients.count=1000000000")
        assert refused.returncode == 2, refused
        assert "Traceback" not in refused.stderr and "MemoryError" not in refused.stderr
        assert "clients.count = 1,000,000,000" in refused.stderr, refused.stderr
        assert "of memory" in refused.stderr and "available" in refused.stderr
        assert "lower clients.count to at most about" in refused.stderr
        assert "Results in" not in refused.stdout and "report.html" not in refused.stdout
    assert not out.exists()


def test_a_long_run_says_how_long_before_it_starts(tmp_path):
    argv = ["herd", "--set", "clients.count=200000", "--replications", "10", "--workers", "2"]
    checked = wssim("validate", "herd", "--set", "clients.count=200000", "--set", "replications=10")
    assert checked.returncode == 0, checked.stderr
    assert "note: this will take about" in checked.stderr and " min: 60 runs of about " in checked.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "wssim", "run", *argv, "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        first = proc.stderr.readline() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert first.startswith("note: this will take about"), first
    assert "60 runs of about" in first and "2 at a time" in first
    short = wssim("validate", "herd")
    assert "will take" not in short.stderr  # a run of a few seconds says nothing


def test_runs_that_fit_alone_but_not_together_are_refused_with_the_workers_that_fit():
    from wssim.config import load_config
    from wssim.sweep import SweepError, footprint, plan

    runs = plan(load_config("herd", ["clients.count=1000000"]))
    one = footprint.estimate(runs[0].config).memory
    machine = (int(one * 2.5), int(one * 3))  # available, total: two runs fit in 90% of it
    footprint.check_memory(runs, 2, machine)
    with pytest.raises(SweepError, match=r"3 runs at a time need about .* Run with --workers 2"):
        footprint.check_memory(runs, 3, machine)
    with pytest.raises(SweepError, match=r"lower clients\.count to at most about"):
        footprint.check_memory(runs, 1, (int(one * 0.5), int(one)))


def test_an_empty_config_is_refused_through_the_cli(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    for command in ("validate", "run"):
        result = wssim(command, empty, *(["--out", tmp_path / "out"] if command == "run" else []))
        assert result.returncode == 2 and "is empty" in result.stderr, result
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_readme_lists_every_output_file():
    from wssim.cli import OUTPUT_FILES

    readme = (UNIT.parent.parent / "README.md").read_text(encoding="utf-8")
    quickstart = readme[readme.index("## Quickstart") : readme.index("## What you can do")]
    for name, _ in OUTPUT_FILES:
        if name != "`partial/`":  # only while a run is in flight
            assert name in quickstart, name


def test_a_run_into_a_log_prints_plain_progress_lines(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump({"name": "grid", "duration": 60, "sweep": {"gateways.count": [1, 2]}}))
    logged = wssim("run", cfg, "--replications", "5", "--out", tmp_path / "out", "--workers", "2", *ENGINE)
    assert logged.returncode == 0, logged.stderr
    lines = [line for line in logged.stderr.splitlines() if "runs done" in line]
    assert len(lines) == 10, logged.stderr  # one at each tenth of the 10 runs
    assert lines[0].startswith("grid: 10 runs: 1/10 runs done (10%), ") and "elapsed, about" in lines[0]
    assert lines[-1].startswith("grid: 10 runs: 10/10 runs done (100%), ") and "to go" not in lines[-1]
    assert "━" not in logged.stderr  # no bar drawn into a file


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The end table's rows: metric -> its cells."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) > 1 and cells[0].replace("_", "").isalnum():
            rows[cells[0]] = cells[1:]
    return rows


def test_the_end_table_shows_figures_as_precise_as_their_interval_with_units(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump({"name": "grid", "duration": 60, "sweep": {"gateways.count": [1, 2]}}))
    two = wssim("run", cfg, "--replications", "2", "--out", tmp_path / "two", *ENGINE)
    assert two.returncode == 0, two.stderr
    rows = _table_rows(two.stdout)
    for metric, cells in rows.items():
        for cell in cells:
            if "±" not in cell:
                continue
            value, rest = cell.split(" ± ")
            half = rest.split(" ")[0]
            decimals = len(half.split(".")[1]) if "." in half else 0
            assert (len(value.split(".")[1]) if "." in value else 0) >= decimals, (metric, cell)
            if abs(float(value.replace(",", ""))) >= float(half.replace(",", "")):
                assert half.replace("0", "").replace(".", "").replace(",", "") != "", cell
                assert len(half.replace(".", "").replace(",", "").strip("0")) == 1, (metric, cell)
    assert all(c.endswith(" /s †") for c in rows["peak_handshake_rate"])  # a rate says per second
    assert all(" s" in c and " ms" not in c for c in rows["herd_convergence_s"])
    assert all(" ms" in c for c in rows["latency_p99_s"])  # one unit for the row
    assert all(c.endswith("†") for cells in rows.values() for c in cells if "±" in c)  # n = 2
    assert "† too wide to mean much: from fewer than 3 replications" in two.stdout

    five = wssim("run", cfg, "--replications", "5", "--out", tmp_path / "five", *ENGINE)
    rows = _table_rows(five.stdout)
    assert any("±" in c and "†" not in c for c in rows["herd_convergence_s"]), five.stdout


def test_a_metric_emptied_by_the_warm_up_is_not_called_zero(tmp_path):
    cfg = tmp_path / "warm.yaml"
    cfg.write_text(yaml.safe_dump({"name": "warm", "duration": 60, "warmup": 59}))
    result = wssim("run", cfg, "--out", tmp_path / "out", *ENGINE)  # every handshake before 59 s
    assert result.returncode == 0, result.stderr
    zero = next(line for line in result.stdout.splitlines() if line.startswith("zero at every point"))
    assert "peak_handshake_rate" not in zero and "latency_p99_s" not in zero
    warm = next(line for line in result.stdout.splitlines() if line.startswith("empty after the 59 s"))
    assert "peak_handshake_rate" in warm and "latency_p99_s" in warm and "warmup: 0" in warm
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Empty after the 59 s warm-up" in report
    assert "peak_handshake_rate" not in report.split("Zero at every point:")[1].split("</p>")[0]


def test_results_point_at_a_report_only_when_one_was_written(tmp_path):
    cfg = tmp_path / "one.yaml"
    cfg.write_text(yaml.safe_dump({"name": "one", "duration": 60}))
    bare = wssim("run", cfg, "--no-report", "--out", tmp_path / "bare", *ENGINE)
    assert bare.returncode == 0, bare.stderr
    assert f"Results in {tmp_path / 'bare'}" in bare.stdout and "report.html" not in bare.stdout
    assert not (tmp_path / "bare" / "report.html").exists()
    failed = wssim("run", cfg, "--set", "clients.count=13", "--out", tmp_path / "failed", *ENGINE)
    assert failed.returncode == 1 and "report.html" not in failed.stdout, failed.stdout
    assert not (tmp_path / "failed" / "report.html").exists()


def test_a_single_long_run_prints_its_time_to_go(tmp_path):
    """One run in a worker process (progress travels through the pool's channel) past the 10 s of a
    plain line: the line says how long the run has to go before it is done."""
    cfg = tmp_path / "long.yaml"
    cfg.write_text(yaml.safe_dump({"name": "long", "duration": 60}))
    env = {**ENV, "WSSIM_TEST_SLEEP": "16"}  # ten progress steps, 1.6 s apart
    logged = subprocess.run(
        [
            sys.executable,
            "-m",
            "wssim",
            "run",
            str(cfg),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            *ENGINE,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert logged.returncode == 0, logged.stderr
    first = next(line for line in logged.stderr.splitlines() if "runs done" in line)
    assert first.startswith("long: 1 run: 0/1 runs done (0%), ") and "s to go" in first, logged.stderr
