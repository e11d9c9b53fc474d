"""Reference docs generated from the schema: complete, valid JSON Schema, and committed up to date."""

from __future__ import annotations

import pytest
import yaml

from wssim.config import FAULT_MODELS, all_paths, load_config, scenario_names, scenario_path
from wssim.docgen import MARKDOWN_PATH, SCHEMA_PATH, json_schema, outputs, render_config_markdown

jsonschema = pytest.importorskip("jsonschema")


def test_markdown_documents_every_field() -> None:
    text = render_config_markdown()
    for path in all_paths():
        shown = path.replace("faults.N.", "faults[].")
        assert f"| `{shown}` |" in text, path
    for kind in FAULT_MODELS:
        assert f"### Fault `{kind}`" in text
    assert "## Sweep" in text and "zip:" in text
    assert "| `gateways.memory` | size | bytes | `8GiB` |" in text
    assert "| `clients.reconnect.strategy` | string |  | `full_jitter` | `none`, `constant`" in text


def test_markdown_examples_are_valid_configs() -> None:
    text = render_config_markdown()
    blocks = text.split("```yaml\n")[1:]
    assert len(blocks) >= 3
    for block in blocks:
        raw = yaml.safe_load(block.split("```")[0])
        load_config(raw)


@pytest.fixture(scope="module")
def validator() -> object:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", scenario_names())
def test_schema_accepts_scenarios_and_their_dumps(validator: object, name: str) -> None:
    raw = yaml.safe_load(scenario_path(name).read_text())
    assert list(validator.iter_errors(raw)) == []  # type: ignore[attr-defined]
    assert list(validator.iter_errors(load_config(name).model_dump(mode="json"))) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [
        {"gatways": {"count": 2}},
        {"duration": "5 fortnights"},
        {"gateways": {"memory": "8gigs"}},
        {"clients": {"publish_rate": "5 per min"}},
        {"clients": {"count": -1}},
        {"faults": [{"kind": "nope", "at": 1}]},
        {"sweep": {"gateways.count": 4}},
    ],
)
def test_schema_rejects_mistakes(validator: object, raw: dict[str, object]) -> None:
    assert list(validator.iter_errors(raw))  # type: ignore[attr-defined]


def test_schema_unit_fields_take_strings_and_numbers(validator: object) -> None:
    ok = {"duration": "10min", "warmup": 5, "gateways": {"memory": "8GiB", "base_memory": 1024}}
    ok["clients"] = {"publish_rate": "5/min", "drain_rate": 2.5}
    assert list(validator.iter_errors(ok)) == []  # type: ignore[attr-defined]
    props = json_schema()["properties"]
    assert "Duration" in props["duration"]["description"]


def test_committed_docs_are_up_to_date() -> None:
    for path, text in outputs().items():
        assert path.is_file(), f"{path} is missing: run `python -m wssim.docgen` and commit it"
        assert path.read_text() == text, f"{path} is stale: run `python -m wssim.docgen` and commit it"
    assert {MARKDOWN_PATH.name, SCHEMA_PATH.name} == {"config.md", "config.schema.json"}


def test_metrics_reference_lists_every_metric() -> None:
    from wssim.docgen import render_metrics_markdown
    from wssim.metrics import METRICS

    text = render_metrics_markdown()
    for name, metric in METRICS.items():
        assert f"| `{name}` | {metric.unit} |" in text, name
