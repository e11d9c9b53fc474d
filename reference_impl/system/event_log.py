"""A gateway's log of connection events with their wall-clock times, where the simulator counts them.

The crosscheck compares the handshake rate, the connections held and the first slow-consumer
disconnect at the gateway in both engines: the simulator at the moment its gateway finishes serving a
handshake (or closes a socket), the live gateway here. Each event is one 12-byte record (little-endian
float64 ``time.time()``, uint32 kind) written with one ``write()`` on an ``O_APPEND`` descriptor: no
buffer in the process, so a gateway killed with SIGKILL has lost nothing it logged, and memory stays
flat however long the run. Off unless the gateway is given a path (``--gw event_log=PATH``).
"""

from __future__ import annotations

import os
import struct
import time

ACCEPT = 1  # a WebSocket handshake completed: the connection is established
CLOSE = 2  # an established connection ended (either side)
SLOW_DISCONNECT = 3  # the send-queue policy disconnected a slow consumer
BACKPLANE_CUT = 4  # the backplane connection was dropped (a subscription outage begins)
BACKPLANE_RESTORED = 5  # reconnected and every room with members subscribed again
RECORD = struct.Struct("<dI")


class EventLog:
    """Appends events to a file (or does nothing without one)."""

    def __init__(self, path: str | None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if path else None

    def log(self, kind: int) -> None:
        if self.fd is not None:
            os.write(self.fd, RECORD.pack(time.time(), kind))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_events(path: str | os.PathLike[str]) -> list[tuple[float, int]]:
    """Every (wall time, kind) in the log at ``path`` (a torn last record is ignored)."""
    with open(path, "rb") as f:
        data = f.read()
    usable = len(data) - len(data) % RECORD.size
    return list(RECORD.iter_unpack(data[:usable]))
