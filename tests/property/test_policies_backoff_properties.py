"""Backoff properties: every strategy stays inside its Brooker range for any base, cap, attempt, draw."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import Backoff

bases = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
spans = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
# small attempts (below the cap) matter most; huge ones check overflow safety
attempts = st.one_of(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=5000))
uniforms = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


class FixedU:
    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


def t_of(base: float, cap: float, n: int) -> float:
    """min(cap, base * 2**n) computed independently (2**n as an exact integer)."""
    if base == 0:
        return 0.0
    exact = Fraction(base) * 2**n
    return cap if exact >= Fraction(cap) else float(exact)


@settings(deadline=None)
@given(bases, spans, attempts, uniforms)
def test_full_jitter_within_zero_and_t(base, span, n, u) -> None:
    cap = base + span
    d = Backoff("full_jitter", base, cap).delay(n, 0.0, FixedU(u))
    assert 0.0 <= d <= t_of(base, cap, n)


@settings(deadline=None)
@given(bases, spans, attempts, uniforms)
def test_equal_jitter_within_half_t_and_t(base, span, n, u) -> None:
    cap = base + span
    t = t_of(base, cap, n)
    d = Backoff("equal_jitter", base, cap).delay(n, 0.0, FixedU(u))
    assert t / 2 <= d <= t


@settings(deadline=None)
@given(bases, spans, st.lists(uniforms, min_size=1, max_size=60))
def test_decorrelated_within_base_and_cap(base, span, us) -> None:
    cap = base + span
    b = Backoff("decorrelated", base, cap)
    previous = base
    for n, u in enumerate(us):
        d = b.delay(n, previous, FixedU(u))
        assert base <= d <= cap
        assert d <= max(3 * previous, base) or math.isclose(d, 3 * previous)
        previous = d


@settings(deadline=None)
@given(bases, spans, st.integers(min_value=0, max_value=3000))
def test_exponential_monotone_and_capped(base, span, n) -> None:
    cap = base + span
    b = Backoff("exponential", base, cap)
    a, c = b.delay(n, 0.0, FixedU(0.5)), b.delay(n + 1, 0.0, FixedU(0.5))
    assert a <= c <= cap
    assert a == t_of(base, cap, n)


@settings(deadline=None)
@given(bases, spans, st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=1000))
def test_sequence_length_and_delay_limit(base, span, max_attempts, seed) -> None:
    import random

    b = Backoff("full_jitter", base, base + span, max_attempts=max_attempts)
    assert len(list(b.sequence(random.Random(seed)))) == max_attempts
    assert b.exhausted(max_attempts) and (max_attempts == 0 or not b.exhausted(max_attempts - 1))
