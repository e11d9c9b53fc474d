"""The arithmetic checks: each item's evidence computed from the config, with a fix that passes.

One function per item (``transport``, ``budget``, ``kernel``, ``disconnect``) plus the arithmetic
checks of the dynamic items (``dropped_message``, ``gateway_dies``, ``slow_consumers``, ``deploy``,
``spike``), each ``(config, figures) -> list[Check]``. The numbers come from
:mod:`wssim.check.figures`; every rule names its source. A fix sizes the field it changes so that the
check passes on the design as it is; :func:`wssim.check.review.fixed_design` applies all fixes together
and repeats until nothing more needs changing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

from wssim.analytic.transports import from_config as transport_inputs
from wssim.analytic.transports import recommend, usd_per_user_month
from wssim.check.figures import (
    PORTS_PER_SOURCE_IP,
    SAFE_CONNECTIONS_PER_NODE,
    Figures,
    balancer_shares,
    path_timeouts,
    replace_latency,
    tightest_timeout,
)
from wssim.check.items import Check, Fix
from wssim.sim.backplane import KIND_DEFAULTS
from wssim.units import duration_text, human

CHECKLIST = "senior checklist"
UNJITTERED = ("none", "constant", "exponential")
CAP_RANGE = (30.0, 60.0)  # the checklist's backoff cap, seconds
DEFAULT_OUTAGE_S = 10.0  # a subscription blip, as in the `semantics` scenario
DEFAULT_SPIKE_S = 60.0


def _n(value: float, unit: str = "") -> str:
    return human(value, unit)


def _headroom(config: Any) -> float:
    return config.costs.headroom


# ------------------------------------------------------------------------------------ sizing helpers


def gateways_for(config: Any, fig: Figures, per_node_limit: float, one_down: bool = False) -> int:
    """The fewest gateways (at least the design's) whose busiest holds at most ``per_node_limit``
    connections (with every gateway up, or after the busiest died when ``one_down``)."""
    if per_node_limit <= 0:
        return fig.gateways
    current = fig.share_one_down if one_down else fig.share
    imbalance = current * max(1, fig.gateways - one_down)  # busiest share × survivors: 1 if even
    g = max(fig.gateways, math.ceil(fig.connections * imbalance / per_node_limit) + one_down)
    for _ in range(8):
        share, share_down = balancer_shares(config, g)
        if fig.connections * (share_down if one_down else share) <= per_node_limit:
            return g
        g += 1
    return g


def connections_within(config: Any, fig: Figures, memory_share: float) -> float:
    """Connections a gateway holds within ``memory_share`` of its free memory (memory − base)."""
    g = config.gateways
    return (g.memory - g.base_memory) * memory_share / fig.conn_bytes if fig.conn_bytes else math.inf


def cpu_connections_within(fig: Figures, cores: float) -> float:
    """Connections a gateway holds before its CPU at steady fan-out exceeds ``cores``: writes and pings
    grow with its connections, the backplane messages it receives do not (with ``broadcast`` every
    gateway receives every publication; with interest routing fewer as gateways are added, so holding
    them fixed errs on the safe side)."""
    if not fig.connections or not fig.per_node:
        return math.inf
    parts = fig.cpu_parts(fig.per_node)
    per_connection = (parts["writes"] + parts["pings"]) / fig.per_node
    room = cores - parts["backplane"]
    if room <= 0:
        return 0.0
    return room / per_connection if per_connection > 0 else math.inf


def durable_kind(fig: Figures, config: Any) -> str:
    """The backplane to move to when a lost message matters: Redis Streams (a bounded replay window)
    while it carries the load within headroom, else Kafka (an offset log, the checklist's choice for
    must-not-lose messages at huge scale)."""
    streams = KIND_DEFAULTS["redis_streams"][2] or math.inf
    return "redis_streams" if fig.backplane <= streams * _headroom(config) else "kafka"


def replay_window(config: Any, fig: Figures) -> float:
    """Seconds of absence a resume still serves: the age bound, the count bound at the room's publish
    rate, and the per-resume cap at the client's arrival rate, whichever is shortest."""
    rp = config.backplane.replay
    bounds = [rp.max_age if rp.max_age is not None else math.inf]
    if rp.max_messages is not None and fig.room_rate > 0:
        bounds.append(rp.max_messages / fig.room_rate)
    if rp.max_per_resume is not None and fig.arrival > 0:
        bounds.append(rp.max_per_resume / fig.arrival)
    return min(bounds)


def miss_fraction(config: Any, window: float) -> float:
    """Share of resumes the window cannot serve: ``e^(−W/m)`` for exponential absences of mean ``m``,
    0 or 1 for a fixed absence."""
    off = config.clients.offline
    if off.distribution == "fixed":
        return 0.0 if off.mean <= window else 1.0
    return math.exp(-window / off.mean) if math.isfinite(window) else 0.0


def loss_budget(config: Any) -> float | None:
    """The share of owed deliveries the design may lose in a fault (None: not judged)."""
    e = config.expectations
    if e.loss_budget is not None:
        return e.loss_budget
    return 0.0 if e.lost_message_cost == "unacceptable" else None


def _ceil_to(value: float, step: float) -> float:
    return math.ceil(value / step) * step


def _pow2(value: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1.0, value))))


def _cap_verdict(load: float, capacity: float, headroom: float) -> str:
    return "fail" if load > capacity else "warn" if load > capacity * headroom else "pass"


# ------------------------------------------------------------------------------------------ transport


def _missing(test: Any) -> str:
    return ", not ".join(test.missing()).replace("_", " ")


