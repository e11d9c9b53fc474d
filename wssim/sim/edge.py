"""The edge: the balancer nodes in front of the gateways and the stateful boxes on the path.

Clients reach the gateways through ``edge.nodes`` balancer nodes; client ``c`` always goes through node
``c mod nodes`` (DNS or ECMP spreads clients evenly and keeps each on its node). Every node has

* its own pool: a :mod:`wssim.policies.balancing` policy over the gateways its health checks
  (:mod:`wssim.sim.health`) consider healthy. A crashed gateway stays in the pool until the node
  notices, and the connections it picks meanwhile are refused;
* its own conntrack table (``edge.conntrack_max``): when full, its new SYNs are dropped silently;
* with ``layer: L7``, its own TLS termination: a FIFO server of ``tls_handshake_cost`` per handshake,
  and the TLS session and both sockets' buffers of every connection through it in its memory.

Gateway hosts have their own conntrack tables (``gateways.conntrack_max``, checked by the gateway's
accept). A ``managed`` service enforces its provider's connection limit here (503 + Retry-After).
"""

from __future__ import annotations

from typing import Any

from wssim.policies import make_balancer
from wssim.sim.gateway import DROPPED, REFUSED, UNAVAILABLE
from wssim.sim.health import HealthChecks

__all__ = ["DROPPED", "Edge", "client_key", "node_name", "ring_salt"]


def node_name(gid: int) -> str:
    """The balancer's name of gateway ``gid`` (the live harness names its gateways the same way)."""
    return f"g{gid}"


def client_key(c: int) -> str:
    """The routing key of client ``c`` (the live load generator's ``?key=c<ID>``)."""
    return f"c{c}"


def ring_salt(config: Any, replication: int) -> str:
    """The salt of the hashing balancers' placement (``edge.ring_placement``), in both engines."""
    return f"r{replication}/" if config.edge.ring_placement == "per_replication" else ""


class EdgeNode:
    """One balancer node: its pool, TLS server, and the connections it tracks (per gateway)."""

    __slots__ = ("balancer", "conns", "load", "peak", "tls_free", "via")

    def __init__(self, balancer: Any, gateways: int) -> None:
        self.balancer = balancer
        self.load: dict[str, int] = dict.fromkeys(balancer.nodes, 0)
        self.tls_free = 0.0
        self.conns = 0
        self.peak = 0
        self.via = [0] * gateways  # connections through this node to each gateway


