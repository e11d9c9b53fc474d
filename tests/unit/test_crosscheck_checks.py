"""Crosscheck verdicts: each tolerance kind passes and misses where it should, with its reason."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_sweep_engine import standin

from wssim.config import load_config
from wssim.config.schema import Check
from wssim.crosscheck import crosscheck
from wssim.crosscheck.checks import evaluate, judge, order_text, prediction_interval, same_order
from wssim.errors import ConfigError


def check(metric: str, tolerance: str, within: float | None = None) -> Check:
    return Check(metric=metric, tolerance=tolerance, within=within, reason=f"because {tolerance}")


def test_prediction_interval_is_wider_than_the_confidence_interval():
    values = np.array([10.0, 12.0, 11.0, 13.0, 9.0])
    low, high = prediction_interval(values)
    std = np.std(values, ddof=1)
    assert high - low == pytest.approx(2 * 2.7764451051977987 * std * math.sqrt(1 + 1 / 5))
    assert all(math.isnan(v) for v in prediction_interval(np.array([1.0])))


@pytest.mark.parametrize(
    ("tolerance", "within", "live", "passed"),
    [
        ("exact", None, 12.0, True),  # equals replication 0, whose schedule live played
        ("exact", None, 11.0, False),  # equals the mean, not the played replication
        ("interval", None, 13.5, True),
        ("interval", None, 20.0, False),
        ("relative", 0.1, 13.1, True),  # within 10% of the played replication (12), not of the mean
        ("relative", 0.1, 10.5, False),
    ],
)
def test_pointwise_tolerances(tolerance, within, live, passed):
    values = np.array([12.0, 10.0, 11.0, 13.0, 9.0])
    assert judge(tolerance, within, values, values[0], live)[3] is passed


def test_exact_passes_when_both_engines_leave_the_value_undefined():
    values = np.array([math.nan, math.nan])
    assert judge("exact", None, values, math.nan, math.nan)[3]
    assert not judge("exact", None, values, math.nan, 1.0)[3]


def test_rank_compares_the_order_of_the_points():
    assert same_order([3000.0, 1100.0, 900.0], [2300.0, 700.0, 650.0])
    assert not same_order([3000.0, 1100.0], [2310.0, 3500.0])  # the order the engines disagreed on
    assert same_order([5.0, 5.0], [1.0, 2.0])  # a tie in the simulator orders nothing
    assert order_text(["none", "full_jitter"], [3000.0, 1095.0]) == "none > full_jitter"


def test_a_check_applies_where_its_swept_values_match():
    m = "herd_convergence_s"
    sim = pd.DataFrame({"point": [0, 1], "replication": [0, 0], "s": ["none", "full_jitter"], m: [1.0, 2.0]})
    check = Check(metric=m, tolerance="exact", where={"s": "full_jitter"}, reason="r")
    rows = evaluate([check], sim, sim.copy(), {0: "none", 1: "full_jitter"})
    assert [(r.point, r.passed) for r in rows] == [(1, True)]


def test_evaluate_gives_one_row_per_check_and_point_and_one_per_rank():
    sim = pd.DataFrame({"point": [0, 0, 1, 1], "replication": [0, 1, 0, 1], "m": [5.0, 6.0, 2.0, 2.5]})
    sim = sim.rename(columns={"m": "peak_handshake_rate"})
    live = pd.DataFrame({"point": [0, 1], "replication": [0, 0], "peak_handshake_rate": [4.0, 3.0]})
    checks = [check("peak_handshake_rate", "rank"), check("peak_handshake_rate", "exact")]
    rows = evaluate(checks, sim, live, {0: "none", 1: "full_jitter"})
    assert [(r.label, r.tolerance, r.passed) for r in rows] == [
        ("all points", "rank", True),
        ("none", "exact", False),
        ("full_jitter", "exact", False),
    ]
    assert rows[0].sim_text == "none > full_jitter" and rows[0].reason == "because rank"


def test_checks_are_validated_with_the_config():
    ok = {"metric": "messages_lost", "tolerance": "exact", "reason": "the schedule fixes it"}
    cfg = load_config({"crosscheck": {"checks": [ok]}})
    assert cfg.crosscheck.checks[0].metric == "messages_lost"
    bad = [
        ({**ok, "metric": "mesages_lost"}, "did you mean messages_lost"),
        ({**ok, "tolerance": "relative"}, "`within` is required"),
        ({**ok, "reason": ""}, "reason"),
    ]
    for entry, expected in bad:
        with pytest.raises(ConfigError, match=expected):
            load_config({"crosscheck": {"checks": [entry]}})
    rank = {"crosscheck": {"checks": [{**ok, "tolerance": "rank"}]}}
    with pytest.raises(ConfigError, match="has no `sweep`"):
        crosscheck(rank, progress=False, sim_engine=standin, live_engine=standin)
    where = {"crosscheck": {"checks": [{**ok, "where": {"gateways.count": 2}}]}}
    with pytest.raises(ConfigError, match=r"names gateways\.count, which the sweep does not vary"):
        crosscheck(where, progress=False, sim_engine=standin, live_engine=standin)


def test_a_missed_check_fails_the_crosscheck(tmp_path):
    def far_off(config, replication=0, progress=None):
        result = standin(config, replication, progress)
        result.metrics["connections_peak"] *= 3
        return result

    checks = [
        {"metric": "connections_peak", "tolerance": "interval", "reason": "replications"},
        {"metric": "messages_published", "tolerance": "relative", "within": 0.5, "reason": "stand-in"},
    ]
    cfg = {"name": "cc", "duration": 60, "replications": 4, "crosscheck": {"checks": checks}}
    same = crosscheck(cfg, progress=False, workers=1, sim_engine=standin, live_engine=standin)
    assert same.passed and list(same.verdicts["verdict"]) == ["pass", "pass"]
    off = crosscheck(
        cfg, out=tmp_path / "o", progress=False, workers=1, sim_engine=standin, live_engine=far_off
    )
    assert not off.passed and off.misses == 1
    page = (tmp_path / "o" / "crosscheck.html").read_text()
    assert "MISS" in page and "replications" in page
    assert pd.read_csv(tmp_path / "o" / "crosscheck.csv")["verdict"].tolist() == ["MISS", "pass"]
