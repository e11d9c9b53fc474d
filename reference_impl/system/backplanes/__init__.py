"""Backplanes behind one interface; :func:`make_backplane` builds one by kind."""

from __future__ import annotations

from reference_impl.system.backplanes.base import Backplane, BackplaneError, Callback, Delivery

KINDS = ("in_memory", "redis_pubsub", "redis_streams", "nats", "jetstream")
DEFAULT_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}


def make_backplane(
    kind: str,
    url: str | None = None,
    *,
    namespace: str = "wssim",
    max_messages: int | None = 1000,
    max_age: float | None = None,
) -> Backplane:
    """A backplane of ``kind`` (``nats_core`` = ``nats``; ``none`` = in-memory); ``url`` of its server."""
    if kind in ("in_memory", "none"):  # "none": one gateway, local fan-out only
        from reference_impl.system.backplanes.in_memory import InMemoryBackplane

        return InMemoryBackplane(max_messages=max_messages, max_age=max_age)
    if kind == "redis_pubsub":
        from reference_impl.system.backplanes.redis_pubsub import RedisPubSubBackplane

        return RedisPubSubBackplane(url or DEFAULT_URLS["redis"], namespace=namespace)
    if kind == "redis_streams":
        from reference_impl.system.backplanes.redis_streams import RedisStreamsBackplane

        return RedisStreamsBackplane(
            url or DEFAULT_URLS["redis"], namespace=namespace, max_messages=max_messages
        )
    if kind in ("nats", "nats_core"):
        from reference_impl.system.backplanes.nats_core import NatsCoreBackplane

        return NatsCoreBackplane(url or DEFAULT_URLS["nats"], namespace=namespace)
    if kind == "jetstream":
        from reference_impl.system.backplanes.jetstream import JetStreamBackplane

        return JetStreamBackplane(
            url or DEFAULT_URLS["nats"], namespace=namespace, max_messages=max_messages, max_age=max_age
        )
    raise BackplaneError(
        f"backplane kind {kind!r} has no live implementation; choose one of {', '.join(KINDS)}"
        + (" (kafka and managed are modelled by the simulator only)" if kind in ("kafka", "managed") else "")
    )


__all__ = ["KINDS", "Backplane", "BackplaneError", "Callback", "Delivery", "make_backplane"]
