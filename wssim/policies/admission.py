"""Admission control: a token bucket that admits a sustained rate with a bounded burst.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens per second; a request of ``cost``
tokens (1 for a handshake) is admitted when that many are there, and takes them:

===========  ====================================================================================
state        meaning
===========  ====================================================================================
``tokens``   tokens held after the last call, in ``[0, burst]``
``stamp``    the time ``tokens`` was brought up to date
===========  ====================================================================================

==================  ===============================================================================
call                effect at time ``now``
==================  ===============================================================================
``take(now, c)``    ``tokens = min(burst, tokens + (now - stamp) · rate)``; admitted iff
                    ``tokens >= c``, then ``tokens -= c``; a refusal takes nothing
``level(now)``      the tokens a request would find now (nothing changes)
``fill(now)``       full again (a restarted process)
==================  ===============================================================================

Invariants (checked against the virtual-scheduling form of the same limit in the property tests):
the bucket starts full; over any run of calls from ``a`` to ``b`` the cost admitted is at most
``burst + rate · (b − a)``; requests of cost 1 spaced at least ``1/rate`` apart are all admitted; a
full bucket admits ``floor(burst)`` unit requests back to back. Time passed in must not decrease (an
earlier time counts as the last one). The class is general: one bucket per gateway for the handshake
rate, or one per key (a token, an address) for per-client limits.
"""

from __future__ import annotations

import math


def default_burst(rate: float) -> float:
    """The usual bucket size for ``rate``: one second's worth of tokens, at least one."""
    return max(1.0, rate)


class TokenBucket:
    """Up to ``burst`` tokens (None: :func:`default_burst`), refilled at ``rate`` per second; starts
    full at ``now``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if not (rate >= 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
        if burst is None:
            burst = default_burst(rate)
        if not (burst >= 0 and math.isfinite(burst)):
            raise ValueError(f"burst must be a finite number >= 0, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = self.burst
        self.stamp = now

    def level(self, now: float) -> float:
        """The tokens held at ``now`` (no state change)."""
        tokens = self.tokens
        if now > self.stamp:
            tokens += (now - self.stamp) * self.rate
            if tokens > self.burst:
                tokens = self.burst
        return tokens

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Admit a request of ``cost`` tokens at ``now`` (True) or refuse it (False, nothing taken)."""
        tokens = self.tokens
        if now > self.stamp:
            tokens += (now - self.stamp) * self.rate
            if tokens > self.burst:
                tokens = self.burst
            self.stamp = now
        if tokens < cost:
            self.tokens = tokens
            return False
        self.tokens = tokens - cost
        return True

    def fill(self, now: float) -> None:
        """Full again at ``now`` (a restarted process starts with a full bucket)."""
        self.tokens = self.burst
        self.stamp = now

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst}, tokens={self.tokens:.3f})"
