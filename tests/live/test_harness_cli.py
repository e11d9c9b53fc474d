"""`wssim run --engine live`: the CLI drives the harness and writes the simulator's files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_harness import small
from typer.testing import CliRunner

from wssim.cli import app
from wssim.metrics import METRICS

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


def test_wssim_run_engine_live_writes_a_summary_row_with_every_metric(tmp_path: Path) -> None:
    cfg = small("none", faults=[{"kind": "gateway_crash", "at": "2s", "gateway": 0, "restart": False}])
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    args = ["run", str(path), "--engine", "live", "--out", str(out), "--no-report", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1
    assert set(METRICS) <= set(summary.columns)
    row = summary.iloc[0]
    assert row["connections_peak"] == 60 and row["reconnect_attempts"] >= 25
    assert row["herd_convergence_s"] > 0
    assert (out / "timeseries.parquet").exists()
