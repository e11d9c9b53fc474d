"""Room assignment: which ``k`` distinct rooms each client joins, from one named random stream.

=============  ======================================================================================
popularity     probability that one draw picks room ``r`` (rooms ``0 .. rooms-1``)
=============  ======================================================================================
uniform        ``1 / rooms``
zipf           ``(r + 1)^-s / Σ_j (j + 1)^-s``: room 0 is the most popular
=============  ======================================================================================

A client's rooms are drawn *successively without replacement*: its first room from the popularity,
each next one from the popularity restricted to the rooms it has not joined yet (what
``numpy.random.Generator.choice(replace=False, p=...)`` does for one client). Done for a million
clients at once: one ``(n, k)`` block of draws in client order, then, column by column, every room
already taken by the same client is drawn again until it is new (redrawing from the popularity and
rejecting taken rooms samples exactly the restricted popularity). Rows that still collide after
``REJECTION_ROUNDS`` rounds (``k`` close to ``rooms``) are finished one by one from the renormalized
restricted popularity, so the call always ends with distinct rooms.

Invariants: every row holds ``k`` distinct rooms in ``[0, rooms)``; the result depends only on the
generator's state and the arguments, so the simulator and the live harness, given the same named
stream (``Stream.ROOMS`` of the replication), give every client id the same rooms; a client whose
first ``k`` draws are distinct keeps them whatever ``n`` is; with ``k = 1`` one client's room is one
draw of the stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POPULARITIES: tuple[str, ...] = ("uniform", "zipf")
REJECTION_ROUNDS = 64


def popularity(rooms: int, kind: str, s: float = 1.1) -> np.ndarray | None:
    """Per-room draw probabilities (None for uniform, which draws integers directly)."""
    if kind not in POPULARITIES:
        raise ValueError(f"unknown popularity {kind!r}; choose one of {', '.join(POPULARITIES)}")
    if kind == "uniform":
        return None
    w = 1.0 / np.arange(1, rooms + 1, dtype=float) ** s
    return w / w.sum()


def _draw(rng: Any, rooms: int, p: np.ndarray | None, size: Any) -> np.ndarray:
    if p is None:
        return rng.integers(0, rooms, size=size)
    return rng.choice(rooms, size=size, p=p)


def assign_rooms(rng: Any, n: int, k: int, rooms: int, kind: str = "uniform", s: float = 1.1) -> np.ndarray:
    """An ``(n, k)`` int64 array: row ``i`` holds client ``i``'s ``k`` distinct rooms."""
    if k > rooms:
        raise ValueError(f"cannot join {k} distinct rooms out of {rooms}")
    p = popularity(rooms, kind, s)
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.int64)
    out = np.asarray(_draw(rng, rooms, p, (n, k)), dtype=np.int64)
    for j in range(1, k):
        col = out[:, j]
        clash = np.nonzero((out[:, :j] == col[:, None]).any(axis=1))[0]
        for _ in range(REJECTION_ROUNDS):
            if not len(clash):
                break
            col[clash] = _draw(rng, rooms, p, len(clash))
            clash = clash[(out[clash, :j] == col[clash, None]).any(axis=1)]
        for i in clash.tolist():  # rare: few rooms left to choose from
            q = np.ones(rooms) if p is None else p.copy()
            q[out[i, :j]] = 0.0
            col[i] = rng.choice(rooms, p=q / q.sum())
    return out
