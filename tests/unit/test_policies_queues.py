"""Send-queue overflow policies: exact outcomes of small offer/pop scripts."""

from __future__ import annotations

import pytest

from wssim.policies import OVERFLOW_POLICIES, Message, SendQueue, queues


def msgs(n: int, size: int = 10, start: int = 0, key=None) -> list[Message]:
    return [Message(i, size, key) for i in range(start, start + n)]


def drain(q: SendQueue) -> list[int]:
    out = []
    while (m := q.pop()) is not None:
        out.append(m.id)
        q.ack()
    return out


@pytest.mark.parametrize("policy", OVERFLOW_POLICIES)
def test_every_policy_is_accepted_and_documented(policy: str) -> None:
    q = SendQueue(policy, limit=1)
    assert q.policy == policy and q.offer(Message(0, 10)).accepted
    assert queues.__doc__ is not None
    assert any(line.split()[:1] == [policy] for line in queues.__doc__.splitlines()), policy


def test_unbounded_ignores_limits() -> None:
    q = SendQueue("unbounded", limit=2, limit_bytes=5)
    for m in msgs(100):
        assert q.offer(m).accepted
    assert q.depth == 100 and q.bytes == 1000 and q.total_dropped == 0


def test_drop_oldest_keeps_newest() -> None:
    q = SendQueue("drop_oldest", limit=3)
    outcomes = [q.offer(m) for m in msgs(5)]
    assert [o.accepted for o in outcomes] == [True] * 5
    assert [m.id for m in outcomes[3].dropped] == [0]
    assert [m.id for m in outcomes[4].dropped] == [1]
    assert drain(q) == [2, 3, 4]
    assert q.total_dropped == 2 and q.take_gap() == 2 and q.take_gap() == 0


def test_drop_newest_refuses_new() -> None:
    q = SendQueue("drop_newest", limit=3)
    outcomes = [q.offer(m) for m in msgs(5)]
    assert [o.accepted for o in outcomes] == [True, True, True, False, False]
    assert [m.id for m in outcomes[4].dropped] == [4]
    assert drain(q) == [0, 1, 2]


def test_byte_limit_drop_oldest_evicts_enough() -> None:
    q = SendQueue("drop_oldest", limit=None, limit_bytes=100)
    for m in msgs(4, size=25):
        q.offer(m)
    o = q.offer(Message(9, 60))
    assert [m.id for m in o.dropped] == [0, 1, 2]
    assert q.bytes == 85 and drain(q) == [3, 9]


def test_message_larger_than_byte_limit_is_dropped() -> None:
    for policy in ("drop_oldest", "drop_newest", "conflate", "credit", "block"):
        q = SendQueue(policy, limit=None, limit_bytes=50)
        q.offer(Message(0, 10))
        o = q.offer(Message(1, 51))
        assert not o.accepted and not o.blocked and [m.id for m in o.dropped] == [1], policy
        assert q.depth == 1 and q.total_dropped == 1


def test_conflate_replaces_in_place() -> None:
    q = SendQueue("conflate", limit=10)
    q.offer(Message(1, 10, "a"))
    q.offer(Message(2, 10, "b"))
    q.offer(Message(3, 10, None))
    o = q.offer(Message(4, 10, "a"))
    assert o.accepted and o.conflated == 1 and not o.dropped
    assert q.depth == 3 and q.total_conflated == 1 and q.pending_gap == 0
    assert drain(q) == [4, 2, 3]  # 4 took 1's place at the head


def test_conflate_byte_accounting_and_growth() -> None:
    q = SendQueue("conflate", limit=None, limit_bytes=100)
    q.offer(Message(1, 40, "a"))
    q.offer(Message(2, 40, "b"))
    q.offer(Message(3, 30, "a"))  # shrinks in place
    assert q.bytes == 70
    o = q.offer(Message(4, 71, "b"))  # grows past the byte limit: evicts from the head
    assert o.accepted and o.conflated == 1 and [m.id for m in o.dropped] == [3]
    assert q.bytes == 71 and drain(q) == [4]


def test_conflate_beyond_limit_drops_oldest() -> None:
    q = SendQueue("conflate", limit=2)
    for i, k in enumerate("abc"):
        q.offer(Message(i, 1, k))
    assert drain(q) == [1, 2] and q.total_dropped == 1
    # the evicted key is free again
    q.offer(Message(5, 1, "a"))
    q.offer(Message(6, 1, "a"))
    assert drain(q) == [6]


def test_disconnect_policy() -> None:
    q = SendQueue("disconnect", limit=2)
    assert q.offer(Message(0, 1)).accepted and q.offer(Message(1, 1)).accepted
    o = q.offer(Message(2, 1))
    assert o.disconnect and not o.accepted and q.closed
    assert q.offer(Message(3, 1)).disconnect  # closed: refuses everything
    assert [m.id for m in q.close()] == [0, 1]
    assert q.depth == 0 and q.bytes == 0 and q.total_discarded == 2
    q.reopen()
    assert q.offer(Message(4, 1)).accepted


def test_credit_window() -> None:
    q = SendQueue("credit", limit=10, credit=2)
    for m in msgs(4):
        q.offer(m)
    assert q.can_send
    assert q.pop().id == 0 and q.pop().id == 1
    assert not q.can_send and q.pop() is None and q.in_flight == 2
    q.ack()
    assert q.can_send and q.pop().id == 2 and q.pop() is None
    q.ack(5)
    assert q.in_flight == 0 and q.pop().id == 3 and not q.can_send  # empty now


def test_credit_queue_bounded_with_drop_oldest() -> None:
    q = SendQueue("credit", limit=3, credit=1)
    for m in msgs(5):
        q.offer(m)
    assert q.depth == 3 and q.total_dropped == 2 and drain(q) == [2, 3, 4]


def test_block_policy() -> None:
    q = SendQueue("block", limit=2)
    q.offer(Message(0, 1))
    q.offer(Message(1, 1))
    o = q.offer(Message(2, 1))
    assert o.blocked and not o.accepted and not o.dropped
    assert q.depth == 2 and q.total_dropped == 0 and q.total_blocked == 1 and q.pending_gap == 0
    q.pop()
    assert q.offer(Message(2, 1)).accepted


def test_gap_notice_off() -> None:
    q = SendQueue("drop_newest", limit=1, gap_notice=False)
    q.offer(Message(0, 1))
    q.offer(Message(1, 1))
    assert q.total_dropped == 1 and q.pending_gap == 0 and q.take_gap() == 0


def test_peaks_and_aliases() -> None:
    q = SendQueue("drop_oldest", limit=3)
    for m in msgs(5, size=7):
        q.offer(m)
    assert q.peak_depth == 3 and q.peak_bytes == 21 and q.dropped == 2 and q.conflated == 0
    assert len(q) == 3


def test_limit_zero_drops_everything() -> None:
    q = SendQueue("drop_oldest", limit=0)
    assert not q.offer(Message(0, 1)).accepted and q.depth == 0 and q.total_dropped == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"policy": "lifo", "limit": 1},
        {"policy": "drop_oldest", "limit": -1},
        {"policy": "drop_oldest", "limit": 1, "limit_bytes": -1},
        {"policy": "credit", "limit": 1, "credit": 0},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SendQueue(**kwargs)
