"""What every lesson shares: the exercise reveal, the simulating widgets, the small runs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from wssim.lessons.exercises import ANSWER_MIME, fmt, reveal, verdict
from wssim.lessons.runs import configure, simulate
from wssim.lessons.widgets import Explorer, choice, slider


@pytest.mark.parametrize(
    ("prediction", "value", "expected"),
    [
        (None, 8, "You wrote no prediction"),
        (8, 8, "Close: within 0%"),
        (np.float64(1_050.0), np.int64(1_000), "Close: within 5%"),
        (1_500, 1_000, "The right order: 50% high"),
        (600, 1_000, "The right order: 40% low"),
        (100, 1_000, "Off by a factor of 10.0 (too low)"),
        (0, 0, "Exactly right"),
        (3, 0, "The model says 0, you said 3"),
        ("Full-Jitter", "full_jitter", "Right"),
        ("none", "full_jitter", "Not quite: the model says full_jitter"),
    ],
)
def test_verdict_compares_a_prediction_with_the_answer(prediction, value, expected):
    assert verdict(prediction, value).startswith(expected)


def test_the_answer_is_folded_in_html_and_carried_for_the_answer_key():
    answer = reveal("04.1", 2_000, 3_000.0, "handshakes/s", why="The survivors admit 300/s.")
    bundle = answer._repr_mimebundle_()
    assert bundle[ANSWER_MIME] == {
        "key": "04.1",
        "text": "3,000 handshakes/s",
        "why": "The survivors admit 300/s.",
    }
    html = bundle["text/html"]
    assert html.index("<code>2,000</code>") < html.index("<details>") < html.index("3,000 handshakes/s")
    assert "3,000" not in bundle["text/plain"]  # hidden until asked for ...
    assert "3,000 handshakes/s" in str(answer) and "33% low" in str(answer)  # ... print() asks


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1234.4, "", "1,234"),
        (0.143, "fraction", "14.3%"),
        (8.31, "s", "8.31 s"),
        (3 * 2**30, "bytes", "3 GiB"),
    ],
)
def test_numbers_are_written_as_people_read_them(value, unit, text):
    assert fmt(value, unit) == text


def _simulate(n: int, kind: str, scale: float, progress) -> list[float]:
    progress(0.5)
    return [scale * i for i in range(n)]


def _draw(result: list[float], n: int, kind: str) -> go.Figure:
    return go.Figure(go.Scatter(y=result, name=kind))


def test_moving_a_control_reruns_the_simulation_and_redraws(capsys):
    explorer = Explorer(
        _simulate, _draw, {"n": slider(1, 10, 1, 3), "kind": choice(["a", "b"])}, {"scale": 2.0}
    )
    box = explorer.build()
    assert box is not None and explorer.widgets["n"].continuous_update is False
    explorer.rerun()
    assert list(explorer.figure.data[0].y) == [0, 2, 4]
    explorer.widgets["n"].value = 5  # what releasing the slider does
    explorer.widgets["kind"].value = "b"
    assert explorer.runs == 3 and list(explorer.figure.data[0].y) == [0, 2, 4, 6, 8]
    assert explorer.figure.data[0].name == "b"
    assert explorer.bar.value == 1.0 and explorer.status.value.startswith("simulated in")


def test_a_refused_combination_is_shown_in_the_status_line_and_the_chart_stays(capsys):
    def refuse(n, progress):
        if n > 3:
            raise ValueError("too many")
        return [0.0] * n

    explorer = Explorer(refuse, lambda r, n: go.Figure(go.Bar(y=r)), {"n": slider(1, 10, 1, 2)})
    explorer.build()
    explorer.rerun()
    first = explorer.figure
    explorer.widgets["n"].value = 7
    assert explorer.figure is first and explorer.status.value == "not simulated: too many"


def test_configure_applies_overrides_then_replaces_sections_and_one_run_stays_in_process():
    cfg = configure("herd", ["clients.count=60", "duration=5s"], faults=[], sweep=None)
    assert cfg.clients.count == 60 and cfg.faults == [] and cfg.sweep is None
    seen: list[float] = []
    res = simulate(cfg, progress=seen.append)
    assert len(res.summary) == 1 and seen[-1] == 1.0
    assert res.info["executor"].startswith("serial")
