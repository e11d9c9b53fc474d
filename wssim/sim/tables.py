"""Per-room state kept in numpy arrays: indexed one item at a time from Python by the exact path (through
a memoryview, which returns plain ints and floats) and read whole by the batched path (zero-copy)."""

from __future__ import annotations

from typing import Any

import numpy as np


def shared(n: int, dtype: Any, fill: float = 0) -> tuple[np.ndarray, memoryview]:
    """A 1-d array of ``n`` items and a memoryview of it (the same memory)."""
    a = np.full(n, fill, dtype=dtype)
    return a, memoryview(a)


class Tables:
    """Gateway × room state: members, fast members, half-open members, last offset delivered and its
    time."""

    def __init__(self, gateways: int, rooms: int) -> None:
        self.members = np.zeros((gateways, rooms), dtype=np.int32)
        self.fast = np.zeros((gateways, rooms), dtype=np.int32)
        self.zombies = np.zeros((gateways, rooms), dtype=np.int32)
        self.last = np.zeros((gateways, rooms), dtype=np.int64)
        self.last_t = np.zeros((gateways, rooms), dtype=np.float64)

    def rows(self, g: int) -> tuple[memoryview, memoryview, memoryview, memoryview]:
        """Gateway ``g``'s rows: (members, fast, last, last_t)."""
        return (
            memoryview(self.members[g]),
            memoryview(self.fast[g]),
            memoryview(self.last[g]),
            memoryview(self.last_t[g]),
        )

    def clear(self, g: int) -> None:
        """Gateway ``g`` holds no member (its last offsets are set by its subscriptions)."""
        self.members[g] = 0
        self.fast[g] = 0
        self.zombies[g] = 0
        self.last_t[g] = 0.0
