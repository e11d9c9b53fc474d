"""Broadcast deliveries/s: the reference gateway's fan-out vs ``websockets.broadcast()``, same run.

1,000 clients (two load-generator processes) hold a connection to one server process
(``compression=None``). The bare server ``broadcast()``s M 100-byte frames to all of them; the gateway
fans out M publications of one room (in-memory backplane) whose ``msg`` frames are padded to 100 bytes.
Clients are raw sockets that only count frame headers, so the server is the bottleneck.
Figures: deliveries / (last frame received - first frame received), and deliveries per CPU-second of
the server process (robust when other work shares the cores). JSON goes to benchmarks/results/.

    python benchmarks/bench_gateway_broadcast.py [--clients 1000] [--messages 300] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time

from _gateway_bench import compare, medians, serve_bare, server, token, write_results

FRAME = 100  # payload bytes per delivered frame


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def masked_text(text: str) -> bytes:
    data, mask = text.encode(), os.urandom(4)
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def gateway_body() -> str:
    """A body that makes the gateway's msg frame about FRAME bytes long."""
    sample = (
        '{"op":"msg","room":"bench","offset":100,"epoch":"0123456789ab","id":"p-100","ts":1700000000.123456'
    )
    return "x" * max(1, FRAME - len(sample + ',"body":""}'))


# ---- the bare server ----------------------------------------------------------------------------
async def serve_broadcast(port: int) -> None:
    from websockets.asyncio.server import broadcast
    from websockets.exceptions import ConnectionClosed

    clients: set = set()
    payload = "x" * FRAME

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        try:
            if ws.request.path == "/control":
                n = int((await ws.recv()).split()[1])
                for i in range(n):
                    broadcast(clients, payload)
                    if i % 4 == 3:
                        await asyncio.sleep(0)
                await ws.send("done")
                await ws.wait_closed()
                return
            clients.add(ws)
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        finally:
            clients.discard(ws)

    await serve_bare(handler, port)


# ---- raw counting clients ---------------------------------------------------------------------------
class Counter(asyncio.Protocol):
    """Upgrade by hand, then only count text-frame headers (0x81: JSON/ASCII payloads never hold it)."""

    def __init__(
        self, path: str, subscribe: bytes | None, target: int, ready: asyncio.Future, done: asyncio.Future
    ):
        self.path, self.subscribe, self.target = path, subscribe, target
        self.ready, self.done = ready, done
        self.head = b""
        self.upgraded = False
        self.count = 0
        self.skip = 1 if subscribe else 0  # the gateway's "subscribed" frame
        self.first = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            self.upgraded = True
            if self.subscribe:
                self.transport.write(self.subscribe)  # type: ignore[attr-defined]
            else:
                self.ready.set_result(None)
        n = data.count(b"\x81")
        if not n:
            return
        if self.skip:
            self.skip -= 1
            n -= 1
            if not self.ready.done():
                self.ready.set_result(None)
            if not n:
                return
        if not self.count:
            self.first = time.time()
        self.count += n
        if self.count >= self.target and not self.done.done():
            self.done.set_result((self.first, time.time(), self.count))


async def loadgen(port: int, n: int, messages: int, gateway: bool) -> None:
    subscribe = masked_text('{"op":"subscribe","rooms":["bench"]}') if gateway else None
    prefix = os.urandom(4).hex()  # one subject per user, distinct across load generators
    loop = asyncio.get_running_loop()
    readies, dones = [], []
    for _ in range(n):
        ready, done = loop.create_future(), loop.create_future()
        readies.append(ready)
        dones.append(done)
        path = f"/ws?token={token(f'{prefix}-{len(readies)}')}" if gateway else "/ws"
        await loop.create_connection(
            lambda p=path, r=ready, d=done: Counter(p, subscribe, messages, r, d), "127.0.0.1", port
        )
    await asyncio.gather(*readies)
    print(json.dumps({"ready": n}), flush=True)
    results = await asyncio.wait_for(asyncio.gather(*dones), 120)
    print(
        json.dumps(
            {
                "first": min(r[0] for r in results),
                "last": max(r[1] for r in results),
                "received": sum(r[2] for r in results),
            }
        ),
        flush=True,
    )


