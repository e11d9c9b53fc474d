"""The backplane's side paths have their true scope and capacity: ports, producer buffer, replay."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.sim import simulate

BASE = {
    "name": "backplane",
    "seed": 9,
    "duration": "30s",
    "clients": {
        "count": 400,
        "connect_ramp": "2s",
        "publish_rate": "0.2/s",
        "rooms": {"count": 200, "per_client": 1},
    },
    "gateways": {"count": 2},
    "edge": {"idle_timeout": None},
    "backplane": {"kind": "redis_pubsub"},
}


def run(*overrides: str) -> dict[str, float]:
    return simulate(load_config(BASE, list(overrides))).metrics


@pytest.mark.parametrize("topology", ["channel_per_room", "broadcast"])
def test_channels_are_multiplexed_so_many_rooms_use_no_ports(topology: str) -> None:
    """Ephemeral ports are per (gateway, backplane server) connection, not per channel: 200 subscribed
    rooms on 100 ports lose nothing, whatever the topology."""
    m = run(f"backplane.topology={topology}", "gateways.ephemeral_ports=100")
    assert m["ephemeral_port_exhaustions"] == 0
    assert m["messages_lost"] == 0
    assert m["deliveries_delivered"] == m["deliveries_expected"] > 0


def test_a_pool_larger_than_the_port_range_runs_out_of_ports() -> None:
    m = run("gateways.ephemeral_ports=50", "gateways.backplane_connections=80")
    assert m["ephemeral_port_exhaustions"] == 2 * 30  # each gateway, at start
