"""Probes: short simulations derived from the design, one per dynamic item, scaled down to run in seconds.

=========  ================  ===========================================================================
probe      item              what happens after every client has connected (``fault_at``)
=========  ================  ===========================================================================
outage     dropped_message   the first gateway loses its backplane subscription for the design's outage
crash      gateway_dies      the busiest gateway (by the balancer's share of the simulated clients) dies
slow       slow_consumers    nothing: the design's slow readers fill their queues from the start
deploy     deploy            the design's rolling deploy (drain or kill), or a drained one
spike      spike             the design's biggest spike, or publishing × 1/headroom for 60 s
=========  ================  ===========================================================================

Scaling. A fleet of ``n`` clients is simulated with ``n' = min(n, max_clients)``: one simulated client
stands for ``s = n/n'`` real ones, and everything the fleet shares scales with them so that every
gateway keeps its shape. Per gateway: the memory above ``base_memory``, the fd limit and the admission
rate are divided by ``s``, handshake CPU multiplied by ``s`` (and its per-held-connection part by
``s²``); the conntrack tables (balancer nodes, gateway hosts) are divided by ``s``, TLS CPU at an L7
balancer multiplied by it. Rooms are divided by ``s`` as far as they go (at least 100 are kept, so that
there are publications to measure), and the publish rate per client is raised by the members each room
lost, so a room publishes and a client receives as often as in the design; the backplane's capacity
scales with what it carries (a gateway's own connections to it do not). Offline periods are left out:
each probe measures its own fault, and the resyncs of absences are the replay check's closed form.
Times, queue depths and per-client rates are then the design's; counts and rates of connections,
handshakes and deliveries are multiplied back by ``s`` (memory above base too). Direct messages follow
the per-client publish rate.

Every probe is written as a config (``probes/NAME.yaml`` beside ``check.json``): ``wssim run`` on it
reproduces the runs, replication for replication. Verdicts take the worst replication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wssim.check.figures import Figures, figures
from wssim.check.static import deploy_plan, outage_seconds, readers, spike_plan, time_to_oom

MAX_CLIENTS = 2000
REPLICATIONS = 2
SETTLE_S = 10.0  # quiet seconds between the last connect and the fault
MAX_RAMP_S = 300.0
MIN_ROOMS = 100  # fewer rooms than this would leave too few publications to measure latency on
COUNTS = {
    "connections_peak",
    "deliveries_expected",
    "deliveries_delivered",
    "messages_lost",
    "messages_dropped_overflow",
    "reconnect_attempts",
    "peak_handshake_rate",
    "peak_connect_attempt_rate",
    "admission_rejections",
    "slow_consumer_disconnects",
    "emfile_rejections",
    "conntrack_drops",
    "connections_end",
    "drain_closes",
    "connect_timeouts",
}


@dataclass(frozen=True)
class Scaling:
    """How a probe's fleet stands for the design's: ``clients`` real per simulated ``factor``."""

    clients: int
    simulated: int
    base_memory: int

    @property
    def factor(self) -> float:
        return self.clients / self.simulated

    def real(self, metric: str, value: float) -> float:
        """A probe metric as the design's fleet would see it."""
        if metric in COUNTS:
            return value * self.factor
        if metric == "gateway_memory_peak_bytes":
            return self.base_memory + (value - self.base_memory) * self.factor
        return value


@dataclass
class Probe:
    """One probe: its scaled config, when its fault happens, and how long the fault lasts."""

    name: str
    item: str
    title: str
    config: Any
    scaling: Scaling
    fault_at: float
    window: float
    path: Path | None = None
    on_fixed: bool = False
    """Run on the design with its fixes applied (the design itself cannot hold its clients)."""
    results: Any = None
    metrics: list[dict[str, float]] = field(default_factory=list)
    """Per replication: every metric, scaled to the design's fleet."""
    held_before: list[float] = field(default_factory=list)
    """Per replication: connections held just before the fault, scaled to the design's fleet."""

    def worst(self, metric: str, high_is_bad: bool = True) -> float:
        """The worst replication's value (NaN counts as worst for a time that should exist)."""
        values = [m.get(metric, math.nan) for m in self.metrics]
        if any(math.isnan(v) for v in values):
            return math.nan
        return max(values) if high_is_bad else min(values)

    def command(self, replications: int) -> str:
        where = self.path if self.path is not None else f"probes/{self.name}.yaml"
        return f"wssim run {where} --replications {replications}"


