"""One recorder and the metric definitions, shared by the simulator and the live harness.

Both engines feed a :class:`Recorder`; :meth:`Recorder.result` turns what was recorded into a
:class:`RunResult` whose ``metrics`` hold every name of :data:`METRICS` (SI units: seconds, bytes).
A metric means the same thing whichever engine produced it.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported when a time series is built: gateways and clients start faster
    import pandas as pd


@dataclass(frozen=True)
class Metric:
    """What a summary metric measures."""

    unit: str
    meaning: str
    kind: str = "count"  # count | peak | quantile | ratio | time | derived


METRICS: dict[str, Metric] = {
    "connections_peak": Metric("connections", "Most connections held by the fleet at once.", "peak"),
    "messages_published": Metric("messages", "Publications accepted by the backplane."),
    "deliveries_expected": Metric("messages", "Deliveries owed to subscribed clients."),
    "deliveries_delivered": Metric("messages", "Deliveries written to a client socket."),
    "messages_lost": Metric(
        "messages", "Deliveries owed but never received, even after resume (a permanent gap)."
    ),
    "deliveries_pending_end": Metric(
        "messages",
        "Owed deliveries neither delivered nor lost when the run ended: in send queues, on their way to a "
        "gateway, or owed to a client not connected then (its resume would settle them).",
        "derived",
    ),
    "messages_duplicated": Metric("messages", "Deliveries a client received more than once."),
    "messages_dropped_overflow": Metric("messages", "Messages dropped by a send-queue policy."),
    "messages_conflated": Metric(
        "messages", "Messages replaced in a send queue by a newer one with the same key that the client read."
    ),
    "backplane_deliveries": Metric("messages", "Messages the backplane handed to gateways."),
    "backplane_deliveries_discarded": Metric(
        "messages", "Backplane deliveries a gateway discarded: no local subscriber."
    ),
    "fanout_waste_fraction": Metric(
        "fraction", "backplane_deliveries_discarded / backplane_deliveries.", "ratio"
    ),
    "send_queue_depth_p99": Metric("messages", "99th percentile of sampled send-queue depths.", "quantile"),
    "send_queue_depth_max": Metric("messages", "Largest send-queue depth seen.", "peak"),
    "gateway_memory_peak_bytes": Metric("bytes", "Largest memory use of one gateway.", "peak"),
    "gateway_oom_crashes": Metric("crashes", "Gateways killed by running out of memory."),
    "emfile_rejections": Metric("connections", "Accepts refused at the file-descriptor limit."),
    "conntrack_drops": Metric("SYNs", "New connections dropped by a full conntrack table."),
    "slow_consumer_disconnects": Metric("connections", "Connections closed by the disconnect policy."),
    "backplane_cut_at_s": Metric(
        "s", "When the first subscription outage cut a gateway from the backplane.", "time"
    ),
    "backplane_restored_at_s": Metric(
        "s", "When that gateway had every room with members subscribed again.", "time"
    ),
    "first_slow_consumer_disconnect_s": Metric(
        "s", "When a gateway first closed a slow consumer (disconnect policy), from the start.", "time"
    ),
    "gateway_cpu_utilisation_peak": Metric(
        "fraction",
        "Busiest interval of the busiest gateway: CPU-seconds spent / (cores × interval) (series "
        "`gateway_cpu_utilisation` per gateway).",
        "peak",
    ),
    "gateway_cpu_backlog_s_max": Metric(
        "s",
        "Longest a job (accept, fan-out) arriving after the warm-up waited for a gateway's CPU (series "
        "`gateway_cpu_backlog_s`: the work queued at each interval's start, in seconds).",
        "peak",
    ),
    "gateway_cpu_wait_mean_s": Metric(
        "s", "Mean time a publication's fan-out on a gateway waited for that gateway's CPU.", "derived"
    ),
    "deliveries_per_cpu_second": Metric(
        "messages/CPU-s",
        "deliveries_delivered / CPU-seconds the gateways spent on all their work.",
        "derived",
    ),
    "cpu_saturated_s": Metric(
        "s",
        "Time during which some gateway's CPU was busy for a whole interval (a backlog throughout).",
        "derived",
    ),
    "idle_timeout_disconnects": Metric("connections", "Connections cut by an idle timeout on the path."),
    "reconnect_attempts": Metric("attempts", "Connection attempts after a disconnect."),
    "peak_handshake_rate": Metric(
        "handshakes/s",
        "Most accepted handshakes (connections established) per second, over one interval.",
        "peak",
    ),
    "herd_convergence_s": Metric(
        "s",
        "From the first gateway crash until every client it held that still wants a connection holds "
        "one again (NaN when the fleet was not settled at the crash: see crash_connected_fraction).",
        "time",
    ),
    "crash_connected_fraction": Metric(
        "fraction",
        "Share of the clients wanting a connection (arrived, not offline, not given up) that held one at "
        "the first gateway crash; below 0.95, or a crash within the connect ramp, the fleet was not settled "
        "and herd_convergence_s is not measured.",
        "ratio",
    ),
    "crash_at_s": Metric("s", "When the first gateway crash (or OOM) happened.", "time"),
    "resume_attempts": Metric("resumes", "Reconnects that asked to resume from a cursor."),
    "replay_hits": Metric("resumes", "Resumes served fully from the replay window."),
    "replay_misses": Metric("resumes", "Resumes the replay window could not serve."),
    "resyncs": Metric("resyncs", "Snapshot re-syncs (replay misses and gap notices)."),
    "latency_p50_s": Metric("s", "Median publish-to-client latency.", "quantile"),
    "latency_p99_s": Metric("s", "99th percentile publish-to-client latency.", "quantile"),
    "connections_moved_fraction": Metric(
        "fraction",
        "Of the clients connected at the first change of the gateway pool that connected again after "
        "it, the share whose new connection is on another gateway (not measured if none did).",
        "ratio",
    ),
    "pool_change_reconnects": Metric(
        "clients",
        "Clients connected at the first change of the gateway pool that connected again after it "
        "(what connections_moved_fraction is measured over).",
    ),
    "cost_per_month_usd": Metric("USD/month", "Fleet cost at the size the run needed.", "derived"),
    "alert_lead_time_s": Metric(
        "s", "From the send-queue alert firing until the first OOM (positive: in time).", "time"
    ),
    "transport_requests_per_s": Metric(
        "requests/s", "HTTP requests the fleet serves (transport model).", "derived"
    ),
    "transport_handshakes_per_s": Metric(
        "handshakes/s", "New TCP+TLS connections (transport model).", "derived"
    ),
    "transport_bytes_up_per_s": Metric(
        "bytes/s", "Client-to-server bytes incl. overhead (transport model).", "derived"
    ),
    "transport_bytes_down_per_s": Metric(
        "bytes/s", "Server-to-client bytes incl. overhead (transport model).", "derived"
    ),
    "transport_egress_usd_per_month": Metric(
        "USD/month", "Egress of the server-to-client bytes (transport model).", "derived"
    ),
    "transport_usd_per_million_users": Metric(
        "USD/month", "Server share plus egress of one user, times a million (transport model).", "derived"
    ),
    # Simulator details (wssim.sim): the mechanisms behind the headline metrics.
    "admission_rejections": Metric(
        "connections", "Attempts answered 503 (connection or handshake limit, or draining)."
    ),
    "l7_tls_terminations": Metric("handshakes", "TLS handshakes terminated by an L7 balancer."),
    "edge_memory_peak_bytes": Metric(
        "bytes",
        "Most memory one L7 balancer node held for its connections (TLS, both sockets); 0 for L4.",
        "peak",
    ),
    "health_check_detection_s": Metric(
        "s", "Mean time from a gateway crash until a balancer node took it out of its pool.", "time"
    ),
    "health_check_rejoin_s": Metric(
        "s", "Mean time from a gateway (re)start until a balancer node put it back in its pool.", "time"
    ),
    "health_check_removals": Metric("removals", "Times a balancer node took a gateway out of its pool."),
    "health_check_readds": Metric("re-adds", "Times a balancer node put a gateway back in its pool."),
    "passive_health_removals": Metric(
        "removals", "Gateways taken out at the first refused connection (passive check)."
    ),
    "connects_to_dead_gateway": Metric(
        "attempts", "Connection attempts a balancer sent to a crashed gateway still in its pool."
    ),
    "ephemeral_port_exhaustions": Metric(
        "connections", "Backplane connections a gateway could not open: no source port left."
    ),
    "backplane_deliveries_lost": Metric("messages", "Backplane deliveries lost (subscription or node down)."),
    "publishes_failed": Metric("messages", "Publications refused while the backplane was down."),
    "live_gaps": Metric("gaps", "Offset gaps a gateway saw on a live subscription."),
    "deliveries_to_dead_peers": Metric(
        "messages", "Messages written into half-open sockets (held in their send queues until reclaimed)."
    ),
    "dead_peer_overflow_closes": Metric(
        "connections", "Half-open sockets closed because their send queue overflowed (disconnect policy)."
    ),
    "messages_replayed": Metric("messages", "Deliveries served from the replay window on resume."),
    "snapshot_bytes": Metric("bytes", "Bytes of snapshots fetched by resyncing clients."),
    "snapshot_seconds": Metric("s", "Client time spent fetching snapshots, queueing included (sum)."),
    "snapshot_wait_max_s": Metric(
        "s", "Longest a resync waited for the snapshot service (clients.snapshot.rate).", "peak"
    ),
    "replay_seconds": Metric("s", "Time resuming clients waited for their replay to be read (sum)."),
    "replay_wait_max_s": Metric(
        "s", "Longest a resume or catch-up waited for its replay (backplane.replay.rate).", "peak"
    ),
    "producer_buffer_overflows": Metric(
        "messages", "Publications an at-least-once producer could not hold in an outage: lost."
    ),
    "producer_buffer_discarded": Metric(
        "messages", "Held publications lost because their gateway crashed before the backplane returned."
    ),
    "producer_buffer_peak_bytes": Metric(
        "bytes", "Most bytes one gateway's producer buffer held during a backplane outage.", "peak"
    ),
    "send_queue_blocked": Metric(
        "messages", "Publications that waited at a gateway behind a full queue (block policy), per gateway."
    ),
    "room_writer_stalls": Metric(
        "stalls", "Times a gateway's room writer stopped at a full queue (block): everyone behind waited."
    ),
    "gap_notices": Metric("notices", "Gap notices sent after send-queue drops."),
    "clients_gave_up": Metric("clients", "Clients that exhausted their reconnect attempts."),
    "offline_periods": Metric("periods", "Times a client went offline."),
    "half_open_disappearances": Metric("connections", "Clients that vanished without a FIN."),
    "dead_peer_reclaims": Metric("connections", "Half-open sockets reclaimed by keepalive or idle timers."),
    "half_open_leaked": Metric("connections", "Half-open sockets still held at the end of the run."),
    "drain_closes": Metric("connections", "Sockets closed gracefully by a drain (1001)."),
    "direct_messages": Metric("messages", "1:1 messages published."),
    "peak_connect_attempt_rate": Metric(
        "attempts/s", "Most connection attempts (accepted or not) per second, over one interval.", "peak"
    ),
    "connect_timeouts": Metric("attempts", "Handshakes abandoned by the client after queueing too long."),
    "connect_actions": Metric("attempts", "Connection attempts dispatched (initial and reconnects)."),
    "connections_end": Metric("connections", "Connections held at the end of the run.", "derived"),
    "offline_open_end": Metric(
        "clients", "Offline episodes still open at the end of the run (clients not back yet).", "derived"
    ),
    "connections_mean": Metric("connections", "Mean connections held (sampled each interval).", "derived"),
    "gateways_peak": Metric("gateways", "Most gateways in service at once.", "peak"),
    "alert_fired_at_s": Metric("s", "When the send-queue alert first fired.", "time"),
    "first_oom_at_s": Metric("s", "When the first gateway ran out of memory.", "time"),
}

# Float division puts a time on a bin edge on either side (5.0 // 0.1 == 49.0, 0.3 / 0.1 < 3): a time
# within this fraction of a bin below an edge starts the later bin, in both engines.
BIN_EPSILON = 1e-9


def bin_index(t: float, interval: float) -> int:
    """The time-series bin of time ``t``: bins are ``[k·interval, (k+1)·interval)``."""
    return math.floor(t / interval + BIN_EPSILON)


def bin_indices(t: Any, interval: float) -> np.ndarray:
    """:func:`bin_index` of every time in an array."""
    return np.floor(np.asarray(t, dtype=float) / interval + BIN_EPSILON).astype(np.int64)


# Distributions recorded with Recorder.observe, and the summary names they produce.
PER_CLASS: tuple[str, ...] = (
    "messages_published",
    "deliveries_expected",
    "deliveries_delivered",
    "messages_lost",
    "messages_dropped_overflow",
    "messages_conflated",
    "slow_consumer_disconnects",
    "latency_p50_s",
    "latency_p99_s",
)
"""Metrics also reported per room class (``clients.rooms.classes``) as ``<metric>.<class>``, by the
simulator only: a delivery, loss or latency of a room message counts for its room's class, a
disconnect for the class of the message that overflowed the queue. Direct messages belong to no class."""

QUANTILES: dict[str, dict[str, float]] = {
    "latency": {"latency_p50_s": 0.50, "latency_p99_s": 0.99},
    "send_queue_depth": {"send_queue_depth_p99": 0.99},
}

# Steady-state figures: their samples (and the handshake and attempt rates they peak over) count only
# from ``config.warmup`` on, so a run whose activity all fell in the warm-up leaves them empty.
AFTER_WARMUP: frozenset[str] = frozenset(
    [name for names in QUANTILES.values() for name in names]
    + ["peak_handshake_rate", "peak_connect_attempt_rate"]
)


def display_scale(metric: str, values: Any = ()) -> Any:
    """The :class:`wssim.units.Scale` a table shows ``metric`` in, chosen once for all its ``values``."""
    from wssim.units import scale_for

    m = METRICS.get(metric)
    return scale_for(m.unit if m else "", values, m.kind if m else "")


@dataclass
class RunResult:
    """What one run (one sweep point, one replication) produced."""

    metrics: dict[str, float]
    timeseries: pd.DataFrame
    markers: list[tuple[float, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Collects counters, peaks, distributions and binned time series during one run.

    ``interval`` is the width of a time-series bin in seconds. Distribution samples and rates before
    ``warmup`` are ignored in the summary (they still appear in the time series).
    """

    def __init__(self, interval: float = 1.0, warmup: float = 0.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.warmup = warmup
        self.counters: dict[str, float] = defaultdict(float)
        self.peaks: dict[str, float] = {}
        self.values: dict[str, float] = {}
        self.markers: list[tuple[float, str]] = []
        self._samples: dict[str, array] = defaultdict(lambda: array("d"))
        self._rates: dict[tuple[str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._gauges: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)

    # -- recording -------------------------------------------------------------------------
    def count(self, name: str, n: float = 1.0) -> None:
        """Add ``n`` to a counter."""
        self.counters[name] += n

    def rate(self, series: str, t: float, n: float = 1.0, label: str = "") -> None:
        """Count ``n`` events at time ``t`` into a per-second rate series."""
        self._rates[(series, label)][bin_index(t, self.interval)] += n

    def gauge(self, series: str, t: float, value: float, label: str = "") -> None:
        """Sample a level (connections, memory, depth) at time ``t``; the last sample in a bin wins."""
        self._gauges[(series, label)][bin_index(t, self.interval)] = value

    def observe(self, name: str, value: float, t: float | None = None) -> None:
        """Add one sample of a distribution (see :data:`QUANTILES`); skipped during warm-up."""
        if t is None or t >= self.warmup:
            self._samples[name].append(value)

    def observe_many(self, name: str, values: Any) -> None:
        """Add many samples at once (an iterable or numpy array)."""
        self._samples[name].extend(np.asarray(values, dtype=float).tolist())

    def peak(self, name: str, value: float) -> None:
        """Keep the largest value seen under ``name``."""
        if value > self.peaks.get(name, -math.inf):
            self.peaks[name] = value

    def set(self, name: str, value: float) -> None:
        """Set a summary metric directly (derived by the engine, e.g. ``herd_convergence_s``)."""
        self.values[name] = value

    def mark(self, t: float, label: str) -> None:
        """Note a fault or event on the timeline (drawn as a marker in reports)."""
        self.markers.append((t, label))

    # -- reading ---------------------------------------------------------------------------
    def rate_series(self, series: str, label: str = "") -> dict[int, float]:
        """The binned counts of a rate series: bin index -> events in that bin."""
        return dict(self._rates.get((series, label), {}))

    def peak_rate(self, series: str, since: float | None = None) -> float:
        """Highest per-second rate of a series over all labels summed, from ``since`` (default warm-up)."""
        start = bin_index(self.warmup if since is None else since, self.interval)
        totals: dict[int, float] = defaultdict(float)
        for (name, _), bins in self._rates.items():
            if name == series:
                for b, n in bins.items():
                    if b >= start:
                        totals[b] += n
        return max(totals.values(), default=0.0) / self.interval

    def summary(self) -> dict[str, float]:
        """Every metric of :data:`METRICS` plus any extra counters, peaks and values."""
        out: dict[str, float] = {name: 0.0 for name, m in METRICS.items() if m.kind == "count"}
        out.update({name: math.nan for name, m in METRICS.items() if m.kind != "count"})
        out.update(self.counters)
        out.update(self.peaks)
        for base, names in QUANTILES.items():
            samples = self._samples.get(base)
            for name, q in names.items():
                if samples:
                    out[name] = float(np.quantile(np.frombuffer(samples, dtype=float), q))
                elif name not in self.peaks:
                    out[name] = math.nan
        if self._samples.get("send_queue_depth"):
            observed_max = float(max(self._samples["send_queue_depth"]))
            out["send_queue_depth_max"] = max(observed_max, self.peaks.get("send_queue_depth_max", 0.0))
        out["peak_handshake_rate"] = self.peak_rate("handshakes")
        bp = out.get("backplane_deliveries", 0.0)
        out["fanout_waste_fraction"] = out.get("backplane_deliveries_discarded", 0.0) / bp if bp else math.nan
        out.update(self.values)
        return {k: float(v) for k, v in out.items()}

    def timeseries(self) -> pd.DataFrame:
        """Tidy time series: ``time`` (bin start, s), ``series``, ``label``, ``value``.

        Rate series are divided by the interval (events per second).
        """
        rows: list[tuple[float, str, str, float]] = []
        for (series, label), bins in self._rates.items():
            rows.extend((b * self.interval, series, label, n / self.interval) for b, n in bins.items())
        for (series, label), bins in self._gauges.items():
            rows.extend((b * self.interval, series, label, v) for b, v in bins.items())
        import pandas as pd

        frame = pd.DataFrame(rows, columns=["time", "series", "label", "value"])
        return frame.sort_values(["series", "label", "time"], kind="stable").reset_index(drop=True)

    def result(self, **info: Any) -> RunResult:
        """Everything recorded, as a :class:`RunResult`."""
        info.setdefault("numpy_version", np.__version__)
        return RunResult(self.summary(), self.timeseries(), sorted(self.markers), info)
