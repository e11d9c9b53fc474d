"""The gateway's counters and the Prometheus text it serves on ``/metrics``.

Names are ``wssim_`` + the metric names of :data:`wssim.metrics.METRICS` where one exists, so the live
harness can sum the gateways' figures into the same :class:`wssim.metrics.Recorder` as the simulator.
"""

from __future__ import annotations

import bisect
import os
import resource

from wssim.metrics import METRICS

DEPTH_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000)

# counter attribute -> help text (attributes named after METRICS where one exists)
COUNTERS: dict[str, str] = {
    "handshakes": "WebSocket handshakes accepted.",
    "rejected_unauthorized": "Upgrades refused with HTTP 401 (missing, forged or expired token).",
    "rejected_capacity": "Upgrades refused with HTTP 503: max_connections reached or draining.",
    "rejected_rate": "Upgrades refused with HTTP 503: handshake rate limit.",
    "messages_published": METRICS["messages_published"].meaning,
    "backplane_deliveries": METRICS["backplane_deliveries"].meaning,
    "backplane_deliveries_discarded": METRICS["backplane_deliveries_discarded"].meaning,
    "deliveries_delivered": METRICS["deliveries_delivered"].meaning,
    "messages_dropped_overflow": METRICS["messages_dropped_overflow"].meaning,
    "messages_conflated": METRICS["messages_conflated"].meaning,
    "slow_consumer_disconnects": METRICS["slow_consumer_disconnects"].meaning,
    "resume_attempts": METRICS["resume_attempts"].meaning,
    "replay_hits": METRICS["replay_hits"].meaning,
    "replay_misses": METRICS["replay_misses"].meaning,
    "resyncs": METRICS["resyncs"].meaning,
    "messages_replayed": "Messages re-sent from the backplane's history on resume.",
    "gap_notices": "Gap frames sent after send-queue drops.",
    "protocol_errors": "Client frames that were not valid protocol.",
}


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; falls back to the peak RSS)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class GatewayMetrics:
    """Plain integer counters (cheap to bump on the hot path) plus a send-queue depth histogram."""

    def __init__(self, gateway_id: str) -> None:
        self.gateway_id = gateway_id
        for name in COUNTERS:
            setattr(self, name, 0)
        self.connections = 0
        self.connections_peak = 0
        self.queued_messages = 0
        self.send_queue_depth_max = 0
        self.memory_peak = 0
        self._buckets = [0] * len(DEPTH_BUCKETS)
        self._depth_count = 0
        self._depth_sum = 0

    def connected(self, delta: int) -> None:
        self.connections += delta
        if self.connections > self.connections_peak:
            self.connections_peak = self.connections

    def observe_depth(self, depth: int) -> None:
        """One sample of a connection's send-queue depth."""
        i = bisect.bisect_left(DEPTH_BUCKETS, depth)
        if i < len(self._buckets):
            self._buckets[i] += 1
        self._depth_count += 1
        self._depth_sum += depth
        if depth > self.send_queue_depth_max:
            self.send_queue_depth_max = depth

    def snapshot(self) -> dict[str, float]:
        """Counters and gauges by name (METRICS names where they exist)."""
        out: dict[str, float] = {name: float(getattr(self, name)) for name in COUNTERS}
        rss = rss_bytes()
        self.memory_peak = max(self.memory_peak, rss)
        out.update(
            connections=self.connections,
            connections_peak=self.connections_peak,
            send_queue_depth_max=self.send_queue_depth_max,
            queued_messages=self.queued_messages,
            memory_bytes=rss,
            gateway_memory_peak_bytes=self.memory_peak,
        )
        return out

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        label = f'{{gateway="{self.gateway_id}"}}'
        snap = self.snapshot()
        lines: list[str] = []
        for name, text in COUNTERS.items():
            lines += [
                f"# HELP wssim_{name}_total {text}",
                f"# TYPE wssim_{name}_total counter",
                f"wssim_{name}_total{label} {int(snap[name])}",
            ]
        gauges = {
            "connections": "Open WebSocket connections.",
            "connections_peak": "Most connections held at once.",
            "send_queue_depth_max": "Largest send-queue depth seen.",
            "queued_messages": "Messages waiting in send queues now.",
            "memory_bytes": "Resident memory of the gateway process.",
            "gateway_memory_peak_bytes": "Largest resident memory sampled.",
        }
        for name, text in gauges.items():
            lines += [
                f"# HELP wssim_{name} {text}",
                f"# TYPE wssim_{name} gauge",
                f"wssim_{name}{label} {int(snap[name])}",
            ]
        lines += [
            "# HELP wssim_send_queue_depth Sampled per-connection send-queue depth (messages).",
            "# TYPE wssim_send_queue_depth histogram",
        ]
        cumulative = 0
        for bound, n in zip(DEPTH_BUCKETS, self._buckets, strict=True):
            cumulative += n
            lines.append(
                f'wssim_send_queue_depth_bucket{{gateway="{self.gateway_id}",le="{bound}"}} {cumulative}'
            )
        lines += [
            f'wssim_send_queue_depth_bucket{{gateway="{self.gateway_id}",le="+Inf"}} {self._depth_count}',
            f"wssim_send_queue_depth_sum{label} {self._depth_sum}",
            f"wssim_send_queue_depth_count{label} {self._depth_count}",
        ]
        return "\n".join(lines) + "\n"


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples of a Prometheus text page keyed by ``name{labels}`` (for tests and the harness)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def sample(text: str, name: str) -> float:
    """Sum of every sample of metric ``name`` (any labels) in a Prometheus page."""
    total = 0.0
    for key, value in parse_prometheus(text).items():
        if key == name or key.startswith(name + "{"):
            total += value
    return total
