"""Half-open sockets slowly run a gateway out of memory: the time it takes, by hand.

``D`` clients vanish at ``t0`` without a FIN. The gateway keeps writing every publication of their room
into their send queues (nobody reads them, the overflow policy is ``unbounded``) until keepalive declares
them dead. With the memory left over ``H = memory − base_memory − sockets × per-connection budget``,
each dead peer receiving ``λ`` messages per second (the room's rate: nothing is read, so all of it is
excess) of ``s`` bytes, the gateway runs out at

    t_oom = t0 + H / (D · λ · s),

if keepalive (``ping_interval`` + pong timeout) has not reclaimed them first. Traffic is deterministic
(``publish_arrivals: periodic``; the vanishing clients are spread evenly, so the room's publications
stay evenly spaced): the OOM comes with the publication that crosses ``H``, within one message
interval ``1/λ`` of the formula.
"""

from __future__ import annotations

import pytest

from tests.validation.runs import make_config, replicate

C, P, T0 = 100, 1.0, 10.0
MEMORY, BASE_MEMORY = 300 * 2**20, 256 * 2**20
PER_CONNECTION = (8 + 20 + 4) * 1024  # kernel + tls + app defaults

BASE = {
    "name": "validate-half-open",
    "seed": 23,
    "duration": "60s",
    "clients": {
        "count": C,
        "connect_ramp": "1s",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": P,
        "publish_arrivals": "periodic",
        "reconnect": {"max_attempts": 1},
    },
    "edge": {"idle_timeout": None, "health_check": None},
    "gateways": {
        "count": 1,
        "memory": MEMORY,
        "base_memory": BASE_MEMORY,
        "keepalive": {"ping_interval": None},
        "send_queue": {"overflow": "unbounded"},
    },
    "backplane": {"kind": "in_memory"},
    "alerts": {"send_queue_depth_p99": None},
}


def half_open(fraction: float) -> list[dict]:
    return [{"kind": "half_open", "at": T0, "fraction": fraction, "duration": "1000s"}]


@pytest.mark.parametrize(("fraction", "size"), [(0.5, 10_000), (0.2, 20_000), (0.8, 4_000)])
def test_half_open_oom_time_is_headroom_over_the_dead_peers_growth(fraction: float, size: int) -> None:
    config = make_config(BASE, {"faults": half_open(fraction), "clients.message_size": size})
    (m,) = [r.metrics for r in replicate(config, 1)]
    dead = round(fraction * C)
    rate = (C - dead) * P  # the room's publications: only connected clients publish
    headroom = MEMORY - BASE_MEMORY - C * PER_CONNECTION
    expected = T0 + headroom / (dead * rate * size)
    print(
        f"D={dead} dead peers, λ={rate:g}/s, s={size} B, H={headroom} B: OOM at {m['first_oom_at_s']:.3f} s, "
        f"t0 + H/(D·λ·s) = {expected:.3f} s (± 1/λ = {1 / rate:.3f} s)"
    )
    assert m["half_open_disappearances"] == dead
    assert m["gateway_oom_crashes"] >= 1
    assert abs(m["first_oom_at_s"] - expected) <= 1 / rate


def test_keepalive_reclaims_dead_peers_before_they_exhaust_memory() -> None:
    """Pings every 5 s, dead after 10 s without a pong: a peer that vanished at t0 (last pong at most
    5 s before) is reclaimed within 10 s, long before the 17 s the headroom lasts with 1 kB messages."""
    size = 1_000
    ping = {"gateways.keepalive.ping_interval": "5s"}
    config = make_config(BASE, {"faults": half_open(0.5), "clients.message_size": size, **ping})
    (m,) = [r.metrics for r in replicate(config, 1)]
    dead, rate = 50, 50.0
    assert m["gateway_oom_crashes"] == 0
    assert m["dead_peer_reclaims"] == dead
    # Each dead peer held at most the 10 s until its reclaim of the room's messages, at least 5 s.
    held = m["gateway_memory_peak_bytes"] - BASE_MEMORY - C * PER_CONNECTION
    assert 5 * dead * rate * size <= held <= 10 * dead * rate * size
