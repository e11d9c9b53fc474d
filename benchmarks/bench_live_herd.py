"""The live herd: N clients on 4 gateways, one killed, reconnecting with `none` vs `full_jitter`.

Real sockets on loopback through the harness (`reference_impl.driver.harness.run_live`): 4 gateway processes,
the L4 balancer, N clients in load-generator processes; gateway g0 is SIGKILLed at 10 s and restarted
after 5 s. Figures per strategy: the peak handshake rate after the crash (100 ms bins, the ramp is
excluded by `warmup`), the reconnect attempts, and the time until the fleet holds as many connections
as before the crash. The ratio none / full_jitter of the peak is the point: jitter spreads the herd.
The backoff base is 4 s so that full jitter spreads the ~1,000 reconnects (about 250/s) below what
two shared cores can accept (roughly 500-1,000 proxied handshakes/s); `none` sends them all at once.
JSON goes to benchmarks/results/.

    python benchmarks/bench_live_herd.py [--clients 4000] [--reps 2] [--strategies none full_jitter]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def config(clients: int, strategy: str) -> dict:
    return {
        "name": f"live-herd-{strategy}",
        "seed": 7,
        "duration": "25s",
        "warmup": "9s",  # past the 6 s connect ramp: the peak is the herd's
        "interval": "100ms",
        "clients": {
            "count": clients,
            "connect_ramp": "6s",
            "reconnect": {"strategy": strategy, "base": "4s", "cap": "30s"},
            "publish_rate": "0/s",
            "rooms": {"count": 50, "per_client": 1},
        },
        "gateways": {"count": 4, "restart_delay": "5s", "keepalive": {"ping_interval": "20s"}},
        "backplane": {"kind": "none"},
        "faults": [{"kind": "gateway_crash", "at": "10s", "gateway": 0, "restart": True}],
    }


def main() -> None:
    from reference_impl.driver.harness import run_live

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--strategies", nargs="+", default=["none", "full_jitter"])
    args = ap.parse_args()
    rows = []
    for strategy in args.strategies:
        for rep in range(args.reps):
            t = time.time()
            result = run_live(config(args.clients, strategy), replication=rep, settle=2.0)
            m = result.metrics
            row = {
                "strategy": strategy,
                "replication": rep,
                "peak_handshake_rate": m["peak_handshake_rate"],
                "reconnect_attempts": m["reconnect_attempts"],
                "herd_convergence_s": m["herd_convergence_s"],
                "connections_peak": m["connections_peak"],
                "admission_rejections": m["admission_rejections"],
                "wall_s": time.time() - t,
                "errors": result.info["errors"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for strategy in args.strategies:
        peaks = [r["peak_handshake_rate"] for r in rows if r["strategy"] == strategy]
        conv = [r["herd_convergence_s"] for r in rows if r["strategy"] == strategy]
        summary[strategy] = {
            "peak_handshake_rate_median": statistics.median(peaks),
            "convergence_median": conv,
        }
    if "none" in summary and "full_jitter" in summary:
        ratio = (
            summary["none"]["peak_handshake_rate_median"]
            / summary["full_jitter"]["peak_handshake_rate_median"]
        )
        summary["peak_ratio_none_over_full_jitter"] = ratio
    print(json.dumps(summary, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "live_herd.json"
    out.write_text(json.dumps({"clients": args.clients, "runs": rows, "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
