"""Reference docs generated from the config schema: ``python -m wssim.docgen``.

Writes ``docs/reference/config.md`` (every field: dotted path, type, unit, default, allowed values,
meaning) and ``docs/reference/config.schema.json`` (JSON Schema for editors). Both are committed;
a unit test fails when they are stale. ``python -m wssim.docgen --check`` only checks.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from wssim.config import CROSS_FIELD_RULES, FAULT_MODELS, Config, Sweep, all_paths
from wssim.config.paths import is_model
from wssim.metrics import METRICS, PER_CLASS, QUANTILES
from wssim.units import (
    BYTE_UNITS,
    DURATION_UNITS,
    RATE_UNITS,
    parse_bytes,
    parse_duration,
    parse_rate,
)

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "docs" / "reference"
MARKDOWN_PATH = REFERENCE_DIR / "config.md"
SCHEMA_PATH = REFERENCE_DIR / "config.schema.json"
METRICS_PATH = REFERENCE_DIR / "metrics.md"

UNIT_NAMES = {parse_duration: "duration", parse_bytes: "size", parse_rate: "rate"}
UNIT_SI = {"duration": "s", "size": "bytes", "rate": "per s"}
UNIT_HINTS = {
    "duration": "Duration: `250ms`, `30s`, `10min`, `2h`, `1d`, or a number of seconds.",
    "size": "Size: `200B`, `32KiB`, `1MB`, `8GiB`, or a number of bytes.",
    "rate": "Rate: `5/min`, `200/s`, `3/h`, `1/d`, or a number per second.",
}

SWEEP_EXAMPLE = """sweep:
  clients.reconnect.strategy: [none, exponential, full_jitter]
  zip:
    gateways.count: [2, 4, 8]
    clients.count: [1000, 2000, 4000]"""

CONFIG_EXAMPLE = """name: storm
duration: 10min
replications: 5
clients:
  count: 100000
  connect_ramp: 60s
  reconnect: {strategy: full_jitter, base: 1s, cap: 30s}
  rooms: {count: 1000, per_client: 1, popularity: zipf}
  publish_rate: 5/min
gateways:
  count: 10
  memory: 8GiB
  send_queue: {limit: 1000, overflow: disconnect}
  keepalive: {ping_interval: 25s, timeout: 50s}
