"""The gateway's CPU per operation and its memory per connection with permessage-deflate, measured live.

The gateway's CPU time (utime + stime from /proc, ticks of 10 ms) over broadcasts of a known size,
published straight to the backplane and received by raw clients that only parse frame headers (so the
gateway, not the clients, is what is measured). The cost model is the simulator's:

    CPU of one publication = backplane_message + members x (frame + bytes x per_byte)

1. ``single``: many publications to a room of one member: backplane_message + frame + s1 x per_byte;
2. ``small``: publications of s1 bytes to a room of N members;
3. ``large``: publications of s2 bytes to the same room: (large - small) / (N x (s2 - s1)) = per_byte,
   then frame and backplane_message from 1 and 2;
4. ``deflate``: as 2 and 3 on a gateway with permessage-deflate (2 gives the config's figures: chat-
   sized frames, where the flush of each frame weighs most): the compression ratio is the payload bytes
   on the wire over the bytes before compression; the CPU beyond the model's prediction for the wire
   bytes, per byte before compression, is ``deflate_per_byte``;
5. ``ping``: idle connections on a gateway pinging every 0.2 s against the same connections without
   pings: CPU per ping/pong;
6. memory per connection (RSS delta, after one message each) with and without permessage-deflate.

Publication bodies are words drawn from a fixed vocabulary (a seeded generator), so consecutive
messages differ as chat messages do and compress as text does.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reference_impl.driver.calibrate import cpu_seconds, rss, run_async

if TYPE_CHECKING:
    from reference_impl.driver.calibrate import Bench, GatewayUnderTest

# clients in the broadcast room: a frame costs more in a big room (200 members here: 136 k deliveries
# per CPU-second; 1,000: 105 k, the connections' state no longer in cache); the model's frame cost is
# one figure, taken where fan-out is heavy
MEMBERS = 1000
SMALL, LARGE = 64, 8192  # body sizes of the two broadcasts, characters
PUBLICATIONS = 300  # per broadcast (as the broadcast benchmark: 60 left a spread of ±20 % between runs)
DEFLATED = 12  # per broadcast with permessage-deflate (compression is the costliest part)
SINGLE = 4000  # publications to the room of one member
IDLE = 500  # connections for the memory and ping measurements
PING_INTERVAL = 0.2  # seconds
PING_SECONDS = 5.0
REPS = 3
VOCABULARY = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how "
    "their if will up other about out many then them these so some her would make like him into time "
    "has look two more write go see number no way could people my than first water been call who oil "
    "its now find long down day did get come made may part ok thanks lol meeting tomorrow deploy "
    "server latency"
)
WORDS = VOCABULARY.split()
TS = re.compile(rb'"ts": ?([0-9.e+-]+)')  # the publication time in a frame's body


def body(rng: random.Random, size: int) -> str:
    """About ``size`` characters of words."""
    words: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)[:size]


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (masked, unfragmented, payload < 126 bytes)."""
    mask = os.urandom(4)
    return (
        bytes([0x80 | opcode, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


class RawClient(asyncio.Protocol):
    """A WebSocket client that upgrades by hand (optionally offering permessage-deflate), joins a room,
    answers pings, and only counts text frames and their payload bytes as they arrive on the wire."""

    def __init__(self, path: str, room: str, deflate: bool, ready: asyncio.Future[None]) -> None:
        self.path, self.room, self.deflate, self.ready = path, room, deflate, ready
        self.buf = bytearray()
        self.upgraded = False
        self.texts = self.payload = self.pongs = self.compressed = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None
        self.stamps: list[tuple[float, float]] | None = None  # a probe's (published, arrived), epoch s
        self.sinking = False  # see sink()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        ext = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if self.deflate else ""
        )
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.sinking:
            self.payload += len(data)
            return
        self.buf += data
        if not self.upgraded:
            head, sep, _ = bytes(self.buf).partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(head.decode(errors="replace")[:200]))
                return
            del self.buf[: len(head) + 4]
            self.upgraded = True
            sub = json.dumps({"op": "subscribe", "rooms": [self.room]}).encode()
            self.transport.write(masked(0x1, sub))
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                return
            opcode = buf[0] & 0x0F
            if opcode == 0x9:
                self.transport.write(masked(0xA, bytes(buf[off : off + n])))
                self.pongs += 1
            elif opcode == 0x1:
                if self.stamps is not None and self.ready.done():
                    self._stamp(self.stamps, buf, off, n)
                self._text(n, bool(buf[0] & 0x40))
            del buf[: off + n]

    @staticmethod
    def _stamp(stamps: list[tuple[float, float]], buf: bytearray, off: int, n: int) -> None:
        if (ts := TS.search(buf, off, off + n)) is not None:
            stamps.append((float(ts[1]), time.time()))

    def _text(self, n: int, compressed: bool) -> None:
        if not self.ready.done():  # the gateway's "subscribed"
            self.ready.set_result(None)
            return
        self.texts += 1
        self.payload += n
        self.compressed += compressed  # RSV1: permessage-deflate
        if self.done is not None and self.texts >= self.target and not self.done.done():
            self.done.set_result(None)

    def sink(self, low_water: int = 16384) -> None:
        """From now on only count the bytes that arrive, and be woken once ``low_water`` of them are
        waiting (``SO_RCVLOWAT``): a member that costs its process almost nothing per frame."""
        self.sinking = True
        self.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, low_water)

    def expect(self, frames: int) -> asyncio.Future[None]:
        """A future done once ``frames`` more text frames have arrived; resets the counters."""
        self.texts = self.payload = self.compressed = 0
        self.target = frames
        self.done = asyncio.get_running_loop().create_future()
        return self.done


