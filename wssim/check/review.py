"""The review: every item's checks on a design, the fixes that make them pass, and the verdict.

:func:`review` runs the arithmetic of every item (:mod:`wssim.check.static`) and, unless ``quick``, the
probes of the dynamic items (:mod:`wssim.check.probes`). :func:`fixed_design` applies every fix at once
and reviews the result again, until no check asks for more: fixes interact (more gateways change the
backplane's fan-out; a durable backplane brings a replay window to size), so the values printed are
those of the fixed point, which pass together. A full review then probes the fixed design, and adds
what those probes still ask for (a fix sized on one fleet may not hold on the fixed one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from wssim.check.figures import figures
from wssim.check.items import ITEMS, Fix, ItemResult, Verdict, worst
from wssim.check.static import STATIC

MAX_ROUNDS = 8
VERIFY_ROUNDS = 2


@dataclass
class Review:
    """The answer to ``wssim check``: one :class:`ItemResult` per item, the fixes, the verdict."""

    design: Any
    items: list[ItemResult]
    fixes: list[Fix]
    quick: bool
    name: str = ""
    source: str = ""
    wall_s: float = 0.0
    probes: dict[str, Any] = field(default_factory=dict)
    """Probe name -> :class:`wssim.check.probes.ProbeRun` (full reviews only)."""

    @property
    def verdict(self) -> Verdict:
        return worst([item.verdict for item in self.items])

    def exit_code(self, strict: bool = False) -> int:
        """0 when nothing fails (and, with ``strict``, nothing warns); 1 otherwise."""
        bad = ("fail", "warn") if strict else ("fail",)
        return 1 if any(item.verdict in bad for item in self.items) else 0

    def rerun(self) -> str:
        """The command that reviews the design with every fix applied ("" when nothing to fix)."""
        if not self.fixes:
            return ""
        return " ".join(
            ["wssim check", self.source or self.name, *(f"--set {f.set_arg}" for f in self.fixes)]
        )

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "warn": 0, "fail": 0}
        for item in self.items:
            out[item.verdict] += 1
        return out


def static_items(config: Any) -> list[ItemResult]:
    """Every item with its arithmetic checks only."""
    fig = figures(config)
    return [ItemResult(spec, list(STATIC[spec.id](config, fig))) for spec in ITEMS]


def merge(fixes: list[Fix]) -> dict[str, Fix]:
    """One fix per path: the larger ``at_least`` value, the smaller ``at_most``, else the first."""
    merged: dict[str, Fix] = {}
    for fix in fixes:
        old = merged.get(fix.path)
        if old is None or (fix.bound != "exactly" and _beyond(fix, old)):
            merged[fix.path] = fix
    return merged


def _beyond(new: Fix, old: Fix) -> bool:
    a, b = _si(new), _si(old)
    if a is None or b is None:
        return False
    return a > b if new.bound == "at_least" else a < b


def _si(fix: Fix) -> float | None:
    """A fix's value as an SI number (``"25s"`` -> 25.0), None if it is not numeric."""
    from wssim.units import parse_bytes, parse_duration, parse_rate

    value = fix.value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    for parse in (parse_duration, parse_rate, parse_bytes):
        try:
            return float(parse(value))
        except Exception:  # not this unit
            continue
    return None


def apply_fixes(config: Any, fixes: list[Fix]) -> Any:
    """``config`` with every fix applied (as ``--set`` overrides, so the schema checks each value)."""
    from wssim.config import load_config

    return load_config(config.model_dump(mode="json"), [fix.set_arg for fix in fixes])


def probe_fixes(items: list[ItemResult]) -> list[tuple[str, Fix]]:
    """(item id, fix) of every check a probe measured that does not pass."""
    return [
        (i.spec.id, f)
        for i in items
        for c in i.checks
        if c.basis != "arithmetic" and c.verdict != "pass"
        for f in c.fixes
    ]


