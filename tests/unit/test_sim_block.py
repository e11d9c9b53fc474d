"""Queues measured where they are, and the block policy blocking for real (through the model)."""

from __future__ import annotations

from wssim.config import load_config
from wssim.sim import simulate

BASE = {
    "name": "block",
    "seed": 5,
    "duration": "40s",
    "clients": {
        "count": 50,
        "connect_ramp": "1s",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": "0.2/s",
        "publish_arrivals": "periodic",
        "message_size": "10KiB",
        "slow_consumers": {"fraction": 0.1, "drain_rate": "1/s", "read_time": "deterministic"},
    },
    "gateways": {"count": 1, "send_queue": {"limit": 5}},
    "edge": {"idle_timeout": None},
    "backplane": {"kind": "in_memory"},
    "alerts": {"send_queue_depth_p99": None},
}


def run(*overrides: str, **extra):
    return simulate(load_config(dict(BASE, **extra), list(overrides)))


def test_queue_depth_and_memory_are_sampled_after_draining_up_to_the_sample():
    """10 messages/s for 10 s into readers of 1/s, then silence from 10 s: nothing is offered any more,
    yet the readers keep reading; the samples must see their queues empty out (they read 1 per s)."""
    quiet = {"kind": "spike", "at": "10s", "duration": "30s", "publish_multiplier": 0}
    res = run("gateways.send_queue.overflow=unbounded", faults=[quiet])
    ts = res.timeseries
    depth = ts[ts["series"] == "send_queue_depth_p99"].set_index("time")["value"]
    memory = ts[ts["series"] == "memory_bytes"].groupby("time")["value"].sum()
    assert depth[10.0] > 50  # the backlog when the publishers stop
    assert depth[39.0] < depth[10.0] - 25  # ~29 reads later
    assert memory[39.0] < memory[10.0]


def test_block_stalls_the_rooms_writer_and_everyone_behind_it_waits():
    """A full slow reader under ``block`` holds its room's writer: the fast members wait too (their
    latency is the slow reader's), and what waits is in the gateway's memory."""
    dropping = run("gateways.send_queue.overflow=drop_oldest").metrics
    blocking = run("gateways.send_queue.overflow=block").metrics
    assert blocking["room_writer_stalls"] > 0
    assert dropping["latency_p50_s"] < 0.01
    assert blocking["latency_p50_s"] > 1.0  # head-of-line: every member waits behind the slow one
    assert blocking["messages_lost"] == 0
    # 10/s published, 1/s read: ~9 messages a second wait at the gateway (10 KiB each)
    held = blocking["gateway_memory_peak_bytes"] - dropping["gateway_memory_peak_bytes"]
    assert held > 200 * 10 * 1024


def test_a_dead_peer_under_block_holds_its_room_until_keepalive_reclaims_it():
    """Clients vanish at 10 s without a FIN; their queues fill (5 messages) and block the writer until
    the keepalive (pings every 5 s, 10 s pong timeout) reclaims them, within 15 s of their connect."""
    vanish = {"kind": "half_open", "at": "10s", "fraction": 0.1, "duration": "100s"}
    base = ("clients.slow_consumers.fraction=0", "gateways.keepalive.ping_interval=5s")
    blocking = run(*base, "gateways.send_queue.overflow=block", faults=[vanish]).metrics
    dropping = run(*base, "gateways.send_queue.overflow=drop_oldest", faults=[vanish]).metrics
    assert blocking["room_writer_stalls"] >= 1 and dropping.get("room_writer_stalls", 0) == 0
    assert blocking["dead_peer_reclaims"] == dropping["dead_peer_reclaims"] == 5
    assert blocking["latency_p99_s"] > 3.0 > dropping["latency_p99_s"]
