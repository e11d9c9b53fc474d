"""The checklist items the review answers, and the shape of an answer.

=================  =======  ===================================================================
item               kind     the question (the senior checklist, and the failure modes behind it)
=================  =======  ===================================================================
transport          static   Do you need WebSockets? The four-part test on the design's traffic.
budget             static   What does a connection cost: memory, CPU at peak fan-out, nodes, USD?
kernel             static   Are the kernel limits raised: fds, conntrack, ephemeral ports?
disconnect         static   What is the disconnect story: pings, dead peers, backoff, resume, replay?
dropped_message    dynamic  What does a dropped message cost, and what does an outage lose?
gateway_dies       dynamic  What happens when the busiest gateway dies?
slow_consumers     dynamic  How do slow consumers fail: overflow policy, time to OOM, the alert?
deploy             dynamic  Does a rolling deploy (drain or kill) stay a non-event?
spike              dynamic  Does a traffic spike stay within CPU, backplane and latency?
=================  =======  ===================================================================

A *static* item is arithmetic on the config (``wssim.check.static``). A *dynamic* item adds a probe: a
short simulation derived from the design (``wssim.check.probes``); its arithmetic checks still run
under ``--quick``, its probe does not.

Every :class:`Check` carries its evidence as a number with a unit, the limit it is judged against,
and where the rule comes from (``source``): the checklist, a measurement, or a model result. An
item's verdict is the worst of its checks'. A :class:`Fix` names a config path and a value that
passes; ``bound`` says how fixes of the same path from several checks combine (the larger of two
``at_least`` values, the smaller of two ``at_most`` values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "warn", "fail"]
VERDICTS: tuple[Verdict, ...] = ("pass", "warn", "fail")
Bound = Literal["exactly", "at_least", "at_most"]


@dataclass(frozen=True)
class ItemSpec:
    """One checklist item: a stable id, its title, the question it answers, static or dynamic."""

    id: str
    title: str
    question: str
    kind: Literal["static", "dynamic"]


ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(
        "transport",
        "Do you need WebSockets?",
        "The four-part test on the design's traffic; the cheapest transport that meets it.",
        "static",
    ),
    ItemSpec(
        "budget",
        "Connection budget",
        "Memory per node, CPU at peak fan-out, backplane load, nodes needed and their cost.",
        "static",
    ),
    ItemSpec(
        "kernel",
        "Kernel limits",
        "File descriptors, conntrack entries and ephemeral ports against what the load needs.",
        "static",
    ),
    ItemSpec(
        "disconnect",
        "Disconnect story",
        "Pings against every idle timeout, dead-peer detection, backoff, resume, replay window.",
        "static",
    ),
    ItemSpec(
        "dropped_message",
        "Cost of a dropped message",
        "Backplane semantics against the cost of a lost message; what a subscription outage loses.",
        "dynamic",
    ),
    ItemSpec(
        "gateway_dies",
        "A gateway dies",
        "Crash the busiest gateway: the herd against admission, convergence, loss, survivors' memory.",
        "dynamic",
    ),
    ItemSpec(
        "slow_consumers",
        "Slow consumers",
        "Overflow policy, time to OOM under the worst declared reader, the queue-depth alert.",
        "dynamic",
    ),
    ItemSpec(
        "deploy",
        "Deploys",
        "A rolling restart of every gateway (drain or kill): the reconnect wave, loss, memory.",
        "dynamic",
    ),
    ItemSpec(
        "spike",
        "Traffic spike",
        "The design's spike: CPU, backplane and slow-reader queues at the peak, and latency.",
        "dynamic",
    ),
)
ITEM_IDS: tuple[str, ...] = tuple(spec.id for spec in ITEMS)
SPECS: dict[str, ItemSpec] = {spec.id: spec for spec in ITEMS}


def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
    """The worst of ``verdicts`` (fail > warn > pass); ``pass`` when there are none."""
    return max(verdicts, key=VERDICTS.index, default="pass")


@dataclass(frozen=True)
class Fix:
    """A config change that makes a check pass: ``path`` set to ``value`` (config text or a number)."""

    path: str
    value: Any
    reason: str
    bound: Bound = "exactly"

    @property
    def set_arg(self) -> str:
        """The ``--set`` argument that applies it: ``path=value`` (YAML text)."""
        return f"{self.path}={yaml_scalar(self.value)}"


def yaml_scalar(value: Any) -> str:
    """A value as YAML text: ``null``, ``true``, numbers as written, strings bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Check:
    """One piece of evidence and its verdict.

    ``value`` and ``limit`` are SI numbers in ``unit`` (None when not numeric); ``text`` says what was
    compared, in words and numbers; ``source`` where the rule comes from; ``basis`` is ``arithmetic``
    or the name of the probe that measured it.
    """

    id: str
    verdict: Verdict
    text: str
    value: float | str | None = None
    unit: str = ""
    limit: float | None = None
    source: str = ""
    basis: str = "arithmetic"
    fixes: tuple[Fix, ...] = ()


@dataclass
class ItemResult:
    """The review of one item: its checks, the worst verdict, the fixes, the probe it ran."""

    spec: ItemSpec
    checks: list[Check] = field(default_factory=list)
    probe: dict[str, Any] | None = None
    """Name, command, config path, scale and measured metrics of the probe (None: static or skipped)."""
    note: str = ""
    changes: list[Fix] = field(default_factory=list)
    """The fixes this item needs, at the values that pass together (set by the review)."""

    @property
    def verdict(self) -> Verdict:
        return worst([c.verdict for c in self.checks])

    @property
    def fixes(self) -> list[Fix]:
        """The fixes its failing and warning checks propose, in check order, one per path."""
        seen: dict[str, Fix] = {}
        for check in self.checks:
            if check.verdict != "pass":
                for fix in check.fixes:
                    seen.setdefault(fix.path, fix)
        return list(seen.values())

    def summary(self) -> str:
        """The text of its worst check (the first one with the item's verdict)."""
        verdict = self.verdict
        return next((c.text for c in self.checks if c.verdict == verdict), "")