backplane: {kind: redis_streams, replay: {max_messages: 1000, max_age: 2min}}
faults:
  - {kind: gateway_crash, at: 5min, count: 1}"""


# ----------------------------------------------------------------------------------------- field facts


def _flatten(ann: Any) -> tuple[Any, list[Any], bool]:
    """The base type of an annotation, every metadata item found on the way, and whether null is allowed."""
    metadata: list[Any] = []
    nullable = False
    while True:
        origin = get_origin(ann)
        if origin is Annotated:
            args = get_args(ann)
            for item in args[1:]:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            ann = args[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(ann) if a is not type(None)]
            nullable = nullable or len(members) < len(get_args(ann))
            if len(members) != 1:
                return ann, metadata, nullable
            ann = members[0]
        else:
            return ann, metadata, nullable


def field_facts(field: FieldInfo) -> dict[str, Any]:
    """Type, unit, bounds, allowed values and nullability of a model field."""
    base, metadata, nullable = _flatten(field.annotation)
    metadata = [*field.metadata, *metadata]
    unit = None
    bounds: dict[str, Any] = {}
    for item in metadata:
        func = getattr(item, "func", None)
        if func in UNIT_NAMES:
            unit = UNIT_NAMES[func]
        for key in ("ge", "gt", "le", "lt"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    choices = list(get_args(base)) if get_origin(base) is Literal else []
    if unit:
        kind = unit
    elif choices:
        kind = "string" if len(choices) > 1 else "constant"
    elif isinstance(base, type) and issubclass(base, BaseModel):
        kind = "mapping" if base is Sweep else "section"
    elif get_origin(base) is list and is_model(_flatten(get_args(base)[0])[0]):
        kind, base = "list of sections", _flatten(get_args(base)[0])[0]
    elif get_origin(base) is list and get_args(base)[0] is str:
        kind = "list of strings"
    elif get_origin(base) is list:
        kind = "list of faults"
    elif get_origin(base) in (Union, types.UnionType) and any(
        is_model(_flatten(a)[0]) for a in get_args(base)
    ):
        kind = "integer or section"  # a number, or a mapping of the model
        base = next(_flatten(a)[0] for a in get_args(base) if is_model(_flatten(a)[0]))
    else:
        kind = {int: "integer", float: "number", str: "string", bool: "boolean"}.get(base, str(base))
    return {
        "type": kind,
        "unit": unit,
        "bounds": bounds,
        "choices": choices,
        "nullable": nullable,
        "model": base,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.10g}"
    return str(value)


def _default(field: FieldInfo, facts: dict[str, Any]) -> str:
    if field.is_required():
        return "*required*"
    if field.default_factory is not None:
        made = field.default_factory()  # type: ignore[call-arg]
        return "`[]`" if made == [] else "*(section)*"
    return f"`{_fmt(field.default)}`"


def _allowed(facts: dict[str, Any]) -> str:
    parts: list[str] = []
    if facts["choices"]:
        parts.append(", ".join(f"`{c}`" for c in facts["choices"]))
    bounds = facts["bounds"]
    low = f"[{_fmt(bounds['ge'])}" if "ge" in bounds else f"({_fmt(bounds['gt'])}" if "gt" in bounds else None
    high = (
        f"{_fmt(bounds['le'])}]" if "le" in bounds else f"{_fmt(bounds['lt'])})" if "lt" in bounds else None
    )
    if low and high:
        parts.append(f"{low}, {high}")
    elif low:
        parts.append(("≥ " if low[0] == "[" else "> ") + low[1:])
    elif high:
        parts.append(("≤ " if high[-1] == "]" else "< ") + high[:-1])
    if facts["unit"]:
        parts.append("≥ 0")
    if facts["type"] == "boolean":
        parts.append("`true`, `false`")
    if facts["nullable"]:
        parts.append("`null`")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------- markdown


def _sections(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    """(dotted prefix, model) for a model and every nested section, depth first in field order."""
    found = [(prefix, model)]
    for name, field in model.model_fields.items():
        facts = field_facts(field)
        if facts["type"] in ("section", "integer or section"):
            found.extend(_sections(facts["model"], f"{prefix}{name}."))
        elif facts["type"] == "list of sections":
            found.extend(_sections(facts["model"], f"{prefix}{name}[]."))
    return found


def _anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    rows = [
        "| Path | Type | Unit (SI) | Default | Allowed | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        facts = field_facts(field)
        kind = facts["type"]
        if kind == "section":
            kind = f"[section](#{_anchor(prefix + name)})"
        elif kind == "integer or section":
            kind = f"integer or [section](#{_anchor(prefix + name)})"
        elif kind == "list of sections":
            kind = f"[list of sections](#{_anchor(prefix + name + '[]')})"
        elif kind == "list of faults":
            kind = "[list of faults](#faults)"
        elif kind == "mapping":
            kind = "[sweep](#sweep)"
        unit = UNIT_SI[facts["unit"]] if facts["unit"] else ""
        rows.append(
            f"| `{prefix}{name}` | {kind} | {unit} | {_cell(_default(field, facts))} "
            f"| {_cell(_allowed(facts))} | {_cell(field.description or '')} |"
        )
    return rows


def _units_section() -> list[str]:
    def listing(units: dict[str, Any], rate: bool = False) -> str:
        return ", ".join(f"`{'/' if rate else ''}{u}`" for u in units)

    return [
        "## Units",
        "",
        "Unit-carrying fields accept a human string or a bare number in SI units. Units are case-sensitive.",
        "",
        "| Kind | Units | Examples | Bare number | Read in Python as |",
        "|---|---|---|---|---|",
        f"| duration | {listing(DURATION_UNITS)} | `500us`, `250ms`, `30s`, `10min`, `2h`, `1d` | seconds "
        "| float seconds |",
        f"| size | {listing(BYTE_UNITS)} (KB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary) "
        "| `200B`, `32KiB`, `1MB`, `8GiB` | bytes | int bytes |",
        f"| rate | {listing(RATE_UNITS, rate=True)}, also `N/Mmin` (N per M minutes) "
        "| `5/min`, `200/s`, `3/h`, `1/d`, `10/5min` | per second | float per second |",
        "",
        "Negative values are rejected. A wrong unit is an error that lists the allowed units and an example.",
        "",
        '**Serialisation.** `Config.model_dump(mode="json")` — and so `config.resolved.yaml` — writes',
        "plain SI numbers (seconds, bytes, per second), not the human strings: they parse back to exactly",
        "the same values, so a resolved config reloads identically with `load_config`.",
        "",
    ]


def _faults_section() -> list[str]:
    lines = [
        "## Faults",
        "",
        "`faults` is a list; each entry is a mapping whose `kind` picks one of the fault types below.",
        "Every fault has `at` (a duration from the start of the run). Overrides and sweeps address an",
        "entry by its index: `faults.0.at`. Example:",
        "",
        "```yaml",
        "faults:",
        "  - {kind: gateway_crash, at: 30s, count: 1}",
        "  - {kind: spike, at: 2min, duration: 30s, publish_multiplier: 10}",
        "```",
        "",
    ]
    for kind, model in FAULT_MODELS.items():
        lines += [f"### Fault `{kind}`", "", (model.__doc__ or "").strip(), ""]
        lines += _table(model, "faults[].")
        lines.append("")
    return lines


def _sweep_section() -> list[str]:
    return [
        "## Sweep",
        "",
        "`sweep` maps a dotted path to a list of values. Every plain key is one axis; the run covers the",
        "cartesian product of the axes, in YAML order (the last axis varies fastest). The optional `zip:`",
        "mapping is **one** axis of paired values: its lists must have equal lengths and the i-th values go",
        "together. Each path must exist in the schema (list items by index, e.g. `faults.0.at`; a whole",
        "section may be swept with mappings as values) and every value is validated at that path when the",
        "config is loaded; so is every combination (grids up to 4096 points).",
        "",
        "```yaml",
        SWEEP_EXAMPLE,
        "```",
        "",
        "This gives 3 × 3 = 9 points: each strategy with (2 gateways, 1000 clients), (4, 2000) and",
        "(8, 4000). Each point runs `replications` times. In Python, `wssim.config.expand_sweep(config)`",
        "returns `SweepPoint(index, params, config)` where `params` maps each dotted path to its value",
        "(normalised to SI numbers) and `config` has the values applied and no sweep.",
        "",
        "From the command line, `--set sweep.gateways.count=[2,4]` adds an axis and `--set sweep=null`",
        "removes the sweep.",
        "",
    ]


def render_config_markdown() -> str:
    """The configuration reference as Markdown, generated from the schema."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from the schema in wssim/config/ by `python -m wssim.docgen`; do not edit. -->",
        "",
        "A config is a YAML file, or the name of a built-in scenario (`wssim scenarios` lists them).",
        "Every key is optional unless marked *required*; omitted keys take the defaults below. Unknown",
        "keys are errors (with a suggestion for a typo). `wssim validate CONFIG` checks a file and reports",
        "every problem with its line. Editors can complete and check configs with the JSON Schema in",
        "[`config.schema.json`](config.schema.json) (also printed by `wssim schema`): with the YAML",
        "language server, put `# yaml-language-server: $schema=PATH/TO/config.schema.json` on the first",
        "line of the config.",
        "",
        "```yaml",
        CONFIG_EXAMPLE,
        "```",
        "",
        "Override any field from the command line with `--set path=value` (repeatable; the value is",
        "parsed as YAML): `wssim run herd --set gateways.count=8 --set clients.reconnect.strategy=none`.",
        "An empty value or `null` sets null. Overrides are applied before validation; an unknown path is",
        "an error.",
        "",
        "## Contents",
        "",
        "- [Units](#units)",
    ]
    sections = _sections(Config, "")
    for prefix, _ in sections:
        title = prefix.rstrip(".") or "Top level"
        lines.append(f"- [{title}](#{_anchor(title)})")
    lines += [
        "- [Faults](#faults)",
        "- [Sweep](#sweep)",
        "- [Rules between fields](#rules-between-fields)",
        "",
    ]
    lines += _units_section()
    for prefix, model in sections:
        title = prefix.rstrip(".") or "Top level"
        lines += [f"## {title}", "", (model.__doc__ or "").strip().split("\n\n")[0], ""]
        lines += _table(model, prefix)
        lines.append("")
    lines += _faults_section()
    lines += _sweep_section()
    lines += [
        "## Rules between fields",
        "",
        "Checked when a config is loaded (and for every sweep point):",
        "",
    ]
    lines += [f"- {rule}" for rule in CROSS_FIELD_RULES]
    lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------------- json schema


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for _, model in _sections(Config, ""):
        found[model.__name__] = model
    for model in FAULT_MODELS.values():
        found[model.__name__] = model
    return found