async def clients(gw: GatewayUnderTest, room: str, n: int, deflate: bool) -> list[RawClient]:
    """``n`` raw clients of ``gw`` subscribed to ``room``."""
    loop = asyncio.get_running_loop()
    out: list[RawClient] = []

    async def one(i: int) -> RawClient:
        ready: asyncio.Future[None] = loop.create_future()
        sub = f"{room}{i}"
        path = f"/ws?key={sub}&token={gw.token(sub)}"
        _, proto = await loop.create_connection(
            lambda: RawClient(path, room, deflate, ready), "127.0.0.1", gw.port
        )
        await asyncio.wait_for(ready, 30)
        return proto

    for start in range(0, n, 25):  # 25 at a time: a small herd
        out += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 25))))
    return out


async def broadcast(gw: GatewayUnderTest, bp: Any, room: str, members: list[RawClient], n: int, size: int,
                    rng: random.Random) -> dict[str, float]:  # fmt: skip
    """Gateway CPU seconds and payload bytes per frame of ``n`` publications of ``size`` characters."""
    bodies = [body(rng, size) for _ in range(n)]
    waits = [c.expect(n) for c in members]
    cpu0 = cpu_seconds(gw.pid)
    for i, text in enumerate(bodies):
        await bp.publish(room, json.dumps({"id": f"{room}-{i}", "ts": time.time(), "body": text}))
    await asyncio.wait_for(asyncio.gather(*waits), 120)
    await asyncio.sleep(0.05)
    frames = n * len(members)
    return {
        "cpu_s": cpu_seconds(gw.pid) - cpu0,
        "frames": frames,
        "payload_bytes": sum(c.payload for c in members) / frames,  # per frame, as received
        "compressed": sum(c.compressed for c in members),  # frames sent compressed
    }


def solve(
    single: dict[str, float], small: dict[str, float], large: dict[str, float], members: int
) -> dict[str, float]:
    """per_byte, frame, backplane_message from the three broadcasts (see the module's docstring)."""
    per_byte = (large["cpu_s"] - small["cpu_s"]) / (
        small["frames"] * (large["payload_bytes"] - small["payload_bytes"])
    )
    per_pub_single = single["cpu_s"] / single["frames"]  # one member: one frame per publication
    per_pub_small = small["cpu_s"] / (small["frames"] / members)
    per_delivery = (per_pub_small - per_pub_single) / (members - 1)  # frame + s1 x per_byte
    frame = per_delivery - small["payload_bytes"] * per_byte
    return {"per_byte": per_byte, "frame": frame, "backplane_message": per_pub_single - per_delivery}


