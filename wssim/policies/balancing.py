"""Which gateway a new connection lands on.

A WebSocket is pinned to its gateway for its whole life, so the balancer decides once per connection
attempt. With a pub/sub backplane any gateway can serve any client, so what matters is an even spread
and how many clients must move when the gateway set changes:

=================  ============================================  ==================================
kind               pick                                          moved when a node is added (N→N+1)
=================  ============================================  ==================================
consistent_hash    first ring point clockwise of hash(key);      ≈ 1/(N+1), all to the new node
                   every node owns ``vnodes`` points
rendezvous         node with the highest hash(key, node)         ≈ 1/(N+1), all to the new node
modulo             nodes[hash(key) mod N]                        ≈ N/(N+1): nearly everyone
round_robin        next node in turn, key ignored                not key-stable
least_connections  node with the smallest ``load``               not key-stable
sticky             first node a key got, while it exists;        only keys of a removed node
                   else consistent hash
=================  ============================================  ==================================

Hashes are stable across processes and runs (:func:`stable_hash`: SplitMix64 for integer keys, 64-bit
BLAKE2b of ``str(key)`` otherwise; never Python's salted ``hash()``). Nodes are identified by
``str(node)``: give them distinct string forms. ``pick`` costs one hash plus a bisect for the ring and
the modulo, one hash plus N mixes for rendezvous, N lookups for least connections.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Mapping
from hashlib import blake2b
from typing import Any

BALANCERS: tuple[str, ...] = (
    "consistent_hash",
    "rendezvous",
    "modulo",
    "round_robin",
    "least_connections",
    "sticky",
)

_M64 = (1 << 64) - 1


def stable_hash(key: object) -> int:
    """A 64-bit hash that is the same in every process and run.

    Integers (client ids in the simulator) go through the SplitMix64 finalizer of ``key mod 2**64``;
    anything else is hashed as ``str(key)`` with BLAKE2b (8-byte digest). Never Python's ``hash()``,
    which is salted per process.
    """
    if type(key) is int:
        x = ((key & _M64) + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return x ^ (x >> 31)
    return int.from_bytes(blake2b(str(key).encode(), digest_size=8).digest(), "little")


def _mix_array(x: Any) -> Any:
    """SplitMix64 finalizer over a numpy uint64 array (wrapping arithmetic)."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def stable_hash_array(keys: Any) -> Any:
    """:func:`stable_hash` of an array of integer keys at once (numpy uint64 array, same values)."""
    import numpy as np

    return _mix_array(np.asarray(keys).astype(np.uint64))


class Balancer:
    """Common interface: ``pick(key, load=None) -> node``, ``add(node)``, ``remove(node)``, ``nodes``."""

    __slots__ = ("_nodes", "_tuple")
    kind = "balancer"

    def __init__(self, nodes: Iterable[Hashable]) -> None:
        self._nodes: list[Hashable] = []
        seen: set[str] = set()
        for node in nodes:
            name = str(node)
            if name in seen:
                raise ValueError(f"duplicate node {node!r}")
            seen.add(name)
            self._nodes.append(node)
        self._tuple: tuple[Hashable, ...] = tuple(self._nodes)

    @property
    def nodes(self) -> tuple[Hashable, ...]:
        """The current nodes, in the order they were added."""
        return self._tuple

    def __len__(self) -> int:
        return len(self._nodes)

    def _check_nonempty(self) -> None:
        if not self._nodes:
            raise LookupError(f"{self.kind}: no nodes to pick from")

    def add(self, node: Hashable) -> None:
        """Add a node (ValueError if it, or a node with the same ``str``, is already present)."""
        name = str(node)
        if any(str(n) == name for n in self._nodes):
            raise ValueError(f"node {node!r} is already present")
        self._nodes.append(node)
        self._tuple = tuple(self._nodes)
        self._added(node)

    def remove(self, node: Hashable) -> None:
        """Remove a node (KeyError if absent)."""
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._tuple = tuple(self._nodes)
        self._removed(node)

    def _added(self, node: Hashable) -> None:
        """Update derived state after :meth:`add` (default: rebuild)."""
        self._changed()

    def _removed(self, node: Hashable) -> None:
        """Update derived state after :meth:`remove` (default: rebuild)."""
        self._changed()

    def _changed(self) -> None:
        """Rebuild derived state after add/remove."""

    def pick(self, key: Hashable, load: Mapping[Hashable, int] | None = None) -> Hashable:
        raise NotImplementedError

    def pick_many(self, keys: Any) -> list[Hashable]:
        """:meth:`pick` for each key in turn (vectorized for integer keys where the kind allows)."""
        return [self.pick(k) for k in keys]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._nodes)!r})"


