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


OUTAGE = (
    "backplane.kind=redis_streams",
    "gateways.count=1",
    "clients.publish_arrivals=periodic",
    "clients.publish_rate=0.05/s",  # 400 clients: 20 publications/s
    "clients.message_size=1KiB",
    "clients.rooms.count=1",
    "faults=[{kind: backplane_outage, at: 10s, duration: 10s}]",
    # Delivering costs no CPU: released at once, the held publications' frames (400 × 1 KiB each)
    # would also wait in memory for the CPU; the checks here are about the producer buffer alone.
    "gateways.cpu.frame=0s",
    "gateways.cpu.per_byte=0s",
    "gateways.cpu.backplane_message=0s",
)


def test_the_producer_buffer_is_bounded_and_counted_in_memory() -> None:
    """200 publications in the outage, room for 50: 150 lost; the 50 held sit in the gateway's memory."""
    unbounded = run(*OUTAGE, "backplane.producer_buffer=null")
    assert unbounded["producer_buffer_overflows"] == 0
    assert unbounded["producer_buffer_peak_bytes"] == 200 * 1024
    bounded = run(*OUTAGE, "backplane.producer_buffer=50KiB")
    assert bounded["producer_buffer_overflows"] == 150
    assert bounded["producer_buffer_peak_bytes"] == 50 * 1024
    assert bounded["messages_lost"] == 150 * 400  # every client is in the room
    assert unbounded["gateway_memory_peak_bytes"] - bounded["gateway_memory_peak_bytes"] == 150 * 1024


def test_a_producer_buffer_larger_than_the_headroom_runs_the_gateway_out_of_memory() -> None:
    # 256 MiB base + 400 × 32 KiB sockets leave 1.5 MiB; the outage brings 200 × 10 KiB
    m = run(*OUTAGE, "backplane.producer_buffer=null", "gateways.memory=270MiB", "clients.message_size=10KiB")
    assert m["gateway_oom_crashes"] == 1
    assert m["producer_buffer_discarded"] > 0  # what it held died with it


def test_a_mass_resync_queues_for_the_snapshot_service() -> None:
    """Redis Streams loses its history in the outage: every client resyncs on its next resume."""
    flap = ("clients.offline.rate=0.1/s", "clients.offline.mean=2s", "clients.publish_rate=0.2/s")
    free = run(*OUTAGE[:2], *flap, "faults=[{kind: backplane_outage, at: 10s, duration: 1s}]")
    slow = run(
        *OUTAGE[:2],
        *flap,
        "faults=[{kind: backplane_outage, at: 10s, duration: 1s}]",
        "clients.snapshot.rate=5/s",
    )
    assert free["resyncs"] > 20 and free["snapshot_wait_max_s"] == 0
    assert slow["snapshot_wait_max_s"] > 1.0
    assert slow["snapshot_seconds"] > free["snapshot_seconds"] + 10


def test_replays_are_read_at_the_history_rate() -> None:
    flap = ("clients.offline.rate=0.1/s", "clients.offline.mean=5s", "clients.publish_rate=1/s")
    free = run("backplane.kind=redis_streams", *flap)
    slow = run("backplane.kind=redis_streams", *flap, "backplane.replay.rate=20/s")
    assert free["messages_replayed"] > 100 and free["replay_wait_max_s"] == 0
    assert slow["replay_wait_max_s"] > 0.2
    assert slow["messages_replayed"] == free["messages_replayed"]


DIRECT = ("clients.direct_fraction=1", "clients.publish_rate=1/s", "gateways.count=1")


def test_direct_messages_go_through_the_send_queue() -> None:
    """A slow reader's queue overflows with 1:1 messages as with room messages."""
    slow = ("clients.slow_consumers.fraction=1", "clients.slow_consumers.drain_rate=0.2/s")
    m = run(*DIRECT, *slow, "gateways.send_queue.limit=5", "gateways.send_queue.overflow=drop_oldest")
    assert m["messages_dropped_overflow"] > 0
    assert m["send_queue_depth_max"] == 5


def test_direct_messages_queue_on_the_backplane_capacity() -> None:
    fast = run(*DIRECT)
    saturated = run(*DIRECT, "backplane.capacity=300/s")  # 400 messages/s offered
    assert saturated["latency_p99_s"] > 10 * fast["latency_p99_s"]


def test_direct_messages_wait_in_the_producer_buffer_through_an_outage() -> None:
    """Held like room messages, published when the backplane returns, not retried every second."""
    outage = ("backplane.kind=redis_streams", "faults=[{kind: backplane_outage, at: 10s, duration: 5s}]")
    m = run(*DIRECT, *outage)
    assert m["messages_lost"] == 0 and m["publishes_failed"] > 1000
    assert m["deliveries_delivered"] == m["deliveries_expected"]
    assert m["producer_buffer_peak_bytes"] == m["publishes_failed"] * 200
    assert run(*DIRECT, *outage, "backplane.producer_buffer=1KiB")["producer_buffer_overflows"] > 1000


def test_interest_routing_reaches_the_gateways_with_members_in_gateway_order() -> None:
    """A room's publication goes to exactly the gateways holding members of it, lowest id first,
    whatever order they subscribed in; the last member leaving (or a reset) takes a gateway out."""
    from wssim.sim.simulate import build_world

    cfg = load_config(BASE, ["gateways.count=70", "backplane.topology=channel_per_room"])
    w = build_world(cfg)
    bp, gws = w.backplane, w.gateways
    for g in (65, 3, 40, 0):
        gws[g].join(7)
    assert [g.id for g in bp.targets(7, -1)[0]] == [0, 3, 40, 65]
    gws[40].leave(7)
    bp.reset_gateway(gws[65])
    assert [g.id for g in bp.targets(7, -1)[0]] == [0, 3]
    assert bp.targets(8, -1) == ([], [])
