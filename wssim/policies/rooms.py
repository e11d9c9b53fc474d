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


# -- room classes: rooms with sizes, filled by clients ------------------------------------------------

SIZE_DISTRIBUTIONS: tuple[str, ...] = ("fixed", "uniform", "lognormal", "zipf")
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def split_rooms(rooms: int, shares: list[float]) -> np.ndarray:
    """The class of every room: ``rooms`` split by ``shares`` (largest remainder), classes in order,
    each one's rooms contiguous (class 0 first)."""
    counts = apportion(np.asarray(shares, dtype=float), rooms)
    return np.repeat(np.arange(len(shares)), counts)


def apportion(weights: np.ndarray, total: int, cap: int | None = None) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainder), none above ``cap``.

    What a capped entry cannot take is shared among the others, in proportion to their weights.
    """
    w = np.asarray(weights, dtype=float)
    out = np.zeros(len(w), dtype=np.int64)
    free = w > 0
    left = total
    while left > 0 and free.any():
        share = np.where(free, w, 0.0)
        exact = share / share.sum() * left
        if cap is not None and (out + exact > cap).any():
            over = free & (out + exact >= cap)
            left -= int((cap - out[over]).sum())
            out[over] = cap
            free &= ~over
            continue
        base = np.floor(exact).astype(np.int64)
        rest = left - int(base.sum())
        order = np.argsort(-(exact - base), kind="stable")[:rest]
        base[order] += 1
        out += base
        left = 0
    if left > 0:
        raise ValueError(f"cannot place {total} members in {len(w)} rooms of at most {cap}")
    return out


def lognormal_params(median: float, p99: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this ``median`` and 99th percentile ``p99``."""
    mu = float(np.log(median))
    return mu, (float(np.log(p99)) - mu) / Z99 if p99 > median else 0.0


def draw_sizes(
    rng: Any,
    n: int,
    kind: str,
    size: int = 1,
    low: int = 1,
    high: int = 1,
    median: float = 1.0,
    p99: float = 1.0,
    exponent: float = 2.0,
) -> np.ndarray:
    """``n`` room sizes (float weights, at least 1): ``fixed`` at ``size``, ``uniform`` integers in
    ``[low, high]``, ``lognormal`` by its ``median`` and ``p99``, ``zipf`` over ``low .. high`` with
    probability of size ``m`` ∝ ``m^-exponent``."""
    if kind == "fixed":
        return np.full(n, float(size))
    if kind == "uniform":
        return rng.integers(low, high + 1, size=n).astype(float)
    if kind == "lognormal":
        mu, sigma = lognormal_params(median, p99)
        return np.maximum(1.0, np.round(rng.lognormal(mu, sigma, size=n)))
    if kind == "zipf":
        m = np.arange(low, high + 1, dtype=float)
        p = m**-exponent
        return rng.choice(m, size=n, p=p / p.sum())
    raise ValueError(f"unknown size distribution {kind!r}; choose one of {', '.join(SIZE_DISTRIBUTIONS)}")


def mean_size(
    kind: str,
    size: int = 1,
    low: int = 1,
    high: int = 1,
    median: float = 1.0,
    p99: float = 1.0,
    exponent: float = 2.0,
) -> float:
    """The mean of :func:`draw_sizes` (lognormal: of the continuous distribution, before rounding)."""
    return size_moment(kind, 1, size, low, high, median, p99, exponent)


def size_moment(
    kind: str,
    order: int,
    size: int = 1,
    low: int = 1,
    high: int = 1,
    median: float = 1.0,
    p99: float = 1.0,
    exponent: float = 2.0,
) -> float:
    """E[size^order] of :func:`draw_sizes` (lognormal: of the continuous distribution)."""
    if kind == "fixed":
        return float(size) ** order
    if kind == "lognormal":
        mu, sigma = lognormal_params(median, p99)
        return float(np.exp(order * mu + (order * sigma) ** 2 / 2))
    m = np.arange(low, high + 1, dtype=float)
    p = np.ones_like(m) if kind == "uniform" else m**-exponent
    return float((m**order * p).sum() / p.sum())


def fill_rooms(rng: Any, members: np.ndarray, n: int, k: int) -> np.ndarray:
    """An ``(n, k)`` int64 array of distinct rooms per client that holds exactly ``members[r]`` clients
    in room ``r`` (``sum(members) == n·k``, each at most ``n``).

    The ``n·k`` member slots (room ``r`` repeated ``members[r]`` times) are shuffled and dealt to the
    clients ``k`` at a time; a client dealt a room twice swaps the duplicate with a random slot of
    another client for whom the swap makes no duplicate either, so every client is equally likely to
    be in any room. When the sizes leave so little choice that swaps do not resolve it (rooms of nearly
    ``n`` members), the slots are dealt in turn instead (room by room, slot ``s`` to client ``s mod n``,
    the clients in random order), which always gives distinct rooms.
    """
    members = np.asarray(members, dtype=np.int64)
    if int(members.sum()) != n * k or (members > n).any():
        raise ValueError(f"rooms of {members.tolist()} members cannot hold {n} clients in {k} rooms each")
    slots = rng.permutation(np.repeat(np.arange(len(members), dtype=np.int64), members)).reshape(n, k)
    if k < 2:
        return slots
    ordered = np.sort(slots, axis=1)
    for i in np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0].tolist():
        if not _distinct_by_swaps(rng, slots, i, 20 * n * k):
            return _dealt_in_turn(rng, members, n, k)
    return slots


def _distinct_by_swaps(rng: Any, slots: np.ndarray, i: int, tries: int) -> bool:
    """Make row ``i`` distinct by swapping its duplicates with other rows; False if ``tries`` ran out."""
    n, k = slots.shape
    row = slots[i]
    for j in range(1, k):
        while row[j] in row[:j] or row[j] in row[j + 1 :]:
            tries -= 1
            if tries < 0:
                return False
            o, p = int(rng.integers(n)), int(rng.integers(k))
            other = slots[o]
            if o != i and other[p] not in row and row[j] not in other:
                row[j], other[p] = other[p], row[j]
    return True


def _dealt_in_turn(rng: Any, members: np.ndarray, n: int, k: int) -> np.ndarray:
    """Slot ``s`` of the rooms' slots (room by room) to client ``s mod n``: a room's at most ``n``
    members are consecutive clients, so distinct; the clients' order and the rooms' are random."""
    order = rng.permutation(len(members))
    slots = np.repeat(order, members[order])
    who = rng.permutation(n)[np.arange(n * k) % n]
    out = np.empty((n, k), dtype=np.int64)
    out[who, np.arange(n * k) // n] = slots
    return out
