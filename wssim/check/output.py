"""``check.json``: the review as data, with stable field names, validated by ``check.schema.json``.

The schema ships with the package (``wssim/check/check.schema.json``) and is the contract: a field is
added, never renamed or removed, without bumping ``schema``. Numbers are SI (seconds, bytes); a value
that is not a finite number (no limit, never) is ``null`` and ``value_text`` says it in words.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wssim.check.items import Check, Fix, ItemResult
from wssim.units import human

SCHEMA_ID = "wssim-check/1"
SCHEMA_PATH = Path(__file__).with_name("check.schema.json")
PROBE_METRICS = (
    "connections_peak",
    "herd_convergence_s",
    "peak_handshake_rate",
    "reconnect_attempts",
    "messages_lost",
    "gateway_oom_crashes",
    "gateway_memory_peak_bytes",
    "latency_p99_s",
    "messages_dropped_overflow",
    "alert_lead_time_s",
)


def _number(value: Any) -> float | str | None:
    if isinstance(value, str) or value is None:
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def check_json(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "verdict": check.verdict,
        "text": check.text,
        "value": _number(check.value),
        "value_text": human(check.value, check.unit) if check.value is not None else "",
        "unit": check.unit,
        "limit": _number(check.limit),
        "source": check.source,
        "basis": check.basis,
    }


def fix_json(fix: Fix, items: list[str] | None = None) -> dict[str, Any]:
    out = {"path": fix.path, "value": fix.value, "set": fix.set_arg, "reason": fix.reason, "bound": fix.bound}
    if items is not None:
        out["items"] = items
    return out


def probe_json(item: ItemResult, probes: dict[str, Any]) -> dict[str, Any] | None:
    if item.probe is None:
        return None
    probe = probes.get(item.probe["name"])
    metrics = {}
    if probe is not None and probe.metrics:
        for name in PROBE_METRICS:
            values = [m.get(name, math.nan) for m in probe.metrics]
            metrics[name] = _number(sum(values) / len(values))
    return {**item.probe, "metrics": metrics}


def item_json(item: ItemResult, probes: dict[str, Any]) -> dict[str, Any]:
    spec = item.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "question": spec.question,
        "kind": spec.kind,
        "verdict": item.verdict,
        "summary": item.summary(),
        "note": item.note,
        "checks": [check_json(c) for c in item.checks],
        "fixes": [fix_json(f) for f in item.changes],
        "probe": probe_json(item, probes),
    }


def expectations_json(config: Any) -> dict[str, Any]:
    """Each expectation's value, and whether the design stated it (else the default applies)."""
    e = config.expectations
    return {
        name: {"value": getattr(e, name), "stated": name in e.model_fields_set}
        for name in type(e).model_fields
    }


def review_json(review: Any, strict: bool = False) -> dict[str, Any]:
    """The whole review as a JSON-ready dict (see ``check.schema.json``)."""
    from wssim import __version__

    cfg = review.design
    owners = {f.path: [i.spec.id for i in review.items if f in i.changes] for f in review.fixes}
    return {
        "schema": SCHEMA_ID,
        "wssim_version": __version__,
        "design": {
            "name": review.name,
            "source": review.source,
            "clients": cfg.clients.count,
            "gateways": cfg.gateways.count,
            "transport": cfg.transport.kind,
            "backplane": cfg.backplane.kind,
        },
        "mode": "quick" if review.quick else "full",
        "strict": strict,
        "verdict": review.verdict,
        "exit_code": review.exit_code(strict),
        "counts": review.counts(),
        "expectations": expectations_json(cfg),
        "items": [item_json(item, review.probes) for item in review.items],
        "fixes": [fix_json(f, owners[f.path]) for f in review.fixes],
        "fixes_verified": review.verified,
        "rerun": review.rerun(),
        "wall_s": round(review.wall_s, 3),
    }


def schema() -> dict[str, Any]:
    """The JSON Schema of ``check.json``."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def write_json(review: Any, folder: Path, strict: bool = False) -> Path:
    """Write ``folder/check.json`` (atomically) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "check.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(review_json(review, strict), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path


__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "review_json", "schema", "write_json"]
