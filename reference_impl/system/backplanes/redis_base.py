"""What both Redis backplanes share: the connection, their two Lua scripts, and one reader task."""

from __future__ import annotations

import abc
import asyncio
import contextlib

import redis.asyncio as aioredis

from reference_impl.system.backplanes.base import (
    DEFAULT_RETENTION,
    Backplane,
    BackplaneError,
    redact_url,
    room_token,
)

MAX_CONNECTIONS = 64  # per client; more concurrent commands queue for a connection


class RedisBackplane(Backplane):
    """Connects on :meth:`start`, registers ``publish_script`` / ``head_script``, runs :meth:`_read`.

    A room's keys are ``{namespace}:{{TOKEN}}:{part}`` with ``TOKEN`` = :func:`room_token` (no ``:``,
    no braces): distinct rooms never share a key, and the hash tag keeps one room's keys in one
    Redis Cluster slot, as its Lua scripts need. Every publish sets them to expire after ``retention``.
    """

    publish_script: str
    head_script: str

    def __init__(self, url: str, namespace: str, retention: float = DEFAULT_RETENTION) -> None:
        super().__init__()
        self.url, self.ns = url, namespace
        self.retention_ms = max(1, int(retention * 1000))
        self._redis: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None

    def _client(self) -> aioredis.Redis:
        """A client whose commands wait for a free pooled connection: a herd of joiners issues more
        concurrent commands than the pool holds, and the default pool fails those at once."""
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=MAX_CONNECTIONS,
            timeout=10,
            decode_responses=True,
            socket_connect_timeout=5,
            socket_timeout=10,
        )
        return aioredis.Redis.from_pool(pool)

    def key(self, room: str, part: str) -> str:
        """The Redis key of one part (``seq``, ``epoch``, ``stream``, ``channel``) of ``room``."""
        return f"{self.ns}:{{{room_token(room)}}}:{part}"

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BackplaneError("backplane not started")
        return self._redis

    async def start(self) -> None:
        if self._redis is not None:
            return
        self._redis = self._client()
        try:
            await self._redis.ping()
        except Exception as exc:
            raise BackplaneError(f"cannot reach Redis at {redact_url(self.url)}: {exc}") from exc
        self._publish = self._redis.register_script(self.publish_script)
        self._head = self._redis.register_script(self.head_script)
        self._connected()

    def _connected(self) -> None:
        """Set up what the reader needs, once the main connection is up."""

    async def _release(self) -> None:
        """Release what :meth:`_connected` set up; the reader task is already stopped."""

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        await self._release()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self._callbacks.clear()

    def _start_reader(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    @abc.abstractmethod
    async def _read(self) -> None:
        """Deliver live messages until cancelled, riding out Redis restarts."""
