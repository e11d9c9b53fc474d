"""Replay window against a brute-force model: random appends, clock advances, resets and resumes.

The model keeps the whole history and, for a cursor, computes the offsets after it (including the
offset just before the first one appended, which the buffer never held); the answer must be exactly
those items in order when every one of them is still held (among the last ``max_messages`` appended,
not older than ``max_age``, not lost by a reset) and at most ``max_per_resume`` of them, and a resync
otherwise.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import ReplayBuffer, resume_decision


def times(hi: int) -> st.SearchStrategy[float]:
    """Whole seconds (so ages land exactly on the window's edge) or any float."""
    return st.one_of(st.integers(0, hi).map(float), st.floats(0.0, float(hi)))


steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 3), times(5)),  # offset gap, time gap
        st.tuples(st.just("since"), st.integers(-3, 3), times(20)),  # cursor delta, time gap
        st.tuples(st.just("reset")),
    ),
    max_size=80,
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.integers(0, 10)),
    st.one_of(st.none(), times(15)),
    st.one_of(st.none(), st.integers(0, 12)),
    st.booleans(),
    steps,
)
def test_since_matches_brute_force(max_messages, max_age, max_per_resume, contiguous, script) -> None:
    r = ReplayBuffer(max_messages, max_age, max_per_resume, epoch="e0")
    history: list[tuple[int, float, int]] = []  # (offset, t, generation)
    generation = 0
    now = 0.0
    offset = 0
    for step in script:
        if step[0] == "append":
            offset += 1 if contiguous else step[1]
            now += step[2]
            r.append(offset, now, ("item", offset))
            history.append((offset, now, generation))
        elif step[0] == "reset":
            r.reset()
            generation += 1
        else:
            now += step[2]
            last = history[-1][0] if history else None
            base = last if last is not None else 0
            cursor = base + step[1]
            got = r.since(cursor, now)

            current = [h for h in history if h[2] == generation]
            recent = current[-max_messages:] if max_messages else ([] if max_messages == 0 else current)
            held = {h[0] for h in recent if max_age is None or h[1] >= now - max_age}
            missed = [h for h in history if h[0] > cursor]
            if history and cursor < history[0][0] - 1:
                missed.append((history[0][0] - 1, -1.0, -1))  # the stream's past: never held
            if last is None or cursor == last:
                want_ok = True
            elif cursor > last:
                want_ok = False
            else:
                want_ok = all(h[0] in held for h in missed) and (
                    max_per_resume is None or len(missed) <= max_per_resume
                )
            assert got.ok == want_ok, (cursor, got, missed, held)
            if want_ok:
                assert got.items == [("item", h[0]) for h in missed if h[2] >= 0] and got.reason == ""
            else:
                assert got.items == [] and got.reason == "resync"


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 50), st.integers(0, 60), st.text(min_size=1, max_size=5))
def test_resume_rejects_any_other_epoch(n, cursor, other) -> None:
    r = ReplayBuffer(None, None, epoch="E")
    for off in range(1, n + 1):
        r.append(off, 0.0, off)
    res = r.resume(other, cursor, 0.0)
    if other != "E":
        assert not res.ok and res.detail == "epoch"
    else:
        assert res.ok == (cursor <= n) and res.items == list(range(cursor + 1, n + 1))


def _age_window_miss_fraction(window: float, mean_offline: float, clients: int, seed: int) -> float:
    """One replication: a room publishing every ``dt`` seconds, clients offline Exp(mean) from a
    uniform time; a resume misses when the buffer (max_age = window) no longer holds the first gap."""
    rng = np.random.default_rng(seed)
    dt = 0.01
    leave = rng.uniform(10.0, 500.0, clients)
    back = leave + rng.exponential(mean_offline, clients)
    cursors = np.floor(leave / dt).astype(int)  # last offset seen: published at offset * dt
    r = ReplayBuffer(None, window, epoch="e")
    published = 0
    misses = 0
    for i in np.argsort(back, kind="stable").tolist():
        now = float(back[i])
        while published * dt <= now:  # publish up to the reconnect time
            r.append(published, published * dt, None)
            published += 1
        misses += not r.since(int(cursors[i]), now).ok
    return misses / clients


def test_age_window_misses_exp_minus_w_over_m() -> None:
    """Offline time ~ Exp(mean m) and an age window W: a resume misses iff the client was away longer
    than W, with probability e^(-W/m). The mean over R replications must fall in its 99.9% Student-t
    confidence interval (publishing every 10 ms biases it by under dt/m = 0.03% of a miss)."""
    w, m, reps = 60.0, 30.0, 10
    xs = [_age_window_miss_fraction(w, m, 1500, seed) for seed in range(reps)]
    half = scipy.stats.t.ppf(0.9995, reps - 1) * statistics.stdev(xs) / math.sqrt(reps)
    assert abs(statistics.fmean(xs) - math.exp(-w / m)) <= half, (statistics.fmean(xs), half)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 35),
    st.one_of(st.none(), st.integers(0, 30)),
    st.one_of(st.none(), st.integers(0, 10)),
    st.sampled_from(["E", "F", None]),
)
def test_resume_decision_against_the_offsets_it_would_replay(
    head, cursor, lost_upto, cap, cursor_epoch
) -> None:
    """A contiguous stream 1..head whose offsets up to ``lost_upto`` are gone: replay iff the epoch is
    known (or the cursor is 0), the cursor is not ahead, and every offset after it is held and few
    enough."""
    wanted = range(cursor + 1, head + 1)
    epoch_ok = cursor_epoch == "E" or (cursor_epoch is None and cursor == 0)
    ok = (
        epoch_ok
        and cursor <= head
        and (
            not wanted
            or ((lost_upto is None or lost_upto < wanted[0]) and (cap is None or len(wanted) <= cap))
        )
    )
    assert (resume_decision(cursor_epoch, cursor, "E", head, lost_upto, cap) == "") == ok
