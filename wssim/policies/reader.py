"""The paced reader: how long a client takes to read each message, and when it stops reading.

A slow consumer (or any client with a drain rate) reads one message at a time, ``rate`` messages per
second on average while it is reading:

=================  ==================================================================================
``read_time``      the time one read takes (mean ``1/rate``)
=================  ==================================================================================
``exponential``    Exp(mean ``1/rate``): reads form a Poisson process; a bounded queue in front of it is
                   an M/M/1/K queue (the default)
``deterministic``  exactly ``1/rate``: an M/D/1/K queue, which holds fewer messages and drops about
                   half as many at the same load
=================  ==================================================================================

With ``stall_every`` the reader also stops reading entirely (a background tab, a train tunnel): it
alternates ``stall_every`` seconds of reading and ``stall_duration`` seconds of stall, periodically
from time 0, shifted by the reader's own ``phase`` (uniform over one period, so readers do not stall
together). A read in progress when a stall begins finishes after it.

The state of one reader is its ``phase`` (drawn once) and, for an engine that drains a queue lazily,
the work left in the read in progress (in units of the mean read time, as :meth:`Reader.work` draws
it). :meth:`Reader.active` maps wall time to reading time and :meth:`Reader.finish` maps it back, so
the simulator drains a queue at any instant without an event per message, and the live load
generator sleeps until each read is done.

Invariants: ``active(phase, a, b)`` is in ``[0, b − a]``, additive over adjacent intervals, and equals
``b − a`` without stalls; ``active(phase, t, finish(phase, t, s)) == s`` (up to rounding) and
``finish`` is the earliest such time; ``awake(phase, t)`` is ``t`` when reading, else the end of the
stall; :meth:`Reader.work` draws exactly one ``rng.exponential()`` for ``exponential`` and nothing for
``deterministic``.
"""

from __future__ import annotations

import math
from typing import Any

READ_TIMES: tuple[str, ...] = ("exponential", "deterministic")

NEVER_STALLS = -1.0  # the phase of a reader without stalls


class Reader:
    """Read times of mean ``1/rate`` (``read_time`` distribution) and periodic stalls."""

    __slots__ = ("_det", "period", "rate", "read_time", "stall_duration", "stall_every")

    def __init__(
        self,
        rate: float,
        read_time: str = "exponential",
        stall_every: float | None = None,
        stall_duration: float = 0.0,
    ) -> None:
        if read_time not in READ_TIMES:
            raise ValueError(f"unknown read_time {read_time!r}; choose one of {', '.join(READ_TIMES)}")
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number > 0 messages/s, got {rate!r}")
        if stall_every is not None and not stall_every > 0:
            raise ValueError(f"stall_every must be > 0 seconds or None, got {stall_every!r}")
        if not stall_duration >= 0:
            raise ValueError(f"stall_duration must be >= 0 seconds, got {stall_duration!r}")
        self.rate = float(rate)
        self.read_time = read_time
        self._det = read_time == "deterministic"
        self.stall_every = stall_every
        self.stall_duration = float(stall_duration)
        self.period = 0.0 if stall_every is None else stall_every + self.stall_duration

    @classmethod
    def from_config(cls, config: Any, slow: bool) -> Reader | None:
        """The reader of a slow consumer (``slow``) or of a healthy client (None without
        ``clients.drain_rate``: it reads as fast as messages come)."""
        cl = config.clients
        sc = cl.slow_consumers
        if slow:
            return cls(sc.drain_rate, sc.read_time, sc.stall_every, sc.stall_duration)
        return None if cl.drain_rate is None else cls(cl.drain_rate, sc.read_time)

    @property
    def stalls(self) -> bool:
        """Whether this reader ever stalls."""
        return self.period > 0.0

    def work(self, rng: Any) -> float:
        """The work of one read, in mean read times (``rng.exponential()`` is an Exp(1) draw)."""
        return 1.0 if self._det else rng.exponential()

    def phase(self, u: float) -> float:
        """The stall phase of a reader from one uniform ``u`` in [0, 1) (:data:`NEVER_STALLS` if none)."""
        return u * self.period if self.period else NEVER_STALLS

    def _reading_until(self, phase: float, t: float) -> float:
        """Reading seconds from the start of the stall schedule to ``t`` (shifted by ``phase``)."""
        every, period = self.stall_every, self.period
        x = t + phase
        k = math.floor(x / period)
        return k * every + min(x - k * period, every)  # type: ignore[operator]

    def active(self, phase: float, a: float, b: float) -> float:
        """Seconds of ``[a, b]`` spent reading (not stalled)."""
        if phase < 0:
            return b - a
        return self._reading_until(phase, b) - self._reading_until(phase, a)

    def finish(self, phase: float, t: float, seconds: float) -> float:
        """The earliest time at which ``seconds`` of reading begun at ``t`` are done (stalls skipped)."""
        if phase < 0 or seconds <= 0:
            return t + seconds
        every, period = self.stall_every, self.period
        target = self._reading_until(phase, t) + seconds
        k = math.ceil(target / every) - 1  # whole reading stretches before the one that ends the read
        return k * period + (target - k * every) - phase  # type: ignore[operator]

    def awake(self, phase: float, t: float) -> float:
        """``t`` if the reader is reading then, else the end of its stall."""
        if phase < 0:
            return t
        x = t + phase
        k = math.floor(x / self.period)
        if x - k * self.period < self.stall_every:  # type: ignore[operator]
            return t
        return (k + 1) * self.period - phase

    def __repr__(self) -> str:
        stalls = f", stall {self.stall_duration:g}s every {self.stall_every:g}s" if self.stalls else ""
        return f"Reader({self.rate:g}/s, {self.read_time}{stalls})"
