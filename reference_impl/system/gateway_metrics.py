"""The gateway's metrics: prometheus_client objects in a registry of its own, and how to read them back.

Every family is declared in :mod:`reference_impl.system.metric_names` (names, help, labels). Counters
are ``prometheus_client.Counter`` s bumped where things happen; gauges whose value the gateway already
keeps (connections, queued bytes, peaks) are read at scrape time (``Gauge.set_function``); the sampled
send-queue depth histogram is a collector, so sampling ten thousand idle connections costs one bucket
update each rather than one ``Histogram.observe`` each. ``process_*`` families come from
``ProcessCollector`` (``process_resident_memory_bytes`` is the memory the harness records);
``wssim_cpu_seconds_total`` is the process's CPU time read at scrape time from ``time.process_time``
(the kernel's per-thread run time, in nanoseconds), which the harness samples every interval for the
CPU metrics: ``process_cpu_seconds_total`` is the same time rounded to 10 ms clock ticks.
``wssim_gc_pause_seconds_total`` is the time the garbage collector held the event loop.
"""

from __future__ import annotations

import bisect
import gc
import math
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from reference_impl.system.metric_names import CLOSE_REASONS, FRAME_REJECT_REASONS, GATEWAY, REJECT_REASONS

disable_created_metrics()  # no *_created series: a scrape is the counters and nothing else
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus 2.x scrapes; our names need no escaping
DEPTH_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000)
_SPEC = {e.name: e for e in GATEWAY}


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; falls back to the peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class DepthHistogram(Collector):
    """Sampled send-queue depths, exposed as the ``wssim_send_queue_depth`` histogram."""

    def __init__(self) -> None:
        self.buckets = [0] * len(DEPTH_BUCKETS)
        self.count = 0
        self.sum = 0

    def observe(self, depth: int, times: int = 1) -> None:
        i = bisect.bisect_left(DEPTH_BUCKETS, depth)
        if i < len(self.buckets):
            self.buckets[i] += times
        self.count += times
        self.sum += depth * times

    def collect(self) -> Iterator[HistogramMetricFamily]:
        spec = _SPEC["wssim_send_queue_depth"]
        cumulative, rows = 0, []
        for bound, n in zip(DEPTH_BUCKETS, self.buckets, strict=True):
            cumulative += n
            rows.append((str(bound), cumulative))
        rows.append(("+Inf", self.count))
        yield HistogramMetricFamily(spec.name, spec.help, buckets=rows, sum_value=self.sum)


class CpuTime(Collector):
    """This process's CPU time, user and system, every thread: ``wssim_cpu_seconds_total``."""

    family = "wssim_cpu_seconds"

    def collect(self) -> Iterator[CounterMetricFamily]:
        spec = _SPEC[self.family]
        yield CounterMetricFamily(spec.name, spec.help, value=time.process_time())