def fixed_design(
    config: Any, items: list[ItemResult], measured: list[tuple[str, Fix]] = ()
) -> tuple[Any, dict[str, Fix], dict[str, list[str]]]:
    """The design with every fix applied, and those fixes at the values of the fixed point.

    Round by round: apply the fixes, review the result's arithmetic, and for every path already being
    fixed take the value its checks now give (the strictest of them, passing ones included: a fix sized
    on the broken design may be stricter than the fixed one needs), never less than what a probe asked
    for (the probes' failing checks, and ``measured``: (item id, fix) from probes of a fixed design);
    add the paths of checks that still fail or warn; leave out what the design already satisfies. Stop
    when nothing changes. Also returns, per path, the items that asked for it.
    """
    pinned = [fix for _, fix in [*probe_fixes(items), *measured]]
    owners: dict[str, list[str]] = {}
    for item_id, fix in measured:
        owners.setdefault(fix.path, []).append(item_id)
    fixes = _changes(config, merge([*(fix for item in items for fix in item.fixes), *pinned]))
    fixed, again = config, items
    for _ in range(MAX_ROUNDS):
        for item in again:
            for fix in item.fixes:
                owners.setdefault(fix.path, []).append(item.spec.id)
        fixed = apply_fixes(config, list(fixes.values()))
        again = static_items(fixed)
        proposed = merge([*(fix for item in again for check in item.checks for fix in check.fixes), *pinned])
        needed = merge([fix for item in again for fix in item.fixes])
        grown = {path: proposed.get(path, fix) for path, fix in fixes.items()}
        grown.update({path: fix for path, fix in needed.items() if path not in grown})
        grown = _changes(config, grown)
        if {p: f.value for p, f in grown.items()} == {p: f.value for p, f in fixes.items()}:
            break
        fixes = grown
    return fixed, fixes, {path: list(dict.fromkeys(owners.get(path, []))) for path in fixes}


def _changes(config: Any, fixes: dict[str, Fix]) -> dict[str, Fix]:
    """The fixes the design does not already satisfy."""
    return {path: fix for path, fix in fixes.items() if not _already(config, fix)}


def _already(config: Any, fix: Fix) -> bool:
    """Whether the design's own value already satisfies ``fix`` (then it is no change to make)."""
    from wssim.config import split_path

    node: Any = config.model_dump(mode="json")
    for part in split_path(fix.path):
        node = node[part] if isinstance(node, list) else node.get(part)
    numeric = isinstance(node, int | float) and not isinstance(node, bool)
    target = _si(fix)
    if fix.bound == "exactly" or not numeric or target is None:
        return node == fix.value
    return node >= target if fix.bound == "at_least" else node <= target


def review(
    config: Any, quick: bool = False, name: str = "", source: str = "", **probe_options: Any
) -> Review:
    """Review ``config`` against every checklist item (the probes too, unless ``quick``)."""
    started = time.perf_counter()
    config = config.without_sweep() if getattr(config, "sweep", None) is not None else config
    items = static_items(config)
    probes = {} if quick else _probe(config, items, probe_options)
    if quick:
        _, fixes, owners = fixed_design(config, items)
        verified = False
    else:
        fixes, owners, verified = _verified_fixes(config, items, probe_options)
    for item in items:
        item.changes = [fix for path, fix in fixes.items() if item.spec.id in owners[path]]
    result = Review(config, items, list(fixes.values()), quick, name or config.name, source, 0.0, probes)
    result.verified = verified
    result.wall_s = time.perf_counter() - started
    return result


def _verified_fixes(
    config: Any, items: list[ItemResult], options: dict[str, Any]
) -> tuple[dict[str, Fix], dict[str, list[str]], bool]:
    """The fixes, checked by probing the fixed design: what its probes still ask for is added and the
    fixed design probed again, up to :data:`VERIFY_ROUNDS` times. True when the last probes all passed."""
    from wssim.check.probes import run_probes, unprobed

    measured: list[tuple[str, Fix]] = []
    fixed, fixes, owners = fixed_design(config, items)
    for _ in range(VERIFY_ROUNDS):
        if not fixes or unprobed(fixed, figures(fixed)):
            return fixes, owners, not fixes
        trial = static_items(fixed)
        run_probes(
            fixed.model_copy(update={"name": f"{config.name}-fixed"}), trial, **{**options, "out": None}
        )
        more = probe_fixes(trial)
        if not more:
            return fixes, owners, True
        before = {p: f.value for p, f in fixes.items()}
        measured += more
        fixed, fixes, owners = fixed_design(config, items, measured)
        if {p: f.value for p, f in fixes.items()} == before:
            break  # the probes fail for a reason no fix of theirs changes
    return fixes, owners, False


def _probe(config: Any, items: list[ItemResult], options: dict[str, Any]) -> dict[str, Any]:
    """Run the probes on the design; on the design with its fixes when it cannot hold its clients (what
    the probes then measure is whether the fixes are enough, and what more they need)."""
    from wssim.check.probes import run_probes, unprobed

    reason = unprobed(config, figures(config))
    if not reason or config.transport.kind == "poll":
        return run_probes(config, items, **options)
    fixed, _, _ = fixed_design(config, items)
    if unprobed(fixed, figures(fixed)):
        return run_probes(config, items, **options)  # notes why nothing ran
    probes = run_probes(fixed, items, fixed=True, **options)
    for item in items:
        if item.spec.kind == "dynamic":
            item.note = (
                f"{reason[:1].upper()}{reason[1:]}: a probe would measure only the reconnect storm, so it "
                "ran on the design with the fixes applied"
            )
    return probes
