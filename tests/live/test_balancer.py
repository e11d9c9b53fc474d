"""The L4 balancer: key routing, consistent-hash moves, health checks, idle timeout (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest

from reference_impl.system.balancer import Balancer, routing_key
from wssim.policies import make_balancer

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


class FakeGateway:
    """Answers ``GET /healthz`` with ``status``; any other request gets ``HELLO <name>`` then an echo."""

    def __init__(self, name: str, status: int = 200, ping_every: float | None = None) -> None:
        self.name, self.status, self.ping_every = name, status, ping_every
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> FakeGateway:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        with contextlib.suppress(Exception):
            line = await reader.readline()
            if line.startswith(b"GET /healthz"):
                writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                writer.close()
                return
            writer.write(f"HELLO {self.name}\n".encode())
            await writer.drain()
            if self.ping_every:
                while True:
                    await asyncio.sleep(self.ping_every)
                    writer.write(b"ping\n")
                    await writer.drain()
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        self.writers.discard(writer)
        writer.close()


async def hello(bal: Balancer, key: str) -> str:
    """Open a proxied connection with routing key ``key``; the gateway name that answered."""
    assert bal.address is not None
    reader, writer = await asyncio.open_connection(*bal.address)
    writer.write(f"GET /ws?key={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return line.decode().split()[1]


async def fleet(n: int, **kwargs) -> tuple[list[FakeGateway], Balancer]:
    gws = [await FakeGateway(f"g{i}").start() for i in range(n)]
    bal = Balancer({g.name: ("127.0.0.1", g.port) for g in gws}, **kwargs)
    await bal.start()
    return gws, bal


async def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def test_routing_key_from_request_line_or_peer() -> None:
    assert routing_key(b"GET /ws?token=abc&key=user-42 HTTP/1.1\r\n", ("127.0.0.1", 5000)) == "user-42"
    assert routing_key(b"GET /ws?token=abc HTTP/1.1\r\n", ("127.0.0.2", 5001)) == "127.0.0.2:5001"
    assert routing_key(b"\x16\x03\x01 binary", ("127.0.0.1", 7)) == "127.0.0.1:7"


@pytest.mark.parametrize("policy", ["consistent_hash", "modulo"])
def test_adding_a_gateway_moves_the_expected_fraction_of_keys(policy: str) -> None:
    """Consistent hashing moves only the new node's ring share (≈1/(N+1)); modulo moves ≈N/(N+1)."""
    n_keys, n = 300, 4

    async def main() -> tuple[float, bool, float]:
        gws, bal = await fleet(n, policy=policy, check="none", idle_timeout=None)
        keys = [f"k{i}" for i in range(n_keys)]
        before = {k: await hello(bal, k) for k in keys}
        assert set(before.values()) == {g.name for g in gws}
        new = await FakeGateway(f"g{n}").start()
        bal.add_upstream(new.name, "127.0.0.1", new.port)
        after = {k: await hello(bal, k) for k in keys}
        moved = [k for k in keys if before[k] != after[k]]
        only_to_new = all(after[k] == new.name for k in moved)
        # the fraction the policy itself predicts for these keys' population
        ring = make_balancer(policy, [f"g{i}" for i in range(n + 1)])
        # consistent hashing: exactly the new node's ring share; modulo: every key whose residue changes
        expected = ring.shares()[f"g{n}"] if policy == "consistent_hash" else n / (n + 1)
        await bal.stop()
        for g in [*gws, new]:
            await g.stop()
        return len(moved) / n_keys, only_to_new, expected

    fraction, only_to_new, expected = asyncio.run(main())
    # keys hash independently: the moved count is binomial(n_keys, expected); allow 4 standard deviations
    tol = 4 * math.sqrt(expected * (1 - expected) / n_keys)
    assert abs(fraction - expected) <= tol, (fraction, expected, tol)
    if policy == "consistent_hash":
        assert only_to_new, "consistent hashing must move keys only onto the new gateway"
        assert abs(fraction - 1 / (n + 1)) < 0.1


