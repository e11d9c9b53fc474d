"""The numbers of a design: closed forms on the config that every static check reads.

Traffic (per second, fleet-wide unless named per node). ``n`` clients each join ``k`` of ``R`` rooms and
publish ``r`` messages/s, a share ``d`` of them 1:1 direct messages; a room then has ``m = n·k/R``
members and receives ``n·r·(1−d)/R`` publications/s; a client receives ``k`` rooms' publications plus
``r·d`` direct messages; deliveries to clients are ``n·r·(1−d)·m + n·r·d``. Rooms are taken as equal
(the average room): Zipf popularity makes some rooms bigger than that, which the probes see.

Load per gateway. The busiest gateway holds the largest share of connections the balancer gives it: the
largest arc of the consistent-hash ring (``HashRing.shares``) for ``consistent_hash`` and ``sticky``,
``1/G`` for the others. When it dies its clients spread over the survivors, whose busiest then holds
the largest share of the ring without it.

Backplane. A room publication reaches ``G·(1−(1−1/G)^m)`` gateways in expectation with interest routing
(``channel_per_room``, ``registry``), every gateway with ``broadcast``, the holders of its shard with
``sharded`` (a shard of ``R/S`` rooms has ``m·R/S`` members). A gateway holds
``gateways.backplane_connections`` connections to its backplane server (channels are multiplexed on
them), none for ``none`` and ``in_memory``.

Gateway CPU: the simulator's CPU model (``gateways.cpu``, :class:`wssim.sim.cpu.FanoutCosts`): a publication
costs a gateway ``backplane_message`` once and ``frame + per_byte × bytes`` (plus compression) per member
it delivers to; pings cost ``ping`` per connection per ping interval; ``cores`` serve it all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from wssim.analytic.transports import Requirement, TransportCost, transport_cost
from wssim.analytic.transports import from_config as transport_inputs
from wssim.policies import ConnectionBudget, HashRing, tightest
from wssim.policies.rooms import apportion
from wssim.sim.backplane import AT_MOST_ONCE, KIND_DEFAULTS
from wssim.sim.cpu import FanoutCosts, write_cost
from wssim.sim.history import KEEPS_HISTORY
from wssim.sim.roomtable import RoomTable

PORTS_PER_SOURCE_IP = 28_232
"""Ephemeral ports per (source IP, destination IP:port), measured on the reference machine."""
SAFE_CONNECTIONS_PER_NODE = 500_000
"""The checklist's safe, operable target for one node: 200k–500k connections, not the theoretical max."""


def reach(gateways: int, members: float) -> float:
    """Expected gateways holding at least one of ``members`` clients spread uniformly over ``gateways``."""
    if gateways <= 0 or members <= 0:
        return 0.0
    return gateways * -math.expm1(members * math.log1p(-1.0 / gateways)) if gateways > 1 else 1.0


def balancer_shares(config: Any, gateways: int | None = None) -> tuple[float, float]:
    """(busiest share of connections with every gateway up, busiest survivor's share after it dies)."""
    edge = config.edge
    return _shares(edge.balancer, edge.virtual_nodes, gateways or config.gateways.count)


@lru_cache(maxsize=256)
def _shares(balancer: str, vnodes: int, g: int) -> tuple[float, float]:
    if balancer not in ("consistent_hash", "sticky"):
        return 1.0 / g, (1.0 / (g - 1) if g > 1 else math.inf)
    names = [f"g{i}" for i in range(g)]
    shares = HashRing(names, vnodes).shares()
    busiest = max(shares, key=shares.__getitem__)
    if g == 1:
        return 1.0, math.inf
    survivors = HashRing([n for n in names if n != busiest], vnodes).shares()
    return shares[busiest], max(survivors.values())


