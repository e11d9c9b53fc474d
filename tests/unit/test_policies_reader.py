"""The paced reader: read times, the stall schedule, and its inverse."""

from __future__ import annotations

import numpy as np
import pytest

from wssim.config import load_config
from wssim.policies import Reader
from wssim.policies.reader import NEVER_STALLS


def test_read_times_draw_one_exponential_or_none() -> None:
    rng = np.random.default_rng(1)
    assert Reader(4.0, "deterministic").work(rng) == 1.0
    assert rng.random() == np.random.default_rng(1).random()  # nothing drawn
    exp = Reader(4.0).work(np.random.default_rng(2))
    assert exp == np.random.default_rng(2).exponential()


def test_without_stalls_reading_time_is_wall_time() -> None:
    r = Reader(10.0)
    assert not r.stalls and r.phase(0.7) == NEVER_STALLS
    assert r.active(NEVER_STALLS, 2.0, 5.5) == 3.5
    assert r.finish(NEVER_STALLS, 2.0, 0.25) == 2.25 and r.awake(NEVER_STALLS, 9.0) == 9.0


def test_the_stall_schedule() -> None:
    """3 s of reading then 1 s of stall, phase 0: stalls are [3, 4), [7, 8), ..."""
    r = Reader(1.0, stall_every=3.0, stall_duration=1.0)
    assert r.period == 4.0 and r.phase(0.5) == 2.0
    assert r.active(0.0, 0.0, 8.0) == 6.0
    assert r.active(0.0, 3.2, 3.9) == 0.0
    assert r.active(0.0, 2.5, 4.5) == pytest.approx(1.0)
    assert r.finish(0.0, 2.5, 1.0) == pytest.approx(4.5)  # half a second, the stall, half a second
    assert r.finish(0.0, 2.0, 1.0) == pytest.approx(3.0)  # done just as the stall begins
    assert r.finish(0.0, 3.5, 0.5) == pytest.approx(4.5)  # begun in a stall: starts at its end
    assert r.awake(0.0, 3.5) == pytest.approx(4.0) and r.awake(0.0, 2.9) == 2.9
    # phase 2 shifts the schedule 2 s earlier: stalls [1, 2), [5, 6), ...
    assert r.awake(2.0, 1.5) == pytest.approx(2.0) and r.active(2.0, 0.0, 2.0) == pytest.approx(1.0)


def test_from_config() -> None:
    cfg = load_config(
        "backpressure",
        [
            "clients.slow_consumers.drain_rate=4/s",
            "clients.slow_consumers.read_time=deterministic",
            "clients.slow_consumers.stall_every=20s",
            "clients.slow_consumers.stall_duration=5s",
        ],
    )
    slow = Reader.from_config(cfg, slow=True)
    assert (slow.rate, slow.read_time, slow.stall_every, slow.period) == (4.0, "deterministic", 20.0, 25.0)
    assert Reader.from_config(cfg, slow=False) is None  # healthy clients read as fast as messages come
    cfg.clients.drain_rate = 50.0
    healthy = Reader.from_config(cfg, slow=False)
    assert (healthy.rate, healthy.read_time, healthy.stalls) == (50.0, "deterministic", False)


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0.0}, {"rate": 1.0, "read_time": "pareto"}, {"rate": 1.0, "stall_every": 0.0}],
)
def test_bad_parameters_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        Reader(**kwargs)
