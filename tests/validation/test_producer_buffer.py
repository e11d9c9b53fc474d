"""The at-least-once producer's buffer: what an outage longer than the buffer loses.

During a backplane outage of ``D`` seconds the producer on each gateway holds what its clients publish,
``λ_g·D`` publications at the gateway's publish rate ``λ_g``, in a buffer of ``B`` bytes, i.e.
``m = B / size`` publications. When the outage outlasts the buffer the rest is refused:

    lost publications per gateway = max(0, λ_g·D − m),

and every member of the room loses each of them. Traffic is deterministic (``publish_arrivals:
periodic``: each client publishes exactly every ``1/p``), so the only slack is where the outage's two
edges fall between two publications of a gateway: the count is exact to one publication per gateway.
"""

from __future__ import annotations

import pytest

from tests.validation.runs import make_config, replicate

C, G, P, SIZE = 200, 2, 0.1, 1000  # 200 clients publishing every 10 s on 2 gateways: 10/s each
LAMBDA_G = C * P / G

BASE = {
    "name": "validate-producer-buffer",
    "seed": 19,
    "duration": "40s",
    "clients": {
        "count": C,
        "connect_ramp": "2s",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": P,
        "publish_arrivals": "periodic",
        "message_size": f"{SIZE}B",
    },
    "edge": {"balancer": "round_robin", "idle_timeout": None},
    "gateways": {"count": G},
    "backplane": {"kind": "redis_streams"},
}


@pytest.mark.parametrize(("duration", "room"), [(10.0, 40), (6.05, 25), (3.0, 40)])
def test_an_outage_longer_than_the_buffer_loses_the_rest(duration: float, room: int) -> None:
    faults = [{"kind": "backplane_outage", "at": "20s", "duration": duration}]
    config = make_config(BASE, {"faults": faults, "backplane.producer_buffer": room * SIZE})
    (m,) = [r.metrics for r in replicate(config, 1)]
    expected = G * max(0.0, LAMBDA_G * duration - room)
    print(
        f"D={duration:g} s, buffer {room} publications: lost {m['producer_buffer_overflows']:.0f} "
        f"publications, closed form G·(λ_g·D − m) = {expected:g} (± {G})"
    )
    assert abs(m["producer_buffer_overflows"] - expected) <= G
    assert m["messages_lost"] == m["producer_buffer_overflows"] * C
    held = m["producer_buffer_peak_bytes"]
    assert held == room * SIZE if expected > 0 else held <= room * SIZE  # a full buffer, or what fit
