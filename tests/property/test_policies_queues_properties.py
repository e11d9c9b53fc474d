"""Send-queue properties under arbitrary offer/pop/ack/close sequences, for every overflow policy.

Invariants checked after every step: a bounded queue never exceeds its message or byte limit; the
conflate policy holds at most one message per key; ``bytes`` is the sum of the queued sizes; and the
accounting identity offered = delivered + dropped + conflated + discarded + queued. A plain-list model
of each policy also predicts exactly which messages are delivered, in which order.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import OVERFLOW_POLICIES, Message, SendQueue

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("offer"),
            st.one_of(st.integers(min_value=0, max_value=60), st.sampled_from([10, 25, 50])),
            st.one_of(st.none(), st.integers(0, 4)),
        ),
        st.tuples(st.just("pop")),
        st.tuples(st.just("ack"), st.integers(min_value=1, max_value=3)),
        st.tuples(st.just("close")),
    ),
    max_size=120,
)
limits = st.one_of(st.none(), st.integers(min_value=0, max_value=8))
# round sizes and limits make exact-fit boundaries (bytes + size == limit_bytes) common
byte_limits = st.one_of(st.none(), st.integers(min_value=0, max_value=200), st.sampled_from([50, 100, 200]))


class Model:
    """The obvious list implementation of each policy (O(n) everything)."""

    def __init__(self, policy, limit, limit_bytes, credit):
        self.policy, self.credit = policy, credit
        self.limit = None if policy == "unbounded" else limit
        self.lb = None if policy == "unbounded" else limit_bytes
        self.q: list[Message] = []
        self.closed = False
        self.in_flight = 0

    def size(self) -> int:
        return sum(m.size for m in self.q)

    def fits(self, m: Message) -> bool:
        return (self.limit is None or len(self.q) < self.limit) and (
            self.lb is None or self.size() + m.size <= self.lb
        )

    def too_big(self, m: Message) -> bool:
        return self.limit == 0 or (self.lb is not None and m.size > self.lb)

    def evicting(self, m: Message) -> None:
        if self.too_big(m):
            return
        while not self.fits(m):
            self.q.pop(0)
        self.q.append(m)

    def offer(self, m: Message) -> None:
        if self.closed:
            return
        if self.policy == "conflate" and m.key is not None:
            same = [i for i, x in enumerate(self.q) if x.key == m.key]
            if same:
                i = same[0]
                old = self.q[i]
                if self.lb is None or self.size() - old.size + m.size <= self.lb:
                    self.q[i] = m
                    return
                del self.q[i]
                self.evicting(m)
                return
        if self.policy == "unbounded" or self.fits(m):
            self.q.append(m)
        elif self.policy in ("drop_oldest", "conflate", "credit"):
            self.evicting(m)
        elif self.policy == "disconnect":
            self.closed = True
        # drop_newest and block: not enqueued

    def pop(self) -> Message | None:
        if not self.q or (self.policy == "credit" and self.in_flight >= self.credit):
            return None
        if self.policy == "credit":
            self.in_flight += 1
        return self.q.pop(0)

    def ack(self, n: int) -> None:
        self.in_flight = max(0, self.in_flight - n)

    def close(self) -> None:
        self.q.clear()
        self.in_flight = 0
        self.closed = True


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(OVERFLOW_POLICIES),
    limits,
    byte_limits,
    st.integers(min_value=1, max_value=3),
    st.booleans(),
    ops,
)
def test_queue_invariants_and_model(policy, limit, limit_bytes, credit, gap_notice, script) -> None:
    q = SendQueue(policy, limit, limit_bytes, credit=credit, gap_notice=gap_notice)
    model = Model(policy, limit, limit_bytes, credit)
    next_id = 0
    gaps = 0
    delivered: list[int] = []
    for op in script:
        if op[0] == "offer":
            m = Message(next_id, op[1], op[2])
            next_id += 1
            o = q.offer(m)
            model.offer(m)
            assert not (o.accepted and o.blocked)
            if o.blocked:
                assert policy == "block" and not o.dropped
            if o.disconnect:
                assert policy == "disconnect" and not o.accepted
            gaps += len(o.dropped)
        elif op[0] == "pop":
            got, want = q.pop(), model.pop()
            assert got is want
            if got is not None:
                delivered.append(got.id)
        elif op[0] == "ack":
            q.ack(op[1])
            model.ack(op[1])
        else:
            q.close()
            model.close()
            q.reopen()
            model.closed = False

        # invariants
        held = list(q._q)
        msgs = [x.msg if hasattr(x, "msg") else x for x in held]
        assert [m.id for m in msgs] == [m.id for m in model.q]
        assert q.depth == len(msgs) and q.bytes == sum(m.size for m in msgs)
        if policy != "unbounded":
            assert limit is None or q.depth <= limit
            assert limit_bytes is None or q.bytes <= limit_bytes
        if policy == "conflate":
            keys = [m.key for m in msgs if m.key is not None]
            assert len(keys) == len(set(keys))
        assert (
            q.total_offered
            == q.total_delivered + q.total_dropped + q.total_conflated + q.total_discarded + q.depth
        )
        assert q.pending_gap == (q.total_dropped if gap_notice else 0)
        assert gaps == q.total_dropped
        assert q.can_send == (q.depth > 0 and (policy != "credit" or q.in_flight < credit))
        assert q.in_flight <= (credit if policy == "credit" else 0)
    if policy not in ("conflate",):
        assert delivered == sorted(delivered)  # FIFO


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 30)), max_size=80), st.integers(1, 6))
def test_conflate_delivers_latest_per_key(offers, limit) -> None:
    """Each delivered keyed message is the latest one offered for its key at the time it is popped."""
    q = SendQueue("conflate", limit=limit)
    latest: dict[int, int] = {}
    for i, (key, size) in enumerate(offers):
        q.offer(Message(i, size, key))
        latest[key] = i
        if i % 3 == 2:
            m = q.pop()
            if m is not None:
                assert latest[m.key] == m.id


def _mm1k_loss(policy: str, rho: float, k: int, arrivals: int, seed: int) -> float:
    """Fraction of arrivals lost by a queue of ``limit=k`` fed by Poisson arrivals (rate rho) and drained
    by one exponential server (rate 1) that pops the head when it finishes sending it."""
    rng = np.random.default_rng(seed)
    inter = rng.exponential(1 / rho, arrivals).tolist()
    service = iter(rng.exponential(1.0, arrivals + 1).tolist())
    q = SendQueue(policy, limit=k, gap_notice=False)
    t_arrival, t_done = inter[0], math.inf
    i = lost = 0
    while i < arrivals:
        if t_arrival < t_done:
            t = t_arrival
            o = q.offer(Message(i, 1))
            lost += len(o.dropped)
            if q.depth == 1 and t_done == math.inf:
                t_done = t + next(service)
            i += 1
            if i < arrivals:
                t_arrival = t + inter[i]
        else:
            q.pop()
            t_done = t_done + next(service) if q.depth else math.inf
    return lost / arrivals


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest"])
def test_loss_matches_mm1k_blocking_probability(policy: str) -> None:
    """Both policies keep the number of queued messages an M/M/1/K chain, so by PASTA the share of
    messages lost is the blocking probability (1-rho) rho^K / (1-rho^(K+1)). The mean over R
    replications must fall in its 99.9% Student-t confidence interval (the start from an empty queue
    biases it by far less than that)."""
    rho, k, reps = 0.8, 5, 16
    p_k = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    xs = [_mm1k_loss(policy, rho, k, 5000, seed) for seed in range(reps)]
    half = scipy.stats.t.ppf(0.9995, reps - 1) * statistics.stdev(xs) / math.sqrt(reps)
    assert abs(statistics.fmean(xs) - p_k) <= half, (statistics.fmean(xs), p_k, half)


CLASS_POLICIES = ("unbounded", "drop_oldest", "drop_newest", "conflate", "disconnect")


class ClassModel:
    """One socket's queue of several classes, as a list: the class of the message that does not fit
    decides; evictions take only the oldest messages of that class."""

    def __init__(self, policies, limit, limit_bytes):
        self.policies, self.limit, self.lb = policies, limit, limit_bytes
        if all(p == "unbounded" for p in policies):
            self.limit = self.lb = None
        self.q: list[Message] = []
        self.closed = False

    def fits(self, q: list[Message], m: Message) -> bool:
        return (self.limit is None or len(q) < self.limit) and (
            self.lb is None or sum(x.size for x in q) + m.size <= self.lb
        )

    def evicting(self, m: Message) -> None:
        rest = [x for x in self.q if x.cls != m.cls]
        if not self.fits(rest, m) or self.limit == 0 or (self.lb is not None and m.size > self.lb):
            return  # not even without every message of its class: refused
        while not self.fits(self.q, m):
            self.q.remove(next(x for x in self.q if x.cls == m.cls))
        self.q.append(m)

    def offer(self, m: Message) -> None:
        if self.closed:
            return
        policy = self.policies[m.cls]
        if policy == "conflate" and m.key is not None:
            same = [i for i, x in enumerate(self.q) if x.key == m.key]
            if same:
                old = self.q[same[0]]
                if self.lb is None or sum(x.size for x in self.q) - old.size + m.size <= self.lb:
                    self.q[same[0]] = m
                    return
                del self.q[same[0]]
                self.evicting(m)
                return
        if policy == "unbounded" or self.fits(self.q, m):
            self.q.append(m)
        elif policy in ("drop_oldest", "conflate"):
            self.evicting(m)
        elif policy == "disconnect":
            self.closed = True


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(CLASS_POLICIES), min_size=1, max_size=3),
    limits,
    byte_limits,
    st.lists(
        st.one_of(
            st.tuples(st.just("offer"), st.integers(0, 2), st.sampled_from([10, 25, 50]), st.integers(0, 3)),
            st.tuples(st.just("pop")),
        ),
        max_size=100,
    ),
)
def test_a_queue_of_classes_follows_the_model(policies, limit, limit_bytes, script) -> None:
    q = SendQueue("drop_oldest", limit, limit_bytes, classes=tuple(policies))
    model = ClassModel(policies, limit, limit_bytes)
    for n, op in enumerate(script):
        if op[0] == "offer":
            cls = op[1] % len(policies)
            m = Message(n, op[2], (cls, op[3]), None, cls)  # keys are per class (per room in the model)
            o = q.offer(m)
            model.offer(m)
            assert o.disconnect == (model.closed and not o.accepted)
        else:
            assert q.pop() is (model.q.pop(0) if model.q else None)
        msgs = q.messages()
        assert [m.id for m in msgs] == [m.id for m in model.q] and q.closed == model.closed
        assert q.bytes == sum(m.size for m in msgs)
        assert q.total_offered == q.total_delivered + q.total_dropped + q.total_conflated + q.depth
        if any(p != "unbounded" for p in policies) and "unbounded" not in policies:
            assert limit is None or q.depth <= limit


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CLASS_POLICIES), limits, byte_limits, ops)
def test_one_class_is_the_single_policy_queue(policy, limit, limit_bytes, script) -> None:
    a = SendQueue(policy, limit, limit_bytes)
    b = SendQueue(policy, limit, limit_bytes, classes=(policy,))
    for n, op in enumerate(script):
        if op[0] == "offer":
            oa, ob = a.offer(Message(n, op[1], op[2])), b.offer(Message(n, op[1], op[2]))
            assert (oa.accepted, len(oa.dropped), oa.conflated, oa.disconnect) == (
                ob.accepted,
                len(ob.dropped),
                ob.conflated,
                ob.disconnect,
            )
        elif op[0] == "pop":
            ma, mb = a.pop(), b.pop()
            assert (ma and ma.id) == (mb and mb.id)
        elif op[0] == "close":
            a.close(), b.close()
            a.reopen(), b.reopen()
        assert [m.id for m in a.messages()] == [m.id for m in b.messages()]