class HashRing(Balancer):
    """Consistent hashing with ``vnodes`` virtual points per node; bisect lookup on a sorted list.

    A node's points are hashes of its name (and ``salt``): the same ring in every process and run. A
    different ``salt`` places the same nodes elsewhere on the ring (another draw of the placement).
    """

    __slots__ = ("_owners", "_points", "salt", "vnodes")
    kind = "consistent_hash"

    def __init__(self, nodes: Iterable[Hashable], vnodes: int = 160, salt: str = "") -> None:
        if vnodes < 1:
            raise ValueError(f"vnodes must be >= 1, got {vnodes!r}")
        self.vnodes = vnodes
        self.salt = salt
        self._points: list[int] = []
        self._owners: list[Hashable] = []
        super().__init__(nodes)
        self._changed()

    def _node_points(self, node: Hashable) -> list[tuple[int, str, Hashable]]:
        name = str(node)
        return [(stable_hash(f"{self.salt}{name}#{i}"), name, node) for i in range(self.vnodes)]

    def _changed(self) -> None:
        ring = []
        for node in self._nodes:
            ring.extend(self._node_points(node))
        ring.sort(key=lambda p: (p[0], p[1]))  # equal points (never seen in 64 bits): by name
        self._points = [p[0] for p in ring]
        self._owners = [p[2] for p in ring]

    def _added(self, node: Hashable) -> None:
        """Insert the new node's points in place: O(V log M + V M) memmoves, no rehash of the others."""
        points, owners = self._points, self._owners
        for p, name, _ in self._node_points(node):
            i = bisect_left(points, p)
            while i < len(points) and points[i] == p and str(owners[i]) < name:
                i += 1
            points.insert(i, p)
            owners.insert(i, node)

    def _removed(self, node: Hashable) -> None:
        keep = [i for i, o in enumerate(self._owners) if o != node]
        self._points = [self._points[i] for i in keep]
        self._owners = [self._owners[i] for i in keep]

    def pick(self, key: Hashable, load: Mapping[Hashable, int] | None = None) -> Hashable:
        """The owner of the first ring point after hash(key), wrapping around."""
        points = self._points
        if not points:
            self._check_nonempty()
        i = bisect_right(points, stable_hash(key))
        return self._owners[i if i < len(points) else 0]

    def pick_many(self, keys: Any) -> list[Hashable]:
        """:meth:`pick` for many integer keys at once (vectorized with numpy; same answers)."""
        import numpy as np

        if not self._points:
            self._check_nonempty()
        points = np.array(self._points, dtype=np.uint64)
        idx = np.searchsorted(points, stable_hash_array(keys), side="right")
        idx[idx == len(points)] = 0
        owners = self._owners
        return [owners[i] for i in idx.tolist()]

    def shares(self) -> dict[Hashable, float]:
        """Fraction of the hash space each node owns (ideal: 1/N each)."""
        out: dict[Hashable, float] = dict.fromkeys(self._nodes, 0.0)
        points, owners = self._points, self._owners
        span = float(1 << 64)
        for i, p in enumerate(points):
            prev = points[i - 1] if i else points[-1] - (1 << 64)
            out[owners[i]] += (p - prev) / span
        return out


