"""The `wssim` command line, in process (typer's runner) with the stand-in engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from wssim.cli import app, cli_markdown

ENGINE = "test_sweep_engine:standin"
CONFIG = {
    "name": "cli-grid",
    "duration": 60,
    "replications": 2,
    "faults": [{"kind": "gateway_crash", "at": 30}],
    "sweep": {"clients.count": [100, 200], "gateways.count": [1, 2]},
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_run_writes_every_output_and_prints_the_table(runner, config_file, tmp_path):
    out = tmp_path / "out"
    res = invoke(runner, "run", config_file, "--out", out, "--engine", ENGINE, "--executor", "serial")
    assert res.exit_code == 0, res.output
    for name in ("summary.csv", "aggregate.csv", "timeseries.parquet", "config.resolved.yaml", "report.html"):
        assert (out / name).exists(), name
    assert "cli-grid" in res.stdout and "connections_peak" in res.stdout
    assert "Results in" in res.stdout
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 4 * 2


def test_run_options_set_and_replications(runner, config_file, tmp_path):
    out = tmp_path / "out"
    args = ["run", config_file, "--out", out, "--engine", ENGINE, "--executor", "serial", "-q"]
    res = invoke(runner, *args, "--set", "duration=30s", "--replications", "3")
    assert res.exit_code == 0, res.output
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["duration"] == 30 and resolved["replications"] == 3
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 4 * 3


def test_bad_config_exits_2_and_writes_nothing(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ngatways:\n  count: 3\n")
    out = tmp_path / "out"
    res = invoke(runner, "run", bad, "--out", out, "--engine", ENGINE)
    assert res.exit_code == 2
    assert "gatways" in res.stderr and "Traceback" not in res.output
    assert res.stderr.strip().count("\n") == 0
    assert not out.exists()


def test_bad_override_exits_2_and_writes_nothing(runner, config_file, tmp_path):
    out = tmp_path / "out"
    res = invoke(runner, "run", config_file, "--out", out, "--set", "gateways.cont=3", "--engine", ENGINE)
    assert res.exit_code == 2 and "did you mean" in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--executor", "spark"], "--executor must be one of"),
        (["--engine", "warp"], "--engine must be one of"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
        (["--engine", "no_such_module_x:fn"], "cannot be imported"),
    ],
)
def test_bad_arguments_exit_2(runner, config_file, tmp_path, extra, fragment):
    out = tmp_path / "out"
    res = invoke(runner, "run", config_file, "--out", out, *extra)
    assert res.exit_code == 2, res.output
    assert fragment in res.stderr
    assert not out.exists()


def test_existing_out_folder_is_not_overwritten(runner, config_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = invoke(runner, "run", config_file, "--out", out, "--engine", ENGINE)
    assert res.exit_code == 2 and "not empty" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_failing_point_exits_1_and_keeps_the_rest(runner, tmp_path):
    cfg = tmp_path / "fail.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, "sweep": {"clients.count": [100, 13]}}))
    out = tmp_path / "out"
    res = invoke(runner, "run", cfg, "--out", out, "--engine", ENGINE, "--executor", "serial", "-q")
    assert res.exit_code == 1
    assert "clients.count=13" in res.stderr and "unlucky client count 13" in res.stderr
    assert "--resume" in res.stderr and "Traceback" not in res.stderr
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 2
    res = invoke(
        runner, "run", cfg, "--resume", out, "--engine", ENGINE, "--executor", "serial", "-q", "--debug"
    )
    assert res.exit_code == 1 and "Traceback" in res.stderr and "unlucky" in res.stderr


def test_resume_runs_only_what_is_missing(runner, config_file, tmp_path, monkeypatch):
    log = tmp_path / "log.txt"
    monkeypatch.setenv("WSSIM_TEST_LOG", str(log))
    out = tmp_path / "out"
    base = ["--engine", ENGINE, "--executor", "serial", "-q"]
    assert invoke(runner, "run", config_file, "--out", out, *base).exit_code == 0
    assert len(log.read_text().splitlines()) == 8
    res = invoke(runner, "run", config_file, "--resume", out, "--replications", "3", *base)
    assert res.exit_code == 0, res.output
    assert len(log.read_text().splitlines()) == 8 + 4
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 12
    res = invoke(runner, "run", config_file, "--resume", out, "--set", "duration=90", *base)
    assert res.exit_code == 2 and "different config" in res.stderr


def test_validate_scenarios_schema_report(runner, config_file, tmp_path):
    res = invoke(runner, "validate", config_file)
    assert res.exit_code == 0 and "4 points × 2 replications = 8 runs" in res.stdout
    res = invoke(runner, "scenarios")
    assert res.exit_code == 0 and "quickstart" in res.stdout
    schema = tmp_path / "schema.json"
    res = invoke(runner, "schema", "--out", schema)
    assert res.exit_code == 0
    assert "properties" in json.loads(schema.read_text())
    out = tmp_path / "out"
    assert (
        invoke(runner, "run", config_file, "--out", out, "--engine", ENGINE, "-q", "--no-report").exit_code
        == 0
    )
    assert not (out / "report.html").exists()
    res = invoke(runner, "report", out)
    assert res.exit_code == 0 and (out / "report.html").stat().st_size > 100_000


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(runner, config_file, tmp_path):
    out = tmp_path / "out"
    assert (
        invoke(runner, "run", config_file, "--out", out, "--engine", ENGINE, "-q", "--no-report").exit_code
        == 0
    )
    (out / "summary.csv").write_text("garbage\n1\n")
    res = invoke(runner, "report", out)
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and res.stderr.strip().count("\n") == 0
    assert "--debug" in res.stderr
    res = invoke(runner, "--debug", "report", out)
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_report_of_a_folder_without_results_exits_2(runner, tmp_path):
    res = invoke(runner, "report", tmp_path)
    assert res.exit_code == 2 and "no results" in res.stderr


def test_cli_reference_lists_every_command_and_option():
    text = cli_markdown()
    for name in ("run", "validate", "schema", "scenarios", "report", "crosscheck", "docs"):
        assert f"## `wssim {name}`" in text
    for option in (
        "--out",
        "--set",
        "--replications",
        "--workers",
        "--executor",
        "--scheduler",
        "--engine",
        "--resume",
    ):
        assert f"`{option}`" in text


def test_committed_cli_reference_is_up_to_date():
    from wssim.cli import CLI_DOC_PATH

    assert CLI_DOC_PATH.read_text() == cli_markdown(), "docs/reference/cli.md is stale: run `wssim docs`"


def test_module_entry_point_prints_help():
    proc = subprocess.run(
        [sys.executable, "-m", "wssim", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for name in ("run", "validate", "crosscheck", "scenarios", "report", "schema"):
        assert name in proc.stdout