def _sweep_schema() -> dict[str, Any]:
    non_empty = {"type": "array", "minItems": 1}
    described: dict[str, Any] = {}
    for path in all_paths():
        if path.startswith(("faults.", "sweep")):
            continue
        described[path] = {**non_empty, "description": f"Values of `{path}` to sweep over."}
    return {
        "type": "object",
        "title": "Sweep",
        "description": (
            "Dotted path -> list of values (cartesian product over the keys in YAML order), plus an optional "
            "`zip:` mapping of dotted paths -> equal-length lists (paired values, one axis)."
        ),
        "minProperties": 1,
        "propertyNames": {"pattern": r"^(zip|[a-z_]+(\.([a-z_0-9]+))*)$"},
        "properties": {
            "zip": {
                "type": "object",
                "description": "Dotted paths -> equal-length lists, paired element by element (one axis).",
                "minProperties": 1,
                "additionalProperties": non_empty,
            },
            **described,
        },
        "additionalProperties": non_empty,
        "examples": [
            {
                "clients.reconnect.strategy": ["none", "full_jitter"],
                "zip": {"gateways.count": [2, 4], "clients.count": [1000, 2000]},
            }
        ],
    }


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config YAML for editors: unit fields accept strings and numbers; all described."""
    schema = Config.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    models = _models()
    for name, model in models.items():
        target = schema if model is Config else defs.get(name)
        if target is None:
            continue
        for field_name, field in model.model_fields.items():
            facts = field_facts(field)
            prop = target["properties"][field_name]
            if facts["unit"]:
                prop["description"] = f"{prop.get('description', '')} {UNIT_HINTS[facts['unit']]}".strip()
    defs["Sweep"] = _sweep_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wssim config",
        "description": (schema.pop("description", "") + " Generated by `python -m wssim.docgen`.").strip(),
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render_json_schema() -> str:
    """The JSON Schema as committed text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def render_metrics_markdown() -> str:
    """The metric reference: every summary metric with its unit, kind and meaning."""
    lines = [
        "<!-- Generated from wssim/metrics.py by `python -m wssim.docgen`; do not edit. -->",
        "# Metrics",
        "",
        "Every run, simulated or live, produces one row of `summary.csv` with these metrics, in SI units",
        "(seconds, bytes). Both engines feed the same recorder (`wssim.metrics.Recorder`), so a metric means",
        "the same thing whichever engine produced it. Counts are 0 when nothing happened; a ratio, time or",
        "quantile with nothing to measure is empty (NaN).",
        "",
        "Quantiles come from the samples of a distribution after the warm-up: "
        + "; ".join(f"`{base}` → " + ", ".join(f"`{n}`" for n in names) for base, names in QUANTILES.items())
        + ".",
        "",
        "| metric | unit | kind | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{name}` | {m.unit} | {m.kind} | {_cell(m.meaning)} |" for name, m in METRICS.items()]
    lines += [
        "",
        "## Per room class",
        "",
        "With `clients.rooms.classes`, the simulator also reports "
        + ", ".join(f"`{name}`" for name in PER_CLASS)
        + " per class, named `<metric>.<class>` (`messages_lost.chat`, `latency_p99_s.presence`). A room "
        "message's delivery, loss or latency counts for its room's class; a disconnect counts for the class "
        "of the message that overflowed the queue; direct messages belong to no class, so the classes add up "
        "to the fleet's metric only without them. A class that never made a count has 0. The live engine "
        "does not report them.",
    ]
    return "\n".join(lines + _exposition_section()) + "\n"


