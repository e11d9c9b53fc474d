"""Load generator: thousands of real WebSocket clients spread over several processes.

The parent (:func:`plan`) draws every client's rooms, connect time, offline episodes and slow-consumer
role from the named random streams, splits the clients into :class:`WorkerSpec` s, and
:func:`run_workers` runs one process per spec. Each process (:func:`worker_main`) runs its clients on
one asyncio loop and writes a :class:`WorkerRecord` (pickle) that the parent merges
(:mod:`reference_impl.driver.accounting`).

A client connects through the balancer (``?key=c<ID>`` is its routing key), subscribes to its rooms
(with its resume cursors after a reconnect), records every frame it receives, reconnects with the
shared :class:`wssim.policies.Reconnector` (backoff, the floors of a refused attempt and of a 503's
Retry-After, the connect timeout, give-up, the cursors it resumes from), and goes offline when its
plan says so. A slow consumer reads at the pace of the shared :class:`wssim.policies.Reader` (read
times and stalls as in the simulator; while it is stalled or reading it leaves the socket alone, so
its small TCP receive buffer fills and the gateway sees backpressure).

Publishers play the application services behind the gateways: each worker publishes on behalf of its
connected clients (each a Poisson process at the publish rate, as in the simulator), straight to the
backplane (``via="backplane"``: the backplane returns ``(epoch, offset)``, so the publish log is exact)
or through the client's own socket (``via="ws"``, for the in-process backplane).

Times inside a plan are scenario seconds; the wall clock runs ``time_scale`` times as fast
(``wall = t0 + scenario * time_scale``). Latencies are wall-clock seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pickle
import socket
import subprocess
import sys
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_impl.system import protocol
from reference_impl.system.auth import mint_token, room_grants
from reference_impl.system.settings import SECRET_ENV
from wssim.policies import Reader, Reconnection, Reconnector
from wssim.policies.reader import NEVER_STALLS
from wssim.policies.reconnect import CLOSED, REFUSED, TIMEOUT, UNAVAILABLE
from wssim.randomness import Stream, generator

MAX_CLIENTS_PER_PROCESS = 9000
SLOW_RCVBUF = 4096  # bytes: a slow consumer's tiny receive buffer fills after a few frames
SLOW_MAX_QUEUE = 4  # frames a slow consumer's client library reads ahead of its application


# ------------------------------------------------------------------------------------------ plans
@dataclass
class ClientPlan:
    """What one client does (scenario seconds)."""

    cid: int
    rooms: list[str]
    connect_at: float
    offline: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, duration, half_open)
    slow: bool = False
    stall_phase: float = NEVER_STALLS  # this slow consumer's place in its stall cycle (Reader.phase)


@dataclass
class PublishPlan:
    """Publishing by one worker on behalf of its clients."""

    rate: float  # messages per scenario second, summed over the worker's clients
    start: float
    stop: float
    via: str = "backplane"  # backplane | ws
    size: int = 200
    spikes: list[tuple[float, float, float]] = field(default_factory=list)  # (at, duration, multiplier)
    backplane: dict[str, Any] | None = None  # kwargs of reference_impl.system.backplanes.make_backplane
    periodic: bool = False  # exact gaps of 1/rate, clients and their rooms in turn (else Poisson, at random)
    scheduled: list[tuple[float, int, str]] | None = None  # a schedule's (time, client, room), played as is


@dataclass
class WorkerSpec:
    """Everything one load-generator process needs."""

    index: int
    url: str  # ws://HOST:PORT/ws of the balancer (or one gateway)
    clients: list[ClientPlan]
    t0: float  # wall-clock epoch of scenario time 0
    time_scale: float
    end: float  # scenario time at which every client closes
    reconnect: Reconnector  # backoff, floors, connect timeout (scenario seconds), resume
    token_ttl: float = 3600.0  # wall seconds; tokens are signed with the secret in WSSIM_TOKEN_SECRET
    seed: int = 1
    replication: int = 0
    reader: Reader | None = None  # healthy clients' reads (scenario s); None = as fast as they come
    slow_reader: Reader | None = None  # slow consumers' reads and stalls
    publish: PublishPlan | None = None
    source_host: str | None = None  # bind client sockets to this loopback address
    # the plans are a simulator schedule: every offline episode follows a connection, as it did there,
    # and no connection attempt starts after the simulated run's end (``last_attempt``)
    scheduled: bool = False
    last_attempt: float | None = None


@dataclass
class WorkerRecord:
    """What one load-generator process observed (all times wall-clock, ``time.time()``)."""

    index: int
    # every msg frame: client, message id, room index, offset, epoch index, receive time, publish ts
    r_cid: array = field(default_factory=lambda: array("l"))
    r_mid: array = field(default_factory=lambda: array("q"))
    r_room: array = field(default_factory=lambda: array("l"))
    r_off: array = field(default_factory=lambda: array("q"))
    r_epoch: array = field(default_factory=lambda: array("l"))
    r_t: array = field(default_factory=lambda: array("d"))
    r_ts: array = field(default_factory=lambda: array("d"))
    # publish log: message id, room index, ts, epoch index (-1 unknown), offset (-1 unknown), ok
    p_mid: array = field(default_factory=lambda: array("q"))
    p_room: array = field(default_factory=lambda: array("l"))
    p_ts: array = field(default_factory=lambda: array("d"))
    p_epoch: array = field(default_factory=lambda: array("l"))
    p_off: array = field(default_factory=lambda: array("q"))
    # connection events: (cid, wall time, kind, detail); kinds: attempt, open, close, reject, fail
    events: list[tuple[int, float, str, Any]] = field(default_factory=list)
    # first subscription per (cid, room index): (wall time, epoch index, offset)
    subscribed: dict[tuple[int, int], tuple[float, int, int]] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    epochs: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)
    error: str = ""


def room_name(index: int) -> str:
    return f"r{index}"


def retry_after(headers: Any) -> float | None:
    """Seconds a 503 asks the client to wait: ``Retry-After-Ms`` when sent (sub-second precision),
    else ``Retry-After`` in whole seconds; None when neither is a number."""
    for name, unit in (("Retry-After-Ms", 1e-3), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is not None:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value)) * unit
    return None


def offline_periods(
    rng: Any, start: float, stop: float, rate: float, mean: float, dist: str, half_open: float
) -> list[tuple[float, float, bool]]:
    """Non-overlapping offline episodes of one client in ``[start, stop)``: Poisson starts, then a gap."""
    out: list[tuple[float, float, bool]] = []
    if rate <= 0 or stop <= start:
        return out
    t = start
    while True:
        t += rng.exponential(1.0 / rate)
        if t >= stop:
            return out
        d = float(rng.exponential(mean)) if dist == "exponential" else mean
        d = min(d, stop - t)
        out.append((t, d, bool(rng.random() < half_open)))
        t += d


def drawn_publishes(
    plan: PublishPlan, clients: list[ClientPlan], rng: Any, start: float
) -> Iterator[tuple[float, int, str]]:
    """(scenario time, client, room) of each publication: a Poisson process (or exact gaps, ``periodic``)
    at the plan's rate, multiplied during spikes, from a client of ``clients`` and one of its rooms."""
    t, tick = max(plan.start, start), 0
    while True:
        rate, bound = plan.rate, plan.stop
        for at, dur, m in plan.spikes:
            if at <= t < at + dur:
                rate = plan.rate * m
            for edge in (at, at + dur):
                if t < edge < bound:
                    bound = edge
        mean = 1.0 / rate if rate > 0 else math.inf
        gap = mean if plan.periodic or rate <= 0 else rng.exponential(mean)
        if t + gap >= bound:  # memoryless: restart the draw at the next rate change
            t = bound
            if t >= plan.stop:
                return
            continue
        t += gap
        if plan.periodic:
            client = clients[tick % len(clients)]
            room = client.rooms[(tick // len(clients)) % len(client.rooms)]
            tick += 1
        else:
            client = clients[int(rng.integers(len(clients)))]
            room = client.rooms[int(rng.integers(len(client.rooms)))]
        yield t, client.cid, room


# ------------------------------------------------------------------------------------- a client
class _Inbox:
    """What the reader of one connection keeps between frames."""

    __slots__ = ("gap_pending", "held", "last_seen", "missed", "resent", "resuming")

    def __init__(self, resuming: set[str]) -> None:
        self.resuming = resuming  # rooms of this reconnect's resume still unanswered
        self.missed = False  # one of them needed a resync
        self.last_seen: dict[tuple[str, str], int] = {}  # (room, epoch) -> highest offset seen
        self.gap_pending: set[str] = set()  # rooms with a gap resume in flight
        # rooms with a gap resume: (epoch, offsets already held above the resume cursor), and how many
        # replayed frames were such re-sends (a replay answers everything after the cursor)
        self.held: dict[str, tuple[str, set[int]]] = {}
        self.resent: dict[str, int] = {}


class _Worker:
    def __init__(self, spec: WorkerSpec, secret: str) -> None:
        self.spec = spec
        self.secret = secret
        self.rooms_of = {c.cid: c.rooms for c in spec.clients}
        self.rec = WorkerRecord(spec.index)
        self.open_timeout = spec.reconnect.connect_timeout * spec.time_scale  # wall seconds
        self.rng = generator(spec.seed, spec.replication, Stream.LIVE, spec.index)
        self._room_ix: dict[str, int] = {}
        self._epoch_ix: dict[str, int] = {}
        self.sockets: dict[int, Any] = {}  # cid -> open connection (publishing via ws)
        self.published = 0  # publications sent (their ids are numbered by worker and this count)
        self.back: dict[int, float] = {}  # client -> the scheduled end of the offline episode it ended
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()

    # scenario clock
    def now(self) -> float:
        return (time.time() - self.spec.t0) / self.spec.time_scale

    async def sleep_until(self, t: float) -> bool:
        """Sleep until scenario time ``t``; False if the run ends first."""
        delay = (self.spec.t0 + t * self.spec.time_scale) - time.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
        return not self.stopping.is_set()

    async def pause_until(self, t: float) -> None:
        """Sleep until scenario time ``t`` (a reader's pace: its task is cancelled when the run ends)."""
        delay = (self.spec.t0 + t * self.spec.time_scale) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    def room_ix(self, room: str) -> int:
        ix = self._room_ix.get(room)
        if ix is None:
            ix = self._room_ix[room] = len(self.rec.rooms)
            self.rec.rooms.append(room)
        return ix

    def epoch_ix(self, epoch: str) -> int:
        ix = self._epoch_ix.get(epoch)
        if ix is None:
            ix = self._epoch_ix[epoch] = len(self.rec.epochs)
            self.rec.epochs.append(epoch)
        return ix

    def event(self, cid: int, kind: str, detail: Any = None) -> None:
        self.rec.events.append((cid, time.time(), kind, detail))

    def token(self, cid: int) -> str:
        """Client ``cid``'s token: every right on its own rooms, nothing else."""
        return mint_token(self.secret, f"c{cid}", self.spec.token_ttl, rooms=room_grants(self.rooms_of[cid]))

    async def connect(self, cid: int, slow: bool) -> Any:
        """Open one WebSocket through the balancer; a slow consumer's receive buffer is fixed small first.

        Setting ``SO_RCVBUF`` before connecting turns off receive-buffer autotuning (up to 32 MiB on
        loopback here), so a client that stops reading makes the gateway see backpressure within a few
        KiB instead of absorbing megabytes.
        """
        from websockets.asyncio.client import connect

        token = self.token(cid)
        kwargs: dict[str, Any] = {}
        if slow:
            kwargs["sock"] = await self._small_socket()
        elif self.spec.source_host:
            kwargs["local_addr"] = (self.spec.source_host, 0)
        try:
            return await connect(
                f"{self.spec.url}?key=c{cid}&token={token}",
                proxy=None,
                compression=None,
                ping_interval=None,  # the gateway pings; clients only answer
                open_timeout=self.open_timeout,
                close_timeout=1.0,
                max_queue=SLOW_MAX_QUEUE if slow else 64,
                max_size=None,
                **kwargs,
            )
        except BaseException:
            if "sock" in kwargs:
                kwargs["sock"].close()
            raise

    async def _small_socket(self) -> socket.socket:
        host, _, port = self.spec.url.split("/")[2].rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
            if self.spec.source_host:
                sock.bind((self.spec.source_host, 0))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, (host, int(port))), self.open_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    async def client(self, plan: ClientPlan) -> None:
        """Connect at the planned time, then reconnect as the shared :class:`Reconnector` says."""
        cid, rec = plan.cid, self.rec
        state = Reconnection(self.spec.reconnect)
        offline = list(plan.offline)
        due = plan.connect_at  # when the next attempt is due (on the schedule's clock, when playing one)
        if not await self.sleep_until(due):
            return
        while not self.stopping.is_set():
            if self.spec.scheduled:
                if self.spec.last_attempt is not None and due > self.spec.last_attempt:
                    return  # the simulated run had ended: it starts no attempt either
            else:  # an offline episode that began while disconnected just delays the next attempt
                while offline and offline[0][0] + offline[0][1] <= self.now():
                    offline.pop(0)
                if offline and offline[0][0] <= self.now():
                    start, dur, _ = offline.pop(0)
                    if not await self.sleep_until(start + dur):
                        return
            if state.attempting():
                rec.counters["reconnect_attempts"] += 1
            self.event(cid, "attempt")
            started = self.now()
            try:
                ws = await self.connect(cid, plan.slow)
            except Exception as exc:
                outcome, told = self.failure(cid, exc)
                wait = state.retry(outcome, self.rng, told, elapsed=self.now() - started)
            else:
                self.event(cid, "open", ws.response.headers.get(protocol.GATEWAY_HEADER))
                rec.counters["handshakes"] += 1
                resume = state.established(plan.rooms)
                if resume:
                    rec.counters["resume_attempts"] += 1
                if await self.session(plan, ws, state, resume, offline) == "stop":
                    return
                wait = state.retry(CLOSED, self.rng)  # closed, cut, or back from an offline episode
            if wait is None:
                self.event(cid, "give_up")
                return
            # back from an episode, the schedule's clock is its end: a late start must not push the
            # reconnect past the end of the simulated run
            due = self.back.pop(cid, self.now()) + wait
            if not await self.sleep_until(due):
                return

    def failure(self, cid: int, exc: Exception) -> tuple[int, float | None]:
        """Record a failed connect; its reconnect outcome and the Retry-After of a 503 (scenario s)."""
        response = getattr(exc, "response", None)
        if response is None:
            self.event(cid, "fail", type(exc).__name__)
            return (TIMEOUT if isinstance(exc, TimeoutError) else REFUSED), None
        self.event(cid, "reject", response.status_code)
        if response.status_code != 503:
            return REFUSED, None
        told = retry_after(response.headers)
        return UNAVAILABLE, None if told is None else told / self.spec.time_scale

    async def offline_due(self, start: float, state: Reconnection, rooms: list[str]) -> bool:
        """Sleep until an offline episode starts; played from a schedule, not before the client holds a
        cursor for each of its rooms (the simulated client had joined them when its episode began, so
        its return is a resume). False if the run ends first."""
        if not await self.sleep_until(start):
            return False
        deadline = time.monotonic() + 5.0  # a reply this late means a gateway in trouble: go anyway
        while (
            self.spec.scheduled and any(r not in state.cursors for r in rooms) and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)  # the subscribed reply is a round trip away
        return True

    async def session(
        self,
        plan: ClientPlan,
        ws: Any,
        state: Reconnection,
        resume: dict[str, tuple[str, int]],
        offline: list[tuple[float, float, bool]],
    ) -> str:
        """One open connection; returns why it ended: ``stop``, ``offline`` or ``closed``."""
        rec, cid = self.rec, plan.cid
        self.sockets[cid] = ws
        rooms = plan.rooms
        reader = asyncio.ensure_future(self.read(plan, ws, state, set(resume)))
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            if rooms:
                await ws.send(protocol.encode(protocol.subscribe(rooms, resume)))
            next_off = offline[0] if offline else None
            waits: set[asyncio.Future[Any]] = {reader, stopper}
            timer = None
            if next_off is not None:
                timer = asyncio.ensure_future(self.offline_due(next_off[0], state, rooms))
                waits.add(timer)
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if timer is not None:
                timer.cancel()
            if stopper in done:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)
                return "stop"
            if reader in done:
                code = None if ws.close_code is None else int(ws.close_code)
                self.event(cid, "close", code)
                if code == protocol.CLOSE_POLICY:
                    rec.counters["slow_consumer_disconnects_seen"] += 1
                return "closed"
            # offline episode starts now
            start, dur, half_open = offline.pop(0)
            self.event(cid, "offline", dur)
            if half_open:
                rec.counters["half_open"] += 1
                ws.transport.pause_reading()  # vanish: no FIN, no pong, nothing read
                reader.cancel()
                await self.sleep_until(start + dur)
                ws.transport.abort()
            else:
                reader.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)
                await self.sleep_until(start + dur)
            self.event(cid, "close", "offline")
            if self.spec.scheduled:
                self.back[cid] = start + dur
            return "offline" if not self.stopping.is_set() else "stop"
        except Exception as exc:  # connection died while sending the subscription
            self.event(cid, "close", type(exc).__name__)
            return "closed"
        finally:
            self.sockets.pop(cid, None)
            reader.cancel()
            stopper.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def read(self, plan: ClientPlan, ws: Any, state: Reconnection, resuming: set[str]) -> None:
        """Receive until the connection closes, recording every frame.

        A client with a reader (slow consumers, or every client with ``clients.drain_rate``) takes a
        read time per message, drawn from the shared :class:`Reader` the simulator drains by (same
        distribution, same stalls: it does not touch the socket while stalled), and handles the
        message when its read is done.
        """
        reader = self.spec.slow_reader if plan.slow else self.spec.reader
        phase = plan.stall_phase
        inbox = _Inbox(resuming)
        loads = json.loads
        with contextlib.suppress(Exception):
            while True:
                if reader is not None:
                    await self.pause_until(reader.awake(phase, self.now()))
                f = loads(await ws.recv())
                op = f.get("op")
                if op != "msg":
                    self.on_control(plan.cid, state, inbox, op, f)
                    continue
                if reader is not None:
                    await self.pause_until(
                        reader.finish(phase, self.now(), reader.work(self.rng) / reader.rate)
                    )
                await self.on_msg(plan.cid, ws, state, inbox, f)

    async def on_msg(self, cid: int, ws: Any, state: Reconnection, inbox: _Inbox, f: dict[str, Any]) -> None:
        """A room message read now: record it, move the cursor, resume a gap in the offsets."""
        rec = self.rec
        room, epoch, offset = f["room"], f["epoch"], f["offset"]
        have = inbox.held.get(room)
        if have is not None and have[0] == epoch:
            if offset in have[1]:  # a re-send of a message already held: dropped, counted
                rec.counters["redelivered"] += 1
                inbox.resent[room] = inbox.resent.get(room, 0) + 1
                return
            have[1].add(offset)
        try:
            mid = int(f["id"])
        except ValueError:
            mid = -1
        rec.r_cid.append(cid)
        rec.r_mid.append(mid)
        rec.r_room.append(self.room_ix(room))
        rec.r_off.append(offset)
        rec.r_epoch.append(self.epoch_ix(epoch))
        rec.r_t.append(time.time())
        rec.r_ts.append(float(f["ts"]))
        prev = inbox.last_seen.get((room, epoch))
        if prev is not None and offset > prev + 1 and room not in inbox.gap_pending:
            # an offset gap on a live stream: resume from the last contiguous offset
            rec.counters["client_gaps"] += 1
            inbox.gap_pending.add(room)
            inbox.held[room] = (epoch, {offset})
            cursor = {room: (epoch, prev)} if state.policy.resume else None
            await ws.send(protocol.encode(protocol.subscribe([room], cursor)))
        if prev is None or offset > prev:
            inbox.last_seen[(room, epoch)] = offset
        state.saw(room, epoch, offset)

    def on_control(self, cid: int, state: Reconnection, inbox: _Inbox, op: str, f: dict[str, Any]) -> None:
        """``subscribed``, ``resumed``/``resync`` (a resume is a hit when every room it named was
        replayed, a miss when any resynced: counted once per reconnect), ``gap``, ``error``."""
        rec = self.rec
        if op == "subscribed":
            t, room = time.time(), f["room"]
            rec.subscribed.setdefault((cid, self.room_ix(room)), (t, self.epoch_ix(f["epoch"]), f["offset"]))
            rec.events.append((cid, t, "sub", room))
            state.joined(room, f["epoch"], f["offset"])
        elif op == "resumed" or op == "resync":
            room = f["room"]
            inbox.gap_pending.discard(room)
            inbox.held.pop(room, None)
            dup = inbox.resent.pop(room, 0)
            if op == "resync":
                inbox.missed = True
                rec.counters["resyncs"] += 1
                self.spawn(self.fetch_snapshot(f["snapshot"], cid))
            else:
                rec.counters["replayed"] += f.get("replayed", 0) - dup  # missed ones only
            if room in inbox.resuming:
                inbox.resuming.discard(room)
                if not inbox.resuming:
                    rec.counters["replay_misses" if inbox.missed else "replay_hits"] += 1
        elif op == "gap":
            rec.counters["gap_notices"] += 1
            rec.counters["gap_dropped"] += f.get("dropped", 0)
            rec.counters["resyncs"] += 1
            self.spawn(self.fetch_snapshot(protocol.snapshot_path(f["room"]), cid))
        elif op == "error":
            rec.counters["errors"] += 1

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fetch_snapshot(self, path: str, cid: int) -> None:
        """A resync: GET the room's snapshot over plain HTTP through the balancer (with client ``cid``'s
        token); bytes and time."""
        host, _, port = self.spec.url.split("/")[2].rpartition(":")
        start = time.monotonic()
        auth = f"Authorization: Bearer {self.token(cid)}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            body = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        except (OSError, TimeoutError):
            self.rec.counters["snapshot_errors"] += 1
            return
        self.rec.counters["snapshot_bytes"] += len(body)
        self.rec.counters["snapshot_seconds"] += (time.monotonic() - start) / self.spec.time_scale

    # ------------------------------------------------------------------------------ publishing
    async def publisher(self, plan: PublishPlan) -> None:
        """Publish the plan's messages: a schedule's as given, else drawn (only connected clients publish,
        as in the simulator)."""
        clients = [c for c in self.spec.clients if c.rooms]
        if plan.scheduled is not None:
            source: Iterator[tuple[float, int, str]] = iter(plan.scheduled)
        elif clients and plan.rate > 0:
            rng = generator(self.spec.seed, self.spec.replication, Stream.PUBLISHES, self.spec.index)
            source = drawn_publishes(plan, clients, rng, self.now())
        else:
            return
        bp = None
        if plan.via == "backplane":
            from reference_impl.system.backplanes import make_backplane

            bp = make_backplane(**(plan.backplane or {}))
            await bp.start()
        body = "x" * max(0, plan.size - 120)
        try:
            for t, cid, room in source:
                if not await self.sleep_until(t):
                    return
                if plan.scheduled is None and cid not in self.sockets:
                    self.rec.counters["publish_skipped_offline"] += 1
                    continue
                await self.publish(bp, cid, room, body)
        finally:
            if bp is not None:
                with contextlib.suppress(Exception):
                    await bp.close()

    async def publish(self, bp: Any, cid: int, room: str, body: str) -> None:
        """One publication on behalf of client ``cid``: to the backplane (which numbers it), or through
        the client's socket; logged with its id, room, time, epoch and offset."""
        rec = self.rec
        self.published += 1
        mid = self.spec.index * 1_000_000_000 + self.published
        ts = time.time()
        try:
            if bp is not None:
                epoch, offset = await bp.publish(
                    room, protocol.encode({"id": str(mid), "ts": ts, "body": body})
                )
                eix = self.epoch_ix(epoch)
            else:
                await self.sockets[cid].send(protocol.encode(protocol.publish(room, str(mid), ts, body)))
                eix, offset = -1, -1
        except Exception:
            rec.counters["publish_errors"] += 1
            return
        rec.p_mid.append(mid)
        rec.p_room.append(self.room_ix(room))
        rec.p_ts.append(ts)
        rec.p_epoch.append(eix)
        rec.p_off.append(offset)

    async def run(self) -> WorkerRecord:
        spec = self.spec
        for c in spec.clients:
            for r in c.rooms:
                self.room_ix(r)
        tasks = [asyncio.ensure_future(self.client(c)) for c in spec.clients]
        if spec.publish is not None:
            tasks.append(asyncio.ensure_future(self.publisher(spec.publish)))
        await self.sleep_until(spec.end)
        self.stopping.set()
        done, pending = await asyncio.wait(tasks, timeout=max(3.0, 2 * self.open_timeout))
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in done:
            if not t.cancelled() and t.exception() is not None and not self.rec.error:
                self.rec.error = repr(t.exception())
        return self.rec


