"""Random draws in vectorized blocks: one numpy Generator per named stream, never one per client.

A :class:`Draws` wraps one stream of :mod:`wssim.randomness` and hands out single values from blocks
of ``BLOCK`` pre-drawn variates, so a million clients cost a few hundred numpy calls, not a million.
Per-client attributes (rooms, slow flags, arrival times) are drawn as whole arrays indexed by client
id, so adding clients appends draws and never shifts the draws of the clients already there.
"""

from __future__ import annotations

import numpy as np

from wssim.randomness import Stream, draws_generator, generator

BLOCK = 65536


class Draws:
    """Uniform, exponential and standard-normal variates from one stream, served from blocks."""

    __slots__ = ("_e", "_ei", "_n", "_ni", "_u", "_ui", "gen")

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self._u: list[float] = []
        self._ui = 0
        self._e: list[float] = []
        self._ei = 0
        self._n: list[float] = []
        self._ni = 0

    def random(self) -> float:
        """One uniform in [0, 1) (the ``rng.random()`` protocol the policies expect)."""
        i = self._ui
        if i >= len(self._u):
            self._u = self.gen.random(BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def exponential(self) -> float:
        """One Exp(1) variate."""
        i = self._ei
        if i >= len(self._e):
            self._e = self.gen.standard_exponential(BLOCK).tolist()
            i = 0
        self._ei = i + 1
        return self._e[i]

    def normal(self) -> float:
        """One N(0, 1) variate."""
        i = self._ni
        if i >= len(self._n):
            self._n = self.gen.standard_normal(BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]


class Streams:
    """The named streams of one replication, created on first use."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._draws: dict[tuple[Stream, int], Draws] = {}

    def generator(self, stream: Stream, entity: int = 0) -> np.random.Generator:
        """A fresh numpy Generator of one stream (for whole-array draws at set-up)."""
        return generator(self.seed, self.replication, stream, entity)

    def draws(self, stream: Stream, entity: int = 0) -> Draws:
        """The shared block-drawing wrapper of one stream (entity 0 unless given)."""
        key = (stream, entity)
        d = self._draws.get(key)
        if d is None:
            d = self._draws[key] = Draws(draws_generator(self.seed, self.replication, stream, entity))
        return d
