"""The batched path carries rooms with slow members: their queued members are offered every publication."""

from __future__ import annotations

from wssim.config import load_config
from wssim.sim import simulate

FLEET = {
    "name": "bulk",
    "seed": 2,
    "duration": "20s",
    "warmup": "5s",
    "clients": {
        "count": 2000,
        "connect_ramp": "2s",
        "rooms": {"count": 200, "per_client": 2},
        "publish_rate": "1/s",
        "slow_consumers": {"fraction": 0.02, "drain_rate": "4/s"},
    },
    "gateways": {"count": 3, "send_queue": {"limit": 8, "overflow": "drop_oldest"}},
    "backplane": {"kind": "redis_streams", "topology": "channel_per_room", "capacity": "100000/s"},
    "simulation": {"fanout": "batched"},
}


def test_rooms_with_slow_members_are_bulk_and_their_queues_get_every_publication() -> None:
    run = simulate(load_config(FLEET))
    world_pubs = run.metrics["messages_published"]
    assert run.metrics["messages_dropped_overflow"] > 0  # the slow members' queues were offered them
    assert run.info["bulk_publications"] / world_pubs > 0.99
