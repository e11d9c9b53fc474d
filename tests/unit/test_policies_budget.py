"""Per-connection budget arithmetic and node ceilings."""

from __future__ import annotations

import pytest

from wssim.policies import ConnectionBudget

KIB, MIB, GIB = 1024, 1024**2, 1024**3


def test_bytes_sum() -> None:
    b = ConnectionBudget(8 * KIB, 20 * KIB, 4 * KIB)
    assert b.bytes == 32 * KIB and b.fds == 1
    assert b.connection_bytes(1000) == 32 * KIB + 1000
    assert b.memory(10, base_memory=MIB, queued_bytes=5) == MIB + 320 * KIB + 5


def test_memory_bound_capacity() -> None:
    b = ConnectionBudget(8 * KIB, 20 * KIB, 4 * KIB)
    # (8 GiB - 256 MiB) / 32 KiB = 253952 exactly
    assert b.node_capacity(8 * GIB, 256 * MIB, 1_048_576) == 253_952
    assert b.limiting(8 * GIB, 256 * MIB, 1_048_576) == "memory"
    assert b.node_capacity(8 * GIB, 256 * MIB, 1_048_576, headroom=0.5) == 126_976


def test_fd_bound_capacity() -> None:
    b = ConnectionBudget(8 * KIB, 20 * KIB, 4 * KIB, fds=2)
    assert b.node_capacity(64 * GIB, 0, 1024) == 512  # the default ulimit is a toy
    assert b.limiting(64 * GIB, 0, 1024) == "fds"
    assert b.ceilings(64 * GIB, 0, 1024) == {"memory": 2 * 1024**2, "fds": 512}


def test_seed_figure_50kb_per_connection() -> None:
    """At 50 KB per connection a million connections need about 50 GB."""
    b = ConnectionBudget(20_000, 25_000, 5_000)
    assert b.memory(1_000_000) == 50_000_000_000
    assert b.node_capacity(50_000_000_000, 0, 2_000_000) == 1_000_000


def test_base_memory_above_memory_gives_zero() -> None:
    assert ConnectionBudget(1, 1, 1).node_capacity(MIB, 2 * MIB, 100) == 0


def test_invalid() -> None:
    with pytest.raises(ValueError):
        ConnectionBudget(-1, 0, 0)
    with pytest.raises(ValueError):
        ConnectionBudget(1, 1, 1).node_capacity(GIB, 0, 10, headroom=0)
    with pytest.raises(ValueError):
        ConnectionBudget(0, 0, 0, fds=0).node_capacity(GIB, 0, 10)
