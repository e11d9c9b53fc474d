"""The live engine's CPU metrics: the gateway's CPU time, sampled by the harness, against /proc.

The gateway exposes its process's CPU time on ``/metrics`` (``wssim_cpu_seconds_total``, behind the
metrics token like every family there); the harness reads it at every interval's edge and computes
the simulator's CPU metrics with the simulator's code (``wssim.sim.cpu.record_cpu``). The independent
measure is the kernel's account of the same process, ``utime + stime`` of ``/proc/<pid>/stat``, polled
by this test.
"""

from __future__ import annotations

import math
import os
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import psutil
import pytest
from live_helpers import ops_token, scrape_metrics, token
from live_runs import need_server

from reference_impl.driver.harness import run_live
from reference_impl.system.gateway_metrics import sample

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

TICK = 1 / os.sysconf("SC_CLK_TCK")  # /proc reports CPU time in clock ticks (10 ms)
POLL = 0.01  # seconds between this test's readings of /proc
# The harness reads a gateway's CPU time within this long of an interval's edge: its monitor thread
# wakes at the edge and sends one loopback request, read at its midpoint (at most 9 ms after the edge
# on this two-core machine under this run's load); CPU spent in that offset can land in the next bin.
SCRAPE_LAG = 0.02


def proc_cpu(pid: int) -> float:
    """CPU-seconds ``pid`` has used, user and system, from /proc/<pid>/stat (truncated to ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK  # utime, stime: fields 14 and 15


def get(port: int, bearer: str | None) -> int:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_gateway_exposes_its_cpu_time_behind_the_metrics_token(gateway_process) -> None:
    gw = gateway_process("--backplane", "in_memory")
    assert get(gw.port, None) == 401 and get(gw.port, token()) == 403  # no token; no metrics scope
    for _ in range(5):
        before = proc_cpu(gw.proc.pid)
        exposed = sample(scrape_metrics(gw.port), "wssim_cpu_seconds_total")
        after = proc_cpu(gw.proc.pid)
        # read between the two /proc readings, each short of the truth by under a tick (utime and stime
        # are truncated apart): before <= exposed < after + 2 ticks
        assert before <= exposed < after + 2 * TICK
        assert get(gw.port, ops_token()) == 200


class Poller:
    """Reads the gateway process's CPU time from /proc every ``POLL`` seconds while a run lasts."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.done = threading.Event()

    def gateway_pid(self) -> int:
        while not self.done.is_set():
            for p in psutil.Process().children(recursive=True):
                try:
                    if "reference_impl.system.gateway" in p.cmdline():
                        return p.pid
                except psutil.NoSuchProcess:
                    pass
            time.sleep(POLL)
        raise AssertionError("no gateway process was seen")

    def run(self) -> None:
        pid = self.gateway_pid()
        while not self.done.is_set():
            try:
                cpu = proc_cpu(pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            self.times.append(time.time())
            self.cpu.append(cpu)
            time.sleep(POLL)

    def at(self, wall: float) -> float:
        """CPU time at ``wall``, interpolated between the readings around it."""
        return float(np.interp(wall, self.times, self.cpu))


def busy_run() -> dict:
    """One gateway on a real Redis, 400 clients in 4 rooms of 100, 200 publications/s (20,000
    deliveries/s): busy (about a fifth of its core here), not saturated."""
    return {
        "name": "cpu",
        "seed": 3,
        "duration": "6s",
        "interval": "1s",
        "clients": {
            "count": 400,
            "connect_ramp": "1s",
            "publish_rate": "0.5/s",
            "rooms": {"count": 4, "per_client": 1},
        },
        "gateways": {"count": 1, "keepalive": {"ping_interval": "2s"}},
        "backplane": {"kind": "redis_pubsub"},
    }


def test_a_live_run_measures_the_gateways_cpu_as_proc_sees_it() -> None:
    need_server("redis_pubsub")
    poller = Poller()
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        result = run_live(busy_run(), settle=1.0)
    finally:
        poller.done.set()
        thread.join(5)
    assert not result.info["errors"], result.info["errors"]
    m = result.metrics
    assert 0 < m["gateway_cpu_utilisation_peak"] <= 1
    assert math.isfinite(m["deliveries_per_cpu_second"]) and m["deliveries_per_cpu_second"] > 0
    assert m["cpu_saturated_s"] == 0
    assert math.isnan(m["gateway_cpu_backlog_s_max"]) and math.isnan(m["gateway_cpu_wait_mean_s"])
    ts = result.timeseries
    series = ts[(ts.series == "gateway_cpu_utilisation") & (ts.label == "g0")].set_index("time")["value"]
    t0, s = result.info["t0"], result.info["time_scale"]
    step, bins = 1.0, range(6)
    assert list(series.index) == [b * step for b in bins]
    assert ((series > 0) & (series <= 1)).all() and m["gateway_cpu_utilisation_peak"] == series.max()
    proc = [(poller.at(t0 + (b + 1) * step * s) - poller.at(t0 + b * step * s)) / (step * s) for b in bins]
    # sampling granularity at each of a bin's two edges: a /proc reading is short by under two ticks,
    # this test's readings are up to a poll gap from the edge (at most one core busy in it), and the
    # harness reads up to SCRAPE_LAG after it
    gap = max(np.diff(poller.times))
    edge = 2 * TICK + gap + SCRAPE_LAG
    for b in bins:
        assert abs(series.iloc[b] - proc[b]) <= 2 * edge / (step * s), (b, series.iloc[b], proc[b])
    spent, proc_spent = sum(series) * step * s, sum(proc) * step * s  # CPU-seconds over [0, duration)
    assert abs(spent - proc_spent) <= 2 * edge
    assert m["deliveries_per_cpu_second"] == pytest.approx(m["deliveries_delivered"] / spent)