@dataclass(frozen=True)
class Figures:
    """Closed-form numbers of one design (SI units; rates per second)."""

    clients: int
    gateways: int
    held: float  # connections a client holds (1 for held transports, less for a poll)
    transport: TransportCost
    conn_bytes: int
    fds: int
    share: float  # busiest gateway's share of the connections, all up
    share_one_down: float  # busiest survivor's share after the busiest dies
    memory_cap: int  # connections one gateway holds at `costs.headroom` of its memory
    memory_full: int  # ... at all of its memory
    members: float  # per room
    room_rate: float  # publications per room
    arrival: float  # messages into one client's queue
    publishes: float
    deliveries: float
    message_size: float  # bytes of the mean message delivered (room classes: weighted by deliveries)
    backplane: float  # backplane deliveries (per gateway reached)
    useful_backplane: float  # ... to gateways holding a member
    capacity: float | None  # backplane deliveries/s before it saturates (None: unbounded)
    upstream: int  # connections one gateway holds to the backplane server (ephemeral ports, fds)
    accept_rate: float  # handshakes/s one gateway admits (handshake CPU and admission control)
    keeps_history: bool
    at_most_once: bool
    pings_per_connection: float  # ping frames per second per connection
    cores: int  # a gateway's cores (gateways.cpu.cores)
    cpu_per_delivery: float  # CPU-s to write one message to one socket (frame, bytes, compression)
    cpu_per_message: float  # CPU-s to receive one publication from the backplane, once per gateway
    cpu_per_ping: float  # CPU-s per ping and its pong

    @property
    def connections(self) -> float:
        return self.clients * self.held

    @property
    def per_node(self) -> float:
        return self.connections * self.share

    @property
    def per_node_one_down(self) -> float:
        return self.connections * self.share_one_down

    def cpu_parts(self, connections: float, multiplier: float = 1.0) -> dict[str, float]:
        """CPU seconds per second of a gateway holding ``connections`` (publish rate × ``multiplier``),
        by kind of work: writes to its sockets, messages from the backplane, pings."""
        share = connections / self.connections if self.connections else 0.0
        return {
            "writes": self.deliveries * multiplier * share * self.cpu_per_delivery,
            "backplane": self.backplane * multiplier * share * self.cpu_per_message,
            "pings": connections * self.pings_per_connection * self.cpu_per_ping,
        }

    def cpu(self, connections: float, multiplier: float = 1.0) -> float:
        """CPU seconds per second of a gateway holding ``connections``: the sum of :meth:`cpu_parts`."""
        return sum(self.cpu_parts(connections, multiplier).values())


def class_traffic(config: Any) -> tuple[float, float, float, float, float]:
    """With room classes: (publications/s, publications/s into one room of the busiest class, deliveries/s
    including direct ones, mean bytes and CPU of a delivered message). A room of class ``c`` holds on
    average ``s·E[m_c]`` members and gets ``λ_c·s·E[m_c]`` publications/s, each to its members:
    ``λ_c·s²·E[m_c²]`` deliveries/s per room (``s`` scales the rooms' mean sizes to the clients'
    memberships, as the room assignment does)."""
    c = config.clients
    classes = c.rooms.classes
    counts = apportion(np.asarray([x.share for x in classes]), c.rooms.count).tolist()
    held = sum(r * x.size_moment(1) for r, x in zip(counts, classes, strict=True))
    s = c.count * c.rooms.per_client / held if held else 0.0
    rt = RoomTable(config)
    pubs, dels, busiest, nbytes, cpu = 0.0, 0.0, 0.0, 0.0, 0.0
    for i, (r, x) in enumerate(zip(counts, classes, strict=True)):
        rate = rt.rate[i]
        pubs += r * rate * s * x.size_moment(1)
        d = r * rate * s * s * x.size_moment(2)
        dels += d
        nbytes += d * rt.size[i]
        cpu += d * rt.write[i]
        busiest = max(busiest, rate * s * x.size_moment(1))
    direct = c.direct_fraction
    room_dels, direct_dels = dels * (1 - direct), pubs * direct
    total = room_dels + direct_dels
    size = (nbytes * (1 - direct) + direct_dels * c.message_size) / total if total else float(c.message_size)
    write = (cpu * (1 - direct) + direct_dels * write_cost(config)) / total if total else write_cost(config)
    return pubs, busiest * (1 - direct), total, size, write


