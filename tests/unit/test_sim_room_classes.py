"""Room classes through the model: each class's sizes, publish rate, message size and overflow policy."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from tests.validation.intervals import poisson_ci
from wssim.config import load_config
from wssim.errors import ConfigError
from wssim.sim import simulate
from wssim.sim.simulate import build_world

PRESENCE = {
    "name": "presence",
    "share": 0.5,
    "size": 10,
    "publish_rate": "0.5/s",
    "message_size": "100B",
    "overflow": "conflate",
    "conflate_keys": 4,
}
CHAT = {
    "name": "chat",
    "share": 0.5,
    "size": 10,
    "publish_rate": "0.2/s",
    "message_size": "1KiB",
    "overflow": "disconnect",
}
FLEET: dict[str, Any] = {
    "seed": 5,
    "duration": "120s",
    "clients": {
        "count": 400,
        "connect_ramp": "0s",
        "rooms": {"count": 40, "per_client": 1, "classes": [PRESENCE, CHAT]},
        "reconnect": {"strategy": "constant", "base": "1s", "cap": "1s"},
    },
    "gateways": {"count": 2, "send_queue": {"limit": 10}},
    "edge": {"idle_timeout": None},
    "backplane": {"kind": "redis_streams"},
}


def config(**changes: Any) -> Any:
    """:data:`FLEET` with dotted-path changes."""
    raw = copy.deepcopy(FLEET)
    for path, value in changes.items():
        node = raw
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[leaf] = value
    return load_config(raw)


def test_presence_conflates_and_chat_disconnects_in_one_fleet() -> None:
    # Slow readers drain 1/s. A presence room publishes 10 × 0.5 = 5/s, but only 4 keys: its queue
    # holds at most 4 (< the bound of 10), newer state replaces older. A chat room publishes 2/s, every
    # message distinct: the queue passes 10 and the chat class's `disconnect` closes the socket.
    m = simulate(config(**{"clients.slow_consumers": {"fraction": 0.2, "drain_rate": "1/s"}})).metrics
    assert m["messages_conflated.presence"] > 1000
    assert m["messages_dropped_overflow"] == 0 and m["messages_lost"] == 0
    assert m["slow_consumer_disconnects.chat"] > 10
    assert m["slow_consumer_disconnects.presence"] == 0
    assert m["messages_conflated.chat"] == 0
    for metric in ("deliveries_expected", "deliveries_delivered", "messages_published"):  # classes add up
        assert m[f"{metric}.presence"] + m[f"{metric}.chat"] == m[metric]
    assert m["latency_p99_s.chat"] > m["latency_p99_s.presence"]  # read after a backlog, not the latest


def test_fixed_sizes_hold_exactly_and_drawn_sizes_follow_the_apportionment() -> None:
    cfg = config(**{"clients.rooms.classes.1.size": {"distribution": "uniform", "min": 5, "max": 15}})
    w = build_world(cfg)
    sizes = Counter(w.clients.rooms)
    cls = w.roomtable.of
    assert all(sizes[r] == 10 for r in range(40) if cls[r] == 0)  # presence: fixed 10
    chat = [sizes[r] for r in range(40) if cls[r] == 1]
    assert sum(chat) == 200 and all(4 <= s <= 16 for s in chat)  # uniform 5..15, scaled to 200 members


def test_each_class_publishes_at_its_own_rate() -> None:
    # Every membership is a Poisson process of its class's rate: 200 memberships per class for the run
    # (the clients connect within a few ms of 0, a 1e-4 share of the exposure). The 99% interval of
    # each rate from its count contains the configured rate.
    cfg = config()
    m = simulate(cfg).metrics
    for name, rate in (("presence", 0.5), ("chat", 0.2)):
        ci = poisson_ci(m[f"messages_published.{name}"], 200 * cfg.duration)
        assert ci.contains(rate), (name, ci)


def test_a_frame_costs_the_cpu_of_its_class_message_size() -> None:
    # Only bytes cost CPU (1 µs per byte): the CPU spent is Σ deliveries × size of their class. A
    # single-size model would spend 100 B or 1 KiB on every delivery: 10× off one way or the other.
    cpu = {"frame": "0s", "per_byte": "1us", "backplane_message": "0s", "ping": "0s", "cores": 1}
    cfg = config(**{"gateways.cpu": cpu, "gateways.handshake_cost": "0s", "duration": "60s"})
    res = simulate(cfg)
    ts = res.timeseries
    spent = ts[ts.series == "gateway_cpu_utilisation"].value.sum() * cfg.interval
    m = res.metrics
    expected = 1e-6 * (100 * m["deliveries_expected.presence"] + 1024 * m["deliveries_expected.chat"])
    assert spent == pytest.approx(expected, rel=1e-6)


def test_without_classes_the_room_table_is_the_single_class_of_the_clients_fields() -> None:
    w = build_world(load_config({"clients": {"publish_rate": "2/s", "rooms": {"per_client": 2}}}))
    rt = w.roomtable
    assert not rt.classed and rt.rate == [1.0] and rt.size == [200] and rt.policy == ["drop_oldest"]
    assert set(rt.of) == {0} and rt.key(3, 21) == 3 * 16 + 21 % 16


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"clients.rooms.classes.0.share": 0.4}, "shares must sum to 1, they sum to 0.9"),
        ({"clients.rooms.classes.1.name": "presence"}, "`presence` appears twice"),
        ({"clients.rooms.classes.0.size": 500}, "reaches 500 members but there are 400 clients"),
        ({"clients.rooms.count": 60}, "set `rooms.count` to 40"),
        (
            {"clients.rooms.classes.1.size": {"distribution": "lognormal", "median": 10}},
            "needs `median` and `p99`",
        ),
        ({"clients.rooms.classes.1.size": {"distribution": "zipf"}}, "needs `max`"),
        (
            {"clients.rooms.classes.1.overflow": "block"},
            "is `block`, which is not allowed. Allowed: unbounded,",
        ),
        ({"clients.publish_arrivals": "periodic"}, "one publish rate"),
        ({"gateways.send_queue.overflow": "credit"}, "a policy of the whole connection"),
        ({"clients.rooms.popularity": "zipf"}, "`popularity` must be `uniform`"),
    ],
)
def test_bad_classes_are_one_paragraph_with_the_fix(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(**changes)
    assert words in info.value.message and "\n" not in info.value.message


def test_losses_are_counted_for_the_class_that_lost_them() -> None:
    # Presence drops its oldest at a bound of 3 (4 keys no longer fit): lost, and counted as presence's.
    # Chat disconnects: its slow readers resume from their cursors on a durable backplane, nothing lost.
    m = simulate(
        config(
            **{
                "clients.slow_consumers": {"fraction": 0.2, "drain_rate": "1/s"},
                "clients.rooms.classes.0.overflow": "drop_oldest",
                "gateways.send_queue.limit": 3,
            }
        )
    ).metrics
    assert m["messages_lost.presence"] == m["messages_dropped_overflow.presence"] > 100
    assert m["messages_lost"] == m["messages_lost.presence"] and m["messages_lost.chat"] == 0
    assert m["slow_consumer_disconnects.chat"] > 10


@pytest.mark.parametrize("policy", ["block", "credit"])
def test_a_connection_wide_policy_holds_every_class(policy: str) -> None:
    # No class sets `overflow`: the gateway's block or credit acts on the whole socket, for both classes.
    raw = copy.deepcopy(FLEET)
    for c in raw["clients"]["rooms"]["classes"]:
        del c["overflow"]
    raw["clients"]["slow_consumers"] = {"fraction": 0.2, "drain_rate": "1/s"}
    raw["gateways"]["send_queue"] = {"limit": 10, "overflow": policy}
    raw["duration"] = "30s"
    m = simulate(load_config(raw)).metrics
    assert m["deliveries_delivered.chat"] > 0 and m["deliveries_delivered.presence"] > 0
    assert m["slow_consumer_disconnects"] == 0
    if policy == "block":  # the writer waits instead of dropping (credit drops beyond the bound)
        assert m["send_queue_blocked"] > 0 and m["messages_dropped_overflow"] == 0


def test_the_design_review_counts_each_class_traffic() -> None:
    # 20,000 rooms: half presence of exactly 10 at 0.2/s per member, half chat of 5..15 (mean 10,
    # E[m²] = 10 + 100) at 1/30 per second; 100,000 clients in 2 rooms each fill them exactly (s = 1).
    from wssim.check.figures import figures

    raw = copy.deepcopy(FLEET)
    raw["clients"].update(count=100_000, publish_rate="0/s")
    raw["clients"]["rooms"] = {
        "count": 20_000,
        "per_client": 2,
        "classes": [
            {**PRESENCE, "publish_rate": "0.2/s", "message_size": "120B"},
            {
                **CHAT,
                "size": {"distribution": "uniform", "min": 5, "max": 15},
                "publish_rate": "2/min",
                "message_size": "600B",
            },
        ],
    }
    fig = figures(load_config(raw))
    presence, chat = 10_000 * 0.2 * 10**2, 10_000 / 30 * 110  # deliveries/s: rooms × rate × E[m²]
    assert fig.publishes == pytest.approx(10_000 * 0.2 * 10 + 10_000 / 30 * 10)
    assert fig.deliveries == pytest.approx(presence + chat)
    assert fig.arrival == pytest.approx((presence + chat) / 100_000)
    assert fig.room_rate == pytest.approx(0.2 * 10)  # the busiest class's rooms
    assert fig.message_size == pytest.approx((presence * 120 + chat * 600) / (presence + chat))
