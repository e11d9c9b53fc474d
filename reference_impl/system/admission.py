"""Who gets in, before any work is done for them: authentication, Origin, and every admission limit.

:class:`Admission` answers an upgrade or an HTTP request with the token's :class:`Grants` or a
:class:`Refusal` (status, metric reason, message). Checks, cheapest first:

=====================  ======  ===================================================================
check                  status  limit (GatewaySettings)
=====================  ======  ===================================================================
draining               503     —
failed-auth throttle   429     ``auth_failure_rate`` / ``auth_failure_burst`` per source address
Origin allow-list      403     ``allowed_origins``
token                  401     verified by :class:`~reference_impl.system.auth.TokenVerifier`
grant / scope          403     the request's room right or scope
per-subject count      429     ``max_connections_per_subject``
per-subject rate       429     ``handshake_rate_per_subject``
global count           503     ``max_connections`` (open + admitted handshakes)
global rate            503     ``handshake_rate``
=====================  ======  ===================================================================

A source that keeps sending bad tokens is refused before its token is even verified. Behind an L4
proxy every client shares the proxy's address: put the throttle there, or expect it to apply to all.
Per-key buckets are kept only while they are below full, so their memory is bounded by recent
activity (and capped at ``MAX_KEYS``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from reference_impl.system.auth import AuthError, Grants, TokenVerifier, extract_token
from reference_impl.system.settings import GatewaySettings
from wssim.policies import TokenBucket

MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP answer instead of the request: status, the ``wssim_requests_rejected`` reason, text."""

    status: HTTPStatus
    reason: str
    message: str
    retry_after: float | None = None


class KeyedBuckets:
    """One :class:`TokenBucket` per key (a source address, a subject), created full on first use."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_KEYS:
                del self.buckets[next(iter(self.buckets))]  # the oldest key
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def empty(self, key: str, now: float) -> bool:
        """No token left for ``key`` (a key never seen has a full bucket)."""
        bucket = self.buckets.get(key)
        return bucket is not None and bucket.level(now) < 1.0

    def prune(self, now: float) -> None:
        """Forget the keys whose bucket is full again: they are as good as new."""
        full = [k for k, b in self.buckets.items() if b.level(now) >= b.burst]
        for key in full:
            del self.buckets[key]


class Admission:
    """The admission state of one gateway (per-subject counts, buckets)."""

    def __init__(self, settings: GatewaySettings, verifier: TokenVerifier) -> None:
        s = self.settings = settings
        self.verifier = verifier
        self.subjects: dict[str, int] = {}  # subject -> connections open or admitted
        self.admitted = 0  # connections open or admitted, all subjects
        self.failures = (
            KeyedBuckets(s.auth_failure_rate, s.auth_failure_burst) if s.auth_failure_rate else None
        )
        self.subject_rate = (
            KeyedBuckets(s.handshake_rate_per_subject) if s.handshake_rate_per_subject else None
        )
        rate = s.handshake_rate
        self.rate = TokenBucket(rate, s.handshake_burst, time.monotonic()) if rate is not None else None

    def _busy(self, reason: str, message: str, status: HTTPStatus) -> Refusal:
        return Refusal(status, reason, message, self.settings.retry_after)

    def authenticate(
        self, source: str, path: str, headers: Mapping[str, str], now: float
    ) -> Grants | Refusal:
        """The request's grants, or why not (throttled source, bad Origin, bad token)."""
        s = self.settings
        if self.failures is not None and self.failures.empty(source, now):
            return self._busy(
                "auth_throttled", "too many failed authentications", HTTPStatus.TOO_MANY_REQUESTS
            )
        origin = headers.get("Origin")
        if s.allowed_origins is not None and origin is not None and origin not in s.allowed_origins:
            return Refusal(HTTPStatus.FORBIDDEN, "origin", "origin not allowed")
        try:
            return self.verifier.verify(extract_token(path, headers))
        except AuthError as exc:
            if self.failures is not None:
                self.failures.take(source, now)
            return Refusal(HTTPStatus.UNAUTHORIZED, "unauthorized", f"{exc.reason}: {exc}")

    def admit(self, grants: Grants, now: float, draining: bool) -> Refusal | None:
        """Take a connection slot for ``grants.subject`` (give it back with :meth:`release`)."""
        s, sub = self.settings, grants.subject
        if draining:
            return self._busy("draining", "draining", HTTPStatus.SERVICE_UNAVAILABLE)
        per = s.max_connections_per_subject
        if per is not None and self.subjects.get(sub, 0) >= per:
            return self._busy(
                "subject_connections", f"{per} connections per subject at most", HTTPStatus.TOO_MANY_REQUESTS
            )
        if self.subject_rate is not None and not self.subject_rate.take(sub, now):
            return self._busy("subject_rate", "connecting too fast", HTTPStatus.TOO_MANY_REQUESTS)
        if s.max_connections is not None and self.admitted >= s.max_connections:
            return self._busy("capacity", "at max_connections", HTTPStatus.SERVICE_UNAVAILABLE)
        if self.rate is not None and not self.rate.take(now):
            return self._busy("rate", "handshake rate limit", HTTPStatus.SERVICE_UNAVAILABLE)
        self.subjects[sub] = self.subjects.get(sub, 0) + 1
        self.admitted += 1
        return None

    def release(self, subject: str) -> None:
        """A connection of ``subject`` ended (or its handshake failed after admission)."""
        n = self.subjects.get(subject, 0) - 1
        if n > 0:
            self.subjects[subject] = n
        else:
            self.subjects.pop(subject, None)
        self.admitted -= 1

    def prune(self, now: float) -> None:
        for buckets in (self.failures, self.subject_rate):
            if buckets is not None:
                buckets.prune(now)
