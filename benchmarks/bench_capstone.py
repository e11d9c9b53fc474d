"""The capstone at full scale on the batched path, against the exact event model at a smaller scale.

Runs the built-in ``capstone`` (2,000,000 clients in 600,000 rooms, 5 messages per user per minute,
10 simulated minutes, a gateway crash at 5 min) on the path ``simulation.fanout: auto`` picks for it
(batched), then the same config on the exact path (``simulation.fanout=exact``) at 1/20 of its
clients and rooms: the same room sizes, rooms per client and rates per client, so the same fan-out
per publication. Each run is made in a fresh process. Prints per run the wall and CPU time, the peak
RSS of the child (``ru_maxrss``), the publications and the wall µs per publication, then the ratio
batched / exact per publication; writes ``benchmarks/results/capstone.json``.

``--duration`` shortens the simulated time and keeps the timeline's shape: the ramp, the warm-up
and the crash keep their share of the run. Below ``simulation.batched_from`` publications per
second (a ``--scale`` under 0.3) ``auto`` alone would take the exact path; the batched run then sets
``simulation.batched_from=0`` and says so.

    python benchmarks/bench_capstone.py                       # full scale: targets <= 5 min, <= 8 GB
    python benchmarks/bench_capstone.py --scale 0.1 --duration 2min
    python benchmarks/bench_capstone.py --smoke               # tiny: a few seconds
"""

from __future__ import annotations

import argparse
import resource
import traceback
from pathlib import Path
from typing import Any

from _timing import RESULTS, in_child, timed, write

SMOKE = {"scale": 0.001, "duration": "40s"}
TARGETS = {"wall_s": 300.0, "peak_rss_mib": 8000.0 * 10**6 / 2**20}  # 5 min, 8 GB


def scaled(scale: float, duration: str | None, extra: list[str]) -> list[str]:
    """Overrides of the capstone: ``scale`` of its clients and rooms, its timeline stretched to
    ``duration`` (None: the scenario's 10 minutes)."""
    from wssim.config import load_config
    from wssim.units import parse_duration

    cfg = load_config("capstone")
    out = [
        f"clients.count={max(1, round(cfg.clients.count * scale))}",
        f"clients.rooms.count={max(1, round(cfg.clients.rooms.count * scale))}",
    ]
    if duration is not None:
        k = parse_duration(duration) / float(cfg.duration)
        out += [f"duration={float(cfg.duration) * k:g}s", f"warmup={float(cfg.warmup) * k:g}s"]
        out += [f"clients.connect_ramp={float(cfg.clients.connect_ramp) * k:g}s"]
        out += [f"faults.{i}.at={float(f.at) * k:g}s" for i, f in enumerate(cfg.faults)]
    return [*out, *extra]


def batched_overrides(overrides: list[str]) -> tuple[list[str], str]:
    """The batched run's overrides, with ``batched_from`` lowered when ``auto`` would not batch."""
    from wssim.config import load_config
    from wssim.sim.bulk import choose

    cfg = load_config("capstone", overrides)
    if choose(cfg)[0] == "batched":
        return overrides, ""
    rate = cfg.clients.publish_rate * cfg.clients.count
    note = (
        f" (simulation.batched_from=0: at {rate:,.0f} publications/s, under "
        f"{cfg.simulation.batched_from:,.0f}/s, auto alone takes the exact path)"
    )
    return [*overrides, "simulation.batched_from=0"], note


def run_capstone(path: str, scale: float, duration: str | None, extra: list[str], out: Any) -> None:
    """Child process: run the capstone once at ``scale`` on ``path`` (``batched``: what auto picks;
    ``exact``); report time, peak RSS and publications, or the error that stopped it."""
    from wssim.config import load_config
    from wssim.errors import ConfigError
    from wssim.sim import simulate

    try:
        overrides, note = scaled(scale, duration, extra), ""
        if path == "exact":
            overrides.append("simulation.fanout=exact")
        else:
            overrides, note = batched_overrides(overrides)
        cfg = load_config("capstone", overrides)
        with timed() as t:
            res = simulate(cfg)
    except (ConfigError, ValueError) as exc:
        out.put({"error": str(exc)})
        return
    except BaseException:  # the parent waits on the queue: never leave it without an answer
        out.put({"error": traceback.format_exc()})
        raise
    m = res.metrics
    out.put(
        {
            **t,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "fanout_path": res.info["fanout_path"],
            "clients": cfg.clients.count,
            "rooms": cfg.clients.rooms.count,
            "duration_s": float(cfg.duration),
            "publications": m["messages_published"],
            "deliveries": m["deliveries_delivered"],
            "us_per_publication": t["wall_s"] / max(1.0, m["messages_published"]) * 1e6,
            "overrides": overrides,
            "note": note,
        }
    )


def line(label: str, r: dict[str, Any]) -> str:
    """One run's figures on a line."""
    return (
        f"{label}: {r['fanout_path']} path, {r['clients']:,} clients, {r['rooms']:,} rooms, "
        f"{r['duration_s']:g} s simulated: wall {r['wall_s']:.1f} s (CPU {r['cpu_s']:.1f} s), "
        f"peak RSS {r['peak_rss_mib']:,.0f} MiB, {r['publications']:,.0f} publications, "
        f"{r['us_per_publication']:.2f} µs per publication{r['note']}"
    )


def run(path: str, scale: float, duration: str | None, extra: list[str]) -> dict[str, Any]:
    """One run in a fresh process, its line printed; exit 2 with the config's error."""
    r = in_child(run_capstone, path, scale, duration, extra)
    if "error" in r:
        raise SystemExit(f"bench_capstone: {r['error']}")
    print(line(path, r), flush=True)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the capstone's clients")
    parser.add_argument("--exact-scale", type=float, default=1 / 20, help="the exact run's, of --scale")
    parser.add_argument("--duration", help="simulated time, e.g. 2min (default: the scenario's 10min)")
    parser.add_argument("--smoke", action="store_true", help="tiny (0.1%% of the clients, 40 s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    parser.add_argument("--out", type=Path, default=RESULTS / "capstone.json")
    args = parser.parse_args()
    scale, duration = (SMOKE["scale"], SMOKE["duration"]) if args.smoke else (args.scale, None)
    duration = args.duration or duration
    batched = run("batched", scale, duration, args.overrides)
    exact = run("exact", scale * args.exact_scale, duration, args.overrides)
    ratio = batched["us_per_publication"] / exact["us_per_publication"]
    print(
        f"ratio batched / exact per publication: {ratio:.3f}; targets at full scale: batched wall "
        f"<= 300 s, peak RSS <= {TARGETS['peak_rss_mib']:,.0f} MiB (8 GB)"
    )
    write(args.out, {"benchmark": "capstone", "batched": batched, "exact": exact, "ratio": ratio})


if __name__ == "__main__":
    main()
