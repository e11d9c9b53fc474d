"""Chapter 10 · a design review: a design someone brings, read against the senior checklist by
``wssim check``, and fixed item by item until every item passes.

The arithmetic of the review (:func:`wssim.check.review` with ``quick=True``) answers in milliseconds,
so the notebook re-reviews the design after every item's fixes. One probe, the crash of the busiest
gateway, is simulated on the fixed design, scaled down as ``wssim check`` does it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from wssim.check import ITEMS, apply_fixes, review
from wssim.check.charts import probe_charts
from wssim.check.dynamic import DYNAMIC
from wssim.check.figures import figures
from wssim.check.probes import measure, plan, unprobed
from wssim.lessons.runs import configure, simulate

DESIGNS = Path(__file__).resolve().parents[2] / "data" / "designs"
VERDICT_CODE = {"pass": 0, "warn": 1, "fail": 2}
COLOURS = ["#16a34a", "#ca8a04", "#dc2626"]


def load(design: str, overrides: list[str] | None = None) -> Any:
    """A design of ``data/designs/`` by name (``"bad"``), or a config path, with ``--set`` overrides."""
    path = DESIGNS / f"{design}.yaml"
    return configure(str(path) if path.exists() else design, overrides)


def verdicts(config: Any) -> pd.DataFrame:
    """The quick review as a table: per item its kind, verdict, worst evidence and the fixes it asks."""
    result = review(config, quick=True)
    rows = [
        {
            "item": item.spec.title,
            "kind": item.spec.kind,
            "verdict": item.verdict,
            "evidence": item.summary(),
            "fix": ", ".join(f.set_arg for f in item.changes),
        }
        for item in result.items
    ]
    return pd.DataFrame(rows).set_index("item")


def failing(config: Any) -> int:
    """How many items fail the quick review."""
    return sum(item.verdict == "fail" for item in review(config, quick=True).items)


def walk(config: Any) -> tuple[pd.DataFrame, Any]:
    """Fix the design one checklist item at a time, in checklist order, re-reviewing after each.

    Each step applies the changes the review of the design *so far* asks for that item (values that
    pass together with the others'). Returns one row per step (the item fixed, the changes, every
    item's verdict after it) and the fixed design.
    """
    rows = [_step("the design as brought", [], config)]
    for spec in ITEMS:
        item = next(i for i in review(config, quick=True).items if i.spec.id == spec.id)
        if item.changes:
            config = apply_fixes(config, item.changes)
            rows.append(_step(spec.title, [f.set_arg for f in item.changes], config))
    return pd.DataFrame(rows).set_index("step"), config


def _step(name: str, changes: list[str], config: Any) -> dict[str, Any]:
    result = review(config, quick=True)
    return {
        "step": name,
        "changes": ", ".join(changes),
        **{item.spec.title: item.verdict for item in result.items},
        "failing": result.counts()["fail"],
    }


def walk_figure(frame: pd.DataFrame) -> go.Figure:
    """Every item's verdict (columns) after each step (rows): red to green as the fixes land."""
    titles = [spec.title for spec in ITEMS]
    z = frame[titles].apply(lambda column: column.map(VERDICT_CODE)).to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=titles,
            y=list(frame.index),
            text=frame[titles].to_numpy(),
            texttemplate="%{text}",
            colorscale=[[0, COLOURS[0]], [0.5, COLOURS[1]], [1, COLOURS[2]]],
            zmin=0,
            zmax=2,
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed", title="after fixing")
    fig.update_layout(title="The review after each item's fixes (quick review: the arithmetic)", height=480)
    return fig


def change(frame: pd.DataFrame, path: str) -> str:
    """The value the walk set ``path`` to (its last change), as config text."""
    for changes in reversed(frame["changes"].tolist()):
        for arg in changes.split(", "):
            if arg.startswith(f"{path}="):
                return arg.split("=", 1)[1]
    return ""


def crash(
    config: Any,
    gateways: int | None = None,
    cap_s: float | None = None,
    max_clients: int = 1000,
    replications: int = 1,
    progress: bool | Callable[[float], None] = False,
) -> Any:
    """The review's crash probe on ``config`` (gateway count and backoff cap changed if given): the
    busiest gateway dies once every client is connected. Returns the probe, measured and judged."""
    changes = [f"gateways.count={gateways}"] if gateways else []
    changes += [f"clients.reconnect.cap={cap_s}s"] if cap_s else []
    config = configure(config, changes)
    probes = [p for p in plan(config, max_clients, replications) if p.name == "crash"]
    if not probes:
        raise ValueError(f"no crash to simulate: {unprobed(config, figures(config))}")
    probe = probes[0]
    probe.results = simulate(probe.config, replications, progress)
    measure(probe)
    probe.checks = DYNAMIC["crash"](config, figures(config), probe)
    return probe


def crash_figure(probe: Any, **_: Any) -> go.Figure:
    """Connections through the crash, scaled to the design's fleet, with the fault marked."""
    fig = go.Figure(probe_charts(probe)[0])
    fig.add_vline(x=probe.fault_at, line_dash="dot", annotation_text="busiest gateway dies")
    return fig


def crash_table(probe: Any) -> pd.DataFrame:
    """The probe's checks: verdict, what was measured, against what."""
    rows = [{"check": c.id, "verdict": c.verdict, "evidence": c.text} for c in probe.checks]
    return pd.DataFrame(rows).set_index("check")


def convergence(probe: Any) -> float:
    """Seconds from the crash until the fleet held its connections again (worst replication)."""
    return probe.worst("herd_convergence_s")


def findings(brought: Any, frame: pd.DataFrame, probe: Any) -> str:
    """The closing sentences: what failed, what fixed it, what the simulated crash showed."""
    steps = frame.drop(index=frame.index[0])
    after_first = int(steps["failing"].iloc[0]) if len(steps) else 0
    took = convergence(probe)
    took_text = f"{took:.0f} s" if math.isfinite(took) else "never, within the probe"
    promise = brought.expectations.reconnect_within
    lines = [
        f"- The design as brought fails {int(frame['failing'].iloc[0])} of {len(ITEMS)} items; "
        f"fixing the first item alone leaves {after_first} failing.",
        f"- {len(steps)} steps of fixes ({sum(len(c.split(', ')) for c in steps['changes'])} changes) turn "
        f"every item to {', '.join(sorted(set(frame.iloc[-1][[s.title for s in ITEMS]])))}.",
        f"- The fixed design runs {change(frame, 'gateways.count') or brought.gateways.count} gateways on "
        f"{change(frame, 'backplane.kind') or brought.backplane.kind}.",
        f"- Its busiest gateway crashed in the probe: whole again after {took_text} "
        f"(promised {promise:.0f} s); crash checks: "
        + ", ".join(f"{c.id} {c.verdict}" for c in probe.checks)
        + ".",
    ]
    return "\n".join(lines)
