"""The gateway's garbage-collection pause counter, in process: what ``/metrics`` exposes."""

from __future__ import annotations

import gc
import time

from reference_impl.system.gateway_metrics import GatewayMetrics, sample


def pauses(metrics: GatewayMetrics) -> float:
    return sample(metrics.render().decode(), "wssim_gc_pause_seconds_total")


def test_a_collection_adds_its_duration_to_the_pause_counter() -> None:
    metrics = GatewayMetrics("g0")
    garbage = [[i] for i in range(200_000)]  # objects the collector has to walk
    before = pauses(metrics)
    t0 = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - t0
    added = pauses(metrics) - before
    assert 0 < added <= elapsed  # the collection's own time, nothing outside it
    del garbage


def test_two_gateways_in_one_process_count_each_pause_once() -> None:
    first, second = GatewayMetrics("g0"), GatewayMetrics("g1")
    t0 = time.perf_counter()
    before = pauses(first)
    gc.collect()
    elapsed = time.perf_counter() - t0
    assert 0 < pauses(first) - before <= elapsed
    assert pauses(first) == pauses(second)