def transport(config: Any, fig: Figures) -> list[Check]:
    """The four-part test, the recommended transport and its cost per user, restrictive proxies."""
    req, overheads, prices = transport_inputs(config)
    req = replace_latency(req, config)
    rec = recommend(req, overheads, prices)
    kind, test = config.transport.kind, rec.test
    mine = usd_per_user_month(fig.transport, prices)
    parts = (
        f"bidirectional {'yes' if test.bidirectional else 'no'} ({_n(req.upstream_rate)}/s up), "
        f"low latency {'yes' if test.low_latency else 'no'} (p99 ≤ {_n(req.max_latency, 's')}), "
        f"high frequency {'yes' if test.high_frequency else 'no'} ({_n(req.update_rate)}/s down), "
        f"server-initiated {'yes' if test.server_initiated else 'no'}"
    )
    best = rec.usd_per_user_month[rec.kind]
    source = f"{CHECKLIST}: the four-part test; model: wssim.analytic.transports.recommend"
    fix = (Fix("transport.kind", rec.kind, f"{rec.kind} is the simplest transport that meets the traffic"),)
    if kind == "websocket" and not test.needs_websocket:
        verdict = "fail"
        text = (
            f"A WebSocket for traffic that is not {_missing(test)} ({parts}): "
            f"{rec.kind}, the simplest primitive that meets it, costs ${best:.2g} per user-month "
            f"(the WebSocket ${mine:.2g})"
        )
    elif kind != "websocket" and kind not in rec.costs:
        verdict = "fail"
        text = f"{kind} does not meet the requirement ({rec.rejected.get(kind, '')}); {rec.kind} does"
    elif kind != rec.kind:
        verdict = "warn"
        text = f"{kind} meets the requirement at ${mine:.2g} per user-month; {rec.kind} at ${best:.2g}"
    else:
        verdict, text = "pass", f"{kind} is the cheapest transport that meets the traffic ({parts})"
    checks = [
        Check(
            "four_part_test",
            verdict,
            text,
            mine,
            "USD/user/month",
            best,
            source,
            fixes=fix if verdict != "pass" else (),
        )
    ]
    monthly = mine * fig.clients
    checks.append(
        Check(
            "cost_per_user",
            "pass",
            f"{kind}: ${mine:.3g} per user-month, {_n(monthly, 'USD/month')} for "
            f"{_n(fig.clients)} users (node share plus egress)",
            mine,
            "USD/user/month",
            source="model: wssim.analytic.transports.usd_per_user_month",
        )
    )
    checks.append(_proxies(config, fig))
    return checks


def _proxies(config: Any, fig: Figures) -> Check:
    share, t = config.transport.restrictive_proxies, config.transport
    source = f"{CHECKLIST}: behind restrictive proxies prefer SSE or long-poll, or a transport fallback"
    if share > 0 and t.kind == "websocket" and not t.fallback:
        users = share * fig.clients
        return Check(
            "proxies",
            "warn",
            f"{_n(share, 'fraction')} of users ({_n(users)}) sit behind proxies that break the "
            "Upgrade or kill idle sockets, and nothing falls back",
            share,
            "fraction",
            0.0,
            source,
            fixes=(Fix("transport.fallback", True, "degrade to long-polling where the Upgrade fails"),),
        )
    detail = (
        "none declared"
        if share == 0
        else ("a fallback is in place" if t.fallback else f"{t.kind} rides HTTP")
    )
    return Check(
        "proxies", "pass", f"Users behind restrictive proxies: {detail}", share, "fraction", source=source
    )


# --------------------------------------------------------------------------------------------- budget


def budget(config: Any, fig: Figures) -> list[Check]:
    """Memory per node, the safe per-node target, CPU at peak fan-out, backplane load, nodes and cost."""
    return [
        _memory(config, fig),
        _node_target(config, fig),
        _cpu(config, fig, 1.0, "cpu"),
        _backplane(config, fig, 1.0, "backplane_load"),
        _nodes_and_cost(config, fig),
    ]


def _node_memory(config: Any, fig: Figures, held: float) -> float:
    """Bytes a gateway holding ``held`` connections uses."""
    return config.gateways.base_memory + held * fig.conn_bytes


def _memory_check(
    config: Any, fig: Figures, check_id: str, held: float, text: str, source: str, one_down: bool
) -> Check:
    """A gateway holding ``held`` connections against its memory with headroom; the fix sizes the
    fleet (for the survivors of one death if ``one_down``)."""
    cap = fig.memory_cap
    fix = Fix(
        "gateways.count",
        gateways_for(config, fig, cap, one_down=one_down),
        "survivors within headroom" if one_down else "memory within headroom",
        "at_least",
    )
    verdict = _cap_verdict(held, fig.memory_full, _headroom(config))
    need, limit = _node_memory(config, fig, held), _node_memory(config, fig, cap)
    return Check(check_id, verdict, text, need, "bytes", limit, f"{CHECKLIST}: {source}", fixes=(fix,))


def _memory(config: Any, fig: Figures) -> Check:
    g, h = config.gateways, _headroom(config)
    need = _node_memory(config, fig, fig.per_node)
    text = (
        f"Busiest gateway: {_n(fig.per_node)} connections × {_n(fig.conn_bytes, 'bytes')} + base = "
        f"{_n(need, 'bytes')} of {_n(g.memory, 'bytes')} (plan: {h:.0%}, {_n(fig.memory_cap)} connections)"
    )
    source = "bytes per connection × connections per node, with headroom"
    return _memory_check(config, fig, "memory_per_node", fig.per_node, text, source, False)


def _node_target(config: Any, fig: Figures) -> Check:
    verdict = "warn" if fig.per_node > SAFE_CONNECTIONS_PER_NODE else "pass"
    text = f"Busiest gateway holds {_n(fig.per_node)} connections (safe, operable target: at most 500k)"
    fix = Fix(
        "gateways.count", gateways_for(config, fig, SAFE_CONNECTIONS_PER_NODE), "blast radius", "at_least"
    )
    return Check(
        "per_node_target",
        verdict,
        text,
        fig.per_node,
        "connections",
        SAFE_CONNECTIONS_PER_NODE,
        f"{CHECKLIST}: plan 200k–500k connections per node, not the theoretical maximum",
        fixes=(fix,),
    )


def _cpu(config: Any, fig: Figures, multiplier: float, check_id: str) -> Check:
    """Steady fan-out is judged against the planned headroom; a spike (``multiplier`` > 1) may use it up
    (headroom is what spikes are for) but not more than the cores."""
    h, cores = _headroom(config), fig.cores
    spike = multiplier != 1
    parts = fig.cpu_parts(fig.per_node, multiplier)
    load = sum(parts.values())
    verdict = ("fail" if load > cores else "pass") if spike else _cap_verdict(load, cores, h)
    per_node_deliveries = fig.deliveries * multiplier * fig.share
    when = f"during a ×{multiplier:.3g} spike" if spike else "at peak fan-out"
    text = (
        f"Busiest gateway {when}: {_n(per_node_deliveries)} deliveries/s × "
        f"{_n(fig.cpu_per_delivery * 1e6)} µs = {parts['writes']:.3g}, backplane messages "
        f"{parts['backplane']:.3g}, pings {parts['pings']:.3g}: {load:.3g} CPU-s/s of {cores} "
        f"core{'s' if cores != 1 else ''}" + ("" if spike else f" (plan: {h:.0%})")
    )
    allowed = cores if spike else cores * h
    limit = cpu_connections_within(fig, allowed / multiplier)
    fix = Fix("gateways.count", gateways_for(config, fig, limit), "CPU for the load", "at_least")
    return Check(
        check_id,
        verdict,
        text,
        load,
        "cores",
        allowed,
        "model: gateways.cpu, the reference gateway's costs per frame and per backplane message measured "
        "here (docs/background/model.md)",
        fixes=(fix,),
    )


