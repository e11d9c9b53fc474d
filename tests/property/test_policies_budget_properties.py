"""Connection-budget properties: the capacity is the largest count that fits every ceiling."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import ConnectionBudget

sizes = st.integers(min_value=0, max_value=64 * 1024)
memories = st.integers(min_value=0, max_value=1 << 40)
headrooms = st.sampled_from([1.0, 0.9, 0.7, 0.5, 0.25])


@settings(deadline=None)
@given(sizes, sizes, sizes, st.integers(1, 4), memories, memories, st.integers(0, 4_000_000), headrooms)
def test_capacity_is_the_largest_count_that_fits(kernel, tls, app, fds, memory, base, fd_limit, headroom):
    b = ConnectionBudget(kernel, tls, app, fds)
    cap = b.node_capacity(memory, base, fd_limit, headroom)
    usable = max(0, memory - base) * headroom

    def fits(n: int) -> bool:
        return n * b.bytes <= usable and n * fds <= fd_limit * headroom

    assert cap >= 0 and fits(cap) and not fits(cap + 1)
    assert b.limiting(memory, base, fd_limit, headroom) in ("memory", "fds")


@settings(deadline=None)
@given(sizes, sizes, sizes, memories, memories, st.integers(1, 4_000_000))
def test_capacity_grows_with_memory_and_fds(kernel, tls, app, memory, base, fd_limit):
    b = ConnectionBudget(kernel, tls, app)
    c = b.node_capacity(memory, base, fd_limit)
    assert b.node_capacity(memory + 1024**3, base, fd_limit) >= c
    assert b.node_capacity(memory, base, fd_limit * 2) >= c
    assert b.node_capacity(memory, base, fd_limit, headroom=0.5) <= c
