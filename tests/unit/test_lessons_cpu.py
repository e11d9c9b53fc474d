"""Which limit binds first: memory, fds or CPU, by the message rate (notebook 01's analysis)."""

from __future__ import annotations

import math

import pytest

from wssim.config import load_config
from wssim.lessons import cpu as lesson

CONFIG = load_config(
    "quickstart",
    ["gateways.count=10", "clients.message_size=100B", "gateways.keepalive.ping_interval=25s"],
)  # 8 GiB gateways, a million fds


def test_cpu_per_connection_is_deliveries_times_their_cost_plus_pings() -> None:
    """10 members at 6/min: 1 delivery/s, 7.7 µs each, one backplane message per local member, pings."""
    g = CONFIG.gateways
    c = g.cpu
    expected = 1.0 * (c.frame + 100 * c.per_byte + c.backplane_message / 1.0) + c.ping / 25.0
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
