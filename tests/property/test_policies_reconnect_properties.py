"""The reconnect policy against a model that replays a client's whole history.

The model keeps the list of events (failures with their outcome, Retry-After and elapsed time, and
connections) and the list of uniforms handed out, and derives each wait from scratch: the attempt
number is the count of failures since the last connection, the backoff draw is the strategy's formula
on that attempt and on the previous draw, the floor is the outcome's, counted from the attempt's start
for the outcomes that model the attempt's own cost.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from wssim.policies import STRATEGIES, Backoff, Reconnection, Reconnector
from wssim.policies.reconnect import CLOSED, DROPPED, REFUSED, TIMEOUT, UNAVAILABLE

FLOORS = {CLOSED: 0.0, REFUSED: 0.1, UNAVAILABLE: 5.0, DROPPED: 1.0, TIMEOUT: 0.0}


class Uniforms:
    def __init__(self, values: list[float]) -> None:
        self.values, self.used = values, 0

    def random(self) -> float:
        u = self.values[self.used % len(self.values)]
        self.used += 1
        return u


def t_of(base: float, cap: float, n: int) -> float:
    return min(cap, base * 2.0**n) if n < 1000 else cap


def model_draw(strategy: str, base: float, cap: float, n: int, previous: float, u: float) -> float:
    t = t_of(base, cap, n)
    return {
        "none": 0.0,
        "constant": base,
        "exponential": t,
        "full_jitter": u * t,
        "equal_jitter": t / 2 + u * t / 2,
        "decorrelated": min(cap, base + u * (3 * max(previous, base) - base)),
    }[strategy]


events = st.lists(
    st.one_of(
        st.tuples(
            st.just("fail"),
            st.sampled_from([CLOSED, REFUSED, UNAVAILABLE, DROPPED, TIMEOUT]),
            st.one_of(st.none(), st.floats(0.0, 10.0)),
            st.floats(0.0, 2.0),
        ),
        st.tuples(st.just("connect")),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(STRATEGIES),
    st.floats(0.0, 5.0),
    st.floats(0.0, 60.0),
    st.one_of(st.none(), st.integers(1, 6)),
    st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=10),
    events,
)
def test_every_wait_matches_the_history_model(strategy, base, span, max_attempts, us, script) -> None:
    cap = base + span
    state = Reconnection(
        Reconnector(
            Backoff(strategy, base, cap, max_attempts), retry_after=5.0, refused_cost=0.1, syn_retry=1.0
        )
    )
    rng = Uniforms(us)
    failures, previous, given_up = 0, 0.0, False
    for ev in script:
        if ev[0] == "connect":
            state.established([])
            failures, previous = 0, 0.0
            continue
        _, outcome, told, elapsed = ev
        used = rng.used
        wait = state.retry(outcome, rng, told, elapsed)
        if max_attempts is not None and failures >= max_attempts:
            assert wait is None and rng.used == used  # gives up without drawing
            given_up = True
            continue
        u = us[used % len(us)]
        draw = model_draw(strategy, base, cap, failures, previous, u)
        floor = told if (outcome == UNAVAILABLE and told is not None) else FLOORS[outcome]
        if outcome in (REFUSED, DROPPED):
            floor -= elapsed
        assert rng.used == used + 1
        assert wait is not None and math.isclose(wait, max(draw, floor), rel_tol=1e-9, abs_tol=1e-12)
        failures += 1
        previous = draw
    assert given_up or max_attempts is None or failures <= max_attempts
