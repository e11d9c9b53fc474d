"""Reconnect backoff strategies (Brooker, "Exponential Backoff And Jitter").

With ``t(n) = min(cap, base * 2**n)`` for the 0-based attempt ``n``:

==============  =============================================  ==========================
strategy        delay before attempt ``n``                     range
==============  =============================================  ==========================
none            0                                              {0}
constant        base                                           {base}
exponential     t(n)                                           [base, cap], monotone
full_jitter     U(0, t(n))                                     [0, t(n)]
equal_jitter    t(n)/2 + U(0, t(n)/2)                          [t(n)/2, t(n)]
decorrelated    min(cap, U(base, 3 * previous)), previous₀ = base  [base, cap]
==============  =============================================  ==========================

Every call of :meth:`Backoff.delay` draws exactly one uniform from ``rng`` whatever the strategy, so a
sweep over strategies keeps common random numbers aligned. ``rng`` is anything with ``.random()``
returning a float in [0, 1): a ``numpy.random.Generator`` or a ``random.Random``. Code that draws
uniforms in vectorized blocks calls :meth:`Backoff.from_uniform` instead, or
:meth:`Backoff.from_uniform_array` for a whole herd at once.

``max_attempts`` (None = retry forever) bounds the retries: attempts ``0 .. max_attempts - 1`` get a
delay; :meth:`Backoff.delay` raises :class:`BackoffExhausted` for any later attempt, and
:meth:`Backoff.sequence` simply stops after ``max_attempts`` delays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

STRATEGIES: tuple[str, ...] = (
    "none",
    "constant",
    "exponential",
    "full_jitter",
    "equal_jitter",
    "decorrelated",
)

_NONE, _CONSTANT, _EXPONENTIAL, _FULL, _EQUAL, _DECORRELATED = range(6)


class BackoffExhausted(RuntimeError):
    """Raised by :meth:`Backoff.delay` for an attempt at or beyond ``max_attempts``."""


class Backoff:
    """One reconnect backoff strategy: how long to wait before connection attempt ``n``."""

    __slots__ = ("_code", "_n_cap", "base", "cap", "max_attempts", "strategy")

    def __init__(self, strategy: str, base: float, cap: float, max_attempts: int | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown backoff strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if not (base >= 0 and math.isfinite(base)):
            raise ValueError(f"backoff base must be a finite number >= 0, got {base!r}")
        if not (cap >= base and math.isfinite(cap)):
            raise ValueError(f"backoff cap must be finite and >= base ({base}), got {cap!r}")
        if max_attempts is not None and max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0 or None, got {max_attempts!r}")
        self.strategy = strategy
        self.base = float(base)
        self.cap = float(cap)
        self.max_attempts = max_attempts
        self._code = STRATEGIES.index(strategy)
        # Smallest n with base * 2**n >= cap: from there on t(n) = cap, and 2**n is never computed.
        n = 0
        if self.base > 0:
            while math.ldexp(self.base, n) < self.cap:
                n += 1
        self._n_cap = n

    def ceiling(self, attempt: int) -> float:
        """``t(n) = min(cap, base * 2**n)``, without overflow for any ``n``."""
        if attempt >= self._n_cap or self.base == 0.0:
            return self.cap if self.base > 0 else 0.0
        return math.ldexp(self.base, attempt)

    def exhausted(self, attempt: int) -> bool:
        """True when attempt ``attempt`` (0-based) is beyond ``max_attempts``: give up."""
        return self.max_attempts is not None and attempt >= self.max_attempts

    def from_uniform(self, attempt: int, previous: float, u: float) -> float:
        """The delay before attempt ``attempt`` given one uniform ``u`` in [0, 1).

        ``previous`` is the delay returned for the previous attempt; only ``decorrelated`` reads it
        (values below ``base``, e.g. 0 at the first attempt, count as ``base``).
        """
        code = self._code
        if code == _FULL:
            return u * self.ceiling(attempt)
        if code == _EQUAL:
            half = 0.5 * self.ceiling(attempt)
            return half + u * half
        if code == _DECORRELATED:
            base = self.base
            hi = 3.0 * previous if previous > base else 3.0 * base
            d = base + u * (hi - base)
            return d if d < self.cap else self.cap
        if code == _EXPONENTIAL:
            return self.ceiling(attempt)
        if code == _CONSTANT:
            return self.base
        return 0.0

    def from_uniform_array(self, attempt: Any, previous: Any, u: Any) -> Any:
        """:meth:`from_uniform` over numpy arrays (broadcast): a whole herd's delays at once."""
        import numpy as np

        u = np.asarray(u, dtype=float)
        code = self._code
        if code == _DECORRELATED:
            base = self.base
            hi = 3.0 * np.maximum(np.asarray(previous, dtype=float), base)
            return np.minimum(base + u * (hi - base), self.cap)
        if code in (_FULL, _EQUAL, _EXPONENTIAL):
            n = np.asarray(attempt)
            if self.base == 0.0:
                t = np.zeros(np.broadcast(n, u).shape)
            else:
                small = np.minimum(n, self._n_cap)  # 2**n is never formed past the cap
                t = np.where(n >= self._n_cap, self.cap, np.ldexp(self.base, small))
                t = np.broadcast_to(t, np.broadcast(t, u).shape)
            if code == _FULL:
                return u * t
            if code == _EQUAL:
                return 0.5 * t + u * (0.5 * t)
            return np.array(t, dtype=float)
        value = self.base if code == _CONSTANT else 0.0
        return np.full(np.broadcast(np.asarray(attempt), u).shape, value)

    def delay(self, attempt: int, previous: float, rng: Any) -> float:
        """The delay before attempt ``attempt`` (0-based); draws one ``rng.random()``.

        Raises :class:`BackoffExhausted` when ``attempt >= max_attempts``.
        """
        if self.max_attempts is not None and attempt >= self.max_attempts:
            raise BackoffExhausted(f"attempt {attempt} is beyond max_attempts={self.max_attempts}")
        return self.from_uniform(attempt, previous, rng.random())

    def sequence(self, rng: Any) -> Iterator[float]:
        """Successive delays for attempts 0, 1, 2, ...; stops after ``max_attempts`` (never if None)."""
        attempt = 0
        previous = self.base
        limit = self.max_attempts
        while limit is None or attempt < limit:
            previous = self.from_uniform(attempt, previous, rng.random())
            yield previous
            attempt += 1

    def __repr__(self) -> str:
        return (
            f"Backoff({self.strategy!r}, base={self.base}, cap={self.cap}, max_attempts={self.max_attempts})"
        )
