"""Monthly fleet cost: gateways by connections, memory and CPU, backplane, managed pricing."""

from __future__ import annotations

import math

import pytest

from wssim.analytic.cost import (
    MINUTES_PER_MONTH,
    SECONDS_PER_MONTH,
    gateways_needed,
    monthly_cost,
    node_capacity,
)
from wssim.config import load_config

BASE = {"gateways": {"memory": "8GiB", "base_memory": "256MiB"}, "backplane": {"kind": "redis_streams"}}


def test_node_capacity_uses_headroom() -> None:
    """(8 GiB − 256 MiB) × 0.7 / 32 KiB connections per node."""
    config = load_config(BASE)
    assert node_capacity(config) == math.floor((8 * 2**30 - 256 * 2**20) * 0.7 / (32 * 1024))


def test_gateways_by_connections_plus_backplane() -> None:
    """A million connections need ceil(1e6 / capacity) gateways, plus the backplane's price."""
    config = load_config(BASE)
    n = math.ceil(1e6 / node_capacity(config))
    assert gateways_needed(config, {"connections_peak": 1e6}) == n
    assert monthly_cost(config, {"connections_peak": 1e6}) == n * 350.0 + 500.0


def test_memory_peak_can_bind() -> None:
    """Queued bytes count: a busiest gateway near its memory on 4 gateways needs more than 4 at 70%."""
    config = load_config(BASE)
    peak = 8 * 2**30 - 2**20  # almost full
    assert gateways_needed(config, {"connections_peak": 1000, "gateway_memory_peak_bytes": peak}) == 6


def test_cpu_peak_can_bind() -> None:
    """4 gateways whose busiest ran its CPU at 90%: 4 × 0.9 / 0.7 → 6 gateways at 70%; at 10% the
    connections bind."""
    config = load_config(BASE)
    assert gateways_needed(config, {"connections_peak": 1000, "gateway_cpu_utilisation_peak": 0.9}) == 6
    assert gateways_needed(config, {"connections_peak": 1000, "gateway_cpu_utilisation_peak": 0.1}) == 1


def test_no_connections_no_gateways_and_nan_is_nothing() -> None:
    """Nothing connected (NaN peaks) costs only the backplane; in_memory has no backplane price."""
    assert monthly_cost(load_config(BASE), {"connections_peak": math.nan}) == 500.0
    assert monthly_cost(load_config({"backplane": {"kind": "in_memory"}}), {}) == 0.0


def test_managed_pricing() -> None:
    """Connection-minutes of the mean connections plus every message, scaled to a month."""
    config = load_config({"backplane": {"kind": "managed"}, "duration": "60s"})
    peaks = {"connections_mean": 1000, "messages_published": 600, "deliveries_delivered": 5400}
    expected = 1000 * MINUTES_PER_MONTH * 0.00000025 + 6000 / 60 * SECONDS_PER_MONTH / 1e6 * 1.0
    assert monthly_cost(config, peaks) == pytest.approx(expected)
