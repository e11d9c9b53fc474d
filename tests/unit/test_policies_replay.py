"""Replay window: exact answers for cursors around count and age eviction, epochs, limits."""

from __future__ import annotations

import pytest

from wssim.policies import Replay, ReplayBuffer, resume_decision


def filled(n: int, max_messages=None, max_age=None, max_per_resume=None) -> ReplayBuffer:
    r = ReplayBuffer(max_messages, max_age, max_per_resume, epoch="e1")
    for off in range(1, n + 1):
        r.append(off, float(off), f"m{off}")
    return r


def test_replays_after_cursor_in_order() -> None:
    r = filled(10)
    assert r.since(7, 10.0) == Replay(True, ["m8", "m9", "m10"], "")
    assert r.since(0, 10.0).items == [f"m{i}" for i in range(1, 11)]


def test_cursor_at_last_is_ok_and_empty() -> None:
    r = filled(5, max_messages=2)
    res = r.since(5, 5.0)
    assert res.ok and res.items == []


def test_empty_buffer_is_ok() -> None:
    assert ReplayBuffer(10, 60).since(3, 0.0).ok


def test_count_eviction_is_all_or_nothing() -> None:
    r = filled(10, max_messages=4)  # holds 7..10
    assert r.first_offset == 7 and len(r) == 4 and r.evicted_upto == 6
    assert r.since(6, 10.0).items == ["m7", "m8", "m9", "m10"]  # 6 seen, 7.. held
    res = r.since(5, 10.0)  # 6 is gone: a partial replay would hide it
    assert not res.ok and res.reason == "resync" and res.detail == "evicted" and res.items == []


def test_age_eviction_boundary() -> None:
    r = filled(10, max_age=3.0)
    # at now=10 a message is held while t >= 7
    assert r.since(6, 10.0).items == ["m7", "m8", "m9", "m10"]
    assert r.since(5, 10.0).reason == "resync"
    # time passes with no appends: eviction happens lazily in since()
    assert r.since(9, 13.0).items == ["m10"]
    assert r.since(8, 13.0).detail == "evicted"
    assert r.since(10, 100.0).ok  # nothing missed, even though nothing is held


def test_max_per_resume() -> None:
    r = filled(10, max_per_resume=3)
    assert r.since(7, 10.0).items == ["m8", "m9", "m10"]
    res = r.since(6, 10.0)
    assert not res.ok and res.reason == "resync" and res.detail == "too_many"


def test_cursor_ahead_is_resync() -> None:
    assert filled(3).since(4, 3.0).detail == "ahead"


def test_epochs() -> None:
    r = filled(5)
    assert r.resume("e1", 3, 5.0).items == ["m4", "m5"]
    assert r.resume("other", 3, 5.0).detail == "epoch"
    r.reset()
    assert r.epoch != "e1" and len(r) == 0
    assert r.resume("e1", 5, 5.0).detail == "epoch"
    # offsets continue after a reset; a cursor from the new epoch works
    r.append(6, 6.0, "m6")
    assert r.resume(r.epoch, 5, 6.0).items == ["m6"]
    r.reset(epoch="e3")
    assert r.epoch == "e3"


def test_offsets_may_restart_after_a_reset() -> None:
    """A restarted server that counts from 1 again (the in-memory backplane does)."""
    r = filled(5)
    r.reset(epoch="e2")
    assert r.since(5, 5.0).ok and r.since(4, 5.0).detail == "evicted"  # before any new message
    r.append(1, 6.0, "n1")
    r.append(2, 6.0, "n2")
    assert r.resume("e2", 0, 6.0).items == ["n1", "n2"]
    assert r.resume("e1", 0, 6.0).detail == "epoch"
    with pytest.raises(ValueError):
        r.append(2, 7.0, "again")


def test_default_epochs_are_unique() -> None:
    assert len({ReplayBuffer(1, None).epoch for _ in range(50)}) == 50


def test_offsets_must_increase() -> None:
    r = filled(3)
    with pytest.raises(ValueError):
        r.append(3, 4.0, "x")


def test_non_contiguous_offsets() -> None:
    r = ReplayBuffer(3, None, epoch="e")
    for off in (10, 20, 30, 40, 50):
        r.append(off, 0.0, off)
    assert r.since(25, 0.0).items == [30, 40, 50]  # 30 is the first held, 20 was evicted but seen
    assert r.since(20, 0.0).items == [30, 40, 50]
    assert r.since(19, 0.0).detail == "evicted"


def test_buffer_started_mid_stream_does_not_hide_the_past() -> None:
    r = ReplayBuffer(None, None, epoch="e")
    for off in range(101, 106):
        r.append(off, 0.0, off)
    assert r.since(100, 0.0).items == [101, 102, 103, 104, 105]
    assert r.since(99, 0.0).detail == "evicted"  # 100 was published before this buffer existed


def test_zero_capacity_holds_nothing() -> None:
    r = filled(3, max_messages=0)
    assert len(r) == 0 and r.since(3, 3.0).ok and not r.since(2, 3.0).ok


def test_compaction_keeps_answers() -> None:
    r = ReplayBuffer(100, None, epoch="e")
    for off in range(1, 5001):
        r.append(off, 0.0, off)
    assert len(r) == 100 and r.since(4900, 0.0).items == list(range(4901, 5001))
    assert len(r._off) < 300  # the head is compacted, not kept forever


@pytest.mark.parametrize("kwargs", [{"max_messages": -1}, {"max_age": -1.0}, {"max_per_resume": -1}])
def test_invalid_arguments(kwargs: dict) -> None:
    args = {"max_messages": 1, "max_age": 1.0, **kwargs}
    with pytest.raises(ValueError):
        ReplayBuffer(**args)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("e", 5, "e", 9, None, None), ""),
        (("e", 9, "e", 9, 9, 0), ""),  # nothing missed: even with nothing held and no allowance
        (("old", 9, "e", 9, None, None), "epoch"),
        ((None, 0, "e", 9, None, None), ""),  # an unknown epoch from the very start
        ((None, 3, "e", 9, None, None), "epoch"),
        (("e", 10, "e", 9, None, None), "ahead"),
        (("e", 4, "e", 9, 5, None), "evicted"),
        (("e", 5, "e", 9, 5, None), ""),  # 5 was seen; 6..9 are held
        (("e", 5, "e", 9, 9, None), "evicted"),  # a stream that keeps nothing
        (("e", 5, "e", 9, None, 3), "too_many"),
        (("e", 6, "e", 9, None, 3), ""),
        (("e", 0, "e", None, None, None), ""),  # nothing published yet
    ],
)
def test_resume_decision_table(args, why) -> None:
    assert resume_decision(*args) == why
