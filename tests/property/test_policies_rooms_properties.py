"""Room assignment: distinct rooms always, stable per client, and the successive-sampling distribution.

The reference model is sampling without replacement one room at a time: a client's ordered rooms
``(r1, r2)`` have probability ``p(r1) · p(r2) / (1 − p(r1))``. The vectorized assignment must match it
(chi-square over every ordered pair, fixed seeds, a 1e-4 significance level: the test is deterministic
and fails only if the distribution is wrong, or with probability 1e-4 if it were redrawn).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies.rooms import assign_rooms, popularity


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(1, 12),
    st.data(),
    st.sampled_from(["uniform", "zipf"]),
    st.floats(0.3, 3.0),
    st.integers(0, 2**32),
)
def test_rows_are_distinct_rooms_in_range(n, rooms, data, kind, s, seed) -> None:
    k = data.draw(st.integers(0, rooms))
    out = assign_rooms(np.random.default_rng(seed), n, k, rooms, kind, s)
    assert out.shape == (n, k) and out.dtype == np.int64
    assert ((out >= 0) & (out < rooms)).all()
    assert all(len(set(row)) == k for row in out.tolist())


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(0, 200), st.integers(1, 4), st.sampled_from(["uniform", "zipf"]))
def test_a_client_without_clashes_keeps_its_rooms_whatever_the_population(n, more, k, kind) -> None:
    rooms = 50
    first = np.random.default_rng(3).integers(0, rooms, (n, k)) if kind == "uniform" else None
    a = assign_rooms(np.random.default_rng(3), n, k, rooms, kind)
    b = assign_rooms(np.random.default_rng(3), n + more, k, rooms, kind)
    if first is None:
        first = np.random.default_rng(3).choice(rooms, size=(n, k), p=popularity(rooms, kind))
    clean = np.array([len(set(r)) == k for r in first.tolist()])
    assert (a[clean] == first[clean]).all() and (b[:n][clean] == first[clean]).all()


def test_one_room_per_client_is_one_draw_of_the_stream() -> None:
    rng = np.random.default_rng(11)
    expected = np.random.default_rng(11).choice(30, size=(1000, 1), p=popularity(30, "zipf", 1.2))
    assert (assign_rooms(rng, 1000, 1, 30, "zipf", 1.2) == expected).all()


@pytest.mark.parametrize(("rooms", "kind", "s"), [(5, "zipf", 1.1), (4, "zipf", 2.5), (6, "uniform", 1.0)])
def test_ordered_pairs_follow_successive_sampling(rooms: int, kind: str, s: float) -> None:
    n = 60_000
    out = assign_rooms(np.random.default_rng(rooms), n, 2, rooms, kind, s)
    p = popularity(rooms, kind, s)
    p = np.full(rooms, 1.0 / rooms) if p is None else p
    expected = np.array(
        [[p[a] * p[b] / (1 - p[a]) if a != b else 0.0 for b in range(rooms)] for a in range(rooms)]
    )
    seen = np.zeros((rooms, rooms))
    np.add.at(seen, (out[:, 0], out[:, 1]), 1)
    mask = expected > 0
    _, pvalue = scipy.stats.chisquare(seen[mask], expected[mask] * n)
    assert pvalue > 1e-4


def test_all_rooms_taken_still_ends_with_a_permutation() -> None:
    out = assign_rooms(np.random.default_rng(5), 2000, 8, 8, "zipf", 3.0)
    assert (np.sort(out, axis=1) == np.arange(8)).all()