class GcPauses(Collector):
    """Time this process spent stopped in Python's garbage collector: ``wssim_gc_pause_seconds_total``.

    Timed by a ``gc.callbacks`` hook (installed once per process); a collection stops the event loop,
    so every socket waits for it."""

    family = "wssim_gc_pause_seconds"
    total = 0.0
    _started = 0.0

    @classmethod
    def install(cls) -> None:
        if cls._hook not in gc.callbacks:
            gc.callbacks.append(cls._hook)

    @classmethod
    def _hook(cls, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            cls._started = time.perf_counter()
        else:
            cls.total += time.perf_counter() - cls._started

    def collect(self) -> Iterator[CounterMetricFamily]:
        spec = _SPEC[self.family]
        yield CounterMetricFamily(spec.name, spec.help, value=self.total)


COLLECTED = (CpuTime.family, GcPauses.family)  # counters read at scrape time, not bumped


class GatewayMetrics:
    """One gateway's metrics. Counters are attributes named after their family (without ``wssim_``)."""

    handshakes: Counter
    requests_rejected: Counter
    frames_rejected: Counter
    connections_closed: Counter
    messages_published: Counter
    backplane_deliveries: Counter
    backplane_deliveries_discarded: Counter
    deliveries_delivered: Counter
    messages_dropped_overflow: Counter
    messages_conflated: Counter
    slow_consumer_disconnects: Counter
    resume_attempts: Counter
    replay_hits: Counter
    replay_misses: Counter
    resyncs: Counter
    messages_replayed: Counter
    gap_notices: Counter

    def __init__(self, gateway_id: str, limits: Mapping[str, float | None] | None = None) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        Info("wssim_gateway", _SPEC["wssim_gateway"].help, registry=r).info({"gateway": gateway_id})
        for spec in GATEWAY:
            if spec.kind == "counter" and spec.name not in COLLECTED:
                setattr(self, spec.name[6:], Counter(spec.name, spec.help, spec.labels, registry=r))
        for family, reasons in (
            (self.requests_rejected, REJECT_REASONS),
            (self.frames_rejected, FRAME_REJECT_REASONS),
            (self.connections_closed, CLOSE_REASONS),
        ):
            for reason in reasons:  # every known series exists from the start, at 0
                family.labels(reason)
        # values the gateway keeps as plain numbers, read at scrape time
        self.connections = 0
        self.connections_peak = 0
        self.rooms = 0
        self.queued_messages = 0
        self.buffered_bytes = 0
        self.send_queue_depth_max = 0
        self.gateway_memory_peak_bytes = 0
        for name in (
            "connections",
            "connections_peak",
            "rooms",
            "queued_messages",
            "buffered_bytes",
            "send_queue_depth_max",
            "gateway_memory_peak_bytes",
        ):
            spec = _SPEC[f"wssim_{name}"]
            Gauge(spec.name, spec.help, registry=r).set_function(self._reader(name))
        limit = Gauge("wssim_limit", _SPEC["wssim_limit"].help, ["setting"], registry=r)
        for setting, value in (limits or {}).items():
            limit.labels(setting).set(math.inf if value is None else float(value))
        self.depth = DepthHistogram()
        r.register(self.depth)
        r.register(CpuTime())
        GcPauses.install()
        r.register(GcPauses())

    def _reader(self, name: str) -> Callable[[], float]:
        return lambda: float(getattr(self, name))

    # counters of the labelled families
    def rejected(self, reason: str) -> None:
        self.requests_rejected.labels(reason).inc()

    def frame_rejected(self, reason: str) -> None:
        self.frames_rejected.labels(reason).inc()

    def closed(self, reason: str) -> None:
        self.connections_closed.labels(reason).inc()

    def connected(self, delta: int) -> None:
        self.connections += delta
        if self.connections > self.connections_peak:
            self.connections_peak = self.connections

    def observe_depth(self, depth: int, times: int = 1) -> None:
        """``times`` samples of a send-queue depth."""
        self.depth.observe(depth, times)
        if depth > self.send_queue_depth_max:
            self.send_queue_depth_max = depth

    def sample_memory(self) -> int:
        """Resident memory now; tracks its peak."""
        rss = rss_bytes()
        self.gateway_memory_peak_bytes = max(self.gateway_memory_peak_bytes, rss)
        return rss

    def render(self) -> bytes:
        """The text exposition format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of family ``wssim_NAME`` (counters without ``_total``); 0 when never set."""
        spec = _SPEC[f"wssim_{name}"]
        return self.registry.get_sample_value(spec.sample, labels) or 0.0


def families(text: str) -> Iterator[Any]:
    """The metric families of a text exposition (prometheus_client's parser)."""
    return text_string_to_metric_families(text)


def scrape(text: str) -> dict[str, float]:
    """Unlabelled ``wssim_`` samples of a page by short name (no prefix, no ``_total``), histogram
    buckets as ``bucket:LE``, and ``memory_bytes`` (the resident memory)."""
    out: dict[str, float] = {}
    for family in families(text):
        for s in family.samples:
            if s.name == "process_resident_memory_bytes":
                out["memory_bytes"] = s.value
            elif s.name == "wssim_send_queue_depth_bucket":
                out[f"bucket:{s.labels['le']}"] = s.value
            elif s.name.startswith("wssim_") and not s.labels:
                out[s.name[6:].removesuffix("_total")] = s.value
    return out


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``, in a text exposition."""
    return sum(
        s.value
        for family in families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )
