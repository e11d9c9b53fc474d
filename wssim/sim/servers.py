"""A FIFO server computed, not simulated: jobs of a fixed service rate queue behind each other.

Used for side services whose queueing costs time but needs no event of its own (the snapshot service,
the history's replay reads). ``serve(n, now)`` queues ``n`` unit jobs arriving together and returns
how long they wait in total and how long the last one waits, in O(1).
"""

from __future__ import annotations


class FifoServer:
    """One server of ``rate`` jobs per second (None: unlimited, every job is served at once)."""

    __slots__ = ("free_at", "rate", "wait_max")

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.free_at = 0.0
        self.wait_max = 0.0

    def serve(self, n: int, now: float) -> tuple[float, float]:
        """``n`` jobs arrive at ``now``: (sum of their times until served, the last one's time)."""
        if self.rate is None or n <= 0:
            return 0.0, 0.0
        backlog = self.free_at - now if self.free_at > now else 0.0
        last = backlog + n / self.rate
        self.free_at = now + last
        if last > self.wait_max:
            self.wait_max = last
        return n * backlog + n * (n + 1) / (2 * self.rate), last
