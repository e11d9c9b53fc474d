"""Load balancing: share of connections that move when the fleet changes size.

An open socket stays on its gateway: a connection moves when its client connects again and lands on
another gateway. ``connections_moved_fraction`` is observed over the ``pool_change_reconnects`` clients
connected at the change that connected again. Here every client drops off for 0.5 s about every 2 s
(independently of its gateway), so the returning clients are a random sample of those connected; in
20 s after the change all but ``e^{−9}`` of them return (a bias of at most 1e-4, far inside the
intervals below). With ``n`` gateways after the change (``n = N + 1`` when one is added to ``N``,
``n = N`` when one of ``N`` is removed), a key-stable balancer moves:

* ``rendezvous``: exactly the keys whose highest score is the new (or removed) node, probability ``1/n``;
* ``consistent_hash``: the keys on the new (or removed) node's arcs. With ``V`` virtual nodes per
  gateway at random ring positions, a node's share of the ring is ``Beta(V, (n − 1)V)``: mean ``1/n``,
  standard deviation ``σ_ring = (1/n)·sqrt((n − 1)/(nV + 1))`` (≈ 7% of the mean at V = 160);
* ``modulo``: every key with ``h mod N ≠ h mod N'``, probability ``1 − 1/n`` for uniform hashes.

The client keys are the same in every replication, so the measured share is one binomial sample of the
``R`` returning keys: the tolerance is the 99% normal interval with variance ``p(1 − p)/R``, plus
``σ_ring²`` for the ring (the ring is one draw of its positions; replications cannot show that spread).

With ``edge.ring_placement: per_replication`` every replication draws its own ring, so the spread
shows in the replications themselves: the t interval of the mean over replications must contain
``1/n``, and the replications' standard deviation must match ``sqrt(σ_ring² + p(1 − p)/R)``.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from tests.validation.intervals import LEVEL, mean_ci, proportion_ci
from tests.validation.runs import make_config, replicate
from wssim.notes import result_notes

N, C, V = 4, 4000, 160

BASE = {
    "name": "validate-balancing",
    "seed": 4,
    "duration": "30s",
    "clients": {
        "count": C,
        "connect_ramp": "2s",
        "publish_rate": 0,
        "reconnect": {"strategy": "full_jitter"},
        "offline": {"rate": "0.5/s", "mean": "500ms", "distribution": "fixed"},
    },
    "edge": {"balancer": "consistent_hash", "virtual_nodes": V, "idle_timeout": None},
    "gateways": {"count": N},
    "backplane": {"kind": "in_memory"},
}

CHANGES = {
    "add": ({"gateways.count": N, "faults": [{"kind": "add_gateways", "at": "10s", "count": 1}]}, N + 1),
    "remove": (
        {
            "gateways.count": N + 1,
            "faults": [{"kind": "remove_gateways", "at": "10s", "count": 1, "drain": True}],
        },
        N + 1,
    ),
}


def expected_moved(balancer: str, n: int) -> tuple[float, float]:
    """Expected moved share and the ring's standard deviation for ``n`` gateways (the larger fleet)."""
    if balancer == "modulo":
        return 1 - 1 / n, 0.0
    if balancer == "rendezvous":
        return 1 / n, 0.0
    return 1 / n, (1 / n) * math.sqrt((n - 1) / (n * V + 1))


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("balancer", ["consistent_hash", "rendezvous", "modulo"])
def test_connections_moved_fraction(balancer: str, change: str) -> None:
    """connections_moved_fraction ≈ 1/n (hashing) or 1 − 1/n (modulo), within the derived interval."""
    overrides, n = CHANGES[change]
    (result,) = replicate(make_config(BASE, {"edge.balancer": balancer, **overrides}), 1)
    measured, back = (result.metrics[k] for k in ("connections_moved_fraction", "pool_change_reconnects"))
    expected, ring_sd = expected_moved(balancer, n)
    z = float(stats.norm.ppf(0.5 + LEVEL / 2))
    tolerance = z * math.sqrt(expected * (1 - expected) / back + ring_sd**2)
    print(f"{balancer} {change}: moved {measured:.4f}, closed form {expected:.4f} ± {tolerance:.4f}")
    assert abs(measured - expected) <= tolerance


