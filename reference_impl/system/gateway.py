"""The reference WebSocket gateway: authenticate, hold sockets, fan backplane messages out to them.

One asyncio process on ``websockets`` (new asyncio API). Per connection it keeps a tiny
:class:`Client` record; a healthy connection is written to directly (no task, no queue), and only a
connection whose transport is backed up (above ``write_limit``) gets a :class:`wssim.policies.SendQueue`
and a writer task, both created lazily and dropped once the queue is empty. The overflow decision is the
shared policy's (``SendQueue.offer``); keepalive numbers come from :class:`wssim.policies.Keepalive`.

Run: ``python -m reference_impl.system.gateway --port 8765 --backplane redis_streams --config scenario.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import signal
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from reference_impl.system import protocol
from reference_impl.system.auth import AuthError, extract_token, verify_token
from reference_impl.system.backplanes import Backplane, BackplaneError, Delivery, make_backplane
from reference_impl.system.event_log import ACCEPT, CLOSE, SLOW_DISCONNECT, EventLog
from reference_impl.system.gateway_metrics import GatewayMetrics
from wssim.policies import Keepalive, Message, SendQueue, TokenBucket, resume_decision

log = logging.getLogger("reference_impl.system.gateway")
OPEN = State.OPEN
_dumps = json.dumps


@dataclass
class GatewaySettings:
    """Everything a gateway process needs; :meth:`from_config` maps a scenario's fields onto it."""

    host: str = "127.0.0.1"
    port: int = 0
    gateway_id: str = "gw0"
    secret: str = "wssim-dev-secret"
    max_message_size: int = 64 * 1024
    ping_interval: float | None = 25.0
    ping_timeout: float | None = None  # None = Keepalive default (2 x ping_interval without a pong)
    max_connections: int | None = None
    handshake_rate: float | None = None  # per second
    handshake_burst: float | None = None  # token bucket size; None = max(1, handshake_rate)
    retry_after: float = 5.0
    queue_policy: str = "drop_oldest"
    queue_limit: int | None = 1000
    queue_limit_bytes: int | None = None
    credit: int = 64
    gap_notice: bool = True
    max_per_resume: int | None = 10000
    write_limit: int = 32 * 1024  # transport high-water mark: beyond it, messages go to the SendQueue
    drain_timeout: float = 30.0
    close_timeout: float = 2.0
    sample_interval: float = 1.0  # send-queue depth sampling period
    event_log: str | None = None  # a file to append connection events to (see event_log.py)
    # kernel accept queue: asyncio's default of 100 overflows when a herd arrives at once, and each SYN
    # dropped costs its client TCP's 1 s retransmission (the kernel caps it at net.core.somaxconn)
    listen_backlog: int = 4096

    def keepalive(self) -> tuple[float | None, float | None]:
        """websockets' ``(ping_interval, ping_timeout)`` from the shared Keepalive policy."""
        ka = Keepalive(self.ping_interval, self.ping_timeout)
        if ka.ping_interval is None:
            return None, None
        dead, ping = ka.dead_at(0.0), ka.next_ping(0.0)
        assert dead is not None and ping is not None
        return ka.ping_interval, (dead - ping) if dead > ping else dead

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> GatewaySettings:
        """Settings from a :class:`wssim.config.Config` (gateways.*, backplane.replay, live.*)."""
        gw, live = config.gateways, config.live
        sq, adm = gw.send_queue, gw.admission
        values: dict[str, Any] = dict(
            host=live.host,
            secret=live.secret,
            max_message_size=int(live.max_message_size),
            ping_interval=gw.keepalive.ping_interval,
            ping_timeout=gw.keepalive.timeout,
            max_connections=adm.max_connections,
            handshake_rate=adm.handshake_rate,
            handshake_burst=adm.effective_burst(),
            retry_after=adm.retry_after,
            queue_policy=sq.overflow,
            queue_limit=sq.limit,
            queue_limit_bytes=sq.limit_bytes,
            credit=sq.credit,
            gap_notice=sq.gap_notice,
            max_per_resume=config.backplane.replay.max_per_resume,
            drain_timeout=gw.drain_timeout,
        )
        values.update(overrides)
        return cls(**values)


