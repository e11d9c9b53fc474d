"""The reconnect policy: floors per outcome, give-up, the cursors a reconnect sends."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.policies import Backoff, Reconnection, Reconnector
from wssim.policies.reconnect import CLOSED, DROPPED, REFUSED, TIMEOUT, UNAVAILABLE


class FixedU:
    def __init__(self, u: float = 0.5) -> None:
        self.u, self.calls = u, 0

    def random(self) -> float:
        self.calls += 1
        return self.u


def policy(strategy: str = "constant", base: float = 0.05, max_attempts: int | None = None) -> Reconnector:
    return Reconnector(
        Backoff(strategy, base, 1.0, max_attempts), retry_after=5.0, refused_cost=0.1, syn_retry=1.0
    )


@pytest.mark.parametrize(
    ("outcome", "told", "elapsed", "wait"),
    [
        (CLOSED, None, 0.0, 0.05),  # the backoff delay alone
        (TIMEOUT, None, 10.0, 0.05),  # the timeout already passed: backoff from giving up
        (REFUSED, None, 0.0, 0.1),
        (REFUSED, None, 0.08, 0.05),  # 0.1 from the attempt's start, of which 0.08 are gone: backoff wins
        (DROPPED, None, 0.0, 1.0),
        (DROPPED, None, 0.25, 0.75),
        (UNAVAILABLE, None, 0.0, 5.0),
        (UNAVAILABLE, 0.25, 3.0, 0.25),  # what the server said, from its answer
    ],
)
def test_the_wait_is_the_backoff_never_below_the_outcomes_floor(outcome, told, elapsed, wait) -> None:
    got, draw = policy().retry(0, 0.0, FixedU(), outcome, told, elapsed)
    assert got == pytest.approx(wait) and draw == 0.05


def test_give_up_at_max_attempts_without_drawing() -> None:
    p, rng = policy(max_attempts=2), FixedU()
    assert p.retry(1, 0.0, rng, REFUSED) is not None and rng.calls == 1
    assert p.retry(2, 0.0, rng, REFUSED) is None and rng.calls == 1


def test_a_reconnection_counts_attempts_and_resumes_only_after_a_connection() -> None:
    state = Reconnection(policy("exponential", 0.1, max_attempts=3))
    rng = FixedU()
    assert not state.attempting()  # the very first attempt is not a reconnect
    assert [state.retry(REFUSED, rng) for _ in range(3)] == pytest.approx([0.1, 0.2, 0.4])
    assert state.attempting() and state.retry(REFUSED, rng) is None  # three failures: give up
    state.joined("r", "e1", 7)  # a cursor before any connection is never sent
    assert state.established(["r"]) == {}
    assert state.attempt == 0 and state.retry(CLOSED, rng) == pytest.approx(0.1)
    state.saw("r", "e1", 9)
    state.joined("r", "e1", 12)  # same epoch: the cursor stays at the last message seen
    assert state.established(["r", "s"]) == {"r": ("e1", 9)}
    state.joined("r", "e2", 3)  # another epoch: start at its head
    assert state.established(["r"]) == {"r": ("e2", 3)}


def test_no_cursors_without_resume() -> None:
    state = Reconnection(Reconnector(Backoff("none", 0.0, 0.0), resume=False))
    state.established(["r"])
    state.saw("r", "e", 4)
    assert state.established(["r"]) == {}


def test_from_config_reads_the_clients_and_admission_fields() -> None:
    cfg = load_config(
        "herd",
        [
            "clients.reconnect.strategy=decorrelated",
            "clients.reconnect.max_attempts=4",
            "clients.refused_cost=250ms",
            "clients.syn_retry=3s",
            "clients.connect_timeout=2s",
            "gateways.admission.retry_after=7s",
            "clients.resume=false",
        ],
    )
    p = Reconnector.from_config(cfg)
    assert (p.backoff.strategy, p.backoff.max_attempts, p.connect_timeout, p.resume) == (
        "decorrelated",
        4,
        2.0,
        False,
    )
    assert [p.floor(o) for o in (CLOSED, REFUSED, UNAVAILABLE, DROPPED, TIMEOUT)] == [
        0.0,
        0.25,
        7.0,
        3.0,
        0.0,
    ]


def test_negative_floors_are_refused() -> None:
    with pytest.raises(ValueError, match="refused_cost"):
        Reconnector(Backoff("none", 0.0, 0.0), refused_cost=-1.0)
