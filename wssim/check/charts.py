"""The evidence charts of a review, as plotly figure dicts (the HTML page and the notebook draw them).

Static items chart their arithmetic (the transports' cost, the per-node load against each ceiling, the
share of each kernel limit used, the replay window's miss curve); dynamic items chart their probe's
time series, scaled to the design's fleet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from wssim.check.figures import SAFE_CONNECTIONS_PER_NODE, Figures, figures
from wssim.check.static import miss_fraction, replay_window
from wssim.report import PALETTE, _layout

SCALED = {
    "connections",
    "clients_connected",
    "handshakes",
    "connect_attempts",
    "reconnects",
    "queued_messages",
    "deliveries",
    "drops",
}
PROBE_SERIES = {
    "outage": ["deliveries"],
    "crash": ["connections", "handshakes"],
    "slow": ["memory_bytes", "send_queue_depth_p99"],
    "deploy": ["connections", "memory_bytes"],
    "spike": ["deliveries", "send_queue_depth_p99"],
}
COLOURS = {"pass": "#16a34a", "warn": "#ca8a04", "fail": "#dc2626"}


def _bar(
    title: str,
    names: list[str],
    values: list[float],
    ytitle: str,
    unit: str = "",
    colours: list[str] | None = None,
    line: tuple[float, str] | None = None,
) -> dict[str, Any]:
    layout = _layout(title, "", ytitle, unit)
    if line is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": line[0],
                "y1": line[0],
                "line": {"color": "#475569", "dash": "dash", "width": 1.5},
            }
        ]
        layout["annotations"] = [
            {
                "xref": "paper",
                "x": 1,
                "y": line[0],
                "text": line[1],
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "bottom",
                "font": {"size": 11},
            }
        ]
    trace = {
        "type": "bar",
        "x": names,
        "y": values,
        "marker": {"color": colours or PALETTE[0]},
        "hovertemplate": "%{x}: %{y:,.4g}<extra></extra>",
    }
    return {"data": [trace], "layout": layout}


def transport_chart(config: Any, fig: Figures) -> dict[str, Any]:
    """USD per user-month of every transport that meets the design's traffic."""
    from wssim.analytic.transports import from_config as transport_inputs
    from wssim.analytic.transports import recommend, usd_per_user_month
    from wssim.check.figures import replace_latency

    req, overheads, prices = transport_inputs(config)
    rec = recommend(replace_latency(req, config), overheads, prices)
    usd = dict(rec.usd_per_user_month)
    usd.setdefault(config.transport.kind, usd_per_user_month(fig.transport, prices))
    names = list(usd)
    colours = [COLOURS["pass"] if n == rec.kind else PALETTE[0] for n in names]
    return _bar(
        f"Cost per user-month (recommended: {rec.kind})",
        names,
        [usd[n] for n in names],
        "USD per user-month",
        colours=colours,
    )


def budget_chart(config: Any, fig: Figures) -> dict[str, Any]:
    """Connections on the busiest gateway (all up, one down) against each per-node ceiling."""
    g, h = config.gateways, config.costs.headroom
    names = ["load, all up", "load, one down", f"memory at {h:.0%}", "memory", "fd limit", "safe target"]
    values = [
        fig.per_node,
        fig.per_node_one_down,
        fig.memory_cap,
        fig.memory_full,
        g.fd_limit / fig.fds,
        SAFE_CONNECTIONS_PER_NODE,
    ]
    colours = [PALETTE[0], PALETTE[1]] + ["#94a3b8"] * 4
    return _bar("Connections per gateway against its ceilings", names, values, "connections", colours=colours)