class Edge:
    """Balancer nodes, their health checks, L7 TLS termination and conntrack tables.

    The balancer sees gateways as ``g<ID>`` and clients as ``c<ID>``, like the live reference run, so
    both engines put the same client on the same gateway.
    """

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        e = cfg.edge
        self.world = world
        self.kind = e.balancer
        self.vnodes = e.virtual_nodes
        self.ids = {node_name(g.id): g.id for g in world.gateways}
        in_service = [node_name(g.id) for g in world.gateways if g.up]
        n = len(world.gateways)
        self.salt = ring_salt(cfg, world.replication)
        self.nodes = [
            EdgeNode(make_balancer(self.kind, in_service, self.vnodes, self.salt), n) for _ in range(e.nodes)
        ]
        self.l7 = e.layer == "L7"
        self.tls_cost = e.tls_handshake_cost
        pc = cfg.gateways.per_connection
        self.node_bytes = pc.tls + 2 * pc.kernel if self.l7 else 0  # TLS session + both sockets' buffers
        self.conntrack_max = e.conntrack_max
        self.total = 0
        self._needs_load = self.kind == "least_connections"
        bp = cfg.backplane
        self.service_limit = bp.managed.max_connections if bp.kind == "managed" else None
        registered = [g.up for g in world.gateways]
        self.health = HealthChecks(world, e.nodes, registered) if e.health_check is not None else None

    def start(self) -> None:
        """Start the health checks (nothing to do when failures are noticed at once)."""
        if self.health is not None:
            self.health.start()

    def node_of(self, c: int) -> int:
        """The balancer node client ``c`` goes through."""
        return c % len(self.nodes)

    def pool(self, node: int = 0) -> list[int]:
        """Ids of the gateways in one node's pool, in its order."""
        return [self.ids[n] for n in self.nodes[node].balancer.nodes]

    # -- pool membership --------------------------------------------------------------------
    def admit(self, node: int, gid: int) -> None:
        """Gateway ``gid`` enters ``node``'s pool."""
        nd = self.nodes[node]
        name = node_name(gid)
        if name not in nd.balancer.nodes:
            nd.balancer.add(name)
        nd.load[name] = nd.via[gid]

    def evict(self, node: int, gid: int) -> None:
        """Gateway ``gid`` leaves ``node``'s pool."""
        nd = self.nodes[node]
        name = node_name(gid)
        if name in nd.balancer.nodes:
            nd.balancer.remove(name)
        nd.load.pop(name, None)

    def register(self, gid: int) -> None:
        """A new gateway is registered with every node (scale-out): in the pools at once."""
        if self.health is not None:
            self.health.register(gid)
        for node in range(len(self.nodes)):
            self.admit(node, gid)

    def deregister(self, gid: int) -> None:
        """A gateway is removed from every node (scale-in): out of the pools at once."""
        if self.health is not None:
            self.health.deregister(gid)
        for node in range(len(self.nodes)):
            self.evict(node, gid)

    def died(self, gid: int) -> None:
        """Gateway ``gid`` crashed: the health checks will notice (at once without them)."""
        if self.health is None:
            self.deregister(gid)

    def draining(self, gid: int) -> None:
        """Gateway ``gid`` answers 503 while it drains: the health checks will notice."""
        if self.health is None:
            self.deregister(gid)

    def started(self, gid: int) -> None:
        """Gateway ``gid`` (re)started: it rejoins after ``rise`` answered probes (at once without them)."""
        if self.health is None:
            self.register(gid)

    # -- conntrack and memory ---------------------------------------------------------------
    def opened(self, gw: Any, c: int) -> None:
        """Client ``c`` opened a socket on ``gw`` (conntrack entry, balancer load, TLS memory)."""
        nd = self.nodes[c % len(self.nodes)]
        nd.conns += 1
        nd.via[gw.id] += 1
        if nd.conns > nd.peak:
            nd.peak = nd.conns
        self.total += 1
        if self._needs_load and gw.name in nd.load:
            nd.load[gw.name] += 1

    def closed(self, gw: Any, c: int) -> None:
        """Client ``c``'s socket on ``gw`` closed."""
        nd = self.nodes[c % len(self.nodes)]
        nd.conns -= 1
        nd.via[gw.id] -= 1
        self.total -= 1
        if self._needs_load and gw.name in nd.load:
            nd.load[gw.name] -= 1

    def forget(self, gw: Any) -> None:
        """``gw`` died: every socket it held leaves the nodes' tables at once."""
        for nd in self.nodes:
            nd.conns -= nd.via[gw.id]
            self.total -= nd.via[gw.id]
            nd.via[gw.id] = 0
            if gw.name in nd.load:
                nd.load[gw.name] = 0

    def memory_peak(self) -> int:
        """Most memory one balancer node held for its connections (TLS and socket buffers; 0 for L4)."""
        return max(nd.peak for nd in self.nodes) * self.node_bytes

    # -- connecting -------------------------------------------------------------------------
    def _pick(self, node: int, c: int, now: float) -> int:
        """The gateway ``node`` sends client ``c`` to (-1: empty pool); a passive check skips dead ones."""
        nd = self.nodes[node]
        bal, ids = nd.balancer, self.ids
        gws = self.world.gateways
        key = client_key(c)
        while bal.nodes:
            gid = ids[bal.pick(key, nd.load) if self._needs_load else bal.pick(key)]
            if gws[gid].serving:  # up, or draining (answers 503)
                return gid
            if self.health is None or not self.health.refused(node, gid, now):
                self.world.rec.count("connects_to_dead_gateway")
                return gid
        return -1

    def connect(self, c: int, now: float, resumed: bool = False) -> tuple[int, int, float]:
        """Client ``c`` opens a connection: (outcome, gateway id or -1, established time).

        ``resumed``: a reconnect (a gateway terminating TLS resumes its session)."""
        w = self.world
        node = c % len(self.nodes)
        nd = self.nodes[node]
        if self.conntrack_max is not None and nd.conns >= self.conntrack_max:
            w.rec.count("conntrack_drops")
            return DROPPED, -1, now
        if self.service_limit is not None and self.total >= self.service_limit:
            w.rec.count("admission_rejections")
            return UNAVAILABLE, -1, now
        gid = self._pick(node, c, now)
        if gid < 0:
            return REFUSED, -1, now
        t = now
        if self.l7:
            start = nd.tls_free if nd.tls_free > now else now
            t = nd.tls_free = start + self.tls_cost
            w.rec.count("l7_tls_terminations")
        outcome, done = w.gateways[gid].accept(c, t, resumed)
        return outcome, gid, done