def _exposition_section() -> list[str]:
    """The live gateway's and balancer's ``/metrics`` families (reference_impl.system.metric_names)."""
    from reference_impl.system.metric_names import BALANCER, GATEWAY

    lines = [
        "",
        "## Prometheus exposition of the live system",
        "",
        "The reference gateway serves `GET /metrics` (a token with scope `metrics`; on `metrics_port` when",
        "set) and the balancer's admin address serves it too, in the Prometheus text format written by",
        "`prometheus_client`. Besides the families below, the gateway exposes the standard `process_*`",
        "families (`process_resident_memory_bytes` is the memory the live harness records). The last",
        "column names the summary metric a live run feeds from the family.",
        "",
        "| family | type | labels | meaning | summary metric |",
        "|---|---|---|---|---|",
    ]
    for where, specs in (("gateway", GATEWAY), ("balancer", BALANCER)):
        for e in specs:
            labels = ", ".join(f"`{label}`" for label in e.labels) or "—"
            recorder = f"`{e.recorder}`" if e.recorder else "—"
            lines.append(f"| `{e.sample}` ({where}) | {e.kind} | {labels} | {_cell(e.help)} | {recorder} |")
    return lines


def outputs() -> dict[Path, str]:
    """Every generated file and its expected content."""
    return {
        MARKDOWN_PATH: render_config_markdown(),
        SCHEMA_PATH: render_json_schema(),
        METRICS_PATH: render_metrics_markdown(),
    }


def stale() -> list[Path]:
    """Generated files whose committed content differs from what the schema gives."""
    return [path for path, text in outputs().items() if not path.is_file() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """Write the generated docs (or with ``--check`` only report stale ones; exit 1 if any)."""
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        old = stale()
        for path in old:
            print(f"stale: {path} (run `python -m wssim.docgen`)")
        return 1 if old else 0
    for path, text in outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
