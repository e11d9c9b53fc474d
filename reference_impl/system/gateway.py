"""The reference WebSocket gateway: authenticate, hold sockets, fan backplane messages out to them.

One asyncio process on ``websockets`` (new asyncio API). Per connection it keeps a tiny
:class:`Client` record; a healthy connection is written to directly (no task, no queue), and only a
connection whose transport is backed up (above ``write_limit``) gets a :class:`wssim.policies.SendQueue`
and a writer task, both created lazily and dropped once the queue is empty. The overflow decision is the
shared policy's (``SendQueue.offer``); keepalive numbers come from :class:`wssim.policies.Keepalive`.

Every path that holds memory for a client is bounded and visible in ``/metrics``
(``wssim_buffered_bytes``): the send queue (``queue_limit``, ``queue_limit_bytes``), frames held while
a room is joined (a queue of the same policy and limits), messages held beside a full ``block`` queue
(``block_limit``), and, over all clients, ``memory_budget``: past it the clients with the largest
backlog are closed (1008). The keepalive pings without waiting for a blocked write, so a peer that
stopped reading is closed when its pong does not come. Who may connect, and to which rooms, is
:mod:`reference_impl.system.admission` and the token's grants (:mod:`reference_impl.system.auth`).

Run: ``WSSIM_TOKEN_SECRET=... python -m reference_impl.system.gateway --port 8765 --backplane redis_streams``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import math
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from reference_impl.system import protocol
from reference_impl.system.admission import Admission, Refusal
from reference_impl.system.auth import AuthError, Grants, TokenVerifier, redact
from reference_impl.system.backplanes import Backplane, Delivery, make_backplane, redact_url
from reference_impl.system.event_log import (
    ACCEPT,
    BACKPLANE_CUT,
    BACKPLANE_RESTORED,
    CLOSE,
    SLOW_DISCONNECT,
    EventLog,
)
from reference_impl.system.gateway_metrics import CONTENT_TYPE, GatewayMetrics
from reference_impl.system.settings import GatewaySettings, load_key, parse_settings
from wssim.policies import Message, SendQueue, resume_decision

log = logging.getLogger("reference_impl.system.gateway")
OPEN = State.OPEN
SHED_AT = 0.9  # share of memory_budget at which the slowest clients are shed
_dumps = json.dumps
__all__ = ["Gateway", "GatewaySettings", "msg_frame", "parse_settings", "run_gateway"]


class _RedactTokens(logging.Filter):
    """websockets logs request lines and headers at DEBUG: never a bearer token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args or "token" in str(record.msg).lower():
            record.msg, record.args = redact(record.getMessage()), None
        return True


_WS_LOG = logging.getLogger("websockets.server")
if not any(isinstance(f, _RedactTokens) for f in _WS_LOG.filters):
    _WS_LOG.addFilter(_RedactTokens())


class Client:
    """Per-connection state, kept small: idle connections are most of the fleet."""

    __slots__ = (
        "closing",
        "gaps",
        "grants",
        "ping",
        "ping_at",
        "pong_at",
        "queue",
        "resuming",
        "rooms",
        "stalled",
        "stalled_bytes",
        "writer",
        "ws",
    )

    def __init__(self, ws: ServerConnection, grants: Grants, now: float) -> None:
        self.ws = ws
        self.grants = grants
        self.rooms: set[str] = set()
        self.queue: SendQueue | None = None  # created on first backpressure
        self.writer: asyncio.Task[None] | None = None
        self.gaps: dict[str, int] | None = None  # room -> drops not yet announced
        # joining rooms: a SendQueue holding live frames until subscribed/replay is out, then
        # (epoch, last offset sent): a floor, late frames at or below it are repeats, until a newer one
        self.resuming: dict[str, SendQueue | tuple[str, int]] | None = None
        self.stalled: deque[Message] | None = None  # block policy: waiting for room in the queue
        self.stalled_bytes = 0
        self.ping: bytes | None = None  # payload of the ping awaiting its pong
        self.ping_at = now
        self.pong_at = now  # last time the peer was known alive
        self.closing = False

    @property
    def subject(self) -> str:
        return self.grants.subject

    def backlog(self) -> int:
        """Bytes held for this client: queue, held joins, blocked messages, transport buffer."""
        held = sum(q.bytes for q in (self.resuming or {}).values() if isinstance(q, SendQueue))
        queued = self.queue.bytes if self.queue is not None else 0
        return queued + held + self.stalled_bytes + self.ws.transport.get_write_buffer_size()


