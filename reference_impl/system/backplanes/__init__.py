"""Backplanes behind one interface; :func:`make_backplane` builds one by kind."""

from __future__ import annotations

import re

from reference_impl.system.backplanes.base import (
    DEFAULT_RETENTION,
    Backplane,
    BackplaneError,
    Callback,
    Delivery,
    redact_url,
    room_token,
)

KINDS = ("in_memory", "redis_pubsub", "redis_streams", "nats", "jetstream")
DEFAULT_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}


def make_backplane(
    kind: str,
    url: str | None = None,
    *,
    namespace: str = "wssim",
    max_messages: int | None = 1000,
    max_age: float | None = None,
    retention: float = DEFAULT_RETENTION,
) -> Backplane:
    """A backplane of ``kind`` (``nats_core`` = ``nats``; ``none`` = in-memory); ``url`` of its server.

    ``retention``: seconds a room with no publication (and, in memory, no subscriber) keeps its
    offsets and history; then they are freed (Redis keys expire; JetStream messages age out).
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", namespace):
        raise BackplaneError(f"namespace {namespace!r} must hold only letters, digits, '_' and '-'")
    if kind in ("in_memory", "none"):  # "none": one gateway, local fan-out only
        from reference_impl.system.backplanes.in_memory import InMemoryBackplane

        return InMemoryBackplane(max_messages=max_messages, max_age=max_age, retention=retention)
    if kind == "redis_pubsub":
        from reference_impl.system.backplanes.redis_pubsub import RedisPubSubBackplane

        return RedisPubSubBackplane(url or DEFAULT_URLS["redis"], namespace=namespace, retention=retention)
    if kind == "redis_streams":
        from reference_impl.system.backplanes.redis_streams import RedisStreamsBackplane

        return RedisStreamsBackplane(
            url or DEFAULT_URLS["redis"],
            namespace=namespace,
            max_messages=max_messages,
            retention=retention,
            max_age=max_age,
        )
    if kind in ("nats", "nats_core"):
        from reference_impl.system.backplanes.nats_core import NatsCoreBackplane

        return NatsCoreBackplane(url or DEFAULT_URLS["nats"], namespace=namespace)
    if kind == "jetstream":
        from reference_impl.system.backplanes.jetstream import JetStreamBackplane

        return JetStreamBackplane(
            url or DEFAULT_URLS["nats"],
            namespace=namespace,
            max_messages=max_messages,
            max_age=max_age if max_age is not None else retention,
        )
    raise BackplaneError(
        f"backplane kind {kind!r} has no live implementation; choose one of {', '.join(KINDS)}"
        + (" (kafka and managed are modelled by the simulator only)" if kind in ("kafka", "managed") else "")
    )


__all__ = [
    "DEFAULT_RETENTION",
    "KINDS",
    "Backplane",
    "BackplaneError",
    "Callback",
    "Delivery",
    "make_backplane",
    "redact_url",
    "room_token",
]