def _ceil_div(value: float, by: float) -> int:
    return max(1, math.ceil(value / by))


def scale_design(config: Any, max_clients: int = MAX_CLIENTS) -> tuple[dict[str, Any], Scaling]:
    """The design as a raw config of at most ``max_clients`` clients, every shared capacity scaled."""
    from wssim.config import load_config

    n = config.clients.count
    sim = max(1, min(n, max_clients))
    s = n / sim
    raw = config.without_sweep().model_dump(mode="json")
    raw["faults"], raw["transport"]["kind"] = [], "websocket"
    c, g, e = raw["clients"], raw["gateways"], raw["edge"]
    rooms, k = config.clients.rooms.count, config.clients.rooms.per_client
    sim_rooms = min(rooms, max(k, round(rooms / s), MIN_ROOMS))
    c["count"], c["rooms"]["count"] = sim, sim_rooms
    members, sim_members = n * k / rooms, sim * k / sim_rooms
    c["publish_rate"] = config.clients.publish_rate * members / sim_members
    base = config.gateways.base_memory
    g["memory"] = base + _ceil_div(config.gateways.memory - base, s)
    g["fd_limit"] = _ceil_div(config.gateways.fd_limit, s)
    g["handshake_cost"] *= s
    g["handshake_cost_per_connection"] *= s * s
    adm = g["admission"]
    for key in ("handshake_rate", "burst"):
        if adm.get(key) is not None:
            adm[key] /= s
    if adm.get("max_connections") is not None:
        adm["max_connections"] = _ceil_div(adm["max_connections"], s)
    for table in (e, g):
        if table["conntrack_max"] is not None:
            table["conntrack_max"] = _ceil_div(table["conntrack_max"], s)
    e["tls_handshake_cost"] *= s
    managed = raw["backplane"]["managed"]
    if managed["max_connections"] is not None:
        managed["max_connections"] = _ceil_div(managed["max_connections"], s)
    real, small = figures(config), figures(load_config(raw))
    if real.capacity is not None and real.backplane > 0:
        raw["backplane"]["capacity"] = real.capacity * small.backplane / real.backplane
    return raw, Scaling(n, sim, base)


def busiest_gateway(config: Any) -> int:
    """The gateway the balancer gives the most of the (simulated) clients."""
    from wssim.policies import make_balancer
    from wssim.sim.edge import client_key, node_name

    count = config.gateways.count
    if config.edge.balancer not in ("consistent_hash", "rendezvous", "modulo", "sticky"):
        return 0
    bal = make_balancer(config.edge.balancer, [node_name(i) for i in range(count)], config.edge.virtual_nodes)
    load = [0] * count
    for c in range(config.clients.count):
        load[int(str(bal.pick(client_key(c)))[1:])] += 1
    return max(range(count), key=load.__getitem__)


def connect_ramp(config: Any, fig: Figures) -> float:
    """A ramp over which every client connects at most at 80% of the gateways' admission rate."""
    rate = fig.gateways * fig.accept_rate
    needed = 1.25 * fig.connections / rate if rate > 0 else MAX_RAMP_S
    return float(min(MAX_RAMP_S, max(config.clients.connect_ramp, math.ceil(needed))))


def _probe(
    name: str,
    item: str,
    title: str,
    base: dict[str, Any],
    scaling: Scaling,
    fault_at: float,
    window: float,
    duration: float,
    faults: list[dict[str, Any]],
    **clients: Any,
) -> Probe:
    from wssim.config import load_config

    raw = {**base, "name": f"{base['name']}-probe-{name}", "description": title, "faults": faults}
    raw["duration"] = float(math.ceil(duration))
    raw["clients"] = {**base["clients"], **clients}
    return Probe(name, item, title, load_config(raw), scaling, fault_at, window)


