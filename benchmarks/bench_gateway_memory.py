"""Memory per idle connection: the reference gateway vs a bare ``websockets`` server, same run.

Each server runs in its own process (``compression=None``, the same gc tuning); a load-generator
process opens N connections (10,000 by default: server and client sockets must live in different
processes under the 20,000 fd limit). The gateway's clients are authenticated and subscribed to one
room each. Figure: (RSS with N idle connections - RSS before) / N. Writes JSON to benchmarks/results/.

    python benchmarks/bench_gateway_memory.py [--connections 10000] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from _gateway_bench import ROOT, compare, medians, scrape, serve_bare, server, token, write_results


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- the bare server ----------------------------------------------------------------------------
async def handle_bare(ws) -> None:  # type: ignore[no-untyped-def]
    from websockets.exceptions import ConnectionClosed

    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


# ---- the load generator ---------------------------------------------------------------------------
async def loadgen(port: int, n: int, gateway: bool) -> None:
    from websockets.asyncio.client import connect

    base = f"ws://127.0.0.1:{port}/ws"
    conns = []
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with sem:
            uri = base + (f"?token={token(f'user{i}')}" if gateway else "")  # one subject per user
            for attempt in range(20):
                try:
                    ws = await connect(uri, compression=None, proxy=None, ping_interval=None, open_timeout=30)
                    break
                except Exception:
                    await asyncio.sleep(0.1 * (attempt + 1))
            else:
                raise RuntimeError("could not connect")
            if gateway:
                await ws.send(json.dumps({"op": "subscribe", "rooms": [f"room{i % 100}"]}))
                await ws.recv()
            conns.append(ws)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    print(json.dumps({"ready": len(conns), "connect_s": time.perf_counter() - t0}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for ws in conns:
        ws.transport.abort()


# ---- orchestration ----------------------------------------------------------------------------
def measure(kind: str, n: int) -> dict[str, float]:
    with server(kind, __file__, "ping_interval=20") as (proc, port):
        time.sleep(1.0)
        before = rss(proc.pid)
        gen = subprocess.Popen(
            [sys.executable, __file__, "loadgen", str(port), str(n), "1" if kind == "gateway" else "0"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert gen.stdout is not None and gen.stdin is not None
        ready = json.loads(gen.stdout.readline())
        time.sleep(2.0)
        after = max(rss(proc.pid) for _ in range(3) if time.sleep(0.3) is None)
        if kind == "gateway":
            from reference_impl.system.gateway_metrics import sample

            held = sample(scrape(port), "wssim_connections")
            assert held == n, f"gateway holds {held} of {n}"
        gen.stdin.write("stop\n")
        gen.stdin.flush()
        gen.wait(60)
    return {
        "rss_before": before,
        "rss_after": after,
        "per_connection_bytes": (after - before) / n,
        "connect_s": ready["connect_s"],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        asyncio.run(serve_bare(handle_bare, int(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        asyncio.run(loadgen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    runs = compare(
        args.reps,
        lambda kind: measure(kind, args.connections),
        lambda r: f"{r['per_connection_bytes'] / 1024:6.1f} KiB/conn",
    )
    bare, gw = medians(runs, "per_connection_bytes")
    ratio = gw / bare
    print(f"bare websockets: {bare / 1024:.1f} KiB/conn   gateway: {gw / 1024:.1f} KiB/conn")
    print(f"ratio gateway/bare: {ratio:.2f}  (target <= 1.25)  at {args.connections} idle connections")
    write_results(
        "gateway_memory.json",
        {
            "connections": args.connections,
            "bare_bytes_per_connection": bare,
            "gateway_bytes_per_connection": gw,
            "ratio": ratio,
            "target": 1.25,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
