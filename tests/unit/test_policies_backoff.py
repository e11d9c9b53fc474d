"""Backoff strategies: exact values, ranges, the attempt limit, overflow safety."""

from __future__ import annotations

import random

import numpy as np
import pytest

from wssim.policies import STRATEGIES, Backoff, BackoffExhausted


class FixedU:
    """An rng whose ``random()`` always returns ``u``."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


def test_strategy_names() -> None:
    assert STRATEGIES == ("none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated")


def test_none_and_constant() -> None:
    rng = random.Random(1)
    assert [Backoff("none", 1, 30).delay(n, 0, rng) for n in range(5)] == [0.0] * 5
    assert [Backoff("constant", 2.5, 30).delay(n, 0, rng) for n in range(5)] == [2.5] * 5


def test_exponential_doubles_then_caps() -> None:
    b = Backoff("exponential", 1.0, 30.0)
    assert [b.delay(n, 0, FixedU(0.5)) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


@pytest.mark.parametrize("u", [0.0, 0.25, 0.999])
def test_full_jitter_formula(u: float) -> None:
    b = Backoff("full_jitter", 0.5, 20.0)
    for n in range(10):
        assert b.delay(n, 0, FixedU(u)) == pytest.approx(u * min(20.0, 0.5 * 2**n))


@pytest.mark.parametrize("u", [0.0, 0.5, 0.999])
def test_equal_jitter_formula(u: float) -> None:
    b = Backoff("equal_jitter", 0.5, 20.0)
    for n in range(10):
        t = min(20.0, 0.5 * 2**n)
        assert b.delay(n, 0, FixedU(u)) == pytest.approx(t / 2 + u * t / 2)


def test_decorrelated_formula_and_first_attempt() -> None:
    b = Backoff("decorrelated", 1.0, 30.0)
    # previous below base (e.g. 0 before the first attempt) counts as base: U(base, 3 base)
    assert b.delay(0, 0.0, FixedU(0.5)) == pytest.approx(1.0 + 0.5 * (3.0 - 1.0))
    assert b.delay(3, 4.0, FixedU(0.25)) == pytest.approx(1.0 + 0.25 * (12.0 - 1.0))
    assert b.delay(3, 25.0, FixedU(0.9)) == 30.0  # capped


def test_decorrelated_sequence_feeds_previous() -> None:
    b = Backoff("decorrelated", 1.0, 1000.0, max_attempts=6)
    seq = list(b.sequence(FixedU(0.999999)))
    # with u -> 1 each delay approaches 3 x the previous one
    for prev, cur in zip([1.0, *seq], seq, strict=False):
        assert cur == pytest.approx(1.0 + 0.999999 * (3 * prev - 1.0))


def test_huge_attempt_does_not_overflow() -> None:
    for s in ("exponential", "full_jitter", "equal_jitter"):
        b = Backoff(s, 1.0, 60.0)
        assert 0.0 <= b.delay(10**6, 0, FixedU(0.5)) <= 60.0
        assert b.ceiling(10**9) == 60.0
    assert Backoff("exponential", 1e-300, 1e300).ceiling(5000) == 1e300


def test_zero_base() -> None:
    b = Backoff("full_jitter", 0.0, 10.0)
    assert b.delay(50, 0, FixedU(0.9)) == 0.0


def test_max_attempts_delay_raises_sequence_stops() -> None:
    b = Backoff("full_jitter", 1, 30, max_attempts=3)
    rng = random.Random(3)
    b.delay(2, 0, rng)
    with pytest.raises(BackoffExhausted):
        b.delay(3, 0, rng)
    assert b.exhausted(3) and not b.exhausted(2)
    assert len(list(b.sequence(rng))) == 3
    assert list(Backoff("constant", 1, 1, max_attempts=0).sequence(rng)) == []


def test_unbounded_sequence_keeps_going() -> None:
    it = Backoff("exponential", 1, 8).sequence(random.Random(0))
    assert [next(it) for _ in range(6)] == [1, 2, 4, 8, 8, 8]


def test_one_draw_per_delay_for_every_strategy() -> None:
    """Common random numbers: each delay consumes exactly one uniform whatever the strategy."""
    for s in STRATEGIES:
        rng = np.random.default_rng(7)
        b = Backoff(s, 1, 30)
        for n in range(5):
            b.delay(n, 1.0, rng)
        assert rng.random() == np.random.default_rng(7).random(6)[5], s


def test_numpy_and_stdlib_rngs_work() -> None:
    for rng in (np.random.default_rng(1), random.Random(1)):
        d = Backoff("full_jitter", 1, 30).delay(4, 0, rng)
        assert 0 <= d <= 16


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "linear", "base": 1, "cap": 2},
        {"strategy": "constant", "base": -1, "cap": 2},
        {"strategy": "constant", "base": 3, "cap": 2},
        {"strategy": "constant", "base": 1, "cap": float("inf")},
        {"strategy": "constant", "base": 1, "cap": 2, "max_attempts": -1},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_vectorized_delays_equal_scalar(strategy: str) -> None:
    b = Backoff(strategy, 0.5, 40.0)
    rng = np.random.default_rng(3)
    n = np.concatenate([np.arange(12), [100, 10**6]])
    u = rng.random(n.shape)
    prev = rng.uniform(0, 40, n.shape)
    got = b.from_uniform_array(n, prev, u)
    want = [b.from_uniform(int(a), float(p), float(x)) for a, p, x in zip(n, prev, u, strict=True)]
    assert got.shape == n.shape
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=0)


def test_vectorized_zero_base() -> None:
    b = Backoff("full_jitter", 0.0, 5.0)
    assert b.from_uniform_array(3, 0.0, np.full(4, 0.7)).tolist() == [0.0] * 4