def _backplane(config: Any, fig: Figures, multiplier: float, check_id: str) -> Check:
    bp, h = config.backplane, _headroom(config)
    load = fig.backplane * multiplier
    waste = 1 - fig.useful_backplane / fig.backplane if fig.backplane else 0.0
    source = (
        f"{CHECKLIST}: the fan-out trap; measured capacity of the backplane kind (docs/background/model.md)"
    )
    if fig.capacity is None:
        return Check(
            check_id,
            "pass",
            f"{bp.kind}: {_n(load)} deliveries/s, no capacity bound",
            load,
            "deliveries/s",
            source=source,
        )
    verdict = _cap_verdict(load, fig.capacity, h)
    text = (
        f"{bp.kind} {bp.topology}: {_n(load)} deliveries/s to gateways ({waste:.0%} discarded) of "
        f"{_n(fig.capacity)}/s (plan: {h:.0%})"
    )
    fixes = []
    if bp.topology == "broadcast" and fig.useful_backplane * multiplier <= fig.capacity * h:
        fixes.append(
            Fix("backplane.topology", "channel_per_room", "send a room only to gateways holding members")
        )
    else:
        needed = _ceil_to(load / h, 1000)
        fixes.append(
            Fix(
                "backplane.capacity",
                f"{needed:.0f}/s",
                "a backplane cluster that carries the load",
                "at_least",
            )
        )
    return Check(check_id, verdict, text, load, "deliveries/s", fig.capacity * h, source, fixes=tuple(fixes))


def _nodes_and_cost(config: Any, fig: Figures) -> Check:
    h, costs = _headroom(config), config.costs
    memory_nodes = gateways_for(config, fig, fig.memory_cap)
    cpu_nodes = gateways_for(config, fig, cpu_connections_within(fig, fig.cores * h))
    nodes = max(memory_nodes, cpu_nodes) + 1
    backplane = costs.backplane_per_month if config.backplane.kind not in ("none", "in_memory") else 0.0
    cost = nodes * costs.gateway_per_month + backplane
    text = (
        f"Needs {nodes} gateways ({memory_nodes} for memory, {cpu_nodes} for CPU, +1 to lose one): "
        f"{_n(cost, 'USD/month')}; the design runs {fig.gateways}"
    )
    budget_usd = config.expectations.monthly_budget
    source = f"{CHECKLIST}: the per-connection budget sets node count, RAM and cost"
    if budget_usd is None:
        return Check(
            "nodes_and_cost", "pass", text + " (no monthly budget stated)", cost, "USD/month", source=source
        )
    verdict = "fail" if cost > budget_usd else "pass"
    fix = Fix("expectations.monthly_budget", float(_ceil_to(cost, 100)), "what the fleet costs", "at_least")
    return Check(
        "nodes_and_cost",
        verdict,
        f"{text}; budget {_n(budget_usd, 'USD/month')}",
        cost,
        "USD/month",
        budget_usd,
        source,
        fixes=(fix,),
    )


# --------------------------------------------------------------------------------------------- kernel


def kernel(config: Any, fig: Figures) -> list[Check]:
    """File descriptors per gateway, the conntrack tables (balancer nodes, gateway hosts), ephemeral ports to
    the backplane."""
    g, edge, h = config.gateways, config.edge, _headroom(config)
    need_fds = fig.per_node_one_down * fig.fds + fig.upstream
    fd_fix = Fix(
        "gateways.fd_limit", max(1 << 20, _pow2(need_fds / h)), "nofile raised for the load", "at_least"
    )
    checks = [
        Check(
            "fds",
            _cap_verdict(need_fds, g.fd_limit, h),
            f"Busiest gateway after losing one: {_n(fig.per_node_one_down)} sockets × {fig.fds} fd + "
            f"{_n(fig.upstream)} backplane connections = {_n(need_fds)} fds of nofile {_n(g.fd_limit)}",
            need_fds,
            "fds",
            g.fd_limit * h,
            f"{CHECKLIST}: ulimit -n 1024 is a toy, raise nofile to 1–2 million; EMFILE beyond it",
            fixes=(fd_fix,),
        ),
    ]
    per_balancer = fig.connections / edge.nodes
    checks.append(
        _conntrack(
            "conntrack_balancer",
            "edge.conntrack_max",
            edge.conntrack_max,
            per_balancer,
            f"each of {edge.nodes} balancer node(s)",
            h,
        )
    )
    checks.append(
        _conntrack(
            "conntrack_gateway",
            "gateways.conntrack_max",
            g.conntrack_max,
            fig.per_node_one_down,
            "the busiest gateway's host after losing one",
            h,
        )
    )
    ports = Fix(
        "gateways.ephemeral_ports",
        int(_ceil_to(fig.upstream / h, PORTS_PER_SOURCE_IP)),
        f"one more source IP per {PORTS_PER_SOURCE_IP:,} ports",
        "at_least",
    )
    checks.append(
        Check(
            "ephemeral_ports",
            _cap_verdict(fig.upstream, g.ephemeral_ports, h),
            f"{_n(fig.upstream)} connections from each gateway to the backplane server (channels "
            f"multiplexed on them) of {_n(g.ephemeral_ports)} ephemeral ports",
            fig.upstream,
            "ports",
            g.ephemeral_ports * h,
            f"{CHECKLIST}: ~28k–64k ports per source IP and destination, on the backplane fan-in",
            fixes=(ports,),
        )
    )
    return checks


def _conntrack(check_id: str, path: str, table: int | None, load: float, where: str, h: float) -> Check:
    """One conntrack table against the connections it tracks."""
    source = f"{CHECKLIST}: the default table (~256k) overflows silently under a million and drops SYNs"
    if table is None:
        return Check(
            check_id, "pass", f"No conntrack table at {where} (NOTRACK)", load, "connections", source=source
        )
    fix = Fix(path, _pow2(load / h), "nf_conntrack_max raised (or null: NOTRACK)", "at_least")
    text = f"{_n(load)} connections through the conntrack table of {where}: {_n(table)} entries"
    return Check(
        check_id, _cap_verdict(load, table, h), text, load, "connections", table * h, source, fixes=(fix,)
    )