def unprobed(config: Any, fig: Figures) -> str:
    """Why the probes cannot say anything about ``config`` ("" when they can)."""
    if config.transport.kind == "poll":
        return "a poll design holds no connections between requests"
    g, edge = config.gateways, config.edge
    ceilings = {"memory": fig.memory_full, "the fd limit": g.fd_limit / fig.fds}
    short = [name for name, cap in ceilings.items() if fig.per_node > cap]
    if edge.conntrack_max is not None and fig.connections / edge.nodes > edge.conntrack_max:
        short.append("the balancer's conntrack table")
    if g.conntrack_max is not None and fig.per_node > g.conntrack_max:
        short.append("the gateway's conntrack table")
    if short:
        return f"the fleet cannot hold its clients ({', '.join(short)}: see budget and kernel)"
    return ""


def plan(config: Any, max_clients: int = MAX_CLIENTS, replications: int = REPLICATIONS) -> list[Probe]:
    """The five probes of ``config`` (none when :func:`unprobed` says they would mean nothing)."""
    from wssim.config import load_config

    fig = figures(config)
    if unprobed(config, fig):
        return []
    raw, scaling = scale_design(config, max_clients)
    ramp = connect_ramp(config, fig)
    at = ramp + SETTLE_S
    base = {**raw, "replications": replications, "interval": 1.0, "warmup": ramp}
    base["clients"] = {
        **raw["clients"],
        "connect_ramp": ramp,
        "offline": {**raw["clients"]["offline"], "rate": 0.0},
    }
    budget_s, g = config.expectations.reconnect_within, config.gateways
    d = outage_seconds(config)
    args = (base, scaling, at)
    probes = [
        _probe(
            "outage",
            "dropped_message",
            f"Gateway 0 loses its backplane subscription for {d:g} s at {at:g} s",
            *args,
            d,
            at + d + 30,
            [{"kind": "subscription_outage", "at": at, "duration": d, "gateways": 1}],
        ),
    ]
    busiest = busiest_gateway(load_config(raw))
    watch = max(60.0, 2 * budget_s)
    probes.append(
        _probe(
            "crash",
            "gateway_dies",
            f"The busiest gateway ({busiest}) crashes at {at:g} s and restarts",
            *args,
            watch,
            at + watch,
            [{"kind": "gateway_crash", "at": at, "gateway": busiest, "count": 1}],
        )
    )
    probes.append(_slow_probe(config, fig, *args))
    _, drain, interval = deploy_plan(config)
    took = fig.gateways * interval + g.drain_timeout + g.restart_delay
    how = "drained" if drain else "killed"
    probes.append(
        _probe(
            "deploy",
            "deploy",
            f"A rolling deploy from {at:g} s: a gateway {how} every {interval:g} s",
            *args,
            took,
            at + took + budget_s,
            [{"kind": "deploy", "at": at, "drain": drain, "interval": interval}],
        )
    )
    k, seconds, extra, _ = spike_plan(config)
    wave = round(extra / scaling.factor)
    spike = {"kind": "spike", "at": at, "duration": seconds, "publish_multiplier": k, "connect_clients": wave}
    probes.append(
        _probe(
            "spike",
            "spike",
            f"Publishing ×{k:g} for {seconds:g} s from {at:g} s"
            + (f", {extra:,} clients arriving" if extra else ""),
            *args,
            seconds,
            at + seconds + 30,
            [spike],
        )
    )
    return probes