def run_worker(spec: WorkerSpec, secret: str) -> WorkerRecord:
    """Run one worker's clients in this process (blocking); ``secret`` signs their tokens."""
    return asyncio.run(_Worker(spec, secret).run())


def wait_for_start(out: str, timeout: float = 60.0) -> float:
    """Say ``OUT.ready``, then wait for the parent's ``OUT.go`` holding scenario time 0 (wall clock).

    The parent fixes time 0 only once every worker has imported and planned, so no client's connect
    time is already in the past when the clock starts (that would turn the ramp into a burst).
    """
    Path(out + ".ready").touch()
    go = Path(out + ".go")
    deadline = time.monotonic() + timeout
    while not go.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the harness never started the run")
        time.sleep(0.005)
    return float(go.read_text())


def release_workers(procs: list[tuple[Any, str, int]], margin: float, timeout: float = 60.0) -> float:
    """Wait until every worker is ready, then start them all at ``now + margin``; returns that time."""
    deadline = time.monotonic() + timeout
    for p, out, index in procs:
        while not os.path.exists(out + ".ready"):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"load generator {index} did not start (exit {p.poll()})")
            time.sleep(0.01)
    t0 = time.time() + margin
    for _, out, _ in procs:
        tmp = out + ".go.tmp"
        Path(tmp).write_text(repr(t0))
        os.replace(tmp, out + ".go")
    return t0


