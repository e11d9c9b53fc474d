"""The batched path's replay windows (:class:`wssim.sim.windowlog.WindowLog`) against one
:class:`wssim.policies.ReplayBuffer` per room, appended one by one as the exact path does.

Random steps: a step's bulk publications (rooms, times inside the step ahead of the clock, offsets in
order per room), exact publications, clock ticks (so that a query may come before a step's last
publication), resumes and replays from random cursors (in the current epoch or an old one), and
history losses. Every resume (served, messages) and every replay (times or resync)
must be the same.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wssim.policies import ReplayBuffer
from wssim.sim.windowlog import WindowLog

ROOMS = 4
STEP = 1.0

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("bulk"),
            st.lists(
                st.tuples(st.integers(0, ROOMS - 1), st.floats(0.0, STEP, exclude_max=True)), max_size=6
            ),
        ),
        st.tuples(st.just("exact"), st.integers(0, ROOMS - 1)),
        st.tuples(st.just("resume"), st.integers(0, ROOMS - 1), st.integers(-8, 1), st.booleans()),
        st.tuples(st.just("replay"), st.integers(0, ROOMS - 1), st.integers(-8, 1)),
        st.tuples(st.just("tick"), st.floats(0.0, STEP)),
        st.tuples(
            st.just("lose"),
        ),
    ),
    max_size=60,
)


class Reference:
    """The exact path's windows: a buffer per room, every publication appended."""

    def __init__(self, limits: tuple[int | None, float, int | None]) -> None:
        self.limits = limits
        self.epoch = [0] * ROOMS
        self.buffers = [ReplayBuffer(*limits, epoch=f"{r}.0") for r in range(ROOMS)]

    def lose(self) -> None:
        for r, b in enumerate(self.buffers):
            self.epoch[r] += 1
            b.reset(epoch=f"{r}.{self.epoch[r]}")


@settings(max_examples=300, deadline=None)
# Pinned: a step's early publication is evicted by its own step's later one (age counts from the
# newest append, ahead of the clock), and a cursor from before a loss.
@example([("bulk", [(0, 0.1), (0, 0.9)]), ("resume", 0, -2, True)], None, 0.5, None)
@example([("exact", 1), ("lose",), ("exact", 1), ("replay", 1, -2), ("resume", 1, -1, True)], None, 6.0, None)
@given(
    ops,
    st.one_of(st.none(), st.integers(1, 6)),
    st.sampled_from([0.5, 1.0, 2.5, 6.0]),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_the_window_log_answers_as_a_buffer_per_room(ops, max_messages, max_age, max_per_resume):
    last = np.zeros(ROOMS, dtype=np.int64)
    log = WindowLog(last, max_messages, max_age, max_per_resume)
    ref = Reference((max_messages, max_age, max_per_resume))
    now = 0.0
    newest = [0.0] * ROOMS  # a room's times do not decrease
    for op in ops:
        if op[0] == "bulk":  # a step from now: its publications at times inside it, offsets given now
            pubs = sorted(op[1], key=lambda p: p[1])
            ts = [now + dt for _, dt in pubs]
            rooms = np.array([r for r, _ in pubs], dtype=np.int64)
            offs = np.empty(len(rooms), dtype=np.int64)
            for i, r in enumerate(rooms.tolist()):
                last[r] += 1
                offs[i] = last[r]
                ts[i] = newest[r] = max(ts[i], newest[r])
                ref.buffers[r].append(int(last[r]), ts[i], ts[i])
            log.add_many(rooms, offs, np.array(ts), now)
        elif op[0] == "exact":
            r = op[1]
            last[r] += 1
            t = newest[r] = max(now, newest[r])
            ref.buffers[r].append(int(last[r]), t, t)
            log.add(r, int(last[r]), t)
        elif op[0] == "tick":
            now += op[1]
        elif op[0] == "resume":
            _, r, delta, same = op
            cursor = max(int(last[r]) + delta, 0)
            epoch = ref.epoch[r] if same else ref.epoch[r] - 1
            rep = ref.buffers[r].resume(f"{r}.{epoch}", cursor, now)
            assert log.resume(r, same, cursor, now) == (rep.ok, len(rep.items))
        elif op[0] == "replay":
            _, r, delta = op
            cursor = max(int(last[r]) + delta, 0)
            rep = ref.buffers[r].since(cursor, now)
            assert log.replay(r, cursor, now) == (rep.items if rep.ok else None)
        else:
            ref.lose()
            log.lose()
