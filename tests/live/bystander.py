"""A well-behaved client, run in its own process while a test abuses the gateway.

It joins room ``bystander``, publishes ``RATE`` messages per second into it through the gateway and
reads them back: every message must arrive, in offset order, and its latency (publish to receive,
one clock) is recorded. Its own process, so the attacker's work in the test process does not delay it.

    WSSIM_TOKEN_SECRET=... python bystander.py PORT RATE    # prints "ready", then on "stop" a JSON line
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from websockets.asyncio.client import connect

from reference_impl.system import protocol as p
from reference_impl.system.auth import mint_token, room_grants

ROOM = "bystander"


async def main(port: int, rate: float) -> None:
    token = mint_token(os.environ["WSSIM_TOKEN_SECRET"], "bystander", 3600, rooms=room_grants([ROOM]))
    async with connect(f"ws://127.0.0.1:{port}/ws?token={token}", proxy=None, max_size=None) as ws:
        await ws.send(p.encode(p.subscribe([ROOM])))
        while json.loads(await ws.recv())["op"] != "subscribed":
            pass
        latencies: list[float] = []
        received_at: list[float] = []
        offsets: list[int] = []
        errors: list[str] = []
        stop = asyncio.Event()

        async def publish() -> int:
            sent = 0
            while not stop.is_set():
                await ws.send(p.encode(p.publish(ROOM, str(sent), time.time(), "b")))
                sent += 1
                await asyncio.sleep(1 / rate)
            return sent

        async def read() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["op"] == "msg":
                    now = time.time()
                    received_at.append(now)
                    latencies.append(now - frame["ts"])
                    offsets.append(frame["offset"])
                else:
                    errors.append(raw if isinstance(raw, str) else raw.decode())

        publisher = asyncio.create_task(publish())
        reader = asyncio.create_task(read())
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()
        sent = await publisher
        deadline = time.monotonic() + 5
        while len(offsets) < sent and time.monotonic() < deadline and not reader.done():
            await asyncio.sleep(0.01)
        reader.cancel()
        in_order = offsets == list(range(offsets[0], offsets[0] + len(offsets))) if offsets else True
        result = {"sent": sent, "received": len(offsets), "in_order": in_order, "errors": errors}
        result |= {"latencies": latencies, "received_at": received_at}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
