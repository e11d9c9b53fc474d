"""The config schema: pydantic v2 models, the allowed choices, cross-field rules and :class:`Config`.

Every field carries a ``description``: the schema is the single source of the reference docs
(``python -m wssim.docgen``). Units are parsed by :mod:`wssim.units`; Python code reads SI numbers.
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, Literal, get_args

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
    model_validator,
)

from wssim.policies.admission import default_burst
from wssim.units import ByteSize, Duration, Rate

NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

StrategyName = Literal["none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated"]
BalancerName = Literal[
    "consistent_hash", "rendezvous", "modulo", "round_robin", "least_connections", "sticky"
]
OverflowName = Literal["unbounded", "drop_oldest", "drop_newest", "conflate", "disconnect", "credit", "block"]
BackplaneKind = Literal[
    "none", "in_memory", "redis_pubsub", "redis_streams", "nats", "jetstream", "kafka", "managed"
]
TopologyName = Literal["broadcast", "channel_per_room", "sharded", "registry"]
TransportName = Literal["websocket", "sse", "long_poll", "poll"]
LossCostName = Literal["harmless", "unacceptable"]

BACKOFF_STRATEGIES: tuple[str, ...] = get_args(StrategyName)
OVERFLOW_POLICIES: tuple[str, ...] = get_args(OverflowName)
BALANCERS: tuple[str, ...] = get_args(BalancerName)
BACKPLANE_KINDS: tuple[str, ...] = get_args(BackplaneKind)
TOPOLOGIES: tuple[str, ...] = get_args(TopologyName)
TRANSPORTS: tuple[str, ...] = get_args(TransportName)


CROSS_FIELD_RULES = (
    "`duration` and `interval` are positive; `warmup` is shorter than `duration`.",
    "`clients.reconnect.cap` is at least `clients.reconnect.base`.",
    "`clients.rooms.per_client` is at most `clients.rooms.count`.",
    "`clients.rooms.classes`: distinct names, shares summing to 1, every class at least one room, no size "
    "above `clients.count`, the rooms at their mean sizes within 10% of `clients.count` × `per_client` "
    "memberships, one publish rate with `publish_arrivals: periodic`, no class `overflow` with a "
    "connection-wide `credit` or `block`.",
    "`gateways.base_memory` is smaller than `gateways.memory`.",
    "`gateways.keepalive.ping_interval` is positive (or null), and `gateways.keepalive.timeout`, when set, "
    "is greater than it.",
    "`backplane.latency.p99` is at least `backplane.latency.median`.",
    "A `gateway_crash` fault's `gateway` index is below `gateways.count`.",
    "Every sweep path exists in the schema, every value validates at its path, the lists under `zip:` have "
    "equal lengths, and every combination of values is a valid config.",
)
"""The rules checked across fields, as documented in the reference (keep in step with the validators)."""


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors; defaults may be unit strings."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=False)


# --------------------------------------------------------------------------------------------- clients


class Backoff(StrictModel):
    """How a client waits between reconnect attempts."""

    strategy: StrategyName = Field(
        "full_jitter",
        description=(
            "Reconnect delay strategy: `none` retries at once, `constant` waits `base`, "
            "`exponential` waits "
            "min(cap, base·2^attempt), `full_jitter` a uniform draw in [0, that], "
            "`equal_jitter` half of it plus "
            "a uniform draw over the other half, `decorrelated` min(cap, uniform(base, 3·previous))."
        ),
    )
    base: Duration = Field("1s", description="First (and smallest) reconnect delay.")
    cap: Duration = Field("30s", description="Largest reconnect delay.")
    max_attempts: PosInt | None = Field(
        None, description="Give up after this many failed attempts in a row (null = retry forever)."
    )

    @model_validator(mode="after")
    def _cap_at_least_base(self) -> Backoff:
        if self.cap < self.base:
            raise ValueError(f"`cap` ({self.cap:g} s) must be at least `base` ({self.base:g} s)")
        return self


ClassOverflowName = Literal["unbounded", "drop_oldest", "drop_newest", "conflate", "disconnect"]


class RoomSize(StrictModel):
    """How many members a room of a class has, drawn once per room."""

    distribution: Literal["uniform", "lognormal", "zipf"] = Field(
        description=(
            "`uniform` integers in [`min`, `max`], `lognormal` by its `median` and `p99` (rounded, at "
            "least 1), `zipf` over `min`..`max` with P(size m) ∝ m^-`exponent` (many small rooms, a few "
            "huge ones). A fixed size is written as a plain number: `size: 10`."
        )
    )
    min: PosInt = Field(1, description="Smallest size (`uniform`, `zipf`).")
    max: PosInt | None = Field(None, description="Largest size (`uniform`, `zipf`: required).")
    median: float | None = Field(None, gt=0.0, description="Median size (`lognormal`: required).")
    p99: float | None = Field(None, gt=0.0, description="99th-percentile size (`lognormal`: required).")
    exponent: float = Field(2.0, gt=0.0, description="Exponent of the `zipf` sizes.")

    @model_validator(mode="after")
    def _parameters(self) -> RoomSize:
        if self.distribution == "lognormal":
            if self.median is None or self.p99 is None:
                raise ValueError(
                    "a `lognormal` size needs `median` and `p99`, e.g. `{distribution: "
                    "lognormal, median: 10, p99: 200}`"
                )
            if self.p99 < self.median:
                raise ValueError(f"`p99` ({self.p99:g}) must be at least `median` ({self.median:g})")
        elif self.max is None:
            raise ValueError(
                f"a `{self.distribution}` size needs `max`, e.g. `{{distribution: "
                f"{self.distribution}, min: 2, max: 50}}`"
            )
        elif self.max < self.min:
            raise ValueError(f"`max` ({self.max}) must be at least `min` ({self.min})")
        return self

    def params(self) -> dict[str, Any]:
        """Keyword arguments of :func:`wssim.policies.rooms.draw_sizes`."""
        return {
            "kind": self.distribution,
            "low": self.min,
            "high": self.max or self.min,
            "median": self.median or 1.0,
            "p99": self.p99 or 1.0,
            "exponent": self.exponent,
        }

    def largest(self) -> float:
        """The largest size it can draw (lognormal: its 99th percentile)."""
        return float(self.p99 if self.distribution == "lognormal" else self.max or self.min)


RoomSizeSpec = Annotated[
    Annotated[PosInt, Tag("fixed-size")] | Annotated[RoomSize, Tag("size-distribution")],
    Discriminator(lambda v: "size-distribution" if isinstance(v, dict | RoomSize) else "fixed-size"),
]


class RoomClass(StrictModel):
    """One kind of traffic: its share of the rooms, their size, its messages and their overflow policy."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Name of the class (lower case, digits, `_`); per-class metrics end in `.<name>`.",
    )
    share: float = Field(gt=0.0, le=1.0, description="Share of `rooms.count` that are of this class.")
    size: RoomSizeSpec = Field(
        description="Members per room: a number, or a distribution drawn per room (see below)."
    )
    publish_rate: Rate | None = Field(
        None,
        description=(
            "Messages each member publishes to each room of this class it is in (null: "
            "`clients.publish_rate` / `rooms.per_client`, a member's share of its rate)."
        ),
    )
    message_size: ByteSize | None = Field(
        None, description="Size of one message (null: `clients.message_size`)."
    )
    overflow: ClassOverflowName | None = Field(
        None,
        description=(
            "What a member's full send queue does with a message of this class (null: "
            "`gateways.send_queue.overflow`): one socket's queue holds every class, and the class of "
            "the message that does not fit decides."
        ),
    )
    conflate_keys: PosInt | None = Field(
        None, description="Distinct conflation keys per room of this class (null: `clients.conflate_keys`)."
    )

    def mean_size(self) -> float:
        """The mean members per room."""
        return self.size_moment(1)

    def size_moment(self, order: int) -> float:
        """E[members^order] of a room of this class, as drawn."""
        from wssim.policies.rooms import size_moment

        if isinstance(self.size, int):
            return float(self.size) ** order
        return size_moment(order=order, **self.size.params())