def figures(config: Any) -> Figures:
    """The :class:`Figures` of ``config``."""
    c, g, bp = config.clients, config.gateways, config.backplane
    n, G = c.count, g.count
    pc = g.per_connection
    budget = ConnectionBudget(pc.kernel, pc.tls, pc.app, pc.fds)
    share, share_down = balancer_shares(config)
    k, R = c.rooms.per_client, c.rooms.count
    members = n * k / R if R else 0.0
    publishes = n * c.publish_rate
    room_pubs, direct = publishes * (1 - c.direct_fraction), publishes * c.direct_fraction
    room_rate = room_pubs / R if R else 0.0
    deliveries = room_pubs * members + direct
    arrival = k * room_rate + c.publish_rate * c.direct_fraction
    fanout = FanoutCosts(config)
    size, write = c.message_size, fanout.write
    if c.rooms.classes is not None:
        publishes, room_rate, deliveries, size, write = class_traffic(config)
        room_pubs, direct = publishes * (1 - c.direct_fraction), publishes * c.direct_fraction
        arrival = deliveries / n if n else 0.0
    broadcast = bp.topology == "broadcast" or not bp.interest_routing
    if bp.kind == "none":
        hit = 1.0
    elif broadcast:
        hit = float(G)
    elif bp.topology == "sharded":
        hit = reach(G, members * R / min(R, bp.shards))
    else:
        hit = reach(G, members)
    capacity = bp.capacity if bp.capacity is not None else KIND_DEFAULTS[bp.kind][2]
    req, overheads, _ = transport_inputs(config)
    poll = config.transport.poll_interval if config.transport.kind == "poll" else None
    cost = transport_cost(config.transport.kind, replace_latency(req, config), overheads, poll)
    admission = g.admission.handshake_rate
    accept = 1.0 / g.handshake_cost if g.handshake_cost > 0 else math.inf
    ping = g.keepalive.ping_interval
    return Figures(
        clients=n,
        gateways=G,
        held=cost.open_connections,
        transport=cost,
        conn_bytes=budget.bytes,
        fds=pc.fds,
        share=share,
        share_one_down=share_down,
        memory_cap=int(budget.ceilings(g.memory, g.base_memory, 2**62, config.costs.headroom)["memory"]),
        memory_full=int(budget.ceilings(g.memory, g.base_memory, 2**62)["memory"]),
        members=members,
        room_rate=room_rate,
        arrival=arrival,
        publishes=publishes,
        deliveries=deliveries,
        message_size=size,
        backplane=room_pubs * hit + direct * (G if broadcast else 1.0),
        useful_backplane=room_pubs * reach(G, members) + direct,
        capacity=capacity,
        upstream=0 if bp.kind in ("none", "in_memory") else g.backplane_connections,
        accept_rate=min(accept, admission if admission is not None else math.inf),
        keeps_history=KEEPS_HISTORY[bp.kind],
        at_most_once=bp.kind in AT_MOST_ONCE,
        pings_per_connection=1.0 / ping if ping else 0.0,
        cores=g.cpu.cores,
        cpu_per_delivery=write,
        cpu_per_message=fanout.message,
        cpu_per_ping=g.cpu.ping,
    )


def replace_latency(req: Requirement, config: Any) -> Requirement:
    """The design's requirement with its promised p99 latency as the acceptable latency."""
    return replace(req, max_latency=config.expectations.latency_p99)


def path_timeouts(config: Any) -> dict[str, float]:
    """Every idle timeout on the path that is set: ``{"edge.idle_timeout": 60.0, ...}``."""
    e = config.edge
    found = {"edge.idle_timeout": e.idle_timeout, "edge.path_idle_timeout": e.path_idle_timeout}
    return {k: v for k, v in found.items() if v is not None}


def tightest_timeout(config: Any) -> float | None:
    """The tightest idle timeout on the path (None: nothing cuts idle sockets)."""
    return tightest(*path_timeouts(config).values())
