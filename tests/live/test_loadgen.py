"""The load generator: plans, slow readers that really stop reading, reconnect + resume, offline periods.

The gateway runs in-process (in-memory backplane) and the load-generator worker on the same event loop,
so each test is a second or two of real sockets on loopback.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import numpy as np
import pytest
from live_helpers import SECRET, running_gateway

from reference_impl.driver.accounting import build_ledger
from reference_impl.driver.loadgen import (
    ClientPlan,
    PublishPlan,
    WorkerSpec,
    _Worker,
    offline_periods,
)
from reference_impl.system.backplanes import make_backplane
from wssim.policies import Backoff, Reader, Reconnector
from wssim.randomness import Stream, generator

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


# ------------------------------------------------------------------------------------------ plans
def test_offline_periods_do_not_overlap_and_have_the_configured_rate() -> None:
    rng = generator(1, 0, Stream.OFFLINE)
    counts = []
    for _ in range(400):
        periods = offline_periods(rng, 0.0, 100.0, 0.05, 2.0, "fixed", 0.0)
        ends = [s + d for s, d, _ in periods]
        assert all(e <= s2 for e, (s2, _, _) in zip(ends, periods[1:], strict=False))
        assert all(0 <= s < 100 and s + d <= 100 for s, d, _ in periods)
        counts.append(len(periods))
    # starts are Poisson at rate 0.05 over the online time (100 s minus ~2 s per episode): mean ≈ 4.76
    expected = 0.05 * 100 / (1 + 0.05 * 2.0)
    half_width = 4 * math.sqrt(expected / len(counts))
    assert abs(np.mean(counts) - expected) < half_width + 0.15


# ------------------------------------------------------------------------------------- live runs
def spec_for(port: int, clients: list[ClientPlan], end: float, backoff=("constant", 0.3, 0.3, None), **kw):
    kw.setdefault("reconnect", Reconnector(Backoff(*backoff)))
    return WorkerSpec(
        index=0,
        url=f"ws://127.0.0.1:{port}/ws",
        clients=clients,
        t0=time.time() + 0.05,
        time_scale=1.0,
        end=end,
        **kw,
    )


def test_a_slow_reader_stops_reading_until_the_gateway_disconnects_it() -> None:
    """Its small receive buffer fills, the gateway's queue reaches its limit, the disconnect policy acts."""

    async def main():
        bp = make_backplane("in_memory")
        settings = {"queue_policy": "disconnect", "queue_limit": 20, "ping_interval": None}
        settings["close_timeout"] = 0.2  # the close frame cannot pass the unread data: abort soon
        async with running_gateway(bp, **settings) as gw:
            clients = [ClientPlan(0, ["r0"], 0.0), ClientPlan(1, ["r0"], 0.0, slow=True)]
            spec = spec_for(
                gw.port,
                clients,
                end=2.0,
                slow_reader=Reader(10.0),
                backoff=("constant", 5.0, 5.0, None),  # the slow client stays away once cut
                publish=PublishPlan(rate=1500.0, start=0.3, stop=1.5, via="ws", size=2000),
            )
            rec = await _Worker(spec, SECRET).run()
            m = gw.metrics
            return rec, m.value("slow_consumer_disconnects"), m.send_queue_depth_max

    rec, cut, depth_max = asyncio.run(main())
    assert not rec.error
    assert cut == 1 and depth_max == 20  # the queue filled to its limit: the reader really stopped
    received = np.bincount(np.asarray(rec.r_cid), minlength=2)
    assert received[0] == len(rec.p_mid) or received[0] > 0.95 * len(rec.p_mid)
    assert received[1] < 0.05 * received[0]  # the slow one read a trickle before it was cut
    # no close reached the fast reader; the slow one learns of the cut only after draining its buffers
    assert all(cid == 1 for cid, _, kind, _ in rec.events if kind == "close")


def read_times(reader: Reader, phase: float = -1.0, n: int = 40) -> np.ndarray:
    """Scenario times at which a paced client (id 1) handled a burst of ``n`` messages."""

    async def main():
        async with running_gateway(make_backplane("in_memory"), ping_interval=None) as gw:
            clients = [ClientPlan(0, ["r0"], 0.0), ClientPlan(1, ["r0"], 0.0, slow=True, stall_phase=phase)]
            burst = PublishPlan(rate=n / 0.2, start=0.2, stop=0.4, via="ws")
            spec = spec_for(
                gw.port, clients, end=0.6 + 1.5 * n / reader.rate, slow_reader=reader, publish=burst
            )
            return await _Worker(spec, SECRET).run(), spec.t0

    rec, t0 = asyncio.run(main())
    assert not rec.error
    return np.asarray(rec.r_t)[np.asarray(rec.r_cid) == 1] - t0


def test_a_steady_reader_takes_exactly_its_read_time_per_message() -> None:
    """Deterministic reads at 20/s: a burst is handled one message every 50 ms, not faster."""
    t = read_times(Reader(20.0, "deterministic"))
    gaps = np.diff(t)
    assert len(t) > 20 and gaps.min() >= 0.0495
    assert np.median(gaps) < 0.06  # the burst queues up: reads follow each other


def test_a_stalled_reader_handles_nothing_during_its_stalls() -> None:
    """0.3 s of reading, then 0.3 s of stall, phase 0: stalls are [0.3, 0.6), [0.9, 1.2), ..."""
    t = read_times(Reader(40.0, "deterministic", stall_every=0.3, stall_duration=0.3), phase=0.0, n=60)
    into_period = np.mod(t, 0.6)
    assert len(t) > 30
    assert not ((into_period > 0.32) & (into_period < 0.59)).any()  # a few ms of event-loop slack