def msg_frame(d: Delivery) -> bytes:
    """The ``msg`` frame of a delivery, built once per backplane message (payload is a JSON object)."""
    head = f'{{"op":"msg","room":{_dumps(d.room)},"offset":{d.offset},"epoch":{_dumps(d.epoch)}'
    body = d.payload[1:]
    return (head + ("," + body if body != "}" else "}")).encode()


def _response(
    status: HTTPStatus, body: bytes | str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (returns freed heap pages to the system), or None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


class Gateway:
    """A gateway bound to one backplane; :meth:`start`, then :meth:`drain` or :meth:`stop`."""

    def __init__(self, settings: GatewaySettings, backplane: Backplane) -> None:
        s = self.settings = settings
        self.backplane = backplane
        self.verifier = TokenVerifier(
            s.secret, s.public_key, leeway=s.token_leeway, audience=s.token_audience, issuer=s.token_issuer
        )
        self.admission = Admission(s, self.verifier)
        self.metrics = GatewayMetrics(s.gateway_id, s.limits())
        self.events = EventLog(s.event_log)
        self.keepalive = s.keepalive()
        self.clients: set[Client] = set()
        self.rooms: dict[str, set[Client]] = {}
        self.server: Server | None = None
        self.metrics_server: Server | None = None
        self.port = s.port
        self.metrics_port: int | None = None
        self.draining = False
        self._pending: set[ServerConnection] = set()  # admitted handshakes not yet handled
        self.backplane_cut = False
        self._conflate = s.queue_policy == "conflate"
        self._credit = s.queue_policy == "credit"
        self._block = s.queue_policy == "block"
        self._housekeeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._publish_seq = 0
        self._joining: dict[str, asyncio.Future[None]] = {}  # room -> its backplane subscription in flight
        self._allowance = float("inf")  # buffered bytes the memory budget allows (set each sample)
        self._next_shed = 0.0
        self._trim = _malloc_trim()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        await self.backplane.start()
        self.server = await serve(
            self._handler,
            s.host,
            s.port,
            process_request=self._process_request,
            process_response=self._process_response,
            compression=s.compression,
            max_size=s.max_message_size,
            ping_interval=None,  # the housekeeper pings: it does not wait on a blocked write
            write_limit=s.write_limit,
            close_timeout=s.close_timeout,
            max_queue=16,
            backlog=s.listen_backlog,
            logger=_WS_LOG,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if s.metrics_port is not None:
            self.metrics_server = await serve(
                self._refuse_upgrade,
                s.metrics_host or s.host,
                s.metrics_port,
                process_request=self._process_metrics_request,
                logger=_WS_LOG,
            )
            self.metrics_port = self.metrics_server.sockets[0].getsockname()[1]
        self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping())

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
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            self._housekeeper = None
        for server in (self.server, self.metrics_server):
            if server is not None:
                server.close(close_connections=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), self.settings.close_timeout + 1)
        self.server = self.metrics_server = None
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
        self.events.log(BACKPLANE_CUT)

    async def restore_backplane(self) -> None:
        """Reconnect and re-subscribe every room with local members (SIGUSR2: the outage ends)."""
        with contextlib.suppress(Exception):
            await self.backplane.start()
            for room in list(self.rooms):
                await self.backplane.subscribe(room, self._on_delivery)
        self.backplane_cut = False
        self.events.log(BACKPLANE_RESTORED)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- housekeeping: keepalive, token expiry, sampling, memory budget ------------------------
    async def _housekeeping(self) -> None:
        s, ka = self.settings, self.keepalive
        tick = s.sample_interval
        if ka.ping_interval is not None and ka.timeout is not None:
            tick = min(tick, ka.ping_interval / 4, ka.timeout / 4)
        loop = asyncio.get_running_loop()
        next_sample = 0.0
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            self._check_connections(now, time.time())
            if now >= next_sample:
                next_sample = now + s.sample_interval
                self._sample()
                self.admission.prune(now)
                self.backplane.sweep(time.monotonic())

    def _check_connections(self, now: float, wall: float) -> None:
        """Ping every client due one (without waiting for its writes), close the dead and the expired."""
        ka, leeway = self.keepalive, self.settings.token_leeway
        for c in list(self.clients):
            if c.closing:
                continue
            if wall > c.grants.expires + leeway:
                self._close(c, protocol.CLOSE_POLICY, "token expired", "token_expired")
                continue
            if ka.ping_interval is None:
                continue
            ws = c.ws
            if c.ping is not None and c.ping not in ws.pending_pings:  # the pong came
                c.pong_at = c.ping_at + (ws.latency or 0.0)
                c.ping = None
            if c.ping is not None:
                if now >= ka.dead_at(c.pong_at):  # type: ignore[operator]
                    self._close(c, protocol.CLOSE_INTERNAL, "keepalive ping timeout", "keepalive")
            elif now >= ka.next_ping(c.ping_at) and ws.protocol.state is OPEN:  # type: ignore[operator]
                c.ping, c.ping_at = os.urandom(4), now
                ws.pending_pings[c.ping] = (ws.loop.create_future(), now)
                ws.protocol.send_ping(c.ping)
                ws.send_data()

    def _sample(self) -> None:
        """Send-queue depths into the histogram; memory against the budget."""
        m = self.metrics
        idle = 0
        for c in self.clients:
            if c.queue is None:
                idle += 1
            else:
                m.observe_depth(c.queue.depth)
        if idle:
            m.observe_depth(0, idle)
        m.rooms = len(self.rooms)
        rss = m.sample_memory()
        budget = self.settings.memory_budget
        if budget is not None:
            # what buffers may still take before the process reaches SHED_AT of its budget: the rest is
            # room for what is not counted (transport buffers, frames being parsed, allocator slack)
            self._allowance = SHED_AT * budget - (rss - m.buffered_bytes)
            if m.buffered_bytes > self._allowance:
                self._shed()

    def _shed(self) -> None:
        """Over the memory budget: close the clients with the largest backlog until back under it.

        Only backed-up clients (more than ``write_limit`` held) are candidates; one scan per 100 ms at
        most, so a process over budget with nothing to shed does not rescan on every message."""
        now = asyncio.get_running_loop().time()
        if now < self._next_shed:
            return
        self._next_shed = now + 0.1
        m, floor = self.metrics, self.settings.write_limit
        excess = m.buffered_bytes - self._allowance
        backlogs = [(c.backlog(), c) for c in self.clients if not c.closing]
        for backlog, c in sorted(backlogs, key=lambda bc: bc[0], reverse=True):
            if excess <= 0 or backlog <= floor:
                break
            excess -= backlog
            self._close(c, protocol.CLOSE_POLICY, "memory budget", "memory_budget")
            self._free(c)
        if self._trim is not None:
            asyncio.get_running_loop().call_soon(self._trim, 0)

    # ---- HTTP side: auth, admission, metrics, snapshots -------------------------------------
    def _refused(self, refusal: Refusal) -> Response:
        self.metrics.rejected(refusal.reason)
        response = _response(refusal.status, refusal.message + "\n")
        if refusal.status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="wssim"'
        if refusal.retry_after is not None:  # whole seconds, rounded up (HTTP); the exact wait in ms
            response.headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
            response.headers["Retry-After-Ms"] = str(round(refusal.retry_after * 1000))
        return response

    def _authorized(self, conn: ServerConnection, request: Request) -> Grants | Response:
        source = conn.remote_address[0] if conn.remote_address else ""
        now = time.monotonic()
        grants = self.admission.authenticate(source, request.path, request.headers, now)
        return self._refused(grants) if isinstance(grants, Refusal) else grants

    def _forbidden(self, what: str) -> Response:
        return self._refused(Refusal(HTTPStatus.FORBIDDEN, "forbidden", f"the token does not grant {what}"))

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == protocol.HEALTH_PATH:
            if self.draining:
                return _response(HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            return _response(HTTPStatus.OK, "ok\n")
        if path == protocol.METRICS_PATH and self.metrics_server is None:
            return self._metrics(conn, request)
        if path.startswith(protocol.SNAPSHOT_PREFIX):
            return await self._snapshot(conn, request, path[len(protocol.SNAPSHOT_PREFIX) :])
        if path != protocol.WS_PATH:
            return _response(HTTPStatus.NOT_FOUND, "no such path; the WebSocket is at /ws\n")
        grants = self._authorized(conn, request)
        if isinstance(grants, Response):
            return grants
        refusal = self.admission.admit(grants, time.monotonic(), self.draining)
        if refusal is not None:
            return self._refused(refusal)
        conn.grants = grants  # type: ignore[attr-defined]
        self._pending.add(conn)
        return None

    def _process_response(self, conn: ServerConnection, request: Request, response: Response) -> None:
        """An accepted handshake says which gateway it landed on; an admitted one that did not end in
        101 gives its slot back."""
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            response.headers[protocol.GATEWAY_HEADER] = self.settings.gateway_id
        elif conn in self._pending:
            self._pending.discard(conn)
            self.admission.release(conn.grants.subject)  # type: ignore[attr-defined]

    def _metrics(self, conn: ServerConnection, request: Request) -> Response:
        grants = self._authorized(conn, request)
        if isinstance(grants, Response):
            return grants
        if not grants.has_scope("metrics"):
            return self._forbidden("the metrics scope")
        return _response(HTTPStatus.OK, self.metrics.render(), CONTENT_TYPE)

    def _process_metrics_request(self, conn: ServerConnection, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == protocol.HEALTH_PATH:
            return _response(HTTPStatus.OK, "ok\n")
        if path == protocol.METRICS_PATH:
            return self._metrics(conn, request)
        return _response(HTTPStatus.NOT_FOUND, "this listener serves /metrics and /healthz only\n")

    async def _refuse_upgrade(self, ws: ServerConnection) -> None:  # never reached: no upgrade there
        await ws.close(protocol.CLOSE_POLICY, "no WebSocket on the metrics listener")

    async def _snapshot(self, conn: ServerConnection, request: Request, room: str) -> Response:
        """The room's latest message: a token with the history right on the room."""
        grants = self._authorized(conn, request)
        if isinstance(grants, Response):
            return grants
        try:
            protocol.check_name("room", room)
        except protocol.ProtocolError as exc:
            return _response(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        if not grants.allows("history", room):
            return self._forbidden("history on this room")
        try:
            epoch, offset = await self.backplane.head(room)
            state = None
            if offset and self.backplane.durable:
                last = await self.backplane.history(room, offset - 1, 1)
                state = json.loads(last[0].payload) if last else None
        except Exception as exc:
            log.warning("snapshot of %r failed: %s", room, redact_url(str(exc)))
            return _response(HTTPStatus.SERVICE_UNAVAILABLE, "snapshot unavailable: backplane unreachable\n")
        body = json.dumps({"room": room, "epoch": epoch, "offset": offset, "state": state})
        return _response(HTTPStatus.OK, body, "application/json")

    # ---- WebSocket side ---------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        self._pending.discard(ws)
        client = Client(ws, ws.grants, asyncio.get_running_loop().time())  # type: ignore[attr-defined]
        self.clients.add(client)
        self.events.log(ACCEPT)
        if self.settings.send_buffer is not None:  # bound what the kernel holds for a slow reader
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.send_buffer)
        m = self.metrics
        m.handshakes.inc()
        m.connected(1)
        try:
            async for data in ws:
                if isinstance(data, bytes):
                    m.closed("binary")
                    await ws.close(protocol.CLOSE_UNSUPPORTED, "binary frames are not supported")
                    break
                await self._dispatch(client, data)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            self.events.log(CLOSE)
            m.connected(-1)
            self.admission.release(client.subject)
            self._free(client)
            await self._leave(client, list(client.rooms))

    async def _dispatch(self, client: Client, data: str) -> None:
        try:
            frame = protocol.decode(data, allowed=protocol.CLIENT_OPS)
        except protocol.ProtocolError as exc:
            await self._refuse(client, "protocol", str(exc))
            return
        op = frame["op"]
        if op == "publish":
            await self._publish(client, frame)
        elif op == "subscribe":
            await self._subscribe(client, frame["rooms"], frame.get("resume") or {})
        elif op == "unsubscribe":
            await self._leave(client, frame["rooms"])
        elif op == "ack":
            self._ack(client, frame["n"])
        elif op == "refresh":
            await self._refresh(client, frame["token"])

    async def _refuse(self, client: Client, reason: str, text: str, room: str | None = None) -> None:
        self.metrics.frame_rejected(reason)
        await client.ws.send(protocol.encode(protocol.error(text, room)))

    async def _refresh(self, client: Client, token: str) -> None:
        """A fresh token: same subject, new expiry and grants; rooms no longer granted are left."""
        try:
            grants = self.verifier.verify(token)
        except AuthError as exc:
            await self._refuse(client, "forbidden", f"refresh: {exc.reason}")
            return
        if grants.subject != client.subject:
            await self._refuse(client, "forbidden", "refresh: the token is for another subject")
            return
        client.grants = grants
        lost = [room for room in client.rooms if not grants.allows("subscribe", room)]
        await self._leave(client, lost)
        for room in lost:
            await self._refuse(client, "forbidden", "subscribe: no longer granted", room)
        await client.ws.send(protocol.encode(protocol.refreshed(grants.expires)))

    async def _publish(self, client: Client, frame: dict[str, Any]) -> None:
        room = frame["room"]
        if not client.grants.allows("publish", room):
            await self._refuse(client, "forbidden", "publish: not granted by the token", room)
            return
        self._publish_seq += 1
        payload: dict[str, Any] = {
            "id": frame.get("id") or f"{self.settings.gateway_id}-{self._publish_seq}",
            "from": client.subject,  # stamped here: never taken from the client
            "ts": frame.get("ts") if frame.get("ts") is not None else time.time(),
            "body": frame["body"],
        }
        if frame.get("key") is not None:
            payload["key"] = frame["key"]
        try:
            await self.backplane.publish(room, protocol.encode(payload))
        except Exception as exc:
            log.warning("publish to %r failed: %s", room, redact_url(str(exc)))
            await self._refuse(client, "backplane", "publish failed: backplane unavailable", room)
            return
        self.metrics.messages_published.inc()

    def _may_join(self, client: Client, room: str, resume: bool) -> str | None:
        """Why ``client`` may not join ``room``, or None."""
        if not client.grants.allows("subscribe", room):
            return "subscribe: not granted by the token"
        if resume and not client.grants.allows("history", room):
            return "resume: history not granted by the token"
        return None

    async def _subscribe(self, client: Client, rooms: list[str], resume: dict[str, Any]) -> None:
        """Join rooms (each once, however often named): ``subscribed``, then (resume) the replay or
        ``resync``, then live frames.

        Live frames of a joining room are held (in a queue of the connection's policy and limits) until
        its ``subscribed`` (and replay) is out, so the client sees them in offset order after the head
        it was told.
        """
        cap = self.settings.max_rooms_per_connection
        for i, room in enumerate(dict.fromkeys(rooms)):
            if i % 64 == 63:
                await asyncio.sleep(0)  # a frame naming thousands of rooms shares the loop
            if room not in client.rooms and cap is not None and len(client.rooms) >= cap:
                await self._refuse(client, "room_limit", f"subscribe: {cap} rooms per connection at most")
                return  # one answer for all the rooms beyond the cap
            cursor = resume.get(room)
            refusal = self._may_join(client, room, cursor is not None)
            if refusal is not None:
                await self._refuse(client, "forbidden", refusal, room)
                continue
            if client.resuming is None:
                client.resuming = {}
            client.resuming[room] = self._new_queue()
            try:
                epoch, head = await self._join(client, room)
            except Exception as exc:
                self._discard(self._release(client, room))
                log.warning("subscribe to %r failed: %s", room, redact_url(str(exc)))
                await self._refuse(client, "backplane", "subscribe failed: backplane unavailable", room)
                continue
            await client.ws.send(protocol.encode(protocol.subscribed(room, epoch, head)))
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
                    raise RuntimeError(f"the backplane subscription of {room} failed")
        return await self.backplane.head(room)

    def _release(self, client: Client, room: str) -> SendQueue | None:
        """Stop holding the room's live frames; return the queue that held them."""
        held = client.resuming.pop(room, None) if client.resuming else None
        if client.resuming is not None and not client.resuming:
            client.resuming = None
        return held if isinstance(held, SendQueue) else None

    def _flush_held(self, client: Client, room: str, epoch: str, last: int) -> None:
        """Send the live frames held while joining, minus those at or before offset ``last``; then
        keep ``last`` as a floor, since the backplane may still hand over frames read before the head.
        Offsets per publisher (``ordered`` false) cannot be compared: everything held is sent."""
        ordered = self.backplane.ordered
        held = self._release(client, room)
        if held is not None:
            dropped = held.take_gap()
            while (msg := self._pop(held)) is not None:
                if not ordered or msg.id > last:
                    self._send(client, room, msg.id, msg.payload[1], msg.key)
                    last = max(last, msg.id)
            if dropped and self.settings.gap_notice:
                self._announce_gap(client, room, dropped)
        if ordered and room in client.rooms and not client.closing:
            if client.resuming is None:
                client.resuming = {}
            client.resuming[room] = (epoch, last)

    async def _resume(self, client: Client, room: str, cursor: dict[str, Any], epoch: str, head: int) -> None:
        """All or nothing: every message after the cursor from the backplane's history, or resync."""
        m = self.metrics
        m.resume_attempts.inc()
        replayed = None
        c_epoch = cursor["epoch"] or None  # "" = the client does not know the epoch yet
        if self._replayable(c_epoch, cursor["offset"], epoch, head):
            replayed = await self._replay(client, room, cursor["offset"], epoch, head)
        if replayed is None:
            m.replay_misses.inc()
            m.resyncs.inc()
            await client.ws.send(protocol.encode(protocol.resync(room)))
            last = head  # the snapshot covers up to the head
        else:
            m.replay_hits.inc()
            m.messages_replayed.inc(replayed)
            await client.ws.send(protocol.encode(protocol.resumed(room, replayed)))
            last = cursor["offset"] + replayed
        self._flush_held(client, room, epoch, last)  # live frames that arrived meanwhile, minus the overlap

    def _replayable(self, c_epoch: str | None, c_offset: int, epoch: str, head: int) -> bool:
        """The shared :func:`resume_decision`, asked before anything is read from the history."""
        if not self.backplane.ordered:
            return False  # offsets are per publisher: no cursor can be checked
        lost_upto = None if self.backplane.durable else head  # a non-durable backplane keeps nothing
        return not resume_decision(c_epoch, c_offset, epoch, head, lost_upto, self.settings.max_per_resume)

    async def _replay(self, client: Client, room: str, after: int, epoch: str, head: int) -> int | None:
        """Send every message in ``(after, head]`` from history, ``replay_chunk`` per event-loop turn;
        None when the history does not hold them all (the window, as fetched, starts past a chunk's
        cursor: :func:`resume_decision` says "evicted")."""
        ws, chunk, sent = client.ws, self.settings.replay_chunk, 0
        while after < head:
            try:
                items = await self.backplane.history(room, after, min(chunk, head - after))
            except Exception as exc:
                log.warning("history of %r failed: %s", room, redact_url(str(exc)))
                return None
            lost_upto = items[0].offset - 1 if items else head
            if resume_decision(epoch, after, epoch, head, lost_upto, None):  # the epoch is checked
                return None  # part of the gap fell out of the retention window
            for d in items:
                await ws.send(msg_frame(d), text=True)
            sent += len(items)
            after = items[-1].offset
            await asyncio.sleep(0)  # let every other client's frames through between chunks
        return sent

    async def _leave(self, client: Client, rooms: Iterable[str]) -> None:
        for i, room in enumerate(list(rooms)):
            if i % 64 == 63:
                await asyncio.sleep(0)
            client.rooms.discard(room)
            if client.resuming is not None:
                self._discard(self._release(client, room))
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
        m.backplane_deliveries.inc()
        members = self.rooms.get(d.room)
        if not members:
            m.backplane_deliveries_discarded.inc()
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
                    if held.__class__ is SendQueue:
                        self._hold(c, room, held, offset, data, key)  # type: ignore[arg-type]
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
        if delivered:
            m.deliveries_delivered.inc(delivered)

    # ---- queues: every byte held for a client is counted in wssim_buffered_bytes ---------------
    def _new_queue(self) -> SendQueue:
        s = self.settings
        return SendQueue(s.queue_policy, s.queue_limit, s.queue_limit_bytes, s.credit, s.gap_notice)

    def _offer(self, q: SendQueue, msg: Message) -> Any:
        m = self.metrics
        depth, size = q.depth, q.bytes
        res = q.offer(msg)
        m.queued_messages += q.depth - depth
        m.buffered_bytes += q.bytes - size
        if res.dropped and not res.disconnect:  # disconnected: the client resumes, nothing is lost
            m.messages_dropped_overflow.inc(len(res.dropped))
        if res.conflated:
            m.messages_conflated.inc(res.conflated)
        if q.depth > m.send_queue_depth_max:
            m.send_queue_depth_max = q.depth
        if m.buffered_bytes > self._allowance:
            self._shed()
        return res

    def _pop(self, q: SendQueue) -> Message | None:
        msg = q.pop()
        if msg is not None:
            self.metrics.queued_messages -= 1
            self.metrics.buffered_bytes -= msg.size
        return msg

    def _discard(self, q: SendQueue | None) -> None:
        if q is not None:
            self.metrics.queued_messages -= q.depth
            self.metrics.buffered_bytes -= q.bytes
            q.close()

    def _free(self, c: Client) -> None:
        """Drop everything held for ``c`` (it is closing)."""
        self._discard(c.queue)
        for room in list(c.resuming or ()):
            self._discard(self._release(c, room))
        if c.stalled:
            self.metrics.queued_messages -= len(c.stalled)
            self.metrics.buffered_bytes -= c.stalled_bytes
            c.stalled, c.stalled_bytes = None, 0
        if c.writer is not None:
            c.writer.cancel()
            c.writer = None

    def _hold(self, c: Client, room: str, held: SendQueue, offset: int, data: bytes, key: Any) -> None:
        """A live frame of a room ``c`` is joining: held under the connection's policy and limits."""
        res = self._offer(held, Message(offset, len(data), key, (room, data)))
        if res.disconnect or res.blocked:  # nothing can wait for a join: the client is too slow
            self._close(c, protocol.CLOSE_POLICY, "send queue full while joining", "held_overflow")
            self._free(c)

    def _send(self, c: Client, room: str, offset: int, data: bytes, key: Any) -> None:
        """Queue path: the shared SendQueue decides (accept, drop, conflate, disconnect, block)."""
        ws = c.ws
        if c.writer is None and not ws.paused and not (self._credit or self._block) and c.queue is None:
            if ws.protocol.state is OPEN:
                ws.protocol.send_text(data)
                ws.send_data()
                self.metrics.deliveries_delivered.inc()
            return
        q = c.queue
        if q is not None and q.closed:
            return  # disconnected by the policy, closing
        if q is None:
            q = c.queue = self._new_queue()
        msg = Message(offset, len(data), key, (room, data))
        if c.stalled:
            self._stall(c, msg)
            return
        res = self._offer(q, msg)
        if res.blocked:
            self._stall(c, msg)
        elif res.disconnect:
            self._disconnect_slow(c)
            return
        elif res.dropped and self.settings.gap_notice:
            gaps = c.gaps if c.gaps is not None else {}
            c.gaps = gaps
            for old in res.dropped:
                r = old.payload[0]
                gaps[r] = gaps.get(r, 0) + 1
        if c.writer is None and q.can_send:
            c.writer = asyncio.get_running_loop().create_task(self._write(c))

    def _stall(self, c: Client, msg: Message) -> None:
        """block policy: hold ``msg`` beside the full queue, up to ``block_limit`` / the byte limit."""
        s = self.settings
        n = len(c.stalled) if c.stalled else 0
        over_count = s.block_limit is not None and n >= s.block_limit
        over_bytes = s.queue_limit_bytes is not None and c.stalled_bytes + msg.size > s.queue_limit_bytes
        if over_count or over_bytes:
            self._disconnect_slow(c)
            return
        if c.stalled is None:
            c.stalled = deque()
        c.stalled.append(msg)
        c.stalled_bytes += msg.size
        self.metrics.queued_messages += 1
        self.metrics.buffered_bytes += msg.size
        if self.metrics.buffered_bytes > self._allowance:
            self._shed()

    def _announce_gap(self, c: Client, room: str, dropped: int) -> None:
        gaps = c.gaps if c.gaps is not None else {}
        c.gaps = gaps
        gaps[room] = gaps.get(room, 0) + dropped
        if c.queue is None:
            c.queue = self._new_queue()
        if c.writer is None:
            c.writer = asyncio.get_running_loop().create_task(self._write(c))

    def _ack(self, c: Client, n: int) -> None:
        if c.queue is None:
            return
        c.queue.ack(n)
        if c.writer is None and c.queue.can_send:
            c.writer = asyncio.get_running_loop().create_task(self._write(c))

    def _disconnect_slow(self, c: Client) -> None:
        """Disconnect policy (and the block bound): free the queue now, close 1008 so the client
        resumes from its cursor."""
        if c.closing:
            return
        self.metrics.slow_consumer_disconnects.inc()
        self.events.log(SLOW_DISCONNECT)
        self._close(c, protocol.CLOSE_POLICY, "slow consumer", None)
        self._free(c)

    def _close(self, c: Client, code: int, why: str, reason: str | None) -> None:
        """Close ``c`` (once): out of its rooms now, the close frame in a task, abort if it hangs."""
        if c.closing:
            return
        c.closing = True
        if reason is not None:
            self.metrics.closed(reason)
        # not now: we may be inside _on_delivery's loop over this room's members
        asyncio.get_running_loop().call_soon(self._rooms_discard, c)
        self._spawn(self._close_soon(c, code, why))

    def _rooms_discard(self, c: Client) -> None:
        for room in c.rooms:
            members = self.rooms.get(room)
            if members is not None:
                members.discard(c)

    async def _close_soon(self, c: Client, code: int, why: str) -> None:
        ws = c.ws
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code, why), self.settings.close_timeout)
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
                        m.gap_notices.inc()
                        await ws.send(protocol.encode(protocol.gap(room, n)))
                msg = self._pop(q)
                if msg is None:
                    break
                if c.stalled:  # block policy: room freed, move waiting messages in
                    while c.stalled and not q.offer(c.stalled[0]).blocked:
                        c.stalled_bytes -= c.stalled.popleft().size  # counted already: same bytes
                    if not c.stalled:
                        c.stalled = None
                await ws.send(msg.payload[1], text=True)
                m.deliveries_delivered.inc()
        except ConnectionClosed:
            pass
        finally:
            c.writer = None
        if q.depth == 0 and not c.gaps and not self._credit and not self._block and not q.closed:
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
    where = f"ws://{settings.host}:{gateway.port}/ws"
    if gateway.metrics_port is not None:
        where += (
            f", metrics on http://{settings.metrics_host or settings.host}:{gateway.metrics_port}/metrics"
        )
    print(f"gateway {settings.gateway_id} listening on {where}", flush=True)
    await stop.wait()
    await gateway.drain()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m reference_impl.system.gateway", description=__doc__.splitlines()[0]
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default=None)
    p.add_argument("--id", dest="gateway_id", default=None, help="gateway id (the wssim_gateway_info label)")
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
    p.add_argument(
        "--room-retention",
        type=float,
        default=3600.0,
        help="seconds a room without members or publications keeps its offsets and history",
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
    p.add_argument("--token-secret-file", default=None, help="file holding the HS256 secret")
    p.add_argument("--token-public-key", default=None, help="PEM public key file (ES256 or RS256 tokens)")
    p.add_argument(
        "--insecure-dev",
        action="store_true",
        help="accept tokens signed with the published development secret (loopback only, logs a warning)",
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
        settings = GatewaySettings(**overrides)
    key = load_key(args.token_secret_file, args.token_public_key, args.insecure_dev, settings.host)
    for name, value in key.items():
        setattr(settings, name, value)
    try:
        TokenVerifier(settings.secret, settings.public_key)
    except ValueError as exc:
        raise SystemExit(f"token key refused: {exc}") from None
    if args.replay_max_messages is not None:
        max_messages = args.replay_max_messages
    url = args.nats_url if kind in ("nats", "nats_core", "jetstream") else args.redis_url
    backplane = make_backplane(
        kind,
        url,
        namespace=args.namespace,
        max_messages=max_messages,
        max_age=max_age,
        retention=args.room_retention,
    )
    asyncio.run(run_gateway(settings, backplane, gc_tuning=not args.no_gc_tuning))


if __name__ == "__main__":
    main()
