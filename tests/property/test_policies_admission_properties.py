"""The token bucket against the virtual-scheduling form of the same limit (GCRA), exactly.

GCRA keeps a theoretical arrival time ``tat``: a unit request at ``t`` conforms iff
``t >= tat - (burst - 1) / rate``, and then ``tat = max(tat, t) + 1 / rate``. For unit requests it
admits exactly what a bucket of ``burst`` tokens refilled at ``rate`` admits. Rates are powers of two,
bursts whole numbers and times multiples of 1/64 s, so the bucket's float arithmetic is exact and the
two must agree on every single decision, not just on average.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import TokenBucket

rates = st.integers(-3, 6).map(lambda e: 2.0**e)
bursts = st.integers(1, 8)
gaps = st.lists(st.integers(0, 200), min_size=1, max_size=120)  # in 1/64 s


def gcra(rate: float, burst: int, times: list[Fraction]) -> list[bool]:
    period = 1 / Fraction(rate)
    tolerance = (burst - 1) * period
    tat = times[0]
    out = []
    for t in times:
        ok = t >= tat - tolerance
        if ok:
            tat = max(tat, t) + period
        out.append(ok)
    return out


@settings(max_examples=400, deadline=None)
@given(rates, bursts, gaps)
def test_every_decision_matches_gcra(rate: float, burst: int, steps: list[int]) -> None:
    times = []
    t = Fraction(0)
    for g in steps:
        t += Fraction(g, 64)
        times.append(t)
    bucket = TokenBucket(rate, float(burst))
    got = [bucket.take(float(x)) for x in times]
    assert got == gcra(rate, burst, times)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.01, 1000.0),
    st.floats(1.0, 50.0),
    st.lists(st.floats(0.0, 2.0), min_size=1, max_size=150),
)
def test_admitted_within_burst_plus_rate_times_window(rate: float, burst: float, gaps_s: list[float]) -> None:
    bucket = TokenBucket(rate, burst)
    times, admitted = [], []
    t = 0.0
    for g in gaps_s:
        t += g
        if bucket.take(t):
            admitted.append(t)
        times.append(t)
        assert 0.0 <= bucket.tokens <= burst
    for i, a in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= burst + rate * (admitted[j] - a) + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 1000.0), st.floats(1.0, 50.0), st.lists(st.floats(0.0, 5.0), max_size=50))
def test_requests_one_period_apart_are_all_admitted(rate: float, burst: float, extra: list[float]) -> None:
    bucket = TokenBucket(rate, burst)
    t = 0.0
    assert bucket.take(t)
    for e in extra:
        t += (1.0 + e) / rate * (1 + 1e-12)
        assert bucket.take(t)
