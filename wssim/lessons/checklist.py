"""Chapter 09 · the senior checklist for one design: seven questions, each answered with a number.

Questions 1–4 and 7 are arithmetic on the objects the simulator uses; 5 and 6 run a scaled-down fleet
(``scale`` real users per simulated client) whose fleet-wide rates shrink with it, and scale counts back up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.analytic.transports import Requirement, recommend
from wssim.lessons.runs import configure, simulate
from wssim.policies import ConnectionBudget, Keepalive, tightest

KiB, GiB = 1024, 1024**3


@dataclass(frozen=True)
class Design:
    """A team's design: the parameters cell of the notebook, one field per UPPER_CASE name."""

    users: int
    msgs_per_user_per_min: float
    room_size: int
    message_size: int
    max_latency_s: float
    kernel_kib: float
    tls_kib: float
    app_kib: float
    node_memory_gib: float
    base_memory_gib: float
    headroom: float
    fd_limit: int
    conntrack_max: int | None
    ephemeral_ports: int
    backplane_conns_per_gateway: int
    gateway_per_month: float
    admission_per_gateway: float
    ping_interval_s: float
    lb_idle_timeout_s: float
    path_idle_timeout_s: float
    backoff: str
    offline_mean_s: float
    replay_hit_target: float
    backplane: str
    slow_fraction: float
    slow_drain_per_s: float
    queue_limit: int
    scale: int
    replications: int

    @classmethod
    def from_parameters(cls, names: Mapping[str, Any]) -> Design:
        """The design whose fields are the UPPER_CASE ``names`` (a notebook's ``globals()``)."""
        return cls(**{f.name: names[f.name.upper()] for f in fields(cls)})

    @property
    def budget(self) -> ConnectionBudget:
        return ConnectionBudget(kernel=self.kernel_kib * KiB, tls=self.tls_kib * KiB, app=self.app_kib * KiB)


@dataclass(frozen=True)
class Answer:
    """One checklist answer: the line of the review, and the table or chart that backs it."""

    question: str
    line: str
    table: Any = None
    figure: go.Figure | None = None


@dataclass(frozen=True)
class Sizing:
    """Q2's result, which the later questions build on."""

    per_node: int
    binding: str
    nodes: int  # to hold every user
    limits: dict[str, float]

    @property
    def with_spare(self) -> int:
        return self.nodes + 1  # survive one gateway loss without overload


def transport(d: Design) -> Answer:
    """Q1 · Do we even need WebSockets? The four-part test and the price of each candidate."""
    req = Requirement(
        update_rate=d.msgs_per_user_per_min / 60 * d.room_size,
        upstream_rate=d.msgs_per_user_per_min / 60,
        max_latency=d.max_latency_s,
        message_size=d.message_size,
    )
    rec = recommend(req)
    prices = pd.Series(rec.usd_per_user_month).mul(d.users).rename("USD/month for all users")
    table = pd.concat([prices, pd.Series(rec.rejected, name="rejected because")], axis=1)
    verdict = "passes" if rec.test.needs_websocket else "fails: " + ", ".join(rec.test.missing())
    return Answer("1. Need WebSockets?", f"{rec.kind} — the four-part test {verdict}", table)


def sizing(d: Design) -> Sizing:
    """The node count: the smallest of memory, fd and conntrack ceilings per node."""
    ceil = d.budget.ceilings(
        d.node_memory_gib * GiB, d.base_memory_gib * GiB, d.fd_limit, headroom=d.headroom
    )
    limits = {"memory": ceil["memory"], "fds": ceil["fds"]}
    if d.conntrack_max is not None:
        limits["conntrack"] = d.conntrack_max
    per_node = int(min(limits.values()))
    return Sizing(per_node, min(limits, key=limits.get), math.ceil(d.users / per_node), limits)


