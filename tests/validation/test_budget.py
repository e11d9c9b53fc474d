"""Connection budget: memory is connections × per-connection bytes; limits bite exactly where set.

* Idle clients (nothing queued) on one gateway: ``gateway_memory_peak_bytes = base_memory +
  connections × (kernel + tls + app)`` exactly.
* ``fd_limit = F`` below the client count: the gateway holds exactly ``F / fds`` connections and every
  further accept fails with EMFILE (at least ``clients − F`` rejections; retries add more).
* ``conntrack_max = T`` below the client count: the edge tracks at most ``T`` connections and drops
  the SYNs beyond (at least ``clients − T`` drops).

All are exact arithmetic on configured numbers, so the checks are equalities and inequalities.
"""

from __future__ import annotations

from tests.validation.runs import make_config, replicate

KIB, MIB = 1024, 1024 * 1024
C = 1000
BASE = {
    "name": "validate-budget",
    "seed": 8,
    "duration": "20s",
    "clients": {
        "count": C,
        "connect_ramp": "5s",
        "publish_rate": 0,
        "reconnect": {"strategy": "constant", "base": "2s", "cap": "2s"},
    },
    "edge": {"balancer": "round_robin", "idle_timeout": None, "conntrack_max": None},
    "gateways": {
        "count": 1,
        "memory": "1GiB",
        "base_memory": "64MiB",
        "per_connection": {"kernel": "8KiB", "tls": "20KiB", "app": "6KiB", "fds": 1},
    },
    "backplane": {"kind": "in_memory"},
}


def test_memory_is_connections_times_budget() -> None:
    """Peak memory = base + connections × 34 KiB, exactly, when nothing is queued."""
    (result,) = replicate(make_config(BASE), 1)
    m = result.metrics
    expected = 64 * MIB + C * 34 * KIB
    print(f"memory: measured {m['gateway_memory_peak_bytes']:.0f}, closed form {expected}")
    assert m["connections_peak"] == C
    assert m["gateway_memory_peak_bytes"] == expected


def test_two_fds_per_connection_halve_the_fd_ceiling() -> None:
    """With 2 fds per connection and fd_limit 1200 the gateway holds exactly 600."""
    config = make_config(BASE, {"gateways.fd_limit": 1200, "gateways.per_connection.fds": 2})
    (result,) = replicate(config, 1)
    assert result.metrics["connections_peak"] == 600
    assert result.metrics["emfile_rejections"] >= C - 600


def test_emfile_exactly_at_fd_limit() -> None:
    """fd_limit 700: exactly 700 connections held, at least 300 EMFILE rejections."""
    (result,) = replicate(make_config(BASE, {"gateways.fd_limit": 700}), 1)
    m = result.metrics
    print(f"fd limit 700: held {m['connections_peak']:.0f}, EMFILE {m['emfile_rejections']:.0f}")
    assert m["connections_peak"] == 700
    assert m["emfile_rejections"] >= C - 700
    assert m["gateway_memory_peak_bytes"] == 64 * MIB + 700 * 34 * KIB


def test_no_emfile_below_the_limit() -> None:
    """fd_limit equal to the client count: nobody is refused."""
    (result,) = replicate(make_config(BASE, {"gateways.fd_limit": C}), 1)
    assert result.metrics["emfile_rejections"] == 0
    assert result.metrics["connections_peak"] == C


def test_conntrack_drops_beyond_the_table() -> None:
    """conntrack_max 800: at most 800 connections through the edge, at least 200 SYNs dropped."""
    (result,) = replicate(make_config(BASE, {"edge.conntrack_max": 800}), 1)
    m = result.metrics
    print(f"conntrack 800: held {m['connections_peak']:.0f}, drops {m['conntrack_drops']:.0f}")
    assert m["connections_peak"] == 800
    assert m["conntrack_drops"] >= C - 800


def test_memory_adds_queued_bytes() -> None:
    """Full queues add exactly limit × size per connection: peak = base + C·(budget + L·size).

    All clients are slow readers (1/s) in one room receiving 20 messages/s with a drop_oldest queue of
    L = 8: right after each publish every queue that was full is still full and every other one has
    gained a message, so with reads 20× rarer than arrivals all queues are full together many times.
    """
    n, limit, size = 20, 8, 4 * KIB
    overrides = {
        "clients.count": n,
        "clients.rooms": {"count": 1, "per_client": 1},
        "clients.publish_rate": 1.0,
        "clients.message_size": size,
        "clients.slow_consumers": {"fraction": 1.0, "drain_rate": 1.0},
        "gateways.send_queue": {"limit": limit, "overflow": "drop_oldest"},
    }
    (result,) = replicate(make_config(BASE, overrides), 1)
    expected = 64 * MIB + n * (34 * KIB + limit * size)
    measured = result.metrics["gateway_memory_peak_bytes"]
    print(f"memory with full queues: measured {measured:.0f}, closed form {expected}")
    assert result.metrics["send_queue_depth_max"] == limit
    assert measured == expected
