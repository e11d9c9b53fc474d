"""The per-connection budget: how many sockets one gateway can hold.

A WebSocket fleet pays for presence, not traffic: every open socket keeps kernel socket buffers, TLS
session state, a connection object with its subscriptions and auth context, and a file descriptor,
until the client leaves. Typical figures: 10–50 KB per connection end to end, of which live TLS
session state is about 10–40 KB; at 50 KB, a million connections need about 50 GB before any message
is buffered. Queued outbound bytes come on top and are passed separately (they vary per connection).

A node's capacity is the smallest of its ceilings: usable memory over bytes per connection, and the
file-descriptor limit over fds per connection. ``headroom`` (0–1] is the share of each ceiling one
plans to fill, leaving room for GC pauses, send buffering and spikes; a node that fits millions on
paper is usually run at a few hundred thousand.
"""

from __future__ import annotations

import math


def _fit(available: float, per: int) -> float:
    """The largest n with n * per <= available (exact, whatever the rounding of the division)."""
    if per <= 0:
        return math.inf
    n = math.floor(available / per)
    while n > 0 and n * per > available:
        n -= 1
    while (n + 1) * per <= available:
        n += 1
    return n


class ConnectionBudget:
    """Bytes and file descriptors one connection costs on a gateway."""

    __slots__ = ("app", "fds", "kernel", "tls")

    def __init__(self, kernel: int, tls: int, app: int, fds: int = 1) -> None:
        for name, v in (("kernel", kernel), ("tls", tls), ("app", app), ("fds", fds)):
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        self.kernel = int(kernel)
        self.tls = int(tls)
        self.app = int(app)
        self.fds = int(fds)

    @property
    def bytes(self) -> int:
        """Fixed bytes per connection: kernel + tls + app."""
        return self.kernel + self.tls + self.app

    def connection_bytes(self, queued_bytes: int = 0) -> int:
        """Bytes of one connection including its queued outbound bytes."""
        return self.kernel + self.tls + self.app + queued_bytes

    def memory(self, connections: int, base_memory: int = 0, queued_bytes: int = 0) -> int:
        """Memory of a node holding ``connections`` sockets plus ``queued_bytes`` in all its queues."""
        return base_memory + connections * self.bytes + queued_bytes

    def ceilings(
        self, memory: int, base_memory: int, fd_limit: int, headroom: float = 1.0
    ) -> dict[str, float]:
        """Connections allowed by each resource: ``{"memory": ..., "fds": ...}`` (after headroom).

        Whole numbers, or ``math.inf`` for a resource a connection does not use (0 bytes or 0 fds).
        """
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom!r}")
        mem = _fit(max(0, memory - base_memory) * headroom, self.bytes)
        fds = _fit(max(0, fd_limit) * headroom, self.fds)
        return {"memory": mem, "fds": fds}

    def node_capacity(self, memory: int, base_memory: int, fd_limit: int, headroom: float = 1.0) -> int:
        """Connections one node can hold: the smaller of the memory and fd ceilings (after headroom)."""
        c = self.ceilings(memory, base_memory, fd_limit, headroom)
        cap = min(c["memory"], c["fds"])
        if cap == math.inf:
            raise ValueError("a connection that costs neither bytes nor fds has no capacity limit")
        return int(cap)

    def limiting(self, memory: int, base_memory: int, fd_limit: int, headroom: float = 1.0) -> str:
        """Which ceiling binds first: ``"memory"`` or ``"fds"``."""
        c = self.ceilings(memory, base_memory, fd_limit, headroom)
        return "memory" if c["memory"] <= c["fds"] else "fds"

    def __repr__(self) -> str:
        return f"ConnectionBudget(kernel={self.kernel}, tls={self.tls}, app={self.app}, fds={self.fds})"