# ---- orchestration ----------------------------------------------------------------------------
async def trigger(kind: str, port: int, messages: int) -> None:
    from websockets.asyncio.client import connect

    if kind == "bare":
        async with connect(f"ws://127.0.0.1:{port}/control", proxy=None, compression=None) as ws:
            await ws.send(f"go {messages}")
            await ws.recv()
        return
    body = gateway_body()
    uri = f"ws://127.0.0.1:{port}/ws?token=" + token("pub")
    async with connect(uri, proxy=None, compression=None) as ws:
        for i in range(messages):
            await ws.send(
                json.dumps({"op": "publish", "room": "bench", "id": f"p-{i}", "ts": 0.0, "body": body})
            )
        await asyncio.sleep(0.5)


def measure(kind: str, clients: int, messages: int, loadgens: int = 2) -> dict[str, float]:
    with server(kind, __file__) as (proc, port):
        gens = []
        try:
            per = clients // loadgens
            for _ in range(loadgens):
                argv = [sys.executable, __file__, "loadgen", str(port), str(per), str(messages)]
                gens.append(
                    subprocess.Popen(
                        [*argv, "1" if kind == "gateway" else "0"], stdout=subprocess.PIPE, text=True
                    )
                )
            for g in gens:
                assert g.stdout is not None
                json.loads(g.stdout.readline())
            time.sleep(0.5)
            cpu0 = cpu_seconds(proc.pid)
            asyncio.run(trigger(kind, port, messages))
            reports = []
            for g in gens:
                assert g.stdout is not None
                reports.append(json.loads(g.stdout.readline()))
                g.wait(30)
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            for g in gens:
                if g.poll() is None:
                    g.kill()
    received = sum(r["received"] for r in reports)
    span = max(r["last"] for r in reports) - min(r["first"] for r in reports)
    return {
        "received": received,
        "expected": per * loadgens * messages,
        "span_s": span,
        "rate": received / span,
        "server_cpu_s": cpu,
        "rate_per_cpu_s": received / cpu,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        asyncio.run(serve_broadcast(int(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        port, n, m, gw = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
        asyncio.run(loadgen(port, n, m, gw))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    runs = compare(
        args.reps,
        lambda kind: measure(kind, args.clients, args.messages),
        lambda r: (
            f"{r['rate'] / 1000:7.1f} k deliveries/s wall, "
            f"{r['rate_per_cpu_s'] / 1000:7.1f} k per server CPU-second "
            f"({r['received']}/{r['expected']})"
        ),
    )
    bare, gw = medians(runs, "rate")
    ratio = gw / bare
    bare_cpu, gw_cpu = medians(runs, "rate_per_cpu_s")
    ratio_cpu = gw_cpu / bare_cpu
    print(
        f"bare broadcast(): {bare / 1000:.1f} k/s   gateway fan-out: {gw / 1000:.1f} k/s   ratio {ratio:.2f}"
    )
    print(
        f"per server CPU-second: bare {bare_cpu / 1000:.1f} k, gateway {gw_cpu / 1000:.1f} k, "
        f"ratio {ratio_cpu:.2f}  (target >= 0.7)  {args.clients} clients, {FRAME}-byte frames"
    )
    write_results(
        "gateway_broadcast.json",
        {
            "clients": args.clients,
            "messages": args.messages,
            "frame_bytes": FRAME,
            "bare_deliveries_per_s": bare,
            "gateway_deliveries_per_s": gw,
            "ratio": ratio,
            "bare_deliveries_per_cpu_s": bare_cpu,
            "gateway_deliveries_per_cpu_s": gw_cpu,
            "ratio_per_cpu_s": ratio_cpu,
            "target": 0.7,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
