"""Weighted samples: one latency value stands for every recipient of a bulk delivery."""

from __future__ import annotations

import math
from array import array

import numpy as np


class WeightedSamples:
    """Values with integer weights; quantiles as if each value were repeated ``weight`` times."""

    __slots__ = ("_v", "_w", "since")

    def __init__(self, since: float = 0.0) -> None:
        self._v = array("d")
        self._w = array("d")
        self.since = since

    def add(self, value: float, weight: float = 1.0, t: float = float("inf")) -> None:
        """Add ``value`` with ``weight``, unless the weight is not positive or ``t`` is before ``since``."""
        if weight > 0 and t >= self.since:
            self._v.append(value)
            self._w.append(weight)

    def __len__(self) -> int:
        return len(self._v)

    @property
    def total(self) -> float:
        """Sum of the weights."""
        return float(sum(self._w))

    def quantile(self, q: float, zeros: float = 0.0) -> float:
        """The ``q`` quantile (inverted CDF), counting ``zeros`` extra samples of value 0; NaN if empty."""
        if not self._v and zeros <= 0:
            return math.nan
        v = np.frombuffer(self._v, dtype=float)
        w = np.frombuffer(self._w, dtype=float)
        if zeros > 0:
            v = np.concatenate(([0.0], v))
            w = np.concatenate(([zeros], w))
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        i = int(np.searchsorted(cum, q * cum[-1], side="left"))
        return float(v[order][min(i, len(v) - 1)])

    def max(self) -> float:
        """Largest value (NaN if empty)."""
        return float(max(self._v)) if self._v else math.nan
