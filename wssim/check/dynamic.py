"""The checks a probe's runs answer: what the simulated fleet did, scaled to the design's, per probe.

Each function takes the design, its :class:`~wssim.check.figures.Figures` and the finished
:class:`~wssim.check.probes.Probe`, and judges the worst replication. A loss is reported as a share of
the deliveries owed during the fault's window (the outage, the herd's watch, the deploy, the spike), the
quantity ``expectations.loss_budget`` bounds. Fixes reuse the arithmetic's (:mod:`wssim.check.static`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from wssim.check.figures import Figures
from wssim.check.items import Check, Fix
from wssim.check.probes import Probe
from wssim.check.static import (
    admission_fixes,
    durable_kind,
    herd_floor,
    loss_budget,
    readers,
    retry_gap,
    slow_consumers,
)
from wssim.check.static import (
    deploy as deploy_checks,
)
from wssim.units import duration_text, human


def _basis(probe: Probe) -> str:
    return f"probe {probe.name}" + (" (on the fixed design)" if probe.on_fixed else "")


def held(config: Any, fig: Figures, probe: Probe, always: bool = False) -> list[Check]:
    """Did the fleet hold its clients before the fault? (The probe means nothing otherwise.)"""
    least = min(probe.held_before, default=0.0)
    ok = least >= 0.99 * fig.connections
    if ok and not always:
        return []
    text = f"Before the fault the fleet held {human(least)} of {human(fig.connections)} connections"
    if not ok:
        rejected = probe.worst("emfile_rejections") + probe.worst("conntrack_drops")
        text += f" ({human(rejected)} accepts refused at the fd limit or dropped by conntrack)"
    return [
        Check(
            "held_before",
            "pass" if ok else "fail",
            text,
            least,
            "connections",
            fig.connections,
            "model: the probe's connections just before the fault",
            _basis(probe),
        )
    ]


def lost(config: Any, fig: Figures, probe: Probe, fixes: tuple[Fix, ...]) -> Check:
    """Deliveries lost over the probe, as a share of the deliveries owed over it, against the budget."""
    shares = [
        m["messages_lost"] / m["deliveries_expected"] if m["deliveries_expected"] else 0.0
        for m in probe.metrics
    ]
    share, n = max(shares, default=0.0), probe.worst("messages_lost")
    budget = loss_budget(config)
    text = f"Lost {human(n)} deliveries: {human(share, 'fraction')} of those owed over the probe"
    if budget is None:
        verdict, text = "pass", text + " (a lost message is harmless: not judged)"
    else:
        verdict = "fail" if share > budget else "pass"
        text += f" (budget {human(budget, 'fraction')})"
    return Check(
        f"{probe.name}_loss",
        verdict,
        text,
        share,
        "fraction",
        budget,
        "expectations.loss_budget",
        _basis(probe),
        (*fixes, *saturation_fixes(config, fig)),
    )


def saturation_fixes(config: Any, fig: Figures) -> list[Fix]:
    """A backplane that carries the steady load within headroom, when it does not (its backlog ages
    messages out of every window and delays everything)."""
    h = config.costs.headroom
    if fig.capacity is None or fig.backplane <= fig.capacity * h:
        return []
    need = math.ceil(fig.backplane / h / 1000) * 1000
    return [Fix("backplane.capacity", f"{need}/s", "a backplane cluster that carries the load", "at_least")]


def oom(config: Any, fig: Figures, probe: Probe, fixes: tuple[Fix, ...] = ()) -> Check:
    """Did a gateway run out of memory, or use more than the planned headroom? The fix sizes the fleet
    by the measured peak: ``G × (peak − base) ÷ ((memory − base) × headroom)`` gateways."""
    g, h = config.gateways, config.costs.headroom
    crashes = probe.worst("gateway_oom_crashes")
    peak = probe.worst("gateway_memory_peak_bytes")
    plan = g.base_memory + (g.memory - g.base_memory) * h
    text = (
        f"{human(crashes)} OOM crashes; the fullest gateway peaked at {human(peak, 'bytes')} of "
        f"{human(g.memory, 'bytes')} (plan: {h:.0%})"
    )
    verdict = "fail" if crashes > 0 else "warn" if peak > plan else "pass"
    need = math.ceil(fig.gateways * (peak - g.base_memory) / ((g.memory - g.base_memory) * h))
    more = Fix("gateways.count", max(fig.gateways, need), "memory for the measured peak", "at_least")
    return Check(
        f"{probe.name}_oom",
        verdict,
        text,
        peak,
        "bytes",
        plan,
        "model: memory = base + sockets × budget + queued bytes",
        _basis(probe),
        (*fixes, more),
    )


def outage(config: Any, fig: Figures, probe: Probe) -> list[Check]:
    """The subscription outage: what it lost."""
    if fig.at_most_once:
        fixes = (Fix("backplane.kind", durable_kind(fig, config), "replay what the gateway missed"),)
    else:
        need = duration_text(math.ceil(2 * probe.window))
        fixes = (Fix("backplane.replay.max_age", need, "outlast the outage", "at_least"),)
    if saturation_fixes(config, fig):
        fixes = ()  # the backlog of a saturated backplane, not the window, is what loses them
    return [*held(config, fig, probe), lost(config, fig, probe, fixes)]


def crash(config: Any, fig: Figures, probe: Probe) -> list[Check]:
    """The busiest gateway's death: convergence, peak handshake rate, loss, the survivors' memory."""
    budget_s = config.expectations.reconnect_within
    took = probe.worst("herd_convergence_s")
    floor, rate = herd_floor(config, fig, fig.per_node)
    peak = probe.worst("peak_handshake_rate")
    attempts = probe.worst("reconnect_attempts")
    back = (
        f"whole again after {human(took, 's')}"
        if math.isfinite(took)
        else f"not whole again within {human(probe.window, 's')}"
    )
    text = (
        f"{back} (expected within {human(budget_s, 's')}; floor {human(floor, 's')}); peak "
        f"{human(peak)} handshakes/s against the survivors' {human(rate)}/s, {human(attempts)} reconnect "
        "attempts"
    )
    ok = math.isfinite(took) and took <= budget_s
    return [
        *held(config, fig, probe, always=True),
        Check(
            "convergence",
            "pass" if ok else "fail",
            text,
            took,
            "s",
            budget_s,
            "expectations.reconnect_within",
            _basis(probe),
            herd_fixes(config, fig, probe, floor),
        ),
        lost(config, fig, probe, tuple(_loss_fixes(config, fig))),
        oom(config, fig, probe),
    ]


def herd_fixes(config: Any, fig: Figures, probe: Probe, floor: float) -> tuple[Fix, ...]:
    """When the accept path is what makes the herd late (its floor leaves less than the backoff cap of
    the promise, or handshakes timed out in its queue), admit faster by what the probe took beyond the
    floor. Otherwise the tail of jittered retries is what overran: the promise is tighter than this
    backoff delivers, and the value that passes is the worst run plus the spread between runs (at
    least 10%)."""
    budget_s, took = config.expectations.reconnect_within, probe.worst("herd_convergence_s")
    queued_out = probe.worst("connect_timeouts") > 0
    if not math.isfinite(took) or queued_out or floor > budget_s - retry_gap(config):
        excess = took - floor if math.isfinite(took) else retry_gap(config)
        return tuple(admission_fixes(config, fig, max(budget_s - excess, budget_s / 4)))
    low = probe.worst("herd_convergence_s", high_is_bad=False)
    value = math.ceil(took + max(took - low, 0.1 * took))
    return (
        Fix(
            "expectations.reconnect_within",
            duration_text(value),
            "what the herd takes with this backoff",
            "at_least",
        ),
    )


def _loss_fixes(config: Any, fig: Figures) -> list[Fix]:
    fixes = (
        [Fix("clients.resume", True, "resume from the last-seen offset")] if not config.clients.resume else []
    )
    if not fig.keeps_history:
        fixes.append(Fix("backplane.kind", durable_kind(fig, config), "a backplane with a replay window"))
    return fixes


def slow(config: Any, fig: Figures, probe: Probe) -> list[Check]:
    """The slow readers: an OOM, and whether the alert fired before it."""
    fixes = tuple(f for c in slow_consumers(config, fig) for f in c.fixes if c.verdict != "pass")
    checks = [*held(config, fig, probe), oom(config, fig, probe, fixes)]
    first = probe.worst("first_oom_at_s", high_is_bad=False)
    if math.isfinite(first):
        fired = probe.worst("alert_fired_at_s")
        lead = first - fired if math.isfinite(fired) else math.nan
        text = f"First OOM {human(first - probe.fault_at + 0, 's')} into the probe; " + (
            f"the alert fired {human(lead, 's')} before it"
            if math.isfinite(lead) and lead > 0
            else "the alert did not fire before it"
        )
        checks.append(
            Check(
                "alert_lead",
                "pass" if math.isfinite(lead) and lead > 0 else "fail",
                text,
                lead,
                "s",
                0.0,
                "alert_lead_time_s",
                _basis(probe),
                fixes,
            )
        )
    return checks


def deploy(config: Any, fig: Figures, probe: Probe) -> list[Check]:
    """The rolling deploy: loss, memory, and whether the fleet is whole at the end."""
    end = min(m.get("connections_end", 0.0) for m in probe.metrics)
    ok = end >= 0.99 * min(probe.held_before, default=0.0)
    text = f"{human(end)} connections at the end against {human(min(probe.held_before, default=0))} before"
    timeouts = probe.worst("connect_timeouts")
    if timeouts:
        wait = human(config.clients.connect_timeout, "s")
        text += f"; {human(timeouts)} handshakes abandoned after {wait} in a queue"
    return [
        *held(config, fig, probe),
        Check(
            "deploy_back",
            "pass" if ok else "fail",
            text,
            end,
            "connections",
            None,
            "model: clients reconnect after each restart",
            _basis(probe),
            _deploy_fixes(config, fig),
        ),
        lost(config, fig, probe, tuple(_loss_fixes(config, fig))),
        oom(config, fig, probe),
    ]


def _deploy_fixes(config: Any, fig: Figures) -> tuple[Fix, ...]:
    """A slower drain (the arithmetic's, sized to the survivors' admission rate), or admission for a kill."""
    fixes = [f for c in deploy_checks(config, fig) if c.id == "drain_rate" for f in c.fixes]
    return tuple(fixes + admission_fixes(config, fig, config.expectations.reconnect_within / 2))


def spike(config: Any, fig: Figures, probe: Probe) -> list[Check]:
    """The spike: p99 latency against the promise, memory."""
    p99 = probe.worst("latency_p99_s")
    promise = config.expectations.latency_p99
    dropped = probe.worst("messages_dropped_overflow")
    text = (
        f"p99 latency {human(p99, 's')} through the spike (promised {human(promise, 's')}); "
        f"{human(dropped)} dropped by queues"
    )
    slow_fixes = tuple(f for c in slow_consumers(config, fig) for f in c.fixes if c.verdict != "pass")
    return [
        *held(config, fig, probe),
        Check(
            "spike_latency",
            "pass" if p99 <= promise else "fail",
            text,
            p99,
            "s",
            promise,
            "expectations.latency_p99",
            _basis(probe),
            latency_fixes(config, fig, probe, p99),
        ),
        oom(config, fig, probe, slow_fixes),
    ]


def latency_fixes(config: Any, fig: Figures, probe: Probe, p99: float) -> tuple[Fix, ...]:
    """What made the p99 late: a saturated backplane (raise its capacity to the spike's load), or slow
    readers holding more than 1% of the deliveries (a queue they drain within the promise, ``limit ≤
    drain × p99``); if neither can, the promise itself is what the design does not meet."""
    k = probe.config.faults[0].publish_multiplier
    promise = config.expectations.latency_p99
    if fig.capacity is not None and fig.backplane * k > fig.capacity:
        load = math.ceil(fig.backplane * k / config.costs.headroom / 1000) * 1000
        return (Fix("backplane.capacity", f"{load}/s", "carry the spike", "at_least"),)
    n, drain, declared = readers(config, fig)
    limit = math.floor(drain * promise)
    if declared and n / fig.per_node_one_down >= 0.01 and limit >= 1:
        return (
            Fix(
                "gateways.send_queue.limit",
                limit,
                "a queue the slow readers drain within the promise",
                "at_most",
            ),
        )
    return (
        Fix(
            "expectations.latency_p99", duration_text(math.ceil(p99)), "what the design delivers", "at_least"
        ),
    )


DYNAMIC: dict[str, Callable[[Any, Figures, Probe], list[Check]]] = {
    "outage": outage,
    "crash": crash,
    "slow": slow,
    "deploy": deploy,
    "spike": spike,
}
"""The checks of each probe, by probe name."""
