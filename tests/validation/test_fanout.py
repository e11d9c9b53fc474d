"""Fan-out: gateways reached per publish against ``G·(1 − (1 − 1/G)^m)``.

Clients join one room each, uniformly at random, and connect round-robin, so the gateway of every
member is independent of its room and uniform over the G gateways. A gateway holding ``k`` members of a
room gets a backplane delivery for each publish to that room (interest routing), so a room of ``m``
members reaches ``G·(1 − (1 − 1/G)^m)`` gateways in expectation.

Rooms are drawn at random, so their sizes vary, and a member publishes into its own room, so a publish
is more likely to come from a big room (size-biased). The publisher is one member; the other ``N − 1``
clients are each in its room with probability ``1/R``, which gives the exact expectation
``G·(1 − x·(1 − (1 − x)/R)^(N−1))`` with ``x = 1 − 1/G`` (it reduces to ``G·(1 − x^m)`` for fixed rooms).
Broadcast reaches all ``G`` gateways and discards ``1 − reached/G`` of its deliveries.

Tolerance: the 99% Student t interval of the per-replication mean over replications.
"""

from __future__ import annotations

import pytest

from tests.validation.intervals import mean_ci
from tests.validation.runs import make_config, metric, replicate
from wssim.metrics import RunResult

G, N, R, REPS = 8, 1200, 240, 6  # rooms of m = 5 on average

BASE = {
    "name": "validate-fanout",
    "seed": 11,
    "duration": "30s",
    "warmup": "5s",
    "clients": {
        "count": N,
        "connect_ramp": "1s",
        "rooms": {"count": R, "per_client": 1, "popularity": "uniform"},
        "publish_rate": "2/min",
        "message_size": "100B",
        "reconnect": {"strategy": "full_jitter"},
    },
    "edge": {"balancer": "round_robin", "idle_timeout": None},
    "gateways": {"count": G},
    "backplane": {"kind": "redis_pubsub", "topology": "channel_per_room", "interest_routing": True},
}


def fixed_room_reach(g: int, m: int) -> float:
    """Expected gateways holding at least one of ``m`` members placed uniformly on ``g`` gateways."""
    return g * (1 - (1 - 1 / g) ** m)


def random_room_reach(g: int, n: int, r: int) -> float:
    """Same, per publish, when ``n`` clients pick one of ``r`` rooms uniformly and members publish."""
    x = 1 - 1 / g
    return g * (1 - x * (1 - (1 - x) / r) ** (n - 1))


def test_closed_forms_agree_for_one_room() -> None:
    """With a single room both formulas describe the same room of all ``n`` clients."""
    assert random_room_reach(8, 5, 1) == pytest.approx(fixed_room_reach(8, 5), rel=1e-12)
    assert fixed_room_reach(8, 1) == pytest.approx(1.0)


def deliveries_per_publish(results: list[RunResult]) -> list[float]:
    """Backplane deliveries per published message, one value per replication."""
    published = metric(results, "messages_published")
    return [d / p for d, p in zip(metric(results, "backplane_deliveries"), published, strict=True)]


@pytest.mark.slow
def test_channel_per_room_reach() -> None:
    """Backplane deliveries per publish = expected gateways reached (t interval over replications)."""
    results = replicate(make_config(BASE), REPS)
    ci = mean_ci(deliveries_per_publish(results))
    expected = random_room_reach(G, N, R)
    print(f"fan-out reach: measured {ci}, closed form {expected:.4f}")
    assert ci.contains(expected)
    assert metric(results, "backplane_deliveries_discarded") == [0.0] * REPS


@pytest.mark.slow
def test_broadcast_reaches_every_gateway_and_waste_matches() -> None:
    """Broadcast: exactly G deliveries per publish; waste fraction = 1 − reach/G (t interval)."""
    results = replicate(make_config(BASE, {"backplane.topology": "broadcast"}), REPS)
    for r in results:
        assert r.metrics["backplane_deliveries"] == pytest.approx(
            G * r.metrics["messages_published"], rel=1e-12
        )
    ci = mean_ci(metric(results, "fanout_waste_fraction"))
    expected = 1 - random_room_reach(G, N, R) / G
    print(f"broadcast waste: measured {ci}, closed form {expected:.4f}")
    assert ci.contains(expected)


@pytest.mark.slow
def test_sharded_reach_is_a_room_of_the_whole_shard() -> None:
    """Sharded (room ``r`` on channel ``r mod S``, R divisible by S): a gateway subscribes to a shard
    when it holds any member of the shard's R/S rooms, so a publish reaches the gateways of the whole
    shard — the random-room formula with S in place of R (t interval over replications)."""
    shards = 60
    results = replicate(
        make_config(BASE, {"backplane.topology": "sharded", "backplane.shards": shards}), REPS
    )
    ci = mean_ci(deliveries_per_publish(results))
    expected = random_room_reach(G, N, shards)
    print(f"sharded reach ({shards} shards): measured {ci}, closed form {expected:.4f}")
    assert ci.contains(expected)
    waste = mean_ci(metric(results, "fanout_waste_fraction"))
    print(f"sharded waste: measured {waste}, closed form {1 - random_room_reach(G, N, R) / expected:.4f}")
    assert waste.contains(1 - random_room_reach(G, N, R) / expected)


@pytest.mark.parametrize(("topology", "per_publish"), [("registry", 1.0), ("broadcast", float(G))])
def test_direct_messages_by_topology(topology: str, per_publish: float) -> None:
    """1:1 messages: a registry targets the one gateway of the recipient; a broadcast sends to all G
    and G − 1 of them discard it (exact, per delivery owed to a connected recipient)."""
    overrides = {"clients.direct_fraction": 1.0, "backplane.topology": topology, "duration": "15s"}
    (result,) = replicate(make_config(BASE, overrides), 1)
    m = result.metrics
    assert m["messages_published"] > 0
    assert m["backplane_deliveries"] == per_publish * m["deliveries_expected"]
    assert m["fanout_waste_fraction"] == pytest.approx((per_publish - 1) / per_publish)