def test_health_check_drops_a_dead_gateway_and_readds_it() -> None:
    async def main() -> None:
        gws, bal = await fleet(3, check="http", check_interval=0.1, check_timeout=0.5, fall=2, rise=2)
        keys = [f"k{i}" for i in range(60)]
        before = {k: await hello(bal, k) for k in keys}
        victim = gws[1]
        port = victim.port
        await victim.stop()
        assert await wait_for(lambda: not bal.stats()["upstreams"]["g1"]["in_ring"])
        during = {k: await hello(bal, k) for k in keys}
        assert "g1" not in during.values()
        # keys of surviving gateways stay put
        assert all(during[k] == before[k] for k in keys if before[k] != "g1")
        await victim.start(port)
        assert await wait_for(lambda: bal.stats()["upstreams"]["g1"]["in_ring"])
        after = {k: await hello(bal, k) for k in keys}
        assert after == before
        assert bal.counters["dropped_health"] >= 1 and bal.counters["readded"] >= 1
        await bal.stop()
        for g in gws:
            await g.stop()

    asyncio.run(main())


def test_http_check_drops_a_draining_gateway_answering_503() -> None:
    async def main() -> None:
        gws, bal = await fleet(2, check="http", check_interval=0.1, fall=2)
        gws[0].status = 503
        assert await wait_for(lambda: not bal.stats()["upstreams"]["g0"]["in_ring"])
        assert {await hello(bal, f"k{i}") for i in range(20)} == {"g1"}
        await bal.stop()
        for g in gws:
            await g.stop()

    asyncio.run(main())


def test_a_refused_upstream_is_skipped_before_the_health_check_notices() -> None:
    async def main() -> None:
        gws, bal = await fleet(2, check="none")
        await gws[0].stop()
        names = {await hello(bal, f"k{i}") for i in range(20)}
        assert names == {"g1"}
        assert bal.counters["dropped_refused"] == 1
        await bal.stop()
        await gws[1].stop()

    asyncio.run(main())


def test_without_passive_checks_a_refused_upstream_is_refused_to_the_client() -> None:
    """``passive=False`` (the simulator's default): until the health check notices, the connections
    routed to a dead gateway fail, and the balancer keeps it in the ring."""

    async def main() -> None:
        gws, bal = await fleet(2, check="none", passive=False)
        keys = [f"k{i}" for i in range(20)]
        before = {k: await hello(bal, k) for k in keys}
        await gws[0].stop()
        for k in keys:
            if before[k] == "g0":
                with pytest.raises((IndexError, ConnectionError)):
                    await hello(bal, k)  # closed without an answer
            else:
                assert await hello(bal, k) == "g1"
        assert bal.stats()["upstreams"]["g0"]["in_ring"]
        assert bal.counters["upstream_refused"] == sum(1 for v in before.values() if v == "g0")
        await bal.stop()
        await gws[1].stop()

    asyncio.run(main())


def test_idle_timeout_cuts_silent_sockets_but_pings_keep_them_alive() -> None:
    async def main() -> None:
        quiet = await FakeGateway("quiet").start()
        chatty = await FakeGateway("chatty", ping_every=0.1).start()
        bal = Balancer(
            {"quiet": ("127.0.0.1", quiet.port)}, policy="consistent_hash", check="none", idle_timeout=0.5
        )
        await bal.start()
        assert bal.address is not None
        r1, w1 = await asyncio.open_connection(*bal.address)
        w1.write(b"GET /ws?key=a HTTP/1.1\r\n\r\n")
        assert (await r1.readline()).startswith(b"HELLO quiet")
        bal.remove_upstream("quiet")
        bal.add_upstream("chatty", "127.0.0.1", chatty.port)
        r2, w2 = await asyncio.open_connection(*bal.address)
        w2.write(b"GET /ws?key=b HTTP/1.1\r\n\r\n")
        assert (await r2.readline()).startswith(b"HELLO chatty")
        # the silent connection is cut after ~0.5 s: reading to the end returns (EOF or reset)
        t_start = asyncio.get_running_loop().time()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(r1.read(), 3)  # only the echoed end of the request, then EOF
        assert asyncio.get_running_loop().time() - t_start >= 0.3
        # the pinged one is still open well after the timeout
        pings = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.5
        while loop.time() < end:
            pings += (await asyncio.wait_for(r2.readline(), 1)) == b"ping\n"
        assert pings >= 5
        assert bal.counters["idle_cuts"] == 1
        w1.close()
        w2.close()
        await bal.stop()
        await quiet.stop()
        await chatty.stop()

    asyncio.run(main())
