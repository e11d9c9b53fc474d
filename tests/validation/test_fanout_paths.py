"""The batched fan-out path against the exact one: the same metrics on fleets small enough for both.

Four fleets of 8,000 clients, each run on both paths (``simulation.fanout: exact`` and ``batched``)
for ``REPS`` replications with common seeds: the connections, crashes, offline periods and slow
readers are drawn from the same streams on both paths, the publications from each path's own.
``simulation.batched_from: 0`` makes ``auto`` batch these fleets, so ``exact`` is what keeps them exact.

1. **plain**: a chat fleet in rooms of 20 on 4 gateways, nothing in the way;
2. **cpu**: rooms of 200 on 2 one-core gateways, near saturation (about 85 % busy after the warm-up);
3. **crash**: gateway 0 crashes and restarts, its clients reconnect as a herd and resume from a
   Redis stream;
4. **slow**: slow consumers in 2 % of the clients, offline periods, some of them half-open;
5. **capstone**: the capstone scenario's fleet at 1/250 of its clients (Zipf rooms, slow consumers,
   a durable JetStream backplane, the gateway CPU, a crash and its herd), on its 50 ms step.

Each metric's paired difference (exact − batched, same replication) has a Student t interval that
must contain 0. A fleet is one test of ``k`` such checks (``k`` up to 13), so each interval is at
``1 − 1 %/k`` (Bonferroni): a correct simulator fails a fleet's test by chance once in a hundred
seeds, as every validation test does, rather than about once in ten (13 checks at 99 % each).
``REPS = 8`` keeps the power to see an exact publication queueing at the backplane behind a whole
batched step instead of the publications before it (+1.7 µs CPU wait, +5.5 µs latency p50 on the
slow fleet): the slow fleet fails with it.

The latency quantiles differ structurally: the batched path bins its samples in log-spaced bins of
relative width ``REL`` (:mod:`wssim.sim.samples`) and reads a quantile at its bin's midpoint, within
``REL / 2`` of a sample's value, so their intervals are widened by ``REL / 2`` of the exact path's
quantile. Nothing else is structural: both paths hold a fan-out job's frames in memory from its
arrival until written when it waits for the CPU, and none when it starts at once.

The run's ``fanout_path`` (what the manifest records for each run) is the path asked for.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import pytest

from tests.validation.intervals import LEVEL, paired_diff_ci
from tests.validation.runs import make_config, metric, replicate
from wssim.metrics import RunResult
from wssim.sim.samples import REL

REPS, WARMUP = 8, 5.0


def fleet(name: str, clients: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A fleet of 8,000 clients publishing 200-byte messages into rooms, on 4 gateways by default."""
    raw: dict[str, Any] = {
        "name": f"fanout-paths-{name}",
        "seed": 5,
        "duration": "20s",
        "warmup": f"{WARMUP:g}s",
        "interval": "1s",
        "clients": {"count": 8000, "connect_ramp": "2s", "message_size": "200B", **clients},
        "gateways": {"count": 4},
        "backplane": {"kind": "redis_pubsub", "topology": "channel_per_room"},
        "simulation": {"batched_from": 0},
    }
    for key, value in top.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return raw


