"""What the gateway and the balancer expose on ``/metrics``: names, types, labels and meaning.

Plain data (no prometheus_client import), so the metrics reference is generated from it. Names follow
the Prometheus conventions: a ``wssim_`` prefix, base units (``_bytes``, ``_seconds``), counters end in
``_total`` (prometheus_client appends it to the names below). ``recorder`` names the summary metric of
:data:`wssim.metrics.METRICS` the live harness feeds from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wssim.metrics import METRICS


@dataclass(frozen=True)
class Exposed:
    """One exposed metric family."""

    name: str  # without the _total of a counter
    kind: str  # counter | gauge | histogram | info
    help: str
    labels: tuple[str, ...] = ()
    recorder: str | None = None

    @property
    def sample(self) -> str:
        """The name of the family's samples in the text exposition."""
        return self.name + {"counter": "_total", "info": "_info"}.get(self.kind, "")


FED = ("backplane_deliveries", "backplane_deliveries_discarded", "messages_dropped_overflow")
FED += ("messages_conflated", "slow_consumer_disconnects")  # summed over gateways by the live harness


def _named_after(name: str) -> Exposed:
    """A counter named after a summary metric (the harness records the ones in FED)."""
    return Exposed(f"wssim_{name}", "counter", METRICS[name].meaning, recorder=name if name in FED else None)


REJECT_REASONS = (
    "unauthorized",  # 401: no valid token
    "forbidden",  # 403: valid token without the right grant or scope
    "origin",  # 403: Origin not in the allow-list
    "auth_throttled",  # 429: too many failed authentications from this source
    "subject_connections",  # 503: the token's subject holds its maximum of connections
    "subject_rate",  # 503: the token's subject opens connections too fast
    "capacity",  # 503: max_connections reached
    "rate",  # 503: handshake rate limit
    "draining",  # 503: the gateway is draining
)
FRAME_REJECT_REASONS = ("protocol", "forbidden", "room_limit", "backplane")
CLOSE_REASONS = ("keepalive", "token_expired", "memory_budget", "held_overflow", "binary")

GATEWAY: tuple[Exposed, ...] = (
    Exposed("wssim_gateway", "info", "The gateway's id.", ("gateway",)),
    Exposed("wssim_handshakes", "counter", "WebSocket handshakes accepted."),
    Exposed(
        "wssim_requests_rejected",
        "counter",
        "Upgrades and HTTP requests refused before any work, by reason: " + ", ".join(REJECT_REASONS) + ".",
        ("reason",),
    ),
    Exposed(
        "wssim_frames_rejected",
        "counter",
        "Client frames answered with an error frame, by reason: " + ", ".join(FRAME_REJECT_REASONS) + ".",
        ("reason",),
    ),
    Exposed(
        "wssim_connections_closed",
        "counter",
        "Connections the gateway closed itself (besides the disconnect policy), by reason: "
        + ", ".join(CLOSE_REASONS)
        + ".",
        ("reason",),
    ),
    *(
        _named_after(name)
        for name in (
            "messages_published",
            "backplane_deliveries",
            "backplane_deliveries_discarded",
            "deliveries_delivered",
            "messages_dropped_overflow",
            "messages_conflated",
            "slow_consumer_disconnects",
            "resume_attempts",
            "replay_hits",
            "replay_misses",
            "resyncs",
        )
    ),
    Exposed("wssim_messages_replayed", "counter", "Messages re-sent from the backplane's history on resume."),
    Exposed("wssim_gap_notices", "counter", "Gap frames sent after send-queue drops."),
    Exposed("wssim_connections", "gauge", "Open WebSocket connections."),
    Exposed("wssim_connections_peak", "gauge", "Most connections held at once."),
    Exposed("wssim_rooms", "gauge", "Rooms with at least one local member."),
    Exposed("wssim_queued_messages", "gauge", "Messages waiting in send queues (held joins included)."),
    Exposed(
        "wssim_buffered_bytes",
        "gauge",
        "Bytes waiting for slow clients: send queues, frames held while joining, blocked producers.",
    ),
    Exposed(
        "wssim_send_queue_depth_max",
        "gauge",
        METRICS["send_queue_depth_max"].meaning,
        recorder="send_queue_depth_max",
    ),
    Exposed(
        "wssim_gateway_memory_peak_bytes",
        "gauge",
        "Largest resident memory sampled.",
        recorder="gateway_memory_peak_bytes",
    ),
    Exposed(
        "wssim_cpu_seconds",
        "counter",
        "CPU time of the gateway process, user and system, every thread (`time.process_time`, read "
        "at scrape time); the harness's CPU metrics are its increase per interval.",
        recorder="gateway_cpu_utilisation_peak",
    ),
    Exposed(
        "wssim_gc_pause_seconds",
        "counter",
        "Time the gateway process spent stopped in Python's garbage collector (a `gc.callbacks` hook): "
        "every socket waits while it runs. The simulator leaves these pauses out (see the model's "
        "background page).",
    ),
    Exposed(
        "wssim_limit",
        "gauge",
        "Every limit of the gateway's settings (+Inf: none), by setting name.",
        ("setting",),
    ),
    Exposed(
        "wssim_send_queue_depth",
        "histogram",
        "Per-connection send-queue depth, every connection sampled once per sample_interval (messages).",
        recorder="send_queue_depth_p99",
    ),
)

BALANCER: tuple[Exposed, ...] = (
    Exposed(
        "wssim_balancer_connections", "gauge", "Proxied connections open now, per upstream.", ("upstream",)
    ),
    Exposed(
        "wssim_balancer_proxied", "counter", "Connections proxied since start, per upstream.", ("upstream",)
    ),
    Exposed(
        "wssim_balancer_upstream_in_ring",
        "gauge",
        "1 when the upstream takes new connections.",
        ("upstream",),
    ),
    Exposed(
        "wssim_balancer_events",
        "counter",
        "Balancer events: idle_cuts, no_upstream, dropped_health, dropped_refused, readded.",
        ("event",),
    ),
    Exposed(
        "wssim_balancer_admin_rejected",
        "counter",
        "Admin API requests refused (401 without a valid admin token, 403 without the scope).",
    ),
)
