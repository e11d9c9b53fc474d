"""Delivery semantics: what a subscription or backplane outage of D seconds loses, by backplane.

All ``C`` clients are in one room and publish at ``p`` each, so the room receives Poisson publishes at
``Λ = C·p`` and every publish is owed to all ``C`` members, spread round-robin over ``G`` gateways
(``C/G`` each, the publisher included).

* At-most-once (``redis_pubsub``, ``nats``): a gateway whose subscription is down never receives the
  ``K ~ Poisson(Λ·D)`` messages published meanwhile, so each of its ``C/G`` members loses all ``K``:
  ``messages_lost / (C/G) = K``, and that gateway's lost backplane deliveries are ``K`` (``λ·D`` per
  subscribed gateway).
* A backplane outage makes ``K ~ Poisson(Λ·D)`` publishes fail whatever the kind. An at-most-once
  publisher fires and forgets, so all ``C`` members lose all ``K`` (``messages_lost / C = K``) and each
  of the ``G`` subscribed gateways misses ``K`` deliveries; an at-least-once producer holds them and
  publishes them when the backplane returns, so nothing is lost.
* Durable (``redis_streams``, ``jetstream``, ``kafka``): the gateway resumes from its offset; the
  outage fits the retention window (10 s ≪ 2 min, Λ·D ≪ 10,000 messages), so nothing is lost: exactly 0.

Tolerance: ``K`` summed over the replications is Poisson with mean ``reps·Λ·D``; the check uses the
exact 99% (Garwood) interval of that count.
"""

from __future__ import annotations

import pytest

from tests.validation.intervals import poisson_ci
from tests.validation.runs import make_config, metric, replicate

C, G, P, D, REPS = 200, 4, 1 / 60, 10.0, 6
LAMBDA = C * P

BASE = {
    "name": "validate-semantics",
    "seed": 13,
    "duration": "40s",
    "clients": {
        "count": C,
        "connect_ramp": "2s",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": P,
        "message_size": "100B",
        "reconnect": {"strategy": "full_jitter"},
    },
    "edge": {"balancer": "round_robin", "idle_timeout": None},
    "gateways": {"count": G},
    "backplane": {"kind": "redis_pubsub", "replay": {"max_messages": 10000, "max_age": "2min"}},
}
SUBSCRIPTION = [{"kind": "subscription_outage", "at": "20s", "duration": D, "gateways": 1}]
BACKPLANE = [{"kind": "backplane_outage", "at": "20s", "duration": D}]


def _lost(kind: str, faults: list[dict], reps: int = REPS) -> list[float]:
    config = make_config(BASE, {"backplane.kind": kind, "faults": faults})
    return metric(replicate(config, reps), "messages_lost")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis_pubsub", "nats"])
def test_at_most_once_loses_lambda_d_per_cut_gateway(kind: str) -> None:
    """Subscription outage: messages_lost / (C/G) ≈ Λ·D (exact Poisson interval over replications)."""
    lost = _lost(kind, SUBSCRIPTION)
    ci = poisson_ci(sum(x / (C / G) for x in lost), exposure=REPS)
    print(f"{kind} subscription outage: lost per member {ci}, closed form Λ·D = {LAMBDA * D:.2f}")
    assert ci.contains(LAMBDA * D)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis_pubsub", "nats"])
def test_at_most_once_loses_lambda_d_per_subscribed_gateway(kind: str) -> None:
    """Subscription outage of one subscribed gateway: backplane_deliveries_lost ≈ Λ·D (Poisson)."""
    config = make_config(BASE, {"backplane.kind": kind, "faults": SUBSCRIPTION})
    lost = metric(replicate(config, REPS), "backplane_deliveries_lost")
    ci = poisson_ci(sum(lost), exposure=REPS)
    print(f"{kind} subscription outage: backplane deliveries lost {ci}, closed form Λ·D = {LAMBDA * D:.2f}")
    assert ci.contains(LAMBDA * D)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis_pubsub", "nats"])
def test_backplane_outage_at_most_once_loses_lambda_d(kind: str) -> None:
    """Backplane outage, fire-and-forget publishers: messages_lost / C and lost deliveries / G ≈ Λ·D."""
    results = replicate(make_config(BASE, {"backplane.kind": kind, "faults": BACKPLANE}), REPS)
    per_member = poisson_ci(sum(x / C for x in metric(results, "messages_lost")), exposure=REPS)
    per_gateway = poisson_ci(sum(x / G for x in metric(results, "backplane_deliveries_lost")), exposure=REPS)
    print(
        f"{kind} backplane outage: lost per member {per_member}, per gateway {per_gateway},",
        f"Λ·D = {LAMBDA * D:.2f}",
    )
    assert per_member.contains(LAMBDA * D)
    assert per_gateway.contains(LAMBDA * D)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis_streams", "jetstream", "kafka"])
def test_backplane_outage_at_least_once_holds_publishes(kind: str) -> None:
    """Backplane outage, at-least-once producers: K ≈ Λ·D publishes fail and are retried; 0 lost (exact)."""
    results = replicate(make_config(BASE, {"backplane.kind": kind, "faults": BACKPLANE}), 3)
    ci = poisson_ci(sum(metric(results, "publishes_failed")), exposure=3)
    print(f"{kind} backplane outage: publishes held {ci}, closed form Λ·D = {LAMBDA * D:.2f}")
    assert ci.contains(LAMBDA * D)
    assert metric(results, "messages_lost") == [0.0] * 3


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis_streams", "jetstream", "kafka"])
def test_durable_backplanes_lose_nothing(kind: str) -> None:
    """Durable backplanes, subscription outage: messages_lost = 0 in every replication (exact)."""
    lost = _lost(kind, SUBSCRIPTION, reps=2)
    assert lost == [0.0, 0.0]
