"""The calibrated CPU model against the live gateway: saturation throughput of a broadcast.

This machine is calibrated first (`wssim calibrate`, one backplane kind, the CPU part included: its
per-frame, per-byte and per-backplane-message costs come from broadcasts to 1,000 raw clients on Redis
pub/sub). The live figure is the project's broadcast benchmark, a different workload: 1,000 clients
in two load-generator processes, ~100-byte frames, publications sent by a WebSocket client through the
gateway's in-memory backplane (``benchmarks/bench_gateway_broadcast.py``, deliveries per CPU-second of
the gateway process, median of three). The model runs the same broadcast on one gateway, offered 1.5
times what its core can serve, with the calibrated costs; its ``deliveries_per_cpu_second`` is the
saturation throughput of one core. Issue 10 asks for agreement within 15 %.

The ruler: CPU ticks of 10 ms over ~1 s of CPU per run are 1 %, but this machine's CPU-seconds per
delivery drift by more than that over minutes (the benchmark gave 148k–183k deliveries per CPU-second
in one ten-minute span and 115k–132k in the next, on a quiet machine). The calibration and the live
figure are taken a minute apart, so the benchmark brackets the calibration (its median of three runs
just before and just after it): the live rate while the calibration ran lies between the two (a
steady drift), and the model must be within 15 % of a rate in that bracket.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from live_runs import need_server

from wssim.crosscheck import Calibration

pytestmark = [pytest.mark.live, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MEMBERS, FRAME, MESSAGES = 1000, 100, 300  # the broadcast benchmark's defaults
TOLERANCE = 0.15


def calibrate(out: Path) -> dict[str, str]:
    args = ["--kind", "redis_pubsub", "--herds", "1", "--handshakes", "50", "--connections", "200"]
    args += ["--subscribers", "20", "--seconds", "1", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "WSSIM_REDIS_URL"}
    done = subprocess.run([sys.executable, "-m", "wssim", "calibrate", *args], capture_output=True,
                          text=True, timeout=420, cwd=ROOT, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(o.split("=", 1) for o in Calibration.load(out).overrides("in_memory"))


def live_deliveries_per_cpu_second() -> float:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_gateway_broadcast as bench

    runs = [bench.measure("gateway", MEMBERS, MESSAGES) for _ in range(3)]
    for r in runs:
        assert r["received"] == r["expected"], r
    return statistics.median(r["rate_per_cpu_s"] for r in runs)


def simulated_deliveries_per_cpu_second(costs: dict[str, str], tmp: Path) -> tuple[float, float]:
    """The model's deliveries per CPU-second at 1.5x saturation, and its closed form."""
    from wssim.units import parse_duration

    frame, per_byte = (
        parse_duration(costs["gateways.cpu.frame"]),
        parse_duration(costs["gateways.cpu.per_byte"]),
    )
    message = parse_duration(costs["gateways.cpu.backplane_message"])
    per_publication = message + MEMBERS * (frame + FRAME * per_byte)
    config = {
        "name": "broadcast-saturation",
        "seed": 3,
        "duration": "40s",
        "warmup": "5s",
        "replications": 1,
        "clients": {"count": MEMBERS, "connect_ramp": "1s", "rooms": {"count": 1},
                    "message_size": f"{FRAME}B", "publish_rate": 1.5 / per_publication / MEMBERS},
        # handshakes are outside the benchmark's CPU window: free here, so only fan-out is counted
        "gateways": {"count": 1, "handshake_cost": "0s", "keepalive": {"ping_interval": None},
                     "send_queue": {"limit": None, "overflow": "unbounded"}, "memory": "64GiB",
                     "cpu": {"cores": 1, "frame": costs["gateways.cpu.frame"],
                             "per_byte": costs["gateways.cpu.per_byte"],
                             "backplane_message": costs["gateways.cpu.backplane_message"]}},
        "backplane": {"kind": "in_memory"},
    }  # fmt: skip
    path = tmp / "saturation.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp / "run"
    done = subprocess.run([sys.executable, "-m", "wssim", "run", str(path), "--out", str(out), "-q",
                           "--no-report"], capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert row["gateway_cpu_utilisation_peak"] > 0.99  # saturated
    return float(row["deliveries_per_cpu_second"]), MEMBERS / per_publication


@pytest.mark.timeout(1200)
def test_the_calibrated_model_saturates_at_the_live_broadcast_throughput(tmp_path: Path) -> None:
    need_server("redis_pubsub")
    before = live_deliveries_per_cpu_second()
    costs = calibrate(tmp_path / "this-machine.yaml")
    after = live_deliveries_per_cpu_second()
    low, high = sorted((before, after))  # the live rate during the calibration, under a steady drift
    live = (before + after) / 2
    simulated, closed_form = simulated_deliveries_per_cpu_second(costs, tmp_path)
    shown = f"live {live:,.0f} ({before:,.0f} before, {after:,.0f} after the calibration), model "
    shown += f"{simulated:,.0f} (closed form {closed_form:,.0f})"
    print(f"deliveries per CPU-second: {shown}")
    assert simulated == pytest.approx(closed_form, rel=0.02)  # the simulator serves the model it states
    assert (1 - TOLERANCE) * low <= simulated <= (1 + TOLERANCE) * high, (simulated, low, high)
