"""Fan-out at fleet scale: the simulator with the gateway CPU model against the same run without it.

200,000 clients in 20,000 rooms (10 members each) on 10 gateways publish 5 messages per client per
minute for 2 simulated minutes (about 2 M publishes over NATS, a channel per room). The same run is
made twice, alternating, each in a fresh process: with the default CPU costs (every publication is a
job on each gateway that holds members) and with fan-out free (``frame``, ``per_byte``,
``backplane_message`` and ``ping`` at 0: no job, as before the CPU model). Prints wall and CPU time of
each and the ratio (median over ``--rounds``; on a shared machine the CPU ratio is the steadier one),
and writes ``benchmarks/results/fanout.json``.

    python benchmarks/bench_fanout.py
    python benchmarks/bench_fanout.py --set clients.count=20000 --set clients.rooms.count=2000
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _timing import RESULTS, in_child, ratios, timed, write

FREE = ["gateways.cpu.frame=0s", "gateways.cpu.per_byte=0s", "gateways.cpu.backplane_message=0s"]
FREE += ["gateways.cpu.ping=0s"]


def fanout_config(overrides: list[str]) -> Any:
    """The benchmark's fleet: 200k clients, 20k rooms, 5 messages per client per minute, 10 gateways."""
    from wssim.config import load_config

    base = {
        "name": "fanout-bench",
        "seed": 11,
        "duration": "2min",
        "warmup": "15s",
        "interval": "1s",
        "clients": {
            "count": 200_000,
            "connect_ramp": "10s",
            "rooms": {"count": 20_000, "per_client": 1},
            "publish_rate": "5/min",
            "message_size": "200B",
        },
        "edge": {"balancer": "consistent_hash", "conntrack_max": None},
        "gateways": {"count": 10, "conntrack_max": None},
        "backplane": {"kind": "nats", "topology": "channel_per_room", "interest_routing": True},
    }
    return load_config(base, overrides)


def run_model(overrides: list[str], out: Any) -> None:
    """Child process: run the model once; report wall and CPU time and the headline figures."""
    from wssim.sim import simulate

    cfg = fanout_config(overrides)
    with timed() as t:
        m = simulate(cfg).metrics
    out.put(
        {
            **t,
            "messages_published": m["messages_published"],
            "deliveries_delivered": m["deliveries_delivered"],
            "latency_p99_s": m["latency_p99_s"],
            "gateway_cpu_utilisation_peak": m["gateway_cpu_utilisation_peak"],
            "deliveries_per_cpu_second": m["deliveries_per_cpu_second"],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    parser.add_argument("--rounds", type=int, default=2, help="alternating pairs of runs (median ratio)")
    parser.add_argument("--out", type=Path, default=RESULTS / "fanout.json")
    args = parser.parse_args()
    pairs = []
    for i in range(args.rounds):
        without = in_child(run_model, [*args.overrides, *FREE])
        with_cpu = in_child(run_model, args.overrides)
        pairs.append((with_cpu, without))
        print(
            f"round {i + 1}: with CPU {with_cpu['wall_s']:.1f} s wall ({with_cpu['cpu_s']:.1f} s CPU), "
            f"without {without['wall_s']:.1f} s ({without['cpu_s']:.1f} s CPU); "
            f"{with_cpu['messages_published']:,.0f} publishes, "
            f"{with_cpu['deliveries_delivered']:,.0f} deliveries, "
            f"CPU peak {with_cpu['gateway_cpu_utilisation_peak']:.3f}, "
            f"{with_cpu['deliveries_per_cpu_second']:,.0f} deliveries per CPU-second"
        )
    ratio, ratio_cpu = ratios(pairs)
    print(f"ratio with / without the CPU model: wall {ratio:.2f}, CPU {ratio_cpu:.2f} (target <= 1.5)")
    result = {
        "benchmark": "fanout",
        "runs": [{"with_cpu": w, "without": b} for w, b in pairs],
        "ratio": ratio,
        "ratio_cpu": ratio_cpu,
        "targets": {"ratio": 1.5},
    }
    write(args.out, result)


if __name__ == "__main__":
    main()