class Rooms(StrictModel):
    """Rooms (channels) that clients join; publishes go to a room's members."""

    count: PosInt = Field(100, description="Number of rooms.")
    per_client: NonNegInt = Field(1, description="Rooms each client joins (distinct rooms, at most `count`).")
    popularity: Literal["uniform", "zipf"] = Field(
        "uniform", description="How clients pick rooms: `uniform`, or `zipf` (a few rooms get most members)."
    )
    zipf_exponent: float = Field(
        1.1, gt=0.0, description="Exponent s of the Zipf popularity (weight of rank k ∝ k^-s)."
    )

    classes: list[RoomClass] | None = Field(
        None,
        description=(
            "Kinds of rooms mixed in one fleet (presence, chat, feeds), each with its share of the rooms, "
            "room size, publish rate, message size, overflow policy and conflation keys (null: one "
            "kind, from `popularity` and the `clients` fields)."
        ),
    )

    @model_validator(mode="after")
    def _per_client_fits(self) -> Rooms:
        if self.per_client > self.count:
            raise ValueError(f"`per_client` ({self.per_client}) must be at most `count` ({self.count})")
        if self.classes is not None:
            self._check_classes(self.classes)
        return self

    def _check_classes(self, classes: list[RoomClass]) -> None:
        from wssim.policies.rooms import apportion

        if not classes:
            raise ValueError("`classes` is empty; give at least one class, or null for a single kind")
        names = [c.name for c in classes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"`classes` names must be distinct: `{'`, `'.join(twice)}` appears twice")
        total = sum(c.share for c in classes)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"`classes` shares must sum to 1, they sum to {total:g}: adjust the `share`s")
        if self.popularity != "uniform":
            raise ValueError(
                "`popularity` must be `uniform` with `classes`: the classes' `size`s make some "
                "rooms bigger than others"
            )
        rooms = apportion(np.asarray([c.share for c in classes]), self.count)
        for c, n in zip(classes, rooms.tolist(), strict=True):
            if n == 0:
                raise ValueError(
                    f"class `{c.name}` gets none of the {self.count} rooms at share {c.share:g}: "
                    f"raise its `share` or `count`"
                )

    def expected_members(self) -> float | None:
        """Memberships the classes' rooms hold at their mean sizes (None without classes)."""
        if self.classes is None:
            return None
        from wssim.policies.rooms import apportion

        counts = apportion(np.asarray([c.share for c in self.classes]), self.count)
        return float(sum(n * c.mean_size() for n, c in zip(counts.tolist(), self.classes, strict=True)))


class SlowConsumers(StrictModel):
    """Clients that drain their socket slower than messages arrive."""

    fraction: Fraction = Field(0.0, description="Share of clients that are slow consumers, in [0, 1].")
    drain_rate: Rate = Field("10/s", description="Messages per second a slow consumer reads.")
    read_time: Literal["exponential", "deterministic"] = Field(
        "exponential",
        description=(
            "Distribution of the time one read takes (mean 1/drain rate), for slow consumers and for "
            "healthy clients with `clients.drain_rate`: `exponential` (reads form a Poisson process; a "
            "bounded queue is M/M/1/K) or `deterministic` (every read takes exactly 1/drain rate: "
            "M/D/1/K, fewer drops at the same load)."
        ),
    )
    stall_every: Duration | None = Field(
        None,
        description=(
            "A slow consumer stops reading entirely after this many seconds of reading, periodically "
            "(each client with its own random phase; null = never stalls)."
        ),
    )
    stall_duration: Duration = Field("30s", description="How long a stall lasts.")


class Offline(StrictModel):
    """Clients that drop off the network for a while and come back (train tunnels, sleeping laptops)."""

    rate: Rate = Field("0/s", description="Per-client rate of going offline (0 = never).")
    mean: Duration = Field("30s", description="Mean time a client stays offline.")
    distribution: Literal["exponential", "fixed"] = Field(
        "exponential",
        description="Distribution of offline periods: `exponential` with that mean, or `fixed`.",
    )
    half_open_fraction: Fraction = Field(
        0.0,
        description=(
            "Share of offline episodes that leave a half-open socket (no FIN/RST reaches the gateway); "
            "only keepalive or an idle timeout detects them."
        ),
    )