def _slow_probe(config: Any, fig: Figures, base: dict[str, Any], scaling: Scaling, at: float) -> Probe:
    """The design's slow readers (or one stalled reader per gateway) for long enough to see an OOM."""
    t = time_to_oom(config, fig)
    watch = min(MAX_RAMP_S, max(60.0, 1.5 * t)) if math.isfinite(t) else 120.0
    _, _, declared = readers(config, fig)
    slow = dict(base["clients"]["slow_consumers"])
    who = "the design's slow readers"
    if not declared:
        slow.update(fraction=min(1.0, fig.gateways / scaling.simulated), drain_rate=0.0)
        who = "one stalled reader per gateway"
    return _probe(
        "slow",
        "slow_consumers",
        f"{who.capitalize()} for {watch:g} s after the ramp",
        base,
        scaling,
        at,
        watch,
        at + watch,
        [],
        slow_consumers=slow,
    )


def write_probe(probe: Probe, folder: Path, design: str) -> Path:
    """Write ``folder/probes/NAME.yaml``: the probe's config, reproducible with ``wssim run``."""
    import yaml

    path = folder / "probes" / f"{probe.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    s = probe.scaling
    header = (
        f"# Probe `{probe.name}` of {design}, written by `wssim check`: {probe.title}.\n"
        f"# {s.simulated:,} simulated clients stand for {s.clients:,} ({s.factor:.4g} each); every\n"
        "# capacity the fleet shares is scaled with them (docs/howto/review-a-design.md). Re-run it with:\n"
        f"#   wssim run {path} --replications {probe.config.replications}\n"
    )
    body = yaml.safe_dump(probe.config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
    probe.path = path
    return path


def measure(probe: Probe) -> None:
    """Fill ``probe.metrics`` and ``probe.held_before`` from its results, scaled to the design's fleet."""
    res, s = probe.results, probe.scaling
    summary = res.summary.sort_values("replication")
    probe.metrics = [{m: s.real(m, float(row[m])) for m in res.metrics} for _, row in summary.iterrows()]
    series = res.series("connections")
    before = math.floor((probe.fault_at - 1) / probe.config.interval) * probe.config.interval
    probe.held_before = []
    for rep in sorted(summary["replication"]):
        at = series[(series["replication"] == rep) & (series["time"] <= before)]
        probe.held_before.append(
            float(at.sort_values("time")["value"].iloc[-1]) * s.factor if len(at) else 0.0
        )


def run_probes(
    config: Any,
    items: list[Any],
    out: Path | None = None,
    max_clients: int = MAX_CLIENTS,
    replications: int = REPLICATIONS,
    workers: int | None = None,
    progress: bool = False,
    console: Any = None,
    fixed: bool = False,
) -> dict[str, Probe]:
    """Run every probe of ``config`` and add its checks to the matching item of ``items``. ``fixed``
    says ``config`` is the reviewed design with its fixes applied."""
    from wssim.check.dynamic import DYNAMIC
    from wssim.sweep import run

    fig = figures(config)
    by_item = {item.spec.id: item for item in items}
    probes = plan(config, max_clients, replications)
    for probe in probes:
        probe.on_fixed = fixed
        if out is not None:
            write_probe(probe, out, config.name)
        probe.results = run(
            probe.config,
            replications=replications,
            workers=workers,
            progress=progress,
            report=False,
            console=console,
        )
        if probe.results.failures:
            raise RuntimeError(f"probe {probe.name} failed: {probe.results.failures[0]['error']}")
        measure(probe)
        item = by_item[probe.item]
        item.checks.extend(DYNAMIC[probe.name](config, fig, probe))
        item.probe = describe(probe)
    for item in items:
        if item.spec.kind == "dynamic" and not probes:
            item.note = f"probe not run: {unprobed(config, fig)}"
    return {probe.name: probe for probe in probes}


def describe(probe: Probe) -> dict[str, Any]:
    """What check.json says about a probe: its name, what it does, how to re-run it, its scale."""
    s = probe.scaling
    return {
        "name": probe.name,
        "title": probe.title,
        "config": str(probe.path) if probe.path is not None else None,
        "command": probe.command(probe.config.replications),
        "replications": probe.config.replications,
        "simulated_clients": s.simulated,
        "scale": s.factor,
        "fault_at_s": probe.fault_at,
        "duration_s": probe.config.duration,
        "on_fixed_design": probe.on_fixed,
    }