def budget(d: Design, s: Sizing) -> Answer:
    """Q2 · The per-connection budget: RAM, nodes with a spare, cost; the ceilings against the load."""
    ram_gib = d.users * d.budget.bytes / GiB
    line = (
        f"{d.budget.bytes / KiB:.0f} KiB/conn × {d.users:,} = {ram_gib:,.0f} GiB; {s.per_node:,} per node "
        f"({s.binding} binds) → {s.nodes} nodes + 1 spare = ${s.with_spare * d.gateway_per_month:,.0f}/month"
    )
    fig = px.bar(
        x=list(s.limits),
        y=list(s.limits.values()),
        labels={"x": "ceiling", "y": "connections per node"},
        title=f"Per-node ceilings on a {d.node_memory_gib:g} GiB gateway (after {d.headroom:.0%} headroom)",
    )
    fig.add_hline(y=d.users / s.with_spare, line_dash="dot", annotation_text="load per node, all up")
    fig.add_hline(y=d.users / s.nodes, line_dash="dash", annotation_text="load per node, one down")
    return Answer("2. Budget", line, figure=fig)


def kernel_limits(d: Design, s: Sizing) -> Answer:
    """Q3 · Kernel limits, checked against the load per node after one node is lost."""
    after_loss = d.users / s.nodes
    conntrack = d.conntrack_max if d.conntrack_max is not None else math.inf
    checks = pd.DataFrame(
        [
            ("nofile (fds per process)", after_loss, d.fd_limit),
            ("nf_conntrack_max", after_loss, conntrack),
            ("ephemeral ports to the backplane", d.backplane_conns_per_gateway, d.ephemeral_ports),
        ],
        columns=["limit", "needed per node (one node down)", "configured"],
    )
    checks["ok"] = checks["needed per node (one node down)"] <= checks["configured"]
    line = "; ".join(f"{r.limit}: {'ok' if r.ok else 'RAISE IT'}" for r in checks.itertuples(index=False))
    return Answer("3. Kernel limits", line, checks)


def replay_window(d: Design) -> float:
    """The window (s) that serves ``replay_hit_target`` of resumes for Exp(offline_mean_s) absences."""
    return -d.offline_mean_s * math.log(1 - d.replay_hit_target)


def disconnects(d: Design) -> Answer:
    """Q4 · The disconnect story: pings against the tightest timeout, the replay window, the backoff."""
    timeout = tightest(d.lb_idle_timeout_s, d.path_idle_timeout_s)
    pings_ok = Keepalive(d.ping_interval_s).keeps_alive(timeout)
    window = replay_window(d)
    publish_rate = d.users * d.msgs_per_user_per_min / 60  # messages/s into the backplane
    history_gib = publish_rate * window * d.message_size / GiB
    line = (
        f"ping {d.ping_interval_s:.0f}s vs tightest timeout {timeout:.0f}s: {'ok' if pings_ok else 'CUTS'}; "
        f"replay window {window:.0f}s ({history_gib:.2f} GiB of history at {publish_rate:,.0f} msg/s); "
        f"backoff {d.backoff}"
    )
    w = np.linspace(0, 5 * d.offline_mean_s, 100)
    fig = go.Figure(go.Scatter(x=w, y=np.exp(-w / d.offline_mean_s), name="miss fraction"))
    fig.add_vline(x=window, line_dash="dot", annotation_text=f"W for {d.replay_hit_target:.0%} hits")
    fig.update_layout(
        title="Replay window vs resumes that must re-sync", xaxis_title="W (s)", yaxis_title="e^(−W/m)"
    )
    return Answer("4. Disconnects", line, figure=fig)