class Snapshot(StrictModel):
    """The full-state snapshot a client fetches when its gap cannot be replayed (resync)."""

    size: ByteSize = Field("64KiB", description="Size of one room snapshot.")
    latency: Duration = Field("50ms", description="Time to fetch a snapshot.")
    rate: Rate | None = Field(
        None,
        description=(
            "Snapshots per second the snapshot service serves, fleet-wide; a mass resync queues for it "
            "(null = no limit)."
        ),
    )


class Clients(StrictModel):
    """The client population: how many, how they connect, what they subscribe to and publish."""

    count: NonNegInt = Field(1000, description="Number of clients.")
    connect_ramp: Duration = Field("10s", description="Initial connections are spread over this window.")
    arrival: Literal["uniform", "poisson"] = Field(
        "uniform",
        description=(
            "Initial connect times within `connect_ramp`: evenly `uniform` random, or a `poisson` process."
        ),
    )
    reconnect: Backoff = Field(default_factory=Backoff, description="Reconnect backoff after a disconnect.")
    resume: bool = Field(True, description="Reconnecting clients send their last-seen offsets to resume.")
    rooms: Rooms = Field(default_factory=Rooms, description="Room membership.")
    direct_fraction: Fraction = Field(
        0.0, description="Share of publishes that are 1:1 direct messages instead of room broadcasts."
    )
    publish_rate: Rate = Field("0/s", description="Messages each client publishes, per client.")
    publish_arrivals: Literal["poisson", "periodic"] = Field(
        "poisson",
        description=(
            "How a connected client's publications are spaced: `poisson` (exponential gaps), or "
            "`periodic` (exactly every 1/`publish_rate`, clients taking turns: deterministic traffic)."
        ),
    )
    message_size: ByteSize = Field("200B", description="Size of one message on the wire.")
    conflate_keys: PosInt = Field(
        16,
        description="Distinct keys per room; the `conflate` overflow policy keeps only the latest per key.",
    )
    slow_consumers: SlowConsumers = Field(default_factory=SlowConsumers, description="Slow-consumer clients.")
    drain_rate: Rate | None = Field(
        None, description="Messages per second a healthy client reads (null = as fast as they arrive)."
    )
    offline: Offline = Field(default_factory=Offline, description="Offline episodes.")
    snapshot: Snapshot = Field(default_factory=Snapshot, description="Snapshot used for resync.")
    connect_timeout: Duration = Field(
        "10s",
        description=(
            "A client abandons a handshake still unanswered after this long and backs off; the gateway "
            "still spends the CPU on it when its turn comes."
        ),
    )
    syn_retry: Duration = Field(
        "1s",
        description=(
            "Least wait after a dropped SYN (full conntrack table) before the next attempt: TCP's initial "
            "retransmission timeout."
        ),
    )
    refused_cost: Duration = Field(
        "100ms",
        description=(
            "Least wait after a refused or reset attempt (the connect round trip and error handling) "
            "before the next one."
        ),
    )

    @model_validator(mode="after")
    def _classes_fit(self) -> Clients:
        classes = self.rooms.classes
        if classes is None:
            return self
        for i, c in enumerate(classes):
            big = c.size if isinstance(c.size, int) else c.size.largest()
            if big > self.count:
                raise ValueError(
                    f"`rooms.classes.{i}.size` reaches {big:g} members but there are {self.count} clients: "
                    "a room cannot hold more; lower the size or raise `count`"
                )
        held = self.rooms.expected_members() or 0.0
        made = self.count * self.rooms.per_client
        if made and abs(held - made) > 0.1 * made:
            rooms = max(1, round(self.rooms.count * made / held))
            raise ValueError(
                f"`rooms.classes` hold about {held:,.0f} members ({self.rooms.count:,} rooms at their mean "
                f"sizes) but `count` × `rooms.per_client` makes {made:,} memberships: set `rooms.count` to "
                f"{rooms} (or change the sizes, `count` or `per_client`) so they agree within 10%"
            )
        rates = {c.publish_rate for c in classes}
        if self.publish_arrivals == "periodic" and len(rates) > 1:
            raise ValueError(
                "`publish_arrivals: periodic` needs one publish rate for every room: give the "
                "`rooms.classes` the same `publish_rate`, or use `poisson`"
            )
        return self


# ------------------------------------------------------------------------------------------------ edge


class HealthCheck(StrictModel):
    """The balancer's active health check of every gateway (the live balancer's interval, fall and rise)."""

    interval: Duration = Field(
        "1s", description="Pause between the end of one probe round and the start of the next."
    )
    timeout: Duration = Field(
        "1s",
        description=(
            "A probe not answered within this long fails (a gateway whose accept queue is this far "
            "behind does not answer in time)."
        ),
    )
    fall: PosInt = Field(2, description="Failed probes in a row that take a gateway out of the pool.")
    rise: PosInt = Field(2, description="Answered probes in a row that put a gateway back in the pool.")
    passive: bool = Field(
        False,
        description=(
            "Also take a gateway out at the first connection it refuses, and send that connection to "
            "another gateway (the client does not see the refusal)."
        ),
    )

    @model_validator(mode="after")
    def _positive_times(self) -> HealthCheck:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("`interval` and `timeout` must be positive (use `health_check: null` for none)")
        return self


class Edge(StrictModel):
    """The load balancer in front of the gateways and the network path to the clients."""

    nodes: PosInt = Field(
        1,
        description=(
            "Balancer nodes; client `c` always goes through node `c mod nodes`. Each node has its own "
            "pool and health checks, conntrack table and (L7) TLS capacity."
        ),
    )
    health_check: HealthCheck | None = Field(
        default_factory=HealthCheck,
        description=(
            "How each balancer node notices that a gateway died or came back (null = at once, an "
            "idealisation)."
        ),
    )

    layer: Literal["L4", "L7"] = Field(
        "L4",
        description="`L4` passes TCP through; `L7` terminates TLS and pays `tls_handshake_cost` per connect.",
    )
    balancer: BalancerName = Field(
        "consistent_hash", description="How a connection is assigned to a gateway."
    )
    virtual_nodes: PosInt = Field(160, description="Virtual nodes per gateway on the consistent-hash ring.")
    ring_placement: Literal["by_name", "per_replication"] = Field(
        "by_name",
        description=(
            "Where the hashing balancers place gateways: `by_name` hashes the gateway names only (the same "
            "ring in every run, as the live balancer by default), `per_replication` also hashes the "
            "replication number, so replications see different rings and the ring's spread shows in "
            "their interval."
        ),
    )
    idle_timeout: Duration | None = Field(
        "60s", description="The balancer cuts a connection silent for this long (null = never)."
    )
    path_idle_timeout: Duration | None = Field(
        None, description="Tightest idle timeout of a NAT or proxy on the client's path (null = none)."
    )
    tls_handshake_cost: Duration = Field(
        "1ms", description="CPU time per TLS termination on one L7 balancer node."
    )
    conntrack_max: PosInt | None = Field(
        262144,
        description=(
            "Connection-tracking table size of each balancer node; its new connections are dropped "
            "beyond it (null = not tracked)."
        ),
    )


