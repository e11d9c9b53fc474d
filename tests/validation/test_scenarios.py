"""Golden check of the built-in scenarios: each loads, every sweep point runs, headline metrics are finite,
and every WebSocket run reports the peak utilisation of its gateways' CPU.

Each scenario runs one replication per sweep point with ``--set``-style overrides that keep it small.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import wssim
from tests.validation.runs import simulate_fn
from wssim.config import load_config

SCENARIO_DIR = Path(wssim.__file__).parent / "scenarios"

# scenario -> (overrides, headline metrics)
SCENARIOS: dict[str, tuple[list[str], list[str]]] = {
    "quickstart": (
        ["clients.count=600"],
        [
            "connections_peak",
            "deliveries_delivered",
            "latency_p99_s",
            "peak_handshake_rate",
            "cost_per_month_usd",
        ],
    ),
    "capstone": (
        ["clients.count=2000", "clients.rooms.count=600", "duration=6min", "warmup=1min"],
        ["connections_peak", "peak_handshake_rate", "herd_convergence_s", "latency_p99_s"],
    ),
    "budget": (["duration=25s"], ["connections_peak", "gateway_memory_peak_bytes", "emfile_rejections"]),
    "fanout": (["clients.count=800", "duration=20s"], ["backplane_deliveries", "fanout_waste_fraction"]),
    "backpressure": ([], ["gateway_memory_peak_bytes", "send_queue_depth_p99", "messages_dropped_overflow"]),
    "herd": (
        ["clients.count=1200"],
        ["peak_handshake_rate", "peak_connect_attempt_rate", "reconnect_attempts", "herd_convergence_s"],
    ),
    "replay": (["clients.count=200", "duration=90s"], ["resume_attempts", "replay_hits", "replay_misses"]),
    "balancing": (["clients.count=800"], ["connections_moved_fraction", "connections_peak"]),
    "idle_timeout": (["clients.count=300"], ["idle_timeout_disconnects", "connections_peak"]),
    "presence_chat": (
        ["duration=40s"],
        [
            "messages_conflated.presence",
            "slow_consumer_disconnects.chat",
            "messages_lost.chat",
            "latency_p99_s.chat",
        ],
    ),
    "semantics": (["clients.count=400"], ["messages_lost", "deliveries_delivered", "latency_p99_s"]),
    "transports": (
        ["clients.count=4000"],
        ["connections_peak", "cost_per_month_usd", "latency_p50_s", "transport_usd_per_million_users"],
    ),
}


def test_every_scenario_file_is_covered() -> None:
    """A new scenario file must get a golden entry here."""
    assert sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_header_and_name(name: str) -> None:
    """Each file starts with a comment block that teaches, and its `name` is its file name."""
    text = (SCENARIO_DIR / f"{name}.yaml").read_text()
    header = [line for line in text.splitlines()[:4]]
    assert all(line.startswith("#") for line in header), f"{name}.yaml must start with a comment block"
    assert "What to look at" in text
    assert load_config(name).name == name


def _points(name: str, overrides: list[str]) -> list:
    config = load_config(name, overrides)
    try:
        from wssim.config import expand_sweep
    except ImportError:
        return [config]
    return [point.config for point in expand_sweep(config)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_runs_with_finite_headlines(name: str) -> None:
    """Every sweep point runs and its headline metrics are finite numbers."""
    simulate = simulate_fn()
    overrides, headlines = SCENARIOS[name]
    for config in _points(name, overrides):
        result = simulate(config, replication=0)
        bad = {
            m: result.metrics.get(m) for m in headlines if not math.isfinite(result.metrics.get(m, math.nan))
        }
        assert not bad, f"{name} ({config.name}): non-finite headline metrics {bad}"
        if config.transport.kind == "websocket":  # every WebSocket run reports its gateways' CPU
            busy = result.metrics["gateway_cpu_utilisation_peak"]
            assert 0 < busy <= 1 + 1e-9, f"{name} ({config.name}): CPU utilisation peak {busy}"
