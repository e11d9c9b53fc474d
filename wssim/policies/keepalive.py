"""Keepalive: ping/pong liveness and the idle timers on the path, as lazily computed deadlines.

Balancers, proxies and NAT boxes cut a connection that stays silent longer than their idle timeout
(a common cloud L7 default is 60 s; corporate proxies often use 30 s). WebSocket ping frames sent more
often than the tightest timeout on the path reset every one of those timers, and the pong doubles as a
liveness probe: no pong within the timeout (by default two ping intervals) means the peer is gone and
its file descriptor can be reclaimed. TCP keepalive does not help: its default period is two hours and
it does not cross L7 proxies.

Nothing here schedules events: an engine computes the next deadline from the last pong or last traffic
and only wakes up then, so a million idle sockets cost no events until a deadline matters.
"""

from __future__ import annotations


def tightest(*timeouts: float | None) -> float | None:
    """The smallest of the idle timeouts on a path, ignoring None (no timeout); None if all are None."""
    best = None
    for t in timeouts:
        if t is not None and (best is None or t < best):
            best = t
    return best


class Keepalive:
    """Ping every ``ping_interval`` seconds (None = no pings); dead after ``timeout`` without a pong."""

    __slots__ = ("ping_interval", "timeout")

    def __init__(self, ping_interval: float | None, timeout: float | None = None) -> None:
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError(f"ping_interval must be > 0 or None, got {ping_interval!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 or None, got {timeout!r}")
        self.ping_interval = ping_interval
        if timeout is None and ping_interval is not None:
            timeout = 2.0 * ping_interval
        self.timeout = timeout if ping_interval is not None else None

    def next_ping(self, last_ping: float) -> float | None:
        """When the next ping is due, or None without pings."""
        return None if self.ping_interval is None else last_ping + self.ping_interval

    def dead_at(self, last_pong: float) -> float | None:
        """When the peer is declared dead if no pong arrives after ``last_pong``; None without pings."""
        return None if self.timeout is None else last_pong + self.timeout

    def keeps_alive(self, idle_timeout: float | None) -> bool:
        """True when pings prevent an idle cut: no timeout, or ``ping_interval < idle_timeout``."""
        if idle_timeout is None:
            return True
        return self.ping_interval is not None and self.ping_interval < idle_timeout

    def idle_cut_at(self, last_traffic: float, idle_timeout: float | None) -> float | None:
        """When an idle timer on the path cuts the connection, or None if it never does.

        None when there is no timeout or when pings (``ping_interval < idle_timeout``) reset it;
        otherwise ``last_traffic + idle_timeout``: the cut comes before the next ping would.
        """
        if idle_timeout is None:
            return None
        pi = self.ping_interval
        if pi is not None and pi < idle_timeout:
            return None
        return last_traffic + idle_timeout

    def __repr__(self) -> str:
        return f"Keepalive(ping_interval={self.ping_interval}, timeout={self.timeout})"
