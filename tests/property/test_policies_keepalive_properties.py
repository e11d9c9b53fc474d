"""Keepalive properties: the lazy deadlines agree with an explicit timeline of pings."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import Keepalive

durations = st.floats(min_value=0.5, max_value=600.0, allow_nan=False)
maybe = st.one_of(st.none(), durations)


def timeline_cut(
    ping: float | None, idle: float | None, last_traffic: float, pings: int = 50
) -> float | None:
    """Walk ``pings`` pings of the timeline: the idle timer fires at the first gap between traffic >= idle."""
    if idle is None:
        return None
    t = Fraction(last_traffic)  # exact arithmetic: no rounding in the gaps
    for _ in range(pings):
        if ping is None:  # silent: the first gap never ends
            return float(t) + idle
        nxt = t + Fraction(ping)
        if nxt - t >= Fraction(idle):
            return float(t) + idle
        t = nxt
    return None


@settings(deadline=None)
@given(maybe, maybe, st.floats(min_value=0.0, max_value=1e6))
def test_idle_cut_matches_timeline(ping, idle, last) -> None:
    assert Keepalive(ping).idle_cut_at(last, idle) == timeline_cut(ping, idle, last)


@settings(deadline=None)
@given(maybe, durations)
def test_idle_cut_iff_ping_not_shorter(ping, idle) -> None:
    cut = Keepalive(ping).idle_cut_at(0.0, idle)
    assert (cut is not None) == (ping is None or ping >= idle)


@settings(deadline=None)
@given(durations, st.floats(min_value=0.0, max_value=1e6))
def test_dead_after_two_intervals_by_default(ping, last) -> None:
    k = Keepalive(ping)
    assert k.dead_at(last) == last + 2 * ping
