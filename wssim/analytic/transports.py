"""Analytic cost model of the transport choice: WebSocket, SSE, long-poll or periodic poll.

Everything here is a pure function of a :class:`Requirement` (what the users need) and
:class:`Overheads` (protocol constants). :func:`transport_cost` gives the steady-state cost of serving
one user with one transport; :func:`usd_per_user_month` prices it with :class:`Prices`;
:func:`recommend` runs the four-part test (bidirectional? low latency? high frequency? server
initiated?) and returns the cheapest transport that still meets the requirement.

Model, per user and per second of steady state (``u`` = updates/s down, ``v`` = messages/s up):

* **websocket** — one held connection. Down: ``u`` frames of ``size + header`` (2/4/10 bytes by
  payload length) plus a TLS record each; up: ``v`` masked frames (4 more header bytes). Pings every
  ``ping_interval`` (an empty frame down, a masked pong up). The upgrade request/response is amortised
  over the mean connection lifetime ``session``.
* **sse** — one held HTTP response. Down: ``u`` events framed as ``id:``/``data:`` lines plus a chunk
  header; a comment line every ``ping_interval`` keeps proxies from timing out. Up (bidirectional): every
  client message is a separate POST with full request and response headers.
* **long_poll** — one held request; each update completes it and the client asks again. With Poisson
  updates and a server hold time ``h`` a poll lasts ``E[min(Exp(u), h)] = (1 − e^(−u·h))/u``, so the
  request rate is ``u / (1 − e^(−u·h))`` (→ ``1/h`` when idle, → ``u`` when busy). Up as for SSE.
* **poll** — one request every ``P`` seconds, returning whatever accumulated (``u·P`` updates). Mean
  staleness ``P/2``, worst ``P``. If ``P`` exceeds the HTTP keep-alive idle time, every poll opens a new
  TCP connection and resumes its TLS session (resumption bytes and CPU), but no connection is held
  between polls. For request/response traffic (nothing server-initiated) ``poll`` is plain HTTP: one
  request per client message, the answer in its response.

Server memory is ``open connections × per-connection budget`` (kernel buffers + TLS + app state), the
same budget :class:`~wssim.policies.ConnectionBudget` uses for the gateway tier. Bytes include HTTP
headers, WebSocket/SSE framing and TLS record overhead; TCP/IP headers are left out for all four.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["websocket", "sse", "long_poll", "poll"]
TRANSPORTS: tuple[Kind, ...] = ("websocket", "sse", "long_poll", "poll")
SECONDS_PER_MONTH = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Requirement:
    """What one user needs from the real-time channel."""

    update_rate: float
    """Server→client updates per second per user (Poisson)."""
    upstream_rate: float = 0.0
    """Client→server messages per second per user (0 for pure server push)."""
    max_latency: float = 1.0
    """Largest acceptable delay from an update to the user seeing it, in seconds."""
    message_size: int = 200
    """Payload bytes of one message."""
    server_initiated: bool = True
    """Updates are pushed unsolicited; False means plain request/response (the client asks)."""


@dataclass(frozen=True)
class Overheads:
    """Protocol constants and connection behaviour (defaults: typical HTTPS values)."""

    request_overhead: int = 800
    """Bytes of HTTP request line and headers (cookies, auth) per request."""
    response_overhead: int = 300
    """Bytes of HTTP status line and headers per response."""
    upgrade_response: int = 160
    """Bytes of the ``101 Switching Protocols`` response."""
    tls_record: int = 22
    """Bytes each TLS 1.3 record adds (5 header + 1 content type + 16 AEAD tag)."""
    tls_handshake_down: int = 4096
    """Bytes server→client for a full TLS handshake (certificate chain)."""
    tls_handshake_up: int = 512
    """Bytes client→server for a full TLS handshake (plus the TCP handshake)."""
    tls_resumed_down: int = 350
    """Bytes server→client for a resumed TLS handshake (session ticket; no certificates)."""
    tls_resumed_up: int = 350
    """Bytes client→server for a resumed TLS handshake (plus the TCP handshake)."""
    sse_event: int = 23
    """Bytes of SSE framing per event: ``id: <offset>\\n`` + ``data: `` + blank line."""
    chunk: int = 8
    """Bytes of HTTP/1.1 chunked-encoding framing per chunk."""
    json_item: int = 12
    """Bytes to wrap one update in a JSON array of a poll response."""
    ping_interval: float = 25.0
    """Keepalive period of held connections (WebSocket ping, SSE comment), seconds."""
    session: float = 1800.0
    """Mean lifetime of a held connection before it is re-established, seconds."""
    keepalive_idle: float = 5.0
    """HTTP keep-alive idle timeout of the server (5 s in Node.js and Apache): a poll connection idle
    longer than this is closed, seconds."""
    hold: float = 30.0
    """Longest time a long-poll request is held open without an update, seconds."""
    rtt: float = 0.1
    """Network round-trip time, seconds."""
    per_connection_bytes: int = 32 * 1024
    """Server memory per open connection: kernel buffers + TLS state + app state."""


@dataclass(frozen=True)
class Prices:
    """What server resources cost; a node is sized by its binding resource (memory or CPU)."""

    node_per_month: float = 350.0
    """USD per server node per month."""
    node_memory: int = 8 * 1024**3
    """Memory of one node, bytes."""
    base_memory: int = 256 * 1024**2
    """Memory a node uses with no connections, bytes."""
    headroom: float = 0.7
    """Share of the free memory and CPU one plans to use."""
    cores: float = 2.0
    """CPU cores per node."""
    cpu_per_request: float = 300e-6
    """CPU seconds to serve one HTTP request (parse, auth, route, respond)."""
    cpu_per_handshake: float = 1e-3
    """CPU seconds of a full TLS handshake (new connection)."""
    cpu_per_resumption: float = 0.15e-3
    """CPU seconds of a resumed TLS handshake (session ticket: no signature)."""
    cpu_per_message: float = 10e-6
    """CPU seconds to frame and write one message on a held connection."""
    egress_per_gb: float = 0.09
    """USD per GB (1e9 bytes) sent to users."""


@dataclass(frozen=True)
class TransportCost:
    """Steady-state cost of serving one user with one transport."""

    kind: Kind
    open_connections: float
    """Mean connections held open for this user."""
    requests_per_s: float
    """HTTP requests per second (WebSocket: only the amortised upgrade)."""
    handshakes_per_s: float
    """Full TLS handshakes per second (new sessions; certificates sent)."""
    messages_per_s: float
    """Frames, events or responses the server writes per second."""
    bytes_up_per_s: float
    """Client→server bytes per second, headers and framing included."""
    bytes_down_per_s: float
    """Server→client bytes per second, headers and framing included."""
    server_memory_bytes: float
    """Mean server memory held for this user."""
    latency_s: float
    """Mean delay from an update to its delivery."""
    worst_latency_s: float
    """Worst-case delay from an update to its delivery."""
    resumptions_per_s: float = 0.0
    """New TCP connections per second that resume an earlier TLS session (cheaper than a handshake)."""
    poll_interval: float | None = None
    """Poll period used (poll only)."""


def ws_header(payload: int, masked: bool) -> int:
    """Bytes of a WebSocket frame header (RFC 6455 §5.2) for a payload of ``payload`` bytes."""
    size = 2 if payload <= 125 else 4 if payload <= 0xFFFF else 10
    return size + (4 if masked else 0)


def long_poll_rate(update_rate: float, hold: float) -> float:
    """Requests per second of a long-poll with Poisson updates at ``update_rate`` and hold time ``hold``."""
    if hold <= 0:
        raise ValueError("hold must be positive")
    if update_rate <= 0:
        return 1.0 / hold
    return update_rate / -math.expm1(-update_rate * hold)


def _upstream_posts(req: Requirement, o: Overheads) -> tuple[float, float, float]:
    """Requests/s, bytes up/s and bytes down/s of sending client messages as separate POSTs."""
    v = req.upstream_rate
    up = v * (o.request_overhead + req.message_size + o.tls_record)
    down = v * (o.response_overhead + o.tls_record)
    return v, up, down


def _reconnects(requests: float, o: Overheads) -> tuple[float, float, float, float]:
    """TLS bytes up/down per second, mean open connections and TLS resumptions per second of a client
    making ``requests`` requests per second on a keep-alive connection.

    If requests come less often than the keep-alive idle time, the server closes the connection in
    between: each request opens a TCP connection and resumes the TLS session (no certificates); the
    connection is open ``keepalive_idle`` seconds after each request. A full handshake happens once per
    ``session`` either way.
    """
    full_up, full_down = o.tls_handshake_up / o.session, o.tls_handshake_down / o.session
    if requests <= 0:
        return full_up, full_down, 0.0, 0.0
    if 1.0 / requests <= o.keepalive_idle:
        return full_up, full_down, 1.0, 0.0
    up = requests * o.tls_resumed_up + full_up
    down = requests * o.tls_resumed_down + full_down
    return up, down, min(1.0, o.keepalive_idle * requests), requests


def _request_response(req: Requirement, o: Overheads) -> TransportCost:
    """Plain HTTP request/response: each client message is one request whose response is the answer."""
    v, size = req.upstream_rate, req.message_size
    if v <= 0:
        raise ValueError("request/response traffic needs upstream_rate > 0 (the client's requests)")
    tls_up, tls_down, held, resumed = _reconnects(v, o)
    up = v * (o.request_overhead + size + o.tls_record) + tls_up
    down = v * (o.response_overhead + size + o.tls_record) + tls_down
    rtt = o.rtt
    return TransportCost(
        "poll",
        held,
        v,
        1.0 / o.session,
        v,
        up,
        down,
        held * o.per_connection_bytes,
        rtt,
        rtt,
        resumed,
        1.0 / v,
    )


def transport_cost(
    kind: Kind, req: Requirement, o: Overheads | None = None, poll_interval: float | None = None
) -> TransportCost:
    """Per-user steady-state cost of ``kind`` for requirement ``req`` (see the module docstring).

    ``poll_interval`` (poll only) defaults to ``req.max_latency − rtt``: the longest period whose
    worst-case staleness still meets the requirement. For request/response traffic
    (``req.server_initiated`` False) ``poll`` means plain HTTP: one request per client message.
    """
    o = o or Overheads()
    u, v, size = req.update_rate, req.upstream_rate, req.message_size
    if u < 0 or v < 0 or size < 0:
        raise ValueError("rates and sizes must be non-negative")
    half_rtt = o.rtt / 2
    pings = 1.0 / o.ping_interval if o.ping_interval > 0 else 0.0
    reopen = 1.0 / o.session
    if kind == "websocket":
        down = (
            u * (size + ws_header(size, False) + o.tls_record)
            + pings * (ws_header(0, False) + o.tls_record)
            + reopen * (o.upgrade_response + o.tls_record + o.tls_handshake_down)
        )
        up = (
            v * (size + ws_header(size, True) + o.tls_record)
            + pings * (ws_header(0, True) + o.tls_record)
            + reopen * (o.request_overhead + o.tls_record + o.tls_handshake_up)
        )
        return TransportCost(
            kind, 1.0, reopen, reopen, u + pings, up, down, o.per_connection_bytes, half_rtt, half_rtt
        )
    if kind == "sse":
        posts, post_up, post_down = _upstream_posts(req, o)
        heartbeat = 3 + o.chunk + o.tls_record  # ":\n\n" comment line
        down = (
            u * (size + o.sse_event + o.chunk + o.tls_record)
            + pings * heartbeat
            + reopen * (o.response_overhead + o.tls_record + o.tls_handshake_down)
            + post_down
        )
        up = reopen * (o.request_overhead + o.tls_record + o.tls_handshake_up) + post_up
        return TransportCost(
            kind, 1.0, reopen + posts, reopen, u + pings + posts, up, down, o.per_connection_bytes,
            half_rtt, half_rtt,
        )  # fmt: skip
    if kind == "long_poll":
        polls = long_poll_rate(u, o.hold)
        posts, post_up, post_down = _upstream_posts(req, o)
        down = polls * (o.response_overhead + o.tls_record) + u * (size + o.json_item) + post_down
        down += reopen * o.tls_handshake_down
        up = polls * (o.request_overhead + o.tls_record) + post_up + reopen * o.tls_handshake_up
        # An update that lands while the client is re-requesting waits for the new request (one RTT).
        gap = min(1.0, polls * o.rtt)
        latency = half_rtt + gap * o.rtt / 2
        return TransportCost(
            kind, 1.0, polls + posts, reopen, polls + posts, up, down, o.per_connection_bytes,
            latency, half_rtt + o.rtt,
        )  # fmt: skip
    if kind == "poll":
        if not req.server_initiated:
            return _request_response(req, o)
        period = poll_interval if poll_interval is not None else req.max_latency - o.rtt
        if period <= 0:
            raise ValueError(f"no poll interval meets a {req.max_latency} s latency with a {o.rtt} s RTT")
        polls = 1.0 / period
        posts, post_up, post_down = _upstream_posts(req, o)
        tls_up, tls_down, held, resumed = _reconnects(polls, o)
        down = polls * (o.response_overhead + o.tls_record) + u * (size + o.json_item) + tls_down + post_down
        up = polls * (o.request_overhead + o.tls_record) + tls_up + post_up
        return TransportCost(
            kind, held, polls + posts, reopen, polls + posts, up, down, held * o.per_connection_bytes,
            period / 2 + half_rtt, period + o.rtt, resumed, period,
        )  # fmt: skip
    raise ValueError(f"unknown transport {kind!r}; choose one of {', '.join(TRANSPORTS)}")


def node_share(cost: TransportCost, prices: Prices | None = None) -> float:
    """Fraction of one server node a user takes: memory or CPU, whichever binds (after headroom)."""
    p = prices or Prices()
    usable_memory = (p.node_memory - p.base_memory) * p.headroom
    cpu = (
        cost.requests_per_s * p.cpu_per_request
        + cost.handshakes_per_s * p.cpu_per_handshake
        + cost.resumptions_per_s * p.cpu_per_resumption
        + cost.messages_per_s * p.cpu_per_message
    )
    return max(cost.server_memory_bytes / usable_memory, cpu / (p.cores * p.headroom))


def egress_per_user_month(cost: TransportCost, prices: Prices | None = None) -> float:
    """Monthly USD of the bytes sent to one user."""
    p = prices or Prices()
    return cost.bytes_down_per_s * SECONDS_PER_MONTH / 1e9 * p.egress_per_gb


def usd_per_user_month(cost: TransportCost, prices: Prices | None = None) -> float:
    """Monthly USD to serve one user: node share (memory or CPU, whichever binds) plus egress."""
    p = prices or Prices()
    return node_share(cost, p) * p.node_per_month + egress_per_user_month(cost, p)


@dataclass(frozen=True)
class FourPartTest:
    """The four questions that decide whether a WebSocket is worth its cost."""

    bidirectional: bool
    low_latency: bool
    high_frequency: bool
    server_initiated: bool

    @property
    def needs_websocket(self) -> bool:
        """All four hold: only then does a WebSocket beat the cheaper primitives."""
        return self.bidirectional and self.low_latency and self.high_frequency and self.server_initiated

    def missing(self) -> list[str]:
        """The parts that do not hold."""
        return [name for name in ("bidirectional", "low_latency", "high_frequency", "server_initiated")
                if not getattr(self, name)]  # fmt: skip


def four_part_test(
    req: Requirement, low_latency_s: float = 1.0, high_frequency_per_s: float = 0.1
) -> FourPartTest:
    """Answer the four questions for ``req``.

    *Low latency* means ``max_latency <= low_latency_s``; *high frequency* means at least
    ``high_frequency_per_s`` messages per second per user in either direction (default: one every 10 s —
    slower than that, a request per update costs little).
    """
    return FourPartTest(
        bidirectional=req.upstream_rate > 0,
        low_latency=req.max_latency <= low_latency_s,
        high_frequency=max(req.update_rate, req.upstream_rate) >= high_frequency_per_s,
        server_initiated=req.server_initiated,
    )


@dataclass(frozen=True)
class Recommendation:
    """The chosen transport, why, and the numbers behind the choice."""

    kind: Kind
    reason: str
    test: FourPartTest
    costs: dict[str, TransportCost] = field(default_factory=dict)
    """Cost of every transport that meets the requirement."""
    usd_per_user_month: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    """Transports left out, with the reason."""


def recommend(
    req: Requirement,
    overheads: Overheads | None = None,
    prices: Prices | None = None,
    low_latency_s: float = 1.0,
    high_frequency_per_s: float = 0.1,
) -> Recommendation:
    """The cheapest transport that meets ``req``.

    A WebSocket is a candidate only when all four parts of the test hold; SSE and long-poll are
    candidates for server-initiated traffic (client messages go as POSTs); periodic polling is a
    candidate whenever a poll period ``max_latency − rtt`` is positive. Candidates whose worst-case latency
    exceeds ``max_latency`` are rejected; the cheapest remaining one (USD per user-month) wins.
    """
    o = overheads or Overheads()
    test = four_part_test(req, low_latency_s, high_frequency_per_s)
    costs: dict[str, TransportCost] = {}
    rejected: dict[str, str] = {}
    for kind in TRANSPORTS:
        if kind == "websocket" and not test.needs_websocket:
            rejected[kind] = "four-part test: not " + ", not ".join(test.missing()).replace("_", " ")
            continue
        if kind in ("sse", "long_poll") and not req.server_initiated:
            rejected[kind] = "request/response traffic: nothing to push"
            continue
        try:
            cost = transport_cost(kind, req, o)
        except ValueError as exc:
            rejected[kind] = str(exc)
            continue
        if cost.worst_latency_s > req.max_latency + 1e-12:
            rejected[kind] = f"worst-case latency {cost.worst_latency_s:.3g} s > {req.max_latency:.3g} s"
            continue
        costs[kind] = cost
    if not costs:
        raise ValueError(f"no transport meets the requirement: {rejected}")
    usd = {kind: usd_per_user_month(c, prices) for kind, c in costs.items()}
    best = min(usd, key=lambda k: (usd[k], TRANSPORTS.index(k)))  # type: ignore[arg-type]
    others = ", ".join(f"{k} {usd[k]:.2e}" for k in usd if k != best)
    label = "plain HTTP requests (poll)" if best == "poll" and not req.server_initiated else best
    reason = f"{label} is the cheapest that meets the requirement ({usd[best]:.2e} USD/user/month"
    reason += f"; {others})" if others else ")"
    return Recommendation(best, reason, test, costs, usd, rejected)  # type: ignore[arg-type]


def from_config(config: object) -> tuple[Requirement, Overheads, Prices]:
    """The requirement, overheads and prices implied by a :class:`wssim.config.Config`.

    Each client receives every message of each room it is in: ``update_rate = publish_rate × members per
    room × rooms per client`` (members per room = ``count × per_client / rooms.count``).
    ``transport.direction == "server_push"`` drops the upstream traffic from the clients' own publishes.
    The acceptable latency is what polling at ``transport.poll_interval`` gives (``poll_interval + rtt``).
    """
    c = config.clients  # type: ignore[attr-defined]
    g = config.gateways  # type: ignore[attr-defined]
    t = config.transport  # type: ignore[attr-defined]
    members = c.count * c.rooms.per_client / c.rooms.count if c.rooms.count else 0.0
    update_rate = c.publish_rate * members * c.rooms.per_client
    upstream = c.publish_rate if t.direction == "bidirectional" else 0.0
    ping = g.keepalive.ping_interval or 0.0
    pc = g.per_connection
    o = replace(
        Overheads(),
        request_overhead=t.request_overhead,
        ping_interval=ping,
        hold=t.poll_interval,
        per_connection_bytes=pc.kernel + pc.tls + pc.app,
    )
    # Whatever staleness polling at ``poll_interval`` gives is taken as acceptable.
    req = Requirement(update_rate, upstream, t.poll_interval + o.rtt, c.message_size)
    costs = config.costs  # type: ignore[attr-defined]
    prices = replace(
        Prices(),
        node_per_month=costs.gateway_per_month,
        node_memory=g.memory,
        base_memory=g.base_memory,
        headroom=costs.headroom,
        cpu_per_request=g.handshake_cost,
    )
    return req, o, prices
