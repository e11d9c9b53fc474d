"""A CPU that falls behind disconnects fast readers (notebook 03's CPU section) when the closed form says."""

from __future__ import annotations

import math

from tests.validation.intervals import mean_ci
from wssim.lessons import cpu_starvation as lesson

MEMBERS, LIMIT = 100, 40


def test_the_first_disconnect_is_wald_s_first_passage_of_the_cpu_backlog() -> None:
    """At 1.5 times the core the backlog grows by 50 publications/s (10 ms each): it passes 40 after
    (40 + ½) / 50 s; the lesson's table says so, and the simulator agrees over replications."""
    assert lesson.first_disconnect(1.5, MEMBERS, LIMIT) == (LIMIT + 0.5) / 50.0
    assert math.isinf(lesson.first_disconnect(0.9, MEMBERS, LIMIT))
    table = lesson.starvation(MEMBERS, [0.9, 1.5], LIMIT, replications=1)
    assert table.loc[0, "disconnects"] == 0  # the core keeps up: nobody is closed
    assert table.loc[1, "disconnects"] > 0
    runs = lesson.simulate(lesson.room(MEMBERS, 1.5, LIMIT), 12).summary
    ci = mean_ci(runs["first_slow_consumer_disconnect_s"])
    assert ci.contains(lesson.first_disconnect(1.5, MEMBERS, LIMIT)), ci
    assert "predicted" in lesson.starvation_findings(table, LIMIT)
    assert lesson.starvation_figure(table).data