# ----------------------------------------------------------------------------------------- disconnect


def disconnect(config: Any, fig: Figures) -> list[Check]:
    """Pings against every idle timeout, dead-peer detection, backoff, resume, the replay window."""
    return [_pings(config), _dead_peers(config), _backoff(config), _resume(config), _replay(config, fig)]


def ping_fix(config: Any) -> list[Fix]:
    """A ping interval below the tightest timeout (half of it, at most the usual 25 s), and a pong
    timeout that stays above it."""
    tight = tightest_timeout(config)
    ping = min(25.0, math.floor(tight / 2)) if tight is not None else 25.0
    fixes = [
        Fix(
            "gateways.keepalive.ping_interval",
            duration_text(ping),
            "pings beat every idle timeout",
            "at_most",
        )
    ]
    timeout = config.gateways.keepalive.timeout
    if timeout is not None and (timeout <= ping or timeout > 2 * ping):
        fixes.append(
            Fix("gateways.keepalive.timeout", duration_text(2 * ping), "dead after two missed pongs")
        )
    return fixes


def _pings(config: Any) -> Check:
    ping = config.gateways.keepalive.ping_interval
    timeouts = path_timeouts(config)
    shown = ", ".join(f"{p} {_n(t, 's')}" for p, t in timeouts.items()) or "none"
    tight = tightest_timeout(config)
    source = (
        f"{CHECKLIST}: ping more often than the tightest idle timeout on the path (ALB 60 s, proxies 30 s)"
    )
    if tight is None:
        verdict, what = "pass", "nothing on the path cuts idle sockets"
    elif ping is None:
        verdict, what = "fail", f"no pings: every quiet socket is cut after {_n(tight, 's')}"
    elif ping >= tight:
        verdict, what = (
            "fail",
            f"pings every {_n(ping, 's')}: every quiet socket is cut after {_n(tight, 's')}",
        )
    else:
        verdict, what = "pass", f"pings every {_n(ping, 's')} reset every timer"
    return Check(
        "pings_vs_timeouts",
        verdict,
        f"Idle timeouts on the path: {shown}; {what}",
        ping,
        "s",
        tight,
        source,
        fixes=tuple(ping_fix(config)),
    )


def _dead_peers(config: Any) -> Check:
    ka = config.gateways.keepalive
    source = f"{CHECKLIST}: no pong within 2 × the ping interval ⇒ the peer is dead, reclaim its fd"
    if ka.ping_interval is None:
        return Check(
            "dead_peers",
            "fail",
            "No pings: a peer that vanishes without a FIN holds its fd and memory until the gateway restarts",
            None,
            "s",
            None,
            source,
            fixes=tuple(ping_fix(config)),
        )
    detect = ka.effective_timeout
    verdict = "warn" if detect > 2 * ka.ping_interval else "pass"
    fix = Fix(
        "gateways.keepalive.timeout", duration_text(2 * ka.ping_interval), "dead after two missed pongs"
    )
    return Check(
        "dead_peers",
        verdict,
        f"A dead peer is reclaimed {_n(detect, 's')} after its last pong "
        f"(pings every {_n(ka.ping_interval, 's')})",
        detect,
        "s",
        2 * ka.ping_interval,
        source,
        fixes=(fix,),
    )


def _backoff(config: Any) -> Check:
    b = config.clients.reconnect
    source = (
        f"{CHECKLIST}: exponential backoff with full jitter, capped around 30–60 s; jitter is load-bearing"
    )
    fixes = []
    if b.strategy in UNJITTERED:
        fixes.append(Fix("clients.reconnect.strategy", "full_jitter", "spread the herd over a window"))
    if not CAP_RANGE[0] <= b.cap <= CAP_RANGE[1]:
        near = CAP_RANGE[0] if b.cap < CAP_RANGE[0] else CAP_RANGE[1]
        fixes.append(Fix("clients.reconnect.cap", duration_text(near), "the checklist's cap range"))
    verdict = "fail" if b.strategy in UNJITTERED else "warn" if fixes else "pass"
    what = "no jitter: a herd stays synchronised" if b.strategy in UNJITTERED else "jittered"
    return Check(
        "backoff",
        verdict,
        f"Reconnect {b.strategy} ({what}), base {_n(b.base, 's')}, cap {_n(b.cap, 's')}",
        b.cap,
        "s",
        CAP_RANGE[1],
        source,
        fixes=tuple(fixes),
    )


def _resume(config: Any) -> Check:
    cost = config.expectations.lost_message_cost
    source = f"{CHECKLIST}: resume from a cursor where a message gap is unacceptable"
    if config.clients.resume or cost == "harmless":
        how = "resume from their last-seen offsets" if config.clients.resume else "reconnect cold"
        return Check("resume", "pass", f"Clients {how}; a lost message is {cost}", None, source=source)
    return Check(
        "resume",
        "fail",
        "Clients reconnect cold: every gap is lost, yet a lost message is unacceptable",
        None,
        source=source,
        fixes=(Fix("clients.resume", True, "resume from the last-seen offset"),),
    )


def _replay(config: Any, fig: Figures) -> Check:
    off, budget_miss = config.clients.offline, config.expectations.resync_budget
    source = "model: offline ~ Exp(mean m) against an age window W misses e^(−W/m) of resumes"
    if not config.clients.resume:
        return Check("replay_window", "pass", "No resume: the replay window is not used", None, source=source)
    if not fig.keeps_history:
        kind = durable_kind(fig, config)
        return Check(
            "replay_window",
            "fail",
            f"{config.backplane.kind} keeps no history: every resume misses and resyncs",
            1.0,
            "fraction",
            budget_miss,
            source,
            fixes=(Fix("backplane.kind", kind, "a backplane with a replay window"),),
        )
    window = replay_window(config, fig)
    miss = miss_fraction(config, window)
    need = -off.mean * math.log(budget_miss) if off.distribution == "exponential" else off.mean
    need = float(math.ceil(need))
    fixes = [Fix("backplane.replay.max_age", duration_text(need), "cover the absences", "at_least")]
    rp = config.backplane.replay
    for field, bound, least, why in (
        ("max_messages", rp.max_messages, need * fig.room_rate, "the count bound holds the window"),
        ("max_per_resume", rp.max_per_resume, need * fig.arrival, "one resume may replay the window"),
    ):
        if bound is not None and bound < least:
            fixes.append(Fix(f"backplane.replay.{field}", math.ceil(least), why, "at_least"))
    text = (
        f"Window {_n(window, 's')} against {off.distribution} absences of mean {_n(off.mean, 's')}: "
        f"{_n(miss, 'fraction')} of resumes resync (budget {_n(budget_miss, 'fraction')})"
    )
    return Check(
        "replay_window",
        "fail" if miss > budget_miss else "pass",
        text,
        miss,
        "fraction",
        budget_miss,
        source,
        fixes=tuple(fixes),
    )