def kernel_chart(config: Any, fig: Figures) -> dict[str, Any]:
    """The share of each kernel limit the load needs (above 1: it does not fit)."""
    g, edge = config.gateways, config.edge
    shares = {
        "file descriptors": (fig.per_node_one_down * fig.fds + fig.upstream) / g.fd_limit,
        "ephemeral ports": fig.upstream / g.ephemeral_ports,
    }
    if edge.conntrack_max is not None:
        shares["conntrack (balancer)"] = fig.connections / edge.nodes / edge.conntrack_max
    if g.conntrack_max is not None:
        shares["conntrack (gateway)"] = fig.per_node_one_down / g.conntrack_max
    colours = [
        COLOURS["fail"] if v > 1 else COLOURS["warn"] if v > config.costs.headroom else COLOURS["pass"]
        for v in shares.values()
    ]
    chart = _bar(
        "Share of each kernel limit needed",
        list(shares),
        list(shares.values()),
        "share of the limit",
        colours=colours,
        line=(1.0, "the limit"),
    )
    chart["layout"]["yaxis"]["type"] = "log" if max(shares.values(), default=0) > 20 else "linear"
    return chart


def replay_chart(config: Any, fig: Figures) -> dict[str, Any]:
    """Share of resumes that resync against the replay window, with the design's window and budget."""
    mean = config.clients.offline.mean
    window = replay_window(config, fig) if fig.keeps_history else 0.0
    top = max(6 * mean, min(window, 20 * mean) * 1.2 if math.isfinite(window) else 0.0)
    xs = [top * i / 100 for i in range(101)]
    ys = [miss_fraction(config, x) for x in xs]
    layout = _layout(
        "Resumes that resync against the replay window", "window (s)", "share of resumes", "fraction"
    )
    budget = config.expectations.resync_budget
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": budget,
            "y1": budget,
            "line": {"color": "#475569", "dash": "dash", "width": 1.5},
        }
    ]
    if math.isfinite(window):
        shapes.append(
            {
                "type": "line",
                "yref": "paper",
                "x0": window,
                "x1": window,
                "y0": 0,
                "y1": 1,
                "line": {"color": COLOURS["warn"], "width": 2},
            }
        )
    layout["shapes"] = shapes
    trace = {
        "type": "scatter",
        "x": xs,
        "y": ys,
        "mode": "lines",
        "line": {"color": PALETTE[0], "width": 2},
        "name": f"{config.clients.offline.distribution} absences, mean {mean:g} s",
    }
    return {"data": [trace], "layout": layout}


def probe_results(probe: Any) -> Any:
    """The probe's results with its time series scaled to the design's fleet."""
    from wssim.sweep import Results

    res, s = probe.results, probe.scaling
    ts = res.timeseries.copy()
    counts = ts["series"].isin(SCALED)
    ts.loc[counts, "value"] *= s.factor
    memory = ts["series"] == "memory_bytes"
    ts.loc[memory, "value"] = s.base_memory + (ts.loc[memory, "value"] - s.base_memory) * s.factor
    return Results(res.summary, ts, res.markers, res.params, res.config, res.failures, res.out, res.info)


def probe_charts(probe: Any) -> list[dict[str, Any]]:
    """The probe's key time series (every replication), scaled, with its fault marked."""
    from wssim.report import timeseries_spec

    res = probe_results(probe)
    present = set(res.timeseries["series"])
    charts = []
    for series in PROBE_SERIES[probe.name]:
        if series in present:
            spec = timeseries_spec(res, series)
            spec["layout"]["title"]["text"] += f" — probe {probe.name}"
            charts.append(spec)
    return charts


STATIC_CHARTS: dict[str, Callable[[Any, Figures], dict[str, Any]]] = {
    "transport": transport_chart,
    "budget": budget_chart,
    "kernel": kernel_chart,
    "disconnect": replay_chart,
}


def item_charts(review: Any, item_id: str) -> list[dict[str, Any]]:
    """Every chart of one item of ``review``."""
    if item_id in STATIC_CHARTS:
        return [STATIC_CHARTS[item_id](review.design, figures(review.design))]
    item = next(i for i in review.items if i.spec.id == item_id)
    probe = review.probes.get(item.probe["name"]) if item.probe else None
    return probe_charts(probe) if probe is not None and probe.results is not None else []