async def memory_per_connection(
    gw: GatewayUnderTest, bp: Any, deflate: bool
) -> tuple[float, list[RawClient]]:
    """RSS per idle connection: ``IDLE`` clients in 50 rooms, after one message to each room."""
    await asyncio.sleep(0.5)
    base = rss(gw.pid)
    idle: list[RawClient] = []
    for r in range(50):
        idle += await clients(gw, f"idle{r}-", IDLE // 50, deflate)  # 50 rooms
    rng = random.Random(1)
    for r in range(50):
        members = idle[r * (IDLE // 50) : (r + 1) * (IDLE // 50)]
        await broadcast(gw, bp, f"idle{r}-", members, 1, SMALL, rng)
    await asyncio.sleep(1.0)
    return (rss(gw.pid) - base) / len(idle), idle


async def cpu_rate(gw: GatewayUnderTest, seconds: float) -> float:
    """The gateway's CPU seconds per second over ``seconds`` of whatever it is doing."""
    cpu0 = cpu_seconds(gw.pid)
    await asyncio.sleep(seconds)
    return (cpu_seconds(gw.pid) - cpu0) / seconds


async def broadcasts(gw: GatewayUnderTest, bp: Any, deflate: bool, idle_rate: float,
                     kinds: tuple[str, ...]) -> dict[str, dict[str, float]]:  # fmt: skip
    """The median of ``REPS`` runs of each broadcast in ``kinds`` (single, small, large), interleaved,
    the gateway's idle CPU rate taken out."""
    one = await clients(gw, "one", 1, deflate)
    big = await clients(gw, "big", MEMBERS, deflate)
    plan = {"single": ("one", one, SINGLE, SMALL), "small": ("big", big, PUBLICATIONS, SMALL),
            "large": ("big", big, PUBLICATIONS, LARGE),
            "deflated": ("big", big, DEFLATED, LARGE),
            "deflated_small": ("big", big, PUBLICATIONS, SMALL)}  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for rep in range(REPS):
        for kind in kinds:
            room, members, n, size = plan[kind]
            t0 = time.perf_counter()
            r = await broadcast(gw, bp, room, members, n, size, random.Random(rep))
            r["cpu_s"] = max(0.0, r["cpu_s"] - idle_rate * (time.perf_counter() - t0))
            runs[kind].append(r)
    for c in [*one, *big]:
        c.transport.close()
    return {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in runs.items()}


async def pings(gw: GatewayUnderTest, idle_rate: float) -> float:
    """CPU seconds per ping/pong: ``IDLE`` connections pinged every ``PING_INTERVAL`` for
    ``PING_SECONDS``, against the same connections' CPU without pings (``idle_rate``)."""
    idle = await clients(gw, "ping", IDLE, False)
    await asyncio.sleep(2 * PING_INTERVAL)
    before = sum(c.pongs for c in idle)
    rate = await cpu_rate(gw, PING_SECONDS)
    pongs = sum(c.pongs for c in idle) - before
    for c in idle:
        c.transport.close()
    return max(0.0, rate - idle_rate) * PING_SECONDS / max(1, pongs)


async def _measure(off: GatewayUnderTest, on: GatewayUnderTest, pinging: GatewayUnderTest,
                   say: Callable[[str], None]) -> dict[str, float]:  # fmt: skip
    from reference_impl.system.backplanes import make_backplane

    bp = make_backplane(off.kind, off.url, namespace=off.namespace)
    bp_on = make_backplane(on.kind, on.url, namespace=on.namespace)
    await bp.start()
    await bp_on.start()
    try:
        mem_off, _ = await memory_per_connection(off, bp, False)
        mem_on, _ = await memory_per_connection(on, bp_on, True)
        say(f"memory per idle connection: {mem_off / 1024:.1f} KiB, {mem_on / 1024:.1f} KiB with deflate")
        idle_rate = await cpu_rate(off, PING_SECONDS)
        plain = await broadcasts(off, bp, False, idle_rate, ("single", "small", "large"))
        costs = solve(plain["single"], plain["small"], plain["large"], MEMBERS)
        say(
            "broadcasts: " + json.dumps({k: {f: round(v, 6) for f, v in r.items()} for k, r in plain.items()})
        )
        deflated = await broadcasts(on, bp_on, True, idle_rate, ("deflated_small", "deflated"))
        ping = await pings(pinging, idle_rate)
    finally:
        await bp.close()
        await bp_on.close()
    small, small_ratio, small_deflate = deflation(deflated["deflated_small"], plain["small"], costs)
    _, large_ratio, large_deflate = deflation(deflated["deflated"], plain["large"], costs)
    deliveries_per_cpu_s = small["frames"] / small["cpu_s"]
    # the config's figures at chat-sized frames: compressing a frame has a fixed part (the flush), which
    # a per-byte cost measured on 8 KB frames would leave out; the large frames are reported beside them
    return {**costs, "ping": ping, "deflate_per_byte": small_deflate, "ratio": small_ratio,
            "deflate_per_byte_large": large_deflate, "ratio_large": large_ratio,
            "memory_off": mem_off, "memory_on": mem_on, "idle_cpu_rate": idle_rate,
            "small_payload": small["payload_bytes"], "large_payload": plain["large"]["payload_bytes"],
            "deliveries_per_cpu_s": deliveries_per_cpu_s}  # fmt: skip


def deflation(
    on: dict[str, float], off: dict[str, float], costs: dict[str, float]
) -> tuple[dict[str, float], float, float]:
    """A broadcast with permessage-deflate against the same without: the broadcast without, the
    compression ratio (payload on the wire / before), and the CPU beyond the model's cost of the wire
    bytes per byte before compression."""
    frames = on["frames"]
    predicted = frames / MEMBERS * costs["backplane_message"] + frames * (
        costs["frame"] + on["payload_bytes"] * costs["per_byte"]
    )
    return (
        off,
        on["payload_bytes"] / off["payload_bytes"],
        (on["cpu_s"] - predicted) / (frames * off["payload_bytes"]),
    )


def measure_cpu(bench: Bench, kind: str, say: Callable[[str], None]) -> dict[str, float]:
    """Every CPU and compression figure, on three gateways on ``kind`` (kernel-autotuned socket buffers):
    without pings, with permessage-deflate, and pinging every ``PING_INTERVAL``."""
    common = ("send_buffer=none", "memory_budget=none")
    gateways = []
    try:
        gateways.append(bench.gateway(kind, "ping_interval=none", *common, balanced=False))
        gateways.append(
            bench.gateway(kind, "ping_interval=none", "compression=deflate", *common, balanced=False)
        )
        gateways.append(bench.gateway(kind, f"ping_interval={PING_INTERVAL}", *common, balanced=False))
        result = run_async(_measure(*gateways, say))
    finally:
        for gw in gateways:
            gw.stop()
    say("cpu: " + json.dumps({k: round(v, 9) for k, v in result.items()}))
    return result