# -------------------------------------------------------------------------------------------- gateways


class PerConnection(StrictModel):
    """Resources one open connection holds on a gateway."""

    kernel: ByteSize = Field("8KiB", description="Kernel socket buffers per connection.")
    tls: ByteSize = Field("20KiB", description="TLS state per connection.")
    app: ByteSize = Field("4KiB", description="Application state per connection (excluding the send queue).")
    fds: PosInt = Field(1, description="File descriptors per connection.")


class SendQueue(StrictModel):
    """The per-connection outbound queue and what happens when it is full."""

    limit: PosInt | None = Field(1000, description="Queue bound in messages (null = no message bound).")
    limit_bytes: ByteSize | None = Field(None, description="Queue bound in bytes (null = no byte bound).")
    overflow: OverflowName = Field(
        "drop_oldest",
        description=(
            "Policy when the queue is full: `unbounded` ignores the bounds, "
            "`drop_oldest`/`drop_newest` discard, "
            "`conflate` keeps the latest per key, `disconnect` closes the slow client, "
            "`credit` sends only within "
            "the client's credit window, `block` stalls the publisher."
        ),
    )
    credit: PosInt = Field(64, description="Credit window (messages in flight) for the `credit` policy.")
    gap_notice: bool = Field(
        True, description="Tell the client how many messages were dropped (a `gap` frame)."
    )
    path_buffer: ByteSize = Field(
        "0B",
        description="Bytes of a connection's messages held between the send queue and the reader "
        "(kernel socket buffers, proxies, the client library) before the queue grows; whole messages "
        "(0: the queue holds every unread message).",
    )


class Keepalive(StrictModel):
    """Protocol-level pings that detect dead peers and keep idle paths open."""

    ping_interval: Duration | None = Field(
        "25s", description="Gateway pings each connection this often (null = no pings)."
    )
    timeout: Duration | None = Field(
        None, description="A connection with no pong for this long is dead (null = 2 × `ping_interval`)."
    )

    @model_validator(mode="after")
    def _timeout_after_interval(self) -> Keepalive:
        if self.ping_interval is not None and self.ping_interval <= 0:
            raise ValueError("`ping_interval` must be positive (use null to disable pings)")
        if self.timeout is not None and self.ping_interval is not None and self.timeout <= self.ping_interval:
            raise ValueError(
                f"`timeout` ({self.timeout:g} s) must be greater than "
                f"`ping_interval` ({self.ping_interval:g} s)"
            )
        return self

    @property
    def effective_timeout(self) -> float | None:
        """The dead-peer timeout in seconds, defaulting to twice the ping interval."""
        if self.timeout is not None:
            return self.timeout
        return None if self.ping_interval is None else 2.0 * self.ping_interval


class Admission(StrictModel):
    """Admission control: a gateway refuses connections beyond these limits with HTTP 503 + Retry-After."""

    max_connections: PosInt | None = Field(
        None, description="Connections per gateway before refusing (null = no cap)."
    )
    handshake_rate: Rate | None = Field(
        None, description="Accepted handshakes per second per gateway (null = no cap)."
    )
    burst: float | None = Field(
        None,
        ge=1.0,
        description=(
            "Handshakes a gateway admits back to back after a quiet spell: the size of the token bucket "
            "that enforces `handshake_rate` (null = one second's worth, max(1, handshake_rate × 1 s))."
        ),
    )
    retry_after: Duration = Field("5s", description="Retry-After a refused client is told to wait.")

    def effective_burst(self) -> float | None:
        """The token bucket's size (None without a handshake rate)."""
        if self.handshake_rate is None:
            return None
        return self.burst if self.burst is not None else default_burst(self.handshake_rate)


class Cpu(StrictModel):
    """A gateway's CPU and what each kind of work costs on it.

    Defaults: the reference gateway (Python asyncio, `websockets` 17.4) on a 2-vCPU machine, where
    `broadcast()` of 100-byte frames reached 129k frames/s at 7.7 µs of server CPU per frame.
    """

    cores: PosInt = Field(
        1,
        description=(
            "Cores serving the gateway's work (accepts, TLS, backplane reads, fan-out writes, pings, "
            "compression) as one FIFO queue. 1: the reference gateway is one asyncio process."
        ),
    )
    frame: Duration = Field(
        "7.6us",
        description=(
            "CPU to write one frame to one socket, fixed part (with `per_byte`: 7.7 µs for a 100-byte "
            "frame, the reference gateway's `broadcast()` measured here)."
        ),
    )
    per_byte: Duration = Field(
        "0.001us", description="CPU per byte written to a socket (bytes on the wire: compressed, if it is)."
    )
    backplane_message: Duration = Field(
        "8.8us",
        description=(
            "CPU to receive one backplane message (1 / 113k: a Redis pub/sub subscriber with hiredis "
            "measured here)."
        ),
    )
    ping: Duration = Field(
        "15us",
        description="CPU per keepalive ping and its pong (two frames' worth: a write and a read).",
    )
    tls_full: Duration = Field(
        "0s",
        description=(
            "CPU per full TLS handshake when the gateway terminates TLS (`edge.layer: L4`); 0: "
            "`handshake_cost` stands for the whole accept (the reference gateway was measured without "
            "TLS). A first connect pays it."
        ),
    )
    tls_resumed: Duration = Field(
        "0s",
        description="CPU per resumed TLS handshake (session ticket) at the gateway: a reconnect pays it.",
    )
    deflate_per_byte: Duration = Field(
        "0.127us",
        description=(
            "CPU per byte compressed with permessage-deflate, per recipient (each connection has its own "
            "compressor): (1/49k − 1/129k) s over 100 bytes, `broadcast()` with and without compression "
            "measured here."
        ),
    )