def test_a_cut_client_reconnects_with_backoff_and_resumes_from_its_cursor() -> None:
    async def main():
        bp = make_backplane("in_memory", max_messages=10_000)
        async with running_gateway(bp, ping_interval=None) as gw:
            clients = [ClientPlan(i, ["r0", "r1"], 0.0) for i in range(3)]
            spec = spec_for(
                gw.port, clients, end=2.5, publish=PublishPlan(rate=60.0, start=0.2, stop=2.0, via="ws")
            )
            worker = _Worker(spec, SECRET)
            task = asyncio.ensure_future(worker.run())
            await asyncio.sleep(0.8)
            for c in list(gw.clients):
                if c.subject in ("c1", "c2"):
                    c.ws.transport.abort()  # the network drops them: no close frame
            rec = await task
            return rec, clients

    rec, clients = asyncio.run(main())
    assert not rec.error
    opens = [cid for cid, _, kind, _ in rec.events if kind == "open"]
    assert sorted(opens) == [0, 1, 1, 2, 2]
    attempts = [t for cid, t, kind, _ in rec.events if kind == "attempt" and cid == 1]
    closed = next(t for cid, t, kind, _ in rec.events if kind == "close" and cid == 1)
    assert attempts[1] - closed >= 0.29  # waited its constant 0.3 s backoff
    assert rec.counters["resume_attempts"] == 2 and rec.counters["replay_hits"] == 2
    ledger = build_ledger([rec], clients, 0.0, 1.0)
    assert ledger.owed["owed"].sum() > 0
    assert (ledger.lost_by_client == 0).all()
    assert ledger.order_violations == 0


def test_an_offline_period_closes_the_socket_and_the_client_resumes_afterwards() -> None:
    async def main():
        bp = make_backplane("in_memory", max_messages=10_000)
        async with running_gateway(bp, ping_interval=None) as gw:
            clients = [ClientPlan(0, ["r0"], 0.0), ClientPlan(1, ["r0"], 0.0, offline=[(0.6, 0.6, False)])]
            spec = spec_for(
                gw.port, clients, end=2.0, publish=PublishPlan(rate=50.0, start=0.2, stop=1.6, via="ws")
            )
            return await _Worker(spec, SECRET).run(), clients

    rec, clients = asyncio.run(main())
    kinds = [(kind, detail) for cid, _, kind, detail in rec.events if cid == 1]
    assert ("offline", 0.6) in kinds and ("close", "offline") in kinds
    assert [k for k, _ in kinds].count("open") == 2
    ledger = build_ledger([rec], clients, 0.0, 1.0)
    missed_while_away = ledger.received[ledger.received["cid"] == 1]
    assert len(missed_while_away) > 0
    assert (ledger.lost_by_client == 0).all()
    assert rec.counters["replay_hits"] == 1
    # back online (its close is logged then), it waits its backoff (constant 0.3 s), as in the simulator
    back = next(t for cid, t, kind, d in rec.events if cid == 1 and (kind, d) == ("close", "offline"))
    again = [t for cid, t, kind, _ in rec.events if cid == 1 and kind == "attempt"][1]
    assert 0.29 <= again - back < 0.6


def dead_port() -> int:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attempt_gaps(rec) -> list[float]:
    return [b - a for a, b in itertools.pairwise(t for _, t, kind, _ in rec.events if kind == "attempt")]


def test_a_refused_attempt_waits_the_refused_cost_even_without_backoff() -> None:
    """The simulator's floor: ``none`` retries a refused connect after ``refused_cost``, not at once."""
    policy = Reconnector(Backoff("none", 0.0, 0.0, 4), refused_cost=0.15)
    spec = spec_for(dead_port(), [ClientPlan(0, ["r0"], 0.0)], end=1.5, reconnect=policy)
    gaps = attempt_gaps(asyncio.run(_Worker(spec, SECRET).run()))
    assert len(gaps) == 4 and min(gaps) >= 0.149 and max(gaps) < 0.3


def test_a_503_is_retried_after_its_retry_after_to_the_millisecond() -> None:
    async def main():
        async with running_gateway(make_backplane("in_memory"), max_connections=0, retry_after=0.25) as gw:
            policy = Reconnector(Backoff("constant", 0.01, 0.01, 3), retry_after=5.0)
            spec = spec_for(gw.port, [ClientPlan(0, ["r0"], 0.0)], end=1.5, reconnect=policy)
            return await _Worker(spec, SECRET).run()

    rec = asyncio.run(main())
    gaps = attempt_gaps(rec)
    assert [d for _, _, k, d in rec.events if k == "reject"] == [503] * 4
    assert min(gaps) >= 0.249 and max(gaps) < 0.6  # the header's 250 ms, not a whole second, not 5 s


def test_max_attempts_bounds_the_retries_against_a_dead_address() -> None:
    async def main():
        spec = spec_for(
            dead_port(), [ClientPlan(0, ["r0"], 0.0)], end=1.0, backoff=("constant", 0.05, 0.05, 3)
        )
        return await _Worker(spec, SECRET).run()

    rec = asyncio.run(main())
    kinds = [kind for _, _, kind, _ in rec.events]
    assert kinds.count("attempt") == 4 and kinds.count("fail") == 4 and kinds[-1] == "give_up"
    assert rec.counters["reconnect_attempts"] == 3
