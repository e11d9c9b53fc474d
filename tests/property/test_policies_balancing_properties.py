"""Balancer properties over arbitrary node sets, and the moved fraction over replicated node sets."""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import BALANCERS, HashRing, make_balancer

node_names = st.lists(
    st.text("abcdefgh0123456789-", min_size=1, max_size=8), min_size=1, max_size=12, unique=True
)
keys = st.lists(st.one_of(st.integers(), st.text(max_size=12)), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(BALANCERS), node_names, keys)
def test_pick_returns_a_current_node(kind, nodes, ks) -> None:
    b = make_balancer(kind, nodes, vnodes=16)
    load = {n: i % 3 for i, n in enumerate(nodes)}
    for k in ks:
        assert b.pick(k, load if kind == "least_connections" else None) in nodes


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["consistent_hash", "rendezvous"]), node_names, keys, st.data())
def test_only_keys_of_the_changed_node_move(kind, nodes, ks, data) -> None:
    """Removing a node moves only its keys; adding one moves keys only onto it."""
    b = make_balancer(kind, nodes, vnodes=16)
    before = {k: b.pick(k) for k in ks}
    new = "new-node"
    b.add(new)
    for k, n in before.items():
        assert b.pick(k) in (n, new)
    b.remove(new)
    assert {k: b.pick(k) for k in ks} == before
    if len(nodes) > 1:
        gone = data.draw(st.sampled_from(nodes))
        b.remove(gone)
        for k, n in before.items():
            if n != gone:
                assert b.pick(k) == n


@settings(max_examples=40, deadline=None)
@given(node_names, st.lists(st.tuples(st.booleans(), st.text("xyz0123", min_size=1, max_size=4)), max_size=9))
def test_incremental_ring_equals_a_fresh_build(nodes, changes) -> None:
    """Adding and removing nodes in place gives exactly the ring built from scratch for the final set."""
    ring = HashRing(nodes, vnodes=8)
    for add, name in changes:
        if add and name not in ring.nodes:
            ring.add(name)
        elif not add and name in ring.nodes:
            ring.remove(name)
    fresh = HashRing(ring.nodes, vnodes=8)
    assert ring._points == fresh._points and ring._owners == fresh._owners


def _moved(kind: str, nodes: list[str], ks: np.ndarray) -> float:
    b = make_balancer(kind, nodes, vnodes=160)
    before = b.pick_many(ks)
    b.add("added")
    return sum(x != y for x, y in zip(before, b.pick_many(ks), strict=True)) / len(ks)


def test_moved_fraction_mean_over_replicated_node_sets() -> None:
    """Over R independent node-name sets (replications), the 99.9% confidence interval of the mean
    moved fraction (Student t, R-1 degrees of freedom) contains 1/(N+1) for the ring and rendezvous
    and N/(N+1) for modulo."""
    n, reps, ks = 8, 12, np.arange(20_000)
    rng = random.Random(2024)
    expected = {"consistent_hash": 1 / (n + 1), "rendezvous": 1 / (n + 1), "modulo": n / (n + 1)}
    sets = [[f"{rng.getrandbits(48):x}" for _ in range(n)] for _ in range(reps)]
    tq = scipy.stats.t.ppf(0.9995, reps - 1)
    for kind, p in expected.items():
        xs = [_moved(kind, nodes, ks) for nodes in sets]
        sd = max(statistics.stdev(xs), math.sqrt(p * (1 - p) / len(ks)))  # floor: binomial key noise
        half = tq * sd / math.sqrt(reps)
        assert abs(statistics.fmean(xs) - p) <= half, (kind, statistics.fmean(xs), p, half)


def test_ring_share_spread_matches_one_over_sqrt_vnodes() -> None:
    """The spread behind the 20% tolerance of the unit test. The new node's V points are V of the
    M = (N+1)V points on the ring, so its share is Beta(V, M-V): mean p = 1/(N+1), relative standard
    deviation sqrt((1-p)/V) ~ 1/sqrt(V) (ignoring 1/M). With key sampling noise p(1-p)/K added, the
    sample variance over R node sets must lie in the 99.9% chi-square band with R-1 degrees of freedom."""
    n, vnodes, reps, ks = 8, 160, 16, np.arange(50_000)
    p = 1 / (n + 1)
    m = (n + 1) * vnodes
    var = vnodes * (m - vnodes) / (m**2 * (m + 1)) + p * (1 - p) / len(ks)
    rng = random.Random(7)
    xs = [_moved("consistent_hash", [f"{rng.getrandbits(48):x}" for _ in range(n)], ks) for _ in range(reps)]
    stat = (reps - 1) * statistics.variance(xs) / var
    lo, hi = scipy.stats.chi2.ppf([0.0005, 0.9995], reps - 1)
    assert lo <= stat <= hi, (stat, lo, hi, statistics.stdev(xs) / p, math.sqrt((1 - p) / vnodes))
