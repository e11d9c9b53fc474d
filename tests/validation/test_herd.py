"""Reconnect storms: the herd after a gateway crash, by backoff strategy.

Gateway 0 of 4 crashes and does not come back; its ~C/4 clients reconnect to the three others.

1. **Synchronisation** (no admission limit, every attempt succeeds). ``none`` reconnects everyone at
   the crash instant: one 100 ms bin holds the whole herd. ``full_jitter`` spreads the first attempt
   uniformly over ``[0, base]`` = 10 bins, so its busiest bin holds about a tenth of the herd. The check:
   the one-sided 99% upper bound of ``peak(full_jitter)/peak(none)`` over replications is ≤ 1/5.
2. **Brooker's ranking** (admission control refuses handshakes beyond 50/s per gateway, so clients
   contend). Brooker ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015) found, for
   contending clients: by total work (calls) *full ≲ decorrelated < equal ≪ exponential without
   jitter*; by completion time *decorrelated ≲ full < equal < exponential without jitter*. Here work is
   ``reconnect_attempts`` and completion is ``herd_convergence_s``. The checks assert the robust part —
   full and equal jitter beat exponential-without-jitter on both — each as a paired difference
   (same seed, common random numbers) whose 99% t interval lies below 0, and that full jitter also
   cuts the peak of connection *attempts* (refused ones included) at least five-fold against
   exponential backoff at the same cap. The rest of the ordering is printed for the report.
"""

from __future__ import annotations

import pytest

from tests.validation.intervals import paired_diff_ci, ratio_upper_bound
from tests.validation.runs import make_config, metric, replicate

C, REPS = 2000, 5
BASE = {
    "name": "validate-herd",
    "seed": 17,
    "duration": "60s",
    "warmup": "14s",
    "interval": "100ms",
    "clients": {
        "count": C,
        "connect_ramp": "10s",
        "publish_rate": 0,
        "reconnect": {"strategy": "full_jitter", "base": "1s", "cap": "30s"},
    },
    "edge": {"balancer": "consistent_hash", "idle_timeout": None},
    "gateways": {"count": 4},
    "backplane": {"kind": "in_memory"},
    "faults": [{"kind": "gateway_crash", "at": "15s", "gateway": 0, "count": 1, "restart": False}],
}
CONTENDED = {"gateways.admission": {"handshake_rate": "50/s", "retry_after": "100ms"}}


def _runs(strategy: str, extra: dict | None = None):
    return replicate(make_config(BASE, {"clients.reconnect.strategy": strategy, **(extra or {})}), REPS)


@pytest.mark.slow
def test_full_jitter_cuts_the_peak_five_fold() -> None:
    """Upper 99% bound of peak(full_jitter)/peak(none) ≤ 1/5 (paired replications)."""
    none, full = _runs("none"), _runs("full_jitter")
    bound = ratio_upper_bound(metric(full, "peak_handshake_rate"), metric(none, "peak_handshake_rate"))
    print(
        f"peak handshakes/s: none {metric(none, 'peak_handshake_rate')}, "
        f"full_jitter {metric(full, 'peak_handshake_rate')}; ratio upper bound {bound:.3f}"
    )
    assert bound <= 1 / 5


@pytest.mark.slow
def test_brooker_ranking() -> None:
    """full_jitter and equal_jitter need fewer attempts and converge sooner than exponential."""
    runs = {s: _runs(s, CONTENDED) for s in ("exponential", "full_jitter", "equal_jitter", "decorrelated")}
    for s, rs in runs.items():
        print(
            f"{s:13s} attempts {sum(metric(rs, 'reconnect_attempts')) / REPS:8.1f}  "
            f"convergence {sum(metric(rs, 'herd_convergence_s')) / REPS:6.2f} s  "
            f"peak {sum(metric(rs, 'peak_handshake_rate')) / REPS:7.1f}/s"
        )
    attempts_bound = ratio_upper_bound(
        metric(runs["full_jitter"], "peak_connect_attempt_rate"),
        metric(runs["exponential"], "peak_connect_attempt_rate"),
    )
    print(f"peak connect attempts/s, full_jitter / exponential: upper bound {attempts_bound:.3f}")
    assert attempts_bound <= 1 / 5
    for jittered in ("full_jitter", "equal_jitter"):
        for name in ("reconnect_attempts", "herd_convergence_s"):
            diff = paired_diff_ci(metric(runs[jittered], name), metric(runs["exponential"], name))
            print(f"{jittered} − exponential, {name}: {diff}")
            assert diff.high < 0, f"{jittered} does not beat exponential on {name}: {diff}"