# ------------------------------------------------------------------------------------ dropped message


def outage_seconds(config: Any) -> float:
    """The longest backplane or subscription outage the design declares, else a 10 s blip."""
    declared = [f.duration for f in config.faults if f.kind in ("backplane_outage", "subscription_outage")]
    return max(declared, default=DEFAULT_OUTAGE_S)


def dropped_message(config: Any, fig: Figures) -> list[Check]:
    """The backplane's delivery semantics against what a lost message costs; an outage against the
    replay window the gateways catch up from."""
    bp, cost = config.backplane, config.expectations.lost_message_cost
    source = f"{CHECKLIST}: harmless ⇒ Redis Pub/Sub; unacceptable ⇒ a durable log with offset replay"
    semantics = "at most once, nothing kept" if fig.at_most_once else "replays from its history"
    text = f"{bp.kind} delivers {semantics}; a lost message is {cost}"
    if cost == "unacceptable" and fig.at_most_once:
        fix = Fix(
            "backplane.kind", durable_kind(fig, config), "a backplane that replays what a gateway missed"
        )
        checks = [Check("semantics", "fail", text, bp.kind, source=source, fixes=(fix,))]
    elif cost == "harmless" and bp.kind == "kafka":
        fix = Fix("backplane.kind", "redis_pubsub", "the lightest backplane that serves harmless losses")
        checks = [
            Check(
                "semantics",
                "warn",
                text + ": Kafka's weight buys nothing here",
                bp.kind,
                source=source,
                fixes=(fix,),
            )
        ]
    else:
        checks = [Check("semantics", "pass", text, bp.kind, source=source)]
    outage = outage_seconds(config)
    window = replay_window(config, fig) if fig.keeps_history else 0.0
    if fig.at_most_once or bp.kind in ("jetstream", "kafka", "managed"):
        return checks
    budget = loss_budget(config)
    verdict = "pass" if outage <= window or budget is None else "fail"
    default = (
        "" if config.expectations.loss_budget is not None else ", the default where a loss is unacceptable"
    )
    judged = (
        "a lost message is harmless: not judged"
        if budget is None
        else f"loss budget {_n(budget, 'fraction')}{default}"
    )
    fix = Fix(
        "backplane.replay.max_age", duration_text(math.ceil(2 * outage)), "outlast the outage", "at_least"
    )
    checks.append(
        Check(
            "outage_window",
            verdict,
            f"A {_n(outage, 's')} subscription outage against a "
            f"{_n(window, 's')} replay window the gateway catches up from ({judged})",
            outage,
            "s",
            window,
            "model: a durable kind redelivers what is still in the window (docs/background/model.md)",
            fixes=(fix,),
        )
    )
    return checks


# -------------------------------------------------------------------------------------- gateway dies


def herd_floor(config: Any, fig: Figures, clients: float) -> tuple[float, float]:
    """(seconds the survivors need to admit ``clients``, their admission rate): every survivor at its
    accept rate (handshake CPU, admission control), and the L7 balancer nodes' TLS queues for all."""
    survivors = max(0, fig.gateways - 1)
    per_conn = config.gateways.handshake_cost_per_connection
    held = fig.per_node_one_down
    accept = fig.accept_rate
    if per_conn > 0:
        accept = min(accept, 1.0 / (config.gateways.handshake_cost + per_conn * held))
    rate = survivors * accept
    if config.edge.layer == "L7" and config.edge.tls_handshake_cost > 0:
        rate = min(rate, config.edge.nodes / config.edge.tls_handshake_cost)
    return (clients / rate if rate > 0 else math.inf), rate


def gateway_dies(config: Any, fig: Figures) -> list[Check]:
    """The survivors' memory after the busiest gateway dies, and how fast they can admit its herd."""
    g = config.gateways
    if fig.gateways < 2:
        fix = Fix(
            "gateways.count",
            max(2, gateways_for(config, fig, fig.memory_cap, one_down=True)),
            "a gateway to fail over to",
            "at_least",
        )
        return [
            Check(
                "survivors_memory",
                "fail",
                "A single gateway: its death is a full outage",
                1,
                "gateways",
                2,
                f"{CHECKLIST}: losing a node affects 1/N of users",
                fixes=(fix,),
            )
        ]
    held = fig.per_node_one_down
    text = (
        f"After the busiest dies its busiest survivor holds {_n(held)} connections = "
        f"{_n(_node_memory(config, fig, held), 'bytes')} of {_n(g.memory, 'bytes')}"
    )
    source = "a dead node is a reconnection event for 1/N of users, not a cascade"
    return [_memory_check(config, fig, "survivors_memory", held, text, source, True), _herd(config, fig)]


def retry_gap(config: Any) -> float:
    """The longest a refused client may wait before its next attempt: the backoff cap (its base for
    ``constant``; the refused attempt's own cost for ``none``)."""
    b = config.clients.reconnect
    return {"none": config.clients.refused_cost, "constant": b.base}.get(b.strategy, b.cap)


def _herd(config: Any, fig: Figures) -> Check:
    budget_s = config.expectations.reconnect_within
    floor, rate = herd_floor(config, fig, fig.per_node)
    gap = retry_gap(config)
    text = (
        f"{_n(fig.per_node)} clients of the busiest gateway through {fig.gateways - 1} survivors admitting "
        f"{_n(rate)} handshakes/s: at least {_n(floor, 's')}, plus up to {_n(gap, 's')} a refused client "
        f"waits (expected within {_n(budget_s, 's')})"
    )
    fixes = admission_fixes(config, fig, max(budget_s - gap, budget_s / 2))
    if gap > budget_s / 2:
        fixes.append(
            Fix(
                "clients.reconnect.cap", duration_text(max(1.0, budget_s / 2)), "come back in time", "at_most"
            )
        )
    return Check(
        "herd_floor",
        "fail" if floor + gap > budget_s else "pass",
        text,
        floor + gap,
        "s",
        budget_s,
        "arithmetic: the herd over the survivors' admission rate, plus the longest backoff",
        fixes=tuple(fixes),
    )


