"""An asyncio L4 TCP proxy in front of the gateways, driven by the shared balancing policies.

The balancer reads the first line of each client's byte stream (the HTTP upgrade request line) to find
a ``?key=`` routing key, falls back to the client's ``address:port``, picks an upstream with
:func:`wssim.policies.make_balancer`, then pipes bytes both ways without parsing anything else.

* Health checks: in rounds, every upstream gets a TCP connect (``check="tcp"``) or ``GET /healthz``
  (``check="http"``, 200 expected) within ``check_timeout``; the next round starts ``check_interval``
  seconds after the slowest probe of the last one ended. ``fall`` failures in a row drop an upstream
  from the ring, ``rise`` successes put it back. With ``passive`` (the default), a refused connect to a
  picked upstream also drops it at once and the connection tries the next pick (passive check).
  The simulator's ``edge.health_check`` (interval, timeout, fall, rise, passive) means the same.
* Idle timeout: a proxied connection with no byte in either direction for ``idle_timeout`` seconds is
  cut (both sides closed), like a cloud load balancer's idle timeout.
* Counters: active and total connections per upstream, idle cuts, refusals (see :meth:`Balancer.stats`).

The admin API listens on an address of its own (never beside the client port) and wants a bearer
token (a JWT, :mod:`reference_impl.system.auth`) with scope ``admin``: ``GET /stats`` and
``GET /assignments`` (JSON), ``POST /add?name=N&addr=HOST:PORT``, ``POST /remove?name=N``; ``GET
/metrics`` (Prometheus text) takes scope ``metrics`` or ``admin``. Run it with
``WSSIM_TOKEN_SECRET=... python -m reference_impl.system.balancer --listen 127.0.0.1:8000 --admin
127.0.0.1:8001 --upstream g0=127.0.0.1:9000 --upstream g1=127.0.0.1:9001``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from reference_impl.system.auth import AuthError, TokenVerifier
from reference_impl.system.gateway_metrics import CONTENT_TYPE
from reference_impl.system.metric_names import BALANCER
from reference_impl.system.settings import load_key
from wssim.policies import make_balancer

FIRST_LINE_LIMIT = 8192
PEEK_TIMEOUT = 10.0
CHUNK = 65536
ADMIN_HEAD_LIMIT = 16384  # bytes of an admin request's head
_SPEC = {(e.name, e.kind): e for e in BALANCER}
ADMIN_ROUTES = {"/stats": "GET", "/assignments": "GET", "/metrics": "GET", "/add": "POST", "/remove": "POST"}


@dataclass
class Upstream:
    """One gateway behind the balancer."""

    name: str
    host: str
    port: int
    healthy: bool = True
    failures: int = 0
    successes: int = 0
    active: int = 0
    total: int = 0


@dataclass(eq=False)
class _Conn:
    """One proxied connection (for the idle sweeper)."""

    upstream: str
    key: str
    writers: list[asyncio.StreamWriter]
    last: float = field(default_factory=time.monotonic)
    cut: bool = False


def routing_key(first_line: bytes, peer: tuple[str, int] | None) -> str:
    """The ``key`` query parameter of an HTTP request line, else ``"ADDR:PORT"`` of the client."""
    try:
        parts = first_line.decode("latin-1").split(" ")
        if len(parts) >= 2:
            keys = parse_qs(urlsplit(parts[1]).query).get("key")
            if keys and keys[0]:
                return keys[0]
    except ValueError:
        pass
    return f"{peer[0]}:{peer[1]}" if peer else "unknown"


class Balancer:
    """The proxy. ``upstreams`` maps a node name to ``(host, port)``."""

    def __init__(
        self,
        upstreams: dict[str, tuple[str, int]],
        *,
        policy: str = "consistent_hash",
        vnodes: int = 160,
        idle_timeout: float | None = 60.0,
        check: str = "http",
        check_interval: float = 1.0,
        check_timeout: float = 1.0,
        fall: int = 2,
        rise: int = 2,
        connect_timeout: float = 3.0,
        passive: bool = True,
        ring_salt: str = "",
        verifier: TokenVerifier | None = None,
        socket_buffer: int | None = None,
    ) -> None:
        if check not in ("tcp", "http", "none"):
            raise ValueError("check must be tcp, http or none")
        self.upstreams: dict[str, Upstream] = {n: Upstream(n, h, p) for n, (h, p) in upstreams.items()}
        self.policy = make_balancer(policy, list(self.upstreams), vnodes=vnodes, salt=ring_salt)
        self.idle_timeout = idle_timeout
        self.check = check
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self.fall, self.rise = fall, rise
        self.passive = passive
        self.connect_timeout = connect_timeout
        self.socket_buffer = socket_buffer
        self.conns: set[_Conn] = set()
        self.assignments: dict[str, str] = {}  # routing key -> upstream of its latest connection
        self.counters: Counter[str] = Counter()
        self._servers: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self.address: tuple[str, int] | None = None
        self.admin_address: tuple[str, int] | None = None
        self.verifier = verifier  # the admin API's; no admin API without one
        self.registry = CollectorRegistry()
        self.registry.register(_BalancerCollector(self))

    # -- membership ----------------------------------------------------------------------------
    def _in_ring(self, name: str) -> bool:
        return name in set(self.policy.nodes)

    def mark_down(self, name: str, reason: str) -> None:
        """Take an upstream out of the ring (it stays known and checked)."""
        up = self.upstreams.get(name)
        if up is None:
            return
        up.healthy, up.successes = False, 0
        if self._in_ring(name):
            self.policy.remove(name)
            self.counters[f"dropped_{reason}"] += 1

    def mark_up(self, name: str) -> None:
        """Put a known upstream back in the ring."""
        up = self.upstreams[name]
        up.healthy, up.failures = True, 0
        if not self._in_ring(name):
            self.policy.add(name)
            self.counters["readded"] += 1

    def add_upstream(self, name: str, host: str, port: int) -> None:
        """A new gateway joins the ring at once (health checks then watch it)."""
        self.upstreams[name] = Upstream(name, host, port)
        if not self._in_ring(name):
            self.policy.add(name)

    def remove_upstream(self, name: str) -> None:
        """Forget a gateway (existing connections through it stay until they close)."""
        if self._in_ring(name):
            self.policy.remove(name)
        self.upstreams.pop(name, None)

    def pick(self, key: str) -> str | None:
        """The upstream for ``key`` (``None`` when no upstream is healthy)."""
        if not list(self.policy.nodes):
            return None
        return self.policy.pick(key, {n: u.active for n, u in self.upstreams.items()})

    # -- proxying ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._proxy(reader, writer)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            head = await asyncio.wait_for(self._peek_line(reader), PEEK_TIMEOUT)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        key = routing_key(head, peer)
        upstream, up_reader, up_writer = None, None, None
        for _ in range(max(1, len(self.upstreams))):
            name = self.pick(key)
            if name is None:
                break
            up = self.upstreams[name]
            try:
                up_reader, up_writer = await asyncio.wait_for(self._open(up), self.connect_timeout)
                upstream = up
                break
            except (OSError, TimeoutError):
                self.counters["upstream_refused"] += 1
                if not self.passive:
                    break
                self.mark_down(name, "refused")
        if upstream is None or up_reader is None or up_writer is None:
            self.counters["no_upstream"] += 1
            writer.close()
            return
        if self.socket_buffer is not None:
            self._bound(writer)
        self.assignments[key] = upstream.name
        upstream.active += 1
        upstream.total += 1
        self.counters["connections"] += 1
        conn = _Conn(upstream.name, key, [writer, up_writer])
        self.conns.add(conn)
        try:
            up_writer.write(head)
            await asyncio.gather(
                self._pump(reader, up_writer, conn),
                self._pump(up_reader, writer, conn),
                return_exceptions=True,
            )
        finally:
            self.conns.discard(conn)
            upstream.active -= 1
            for w in conn.writers:
                w.close()

    async def _open(self, up: Upstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to an upstream; with ``socket_buffer``, its receive buffer is bounded before the
        connect (so the window it advertises is small) and so is what is held for writing."""
        if self.socket_buffer is None:
            return await asyncio.open_connection(up.host, up.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.socket_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (up.host, up.port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=self.socket_buffer)
        except BaseException:
            sock.close()
            raise
        writer.transport.set_write_buffer_limits(high=self.socket_buffer)
        return reader, writer

    def _bound(self, writer: asyncio.StreamWriter) -> None:
        """Bound a client socket's kernel send buffer and what the proxy holds to write to it."""
        assert self.socket_buffer is not None
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_buffer)
        writer.transport.set_write_buffer_limits(high=self.socket_buffer)

    @staticmethod
    async def _peek_line(reader: asyncio.StreamReader) -> bytes:
        buf = b""
        while b"\n" not in buf and len(buf) < FIRST_LINE_LIMIT:
            chunk = await reader.read(FIRST_LINE_LIMIT - len(buf))
            if not chunk:
                raise ConnectionError("client closed before its request line")
            buf += chunk
        return buf

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: _Conn) -> None:
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                conn.last = time.monotonic()
                dst.write(data)
                await dst.drain()
                conn.last = time.monotonic()
        finally:
            # half-close then full close: the other pump ends when its peer sees EOF
            for w in conn.writers:
                with contextlib.suppress(Exception):
                    w.close()

    async def _sweep_idle(self) -> None:
        """Cut connections silent in both directions for longer than ``idle_timeout``."""
        assert self.idle_timeout is not None
        period = min(1.0, self.idle_timeout / 10)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.conns):
                if not conn.cut and now - conn.last >= self.idle_timeout:
                    conn.cut = True
                    self.counters["idle_cuts"] += 1
                    for w in conn.writers:
                        transport = w.transport
                        with contextlib.suppress(Exception):
                            transport.abort()

    # -- health checks -------------------------------------------------------------------------
    async def probe(self, up: Upstream) -> bool:
        """One health probe of ``up``: TCP connect, or ``GET /healthz`` answered with 200."""
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(up.host, up.port), self.check_timeout)
        except (OSError, TimeoutError):
            return False
        try:
            if self.check != "http":
                return True
            w.write(
                f"GET /healthz HTTP/1.1\r\nHost: {up.host}:{up.port}\r\nConnection: close\r\n\r\n".encode()
            )
            line = await asyncio.wait_for(r.readline(), self.check_timeout)
            return line.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, IndexError):
            return False
        finally:
            w.close()

    async def _check_one(self, up: Upstream) -> None:
        ok = await self.probe(up)
        if up.name not in self.upstreams:
            return
        if ok:
            up.failures = 0
            up.successes += 1
            if not up.healthy and up.successes >= self.rise:
                self.mark_up(up.name)
        else:
            up.successes = 0
            up.failures += 1
            if (up.healthy and up.failures >= self.fall) or (not up.healthy and self._in_ring(up.name)):
                self.mark_down(up.name, "health")

    async def _health_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._check_one(u) for u in list(self.upstreams.values())))
            await asyncio.sleep(self.check_interval)

    # -- admin ---------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Per-upstream active/total connections, ring membership and counters."""
        return {
            "upstreams": {
                n: {
                    "addr": f"{u.host}:{u.port}",
                    "healthy": u.healthy,
                    "in_ring": self._in_ring(n),
                    "active": u.active,
                    "total": u.total,
                }
                for n, u in self.upstreams.items()
            },
            "active": len(self.conns),
            "counters": dict(self.counters),
        }

    def _admin_answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """(status, content type, body) of one admin request."""
        url = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        scope = "metrics" if url.path == "/metrics" else "admin"
        refusal = self._admin_refusal(headers, scope)
        if refusal is not None:
            self.counters["admin_rejected"] += 1
            return refusal, "application/json", json.dumps({"error": "a token with scope admin"}).encode()
        if url.path not in ADMIN_ROUTES:
            return 404, "application/json", b'{"error": "no such route"}'
        if method != ADMIN_ROUTES[url.path]:
            return 405, "application/json", b'{"error": "method not allowed"}'
        body: Any = None
        if url.path == "/metrics":
            return 200, CONTENT_TYPE, generate_latest(self.registry)
        if url.path == "/add" and "name" in q and "addr" in q:
            host, _, port = q["addr"].rpartition(":")
            self.add_upstream(q["name"], host, int(port))
        elif url.path == "/remove" and "name" in q:
            self.remove_upstream(q["name"])
        elif url.path == "/assignments":
            body = dict(self.assignments)
        elif url.path != "/stats":
            return 400, "application/json", b'{"error": "name (and addr=HOST:PORT) required"}'
        return 200, "application/json", json.dumps(self.stats() if body is None else body).encode()

    def _admin_refusal(self, headers: dict[str, str], scope: str) -> int | None:
        """401 without a valid token, 403 without the scope (``admin`` covers ``metrics``), else None."""
        if self.verifier is None:
            return 403
        auth = headers.get("authorization", "")
        kind, _, token = auth.partition(" ")
        try:
            grants = self.verifier.verify(token.strip() if kind.lower() == "bearer" else None)
        except AuthError:
            return 401
        return None if grants.has_scope("admin") or grants.has_scope(scope) else 403

    async def _admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if len(head) > ADMIN_HEAD_LIMIT:
                raise ValueError("request head too large")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            status, ctype, data = self._admin_answer(method, target, headers)
            phrase = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
            phrase |= {404: "Not Found", 405: "Method Not Allowed"}
            out = f"HTTP/1.1 {status} {phrase[status]}\r\nContent-Type: {ctype}\r\n"
            out += f"Content-Length: {len(data)}\r\nConnection: close\r\n"
            if status == 401:
                out += 'WWW-Authenticate: Bearer realm="wssim-balancer"\r\n'
            writer.write(out.encode() + b"\r\n" + data)
            await writer.drain()
        except (OSError, TimeoutError, IndexError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        admin: tuple[str, int] | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Listen on ``host:port`` (0 = a free port) and start the health checks and idle sweeper;
        the admin API on ``admin`` (its own address; needs a ``verifier``).

        ``reuse_port`` lets several balancer processes share one port (SO_REUSEPORT): each process holds
        at most ~9,990 proxied connections (two descriptors each) under a 20,000 descriptor limit.
        """
        server = await asyncio.start_server(self._handle, host, port, backlog=4096, reuse_port=reuse_port)
        self._servers.append(server)
        self.address = server.sockets[0].getsockname()[:2]
        if admin is not None:
            if self.verifier is None:
                raise ValueError("the admin API needs a token verifier (it never runs unauthenticated)")
            if admin == (host, port) and port != 0:
                raise ValueError("the admin API needs an address of its own, not the client port")
            server = await asyncio.start_server(self._admin, *admin)
            self._servers.append(server)
            self.admin_address = server.sockets[0].getsockname()[:2]
        if self.check != "none":
            self._tasks.append(asyncio.create_task(self._health_loop()))
        if self.idle_timeout:
            self._tasks.append(asyncio.create_task(self._sweep_idle()))

    async def stop(self) -> None:
        """Stop listening, cut every proxied connection and the background tasks."""
        for s in self._servers:
            s.close()
        for t in self._tasks:
            t.cancel()
        for conn in list(self.conns):
            for w in conn.writers:
                with contextlib.suppress(Exception):
                    w.transport.abort()
        for t in list(self._handlers):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._handlers, return_exceptions=True)
        self._tasks.clear()


def _parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


class _BalancerCollector(Collector):
    """The balancer's state as Prometheus families (read at scrape time)."""

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer

    def collect(self) -> Any:
        bal = self.balancer

        def family(name: str, kind: str) -> Any:
            spec = _SPEC[(name, kind)]
            make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            return make(spec.name, spec.help, labels=spec.labels or None)

        active = family("wssim_balancer_connections", "gauge")
        proxied = family("wssim_balancer_proxied", "counter")
        in_ring = family("wssim_balancer_upstream_in_ring", "gauge")
        for name, up in bal.upstreams.items():
            active.add_metric([name], up.active)
            proxied.add_metric([name], up.total)
            in_ring.add_metric([name], 1.0 if bal._in_ring(name) else 0.0)
        events = family("wssim_balancer_events", "counter")
        for event in ("idle_cuts", "no_upstream", "dropped_health", "dropped_refused", "readded"):
            events.add_metric([event], bal.counters[event])
        rejected = family("wssim_balancer_admin_rejected", "counter")
        rejected.add_metric([], bal.counters["admin_rejected"])
        yield from (active, proxied, in_ring, events, rejected)


def _parse_upstream(text: str) -> tuple[str, tuple[str, int]]:
    name, _, addr = text.partition("=")
    host, _, port = addr.rpartition(":")
    if not name or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got {text!r}")
    return name, (host, int(port))


def main(argv: list[str] | None = None) -> None:
    """Command line: run a balancer until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(
        prog="python -m reference_impl.system.balancer", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to accept clients on")
    ap.add_argument("--admin", type=_parse_address, default=None, help="HOST:PORT of the admin API")
    ap.add_argument("--token-secret-file", default=None, help="file holding the HS256 secret (admin API)")
    ap.add_argument("--token-public-key", default=None, help="PEM public key file (admin API tokens)")
    ap.add_argument("--upstream", action="append", type=_parse_upstream, default=[], help="NAME=HOST:PORT")
    ap.add_argument("--policy", default="consistent_hash")
    ap.add_argument("--vnodes", type=int, default=160)
    ap.add_argument("--ring-salt", default="", help="re-draws the hashing policies' placement")
    ap.add_argument("--idle-timeout", type=float, default=60.0, help="seconds; 0 disables")
    ap.add_argument("--check", default="http", choices=["tcp", "http", "none"])
    ap.add_argument("--check-interval", type=float, default=1.0, help="seconds between probe rounds")
    ap.add_argument("--check-timeout", type=float, default=1.0, help="seconds a probe may take")
    ap.add_argument("--fall", type=int, default=2, help="failed probes in a row that drop an upstream")
    ap.add_argument("--rise", type=int, default=2, help="answered probes in a row that re-add it")
    ap.add_argument(
        "--passive", action=argparse.BooleanOptionalAction, default=True, help="drop on a refused connect"
    )
    ap.add_argument("--reuse-port", action="store_true", help="share the port with other balancers")
    ap.add_argument(
        "--socket-buffer",
        type=int,
        default=None,
        help="bytes: bound the kernel and proxy buffers of each proxied connection, so a slow reader's "
        "backlog stays at the gateway (default: the kernel autotunes, MiBs per socket)",
    )
    ap.add_argument("--ready-file", default=None, help="write 'HOST PORT ADMINPORT' here once listening")
    args = ap.parse_args(argv)
    verifier = None
    if args.admin is not None:
        key = load_key(args.token_secret_file, args.token_public_key, False, args.admin[0])
        try:
            verifier = TokenVerifier(key.get("secret"), key.get("public_key"))
        except ValueError as exc:
            raise SystemExit(f"token key refused: {exc}") from None

    async def run() -> None:
        bal = Balancer(
            dict(args.upstream),
            verifier=verifier,
            policy=args.policy,
            vnodes=args.vnodes,
            ring_salt=args.ring_salt,
            idle_timeout=args.idle_timeout or None,
            check=args.check,
            check_interval=args.check_interval,
            check_timeout=args.check_timeout,
            fall=args.fall,
            rise=args.rise,
            passive=args.passive,
            socket_buffer=args.socket_buffer,
        )
        host, _, port = args.listen.rpartition(":")
        await bal.start(host, int(port), args.admin, reuse_port=args.reuse_port)
        assert bal.address is not None
        admin = bal.admin_address[1] if bal.admin_address else ""
        line = f"{bal.address[0]} {bal.address[1]} {admin}"
        if args.ready_file:
            with open(args.ready_file + ".tmp", "w") as f:
                f.write(line)
            os.replace(args.ready_file + ".tmp", args.ready_file)
        print(f"balancer listening {line}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await bal.stop()

    asyncio.run(run())


if __name__ == "__main__":
    main()
