"""Backpressure: time to OOM with unbounded queues, M/M/1/K drops, and bounded memory.

1. **Time to OOM.** One gateway, every client a slow consumer in one room. Each client's queue grows
   at ``a − d`` messages/s (``a`` = messages/s arriving for it, ``d`` = its drain rate), so queued
   bytes grow at ``Σ(a − d)·size`` and the gateway runs out of memory at
   ``t_oom = t_0 + headroom / Σ(a − d)·size`` with ``headroom = memory − base − connections·budget``.
   Arrivals and drains are random, so the OOM instant is too: the tolerance is the 99% t interval of
   the OOM time over replications, widened by one message interval ``1/a`` (the OOM can only happen
   at an arrival).
2. **M/M/1/K and M/D/1/K.** Poisson arrivals at rate ``a`` into a ``drop_newest`` queue of ``K``
   messages, read one at a time with exponential read times of mean ``1/d`` (``read_time:
   exponential``, the default): a birth-death chain on ``0..K`` whose blocking probability with
   ``ρ = a/d`` is ``(1−ρ)ρ^K / (1−ρ^(K+1))``. By PASTA the share of arrivals dropped equals it. A
   steady reader (``read_time: deterministic``, every read ``1/d``) is M/D/1/K instead, about half the
   drops at ρ = 0.9, K = 5 (:func:`md1k_blocking`, from the embedded chain at departures): the check
   tells the two apart. Tolerance: the 99% t interval over replications of the per-run share.
3. **Bounded policies.** With any bounded policy a queue never holds more than ``limit`` messages,
   so a gateway never uses more than ``base + connections·(budget + limit·size)`` and never OOMs, in
   every run (an exact inequality, no statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from tests.validation.intervals import mean_ci
from tests.validation.runs import make_config, metric, replicate

KIB, MIB = 1024, 1024 * 1024
BUDGET = 32 * KIB  # kernel 8 + tls 20 + app 4 KiB (the defaults)


def mm1k_blocking(rho: float, k: int) -> float:
    """Blocking probability of an M/M/1/K queue (K = places, including the one being drained)."""
    if math.isclose(rho, 1.0):
        return 1 / (k + 1)
    return (1 - rho) * rho**k / (1 - rho ** (k + 1))


def mg1k_blocking(rho: float, k: int, arrivals_pmf: Callable[[int], float]) -> float:
    """Blocking probability of an M/G/1/K queue from its embedded chain at departures.

    ``arrivals_pmf(j)`` is the probability of ``j`` Poisson arrivals during one service. The chain on
    ``0..K−1`` (messages left behind) has stationary law ``π``; then ``P_block = 1 − 1/(π_0 + ρ)``
    (Gross & Harris, *Fundamentals of Queueing Theory*, M/G/1/K).
    """
    a = np.array([arrivals_pmf(j) for j in range(k + 1)])
    chain = np.zeros((k, k))
    for i in range(k):
        start = max(i - 1, 0)  # from an empty queue the next arrival starts a service
        for j in range(start, k):
            chain[i, j] = a[j - start] if j < k - 1 else 1 - a[: j - start].sum()
    values, vectors = np.linalg.eig(chain.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    pi /= pi.sum()
    return float(1 - 1 / (pi[0] + rho))


def md1k_blocking(rho: float, k: int) -> float:
    """Blocking probability of an M/D/1/K queue (deterministic drain time ``1/d``)."""
    return mg1k_blocking(rho, k, lambda j: float(stats.poisson.pmf(j, rho)))


def arrivals_per_client(publish_rate: float, members: int) -> float:
    """Messages/s arriving for one member of a room where every member publishes at ``publish_rate``.

    The publisher receives its own message back (the room's fan-out includes it).
    """
    return publish_rate * members


def test_mm1k_formula() -> None:
    """Sanity of the closed forms: K=1 is Erlang's loss formula ρ/(1+ρ); ρ→1 gives 1/(K+1); the
    embedded-chain M/G/1/K with exponential service reproduces M/M/1/K."""
    assert mm1k_blocking(0.5, 1) == pytest.approx(0.5 / 1.5)
    assert mm1k_blocking(1 - 1e-9, 4) == pytest.approx(0.2, rel=1e-6)
    for rho, k in [(0.5, 3), (0.9, 5), (1.5, 8)]:
        geometric = lambda j, r=rho: (1 / (1 + r)) * (r / (1 + r)) ** j  # noqa: E731
        assert mg1k_blocking(rho, k, geometric) == pytest.approx(mm1k_blocking(rho, k), rel=1e-9)
    assert md1k_blocking(0.5, 1) == pytest.approx(0.5 / 1.5)  # K=1: insensitive to the service law


OOM_N, OOM_RATE, OOM_DRAIN, OOM_SIZE = 20, 1.0, 5.0, 10 * KIB
OOM_BASE = {
    "name": "validate-oom",
    "seed": 5,
    "duration": "40s",
    "clients": {
        "count": OOM_N,
        "connect_ramp": "100ms",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": OOM_RATE,
        "message_size": OOM_SIZE,
        "slow_consumers": {"fraction": 1.0, "drain_rate": OOM_DRAIN},
        "reconnect": {"strategy": "none"},
    },
    "edge": {"idle_timeout": None},
    "gateways": {
        "count": 1,
        "memory": "64MiB",
        "base_memory": "32MiB",
        "send_queue": {"limit": None, "limit_bytes": None, "overflow": "unbounded"},
        "restart_delay": "1h",
    },
    "backplane": {"kind": "in_memory"},
    "alerts": {"send_queue_depth_p99": None},
}


def first_oom(result) -> float:
    """Time of the first OOM marker of a run."""
    times = [t for t, label in result.markers if "oom" in label.lower()]
    assert times, f"no OOM marker in {result.markers[:10]}"
    return min(times)


@pytest.mark.slow
def test_unbounded_queue_ooms_on_time() -> None:
    """First OOM at t0 + headroom / Σ(a − d)·size (t interval over replications ± 1/a)."""
    config = make_config(OOM_BASE)
    results = replicate(config, 6)
    assert all(r.metrics["gateway_oom_crashes"] >= 1 for r in results)
    a = arrivals_per_client(OOM_RATE, OOM_N)
    headroom = config.gateways.memory - config.gateways.base_memory - OOM_N * BUDGET
    t0 = config.clients.connect_ramp  # every client connected and receiving
    expected = t0 + headroom / (OOM_N * (a - OOM_DRAIN) * OOM_SIZE)
    ci = mean_ci([first_oom(r) for r in results])
    print(f"time to OOM: measured {ci}, closed form {expected:.3f} s (± {1 / a:.3f} s)")
    assert ci.contains(expected, slack=1 / a)


K, MM_N, MM_RATE, MM_DRAIN = 5, 10, 0.9, 10.0  # a = 9/s per client, ρ = 0.9
MM_BASE = {
    "name": "validate-mm1k",
    "seed": 3,
    "duration": "200s",
    "warmup": "5s",
    "clients": {
        "count": MM_N,
        "connect_ramp": "100ms",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": MM_RATE,
        "message_size": "100B",
        "slow_consumers": {"fraction": 1.0, "drain_rate": MM_DRAIN},
        "reconnect": {"strategy": "none"},
    },
    "edge": {"idle_timeout": None},
    "gateways": {"count": 1, "send_queue": {"limit": K, "overflow": "drop_newest", "gap_notice": False}},
    "backplane": {"kind": "in_memory"},
}


def _drop_shares(read_time: str = "exponential") -> list[float]:
    results = replicate(make_config(MM_BASE, {"clients.slow_consumers.read_time": read_time}), 6)
    return [
        d / e
        for d, e in zip(
            metric(results, "messages_dropped_overflow"), metric(results, "deliveries_expected"), strict=True
        )
    ]


@pytest.mark.slow
def test_drop_newest_is_mm1k() -> None:
    """With exponential drains: share of arrivals dropped = M/M/1/K blocking (t interval)."""
    ci = mean_ci(_drop_shares())
    rho = arrivals_per_client(MM_RATE, MM_N) / MM_DRAIN
    expected = mm1k_blocking(rho, K)
    print(f"M/M/1/{K} blocking at rho={rho:.2f}: measured {ci}, closed form {expected:.4f}")
    assert ci.contains(expected)


@pytest.mark.slow
def test_drop_newest_with_a_steady_reader_is_md1k() -> None:
    """With deterministic read times: share dropped = M/D/1/K blocking, and not M/M/1/K's."""
    ci = mean_ci(_drop_shares("deterministic"))
    rho = arrivals_per_client(MM_RATE, MM_N) / MM_DRAIN
    expected = md1k_blocking(rho, K)
    print(f"M/D/1/{K} blocking at rho={rho:.2f}: measured {ci}, closed form {expected:.4f}")
    assert ci.contains(expected) and not ci.contains(mm1k_blocking(rho, K))


BOUND_LIMIT, BOUND_N, BOUND_SIZE = 50, 40, 4 * KIB
BOUND_BASE = {
    "name": "validate-bounded",
    "seed": 2,
    "duration": "40s",
    "clients": {
        "count": BOUND_N,
        "connect_ramp": "100ms",
        "rooms": {"count": 1, "per_client": 1},
        "publish_rate": "30/min",
        "message_size": BOUND_SIZE,
        "conflate_keys": 16,
        "slow_consumers": {"fraction": 0.5, "drain_rate": "2/s"},
        "reconnect": {"strategy": "full_jitter"},
    },
    "edge": {"idle_timeout": None},
    "gateways": {
        "count": 1,
        "memory": "96MiB",
        "base_memory": "64MiB",
        "send_queue": {"limit": BOUND_LIMIT, "overflow": "drop_oldest", "credit": 16},
    },
    "backplane": {"kind": "in_memory"},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "policy", ["drop_oldest", "drop_newest", "conflate", "disconnect", "credit", "block"]
)
def test_bounded_policy_bounds_memory(policy: str) -> None:
    """Peak memory ≤ base + connections·(budget + limit·size); no OOM; depth ≤ limit (exact)."""
    config = make_config(BOUND_BASE, {"gateways.send_queue.overflow": policy})
    (result,) = replicate(config, 1)
    m = result.metrics
    bound = config.gateways.base_memory + m["connections_peak"] * (BUDGET + BOUND_LIMIT * BOUND_SIZE)
    print(
        f"{policy}: peak memory {m['gateway_memory_peak_bytes'] / MIB:.2f} MiB, bound {bound / MIB:.2f} MiB"
    )
    assert m["gateway_oom_crashes"] == 0
    assert m["send_queue_depth_max"] <= BOUND_LIMIT
    assert m["gateway_memory_peak_bytes"] <= bound


@pytest.mark.slow
def test_unbounded_policy_breaks_the_same_bound() -> None:
    """The same load with an unbounded queue does exceed the bound (the check can fail)."""
    config = make_config(BOUND_BASE, {"gateways.send_queue.overflow": "unbounded"})
    (result,) = replicate(config, 1)
    m = result.metrics
    bound = config.gateways.base_memory + m["connections_peak"] * (BUDGET + BOUND_LIMIT * BOUND_SIZE)
    assert m["gateway_oom_crashes"] >= 1 or m["gateway_memory_peak_bytes"] > bound
