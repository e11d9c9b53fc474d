"""The report's display downsampling (wssim.report.downsample): at most MAX_POINTS samples per line,
every sample drawn is a real one, and the peaks survive: the line's maximum and minimum, and the
extremes of every slice of the rule."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.report import MAX_POINTS, downsample

values = st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=12_000)


@settings(max_examples=60, deadline=None)
@given(values, st.integers(4, 3_000))
def test_downsampled_line_is_short_real_and_keeps_peaks(vs: list[float], max_points: int) -> None:
    v = np.asarray(vs)
    t = np.arange(len(v), dtype=float) * 0.1
    x, y = downsample(t, v, max_points)
    assert len(x) == len(y) <= max(max_points, 2)
    assert np.all(np.diff(x) > 0)  # in time order, no sample twice
    idx = np.rint(x / 0.1).astype(int)
    assert np.array_equal(y, v[idx])  # real samples at their own times
    assert y.max() == v.max() and y.min() == v.min()
    if len(v) > max_points:  # each slice of the rule is drawn by its own extremes
        edges = np.linspace(0, len(v), max_points // 2 + 1).astype(int)
        for a, b in itertools.pairwise(edges):
            inside = y[(idx >= a) & (idx < b)]
            assert inside.max() == v[a:b].max() and inside.min() == v[a:b].min()
    else:
        assert np.array_equal(y, v)


def test_one_sample_spike_in_a_long_series_is_drawn_at_its_height_and_time() -> None:
    """A herd's one-interval spike in 10 minutes at 10 ms (60,000 samples) survives the display."""
    t = np.arange(60_000) * 0.01
    v = np.full(60_000, 100.0)
    v[30_017] = 9_500.0
    x, y = downsample(t, v)
    assert len(x) <= MAX_POINTS
    assert y.max() == 9_500.0 and x[np.argmax(y)] == t[30_017]
