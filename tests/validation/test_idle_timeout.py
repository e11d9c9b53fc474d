"""Idle timeouts: pings below the tightest timeout on the path prevent every idle cut.

Idle clients (no publishes) sit behind a balancer timeout of 60 s and a path (proxy/NAT) timeout of
30 s. A ping every ``p`` seconds is traffic that resets every idle timer, so:

* ``p < 30 s``: no timer ever expires — exactly 0 idle cuts;
* ``p > 30 s`` or no pings: every socket is cut at 30 s of silence. Clients connect within the first
  5 s, so the first cuts happen in [30 s, 35 s]; a reconnected client would be cut again 30 s later,
  after the 50 s run ends — exactly one cut per client.

Both are exact consequences of the timers (no randomness reaches the count), so the check is equality.
"""

from __future__ import annotations

import pytest

from tests.validation.runs import make_config, replicate

C = 300
BASE = {
    "name": "validate-idle",
    "seed": 9,
    "duration": "50s",
    "clients": {
        "count": C,
        "connect_ramp": "5s",
        "publish_rate": 0,
        "reconnect": {"strategy": "full_jitter"},
    },
    "edge": {"idle_timeout": "60s", "path_idle_timeout": "30s"},
    "gateways": {"count": 2, "keepalive": {"ping_interval": "20s"}},
    "backplane": {"kind": "in_memory"},
}


@pytest.mark.parametrize(("ping", "cuts"), [("10s", 0), ("29s", 0), ("31s", C), ("45s", C), (None, C)])
def test_idle_cuts(ping: str | None, cuts: int) -> None:
    """idle_timeout_disconnects = 0 below the tightest timeout, = every idle client above it."""
    config = make_config(BASE, {"gateways.keepalive.ping_interval": ping, "gateways.keepalive.timeout": None})
    (result,) = replicate(config, 1)
    print(f"ping {ping}: {result.metrics['idle_timeout_disconnects']:.0f} idle cuts, expected {cuts}")
    assert result.metrics["idle_timeout_disconnects"] == cuts


def test_without_path_timeout_the_balancer_timeout_binds() -> None:
    """With no proxy on the path a 45 s ping is below the balancer's 60 s: no cuts."""
    config = make_config(BASE, {"gateways.keepalive.ping_interval": "45s", "edge.path_idle_timeout": None})
    (result,) = replicate(config, 1)
    assert result.metrics["idle_timeout_disconnects"] == 0