class Compression(StrictModel):
    """permessage-deflate between the gateway and its clients."""

    enabled: bool = Field(False, description="Negotiate permessage-deflate with every client.")
    ratio: float = Field(
        0.4,
        gt=0.0,
        le=1.0,
        description="Compressed size / original size of a message, applied on the wire and in queues.",
    )
    memory: ByteSize = Field(
        "33.5KiB",
        description=(
            "Compressor state per connection (a bare `websockets` server here: 48.8 KiB per idle "
            "connection with compression negotiated, 15.3 KiB without)."
        ),
    )


class Gateways(StrictModel):
    """The WebSocket gateway tier."""

    count: PosInt = Field(4, description="Number of gateways.")
    memory: ByteSize = Field(
        "8GiB", description="Memory of one gateway; exceeding it is an out-of-memory crash."
    )
    base_memory: ByteSize = Field("256MiB", description="Memory a gateway uses with no connections.")
    fd_limit: PosInt = Field(
        1048576, description="File-descriptor limit per gateway; accepts beyond it fail (EMFILE)."
    )
    conntrack_max: PosInt | None = Field(
        262144,
        description=(
            "Connection-tracking table size of each gateway host (the Linux default is about 256k); new "
            "connections beyond it are dropped (null = not tracked)."
        ),
    )
    ephemeral_ports: PosInt = Field(
        28232,
        description=(
            "Source ports one gateway has towards one backplane server (per destination address and port)."
        ),
    )
    backplane_connections: PosInt = Field(
        65,
        description=(
            "Connections one gateway keeps to its backplane server: a command pool plus the subscription "
            "connection, on which every channel is multiplexed (the reference gateway: 64 + 1)."
        ),
    )
    per_connection: PerConnection = Field(default_factory=PerConnection, description="Per-connection budget.")
    send_queue: SendQueue = Field(default_factory=SendQueue, description="Per-connection send queue.")
    keepalive: Keepalive = Field(default_factory=Keepalive, description="Ping/pong keepalive.")
    handshake_cost: Duration = Field(
        "300us",
        description=(
            "CPU time per accepted handshake, served by `cpu.cores` with the gateway's other work: "
            "`cores / handshake_cost` is a gateway's maximum accept rate when it does nothing else."
        ),
    )
    handshake_cost_per_connection: Duration = Field(
        "0s",
        description=(
            "Extra CPU time per handshake for each connection the gateway already holds (a garbage-collected "
            "runtime's heap work grows with it): 0 for a tuned production gateway; about `0.019us` (19 ns) "
            "reproduces a Python gateway measured at 145 µs per handshake with 2k held and 296 µs with 10k."
        ),
    )
    admission: Admission = Field(default_factory=Admission, description="Admission control.")
    cpu: Cpu = Field(default_factory=Cpu, description="The gateway's CPU and the cost of each kind of work.")
    compression: Compression = Field(default_factory=Compression, description="permessage-deflate.")
    drain_timeout: Duration = Field("30s", description="Graceful drain on deploy: time clients get to move.")
    restart_delay: Duration = Field("10s", description="A crashed gateway comes back after this long.")

    @model_validator(mode="after")
    def _base_fits(self) -> Gateways:
        if self.base_memory >= self.memory:
            raise ValueError(
                f"`base_memory` ({self.base_memory} B) must be smaller than `memory` ({self.memory} B)"
            )
        return self


# ------------------------------------------------------------------------------------------- backplane


class Latency(StrictModel):
    """Lognormal latency given by its median and 99th percentile."""

    median: Duration = Field(description="Median latency.")
    p99: Duration = Field(description="99th-percentile latency (at least the median).")

    @model_validator(mode="after")
    def _p99_above_median(self) -> Latency:
        if self.p99 < self.median:
            raise ValueError(f"`p99` ({self.p99:g} s) must be at least `median` ({self.median:g} s)")
        return self


class Replay(StrictModel):
    """The backplane's replay window that resuming clients are served from."""

    max_messages: PosInt | None = Field(1000, description="Messages kept per room (null = no count bound).")
    max_age: Duration | None = Field("2min", description="Oldest message kept (null = no age bound).")
    max_per_resume: PosInt | None = Field(
        10000,
        description="Most messages replayed to one resuming client before it must resync (null = no cap).",
    )
    rate: Rate | None = Field(
        None,
        description=(
            "Messages per second the history serves to resuming clients and catching-up gateways, "
            "fleet-wide; a mass resume queues for it (null = no limit)."
        ),
    )


class Managed(StrictModel):
    """A managed pub/sub service priced per message and per connection-minute."""

    max_connections: PosInt | None = Field(None, description="Service connection limit (null = unlimited).")
    price_per_million_messages: float = Field(1.0, ge=0.0, description="USD per million messages.")
    price_per_connection_minute: float = Field(0.00000025, ge=0.0, description="USD per connection-minute.")


class Backplane(StrictModel):
    """The pub/sub backplane that carries publishes between gateways."""

    kind: BackplaneKind = Field(
        "in_memory",
        description=(
            "Backplane: `none` (single gateway), `in_memory`, `redis_pubsub` and `nats` (at-most-once), "
            "`redis_streams`, `jetstream` and `kafka` (durable, replayable; kafka is simulated only), "
            "`managed`."
        ),
    )
    topology: TopologyName = Field(
        "channel_per_room",
        description=(
            "`broadcast` sends every publish to every gateway, "
            "`channel_per_room` to gateways subscribed to the room, "
            "`sharded` to the room's shard channel, `registry` directly to the gateways holding members."
        ),
    )
    interest_routing: bool = Field(
        True, description="Gateways subscribe only to channels they hold members for."
    )
    shards: PosInt = Field(16, description="Shard channels for the `sharded` topology.")
    latency: Latency | None = Field(
        None, description="Publish-to-gateway latency (null = the kind's default)."
    )
    capacity: Rate | None = Field(
        None, description="Deliveries per second before the backplane saturates (null = the kind's default)."
    )
    replay: Replay = Field(default_factory=Replay, description="Replay window for resuming clients.")
    partitions: PosInt = Field(32, description="Partitions of the topic (kafka).")
    producer_buffer: ByteSize | None = Field(
        "32MiB",
        description=(
            "What an at-least-once producer on one gateway holds while the backplane is unreachable "
            "(the Kafka producer's `buffer.memory` default); it counts in the gateway's memory, and "
            "publications beyond it are lost (null = no bound)."
        ),
    )
    managed: Managed = Field(default_factory=Managed, description="Pricing and limits of the `managed` kind.")


