"""The reconnect herd at fleet scale: the simulator against a bare SimPy loop doing the same work.

Runs the ``herd`` model with (by default) 1,000,000 clients on 20 gateways: a connect ramp, then one
gateway crashes and its clients reconnect with full-jitter backoff until the fleet is whole again.
It counts the client actions the model dispatched (connect and reconnect attempts), then runs a bare
SimPy loop with one live process per client that dispatches exactly that many timeouts (each client
waits for its connect time, the crashed ones once more per reconnect). Prints wall time, peak RSS and
the ratio (of wall and of CPU time: on a shared machine the CPU ratio is the steadier one), and
writes ``benchmarks/results/herd.json``.

    python benchmarks/bench_herd.py                       # 1M clients
    python benchmarks/bench_herd.py --set clients.count=100000
"""

from __future__ import annotations

import argparse
import gc
import resource
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from _timing import RESULTS, in_child, ratios, timed, write


def herd_config(overrides: list[str]) -> Any:
    """The benchmark's herd: 1M clients, 20 gateways, 60 s ramp, a crash at 90 s, 3 minutes."""
    from wssim.config import load_config

    base = {
        "name": "herd-bench",
        "seed": 7,
        "duration": "3min",
        "interval": "1s",
        "clients": {
            "count": 1_000_000,
            "connect_ramp": "60s",
            "reconnect": {"strategy": "full_jitter", "base": "1s", "cap": "30s"},
            "rooms": {"count": 10_000, "per_client": 1},
            "publish_rate": "0/s",
        },
        "edge": {"balancer": "consistent_hash", "conntrack_max": None},
        "gateways": {"count": 20, "memory": "8GiB", "restart_delay": "10s"},
        "backplane": {"kind": "in_memory"},
        "faults": [{"kind": "gateway_crash", "at": "90s", "gateway": 0}],
    }
    return load_config(base, overrides)


def peak_rss_mib() -> float:
    """Peak resident set size of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_model(overrides: list[str], out: Any) -> None:
    """Child process: run the model once, report wall, RSS, actions and per-client action counts."""
    from wssim.sim.simulate import build_world

    cfg = herd_config(overrides)
    with timed() as t:
        w = build_world(cfg)
        w.env.run(until=cfg.duration)
        w.observer.finish()
    m = w.rec.summary()
    arrivals = w.clients.arrival_times(w.clients.n0, 0.0, cfg.clients.connect_ramp, 0)
    out.put(
        {
            **t,
            "peak_rss_mib": peak_rss_mib(),
            "actions": w.clients.actions,
            "clients": cfg.clients.count,
            "reconnect_attempts": m["reconnect_attempts"],
            "connections_peak": m["connections_peak"],
            "herd_convergence_s": m["herd_convergence_s"],
            "peak_handshake_rate": m["peak_handshake_rate"],
            "arrival_span_s": arrivals[-1] if arrivals else 0.0,
            "crash_at_s": 90.0,
            "duration_s": cfg.duration,
        }
    )


def run_bare(clients: int, actions: int, span: float, crash_at: float, out: Any) -> None:
    """Child process: one SimPy process per client, ``actions`` timeouts in all, nothing else."""
    rng = np.random.default_rng(7)
    extra = actions - clients  # reconnect attempts: spread over the clients of one gateway
    herd = max(1, clients // 20)
    env = simpy.Environment()
    connect_at = (np.arange(clients) * (span / max(1, clients - 1))).tolist()
    retries = np.zeros(clients, dtype=np.int64)
    if extra > 0:
        np.add.at(retries, rng.integers(0, herd, extra), 1)
    retries_l = retries.tolist()
    jitter = rng.random(extra + 1).tolist()
    done = [0]

    def client(i: int) -> Any:
        yield env.timeout(connect_at[i])
        done[0] += 1
        k = retries_l[i]
        if k:
            yield env.timeout(crash_at - env.now)
            for j in range(k):
                yield env.timeout(jitter[j % len(jitter)] * 2.0 ** min(j, 5))
                done[0] += 1

    with timed() as t:
        for i in range(clients):
            env.process(client(i))
        env.run()
    out.put({**t, "peak_rss_mib": peak_rss_mib(), "actions": done[0]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    parser.add_argument("--out", type=Path, default=RESULTS / "herd.json")
    args = parser.parse_args()
    gc.collect()
    model = in_child(run_model, args.overrides)
    print(
        f"model: {model['clients']:,} clients, {model['actions']:,} client actions, "
        f"wall {model['wall_s']:.1f} s (CPU {model['cpu_s']:.1f} s), "
        f"peak RSS {model['peak_rss_mib']:.0f} MiB, "
        f"convergence {model['herd_convergence_s']:.2f} s, "
        f"peak handshakes {model['peak_handshake_rate']:.0f}/s"
    )
    bare = in_child(
        run_bare, model["clients"], model["actions"], model["arrival_span_s"], model["crash_at_s"]
    )
    print(
        f"bare SimPy: {bare['actions']:,} timeouts in {model['clients']:,} processes, "
        f"wall {bare['wall_s']:.1f} s (CPU {bare['cpu_s']:.1f} s), peak RSS {bare['peak_rss_mib']:.0f} MiB"
    )
    ratio, ratio_cpu = ratios([(model, bare)])
    print(
        f"ratio model / bare: wall {ratio:.2f}, CPU {ratio_cpu:.2f} (target <= 2); "
        "targets: model wall <= 60 s, RSS <= 3072 MiB"
    )
    result = {
        "benchmark": "herd",
        "model": model,
        "bare_simpy": bare,
        "ratio": ratio,
        "ratio_cpu": ratio_cpu,
        "targets": {"wall_s": 60.0, "peak_rss_mib": 3072.0, "ratio": 2.0},
    }
    write(args.out, result)


if __name__ == "__main__":
    main()
