"""A run's schedule: the events the simulator drew, in a file the live harness can play.

Both engines draw their events from the same named streams, but a live run cannot reproduce the
simulator's draws that depend on its state (a publish is drawn only while its client is connected, an
offline episode starts a random time after a connection). So the simulator records what it drew for
one run, and the live run plays exactly that: the same clients arrive at the same times in the same
rooms, the same ones are slow, go offline and publish, the same faults hit the same gateways.

File format (``.npz``, numpy's zip of arrays, read with ``allow_pickle=False``), times in scenario
seconds from the start of the run:

===================  =============  ==========================================================
array                dtype, shape   meaning
===================  =============  ==========================================================
``header``           str, ()        JSON: ``format`` ("wssim-schedule"), ``version``, ``scenario``,
                                    ``seed``, ``replication``, ``duration``, ``faults`` (a list of
                                    ``{kind, at, targets, ...}``: the config's fault with the
                                    gateways it hit, drawn when the config leaves them open)
``connect_at``       float64, (n,)  first connect of client ``i`` (NaN: never arrives in the run)
``slow``             bool, (n,)     client ``i`` is a slow consumer
``rooms``            int32, (n, k)  the rooms client ``i`` joins (room indices)
``offline_client``   int64, (m,)    offline episodes: the client,
``offline_start``    float64, (m,)  when it goes offline (it was connected then),
``offline_duration`` float64, (m,)  how long it stays away,
``offline_half_open`` bool, (m,)    and whether it vanishes without a FIN
``publish_time``     float64, (p,)  publications: when,
``publish_room``     int32, (p,)    to which room,
``publish_client``   int64, (p,)    and on behalf of which client
===================  =============  ==========================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "wssim-schedule"
VERSION = 1
ARRAYS = {
    "connect_at": np.float64,
    "slow": np.bool_,
    "rooms": np.int32,
    "offline_client": np.int64,
    "offline_start": np.float64,
    "offline_duration": np.float64,
    "offline_half_open": np.bool_,
    "publish_time": np.float64,
    "publish_room": np.int32,
    "publish_client": np.int64,
}


class ScheduleError(ValueError):
    """A schedule file cannot be read or does not fit the config it is played with."""


@dataclass
class Schedule:
    """The events of one run (see the module docstring for every field)."""

    header: dict[str, Any]
    connect_at: np.ndarray
    slow: np.ndarray
    rooms: np.ndarray
    offline_client: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    offline_start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offline_duration: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offline_half_open: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    publish_time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    publish_room: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    publish_client: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def clients(self) -> int:
        return len(self.connect_at)

    @property
    def faults(self) -> list[dict[str, Any]]:
        return list(self.header.get("faults", []))

    def offline_of(self, client: int) -> list[tuple[float, float, bool]]:
        """(start, duration, half open) of each offline episode of ``client``, in time order."""
        rows = np.nonzero(self.offline_client == client)[0]
        rows = rows[np.argsort(self.offline_start[rows], kind="stable")]
        return [
            (float(self.offline_start[i]), float(self.offline_duration[i]), bool(self.offline_half_open[i]))
            for i in rows
        ]

    def write(self, path: str | Path) -> Path:
        """Write the schedule to ``path`` (``.npz``), atomically."""
        path = Path(path)
        arrays = {name: np.asarray(getattr(self, name), dtype=dt) for name, dt in ARRAYS.items()}
        header = {"format": FORMAT, "version": VERSION, **self.header}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, header=np.array(json.dumps(header)), **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Schedule:
        """Read a schedule written by :meth:`write`; :class:`ScheduleError` says what is wrong."""
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {name: np.asarray(data[name], dtype=dt) for name, dt in ARRAYS.items()}
        except (OSError, KeyError, ValueError) as exc:
            raise ScheduleError(f"schedule {path}: cannot be read ({exc})") from exc
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ScheduleError(
                f"schedule {path}: not a {FORMAT} file of version {VERSION} (header {header!r})"
            )
        return cls(header, **arrays)

    def check_fits(self, config: Any) -> None:
        """:class:`ScheduleError` unless the schedule was drawn for a config shaped like ``config``."""
        c = config.clients
        k = c.rooms.per_client if c.rooms.count else 0
        problems = []
        extra = sum(getattr(f, "connect_clients", 0) for f in config.faults)
        if self.clients != c.count + extra:
            problems.append(f"{self.clients} clients, the config has {c.count + extra}")
        if self.rooms.shape[1:] != (k,):
            problems.append(f"{self.rooms.shape[1:]} rooms per client, the config has {k}")
        if len(self.publish_room) and int(self.publish_room.max()) >= c.rooms.count:
            problems.append(f"room {int(self.publish_room.max())}, the config has {c.rooms.count} rooms")
        if problems:
            raise ScheduleError("schedule does not fit the config: " + "; ".join(problems))


class ScheduleRecorder:
    """Collects the events a simulated run draws (cheap appends), then builds its :class:`Schedule`."""

    def __init__(self) -> None:
        from array import array

        self._offline = (array("q"), array("d"), array("d"), array("b"))
        self._publish = (array("d"), array("l"), array("q"))

    def offline(self, client: int, start: float, duration: float, half_open: bool) -> None:
        for column, value in zip(self._offline, (client, start, duration, half_open), strict=True):
            column.append(value)

    def publish(self, t: float, room: int, client: int) -> None:
        for column, value in zip(self._publish, (t, room, client), strict=True):
            column.append(value)

    def schedule(
        self, header: dict[str, Any], connect_at: Any, slow: Any, rooms: Any, faults: list[dict[str, Any]]
    ) -> Schedule:
        """The schedule of the run: per-client arrays as given, the recorded episodes and publishes."""
        names = [n for n in ARRAYS if n.startswith(("offline_", "publish_"))]
        recorded = {
            n: np.frombuffer(col, dtype=col.typecode).astype(ARRAYS[n])
            for n, col in zip(names, (*self._offline, *self._publish), strict=True)
        }
        return Schedule(
            {**header, "faults": faults},
            np.asarray(connect_at, dtype=np.float64),
            np.asarray(slow, dtype=np.bool_),
            np.asarray(rooms, dtype=np.int32),
            **recorded,
        )
