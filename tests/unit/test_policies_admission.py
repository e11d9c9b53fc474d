"""The admission token bucket: starts full, refills at its rate, never exceeds its burst."""

from __future__ import annotations

import math

import pytest

from wssim.policies import TokenBucket
from wssim.policies.admission import default_burst


def test_a_full_bucket_admits_its_burst_back_to_back_then_refuses() -> None:
    b = TokenBucket(rate=10.0, burst=3.0)
    assert [b.take(0.0) for _ in range(5)] == [True, True, True, False, False]


def test_a_refusal_takes_nothing_and_the_rate_refills() -> None:
    b = TokenBucket(rate=4.0, burst=1.0)
    assert b.take(0.0) and not b.take(0.1)
    assert b.level(0.1) == pytest.approx(0.4)
    assert b.take(0.25) and not b.take(0.25)


def test_refill_stops_at_the_burst() -> None:
    b = TokenBucket(rate=100.0, burst=2.0)
    b.take(0.0)
    b.take(0.0)
    assert b.level(1000.0) == 2.0
    assert [b.take(1000.0) for _ in range(3)] == [True, True, False]


def test_cost_and_fill() -> None:
    b = TokenBucket(rate=1.0, burst=5.0)
    assert b.take(0.0, cost=4.0) and not b.take(0.0, cost=2.0) and b.take(0.0, cost=1.0)
    b.fill(0.5)
    assert b.level(0.5) == 5.0


def test_an_earlier_time_counts_as_the_last_one() -> None:
    b = TokenBucket(rate=1.0, burst=1.0, now=10.0)
    assert b.take(10.0) and not b.take(5.0)
    assert b.take(11.0)


def test_default_burst_is_one_seconds_worth_and_at_least_one() -> None:
    assert default_burst(250.0) == 250.0 and default_burst(0.2) == 1.0
    assert TokenBucket(0.5).burst == 1.0 and TokenBucket(40.0).burst == 40.0


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1.0), (math.inf, 1.0), (1.0, -0.5), (1.0, math.nan)])
def test_bad_parameters_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
