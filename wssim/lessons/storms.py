"""Chapter 04 · reconnect storms: a gateway crashes and its clients come back under each backoff strategy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px

from wssim.lessons.charts import panels
from wssim.lessons.runs import configure, simulate
from wssim.policies import Backoff

PARAM = "clients.reconnect.strategy"
METRICS = ["peak_handshake_rate", "herd_convergence_s", "reconnect_attempts"]


def herd(
    clients: int, gateways: int, crash_at: str, duration: str, admission: str, base: str, cap: str
) -> Any:
    """The ``herd`` scenario resized: gateway 0 crashes at ``crash_at`` and comes back 10 s later."""
    cfg = configure(
        "herd",
        [
            f"clients.count={clients}",
            f"gateways.count={gateways}",
            f"duration={duration}",
            f"clients.reconnect.base={base}",
            f"clients.reconnect.cap={cap}",
            f"gateways.admission.handshake_rate={admission}",
        ],
    )
    faults = [f.model_dump(mode="json") for f in cfg.faults]
    return configure(
        cfg, faults=[{**f, "at": crash_at} if f["kind"] == "gateway_crash" else f for f in faults]
    )


def crash_time(cfg: Any) -> float:
    """When the configured gateway crash happens (s)."""
    return next(f.at for f in cfg.faults if f.kind == "gateway_crash")


def accept_capacity(cfg: Any) -> float:
    """Handshakes per second the gateways left after one crash admit."""
    g = cfg.gateways
    per_gateway = g.admission.handshake_rate or g.cpu.cores / g.handshake_cost
    return per_gateway * (cfg.gateways.count - 1)


def delays_figure(strategies: Sequence[str], cfg: Any, clients: int = 2_000, seed: int = 7) -> Any:
    """Histograms of the total wait before a client's third attempt, one panel per strategy."""
    rng = np.random.default_rng(seed)
    rows = []
    for strategy in strategies:
        policy = Backoff(strategy, base=cfg.clients.reconnect.base, cap=cfg.clients.reconnect.cap)
        for _ in range(clients):
            seq = policy.sequence(rng)
            rows.append({"strategy": strategy, "wait before attempt 3 (s)": sum(next(seq) for _ in range(3))})
    fig = px.histogram(
        pd.DataFrame(rows),
        x="wait before attempt 3 (s)",
        color="strategy",
        facet_row="strategy",
        nbins=60,
        height=700,
        category_orders={"strategy": list(strategies)},
        title="When does a client make its third attempt?",
    )
    fig.update_yaxes(matches=None, title="")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(showlegend=False)
    return fig


def storm(
    cfg: Any, strategies: Sequence[str], replications: int, progress: bool | Callable[[float], None] = False
) -> Any:
    """The crash under every strategy in ``strategies``, ``replications`` times each."""
    return simulate(cfg, replications, progress, sweep={PARAM: list(strategies)})


def handshakes_figure(res: Any, cfg: Any, strategies: Sequence[str], height: int = 900) -> Any:
    """Handshakes/s around the crash, one panel per strategy (replication 0), with the survivors' capacity."""
    crash_at = crash_time(cfg)
    fig = panels(
        res.series("handshakes"),
        PARAM,
        strategies,
        "Handshakes/s around the crash, one panel per strategy (replication 0)",
        height,
    )
    fig.add_hline(y=accept_capacity(cfg), line_dash="dot", row="all", col="all")
    fig.add_vline(x=crash_at, line_dash="dash", row="all", col="all")
    fig.update_xaxes(range=[crash_at - 2, crash_at + 15])
    return fig


def stats(res: Any, strategies: Sequence[str]) -> pd.DataFrame:
    """Peak rate, convergence and attempts per strategy: mean and 95% CI half-width over replications."""
    agg = res.aggregate(METRICS)
    mean = agg.pivot(index=PARAM, columns="metric", values="mean").reindex(list(strategies))
    half = agg.pivot(index=PARAM, columns="metric", values="ci95_half_width").reindex(list(strategies))
    return mean.join(half.add_suffix("_ci95"))


def findings(table: pd.DataFrame, clients: int, gateways: int) -> str:
    """The closing sentences: rankings, Brooker's finding, the spike and the convergence."""
    rank = {m: " < ".join(table[m].sort_values().index) for m in METRICS}
    work = table["reconnect_attempts"]
    jitter_beats_exp = all(
        work[k] < work["exponential"] for k in ("full_jitter", "equal_jitter", "decorrelated")
    )
    peak_none, peak_fj = (
        table.loc["none", "peak_handshake_rate"],
        table.loc["full_jitter", "peak_handshake_rate"],
    )
    fj = table.loc["full_jitter"]
    return "\n".join(
        [
            f"- Ranking by peak handshake rate (lowest first): {rank['peak_handshake_rate']}",
            f"- Ranking by convergence time (fastest first):   {rank['herd_convergence_s']}",
            f"- Ranking by reconnect attempts (least work):     {rank['reconnect_attempts']}",
            "- Brooker: every jittered strategy does less work than plain exponential backoff "
            f"(model: {'yes' if jitter_beats_exp else 'no'}), and full jitter no more than equal jitter "
            f"(model: {'yes' if work['full_jitter'] <= work['equal_jitter'] else 'no'}).",
            f"- 'none' peaks at {peak_none:,.0f}/s, full jitter at {peak_fj:,.0f}/s "
            f"({peak_none / peak_fj:.1f}x lower).",
            f"- Clients on the crashed gateway: about {clients / gateways:,.0f} (1/{gateways} of the fleet); "
            f"full jitter reconverges in {fj['herd_convergence_s']:.1f} s "
            f"± {fj['herd_convergence_s_ci95']:.1f} s.",
        ]
    )


def one_storm(
    cfg: Any, strategy: str, admission: int, gateways: int, progress: Callable[[float], None] | None = None
) -> Any:
    """One crash, one strategy, one replication: the interactive cell's simulation."""
    changed = [f"gateways.admission.handshake_rate={admission}/s", f"gateways.count={gateways}"]
    return storm(configure(cfg, changed), [strategy], 1, progress or False)


def storm_figure(res: Any, strategy: str, admission: int, gateways: int) -> Any:
    """The interactive cell's chart: handshakes/s of one strategy, the survivors' capacity dotted."""
    cfg = configure(res.config)
    fig = handshakes_figure(res, cfg, [strategy], height=380)
    peak = res.summary["peak_handshake_rate"].iloc[0]
    fig.update_layout(
        title=f"{strategy}, {gateways} gateways admitting {admission}/s each: peak {peak:,.0f}/s"
    )
    return fig