class Rendezvous(Balancer):
    """Highest random weight: every node scores hash(key, node); the best score wins."""

    __slots__ = ("_seeds", "salt")
    kind = "rendezvous"

    def __init__(self, nodes: Iterable[Hashable], salt: str = "") -> None:
        self._seeds: list[int] = []
        self.salt = salt
        super().__init__(nodes)
        self._changed()

    def _changed(self) -> None:
        self._seeds = [stable_hash(f"{self.salt}node:{node}") for node in self._nodes]

    def pick(self, key: Hashable, load: Mapping[Hashable, int] | None = None) -> Hashable:
        """The node maximizing SplitMix64(hash(key) xor seed(node))."""
        self._check_nonempty()
        h = stable_hash(key)
        best = -1
        best_i = 0
        for i, seed in enumerate(self._seeds):
            x = ((h ^ seed) + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            x ^= x >> 31
            if x > best:
                best, best_i = x, i
        return self._nodes[best_i]

    def pick_many(self, keys: Any) -> list[Hashable]:
        """:meth:`pick` for many integer keys at once (vectorized with numpy; same answers)."""
        import numpy as np

        self._check_nonempty()
        h = stable_hash_array(keys)
        best = np.zeros(h.shape, dtype=np.uint64)
        best_i = np.zeros(h.shape, dtype=np.int64)
        for i, seed in enumerate(self._seeds):
            x = _mix_array(h ^ np.uint64(seed))
            better = x > best
            best = np.where(better, x, best)
            best_i[better] = i
        nodes = self._nodes
        return [nodes[i] for i in best_i.tolist()]


class Modulo(Balancer):
    """``nodes[hash(key) % N]``: even, but adding a node remaps almost every key."""

    __slots__ = ()
    kind = "modulo"

    def pick(self, key: Hashable, load: Mapping[Hashable, int] | None = None) -> Hashable:
        self._check_nonempty()
        return self._nodes[stable_hash(key) % len(self._nodes)]

    def pick_many(self, keys: Any) -> list[Hashable]:
        """:meth:`pick` for many integer keys at once (vectorized with numpy; same answers)."""
        import numpy as np

        self._check_nonempty()
        idx = stable_hash_array(keys) % np.uint64(len(self._nodes))
        nodes = self._nodes
        return [nodes[i] for i in idx.tolist()]


class RoundRobin(Balancer):
    """Each pick takes the next node in turn; the key is ignored."""

    __slots__ = ("_next",)
    kind = "round_robin"

    def __init__(self, nodes: Iterable[Hashable]) -> None:
        self._next = 0
        super().__init__(nodes)

    def pick(self, key: Hashable = None, load: Mapping[Hashable, int] | None = None) -> Hashable:
        self._check_nonempty()
        i = self._next % len(self._nodes)
        self._next = i + 1
        return self._nodes[i]


class LeastConnections(Balancer):
    """The node with the fewest connections in ``load`` (ties: earliest node).

    Without ``load`` it counts its own picks (minus :meth:`release` calls) — right only if the caller
    reports every close; engines that know the real per-node connection counts should pass them.
    """

    __slots__ = ("_counts",)
    kind = "least_connections"

    def __init__(self, nodes: Iterable[Hashable]) -> None:
        self._counts: dict[Hashable, int] = {}
        super().__init__(nodes)

    def pick(self, key: Hashable = None, load: Mapping[Hashable, int] | None = None) -> Hashable:
        self._check_nonempty()
        counts = self._counts if load is None else load
        best = None
        best_load = 0
        for node in self._nodes:
            n = counts.get(node, 0)
            if best is None or n < best_load:
                best, best_load = node, n
        if load is None:
            self._counts[best] = best_load + 1
        return best

    def release(self, node: Hashable) -> None:
        """A connection on ``node`` closed (only needed when no ``load`` is passed to :meth:`pick`)."""
        n = self._counts.get(node, 0)
        if n > 0:
            self._counts[node] = n - 1

    def _changed(self) -> None:
        for node in list(self._counts):
            if node not in self._nodes:
                del self._counts[node]


class Sticky(Balancer):
    """A key keeps the first node it got while that node exists; new or orphaned keys use a hash ring.

    It remembers one entry per key ever picked: call :meth:`forget` when a session ends for good.
    """

    __slots__ = ("_assigned", "_live", "_ring")
    kind = "sticky"

    def __init__(self, nodes: Iterable[Hashable], vnodes: int = 160, salt: str = "") -> None:
        self._assigned: dict[Hashable, Hashable] = {}
        nodes = list(nodes)
        self._ring = HashRing(nodes, vnodes, salt)
        super().__init__(nodes)
        self._live = set(self._nodes)

    def _added(self, node: Hashable) -> None:
        self._live.add(node)
        self._ring.add(node)

    def _removed(self, node: Hashable) -> None:
        self._live.discard(node)
        self._ring.remove(node)

    def pick(self, key: Hashable, load: Mapping[Hashable, int] | None = None) -> Hashable:
        node = self._assigned.get(key)
        if node is not None and node in self._live:
            return node
        node = self._ring.pick(key)
        self._assigned[key] = node
        return node

    def forget(self, key: Hashable) -> None:
        """Drop a key's affinity (its session ended)."""
        self._assigned.pop(key, None)


def make_balancer(kind: str, nodes: Iterable[Hashable], vnodes: int = 160, salt: str = "") -> Balancer:
    """A balancer of ``kind`` (one of :data:`BALANCERS`) over ``nodes``; ``salt`` re-draws the
    placement of the hashing kinds (``consistent_hash``, ``rendezvous``, ``sticky``)."""
    if kind == "consistent_hash":
        return HashRing(nodes, vnodes, salt)
    if kind == "rendezvous":
        return Rendezvous(nodes, salt)
    if kind == "modulo":
        return Modulo(nodes)
    if kind == "round_robin":
        return RoundRobin(nodes)
    if kind == "least_connections":
        return LeastConnections(nodes)
    if kind == "sticky":
        return Sticky(nodes, vnodes, salt)
    raise ValueError(f"unknown balancer {kind!r}; choose one of {', '.join(BALANCERS)}")
