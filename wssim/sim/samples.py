"""Weighted samples: one latency value stands for every recipient of a bulk delivery."""

from __future__ import annotations

import math
from array import array

import numpy as np

# Many samples at once (add_many) are kept in a histogram of log-spaced bins of relative width REL from
# FLOOR up (values below FLOOR count as 0): quantiles within REL / 2 of the value, in bounded memory.
REL = 1e-4
FLOOR = 1e-7
BINS = int(math.log(1e6 / FLOOR) / math.log1p(REL)) + 2  # up to 11.6 simulated days
FLUSH = 1 << 21  # samples buffered before they are binned


class WeightedSamples:
    """Values with integer weights; quantiles as if each value were repeated ``weight`` times."""

    __slots__ = ("_buf", "_hist", "_nbuf", "_v", "_w", "since")

    def __init__(self, since: float = 0.0) -> None:
        self._v = array("d")
        self._w = array("d")
        self._hist: np.ndarray | None = None  # weight per log bin (add_many)
        self._buf: list[tuple[np.ndarray, np.ndarray]] = []
        self._nbuf = 0
        self.since = since

    def add(self, value: float, weight: float = 1.0, t: float = float("inf")) -> None:
        """Add ``value`` with ``weight``, unless the weight is not positive or ``t`` is before ``since``."""
        if weight > 0 and t >= self.since:
            self._v.append(value)
            self._w.append(weight)

    def add_many(self, values: np.ndarray, weights: np.ndarray, t: np.ndarray) -> None:
        """:meth:`add` of every element (values kept to a relative precision of ``REL / 2``)."""
        keep = (weights > 0) & (t >= self.since)
        self._buf.append((values[keep], weights[keep]))
        self._nbuf += len(self._buf[-1][0])
        if self._nbuf >= FLUSH:
            self._bin()

    def _bin(self) -> None:
        """Move the buffered samples into the histogram."""
        if not self._buf:
            return
        v = np.concatenate([b[0] for b in self._buf])
        w = np.concatenate([b[1] for b in self._buf])
        self._buf, self._nbuf = [], 0
        i = np.zeros(len(v), dtype=np.int64)
        pos = v >= FLOOR
        i[pos] = np.minimum(np.log(v[pos] / FLOOR) / math.log1p(REL), BINS - 2).astype(np.int64) + 1
        h = np.bincount(i, weights=w, minlength=BINS)
        self._hist = h if self._hist is None else self._hist + h

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every value and weight (histogram bins at their midpoints, bin 0 at 0)."""
        v = np.frombuffer(self._v, dtype=float)
        w = np.frombuffer(self._w, dtype=float)
        self._bin()
        if self._hist is None:
            return v, w
        nz = np.nonzero(self._hist)[0]
        mid = np.where(nz > 0, FLOOR * np.power(1 + REL, nz - 0.5), 0.0)
        return np.concatenate((v, mid)), np.concatenate((w, self._hist[nz]))

    def __len__(self) -> int:
        return len(self._v) + self._nbuf + (0 if self._hist is None else int(np.count_nonzero(self._hist)))

    @property
    def total(self) -> float:
        """Sum of the weights."""
        return float(self._all()[1].sum())

    def quantile(self, q: float, zeros: float = 0.0) -> float:
        """The ``q`` quantile (inverted CDF), counting ``zeros`` extra samples of value 0; NaN if empty."""
        v, w = self._all()
        if not len(v) and zeros <= 0:
            return math.nan
        if zeros > 0:
            v = np.concatenate(([0.0], v))
            w = np.concatenate(([zeros], w))
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        i = int(np.searchsorted(cum, q * cum[-1], side="left"))
        return float(v[order][min(i, len(v) - 1)])

    def max(self) -> float:
        """Largest value (NaN if empty)."""
        v, _ = self._all()
        return float(v.max()) if len(v) else math.nan
