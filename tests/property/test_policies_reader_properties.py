"""The reader's stall schedule against an explicit list of stall intervals.

The model writes the stalls out, ``[k·p + e − phase, (k+1)·p − phase)`` for every period ``k`` that
can matter, and measures reading time by subtracting their overlap with an interval; a read's end is
found by walking the timeline interval by interval. The reader's closed forms must agree.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import Reader


def stalls(reader: Reader, phase: float, until: float) -> list[tuple[Fraction, Fraction]]:
    """Every stall interval up to ``until``, exactly (rationals)."""
    e, p, ph = Fraction(reader.stall_every), Fraction(reader.period), Fraction(phase)
    out = []
    k = -1
    while k * p - ph < Fraction(until) + p:
        out.append((k * p + e - ph, (k + 1) * p - ph))
        k += 1
    return out


def model_active(reader: Reader, phase: float, a: float, b: float) -> float:
    fa, fb = Fraction(a), Fraction(b)
    lost = sum(max(Fraction(0), min(fb, hi) - max(fa, lo)) for lo, hi in stalls(reader, phase, b))
    return float((fb - fa) - lost)


def model_finish(reader: Reader, phase: float, t: float, seconds: float) -> float:
    left, now = Fraction(seconds), Fraction(t)
    for lo, hi in stalls(reader, phase, t + (seconds / reader.stall_every + 2) * reader.period):
        if hi <= now:
            continue
        if lo > now:
            if now + left <= lo:
                return float(now + left)
            left -= lo - now
        now = max(now, hi)
    raise AssertionError("the schedule was too short")


readers = st.builds(
    lambda every, stall: Reader(1.0, stall_every=every, stall_duration=stall),
    st.floats(0.1, 20.0),
    st.floats(0.0, 20.0),
)


@settings(max_examples=400, deadline=None)
@given(readers, st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 100.0), st.floats(0.0, 50.0))
def test_active_time_matches_the_explicit_schedule(reader, u, a, span) -> None:
    phase = reader.phase(u)
    got = reader.active(phase, a, a + span)
    assert 0.0 <= got <= span + 1e-9
    assert math.isclose(got, model_active(reader, phase, a, a + span), rel_tol=1e-9, abs_tol=1e-7)


@settings(max_examples=400, deadline=None)
@given(readers, st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 100.0), st.floats(1e-3, 30.0))
def test_finish_is_the_earliest_time_the_read_is_done(reader, u, t, seconds) -> None:
    phase = reader.phase(u)
    done = reader.finish(phase, t, seconds)
    want = model_finish(reader, phase, t, seconds)
    assert math.isclose(reader.active(phase, t, done), seconds, rel_tol=1e-9, abs_tol=1e-7)
    if not math.isclose(done, want, rel_tol=1e-9, abs_tol=1e-7):
        # a read that ends exactly where a stall begins: rounding may put it on either side of the stall
        ends = sorted((done, want))
        assert any(
            math.isclose(ends[0], float(lo), abs_tol=1e-7) and math.isclose(ends[1], float(hi), abs_tol=1e-7)
            for lo, hi in stalls(reader, phase, ends[1])
        )


@settings(max_examples=300, deadline=None)
@given(readers, st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 100.0))
def test_awake_is_now_or_the_end_of_the_stall(reader, u, t) -> None:
    phase = reader.phase(u)
    woke = reader.awake(phase, t)
    inside = [float(hi) for lo, hi in stalls(reader, phase, t) if lo <= t < hi]
    assert math.isclose(woke, inside[0] if inside else t, rel_tol=1e-9, abs_tol=1e-7) or any(
        math.isclose(t, float(lo), abs_tol=1e-9) or math.isclose(t, float(hi), abs_tol=1e-9)
        for lo, hi in stalls(reader, phase, t)
    )  # exactly on a stall's edge, rounding decides which side
