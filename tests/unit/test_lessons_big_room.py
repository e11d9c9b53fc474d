"""Notebook 02's big room: flat latency below the CPU's capacity, a growing backlog above it."""

from __future__ import annotations

from wssim.lessons import fanout


def test_a_big_room_saturates_at_the_cores_and_its_latency_runs_away() -> None:
    table = fanout.big_room(500, [0.3, 1.5], "15s")
    low, high = table.iloc[0], table.iloc[-1]
    assert low["load"] < 1 < high["load"]
    assert low["gateway_cpu_utilisation_peak"] < 1 and high["gateway_cpu_utilisation_peak"] > 0.999
    # 10 s of publishing past the warm-up at ρ = 1.5 queue about 5 s of work; below, one job at most.
    assert high["gateway_cpu_backlog_s_max"] > 100 * low["gateway_cpu_backlog_s_max"]
    assert high["latency_p99_s"] > 10 * low["latency_p99_s"]
    text = fanout.big_room_findings(table, 500)
    assert "publications/s" in text and "nan" not in text.lower()
