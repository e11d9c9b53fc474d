"""The calibration overlay ``wssim calibrate`` writes: dotted config paths to measured values, with a
header saying how, when and on which machine they were measured."""

from __future__ import annotations

import json
import math
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reference_impl.driver.calibrate import Bench, CalibrateOptions

#: config paths of the CPU model (written under ``measured_costs:`` while the schema lacks them)
CPU_PATHS = (
    *(
        f"gateways.cpu.{k}"
        for k in ("frame", "per_byte", "backplane_message", "ping", "deflate_per_byte", "cores")
    ),
    "gateways.compression.memory",
    "gateways.compression.ratio",
)


def duration(seconds: float) -> str:
    """A duration the config reads back: ms above a millisecond, else µs to 4 significant digits
    (fixed-point: a per-byte cost is a fraction of a nanosecond)."""
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f}ms"
    us = seconds * 1e6
    decimals = 3 if us <= 0 else max(0, 3 - math.floor(math.log10(us)))
    return f"{us:.{decimals}f}".rstrip("0").rstrip(".") + "us"


def schema_has(path: str) -> bool:
    """Whether the config schema knows the dotted ``path``."""
    from pydantic import BaseModel

    from wssim.config import Config

    model: Any = Config
    for part in path.split("."):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        model = fields[part].annotation
        model = next(
            (a for a in getattr(model, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)),
            model,
        )
    return True


def versions(bench: Bench) -> str:
    """Python, websockets, Redis and NATS server versions."""
    import redis
    import websockets

    try:
        redis_v = redis.Redis.from_url(bench.redis_url or "").info("server")["redis_version"]
    except Exception:
        redis_v = "?"
    try:
        nats_v = subprocess.run(
            ["nats-server", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError:
        nats_v = ""
    return (f"Python {platform.python_version()}, websockets {websockets.__version__}, Redis {redis_v}, "
            f"{nats_v.strip() or 'nats-server ?'}")  # fmt: skip


def cpu_lines(cpu: dict[str, float], kind: str) -> list[str]:
    """The CPU model's entries and how they were measured."""
    from reference_impl.driver.cpu_costs import IDLE, MEMBERS, PING_INTERVAL

    if not cpu:
        return []
    values = {
        "gateways.cpu.frame": duration(cpu["frame"]),
        "gateways.cpu.per_byte": duration(cpu["per_byte"]),
        "gateways.cpu.backplane_message": duration(cpu["backplane_message"]),
        "gateways.cpu.ping": duration(cpu["ping"]),
        "gateways.cpu.deflate_per_byte": duration(max(0.0, cpu["deflate_per_byte"])),
        "gateways.cpu.cores": "1",
        "gateways.compression.memory": f"{max(0, round(cpu['memory_on'] - cpu['memory_off']))}B",
        "gateways.compression.ratio": f"{cpu['ratio']:.3f}",
    }
    lines = [
        "# CPU per operation: the gateway's utime + stime (/proc) over broadcasts published straight to the",
        f"# {kind} backplane, received by raw clients: a room of 1 member, and of {MEMBERS} members with",
        f"# frames of {cpu['small_payload']:.0f} and {cpu['large_payload']:.0f} B (median of 3 each); "
        f"{cpu['deliveries_per_cpu_s'] / 1000:.1f} k deliveries per CPU-second",
        f"# for the small frames. Ping: {IDLE} connections pinged every {PING_INTERVAL:g} s against the same "
        "without pings. One event loop:",
        "# cores 1. Memory per connection after one message each: "
        f"{cpu['memory_off'] / 1024:.1f} KiB without compression, {cpu['memory_on'] / 1024:.1f} KiB with",
        "# permessage-deflate (websockets' defaults: 4 KiB window, memLevel 5); compression.memory is the",
        "# difference. Compression at the small frames (text): ratio = payload on the wire / before; CPU",
        "# beyond the model's cost of the wire bytes, per byte before (at "
        f"{cpu['large_payload']:.0f} B frames: {duration(cpu['deflate_per_byte_large'])} per byte, "
        f"ratio {cpu['ratio_large']:.3f}).",
    ]
    if all(schema_has(p) for p in CPU_PATHS):
        return lines + [f"{p}: {v}" for p, v in values.items()]
    return [
        *lines,
        "# The config schema does not read these paths yet: the loader ignores this section.",
        "measured_costs:",
        *(f"  {p}: {v}" for p, v in values.items()),
    ]


def overlay_text(results: dict[str, dict[str, float]], cpu: dict[str, float], opts: CalibrateOptions,
                 bench: Bench) -> str:  # fmt: skip
    """The YAML text of the overlay."""
    from wssim.crosscheck.calibration import this_machine

    med = lambda key: statistics.median(r[key] for r in results.values())  # noqa: E731
    now = datetime.now(UTC)
    machine = this_machine()
    lines = [
        "# wssim calibration overlay: the live reference implementation on this machine.",
        f"# Measured {now:%Y-%m-%d %H:%M} UTC by `wssim calibrate` on host {machine['host']!r}: "
        f"{machine['cores']} vCPU ({machine['cpu']}, shared),",
        f"# {machine['system']}, {versions(bench)}.",
        f"# One gateway process per backplane kind ({', '.join(results)}); handshake_cost: the median of "
        f"{opts.herds} herds of {opts.handshakes}",
        "# connections opened at once through a balancer (span of the gateway's accept times / handshakes",
        f"# after the first; at concurrency 1 a handshake takes {duration(med('handshake_wall_s'))} "
        f"of wall time, {duration(med('handshake_cpu_s'))} of the gateway's CPU),",
        f"# {opts.connections} idle subscribed connections (RSS delta / N), {opts.subscribers} subscribers "
        f"x {opts.rate:g} msg/s for {opts.seconds:g} s (publish -> client).",
        "# Kernel socket buffers are not in RSS and loopback has no TLS: per_connection.kernel and .tls",
        "# are 0 so that the simulated memory is the RSS the live run reports.",
        "# Applied to the simulator side of `wssim crosscheck` (see docs/howto/live-runs.md).",
        "machine:",
        *(f"  {k}: {json.dumps(v)}" for k, v in machine.items()),
        f"measured: {now:%Y-%m-%dT%H:%M:%SZ}",
        f"gateways.handshake_cost: {duration(med('handshake_herd_s'))}",
        f"gateways.base_memory: {med('base_rss') / 2**20:.0f}MiB",
        f"gateways.per_connection.app: {round(med('per_connection_bytes'))}B",
        "gateways.per_connection.kernel: 0B",
        "gateways.per_connection.tls: 0B",
        *cpu_lines(cpu, opts.kinds[0]),
        f"# The path to a reader that stopped reading held {med('path_buffer_bytes') / 1024:.0f} KiB with "
        f"socket buffers of {opts.send_buffer} B",
        f"# ({opts.message_size} B messages through the balancer).",
        "per_send_buffer:",
        f"  {opts.send_buffer}:",
        f"    gateways.send_queue.path_buffer: {round(med('path_buffer_bytes'))}B",
        "per_backplane:",
    ]
    for kind, r in results.items():
        lines += [
            f"  {kind}:",
            f"    backplane.latency.median: {duration(r['latency_p50_s'])}",
            f"    backplane.latency.p99: {duration(r['latency_p99_s'])}",
        ]
    return "\n".join(lines) + "\n"
