"""Delivery latency under CPU load: the live gateway against the model, at about 50 % and 90 % of a core.

Live (``reference_impl.driver.cpu_latency``): one reference gateway on a private Redis, one room of
500 members (250 of them stamp every frame's arrival), Poisson publications straight to the backplane.
Each load is twelve segments of 6 s from an idle gateway; each segment measures the gateway's service
per publication (its seconds on a core or waiting for one). This machine's CPU per delivery drifts by
about ±10 % within tens of seconds (segments of 12 s measured here: 7.9–11.6 ms per publication in one
load), and at 90 % that alone moves the wait several-fold, so the model is given each segment's own
figure rather than one calibration.

Model: for each segment, ``wssim run`` with one gateway, one core, the same room and Poisson rate, the
segment's service per publication spread over its members (``frame``), and the path's latency
without a queue (a one-member room at 50/s, less the gateway's service per publication there) as
``backplane.latency``; ``REPS`` replications of ``seconds``, the deliveries written before the run
ends counted, as the live segment counts the frames that arrived within its ``seconds``.

The statistic, in both engines: the mean over a load's segments of each segment's p50 (p99) latency.
The model's ``REPS`` replications give its 99.75 % prediction interval for one more draw (log scale:
the quantiles are positive and right-skewed near saturation; four checks, 99 % for the four together).
Above it the live figure may also exceed the model by the gateway's garbage-collection pauses in a
segment (``wssim_gc_pause_seconds_total``), which the model leaves out: a pause of g seconds adds at
most g to the latency of any later delivery (waits in a FIFO queue are 1-Lipschitz in the work added),
so the mean pause time per segment bounds what they add to the statistic. Both ways, the probes'
place: the gateway writes a room's members in the order of its member set, so the probes' latency
is the room's only if their mean place in that order is the middle; 250 of 500 members drawn by the
set's hashing are off by ``S sqrt((1/12)/250 x 250/499)`` (one standard deviation, ``S`` the service
per publication), taken at the checks' confidence. What is not in the interval: the spread of a
publication's CPU around its segment's mean (coefficient of variation 0.17 measured here:
Pollaczek–Khinchine's mean wait rises by 3 %), and the drift within a segment. Both raise the live
tail: in three runs here the live p99 was above the model's mean by 4–13 % at 50 % and by 15–32 % at
90 %, inside the interval each time.
"""

from __future__ import annotations

import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from live_runs import need_server
from scipy import stats

from reference_impl.driver.cpu_latency import Measurement, Segment, measure
from wssim.crosscheck.checks import prediction_interval

pytestmark = [pytest.mark.live, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TARGETS = (0.5, 0.9)
MEMBERS, PROBES = 500, 250
REPS = 20
CONFIDENCE = 1 - 0.01 / 4  # Bonferroni: two loads x two quantiles, 99 % together
QUANTILES = {"latency_p50_s": 50, "latency_p99_s": 99}


def model_config(m: Measurement, seg: Segment, seed: int) -> dict:
    path = np.percentile(m.path, [50, 99]) - m.path_service  # the gateway's own work is the model's
    return {
        "name": "cpu-latency", "seed": seed, "duration": f"{seg.seconds}s", "replications": REPS,
        "clients": {"count": m.members, "connect_ramp": "1ms", "rooms": {"count": 1},
                    "message_size": f"{round(m.frame_bytes)}B", "publish_rate": seg.rate / m.members},
        "gateways": {"count": 1, "handshake_cost": "0s", "keepalive": {"ping_interval": None},
                     "send_queue": {"limit": None, "overflow": "unbounded"}, "memory": "64GiB",
                     "cpu": {"cores": 1, "frame": f"{seg.service / m.members * 1e6:.4f}us",
                             "per_byte": "0s", "backplane_message": "0s"}},
        "backplane": {"kind": "redis_pubsub",
                      "latency": {"median": f"{path[0] * 1e3:.4f}ms", "p99": f"{path[1] * 1e3:.4f}ms"}},
    }  # fmt: skip


def simulate(config: dict, tmp: Path) -> pd.DataFrame:
    """The model's summary rows (one per replication) for one segment."""
    tmp.mkdir()
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "wssim", "run", str(tmp / "config.yaml"), "--out",
                           str(tmp / "run"), "-q", "--no-report", "--workers", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return pd.read_csv(tmp / "run" / "summary.csv")


@pytest.fixture(scope="module")
def measured() -> Measurement:
    need_server("redis_pubsub")
    return measure(MEMBERS, PROBES, TARGETS, segments=12, seconds=6.0)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("target", TARGETS)
def test_delivery_latency_under_cpu_load_agrees_with_the_model(
    target: float, measured: Measurement, tmp_path: Path
) -> None:
    segments = measured.loads[target]
    utilisation = float(np.mean([s.utilisation for s in segments]))
    assert abs(utilisation - target) <= 0.1, f"the load reached {utilisation:.2f} of a core, not {target}"
    configs = [model_config(measured, s, seed=1000 + i) for i, s in enumerate(segments)]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(simulate, configs, [tmp_path / f"segment{i}" for i in range(len(configs))]))
    pauses = float(np.mean([s.gc_s for s in segments]))
    # the probes are half the room, at places in the gateway's member set it chooses: their mean place
    # in a job is off the room's by this much, at the checks' confidence (sampling without replacement)
    spread = float(np.mean([s.service for s in segments])) * math.sqrt(
        (1 / 12) / PROBES * (MEMBERS - PROBES) / (MEMBERS - 1)
    )
    place = float(stats.norm.ppf(0.5 + CONFIDENCE / 2)) * spread
    each = ", ".join(f"{s.utilisation:.2f}" for s in segments)
    shown = [f"utilisation {utilisation:.3f} (segments {each})"]
    missed = []
    for column, q in QUANTILES.items():
        live = float(np.mean([np.percentile(s.latencies, q) for s in segments]))
        per_rep = np.mean([run[column].to_numpy() for run in runs], axis=0)  # one value per replication
        low, high = (math.exp(x) for x in prediction_interval(np.log(per_rep), CONFIDENCE))
        shown.append(f"p{q}: live {live * 1e3:.1f} ms, model {per_rep.mean() * 1e3:.1f} ms, interval "
                     f"[{low * 1e3:.1f}, {high * 1e3:.1f}] ± probes' place {place * 1e3:.1f} ms + GC pauses "
                     f"{pauses * 1e3:.1f} ms")  # fmt: skip
        if not low - place <= live <= high + place + pauses:
            missed.append(f"p{q}")
    print("; ".join(shown))
    assert not missed, f"{', '.join(missed)} outside the model's interval: " + "; ".join(shown)
