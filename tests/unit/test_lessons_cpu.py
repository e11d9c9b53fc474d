"""Which limit binds first: memory, fds or CPU, by the message rate (notebook 01's analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wssim.config import load_config
from wssim.lessons import cpu as lesson

CONFIG = load_config(
    "quickstart",
    ["gateways.count=10", "clients.message_size=100B", "gateways.keepalive.ping_interval=25s"],
)  # 8 GiB gateways, a million fds


def test_cpu_per_connection_is_deliveries_times_their_cost_plus_pings() -> None:
    """Rooms of 10 on average at 6/min: a member's random room holds it and 10 others on average, so
    1.1 deliveries/s, 7.7 µs each; the room's backplane messages shared by its local member; pings."""
    g = CONFIG.gateways
    c = g.cpu
    expected = 1.1 * (c.frame + 100 * c.per_byte) + 1.0 * c.backplane_message / 1.0 + c.ping / 25.0
    assert lesson.cpu_per_connection(CONFIG, 6.0, 10) == pytest.approx(expected)


def test_the_cpu_binds_past_a_message_rate_and_compression_moves_both_lines() -> None:
    table = lesson.by_rate(CONFIG, [0.1, 1, 10, 100, 1000], 10)
    quiet = table[(table.per_minute == 0.1) & ~table.compression].iloc[0]
    assert quiet.binds == "memory"  # presence costs memory; a quiet connection barely uses the CPU
    busy = table[(table.per_minute == 1000) & ~table.compression].iloc[0]
    assert busy.binds == "cpu"
    plain, deflated = lesson.crossover(table, False), lesson.crossover(table, True)
    assert not math.isnan(plain) and not math.isnan(deflated)
    mem = table.groupby("compression")["memory"].first()
    assert mem[True] < mem[False]  # the compressor's state per connection
    cpu = table[table.per_minute == 100].set_index("compression")["cpu"]
    assert cpu[True] < cpu[False]  # deflating costs more than the smaller frames save
    assert lesson.limits_figure(table).data


def test_the_cpu_ceiling_is_where_the_simulated_gateway_is_that_busy() -> None:
    """The ceiling's closed form against the model: a gateway holding the CPU ceiling's connections
    (rooms of 10 on average, 600 messages per member per minute, without compression and with it) is
    busy the headroom's share of its core in the simulator, once the closed form's average room is
    replaced by the rooms the run drew (a member's room holds s + 1 members on average; one draw of
    them differs by a few percent). Tolerance: three standard errors of the Poisson count of
    publications the busy time is made of."""
    from wssim.lessons.runs import configure, simulate
    from wssim.policies import assign_rooms
    from wssim.randomness import Stream, generator

    for compressed in (False, True):
        cfg = lesson.with_compression(configure(CONFIG, ["gateways.count=1"]), compressed)
        ceiling = lesson.ceilings(cfg, 600.0, 10)["cpu"]
        n = int(ceiling // 10 * 10)  # whole rooms of ten
        run = configure(
            cfg,
            [f"clients.count={n}", f"clients.rooms.count={n // 10}", "clients.publish_rate=10/s",
             "duration=12s", "warmup=4s", "clients.connect_ramp=2s", "clients.offline.rate=0/s",
             "clients.slow_consumers.fraction=0"],
            faults=[],
        )  # fmt: skip
        ts = simulate(run).timeseries
        busy = ts[(ts.series == "gateway_cpu_utilisation") & (ts.time >= 4)]["value"].mean()
        rooms = assign_rooms(generator(run.seed, 0, Stream.ROOMS), n, 1, n // 10, "uniform", 1.1)
        sizes = np.bincount(rooms.ravel())
        per_frame = lesson.cpu_per_connection(cfg, 600.0, 11) - lesson.cpu_per_connection(cfg, 600.0, 10)
        drawn = n * lesson.cpu_per_connection(cfg, 600.0, 10) + per_frame * (np.sum(sizes**2) - 11 * n)
        assert cfg.costs.headroom * n / ceiling == pytest.approx(
            n * lesson.cpu_per_connection(cfg, 600.0, 10)
        )
        rel = 3 / math.sqrt(n * 10 * 8)  # publications in the 8 s measured
        assert busy == pytest.approx(drawn, rel=rel), (
            compressed,
            drawn / (n * lesson.cpu_per_connection(cfg, 600, 10)),
        )
