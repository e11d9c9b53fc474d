"""Crosscheck: prediction intervals, agreement labels, and the comparison table (stand-in engines)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_sweep_engine import standin

from wssim.crosscheck import agreement, crosscheck, prediction_interval


def live_standin(config, replication=0, progress=None):
    """The stand-in as a 'live' engine: same numbers, one metric far off, one not measured."""
    result = standin(config, replication, progress)
    result.metrics["messages_published"] *= 3
    result.metrics["latency_p99_s"] = math.nan
    result.info["engine"] = "live"
    return result


def test_prediction_interval_is_wider_than_the_confidence_interval():
    values = np.array([10.0, 12.0, 11.0, 13.0, 9.0])
    low, high = prediction_interval(values)
    std = np.std(values, ddof=1)
    assert high - low == pytest.approx(2 * 2.7764451051977987 * std * math.sqrt(1 + 1 / 5))
    assert (low + high) / 2 == pytest.approx(11.0)
    assert all(math.isnan(v) for v in prediction_interval(np.array([1.0])))


@pytest.mark.parametrize(
    ("live", "mean", "low", "high", "expected"),
    [
        (10.5, 10.0, 9.0, 11.0, "agrees"),
        (10.8, 10.0, math.nan, math.nan, "close"),
        (20.0, 10.0, 9.0, 11.0, "differs"),
        (math.nan, 10.0, 9.0, 11.0, "not live"),
        (1.0, math.nan, math.nan, math.nan, "not simulated"),
        (math.nan, math.nan, math.nan, math.nan, "n/a"),
    ],
)
def test_agreement_labels(live, mean, low, high, expected):
    assert agreement(live, mean, low, high) == expected


def test_crosscheck_compares_every_measured_metric(tmp_path):
    cfg = {"name": "cc", "duration": 60, "replications": 4, "clients": {"count": 150}}
    result = crosscheck(
        cfg, out=tmp_path / "cc", progress=False, workers=1, sim_engine=standin, live_engine=live_standin
    )
    rows = result.table.set_index("metric")
    assert rows.loc["connections_peak", "agreement"] == "agrees"
    assert rows.loc["messages_published", "agreement"] == "differs"
    assert rows.loc["latency_p99_s", "agreement"] == "not live"
    assert rows.loc["herd_convergence_s", "sim_n"] == 4
    assert "deliveries_delivered" not in rows.index  # zero in both engines: nothing to compare
    assert (tmp_path / "cc" / "comparison.csv").exists()
    assert (tmp_path / "cc" / "crosscheck.html").exists()
    assert (tmp_path / "cc" / "sim" / "summary.csv").exists() and (
        tmp_path / "cc" / "live" / "summary.csv"
    ).exists()


def test_the_crosscheck_table_keeps_whole_names_and_one_unit_per_row(tmp_path):
    import io

    from rich.console import Console

    from wssim.cli import print_crosscheck

    checks = [
        {"metric": m, "tolerance": "interval", "reason": "stand-in"}
        for m in ("herd_convergence_s", "latency_p50_s", "peak_handshake_rate", "connections_peak")
    ]
    cfg = {"name": "cc", "duration": 60, "replications": 4, "clients": {"count": 150},
           "crosscheck": {"checks": checks}}  # fmt: skip
    result = crosscheck(
        cfg, out=tmp_path / "cc", progress=False, workers=1, sim_engine=standin, live_engine=live_standin
    )
    buffer = io.StringIO()
    print_crosscheck("cc", result, Console(file=buffer, width=70, force_terminal=False))
    text = buffer.getvalue()
    assert "…" not in text
    rows = {line.split("│")[2].strip(): line for line in text.splitlines() if line.count("│") > 4}
    for check in checks:
        assert check["metric"] in rows, text
    assert rows["herd_convergence_s"].count(" s") >= 1 and " ms" not in rows["herd_convergence_s"]
    assert " ms" in rows["latency_p50_s"] and "/s" in rows["peak_handshake_rate"]
