"""Keepalive deadlines and idle cuts."""

from __future__ import annotations

import pytest

from wssim.policies import Keepalive, tightest


def test_dead_after_two_intervals_by_default() -> None:
    k = Keepalive(25.0)
    assert k.timeout == 50.0 and k.dead_at(100.0) == 150.0


def test_explicit_timeout() -> None:
    assert Keepalive(20.0, timeout=45.0).dead_at(0.0) == 45.0


def test_no_pings_never_declares_dead() -> None:
    k = Keepalive(None)
    assert k.dead_at(0.0) is None and k.next_ping(0.0) is None and k.timeout is None


@pytest.mark.parametrize(
    ("ping", "idle", "cut"),
    [
        (25.0, 60.0, None),  # pings reset the timer
        (59.999, 60.0, None),
        (60.0, 60.0, 160.0),  # equal: the timer fires before the next ping
        (90.0, 60.0, 160.0),
        (None, 60.0, 160.0),  # silent socket
        (None, None, None),  # no timer on the path
        (25.0, None, None),
    ],
)
def test_idle_cut_iff_ping_interval_not_below_timeout(ping, idle, cut) -> None:
    k = Keepalive(ping)
    assert k.idle_cut_at(100.0, idle) == cut
    assert k.keeps_alive(idle) == (cut is None)


def test_next_ping() -> None:
    assert Keepalive(20.0).next_ping(5.0) == 25.0


def test_tightest() -> None:
    assert tightest(60.0, None, 30.0) == 30.0
    assert tightest(None, None) is None
    assert tightest() is None


@pytest.mark.parametrize("args", [(0.0,), (-1.0,), (10.0, 0.0)])
def test_invalid(args) -> None:
    with pytest.raises(ValueError):
        Keepalive(*args)