def admission_fixes(config: Any, fig: Figures, seconds: float, wave: float | None = None) -> list[Fix]:
    """Admission control (or more gateways, or TLS at the gateways instead of a shared L7 balancer)
    that admits the busiest gateway's clients through its survivors within ``seconds`` (or a ``wave``
    of new clients through the whole fleet)."""
    g, h = config.gateways, _headroom(config)
    gateways = fig.gateways if wave is not None else max(1, fig.gateways - 1)
    clients = wave if wave is not None else fig.per_node
    needed = clients / seconds / gateways  # handshakes/s each
    cpu_rate = 1.0 / g.handshake_cost if g.handshake_cost > 0 else math.inf
    fixes = []
    edge = config.edge
    if (
        edge.layer == "L7"
        and edge.tls_handshake_cost > 0
        and clients / seconds > h * edge.nodes / edge.tls_handshake_cost
    ):
        fixes.append(Fix("edge.layer", "L4", "terminate TLS at the gateways, not in one L7 queue"))
    if g.admission.handshake_rate is not None and needed <= cpu_rate * h:
        fixes.append(
            Fix(
                "gateways.admission.handshake_rate",
                f"{_ceil_to(needed, 100):.0f}/s",
                "admit the herd in time",
                "at_least",
            )
        )
        return fixes
    rate, imbalance = cpu_rate * h, fig.share * fig.gateways
    count = max(2, fig.gateways)

    def too_slow(n: int) -> bool:
        if wave is not None:
            return wave > n * rate * seconds
        return fig.connections * imbalance / n > (n - 1) * rate * seconds

    while too_slow(count) and count < 100_000:
        count += 1
    fixes.append(Fix("gateways.count", count, "more gateways to admit the herd", "at_least"))
    if g.admission.handshake_rate is not None:
        fixes.append(
            Fix(
                "gateways.admission.handshake_rate",
                f"{_ceil_to(rate, 100):.0f}/s",
                "admit what the handshake CPU allows",
                "at_least",
            )
        )
    return fixes


# ------------------------------------------------------------------------------------- slow consumers


def readers(config: Any, fig: Figures) -> tuple[float, float, bool]:
    """(slow readers on the busiest survivor, the messages/s one of them reads, declared?). Without a
    declared share the review assumes one reader per gateway that stops reading (a background tab)."""
    sc = config.clients.slow_consumers
    if sc.fraction <= 0:
        return 1.0, 0.0, False
    drain = sc.drain_rate
    if sc.stall_every is not None:
        drain *= sc.stall_every / (sc.stall_every + sc.stall_duration)
    return fig.per_node_one_down * sc.fraction, drain, True


def queue_bound(config: Any, size: float | None = None) -> tuple[float, str]:
    """(bytes one send queue may hold of messages of ``size`` bytes (default ``clients.message_size``),
    the policy), ``inf`` when nothing bounds it."""
    q = config.gateways.send_queue
    size = config.clients.message_size if size is None else size
    if q.overflow == "unbounded":
        return math.inf, q.overflow
    bounds = [q.limit * size if q.limit is not None else math.inf]
    bounds.append(q.limit_bytes if q.limit_bytes is not None else math.inf)
    if q.overflow == "credit":
        bounds.append(q.credit * size)
    return min(bounds), q.overflow


def time_to_oom(config: Any, fig: Figures, multiplier: float = 1.0) -> float:
    """Seconds until the slow readers' queues fill the busiest survivor's free memory (``inf``: never):
    ``free ÷ Σ(arrival − drain) × size`` while the queues are below their bound."""
    g, size = config.gateways, fig.message_size
    n, drain, _ = readers(config, fig)
    growth = n * max(0.0, fig.arrival * multiplier - drain) * size
    free = g.memory - g.base_memory - fig.per_node_one_down * fig.conn_bytes
    bound, _ = queue_bound(config, size)
    if growth <= 0 or n * bound <= free:
        return math.inf if free > 0 else 0.0
    return max(0.0, free) / growth


def overflow_for(config: Any) -> str:
    """The overflow policy the checklist gives a stream: close the slow socket and let the client resume
    when every message matters, drop the oldest when the next update supersedes it."""
    return "disconnect" if config.expectations.lost_message_cost == "unacceptable" else "drop_oldest"


def slow_consumers(config: Any, fig: Figures) -> list[Check]:
    """The overflow policy, whether the bound fits in memory (time to OOM), whether a disconnected slow
    reader can resume, and the queue-depth alert."""
    return [_policy(config), _oom(config, fig), _resume_after_disconnect(config, fig), _alert(config, fig)]


def backlog_age(limit: int, arrival: float, quantile: float) -> float:
    """Seconds of messages a queue closed at ``limit`` holds, at the ``quantile``: the ``limit`` arrivals
    of a Poisson stream of rate ``arrival`` take a Gamma(limit, arrival) time, whose quantile is about
    ``(limit + z·√limit) / arrival`` (normal approximation, ``z`` the standard normal quantile)."""
    z = NormalDist().inv_cdf(quantile)
    return (limit + z * math.sqrt(limit)) / arrival


def _resume_after_disconnect(config: Any, fig: Figures) -> Check:
    """A slow reader closed at the bound resumes from a cursor as old as the messages it had queued (a
    FIFO queue of depth ``d`` filled at rate ``λ`` holds about ``d/λ`` seconds of them), plus its backoff:
    the replay window must still hold it — for all but ``resync_budget`` of them — or it resyncs."""
    q = config.gateways.send_queue
    source = f"{CHECKLIST}: disconnect the slow consumer and let it resume from a cursor"
    relevant = q.overflow == "disconnect" and config.clients.resume and fig.keeps_history and fig.arrival > 0
    if not relevant or q.limit is None:
        return Check(
            "resume_after_disconnect", "pass", "No slow reader is disconnected to resume", None, source=source
        )
    window, gap = replay_window(config, fig), retry_gap(config)
    if not math.isfinite(window):
        return Check("resume_after_disconnect", "pass", "The replay window has no bound", None, source=source)
    quantile = 1 - max(config.expectations.resync_budget, 1e-6)
    age = backlog_age(q.limit, fig.arrival, quantile) + gap
    text = (
        f"A slow reader closed at {_n(q.limit)} queued messages ({_n(fig.arrival)}/s arriving) resumes "
        f"from a cursor up to {_n(age, 's')} old ({quantile:.0%} of them), backoff included; the window "
        f"holds {_n(window, 's')}"
    )
    fits = 0
    while backlog_age(fits + 1, fig.arrival, quantile) + gap <= window:
        fits += 1
    fix = (
        Fix(
            "gateways.send_queue.limit", fits, "close the reader while its cursor is in the window", "at_most"
        )
        if fits >= 1
        else Fix(
            "backplane.replay.max_age", duration_text(math.ceil(age)), "hold the reader's gap", "at_least"
        )
    )
    cost = config.expectations.lost_message_cost
    verdict = "fail" if age > window and cost == "unacceptable" else "pass"
    return Check("resume_after_disconnect", verdict, text, age, "s", window, source, fixes=(fix,))


