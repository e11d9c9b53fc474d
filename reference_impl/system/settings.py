"""The reference gateway's settings: every limit with a safe default, and where its key comes from.

A gateway never has a built-in key: :func:`load_key` reads the HMAC secret from ``WSSIM_TOKEN_SECRET``
or a file, or a PEM public key from a file, and refuses to go on without one. ``--insecure-dev`` is the
only exception: a published development secret, a loud warning, loopback only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from typing import Any

from wssim.policies import Keepalive

log = logging.getLogger("reference_impl.system.gateway")

SECRET_ENV = "WSSIM_TOKEN_SECRET"
#: the published development secret: only with --insecure-dev, which says so at start-up
INSECURE_DEV_SECRET = "wssim-insecure-development-secret-never-deploy"
MiB = 1 << 20
SECRET_FIELDS = ("secret", "public_key")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class GatewaySettings:
    """Everything a gateway process needs; :meth:`from_config` maps a scenario's fields onto it.

    Every limit is on by default; ``None`` switches one off. All of them are exposed on ``/metrics``
    (``wssim_limit{setting=...}``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    gateway_id: str = "gw0"
    # tokens: exactly one of secret (HS256) or public_key (PEM, ES256/RS256)
    secret: str | None = field(default=None, repr=False)
    public_key: str | None = field(default=None, repr=False)
    token_leeway: float = 5.0  # seconds of clock skew tolerated on exp / nbf
    token_audience: str | None = None
    token_issuer: str | None = None
    allowed_origins: tuple[str, ...] | None = None  # None: any Origin (tokens are not cookies)
    metrics_host: str | None = None  # with metrics_port: /metrics on its own listener only
    metrics_port: int | None = None
    # frames and connections
    max_message_size: int = 64 * 1024
    ping_interval: float | None = 25.0
    ping_timeout: float | None = None  # None = Keepalive default (2 x ping_interval without a pong)
    max_connections: int | None = 19_000  # under the 20,000 file descriptors of one process here
    handshake_rate: float | None = None  # per second
    handshake_burst: float | None = None  # token bucket size; None = max(1, handshake_rate)
    retry_after: float = 5.0
    max_connections_per_subject: int | None = 32
    handshake_rate_per_subject: float | None = 10.0  # per second; burst = max(1, rate)
    auth_failure_rate: float | None = 5.0  # failed authentications per second per source address
    auth_failure_burst: float = 20.0
    max_rooms_per_connection: int | None = 256
    # send queues
    queue_policy: str = "drop_oldest"
    queue_limit: int | None = 1000
    queue_limit_bytes: int | None = MiB
    block_limit: int | None = 1000  # block policy: messages held beside a full queue, then 1008
    credit: int = 64
    gap_notice: bool = True
    write_limit: int = 32 * 1024  # transport high-water mark: beyond it, messages go to the SendQueue
    memory_budget: int | None = 1024 * MiB  # resident memory: beyond it the slowest clients are shed
    # resume
    max_per_resume: int | None = 10000
    replay_chunk: int = 64  # history messages fetched and written per event-loop turn
    # lifecycle
    drain_timeout: float = 30.0
    close_timeout: float = 2.0
    sample_interval: float = 1.0  # send-queue depth, memory, token expiry, retention checks
    event_log: str | None = None  # a file to append connection events to (see event_log.py)
    # kernel accept queue: asyncio's default of 100 overflows when a herd arrives at once, and each SYN
    # dropped costs its client TCP's 1 s retransmission (the kernel caps it at net.core.somaxconn)
    listen_backlog: int = 4096
    send_buffer: int | None = None  # SO_SNDBUF of client sockets; None: the kernel autotunes (MiBs)
    # permessage-deflate: "deflate" offers it to clients (websockets' defaults: a 4 KiB window, memLevel
    # 5, context takeover, so each connection keeps its compressor); None: frames go uncompressed
    compression: str | None = None

    def keepalive(self) -> Keepalive:
        """The shared keepalive policy (ping interval, dead after ``timeout`` without a pong)."""
        return Keepalive(self.ping_interval, self.ping_timeout)

    def limits(self) -> dict[str, float | None]:
        """Every limit by name (for ``wssim_limit``)."""
        names = (
            "max_message_size",
            "max_connections",
            "handshake_rate",
            "max_connections_per_subject",
            "handshake_rate_per_subject",
            "auth_failure_rate",
            "max_rooms_per_connection",
            "queue_limit",
            "queue_limit_bytes",
            "block_limit",
            "write_limit",
            "memory_budget",
            "max_per_resume",
            "replay_chunk",
            "token_leeway",
        )
        limits: dict[str, float | None] = {n: getattr(self, n) for n in names}
        limits["ping_interval"] = self.ping_interval
        limits["ping_timeout"] = self.keepalive().timeout
        return limits

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> GatewaySettings:
        """Settings from a :class:`wssim.config.Config` (gateways.*, backplane.replay, live.*)."""
        gw, live = config.gateways, config.live
        sq, adm = gw.send_queue, gw.admission
        values: dict[str, Any] = dict(
            host=live.host,
            max_message_size=int(live.max_message_size),
            ping_interval=gw.keepalive.ping_interval,
            ping_timeout=gw.keepalive.timeout,
            max_connections=adm.max_connections,
            handshake_rate=adm.handshake_rate,
            handshake_burst=adm.effective_burst(),
            retry_after=adm.retry_after,
            queue_policy=sq.overflow,
            queue_limit=sq.limit,
            queue_limit_bytes=sq.limit_bytes,
            credit=sq.credit,
            gap_notice=sq.gap_notice,
            max_per_resume=config.backplane.replay.max_per_resume,
            drain_timeout=gw.drain_timeout,
            compression="deflate" if gw.compression.enabled else None,
        )
        if values["max_connections"] is None:
            del values["max_connections"]  # keep the process's own ceiling
        values.update(overrides)
        return cls(**values)


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` strings -> typed GatewaySettings overrides (``none`` = None).

    Secrets are refused here: a command line is visible to every user of the machine (``ps``).
    """
    types = {f.name: str(f.type) for f in fields(GatewaySettings)}
    out: dict[str, Any] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name in SECRET_FIELDS:
            raise SystemExit(
                f"--gw {name}=...: keys never go on the command line (other users see it in ps); "
                f"set {SECRET_ENV}, or pass --token-secret-file / --token-public-key FILE"
            )
        if name not in types:
            raise SystemExit(f"--gw {item}: unknown field {name!r}; fields: {', '.join(sorted(types))}")
        kind = types[name]
        if name == "compression" and text.lower() not in ("deflate", "none", "null", ""):
            raise SystemExit(f"--gw {item}: compression is deflate (permessage-deflate) or none")
        try:
            out[name] = _typed(kind, text)
        except ValueError:
            raise SystemExit(f"--gw {item}: {name} must be {kind}") from None
    return out


def _typed(kind: str, text: str) -> Any:
    if text.lower() in ("none", "null", ""):
        return None
    if kind.startswith("bool"):
        return text.lower() in ("1", "true", "yes", "on")
    if kind.startswith("int"):
        return int(text)
    if kind.startswith("float"):
        return float(text)
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def load_key(
    secret_file: str | None, public_key_file: str | None, insecure_dev: bool, host: str
) -> dict[str, str]:
    """``{"secret": ...}`` or ``{"public_key": ...}`` from a file or the environment; SystemExit when
    there is none (or ``insecure_dev`` on a non-loopback host). The key itself is never printed."""
    if public_key_file:
        with open(public_key_file) as f:
            return {"public_key": f.read()}
    if secret_file:
        with open(secret_file) as f:
            return {"secret": f.read().strip()}
    if os.environ.get(SECRET_ENV):
        return {"secret": os.environ[SECRET_ENV]}
    if insecure_dev:
        if host not in LOOPBACK:
            raise SystemExit(f"--insecure-dev listens on loopback only, not on {host}")
        log.warning(
            "INSECURE: --insecure-dev accepts tokens signed with the published development secret; "
            "anyone can mint them. Never run this outside your own machine."
        )
        return {"secret": INSECURE_DEV_SECRET}
    raise SystemExit(
        f"no token key: set {SECRET_ENV} (an HMAC secret of at least 32 bytes), or pass "
        "--token-secret-file FILE or --token-public-key FILE (PEM, ES256/RS256); "
        "--insecure-dev runs a loopback-only gateway with a published development secret"
    )