# ------------------------------------------------------------------------------------------- transport


class Transport(StrictModel):
    """The client-server transport."""

    kind: TransportName = Field(
        "websocket", description="`websocket`, server-sent events `sse`, `long_poll`, or periodic `poll`."
    )
    poll_interval: Duration = Field("30s", description="Interval between requests for `poll`.")
    request_overhead: ByteSize = Field(
        "800B", description="HTTP headers and framing per request (poll, long_poll)."
    )
    direction: Literal["server_push", "bidirectional"] = Field(
        "bidirectional",
        description="Whether clients only receive (`server_push`) or also send (`bidirectional`).",
    )
    restrictive_proxies: Fraction = Field(
        0.0,
        description=(
            "Share of users behind corporate proxies or middleboxes that mishandle the WebSocket Upgrade "
            "or kill idle sockets (read by `wssim check`; the simulator does not model it)."
        ),
    )
    fallback: bool = Field(
        False,
        description=(
            "The client library falls back to long-polling where a WebSocket cannot be opened "
            "(Socket.IO, SockJS): read by `wssim check`."
        ),
    )


# ---------------------------------------------------------------------------------------------- faults


class GatewayCrash(StrictModel):
    """Gateways die at once; their clients are disconnected and reconnect."""

    kind: Literal["gateway_crash"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the fault happens, from the start of the run.")
    count: PosInt = Field(1, description="Number of gateways that crash.")
    gateway: NonNegInt | None = Field(
        None, description="Index of the first gateway to crash (null = chosen at random)."
    )
    restart: bool = Field(True, description="Crashed gateways restart after `gateways.restart_delay`.")


class Deploy(StrictModel):
    """A rolling restart of every gateway, one after another."""

    kind: Literal["deploy"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the deploy starts.")
    drain: bool = Field(True, description="Drain each gateway gracefully (close 1001) instead of killing it.")
    interval: Duration = Field("30s", description="Time between two gateway restarts.")


class BackplaneOutage(StrictModel):
    """The backplane is unreachable; a restart loses its non-durable state."""

    kind: Literal["backplane_outage"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the outage starts.")
    duration: Duration = Field(description="How long it lasts.")


class SubscriptionOutage(StrictModel):
    """Some gateways lose their backplane subscription and miss publishes."""

    kind: Literal["subscription_outage"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the outage starts.")
    duration: Duration = Field(description="How long it lasts.")
    gateways: PosInt = Field(1, description="Number of gateways affected.")


class Spike(StrictModel):
    """A burst of publishing and/or a wave of new connections."""

    kind: Literal["spike"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the spike starts.")
    duration: Duration = Field(description="How long it lasts.")
    publish_multiplier: float = Field(10.0, ge=0.0, description="Publish rate multiplier during the spike.")
    connect_clients: NonNegInt = Field(0, description="Extra clients that connect during the spike.")


class AddGateways(StrictModel):
    """Scale out: gateways join the balancer."""

    kind: Literal["add_gateways"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the gateways are added.")
    count: PosInt = Field(1, description="Number of gateways added.")


class RemoveGateways(StrictModel):
    """Scale in: gateways leave the balancer."""

    kind: Literal["remove_gateways"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the gateways are removed.")
    count: PosInt = Field(1, description="Number of gateways removed.")
    drain: bool = Field(True, description="Drain them gracefully instead of cutting connections.")


class HalfOpen(StrictModel):
    """Connected clients drop off the network at once without a FIN or RST (a carrier NAT or a Wi-Fi
    access point loses them): their sockets stay half-open on the gateways until keepalive notices."""

    kind: Literal["half_open"] = Field(description="Fault kind.")
    at: Duration = Field(description="When the clients vanish.")
    fraction: Fraction = Field(0.1, description="Share of the connected clients that vanish.")
    duration: Duration = Field("30s", description="How long they stay offline before reconnecting.")


Fault = Annotated[
    GatewayCrash
    | Deploy
    | BackplaneOutage
    | SubscriptionOutage
    | Spike
    | AddGateways
    | RemoveGateways
    | HalfOpen,
    Field(discriminator="kind"),
]
FAULT_MODELS: dict[str, type[StrictModel]] = {
    "gateway_crash": GatewayCrash,
    "deploy": Deploy,
    "backplane_outage": BackplaneOutage,
    "subscription_outage": SubscriptionOutage,
    "spike": Spike,
    "add_gateways": AddGateways,
    "remove_gateways": RemoveGateways,
    "half_open": HalfOpen,
}


# ------------------------------------------------------------------------------------ costs, alerts, live


class Costs(StrictModel):
    """Prices for the monthly cost estimate."""

    gateway_per_month: float = Field(350.0, ge=0.0, description="USD per gateway per month.")
    backplane_per_month: float = Field(500.0, ge=0.0, description="USD for the backplane per month.")
    headroom: float = Field(
        0.7, gt=0.0, le=1.0, description="Target utilisation: capacity is sized so peak load uses this share."
    )


class Alerts(StrictModel):
    """Alert thresholds; `alert_lead_time_s` is how early an alert fires before trouble."""

    send_queue_depth_p99: float | None = Field(
        100.0,
        ge=0.0,
        description="Alert when the p99 send-queue depth exceeds this many messages (null = off).",
    )


class Expectations(StrictModel):
    """What the design promises; `wssim check` judges the design against it (the simulator ignores it)."""

    lost_message_cost: LossCostName = Field(
        "unacceptable",
        description=(
            "What one lost message costs: `harmless` (presence, typing, cursors, scores: the next update "
            "supersedes it) or `unacceptable` (chat, orders, notifications). It picks the backplane and the "
            "overflow policy. Default `unacceptable`: a design that has not decided is reviewed as if every "
            "message matters."
        ),
    )
    loss_budget: Fraction | None = Field(
        None,
        description=(
            "Share of the deliveries owed while a fault plays out (a backplane blip, a crash, a deploy) that "
            "the design accepts losing. null: 0 when `lost_message_cost` is `unacceptable`, not judged "
            "when `harmless`."
        ),
    )
    latency_p99: Duration = Field(
        "1s",
        description=(
            "Publish-to-client latency the design promises at the 99th percentile, spikes included. "
            "Default 1 s: the bound under which the transport model calls traffic low-latency."
        ),
    )
    reconnect_within: Duration = Field(
        "60s",
        description=(
            "After a gateway dies (or a deploy), the fleet holds its connections again within this long. "
            "Default 60 s: the largest backoff cap the checklist recommends (30–60 s); a jittered client "
            "refused once tries again within one cap."
        ),
    )
    resync_budget: Fraction = Field(
        0.01,
        description=(
            "Share of resumes the replay window may fail to serve (the client then fetches a snapshot). "
            "Default 1%: a window that serves 99 resumes in 100."
        ),
    )
    monthly_budget: float | None = Field(
        None, ge=0.0, description="USD per month the fleet may cost (null = not judged)."
    )


class Simulation(StrictModel):
    """How the event model carries out the messaging (the fleet it models is the same)."""

    fanout: Literal["auto", "exact", "batched"] = Field(
        "auto",
        description=(
            "`exact`: every publication and delivery is an event of its own. `batched`: publications "
            "whose room and gateways are in a plain state (no half-open member, subscribed, nothing in "
            "flight or overflowing) are drawn and fanned out in vectorised steps, the rest stay exact "
            "(see the model page). `auto`: batched from `batched_from` publishes per second on, where "
            "it applies; exact otherwise. The run records the path taken (`fanout_path`)."
        ),
    )
    step: Duration = Field("10ms", gt=0.0, description="Time step of the batched path.")
    batched_from: float = Field(
        50_000.0,
        ge=0.0,
        description="Fleet-wide publishes per second (rate × clients) from which `auto` batches.",
    )


class Live(StrictModel):
    """Settings of the live reference run (`wssim crosscheck`)."""

    gateway_processes: PosInt = Field(2, description="Gateway processes to start.")
    loadgen_processes: PosInt = Field(2, description="Load-generator processes to start.")
    host: str = Field("127.0.0.1", description="Address to bind and connect to (keep it on loopback).")
    time_scale: float = Field(1.0, gt=0.0, description="Wall seconds per simulated second.")
    max_message_size: ByteSize = Field(
        "64KiB", description="Frames larger than this are refused (close 1009)."
    )
    token_ttl: Duration = Field(
        "1h",
        description="Lifetime of a client's connect token (wall clock; the run generates a fresh secret "
        "and mints every token itself). A gateway closes a connection whose token expired (1008).",
    )
    send_buffer: ByteSize | None = Field(
        None,
        description="Kernel send buffer (SO_SNDBUF) of each client socket of the gateways (null: the "
        "kernel's autotuning, which lets a slow reader's socket hold up to ~2.7 MiB here before the send "
        "queue sees any backpressure).",
    )


ToleranceName = Literal["exact", "interval", "relative", "rank"]


class Check(StrictModel):
    """One metric `wssim crosscheck` compares between the simulator and the live run, and how."""

    metric: str = Field(description="A summary metric both engines measure (see the metrics reference).")
    tolerance: ToleranceName = Field(
        description="`exact`: live equals the simulated run whose schedule it played (a count the "
        "schedule fixes); `interval`: live lies in the simulator's 95% prediction interval over "
        "replications; `relative`: live within `within` (a fraction) of the simulated run whose schedule "
        "it played; `rank`: "
        "the sweep points are in the same order by this metric in both engines."
    )
    within: float | None = Field(
        None, gt=0.0, description="The relative tolerance of `tolerance: relative` (0.2 = 20%)."
    )
    where: dict[str, Any] | None = Field(
        None,
        description="Only the sweep points with these swept values, e.g. "
        "`{clients.reconnect.strategy: full_jitter}` (null: every point).",
    )
    reason: str = Field(min_length=1, description="Why this tolerance: where its width comes from.")

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        from wssim.metrics import METRICS

        if name not in METRICS:
            close = difflib.get_close_matches(name, METRICS, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see docs/reference/metrics.md"
            raise ValueError(f"unknown metric `{name}`: {hint}")
        return name

    @model_validator(mode="after")
    def _within(self) -> Check:
        if (self.tolerance == "relative") != (self.within is not None):
            raise ValueError("`within` is required with `tolerance: relative` and allowed only with it")
        return self


class Crosscheck(StrictModel):
    """What `wssim crosscheck` compares for this scenario (unused by `wssim run`)."""

    checks: list[Check] = Field(
        default_factory=list,
        description="Metrics compared, each with its tolerance and reason; empty: every metric both "
        "engines measure is shown, none is judged.",
    )
    series: list[str] = Field(
        default_factory=lambda: ["handshakes", "connections"],
        description="Time series the overlay page draws for both engines.",
    )
    schedule: bool = Field(
        True,
        description="The live run plays the schedule simulator replication 0 drew (arrivals, rooms, "
        "offline episodes, slow consumers, publishes, faults), so both engines face the same events.",
    )


# ----------------------------------------------------------------------------------------------- sweep


class Sweep(RootModel[dict[str, Any]]):
    """A parameter grid, written flat in YAML: dotted path -> list of values, plus an optional `zip:`.

    Each plain key is one axis (cartesian product, in YAML order); the `zip:` mapping is one axis
    of paired values (equal-length lists). Paths and values are checked against the schema by
    :class:`Config`; values are stored normalised (SI numbers).
    """

    @model_validator(mode="after")
    def _shape(self) -> Sweep:
        problems = sweep_shape_problems(self.root)
        if problems:
            raise ValueError("; ".join(text for _, text in problems))
        return self

    @property
    def axes(self) -> dict[str, list[Any]]:
        """Plain (cartesian) axes in YAML order."""
        return {k: v for k, v in self.root.items() if k != "zip"}

    @property
    def zip(self) -> dict[str, list[Any]]:
        """Paired paths (one axis)."""
        return dict(self.root.get("zip") or {})

    def paths(self) -> list[str]:
        """Every swept dotted path, in YAML order."""
        return [p for k, v in self.root.items() for p in (v if k == "zip" else [k])]

    def groups(self) -> list[list[tuple[str, list[Any]]]]:
        """Axes in YAML order; each is a list of (path, values) whose values are paired by index."""
        return [list(v.items()) if k == "zip" else [(k, v)] for k, v in self.root.items()]

    def size(self) -> int:
        """Number of sweep points."""
        return math.prod(len(group[0][1]) for group in self.groups())


def sweep_shape_problems(root: Any) -> list[tuple[tuple[str, ...], str]]:
    """Structural problems of a sweep mapping: (location under ``sweep``, text)."""
    example = "e.g. `sweep: {gateways.count: [2, 4, 8]}`"
    if not isinstance(root, dict):
        return [((), f"`sweep` must be a mapping of dotted path -> list of values, {example}")]
    if not root:
        return [((), f"`sweep` is empty; give at least one dotted path -> list of values, {example}")]
    problems: list[tuple[tuple[str, ...], str]] = []
    for key, values in root.items():
        if key == "zip":
            if not isinstance(values, dict) or not values:
                problems.append(
                    (
                        ("zip",),
                        "`sweep.zip` must be a mapping of dotted path -> list of values (paired by index)",
                    )
                )
                continue
            for path, vals in values.items():
                if not isinstance(vals, list) or not vals:
                    problems.append((("zip", path), f"`sweep.zip.{path}` must be a non-empty list of values"))
            lengths = {path: len(v) for path, v in values.items() if isinstance(v, list)}
            if len(set(lengths.values())) > 1:
                shown = ", ".join(f"`{p}` has {n}" for p, n in lengths.items())
                problems.append((("zip",), f"`sweep.zip` lists must have equal lengths: {shown}"))
        elif not isinstance(values, list) or not values:
            problems.append(
                ((key,), f"sweep path `{key}` must map to a non-empty list of values, got {values!r}")
            )
    return problems


# ---------------------------------------------------------------------------------------------- config


class Config(StrictModel):
    """One scenario: the fleet, its workload, faults, and optionally a sweep over parameters."""

    name: str = Field("custom", description="Scenario name, used in output files and reports.")
    description: str = Field("", description="What the scenario shows.")
    seed: NonNegInt = Field(1, description="Root seed of every random stream.")
    duration: Duration = Field("60s", description="Simulated time of one run.")
    warmup: Duration = Field("0s", description="Steady-state metrics ignore samples before this time.")
    replications: PosInt = Field(
        1, description="Independent runs per sweep point (different random streams)."
    )
    interval: Duration = Field("1s", description="Bin width of the time series.")
    clients: Clients = Field(default_factory=Clients, description="The client population.")
    edge: Edge = Field(default_factory=Edge, description="Load balancer and network path.")
    gateways: Gateways = Field(default_factory=Gateways, description="The gateway tier.")
    backplane: Backplane = Field(default_factory=Backplane, description="The pub/sub backplane.")
    transport: Transport = Field(default_factory=Transport, description="The client transport.")
    faults: list[Fault] = Field(
        default_factory=list, description="Faults injected during the run, by `kind`."
    )
    costs: Costs = Field(default_factory=Costs, description="Prices for the cost estimate.")
    alerts: Alerts = Field(default_factory=Alerts, description="Alert thresholds.")
    expectations: Expectations = Field(
        default_factory=Expectations, description="What the design promises (judged by `wssim check`)."
    )
    simulation: Simulation = Field(
        default_factory=Simulation, description="How the event model runs (not what it models)."
    )
    live: Live = Field(default_factory=Live, description="Live reference run settings.")
    crosscheck: Crosscheck = Field(
        default_factory=Crosscheck, description="Metrics `wssim crosscheck` compares, with tolerances."
    )
    sweep: Sweep | None = Field(
        None, description="Parameter sweep: dotted path -> list of values, plus `zip:` for paired values."
    )

    @model_validator(mode="after")
    def _cross_fields(self) -> Config:
        if self.duration <= 0:
            raise ValueError("`duration` must be positive")
        if self.interval <= 0:
            raise ValueError("`interval` must be positive")
        if self.warmup >= self.duration:
            raise ValueError(
                f"`warmup` ({self.warmup:g} s) must be shorter than `duration` ({self.duration:g} s)"
            )
        for i, fault in enumerate(self.faults):
            if (
                isinstance(fault, GatewayCrash)
                and fault.gateway is not None
                and fault.gateway >= self.gateways.count
            ):
                raise ValueError(
                    f"`faults.{i}.gateway` is {fault.gateway} "
                    f"but gateways are numbered 0..{self.gateways.count - 1}"
                )
        policy = self.gateways.send_queue.overflow
        classes = self.clients.rooms.classes or []
        if policy in ("credit", "block") and any(c.overflow is not None for c in classes):
            raise ValueError(
                f"`gateways.send_queue.overflow` is `{policy}`, a policy of the whole connection: "
                "`clients.rooms.classes` cannot set their own `overflow` with it; remove theirs or pick "
                "a per-message policy (drop_oldest, drop_newest, conflate, disconnect, unbounded)"
            )
        if self.sweep is not None:
            # Lazy: sweep values are checked with the path and message helpers, which import this module.
            from wssim.config.sweeps import check_sweep_values

            base = self.model_dump(mode="json", exclude={"sweep"})
            problems, normalised = check_sweep_values(self.sweep.root, base)
            if problems:
                raise ValueError("; ".join(p.text for _, p in problems))
            self.sweep = Sweep(normalised)
        return self

    def without_sweep(self) -> Config:
        """A copy of this config with no sweep."""
        return self.model_copy(update={"sweep": None})
