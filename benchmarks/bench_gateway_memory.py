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
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SECRET = "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


# ---- the bare server ----------------------------------------------------------------------------
async def serve_bare(port: int) -> None:
    import gc

    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass

    async with serve(handler, "127.0.0.1", port, compression=None):
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        await asyncio.Event().wait()


# ---- the load generator ---------------------------------------------------------------------------
async def loadgen(port: int, n: int, gateway: bool) -> None:
    from websockets.asyncio.client import connect

    uri = f"ws://127.0.0.1:{port}/ws"
    if gateway:
        sys.path.insert(0, str(ROOT))
        from reference_impl.auth import issue_token

        uri += "?token=" + issue_token(SECRET, "bench", 3600)
    conns = []
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with sem:
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
    port = free_port()
    if kind == "bare":
        argv = [sys.executable, __file__, "serve-bare", str(port)]
    else:
        argv = [sys.executable, "-m", "reference_impl.gateway", "--port", str(port), "--backplane"]
        argv += ["in_memory", "--gw", f"secret={SECRET}", "--gw", "ping_interval=20"]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(1.0)
        before = rss(server.pid)
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
        after = max(rss(server.pid) for _ in range(3) if time.sleep(0.3) is None)
        if kind == "gateway":
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            held = next(
                float(line.rpartition(" ")[2])
                for line in page.splitlines()
                if line.startswith("wssim_connections{")
            )
            assert held == n, f"gateway holds {held} of {n}"
        gen.stdin.write("stop\n")
        gen.stdin.flush()
        gen.wait(60)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "rss_before": before,
        "rss_after": after,
        "per_connection_bytes": (after - before) / n,
        "connect_s": ready["connect_s"],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        asyncio.run(serve_bare(int(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        asyncio.run(loadgen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "gateway": []}
    for rep in range(args.reps):
        for kind in ("bare", "gateway"):
            r = measure(kind, args.connections)
            runs[kind].append(r)
            print(f"rep {rep} {kind:8s} {r['per_connection_bytes'] / 1024:6.1f} KiB/conn", flush=True)
    bare = statistics.median(r["per_connection_bytes"] for r in runs["bare"])
    gw = statistics.median(r["per_connection_bytes"] for r in runs["gateway"])
    ratio = gw / bare
    print(f"bare websockets: {bare / 1024:.1f} KiB/conn   gateway: {gw / 1024:.1f} KiB/conn")
    print(f"ratio gateway/bare: {ratio:.2f}  (target <= 1.25)  at {args.connections} idle connections")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "gateway_memory.json"
    out.write_text(
        json.dumps(
            {
                "connections": args.connections,
                "bare_bytes_per_connection": bare,
                "gateway_bytes_per_connection": gw,
                "ratio": ratio,
                "target": 1.25,
                "runs": runs,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
