"""Charts more than one chapter draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.express as px


def series_figure(res: Any, series: str, label: str, title: str) -> Any:
    """One time series of a one-run result over simulated time, its axis ``label``, titled."""
    fig = px.line(
        res.series(series), x="time", y="value", labels={"value": label, "time": "simulated time (s)"}
    )
    fig.update_layout(title=title)
    return fig


def panels(series: Any, param: str, values: Sequence[Any], title: str, height: int) -> Any:
    """One time series (``Results.series``, replication 0) in one panel per value of sweep ``param``."""
    frame = series[series["replication"] == 0]
    fig = px.line(
        frame,
        x="time",
        y="value",
        color=param,
        facet_row=param,
        category_orders={param: list(values)},
        height=height,
        title=title,
        labels={"value": "", "time": "simulated time (s)"},
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(showlegend=False)
    fig.update_yaxes(range=[0, 1.05 * max(frame["value"].max(), 1)])
    return fig
