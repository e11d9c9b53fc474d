"""Transport choice: the simulated WebSocket fleet against the analytic transport model.

The analytic model (:mod:`wssim.analytic.transports`) charges every held connection the per-connection
budget. For WebSockets the simulator holds real (simulated) sockets, so the two must agree exactly on
gateway memory when clients are spread evenly (round robin) and nothing queues:
``base_memory + (users / gateways) × (kernel + tls + app)``.
"""

from __future__ import annotations

import pytest

from tests.validation.runs import simulate_fn
from wssim.analytic.transport_run import simulate_transport
from wssim.config import load_config

OVERRIDES = ["edge.balancer=round_robin", "clients.connect_ramp=2s", "duration=20s", "clients.count=4000"]
# Writing costs no CPU here: the analytic model has no CPU, and the frames of a publication being
# written (a few microseconds) are in the gateway's memory too.
FREE_FANOUT = ["gateways.cpu.frame=0s", "gateways.cpu.per_byte=0s", "gateways.cpu.backplane_message=0s"]


def test_simulated_websocket_memory_matches_the_model() -> None:
    """Simulated peak gateway memory = analytic per-gateway memory (exact)."""
    config = load_config("transports", [*OVERRIDES, *FREE_FANOUT, "transport.kind=websocket"])
    simulated = simulate_fn()(config, replication=0).metrics
    analytic = simulate_transport(config).metrics
    print(
        f"websocket memory per gateway: simulated {simulated['gateway_memory_peak_bytes']:.0f}, "
        f"model {analytic['gateway_memory_peak_bytes']:.0f}"
    )
    assert simulated["connections_peak"] == analytic["connections_peak"]
    assert simulated["gateway_memory_peak_bytes"] == analytic["gateway_memory_peak_bytes"]


@pytest.mark.parametrize("kind", ["sse", "long_poll", "poll"])
def test_simulate_uses_the_transport_model(kind: str) -> None:
    """For SSE, long-poll and poll, simulate() reports the transport model's figures."""
    config = load_config("transports", [*OVERRIDES, f"transport.kind={kind}"])
    simulated = simulate_fn()(config, replication=0).metrics
    analytic = simulate_transport(config).metrics
    for name in ("connections_peak", "latency_p50_s", "cost_per_month_usd", "gateway_memory_peak_bytes"):
        assert simulated[name] == pytest.approx(analytic[name]), name