FLEETS = {
    "plain": fleet("plain", {"rooms": {"count": 400}, "publish_rate": "2/min"}),
    "cpu": fleet(
        "cpu",
        {"rooms": {"count": 40}, "publish_rate": "8/min"},
        gateways={"count": 2, "cpu": {"cores": 1}},
    ),
    "crash": fleet(
        "crash",
        {"rooms": {"count": 400}, "publish_rate": "2/min", "resume": True},
        duration="35s",
        backplane={"kind": "redis_streams"},
        faults=[{"kind": "gateway_crash", "at": "10s", "gateway": 0, "restart": True}],
    ),
    "slow": fleet(
        "slow",
        {
            "rooms": {"count": 800},
            "publish_rate": "2/min",
            "slow_consumers": {"fraction": 0.02, "drain_rate": "1/s"},
            "offline": {"rate": "1/min", "mean": "3s", "half_open_fraction": 0.3},
        },
    ),
    "capstone": fleet(
        "capstone",
        {
            "rooms": {"count": 2400, "per_client": 3, "popularity": "zipf", "zipf_exponent": 0.4},
            "publish_rate": "5/min",
            "message_size": "300B",
            "resume": True,
            "reconnect": {"strategy": "full_jitter", "base": "1s", "cap": "30s"},
            "slow_consumers": {"fraction": 0.001, "drain_rate": "5/s"},
        },
        duration="40s",
        gateways={"count": 8, "cpu": {"cores": 1}, "send_queue": {"limit": 71, "overflow": "disconnect"}},
        backplane={"kind": "jetstream", "replay": {"max_messages": 1000, "max_age": "3min"}},
        simulation={"batched_from": 0, "step": "50ms"},
        faults=[{"kind": "gateway_crash", "at": "15s", "gateway": 0, "count": 1}],
    ),
}
METRICS = [
    "deliveries_delivered",
    "messages_lost",
    "latency_p50_s",
    "latency_p99_s",
    "gateway_cpu_utilisation_peak",
    "gateway_cpu_utilisation_mean",
    "gateway_cpu_wait_mean_s",
    "send_queue_depth_p99",
    "send_queue_depth_max",
    "gateway_memory_peak_bytes",
    "herd_convergence_s",
    "messages_replayed",
    "deliveries_to_dead_peers",
]


def utilisation_mean(result: RunResult) -> float:
    """Mean CPU utilisation of the gateways over the intervals after the warm-up (series
    ``gateway_cpu_utilisation``, one value per gateway and interval)."""
    ts = result.timeseries
    rows = ts[(ts.series == "gateway_cpu_utilisation") & (ts.time >= WARMUP)]
    return float(rows.value.mean())


@cache
def runs(name: str, path: str) -> list[RunResult]:
    """``REPS`` replications of fleet ``name`` on fan-out path ``path``."""
    results = replicate(make_config(copy.deepcopy(FLEETS[name]), {"simulation.fanout": path}), REPS)
    for r in results:
        r.metrics["gateway_cpu_utilisation_mean"] = utilisation_mean(r)
    return results


def slack(metric_name: str, exact: list[float]) -> float:
    """The derived slack of ``metric_name``'s paired difference (0 where nothing is structural)."""
    return REL / 2 * max(exact) if metric_name.startswith("latency_") else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FLEETS))
def test_the_batched_path_gives_the_exact_paths_metrics(name: str) -> None:
    """Each path taken as asked; every metric's paired difference contains 0 (Bonferroni per fleet)."""
    exact, batched = runs(name, "exact"), runs(name, "batched")
    assert [r.info["fanout_path"] for r in exact] == ["exact"] * REPS  # forced, though auto would batch
    assert [r.info["fanout_path"] for r in batched] == ["batched"] * REPS
    pairs = {m: (metric(exact, m), metric(batched, m)) for m in METRICS}
    # out: what neither path measured in this fleet (no slow reader, no crash)
    pairs = {m: ab for m, ab in pairs.items() if not all(math.isnan(x) for x in ab[0] + ab[1])}
    level = 1 - (1 - LEVEL) / len(pairs)  # Bonferroni: 1 % for the fleet's checks together
    failures = []
    for m, (a, b) in pairs.items():
        diff, s = paired_diff_ci(a, b, level), slack(m, a)
        d = f"{diff.estimate:.4g} [{diff.low:.4g}, {diff.high:.4g}] ({level:.3%}, n={REPS})"
        print(f"{name:6s} {m:30s} exact {sum(a) / REPS:<11.5g} exact − batched {d} slack {s:.2g}")
        if not diff.contains(0.0, slack=s):
            failures.append(f"{m}: exact − batched = {d}, slack {s:.2g}")
    assert not failures, failures