def worker_main(spec: WorkerSpec, out: str) -> None:
    """Process entry point: run the worker, pickle its record to ``out``.

    ``spec.t0 <= 0`` means: wait for the parent's start signal (:func:`wait_for_start`). The token
    secret comes from ``WSSIM_TOKEN_SECRET`` (never from the spec file on disk).
    """
    try:
        secret = os.environ.get(SECRET_ENV)
        if not secret:
            raise RuntimeError(f"{SECRET_ENV} is not set: the load generator cannot sign its tokens")
        if spec.t0 <= 0:
            spec.t0 = wait_for_start(out)
        rec = run_worker(spec, secret)
    except BaseException as exc:  # still report what went wrong
        rec = WorkerRecord(spec.index, error=repr(exc))
    rec.counters = dict(rec.counters)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(rec, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)


def start_workers(specs: list[WorkerSpec], workdir: str | Path, secret: str) -> list[tuple[Any, str, int]]:
    """Start one ``python -m reference_impl.driver.loadgen`` process per spec (own session).

    Each worker starts with no inherited state; ``secret`` (the token key) reaches it through its
    environment. Returns ``(Popen, record path, index)`` per worker.
    """
    workdir = Path(workdir)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env[SECRET_ENV] = secret
    procs = []
    try:
        for spec in specs:
            if len(spec.clients) > MAX_CLIENTS_PER_PROCESS:
                raise ValueError(
                    f"worker {spec.index} has {len(spec.clients)} clients; "
                    f"the limit is {MAX_CLIENTS_PER_PROCESS}"
                )
            spec_path = workdir / f"loadgen-{spec.index}.spec"
            spec_path.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
            out = str(workdir / f"loadgen-{spec.index}.pkl")
            log = open(workdir / f"loadgen-{spec.index}.log", "wb")  # noqa: SIM115
            p = subprocess.Popen(
                [sys.executable, "-m", "reference_impl.driver.loadgen", str(spec_path), out],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
            log.close()
            procs.append((p, out, spec.index))
    except BaseException:
        for p, _, _ in procs:
            p.kill()
        raise
    return procs


def collect_workers(procs: list[tuple[Any, str, int]], timeout: float) -> list[WorkerRecord]:
    """Wait up to ``timeout`` wall seconds for the workers, kill stragglers, load their records."""
    deadline = time.monotonic() + timeout
    records = []
    try:
        for p, out, index in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, deadline - time.monotonic()))
            if p.poll() is None:
                p.kill()
                p.wait(5)
            if os.path.exists(out):
                with open(out, "rb") as f:
                    records.append(pickle.load(f))
            else:
                records.append(
                    WorkerRecord(index, error=f"worker {index} left no record (exit {p.returncode})")
                )
    finally:
        for p, _, _ in procs:
            if p.poll() is None:
                p.kill()
    return records


def run_workers(
    specs: list[WorkerSpec], workdir: str | Path, timeout: float, secret: str
) -> list[WorkerRecord]:
    """Run each spec in its own process; wait up to ``timeout`` wall seconds; kill stragglers."""
    return collect_workers(start_workers(specs, workdir, secret), timeout)


def main(argv: list[str] | None = None) -> None:
    """``python -m reference_impl.driver.loadgen SPEC.pkl OUT.pkl``: run one pickled :class:`WorkerSpec`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m reference_impl.driver.loadgen SPEC.pkl OUT.pkl")
    # run the importable module's function, so the record pickles as
    # reference_impl.driver.loadgen.WorkerRecord
    import websockets.asyncio.client  # noqa: F401 (imported before saying ready)

    from reference_impl.driver import loadgen

    with open(args[0], "rb") as f:
        spec = pickle.load(f)
    loadgen.worker_main(spec, args[1])


if __name__ == "__main__":
    main()