def test_ring_share_spread_matches_beta() -> None:
    """The ring-spread term is right: over many rings the new node's share has sd σ_ring."""
    from wssim.policies import HashRing

    n, vnodes = 5, 40
    shares = [HashRing([f"r{seed}-gw{i}" for i in range(n)], vnodes).shares() for seed in range(200)]
    new = [s[f"r{seed}-gw{n - 1}"] for seed, s in enumerate(shares)]
    mean = sum(new) / len(new)
    sd = math.sqrt(sum((x - mean) ** 2 for x in new) / (len(new) - 1))
    predicted = (1 / n) * math.sqrt((n - 1) / (n * vnodes + 1))
    # sd of a sample sd from k normal draws: σ/sqrt(2(k−1)); 99% normal interval.
    z = float(stats.norm.ppf(0.5 + LEVEL / 2))
    assert abs(sd - predicted) <= z * predicted / math.sqrt(2 * (len(new) - 1))
    assert abs(mean - 1 / n) <= z * predicted / math.sqrt(len(new))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_consistent_hash_moves_exactly_the_changed_arc(change: str) -> None:
    """Given the ring and the keys, the moved share is that of the keys on the changed gateway's arcs.

    The balancer names gateways ``g0 .. g{n−1}`` and clients ``c0 .. c{C−1}`` (the same in every run);
    the one added (or removed) is the last gateway, so the closed form is the share of the ``C`` keys
    the ``n``-gateway ring sends to ``g{n−1}``, and the returning clients are a random sample of them
    (99% Wilson interval over the ``R`` that returned).
    """
    from wssim.policies import HashRing
    from wssim.sim.edge import client_key, node_name

    overrides, n = CHANGES[change]
    (result,) = replicate(make_config(BASE, {"edge.balancer": "consistent_hash", **overrides}), 1)
    measured, back = (result.metrics[k] for k in ("connections_moved_fraction", "pool_change_reconnects"))
    ring = HashRing([node_name(g) for g in range(n)], V)
    on_arc = sum(ring.pick(client_key(c)) == node_name(n - 1) for c in range(C)) / C
    ci = proportion_ci(round(measured * back), back)
    print(f"consistent_hash {change}: moved {ci}, keys on gateway {n - 1}'s arcs: {on_arc:.4f}")
    assert ci.contains(on_arc)


def test_rings_drawn_per_replication_show_their_spread() -> None:
    """Seeded per replication, the ring's spread is in the interval over replications, not derived."""
    overrides, n = CHANGES["add"]
    config = make_config(BASE, {**overrides, "edge.ring_placement": "per_replication"})
    runs = replicate(config, 16)
    moved = [r.metrics["connections_moved_fraction"] for r in runs]
    back = sum(r.metrics["pool_change_reconnects"] for r in runs) / len(runs)
    ci = mean_ci(moved)
    expected, ring_sd = expected_moved("consistent_hash", n)
    sd = math.sqrt(sum((x - ci.estimate) ** 2 for x in moved) / (len(moved) - 1))
    predicted = math.sqrt(ring_sd**2 + expected * (1 - expected) / back)
    chi2 = stats.chi2(len(moved) - 1)  # 99% interval of a sample sd of normal draws
    low, high = (predicted * math.sqrt(chi2.ppf(q) / (len(moved) - 1)) for q in (0.005, 0.995))
    print(f"per-replication rings: moved {ci}, sd {sd:.4f} in [{low:.4f}, {high:.4f}]")
    assert ci.contains(expected)
    assert low <= sd <= high


QUIET = {"clients.offline": {"rate": "0/s"}}  # nobody drops off: only what the change does reconnects


def test_open_sockets_do_not_move_so_a_scale_out_alone_moves_none() -> None:
    """With no client connecting again after the change nothing moved: the fraction is not measured
    (NaN, over 0 returning clients) and the run warns, where comparing the balancer before and after
    would report the new gateway's share of the ring."""
    overrides, _ = CHANGES["add"]
    config = make_config(BASE, {**overrides, **QUIET})
    (result,) = replicate(config, 1)
    assert result.metrics["pool_change_reconnects"] == 0
    assert math.isnan(result.metrics["connections_moved_fraction"])
    assert [n.topic for n in result_notes(result.metrics, config)] == ["connections_moved_fraction"]


def test_a_scale_in_moves_exactly_the_removed_gateways_clients() -> None:
    """With nobody else reconnecting, the clients that return are the ones the removed gateway drained:
    exactly the keys the ring had sent to it, and every one of them lands elsewhere (1.0, not the
    removed gateway's ≈ 1/n share of all connections)."""
    from wssim.policies import HashRing
    from wssim.sim.edge import client_key, node_name

    overrides, n = CHANGES["remove"]
    config = make_config(BASE, {**overrides, **QUIET, "gateways.drain_timeout": "5s"})
    (result,) = replicate(config, 1)
    ring = HashRing([node_name(g) for g in range(n)], V)
    drained = sum(ring.pick(client_key(c)) == node_name(n - 1) for c in range(C))
    assert result.metrics["pool_change_reconnects"] == drained
    assert result.metrics["connections_moved_fraction"] == 1.0
