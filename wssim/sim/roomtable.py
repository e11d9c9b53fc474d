"""Per-room attributes in one place: each room's class, and each class's traffic and overflow policy.

Without ``clients.rooms.classes`` every room is of one implicit class built from the ``clients`` and
``gateways.send_queue`` fields, and membership is :func:`wssim.policies.assign_rooms` (popularity).
With classes, the rooms are split by share (class 0's rooms first), each room's size is drawn from its
class, and the ``clients × per_client`` memberships are apportioned to the rooms in proportion to the
drawn sizes (:func:`wssim.policies.rooms.fill_rooms`). Fixed sizes hold exactly, the drawn ones take
up the difference between what they drew and what the clients make (the config requires the rooms at
their mean sizes to agree with the clients' memberships within 10%); with fixed sizes only, every
room is scaled alike when they do not add up exactly.

Per class: the publish rate of a member to one of its rooms, the message size, its bytes on the wire,
the CPU to write it to one member, the overflow policy and its bound on a fast member's backlog, the
conflation keys. Per room (lists for the exact path, indexed by room; ``cls`` as an array for
vectorised code): the class, and those attributes of its class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wssim.policies.rooms import apportion, assign_rooms, draw_sizes, fill_rooms, split_rooms
from wssim.sim.cpu import backlog_bound, wire_size, write_cost


class RoomTable:
    """Each room's class and the attributes of each class (from a config)."""

    def __init__(self, config: Any) -> None:
        cl = config.clients
        rooms = cl.rooms
        classes = rooms.classes
        self.classed = classes is not None
        default_policy = config.gateways.send_queue.overflow
        k = rooms.per_client
        if classes is None:
            self.names: tuple[str, ...] = ("",)
            self.cls = np.zeros(rooms.count, dtype=np.int64)
            rate = [cl.publish_rate / k if k else 0.0]
            size = [int(cl.message_size)]
            policy = [default_policy]
            keys = [cl.conflate_keys]
        else:
            self.names = tuple(c.name for c in classes)
            self.cls = split_rooms(rooms.count, [c.share for c in classes])
            rate = [
                (cl.publish_rate / k if k else 0.0) if c.publish_rate is None else c.publish_rate
                for c in classes
            ]
            size = [int(cl.message_size if c.message_size is None else c.message_size) for c in classes]
            policy = [default_policy if c.overflow is None else c.overflow for c in classes]
            keys = [cl.conflate_keys if c.conflate_keys is None else c.conflate_keys for c in classes]
        self.rate = rate  # per member, to one room of the class
        self.size = size
        self.wire = [wire_size(config, s) for s in size]
        self.write = [write_cost(config, s) for s in size]
        self.policy = policy
        self.keys = keys
        self.limit = [backlog_bound(config, w, p) for w, p in zip(self.wire, policy, strict=True)]
        self.max_keys = max(keys)
        self.of: list[int] = self.cls.tolist()  # room -> class (the exact path's index)
        self.room_size = [size[c] for c in self.of]
        self.room_wire = [self.wire[c] for c in self.of]
        self.room_write = [self.write[c] for c in self.of]
        self.room_limit = [self.limit[c] for c in self.of]
        self.room_policy = [policy[c] for c in self.of]
        self.suffix = tuple(f".{n}" if n else "" for n in self.names)  # per-class metric names

    def key(self, room: int, offset: int) -> int:
        """The conflation key of publication ``offset`` of ``room`` (unique across rooms)."""
        return room * self.max_keys + offset % self.keys[self.of[room]]

    def count(self, rec: Any, metric: str, room: int, n: float = 1.0) -> None:
        """Count ``n`` under ``metric.<class of room>`` (nothing without classes)."""
        if self.classed:
            rec.count(metric + self.suffix[self.of[room]], n)


def memberships(config: Any, rng: Any, n: int) -> np.ndarray:
    """The ``(n, per_client)`` rooms of ``n`` clients, drawn from ``rng`` (the ``ROOMS`` stream)."""
    rooms = config.clients.rooms
    k = rooms.per_client if rooms.count else 0
    if rooms.classes is None:
        return assign_rooms(rng, n, k, rooms.count, rooms.popularity, rooms.zipf_exponent)
    cls = split_rooms(rooms.count, [c.share for c in rooms.classes])
    weights = np.zeros(rooms.count)
    fixed = np.zeros(rooms.count, dtype=bool)
    for i, c in enumerate(rooms.classes):
        mine = cls == i
        if isinstance(c.size, int):
            weights[mine] = c.size
            fixed |= mine
        else:
            weights[mine] = draw_sizes(rng, int(mine.sum()), **c.size.params())
    return fill_rooms(rng, room_members(weights, fixed, n, k), n, k)


def room_members(weights: np.ndarray, fixed: np.ndarray, n: int, k: int) -> np.ndarray:
    """Members per room: the ``n·k`` memberships in proportion to the rooms' sizes ``weights``. Rooms
    of a fixed size keep it exactly when the drawn ones can take up the difference (at most ``n``
    each); otherwise every room is scaled alike."""
    members = np.zeros(len(weights), dtype=np.int64)
    rest = n * k - int(weights[fixed].sum())
    drawn = ~fixed
    if drawn.any() and 0 <= rest <= n * int(drawn.sum()):
        members[fixed] = weights[fixed].astype(np.int64)
        members[drawn] = apportion(weights[drawn], rest, cap=n)
        return members
    return apportion(weights, n * k, cap=n)