class Client:
    """Per-connection state, kept small: idle connections are most of the fleet."""

    __slots__ = ("gaps", "queue", "resuming", "rooms", "stalled", "subject", "writer", "ws")

    def __init__(self, ws: ServerConnection, subject: str) -> None:
        self.ws = ws
        self.subject = subject
        self.rooms: set[str] = set()
        self.queue: SendQueue | None = None  # created on first backpressure
        self.writer: asyncio.Task[None] | None = None
        self.gaps: dict[str, int] | None = None  # room -> drops not yet announced
        # joining rooms: a list of live (offset, frame) held until subscribed/replay is out, then
        # (epoch, last offset sent): a floor, late frames at or below it are repeats, until a newer one
        self.resuming: dict[str, list[tuple[int, bytes]] | tuple[str, int]] | None = None
        self.stalled: deque[Message] | None = None  # block policy: waiting for room in the queue


def msg_frame(d: Delivery) -> bytes:
    """The ``msg`` frame of a delivery, built once per backplane message (payload is a JSON object)."""
    head = f'{{"op":"msg","room":{_dumps(d.room)},"offset":{d.offset},"epoch":{_dumps(d.epoch)}'
    body = d.payload[1:]
    return (head + ("," + body if body != "}" else "}")).encode()


class Gateway:
    """A gateway bound to one backplane; :meth:`start`, then :meth:`drain` or :meth:`stop`."""

    def __init__(self, settings: GatewaySettings, backplane: Backplane) -> None:
        self.settings = settings
        self.backplane = backplane
        self.metrics = GatewayMetrics(settings.gateway_id)
        self.events = EventLog(settings.event_log)
        self.clients: set[Client] = set()
        self.rooms: dict[str, set[Client]] = {}
        self.server: Server | None = None
        self.port = settings.port
        self.draining = False
        # handshakes accepted by process_request whose handler has not started (weak: a failed
        # handshake never reaches the handler, and must not hold a slot)
        self._pending: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self.backplane_cut = False
        rate = settings.handshake_rate
        self._bucket = (
            TokenBucket(rate, settings.handshake_burst, time.monotonic()) if rate is not None else None
        )
        self._conflate = settings.queue_policy == "conflate"
        self._credit = settings.queue_policy == "credit"
        self._block = settings.queue_policy == "block"
        self._sampler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._publish_seq = 0
        self._joining: dict[str, asyncio.Future[None]] = {}  # room -> its backplane subscription in flight

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.backplane.start()
        ping_interval, ping_timeout = self.settings.keepalive()
        self.server = await serve(
            self._handler,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            compression=None,
            max_size=self.settings.max_message_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            write_limit=self.settings.write_limit,
            close_timeout=self.settings.close_timeout,
            max_queue=16,
            backlog=self.settings.listen_backlog,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self._sampler = asyncio.get_running_loop().create_task(self._sample())

    async def drain(self, timeout: float | None = None) -> None:
        """Refuse new upgrades (503), close every connection with 1001, then stop."""
        self.draining = True
        timeout = self.settings.drain_timeout if timeout is None else timeout
        closes = [c.ws.close(protocol.CLOSE_GOING_AWAY, "draining") for c in list(self.clients)]
        if closes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), timeout)
        await self.stop()

    async def stop(self) -> None:
        self.draining = True
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        if self.server is not None:
            self.server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), self.settings.close_timeout + 1)
            self.server = None
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self.backplane.close(), 5.0)
        except (TimeoutError, Exception):
            log.warning("backplane %s did not close cleanly", self.backplane.kind)

    async def cut_backplane(self) -> None:
        """Drop the backplane connection and every subscription (SIGUSR1: a subscription outage)."""
        self.backplane_cut = True
        with contextlib.suppress(Exception):
            await self.backplane.close()

    async def restore_backplane(self) -> None:
        """Reconnect and re-subscribe every room with local members (SIGUSR2: the outage ends)."""
        with contextlib.suppress(Exception):
            await self.backplane.start()
            for room in list(self.rooms):
                await self.backplane.subscribe(room, self._on_delivery)
        self.backplane_cut = False

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sample(self) -> None:
        m = self.metrics
        while True:
            await asyncio.sleep(self.settings.sample_interval)
            queued = 0
            for c in self.clients:
                q = c.queue
                depth = q.depth if q is not None else 0
                queued += depth
                m.observe_depth(depth)
            m.queued_messages = queued
            m.snapshot()  # tracks the memory peak

    # ---- HTTP side: auth, admission, metrics, snapshots -------------------------------------
    def _reply(
        self, conn: ServerConnection, status: HTTPStatus, body: str, content_type: str | None = None
    ) -> Response:
        response = conn.respond(status, body)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == protocol.METRICS_PATH:
            return self._reply(
                conn, HTTPStatus.OK, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
            )
        if path == protocol.HEALTH_PATH:
            if self.draining:
                return self._reply(conn, HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            return self._reply(conn, HTTPStatus.OK, "ok\n")
        if path.startswith(protocol.SNAPSHOT_PREFIX):
            return await self._snapshot(conn, path[len(protocol.SNAPSHOT_PREFIX) :])
        if path != protocol.WS_PATH:
            return self._reply(conn, HTTPStatus.NOT_FOUND, f"no such path {path}; WebSocket is at /ws\n")
        try:
            subject = verify_token(self.settings.secret, extract_token(request.path, request.headers))
        except AuthError as exc:
            self.metrics.rejected_unauthorized += 1
            response = self._reply(conn, HTTPStatus.UNAUTHORIZED, f"{exc.reason}: {exc}\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="wssim"'
            return response
        s = self.settings
        full = s.max_connections is not None and len(self.clients) + len(self._pending) >= s.max_connections
        if self.draining or full:
            self.metrics.rejected_capacity += 1
            return self._unavailable(conn, "draining" if self.draining else "at max_connections")
        if self._bucket is not None and not self._bucket.take(time.monotonic()):
            self.metrics.rejected_rate += 1
            return self._unavailable(conn, "handshake rate limit")
        conn.subject = subject  # type: ignore[attr-defined]
        self._pending.add(conn)
        return None

    def _unavailable(self, conn: ServerConnection, why: str) -> Response:
        """503 with ``Retry-After`` in whole seconds (rounded up, as HTTP requires) and the exact wait
        in ``Retry-After-Ms``, which clients that know it prefer (a sub-second wait survives)."""
        response = self._reply(conn, HTTPStatus.SERVICE_UNAVAILABLE, f"over capacity: {why}\n")
        wait = self.settings.retry_after
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        response.headers["Retry-After-Ms"] = str(round(wait * 1000))
        return response

    async def _snapshot(self, conn: ServerConnection, room: str) -> Response:
        try:
            epoch, offset = await self.backplane.head(room)
            state = None
            if offset and self.backplane.durable:
                last = await self.backplane.history(room, offset - 1, 1)
                state = json.loads(last[0].payload) if last else None
        except Exception as exc:  # backplane down or bad room name
            return self._reply(conn, HTTPStatus.SERVICE_UNAVAILABLE, f"snapshot unavailable: {exc}\n")
        body = json.dumps({"room": room, "epoch": epoch, "offset": offset, "state": state})
        return self._reply(conn, HTTPStatus.OK, body, "application/json")

    # ---- WebSocket side ---------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        self._pending.discard(ws)
        client = Client(ws, getattr(ws, "subject", ""))
        self.clients.add(client)
        self.events.log(ACCEPT)
        m = self.metrics
        m.handshakes += 1
        m.connected(1)
        try:
            async for data in ws:
                try:
                    frame = protocol.decode(data, allowed=protocol.CLIENT_OPS)
                except protocol.ProtocolError as exc:
                    m.protocol_errors += 1
                    await ws.send(protocol.encode(protocol.error(str(exc))))
                    continue
                op = frame["op"]
                if op == "publish":
                    await self._publish(client, frame)
                elif op == "subscribe":
                    await self._subscribe(client, frame["rooms"], frame.get("resume") or {})
                elif op == "unsubscribe":
                    await self._leave(client, frame["rooms"])
                elif op == "ack":
                    self._ack(client, frame["n"])
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            self.events.log(CLOSE)
            m.connected(-1)
            await self._leave(client, list(client.rooms))
            if client.queue is not None:
                m.queued_messages -= client.queue.depth
                client.queue.close()
            if client.writer is not None:
                client.writer.cancel()

    async def _publish(self, client: Client, frame: dict[str, Any]) -> None:
        self._publish_seq += 1
        payload: dict[str, Any] = {
            "id": frame.get("id") or f"{client.subject}-{self.settings.gateway_id}-{self._publish_seq}",
            "ts": frame.get("ts") if frame.get("ts") is not None else time.time(),
            "body": frame["body"],
        }
        if frame.get("key") is not None:
            payload["key"] = str(frame["key"])
        try:
            await self.backplane.publish(frame["room"], protocol.encode(payload))
        except Exception as exc:
            await client.ws.send(protocol.encode(protocol.error(f"publish failed: {exc}")))
            return
        self.metrics.messages_published += 1

    async def _subscribe(self, client: Client, rooms: list[str], resume: dict[str, Any]) -> None:
        """Join rooms: ``subscribed`` first, then (resume) the replay or ``resync``, then live frames.

        Live frames of a joining room are held until its ``subscribed`` (and replay) is out, so the
        client sees them in offset order after the head it was told.
        """
        for room in rooms:
            if client.resuming is None:
                client.resuming = {}
            client.resuming[room] = []
            try:
                epoch, head = await self._join(client, room)
            except Exception as exc:
                self._release(client, room)
                await client.ws.send(protocol.encode(protocol.error(f"subscribe {room}: {exc}")))
                continue
            await client.ws.send(protocol.encode(protocol.subscribed(room, epoch, head)))
            cursor = resume.get(room)
            if cursor is not None:
                await self._resume(client, room, cursor, epoch, head)
            else:
                self._flush_held(client, room, epoch, head)

    async def _join(self, client: Client, room: str) -> tuple[str, int]:
        """Register the client in the room (subscribing the gateway on first use); the room's head."""
        if room not in client.rooms:
            client.rooms.add(room)
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = set()
                members.add(client)
                # later joiners wait for this subscription: a head read before it is in place
                # could promise them messages the backplane cursor then skips
                joined = self._joining[room] = asyncio.get_running_loop().create_future()
                ok = False
                try:
                    await self.backplane.subscribe(room, self._on_delivery)
                    ok = True
                finally:
                    if self._joining.get(room) is joined:
                        del self._joining[room]
                    if not ok and self.rooms.get(room) is members:
                        del self.rooms[room]  # no subscription: every joiner of it fails, none stays
                        for c in members:
                            c.rooms.discard(room)
                    joined.set_result(ok)
            else:
                members.add(client)
                pending = self._joining.get(room)
                # shielded: a waiter cancelled (its connection gone) must not cancel the others' wait
                if pending is not None and not await asyncio.shield(pending):
                    raise BackplaneError(f"the backplane subscription of {room} failed")
        return await self.backplane.head(room)

    def _release(self, client: Client, room: str) -> list[tuple[int, bytes]]:
        """Stop holding the room's live frames; return what was held."""
        held = client.resuming.pop(room, []) if client.resuming else []
        if client.resuming is not None and not client.resuming:
            client.resuming = None
        return held if isinstance(held, list) else []

    def _flush_held(self, client: Client, room: str, epoch: str, last: int) -> None:
        """Send the live frames held while joining, minus those at or before offset ``last``; then
        keep ``last`` as a floor, since the backplane may still hand over frames read before the head.
        Offsets per publisher (``ordered`` false) cannot be compared: everything held is sent."""
        ordered = self.backplane.ordered
        for offset, data in self._release(client, room):
            if not ordered or offset > last:
                self._send(client, room, offset, data, None)
                last = max(last, offset)
        if ordered and room in client.rooms:
            if client.resuming is None:
                client.resuming = {}
            client.resuming[room] = (epoch, last)

    async def _resume(self, client: Client, room: str, cursor: dict[str, Any], epoch: str, head: int) -> None:
        """All or nothing: every message after the cursor from the backplane's history, or resync."""
        m = self.metrics
        m.resume_attempts += 1
        items = await self._replay_items(room, cursor["epoch"], cursor["offset"], epoch, head)
        ws = client.ws
        if items is None:
            m.replay_misses += 1
            m.resyncs += 1
            await ws.send(protocol.encode(protocol.resync(room)))
            last = head  # the snapshot covers up to the head
        else:
            m.replay_hits += 1
            m.messages_replayed += len(items)
            for d in items:
                await ws.send(msg_frame(d), text=True)
            await ws.send(protocol.encode(protocol.resumed(room, len(items))))
            last = items[-1].offset if items else cursor["offset"]
        self._flush_held(client, room, epoch, last)  # live frames that arrived meanwhile, minus the overlap

    async def _replay_items(
        self, room: str, c_epoch: str, c_offset: int, epoch: str, head: int
    ) -> list[Delivery] | None:
        """The messages after the cursor, or None (resync): the shared :func:`resume_decision`, asked
        first without the window (nothing fetched for a cursor that resyncs anyway), then with what the
        backplane's history still holds."""
        if not self.backplane.ordered:
            return None  # offsets are per publisher: no cursor can be checked
        cursor_epoch = c_epoch or None  # "" = the client does not know the epoch yet
        lost_upto = None if self.backplane.durable else head  # a non-durable backplane keeps nothing
        limit = self.settings.max_per_resume
        if resume_decision(cursor_epoch, c_offset, epoch, head, lost_upto, limit):
            return None
        missed = head - c_offset
        if missed == 0:
            return []
        try:
            items = await self.backplane.history(room, c_offset, missed)
        except Exception:
            log.exception("history of %s failed", room)
            return None
        lost_upto = items[0].offset - 1 if len(items) == missed else head  # the window, as fetched
        if resume_decision(cursor_epoch, c_offset, epoch, head, lost_upto, limit):
            return None  # part of the gap fell out of the retention window
        return items

    async def _leave(self, client: Client, rooms: Iterable[str]) -> None:
        for room in list(rooms):
            client.rooms.discard(room)
            if client.resuming is not None:
                client.resuming.pop(room, None)
                if not client.resuming:
                    client.resuming = None
            members = self.rooms.get(room)
            if members is None:
                continue
            members.discard(client)
            if not members:
                del self.rooms[room]
                with contextlib.suppress(Exception):
                    await self.backplane.unsubscribe(room)

    # ---- fan-out ------------------------------------------------------------------------------
    def _on_delivery(self, d: Delivery) -> None:
        """Backplane callback: one frame built, written to every local member of the room."""
        m = self.metrics
        m.backplane_deliveries += 1
        members = self.rooms.get(d.room)
        if not members:
            m.backplane_deliveries_discarded += 1
            return
        data = msg_frame(d)
        key = None
        if self._conflate:
            k = json.loads(d.payload).get("key")
            key = None if k is None else (d.room, k)
        room, offset = d.room, d.offset
        direct = not (self._credit or self._block)
        delivered = 0
        for c in members:
            if c.resuming is not None:
                held = c.resuming.get(room)
                if held is not None:
                    if held.__class__ is list:
                        held.append((offset, data))  # type: ignore[union-attr]
                        continue
                    if offset <= held[1] and d.epoch == held[0]:  # type: ignore[index]
                        continue  # read before the head this client was given: a repeat
                    del c.resuming[room]
                    if not c.resuming:
                        c.resuming = None
            ws = c.ws
            if direct and c.writer is None and not ws.paused:
                # fast path, as websockets.broadcast(): no task, no await, no queue
                if ws.protocol.state is OPEN:
                    try:
                        ws.protocol.send_text(data)
                        ws.send_data()
                        delivered += 1
                    except Exception:
                        continue
                continue
            self._send(c, room, offset, data, key)
        m.deliveries_delivered += delivered

    def _send(self, c: Client, room: str, offset: int, data: bytes, key: Any) -> None:
        """Queue path: the shared SendQueue decides (accept, drop, conflate, disconnect, block)."""
        ws = c.ws
        if c.writer is None and not ws.paused and not (self._credit or self._block) and c.queue is None:
            if ws.protocol.state is OPEN:
                ws.protocol.send_text(data)
                ws.send_data()
                self.metrics.deliveries_delivered += 1
            return
        s, m = self.settings, self.metrics
        q = c.queue
        if q is not None and q.closed:
            return  # disconnected by the policy, closing
        if q is None:
            q = c.queue = SendQueue(
                s.queue_policy, s.queue_limit, s.queue_limit_bytes, s.credit, s.gap_notice
            )
        msg = Message(offset, len(data), key, (room, data))
        if c.stalled:
            c.stalled.append(msg)
            return
        before = q.depth
        res = q.offer(msg)
        if res.blocked:
            c.stalled = deque((msg,))
        else:
            if res.dropped:
                m.messages_dropped_overflow += len(res.dropped)
                if s.gap_notice:
                    gaps = c.gaps if c.gaps is not None else {}
                    c.gaps = gaps
                    for old in res.dropped:
                        r = old.payload[0]
                        gaps[r] = gaps.get(r, 0) + 1
            m.messages_conflated += res.conflated
            if res.disconnect:
                self._disconnect_slow(c)
                return
        m.queued_messages += q.depth - before
        if q.depth > m.send_queue_depth_max:
            m.send_queue_depth_max = q.depth
        if c.writer is None and q.can_send:
            c.writer = asyncio.get_running_loop().create_task(self._write(c))

    def _ack(self, c: Client, n: int) -> None:
        if c.queue is None:
            return
        c.queue.ack(n)
        if c.writer is None and c.queue.can_send:
            c.writer = asyncio.get_running_loop().create_task(self._write(c))

    def _disconnect_slow(self, c: Client) -> None:
        """Disconnect policy: free the queue now, close 1008 so the client resumes from its cursor."""
        self.metrics.slow_consumer_disconnects += 1
        self.events.log(SLOW_DISCONNECT)
        if c.queue is not None:
            self.metrics.queued_messages -= c.queue.depth
            c.queue.close()
        if c.writer is not None:
            c.writer.cancel()
            c.writer = None
        # not now: we may be inside _on_delivery's loop over this room's members
        asyncio.get_running_loop().call_soon(self.rooms_discard, c)
        self._spawn(self._close_slow(c))

    def rooms_discard(self, c: Client) -> None:
        for room in c.rooms:
            members = self.rooms.get(room)
            if members is not None:
                members.discard(c)

    async def _close_slow(self, c: Client) -> None:
        ws = c.ws
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                ws.close(protocol.CLOSE_POLICY, "slow consumer"), self.settings.close_timeout
            )
        if ws.state is not State.CLOSED:
            ws.transport.abort()

    async def _write(self, c: Client) -> None:
        """Drain a backed-up connection's queue with flow control (``ws.send`` awaits the transport)."""
        q = c.queue
        assert q is not None
        m = self.metrics
        ws = c.ws
        try:
            while True:
                if c.gaps:
                    gaps, c.gaps = c.gaps, None
                    q.take_gap()
                    for room, n in gaps.items():
                        m.gap_notices += 1
                        await ws.send(protocol.encode(protocol.gap(room, n)))
                msg = q.pop()
                if msg is None:
                    break
                m.queued_messages -= 1
                if c.stalled:  # block policy: room freed, move waiting messages in
                    while c.stalled and not q.offer(c.stalled[0]).blocked:
                        c.stalled.popleft()
                        m.queued_messages += 1
                    if not c.stalled:
                        c.stalled = None
                await ws.send(msg.payload[1], text=True)
                m.deliveries_delivered += 1
        except ConnectionClosed:
            pass
        finally:
            c.writer = None
        if q.depth == 0 and not c.gaps and not self._credit and not self._block:
            c.queue = None  # healthy again: back to the direct path, no per-connection objects


async def run_gateway(settings: GatewaySettings, backplane: Backplane, gc_tuning: bool = True) -> None:
    """Serve until SIGTERM/SIGINT, then drain (close 1001) and return."""
    gateway = Gateway(settings, backplane)
    await gateway.start()
    if gc_tuning:
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: gateway._spawn(gateway.cut_backplane()))
    loop.add_signal_handler(signal.SIGUSR2, lambda: gateway._spawn(gateway.restore_backplane()))
    print(f"gateway {settings.gateway_id} listening on ws://{settings.host}:{gateway.port}/ws", flush=True)
    await stop.wait()
    await gateway.drain()


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` strings -> typed GatewaySettings overrides (``none`` = None)."""
    types = {f.name: f.type for f in fields(GatewaySettings)}
    out: dict[str, Any] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in types:
            raise SystemExit(f"--gw {item}: unknown field {name!r}; fields: {', '.join(sorted(types))}")
        kind = str(types[name])
        if text.lower() in ("none", "null", ""):
            out[name] = None
        elif kind.startswith("bool"):
            out[name] = text.lower() in ("1", "true", "yes", "on")
        elif kind.startswith("int"):
            out[name] = int(text)
        elif kind.startswith("float"):
            out[name] = float(text)
        else:
            out[name] = text
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m reference_impl.system.gateway", description=__doc__.splitlines()[0]
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default=None)
    p.add_argument("--id", dest="gateway_id", default=None, help="gateway id used in metric labels")
    p.add_argument("--backplane", default=None, help="in_memory|redis_pubsub|redis_streams|nats|jetstream")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    p.add_argument("--namespace", default="wssim", help="prefix of the backplane's keys/subjects/streams")
    p.add_argument(
        "--replay-max-messages",
        type=int,
        default=None,
        help="history window of durable backplanes in messages (default: the config's, else 1000)",
    )
    p.add_argument("--config", default=None, help="scenario YAML (or built-in name) to take settings from")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override path=value")
    p.add_argument(
        "--gw",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override one GatewaySettings field, e.g. --gw queue_policy=disconnect --gw queue_limit=50",
    )
    p.add_argument("--no-gc-tuning", action="store_true", help="skip gc.freeze() and higher thresholds")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    overrides: dict[str, Any] = {"port": args.port}
    if args.gateway_id:
        overrides["gateway_id"] = args.gateway_id
    if args.host:
        overrides["host"] = args.host
    overrides.update(parse_settings(args.gw))
    kind, max_messages, max_age = args.backplane or "in_memory", 1000, None
    if args.config:
        from wssim.config import load_config

        config = load_config(args.config, args.overrides or None)
        settings = GatewaySettings.from_config(config, **overrides)
        kind = args.backplane or config.backplane.kind
        max_messages, max_age = config.backplane.replay.max_messages, config.backplane.replay.max_age
    else:
        known = {f.name for f in fields(GatewaySettings)}
        settings = GatewaySettings(**{k: v for k, v in overrides.items() if k in known})
    if args.replay_max_messages is not None:
        max_messages = args.replay_max_messages
    url = args.nats_url if kind in ("nats", "nats_core", "jetstream") else args.redis_url
    backplane = make_backplane(
        kind, url, namespace=args.namespace, max_messages=max_messages, max_age=max_age
    )
    asyncio.run(run_gateway(settings, backplane, gc_tuning=not args.no_gc_tuning))


if __name__ == "__main__":
    main()
