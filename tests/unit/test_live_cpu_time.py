"""The live harness's CPU bins: readings of a gateway's CPU time spread over intervals, then the
simulator's CPU metrics computed from them (``wssim.sim.cpu.record_cpu``)."""

from __future__ import annotations

import math

import pytest

from reference_impl.driver.cpu_time import CpuTimes
from wssim.metrics import Recorder


def test_readings_are_spread_over_the_intervals_and_a_new_process_starts_from_a_baseline() -> None:
    cpu = CpuTimes(step=1.0)
    cpu.sample("g0", 0, 0.0, 5.0)  # baseline: the CPU time it had at start-up is not counted
    cpu.sample("g0", 0, 1.5, 5.75)  # 0.75 CPU-s over [0, 1.5): two thirds in interval 0
    cpu.sample("g0", 1, 2.0, 0.3)  # restarted: a new process's baseline
    cpu.sample("g0", 1, 3.0, 0.8)
    assert {b: s for b, s in cpu.bins["g0"].items() if s} == pytest.approx({0: 0.5, 1: 0.25, 2: 0.5})
    rec = Recorder(interval=1.0)
    rec.count("deliveries_delivered", 150)
    cpu.record(rec, duration=3.0, warmup=0.0, time_scale=0.5)  # an interval lasts 0.5 wall seconds
    m = rec.summary()
    series = rec.timeseries().set_index("time")["value"]
    assert series.tolist() == pytest.approx([1.0, 0.5, 1.0])  # CPU-s / (1 core x 0.5 s)
    assert m["gateway_cpu_utilisation_peak"] == pytest.approx(1.0)
    assert m["deliveries_per_cpu_second"] == pytest.approx(150 / 1.25)
    assert m["cpu_saturated_s"] == 2.0


def test_without_two_readings_of_a_process_the_cpu_metrics_are_not_measured() -> None:
    cpu = CpuTimes(step=1.0)
    cpu.sample("g0", 0, 0.0, 5.0)
    cpu.sample("g1", 0, 0.5, 2.0)
    rec = Recorder(interval=1.0)
    cpu.record(rec, duration=3.0, warmup=0.0, time_scale=1.0)
    m = rec.summary()
    names = ("gateway_cpu_utilisation_peak", "deliveries_per_cpu_second", "cpu_saturated_s")
    assert all(math.isnan(m[n]) for n in names)