def scaled_fleet(d: Design, s: Sizing) -> tuple[dict[str, Any], float]:
    """The scaled-down fleet shared by Q5 and Q6, and the real users each simulated client stands for."""
    clients = max(200, d.users // d.scale)
    fleet = {
        "clients": {
            "count": clients,
            "connect_ramp": "5s",
            "rooms": {"count": max(1, clients // d.room_size), "per_client": 1},
            "publish_rate": f"{d.msgs_per_user_per_min}/min",
            "message_size": f"{d.message_size}B",
            "reconnect": {"strategy": d.backoff, "base": "1s", "cap": "30s"},
        },
        "gateways": {"count": s.with_spare, "keepalive": {"ping_interval": f"{d.ping_interval_s}s"}},
        "edge": {"balancer": "consistent_hash"},
    }
    return fleet, d.users / clients


def dropped_messages(d: Design, s: Sizing, progress: bool | Callable[[float], None] = False) -> Answer:
    """Q5 · One gateway loses its subscription for 10 s: the chosen backplane against the other side."""
    fleet, scale = scaled_fleet(d, s)
    other = "redis_streams" if d.backplane in ("redis_pubsub", "nats") else "redis_pubsub"
    outage = {"kind": "subscription_outage", "at": "20s", "duration": "10s", "gateways": 1}
    cfg = configure(
        {"name": "capstone-semantics", "duration": "40s", **fleet, "backplane": {"kind": d.backplane}},
        faults=[outage],
    )
    res = simulate(cfg, d.replications, progress, sweep={"backplane.kind": [d.backplane, other]})
    lost = res.summary.groupby("backplane.kind")[["messages_lost", "deliveries_expected"]].mean()
    lost["lost per outage (real scale)"] = lost["messages_lost"] * scale
    lost["lost fraction"] = lost["messages_lost"] / lost["deliveries_expected"]
    real = lost["lost per outage (real scale)"]
    line = (
        f"{d.backplane} loses {real[d.backplane]:,.0f} deliveries in a 10 s subscription outage "
        f"({other}: {real[other]:,.0f})"
    )
    return Answer("5. Dropped messages", line, lost)


def herd_config(d: Design, s: Sizing, backoffs: list[str]) -> tuple[Any, float, float]:
    """The scaled crash: every client connected through admission, then gateway 0 dies.

    Returns the config, the crash time and the floor: the fastest the survivors can take the herd back.
    """
    fleet, scale = scaled_fleet(d, s)
    admission = d.admission_per_gateway / scale  # per gateway, in the scaled fleet
    ramp = 1.2 * fleet["clients"]["count"] / (admission * s.with_spare)
    crash_at = ramp + 10
    floor_s = d.users / s.with_spare / (d.admission_per_gateway * s.nodes)
    cfg = configure(
        {
            "name": "capstone-herd",
            "duration": f"{crash_at + max(60, 4 * floor_s):.0f}s",
            **fleet,
            "clients": {**fleet["clients"], "connect_ramp": f"{ramp:.0f}s", "publish_rate": "0/s"},
            "gateways": {
                **fleet["gateways"],
                "handshake_cost": f"{0.5 / admission:.4f}s",  # the CPU is not the bottleneck, admission is
                "admission": {"handshake_rate": f"{admission:.4f}/s", "retry_after": "1s"},
            },
            "backplane": {"kind": "in_memory"},
            "faults": [{"kind": "gateway_crash", "at": f"{crash_at:.0f}s", "gateway": 0, "restart": True}],
            "sweep": {"clients.reconnect.strategy": backoffs},
        }
    )
    return cfg, round(crash_at), floor_s


def connections_figure(res: Any, d: Design, crash_at: float, floor_s: float) -> go.Figure:
    """Connections held around the crash, at real scale (replication 0)."""
    scale = d.users / res.config["clients"]["count"]
    conn = res.series("connections")
    conn = conn[conn["replication"] == 0].assign(value=lambda f: f["value"] * scale)
    fig = px.line(
        conn,
        x="time",
        y="value",
        color="clients.reconnect.strategy",
        line_shape="hv",
        title="Connections held around a gateway crash (real scale)",
        labels={"value": "connections", "time": "s"},
    )
    fig.add_vline(x=crash_at, line_dash="dash", annotation_text="gateway 0 crashes")
    fig.update_xaxes(range=[crash_at - 10, crash_at + max(60, 4 * floor_s)])
    gateways = res.config["gateways"]["count"]
    fig.update_yaxes(range=[0.95 * d.users * (1 - 1 / gateways), 1.01 * d.users])
    return fig


def gateway_dies(d: Design, s: Sizing, progress: bool | Callable[[float], None] = False) -> Answer:
    """Q6 · What happens when a gateway dies: recovery time and work, the chosen backoff against another."""
    other = "full_jitter" if d.backoff == "none" else "none"
    cfg, crash_at, floor_s = herd_config(d, s, [d.backoff, other])
    res = simulate(cfg, d.replications, progress)
    herd = res.summary.groupby("clients.reconnect.strategy")[
        ["herd_convergence_s", "reconnect_attempts"]
    ].mean()
    herd["reconnect attempts (real scale)"] = herd["reconnect_attempts"] * d.users / cfg.clients.count
    attempts = herd["reconnect attempts (real scale)"]
    survivors = d.admission_per_gateway * s.nodes
    line = (
        f"1/{s.with_spare} of users (~{d.users / s.with_spare:,.0f}) reconnect; "
        f"the {s.nodes} survivors admit {survivors:,.0f}/s, so ≥ {floor_s:.0f} s; "
        f"{d.backoff}: whole again after {herd.loc[d.backoff, 'herd_convergence_s']:.0f} s "
        f"with {attempts[d.backoff]:,.0f} attempts "
        f"({other}: {attempts[other]:,.0f})"
    )
    return Answer("6. Gateway dies", line, herd, connections_figure(res, d, crash_at, floor_s))


def slow_consumers(d: Design, s: Sizing) -> Answer:
    """Q7 · How slow consumers fail: unbounded queues' time to OOM against the bounded worst case."""
    conns = d.users / s.nodes  # size for the load after a node loss
    arrival = d.msgs_per_user_per_min / 60 * d.room_size  # messages/s into each member's queue
    slow = conns * d.slow_fraction
    growth = slow * max(arrival - d.slow_drain_per_s, 0) * d.message_size  # bytes/s per node, unbounded
    free = (d.node_memory_gib - d.base_memory_gib) * GiB - conns * d.budget.bytes
    t_oom = free / growth if growth else math.inf
    bounded = slow * d.queue_limit * d.message_size
    line = (
        f"unbounded queues OOM a node in {t_oom / 60:,.0f} min ({growth / 2**20:.1f} MiB/s); "
        f"a {d.queue_limit}-message bound caps them at {bounded / 2**20:,.0f} MiB per node"
    )
    figures = pd.Series(
        {
            "slow consumers per node": slow,
            "arrival msg/s per member": arrival,
            "queue growth per node (MiB/s)": growth / 2**20,
            "free memory per node (GiB)": free / GiB,
            "time to OOM (min)": t_oom / 60,
            "bounded worst case (MiB)": bounded / 2**20,
        }
    ).round(2)
    return Answer("7. Slow consumers", line, figures)


def review(answers: list[Answer]) -> str:
    """The design review: one line per question."""
    return "\n".join(f"{a.question:<22} {a.line}" for a in answers)


def one_herd(d: Design, backoff: str, admission_per_gateway: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: the scaled crash with one backoff and one admission rate."""
    changed = Design(**{**d.__dict__, "backoff": backoff, "admission_per_gateway": admission_per_gateway})
    cfg, crash_at, floor_s = herd_config(changed, sizing(changed), [backoff])
    res = simulate(cfg, progress=progress or False)
    res.info["lesson"] = {"crash_at": crash_at, "floor_s": floor_s, "design": changed}
    return res


def herd_figure(res: Any, backoff: str, admission_per_gateway: int) -> go.Figure:
    """The interactive cell's chart: connections around the crash; the title says how long, how much work."""
    lesson = res.info["lesson"]
    d = lesson["design"]
    fig = connections_figure(res, d, lesson["crash_at"], lesson["floor_s"])
    row = res.summary.iloc[0]
    attempts = row["reconnect_attempts"] * d.users / res.config["clients"]["count"]
    fig.update_layout(
        title=f"{backoff}, {admission_per_gateway:,}/s admitted per gateway: whole again after "
        f"{row['herd_convergence_s']:.0f} s, {attempts:,.0f} attempts (real scale)"
    )
    return fig
