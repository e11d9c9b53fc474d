"""Report building blocks on hand-made results: formatting, verdicts, figures, the HTML page."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wssim.report import (
    build_html,
    human,
    metric_spec,
    short_name,
    timeseries_spec,
    varying_metrics,
    verdicts,
)
from wssim.sweep import Results


def make_results(faults=({"kind": "gateway_crash", "at": 5},)) -> Results:
    rows = []
    for point, (strategy, gws) in enumerate(
        [("none", 2), ("none", 4), ("full_jitter", 2), ("full_jitter", 4)]
    ):
        for rep in range(3):
            rows.append(
                {
                    "point": point,
                    "replication": rep,
                    "seed": 1,
                    "clients.reconnect.strategy": strategy,
                    "gateways.count": gws,
                    "connections_peak": 100.0 * gws,
                    "gateway_oom_crashes": 1.0 if (point == 0 and rep == 1) else 0.0,
                    "messages_lost": 3.0 * (point == 1),
                    "herd_convergence_s": math.nan if (point == 2 and rep == 0) else 2.0 + point + rep,
                    "latency_p99_s": 0.05,
                }
            )
    summary = pd.DataFrame(rows)
    ts = []
    for point in range(4):
        for rep in range(3):
            rid = f"p{point:03d}-r{rep:03d}"
            for t in (0.0, 1.0, 2.0):
                for g in ("0", "1"):
                    ts.append((rid, point, rep, t, "connections", g, 10.0 * (t + 1)))
            ts.append((rid, point, rep, 3.0, "handshakes", "", 7.0))  # a rate series with one busy bin
    timeseries = pd.DataFrame(ts, columns=["run", "point", "replication", "time", "series", "label", "value"])
    markers = {f"p{p:03d}-r{r:03d}": [(5.0, "gateway 0 crash")] for p in range(4) for r in range(3)}
    config = {"name": "hand-made", "duration": 10.0, "interval": 1.0, "seed": 1, "faults": list(faults)}
    params = ["clients.reconnect.strategy", "gateways.count"]
    failures = [
        {"point": 3, "replication": 2, "params": {"gateways.count": 4}, "error": "RuntimeError: boom"},
    ]
    return Results(summary, timeseries, markers, params, config, failures, None, {"engine": "sim"})


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (3 * 2**30, "bytes", "3 GiB"),
        (1536, "bytes", "1.5 KiB"),
        (0.25, "s", "250 ms"),
        (90.0, "s", "90 s"),
        (0.125, "fraction", "12.5%"),
        (1234567.0, "messages", "1,234,567"),
        (0.333333, "messages", "0.333"),
        (math.nan, "s", "–"),
        (math.inf, "s", "∞"),
        (850.0, "USD/month", "$850/mo"),
    ],
)
def test_human(value, unit, text):
    assert human(value, unit) == text


def test_short_names_stay_unambiguous():
    params = ["clients.count", "gateways.count", "clients.reconnect.strategy", "a.x.y", "b.x.y"]
    assert short_name("clients.reconnect.strategy", params) == "reconnect.strategy"
    assert short_name("gateways.count", params) == "gateways.count"
    assert short_name("a.x.y", params) == "a.x.y"
    assert short_name("seed", params) == "seed"


def test_verdicts_count_runs_per_point():
    v = {row["point"]: row for row in verdicts(make_results())}
    assert v[0]["oom"] == 1 and v[1]["oom"] == 0
    assert v[1]["lost"] == 3 and v[1]["lost_mean"] == 3.0 and v[0]["lost"] == 0
    assert v[2]["noconv"] == 1 and v[3]["noconv"] == 0
    assert v[3]["failed"] == 1 and v[0]["failed"] == 0
    # without a crash or deploy there is nothing to converge from
    assert {row["noconv"] for row in verdicts(make_results(faults=()))} == {None}


def test_metric_figure_has_one_line_per_other_value_with_ci():
    res = make_results()
    spec = metric_spec(res, "herd_convergence_s", x="clients.reconnect.strategy")
    assert [t["name"] for t in spec["data"]] == ["gateways.count=2", "gateways.count=4"]
    first = spec["data"][0]
    assert first["x"] == ["none", "full_jitter"]
    assert first["y"] == [3.0, 5.5]  # point 2 has one NaN replication: mean of the other two (5, 6)
    assert first["error_y"]["array"][0] == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert spec["layout"]["yaxis"]["title"]["text"] == "herd_convergence_s (s)"
    with pytest.raises(KeyError):
        metric_spec(res, "no_such_metric")


def test_rate_series_fill_empty_bins_with_zero_and_markers_are_drawn():
    spec = timeseries_spec(make_results(), "handshakes")
    trace = spec["data"][0]
    assert trace["x"] == [float(t) for t in range(10)]
    assert trace["y"][3] == 7.0 and sum(trace["y"]) == 7.0
    assert spec["layout"]["shapes"][0]["x0"] == 5.0
    conn = timeseries_spec(make_results(), "connections")["data"][0]
    assert conn["y"] == [20.0, 40.0, 60.0]  # gateways summed
    assert sum(1 for t in timeseries_spec(make_results(), "connections")["data"] if t["showlegend"]) == 4


def test_results_series_has_the_sweep_values_and_zero_filled_rate_bins():
    hs = make_results().series("handshakes")
    run = hs[hs["run"] == "p002-r001"]
    assert run["time"].tolist() == [float(t) for t in range(10)]
    assert run["value"].tolist() == [0.0, 0.0, 0.0, 7.0] + [0.0] * 6
    assert set(run["clients.reconnect.strategy"]) == {"full_jitter"} and set(run["gateways.count"]) == {2}
    conn = make_results().series("connections")
    assert conn[conn["run"] == "p000-r000"]["value"].tolist() == [20.0, 40.0, 60.0]  # gateways summed


def test_varying_metrics_skip_constant_ones():
    metrics = varying_metrics(make_results())
    assert "connections_peak" in metrics and "herd_convergence_s" in metrics
    assert "latency_p99_s" not in metrics


def test_html_page_is_complete_and_self_contained():
    page = build_html(make_results())
    assert page.count("<script") >= 2 and "<script src=" not in page
    assert "OOM in 1/3" in page and "lost in 3/3" in page and "no convergence in 1/3" in page
    assert "RuntimeError: boom" in page
    assert page.count('class="plotly-graph-div"') == 2 * len(varying_metrics(make_results())) + 2
    assert "hand-made" in page and np.isfinite(len(page))
