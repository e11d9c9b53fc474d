"""Named random streams: reproducible, independent of worker count, common across sweep points.

Every stream is ``SeedSequence(seed, spawn_key=(replication, stream, entity))``. The same config seed
gives every point of a sweep the same draws (common random numbers), and adding entities (clients,
gateways) never shifts the draws of the others.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Stream ids. Append new ones at the end: renumbering changes every result."""

    ARRIVALS = 1
    ROOMS = 2
    PUBLISHES = 3
    OFFLINE = 4
    BACKOFF = 5
    FAULTS = 6
    SLOW_CONSUMERS = 7
    BACKPLANE = 8
    BALANCER = 9
    DRAINS = 10
    LATENCY = 11
    LIVE = 12
    HEALTH = 13


def seed_sequence(seed: int, replication: int, stream: Stream, entity: int = 0) -> np.random.SeedSequence:
    """The seed sequence of one named stream of one replication."""
    return np.random.SeedSequence(seed, spawn_key=(replication, int(stream), entity))


def generator(seed: int, replication: int, stream: Stream, entity: int = 0) -> np.random.Generator:
    """A PCG64 generator for one named stream of one replication."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, replication, stream, entity)))


def draws_generator(seed: int, replication: int, stream: Stream, entity: int = 0) -> np.random.Generator:
    """The generator of a stream's one-at-a-time draws (``wssim.sim.streams.Streams.draws``), apart
    from :func:`generator`'s whole-array draws of the same stream and entity."""
    return generator(seed, replication, stream, 1000 + entity)