def _policy(config: Any) -> Check:
    q, cost = config.gateways.send_queue, config.expectations.lost_message_cost
    source = (
        f"{CHECKLIST}: a bounded queue is non-negotiable; drop or conflate lossy streams, disconnect the "
        "slow consumer where every message matters"
    )
    fix = [
        Fix("gateways.send_queue.overflow", overflow_for(config), "a bounded queue with the stream's policy")
    ]
    if q.overflow == "unbounded" and q.limit is None and q.limit_bytes is None:
        fix.append(Fix("gateways.send_queue.limit", 1000, "a bound", "at_most"))
    if q.overflow == "unbounded":
        verdict, what = "fail", "unbounded: a latent OOM"
    elif q.overflow == "block":
        verdict, what = "warn", "block: a full queue stalls the publisher"
    elif cost == "unacceptable" and q.overflow in ("drop_oldest", "drop_newest", "conflate"):
        verdict, what = "fail", f"{q.overflow} loses messages, yet a lost message is unacceptable"
    else:
        verdict, what = "pass", f"{q.overflow} for a stream where a lost message is {cost}"
    return Check(
        "overflow_policy", verdict, f"Send queues: {what}", q.overflow, source=source, fixes=tuple(fix)
    )


def _oom(config: Any, fig: Figures) -> Check:
    g, h, size = config.gateways, _headroom(config), fig.message_size
    n, drain, declared = readers(config, fig)
    bound, policy = queue_bound(config, size)
    t = time_to_oom(config, fig)
    who = f"{_n(n)} slow readers at {_n(drain)}/s" if declared else "1 stalled reader (none declared)"
    cap = "unbounded" if math.isinf(bound) else f"{_n(bound, 'bytes')} each"
    text = f"Busiest survivor: {who} against {_n(fig.arrival)}/s arriving, queues {cap}: " + (
        f"out of memory after {_n(t, 's')}" if math.isfinite(t) else "memory stays bounded"
    )
    free_plan = (g.memory - g.base_memory) * h - fig.per_node_one_down * fig.conn_bytes
    limit = max(1, math.floor(free_plan / (n * size))) if n > 0 and free_plan > 0 else 1
    fixes = []
    if policy == "unbounded":
        fixes.append(Fix("gateways.send_queue.overflow", overflow_for(config), "bound the queue"))
    fixes.append(Fix("gateways.send_queue.limit", limit, "the bound fits in the headroom", "at_most"))
    verdict = "fail" if math.isfinite(t) else "warn" if n * bound > free_plan else "pass"
    return Check(
        "time_to_oom",
        verdict,
        text,
        t,
        "s",
        None,
        "model: time to OOM = headroom ÷ Σ(arrival − drain) × size",
        fixes=tuple(fixes),
    )


