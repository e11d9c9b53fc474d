"""The edge: the load balancer in front of the gateways and the stateful boxes on the path.

The balancer is a :mod:`wssim.policies.balancing` policy over the gateways in service (a crashed or
draining gateway fails its health check and leaves the pool until it is back). An L7 balancer
terminates TLS: every handshake also queues on its CPU (``tls_handshake_cost`` per connection); an L4
balancer only forwards. A conntrack table on the path tracks every open connection: when it is full a
new SYN is dropped silently (the client sees a timeout and backs off). A ``managed`` service enforces
its provider's connection limit here (503 + Retry-After).
"""

from __future__ import annotations

from typing import Any

from wssim.policies import make_balancer
from wssim.sim.gateway import REFUSED, UNAVAILABLE

DROPPED = -1  # SYN dropped (conntrack full): not a gateway outcome


def node_name(gid: int) -> str:
    """The balancer's name of gateway ``gid`` (the live harness names its gateways the same way)."""
    return f"g{gid}"


def client_key(c: int) -> str:
    """The routing key of client ``c`` (the live load generator's ``?key=c<ID>``)."""
    return f"c{c}"


class Edge:
    """Balancer pool, L7 TLS termination queue, conntrack table.

    The balancer sees gateways as ``g<ID>`` and clients as ``c<ID>``, like the live reference run, so
    both engines put the same client on the same gateway.
    """

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        self.world = world
        self.kind = cfg.edge.balancer
        self.vnodes = cfg.edge.virtual_nodes
        self.ids = {node_name(g.id): g.id for g in world.gateways}
        in_service = [node_name(g.id) for g in world.gateways if g.up]
        self.balancer = make_balancer(self.kind, in_service, self.vnodes)
        self.load: dict[str, int] = dict.fromkeys(in_service, 0)
        self.l7 = cfg.edge.layer == "L7"
        self.tls_cost = cfg.edge.tls_handshake_cost
        self.lb_free = 0.0
        self.conntrack_max = cfg.edge.conntrack_max
        self.tracked = 0
        self._needs_load = self.kind == "least_connections"
        bp = cfg.backplane
        self.service_limit = bp.managed.max_connections if bp.kind == "managed" else None

    def pool(self) -> list[int]:
        """Ids of the gateways in the balancer's pool, in its order."""
        return [self.ids[n] for n in self.balancer.nodes]

    def add(self, gid: int) -> None:
        """Gateway ``gid`` passes its health check: back in the pool."""
        name = node_name(gid)
        if name not in self.balancer.nodes:
            self.balancer.add(name)
        self.load[name] = self.world.gateways[gid].n

    def remove(self, gid: int) -> None:
        """Gateway ``gid`` fails its health check or is drained: out of the pool."""
        name = node_name(gid)
        if name in self.balancer.nodes:
            self.balancer.remove(name)
        self.load.pop(name, None)

    def opened(self, gw: Any) -> None:
        """A socket opened on ``gw`` (conntrack entry, balancer load)."""
        self.tracked += 1
        if self._needs_load and gw.name in self.load:
            self.load[gw.name] += 1

    def closed(self, gw: Any) -> None:
        """A socket on ``gw`` closed."""
        self.tracked -= 1
        if self._needs_load and gw.name in self.load:
            self.load[gw.name] -= 1

    def forget(self, gw: Any) -> None:
        """``gw`` died: every socket it held is gone from the conntrack table at once."""
        self.tracked -= gw.n

    def connect(self, c: int, now: float) -> tuple[int, int, float]:
        """Client ``c`` opens a connection: (outcome, gateway id or -1, established time)."""
        w = self.world
        if self.conntrack_max is not None and self.tracked >= self.conntrack_max:
            w.rec.count("conntrack_drops")
            return DROPPED, -1, now
        if self.service_limit is not None and self.tracked >= self.service_limit:
            w.rec.count("admission_rejections")
            return UNAVAILABLE, -1, now
        bal = self.balancer
        if not bal.nodes:
            return REFUSED, -1, now
        key = f"c{c}"
        g = self.ids[bal.pick(key, self.load) if self._needs_load else bal.pick(key)]
        t = now
        if self.l7:
            start = self.lb_free if self.lb_free > now else now
            t = start + self.tls_cost
            self.lb_free = t
            w.rec.count("l7_tls_terminations")
        outcome, done = w.gateways[g].accept(c, t)
        return outcome, g, done

    def moved_fraction(self, before: list[int], after: list[int], sample: list[int]) -> float:
        """Share of ``sample`` clients whose pick changes when the pool goes from ``before`` to ``after``.

        Fresh balancers are built for the comparison, so the live one's state is untouched.
        """
        if not sample or not before or not after:
            return float("nan")
        b0 = make_balancer(self.kind, [node_name(g) for g in before], self.vnodes)
        b1 = make_balancer(self.kind, [node_name(g) for g in after], self.vnodes)
        load = dict(self.load)
        moved = sum(1 for c in sample if b0.pick(client_key(c), load) != b1.pick(client_key(c), load))
        return moved / len(sample)
