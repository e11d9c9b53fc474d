"""The reconnecting client: how long to wait before the next attempt, when to give up, what to resume.

After an attempt fails, or an established connection ends, the client waits the :class:`Backoff`
delay of its attempt number, and never less than the floor of what happened:

===============  =============================================  ========================================
outcome          what happened                                  the next attempt comes no earlier than
===============  =============================================  ========================================
``CLOSED``       an established connection ended (crash,        the backoff delay after the close
                 drain, idle cut, slow-consumer disconnect,     (for an offline client: after it is back
                 an offline client back online)                 online)
``REFUSED``      the connect was refused or reset (nothing      ``refused_cost`` after the attempt began
                 listening, no healthy upstream, EMFILE, an     (the round trip and error handling of a
                 error status other than 503)                   client on a real network)
``UNAVAILABLE``  503 from admission control                     the Retry-After the server sent (else
                                                                ``retry_after``) after the answer
``DROPPED``      the SYN was dropped (a full conntrack table)   ``syn_retry`` after the attempt began
                                                                (TCP's initial retransmission timeout)
``TIMEOUT``      no handshake within ``connect_timeout``        the backoff delay after giving up (the
                                                                attempt already took the timeout)
===============  =============================================  ========================================

The state is two numbers per client: ``attempt`` (failed attempts since the last established
connection; the backoff delay before the next attempt is that of ``attempt``) and ``previous`` (the
last backoff draw, which ``decorrelated`` reads). :meth:`Reconnector.retry` computes the transition
from them, so the simulator keeps them in flat per-client lists; :class:`Reconnection` holds them
(and the client's resume cursors) in an object for the live load generator.

Invariants: each retry draws exactly one uniform, and none when the client gives up (common random
numbers across strategies); ``attempt`` grows by one per retry and is 0 after an established
connection; a client gives up exactly when ``attempt`` reaches ``max_attempts``; the wait is never
below the backoff draw nor the outcome's floor (less the time the attempt already took, for the
floors that model the attempt's own cost). A reconnect sends the client's cursors (room → epoch and
last offset seen) only when resuming is on and it has been connected before.
"""

from __future__ import annotations

from typing import Any

from wssim.policies.backoff import Backoff

CLOSED, REFUSED, UNAVAILABLE, DROPPED, TIMEOUT = range(5)
OUTCOMES: tuple[str, ...] = ("closed", "refused", "unavailable", "dropped", "timeout")
_FROM_START = (False, True, False, True, False)  # floors counted from the attempt's start


class Reconnector:
    """The reconnect policy of a client population: backoff, floors per outcome, give-up, resume."""

    __slots__ = ("_floors", "backoff", "connect_timeout", "resume")

    def __init__(
        self,
        backoff: Backoff,
        *,
        retry_after: float = 5.0,
        refused_cost: float = 0.1,
        syn_retry: float = 1.0,
        connect_timeout: float = 10.0,
        resume: bool = True,
    ) -> None:
        for name, value in (
            ("retry_after", retry_after),
            ("refused_cost", refused_cost),
            ("syn_retry", syn_retry),
            ("connect_timeout", connect_timeout),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
        self.backoff = backoff
        self.connect_timeout = float(connect_timeout)
        self.resume = resume
        self._floors = (0.0, float(refused_cost), float(retry_after), float(syn_retry), 0.0)

    @classmethod
    def from_config(cls, config: Any) -> Reconnector:
        """The policy of a :class:`wssim.config.Config` (``clients.*``, ``gateways.admission``)."""
        cl, rc = config.clients, config.clients.reconnect
        return cls(
            Backoff(rc.strategy, rc.base, rc.cap, rc.max_attempts),
            retry_after=config.gateways.admission.retry_after,
            refused_cost=cl.refused_cost,
            syn_retry=cl.syn_retry,
            connect_timeout=cl.connect_timeout,
            resume=cl.resume,
        )

    def floor(self, outcome: int, told: float | None = None) -> float:
        """The least wait after ``outcome`` (``told``: the Retry-After a 503 carried, seconds)."""
        if outcome == UNAVAILABLE and told is not None:
            return told
        return self._floors[outcome]

    def retry(
        self,
        attempt: int,
        previous: float,
        rng: Any,
        outcome: int,
        told: float | None = None,
        elapsed: float = 0.0,
    ) -> tuple[float, float] | None:
        """``(wait, backoff draw)`` before the next attempt, or None: give up.

        ``attempt`` and ``previous`` are the client's state (the caller then stores ``attempt + 1``
        and the draw); ``rng.random()`` gives the one uniform; ``elapsed`` is how long the failed
        attempt took before its outcome was known (0 in the simulator, measured live).
        """
        bo = self.backoff
        if bo.max_attempts is not None and attempt >= bo.max_attempts:
            return None
        d = bo.from_uniform(attempt, previous, rng.random())
        floor = self.floor(outcome, told)
        if _FROM_START[outcome]:
            floor -= elapsed
        return (d if d > floor else floor), d

    def resumes(self, connected_before: bool) -> bool:
        """Whether a connection sends the client's cursors: resuming is on and it is a reconnect."""
        return self.resume and connected_before

    def __repr__(self) -> str:
        floors = ", ".join(f"{n}={f:g}" for n, f in zip(OUTCOMES, self._floors, strict=True) if f)
        return f"Reconnector({self.backoff!r}, {floors}, connect_timeout={self.connect_timeout:g})"


class Reconnection:
    """One client's reconnect state and resume cursors, for an engine that keeps them in an object."""

    __slots__ = ("attempt", "attempts", "connected_before", "cursors", "policy", "previous")

    def __init__(self, policy: Reconnector) -> None:
        self.policy = policy
        self.attempt = 0
        self.previous = 0.0
        self.attempts = 0  # connection attempts made (the first one is not a reconnect)
        self.connected_before = False
        self.cursors: dict[str, tuple[str, int]] = {}  # room -> (epoch, last offset seen)

    def attempting(self) -> bool:
        """An attempt starts now; True when it is a reconnect (not the client's very first attempt)."""
        self.attempts += 1
        return self.attempts > 1

    def retry(self, outcome: int, rng: Any, told: float | None = None, elapsed: float = 0.0) -> float | None:
        """The attempt (or the connection) ended with ``outcome``: seconds to wait, or None to give up."""
        step = self.policy.retry(self.attempt, self.previous, rng, outcome, told, elapsed)
        if step is None:
            return None
        wait, self.previous = step
        self.attempt += 1
        return wait

    def established(self, rooms: list[str]) -> dict[str, tuple[str, int]]:
        """Connected: the attempt count starts again; returns the cursors to send for ``rooms``."""
        send = self.policy.resumes(self.connected_before)
        self.attempt = 0
        self.previous = 0.0
        self.connected_before = True
        return {r: self.cursors[r] for r in rooms if r in self.cursors} if send else {}

    def joined(self, room: str, epoch: str, head: int) -> None:
        """Subscribed at ``head``: the cursor starts there, unless one of that epoch is already kept."""
        old = self.cursors.get(room)
        if old is None or old[0] != epoch:
            self.cursors[room] = (epoch, head)

    def saw(self, room: str, epoch: str, offset: int) -> None:
        """A message of ``room`` arrived: it is the last one seen."""
        self.cursors[room] = (epoch, offset)
