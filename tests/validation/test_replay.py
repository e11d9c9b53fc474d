"""Replay window: share of resumes the age window cannot serve against ``e^(−W/m)``.

A client goes offline for ``T ~ Exp(mean m)`` and then resumes from its last-seen offset. The window
keeps messages younger than ``W``. The first message it missed was published ``E`` after it left
(``E ~ Exp(λ)`` by memorylessness, ``λ`` = the publish rate of its room's other, online members);
that message is still in the window at the resume iff ``T − E < W``. So a resume misses with probability
``P(T > W + E) = e^(−W/m) · λm/(λm + 1)``, which is ``e^(−W/m)`` when rooms are busy.

A finite run only counts the resumes that happen before it ends, which under-counts long absences.
With absences starting uniformly over the ``L`` seconds after the clients connected, the share of
*counted* resumes that miss is

    ∫_W^L (L − t) f(t) (1 − e^(−λ(t − W))) dt  /  ∫_0^L (L − t) f(t) dt,   f = Exp(mean m) density,

which the test uses as the closed form (the correction is a few percent here).

Tolerance: the resumes of all replications are independent Bernoulli trials (different clients,
independent absences), so the check uses the 99% Wilson interval of the pooled proportion.
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate

from tests.validation.intervals import proportion_ci
from tests.validation.runs import make_config, metric, replicate

MEAN, RATE, DURATION, RAMP = 30.0, 1 / 60, 300.0, 2.0
N, ROOMS, PUBLISH = 400, 4, 0.02
ONLINE = 1 / (1 + RATE * MEAN)  # share of time a client is online (and publishing)
# The absent client's room receives the publishes of its other members while they are online.
ROOM_RATE = PUBLISH * (N - 1) / ROOMS * ONLINE

BASE = {
    "name": "validate-replay",
    "seed": 21,
    "duration": DURATION,
    "clients": {
        "count": N,
        "connect_ramp": RAMP,
        "reconnect": {"strategy": "none"},
        "resume": True,
        "rooms": {"count": ROOMS, "per_client": 1, "popularity": "uniform"},
        "publish_rate": PUBLISH,
        "message_size": "100B",
        "offline": {"rate": RATE, "mean": MEAN, "distribution": "exponential"},
    },
    "edge": {"idle_timeout": None},
    "gateways": {"count": 2},
    "backplane": {
        "kind": "redis_streams",
        "replay": {"max_messages": None, "max_age": 30.0, "max_per_resume": None},
    },
}


def miss_share(window: float, mean: float, room_rate: float, span: float) -> float:
    """Expected share of counted resumes that miss (see the module docstring)."""

    def density(t: float) -> float:
        return math.exp(-t / mean) / mean

    top = min(span, window + 60 * mean)  # beyond, the density is below e^-60: nothing left to add
    num, _ = integrate.quad(
        lambda t: (span - t) * density(t) * -math.expm1(-room_rate * (t - window)), window, top, limit=200
    )
    den, _ = integrate.quad(lambda t: (span - t) * density(t), 0.0, min(span, 60 * mean), limit=200)
    return num / den


def test_closed_form_limits() -> None:
    """Long runs and busy rooms give back e^(−W/m)."""
    assert miss_share(30, 30, 1e6, 1e7) == pytest.approx(math.exp(-1), rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("window", [30.0, 60.0])
def test_replay_miss_share(window: float) -> None:
    """replay_misses / resume_attempts = e^(−W/m) (censoring-corrected), 99% Wilson interval."""
    results = replicate(make_config(BASE, {"backplane.replay.max_age": window}), 4)
    misses, attempts = sum(metric(results, "replay_misses")), sum(metric(results, "resume_attempts"))
    ci = proportion_ci(misses, attempts)
    expected = miss_share(window, MEAN, ROOM_RATE, DURATION - RAMP)
    print(
        f"replay W={window:g}s: measured {ci} over {attempts:.0f} resumes, closed form {expected:.4f} "
        f"(e^-W/m = {math.exp(-window / MEAN):.4f})"
    )
    assert attempts > 200
    assert ci.contains(expected)