def _alert(config: Any, fig: Figures) -> Check:
    q = config.gateways.send_queue
    threshold = config.alerts.send_queue_depth_p99
    source = f"{CHECKLIST}: alert on send_queue_depth; a rising p99 warns before the OOM"
    cap = q.limit if q.overflow != "unbounded" and q.limit is not None else None
    fix = (
        Fix(
            "alerts.send_queue_depth_p99",
            max(1, min(100, cap // 2)) if cap else 100,
            "an alert below the bound",
            "at_most",
        ),
    )
    t = time_to_oom(config, fig)
    n, drain, _ = readers(config, fig)
    share = n / fig.per_node_one_down if fig.per_node_one_down else 0.0
    if threshold is None:
        verdict, text, value, limit = "fail", "No alert on the send-queue depth", None, None
    elif cap is not None and threshold >= cap:
        verdict, value, limit = "fail", threshold, cap
        text = f"The alert at p99 > {_n(threshold)} messages can never fire: queues stop at {_n(cap)}"
    elif not math.isfinite(t):
        verdict, value, limit = "pass", threshold, cap
        text = f"Alert at p99 > {_n(threshold)} messages; memory stays bounded"
    elif share <= 0.01:
        verdict, value, limit = "fail", share, 0.01
        text = (
            f"The p99 cannot see {_n(n)} slow readers among {_n(fig.per_node_one_down)} connections "
            f"({_n(share, 'fraction')} ≤ 1%): OOM after {_n(t, 's')} with no alert"
        )
    else:
        fires = threshold / max(1e-12, fig.arrival - drain)
        verdict, value, limit = ("fail" if t <= fires else "pass"), t - fires, 0.0
        lead = _n(t - fires, "s")
        text = f"The alert fires after {_n(fires, 's')}, the OOM after {_n(t, 's')}: lead time {lead}"
    if verdict == "fail" and threshold is not None and math.isfinite(t):
        fix = fix + tuple(_oom(config, fig).fixes)
    return Check("alert", verdict, text, value, "messages" if limit != 0.0 else "s", limit, source, fixes=fix)


# --------------------------------------------------------------------------------------------- deploy


def deploy_plan(config: Any) -> tuple[int | None, bool, float]:
    """(index of the design's first deploy fault or None, drain?, interval). Without one the review
    assumes a drained rolling restart, one gateway at a time."""
    for i, f in enumerate(config.faults):
        if f.kind == "deploy":
            return i, f.drain, f.interval
    g = config.gateways
    return None, True, g.drain_timeout + g.restart_delay


def deploy(config: Any, fig: Figures) -> list[Check]:
    """Drain or kill, the drain's reconnect rate against the survivors, one gateway out at a time."""
    index, drain, interval = deploy_plan(config)
    g, budget_s = config.gateways, config.expectations.reconnect_within
    where = f"faults.{index}" if index is not None else "no deploy declared: reviewed as a drained restart"
    source = (
        "model: a drained gateway closes its sockets evenly over drain_timeout (docs/background/model.md)"
    )
    checks = []
    if drain:
        floor, rate = herd_floor(config, fig, fig.per_node)
        h = _headroom(config)
        verdict = _cap_verdict(fig.per_node / g.drain_timeout, rate, h)
        text = (
            f"Drain ({where}): {_n(fig.per_node)} clients over {_n(g.drain_timeout, 's')} = "
            f"{_n(fig.per_node / g.drain_timeout)}/s against the survivors' {_n(rate)}/s (plan: {h:.0%})"
        )
        fix = Fix(
            "gateways.drain_timeout",
            duration_text(math.ceil(floor / h)),
            "drain no faster than the survivors admit",
            "at_least",
        )
        checks.append(
            Check(
                "drain_rate",
                verdict,
                text,
                fig.per_node / g.drain_timeout,
                "handshakes/s",
                rate * h,
                source,
                fixes=(fix,),
            )
        )
    else:
        floor, _ = herd_floor(config, fig, fig.per_node)
        fixes = [Fix(f"faults.{index}.drain", True, "drain instead of killing")] if index is not None else []
        verdict = "fail" if floor > budget_s else "warn"
        checks.append(
            Check(
                "drain_rate",
                verdict,
                f"Kill ({where}): every deploy cuts every socket, "
                f"{fig.gateways} herds of {_n(fig.per_node)} clients, each at least "
                f"{_n(floor, 's')} to come back",
                floor,
                "s",
                budget_s,
                f"{CHECKLIST}: deploys should not disconnect users; drain connections",
                fixes=tuple(fixes + admission_fixes(config, fig, budget_s)),
            )
        )
    out_for = g.drain_timeout + g.restart_delay if drain else g.restart_delay
    verdict = "pass" if interval >= out_for else "warn"
    fix = (
        Fix(
            f"faults.{index}.interval",
            duration_text(math.ceil(out_for)),
            "one gateway out at a time",
            "at_least",
        )
        if index is not None
        else None
    )
    checks.append(
        Check(
            "one_at_a_time",
            verdict,
            f"A gateway is out for {_n(out_for, 's')}, the next goes after {_n(interval, 's')}",
            interval,
            "s",
            out_for,
            source,
            fixes=(fix,) if fix else (),
        )
    )
    return checks


# ---------------------------------------------------------------------------------------------- spike


def spike_plan(config: Any) -> tuple[float, float, int, bool]:
    """(publish multiplier, seconds, extra clients, declared?) of the design's biggest spike. Without
    one, the spike its headroom is there for: publishing × 1/``costs.headroom`` for 60 s."""
    spikes = [f for f in config.faults if f.kind == "spike"]
    if not spikes:
        return 1.0 / _headroom(config), DEFAULT_SPIKE_S, 0, False
    f = max(spikes, key=lambda s: (s.publish_multiplier, s.connect_clients))
    return f.publish_multiplier, f.duration, f.connect_clients, True


def spike(config: Any, fig: Figures) -> list[Check]:
    """CPU and backplane at the spike's peak, the backlog's latency, slow readers' queues, a connect wave."""
    k, seconds, extra, declared = spike_plan(config)
    checks = [_cpu(config, fig, k, "cpu_at_spike")]
    checks.append(_spike_backplane(config, fig, k, seconds))
    t = time_to_oom(config, fig, k)
    what = f"out of memory after {_n(t, 's')}" if math.isfinite(t) else "memory stays bounded"
    checks.append(
        Check(
            "queues_at_spike",
            "fail" if t <= seconds else "pass",
            f"Slow readers at ×{k:.3g} for {_n(seconds, 's')}: {what}",
            t,
            "s",
            seconds,
            "model: time to OOM at the spike's arrival rate",
            fixes=tuple(_oom(config, fig).fixes),
        )
    )
    if extra:
        rate = fig.gateways * fig.accept_rate
        need = extra / rate if rate > 0 else math.inf
        budget_s = seconds + config.expectations.reconnect_within
        checks.append(
            Check(
                "connect_wave",
                "fail" if need > budget_s else "pass",
                f"{_n(extra)} new clients over {_n(seconds, 's')} against {_n(rate)} handshakes/s: "
                f"admitted after {_n(need, 's')}",
                need,
                "s",
                budget_s,
                "arithmetic: a wave over the fleet's admission rate",
                fixes=tuple(admission_fixes(config, fig, budget_s, wave=extra)),
            )
        )
    if not declared:
        checks.append(
            Check(
                "spike_declared",
                "pass",
                f"No spike declared: reviewed with ×{k:.3g} publishing "
                f"for {_n(seconds, 's')}, what the {_headroom(config):.0%} plan leaves room for",
                k,
                source=f"{CHECKLIST}: leave headroom for GC pauses, send buffering and traffic spikes",
            )
        )
    return checks


def _spike_backplane(config: Any, fig: Figures, k: float, seconds: float) -> Check:
    load, cap, p99 = fig.backplane * k, fig.capacity, config.expectations.latency_p99
    if cap is None:
        return Check("backplane_at_spike", "pass", f"{_n(load)} deliveries/s, no capacity bound", load)
    backlog_s = max(0.0, load - cap) * seconds / cap
    verdict = "fail" if backlog_s > p99 else "pass"
    text = (
        f"Backplane at ×{k:.3g}: {_n(load)} deliveries/s of {_n(cap)}/s; the backlog adds up to "
        f"{_n(backlog_s, 's')} of latency (p99 promised {_n(p99, 's')})"
    )
    fix = Fix("backplane.capacity", f"{_ceil_to(load, 1000):.0f}/s", "carry the spike", "at_least")
    return Check(
        "backplane_at_spike",
        verdict,
        text,
        backlog_s,
        "s",
        p99,
        "model: a saturated backplane queues (docs/background/model.md)",
        fixes=(fix,),
    )


STATIC: dict[str, Callable[[Any, Figures], list[Check]]] = {
    "transport": transport,
    "budget": budget,
    "kernel": kernel,
    "disconnect": disconnect,
    "dropped_message": dropped_message,
    "gateway_dies": gateway_dies,
    "slow_consumers": slow_consumers,
    "deploy": deploy,
    "spike": spike,
}
"""Every item's arithmetic checks, by item id."""
