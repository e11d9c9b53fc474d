"""Config errors: one human paragraph with the file, line, dotted field, what is allowed, a close match."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from wssim.config import load_config, scenario_names
from wssim.errors import ConfigError

FORBIDDEN = ("pydantic", "https://", "Traceback", "Input should", "For further information")


def _error(tmp_path: Path, text: str, overrides: list[str] | None = None) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = info.value.message
    for word in FORBIDDEN:
        assert word not in message
    assert "\n" not in message
    return message


def test_unknown_field_names_line_and_close_match(tmp_path: Path) -> None:
    text = "name: t\nduration: 30s\nclients:\n  count: 10\ngatways:\n  count: 8\n"
    message = _error(tmp_path, text)
    assert message.startswith(
        f"{tmp_path / 'config.yaml'}, line 5, column 1: unknown field `gatways` at top level"
    )
    assert "did you mean `gateways`?" in message
    assert "Allowed: name, description" in message


def test_unknown_nested_field(tmp_path: Path) -> None:
    message = _error(tmp_path, "clients:\n  count: 10\n  reconect:\n    strategy: none\n")
    assert "line 3, column 3" in message
    assert "unknown field `reconect` in `clients`; did you mean `reconnect`?" in message


def test_field_in_the_wrong_section_points_to_its_home(tmp_path: Path) -> None:
    message = _error(tmp_path, "gateways:\n  ping_interval: 10s\n")
    assert "did you mean `gateways.keepalive.ping_interval`?" in message


def test_unknown_field_in_a_fault(tmp_path: Path) -> None:
    message = _error(tmp_path, "faults:\n  - kind: gateway_crash\n    at: 10s\n    restat: false\n")
    assert "line 4, column 5" in message
    assert "unknown field `restat` in `faults.0`; did you mean `restart`?" in message


def test_wrong_unit(tmp_path: Path) -> None:
    message = _error(tmp_path, "duration: 60s\nclients:\n  connect_ramp: 10 minutes\n")
    assert "line 3" in message and "`clients.connect_ramp`" in message
    assert "did you mean `min`?" in message and "`250ms`" in message and "us, ms, s, min, h, d" in message


@pytest.mark.parametrize(
    ("text", "field", "allowed"),
    [
        ("gateways:\n  memory: 8 gigs\n", "gateways.memory", "KiB, MiB, GiB"),
        ("clients:\n  publish_rate: 5/minutes\n", "clients.publish_rate", "/min"),
        (
            "gateways:\n  keepalive:\n    ping_interval: 25sec\n",
            "gateways.keepalive.ping_interval",
            "did you mean `s`",
        ),
    ],
)
def test_wrong_unit_for_each_unit_type(tmp_path: Path, text: str, field: str, allowed: str) -> None:
    message = _error(tmp_path, text)
    assert f"`{field}`" in message and allowed in message


def test_negative_count(tmp_path: Path) -> None:
    message = _error(tmp_path, "clients:\n  count: -5\n")
    assert "line 2, column 3" in message
    assert "`clients.count` must be at least 0, got `-5`" in message


def test_negative_duration(tmp_path: Path) -> None:
    message = _error(tmp_path, "gateways:\n  restart_delay: -10s\n")
    assert "`gateways.restart_delay`" in message and "negative" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("gateways:\n  count: four\n", "`gateways.count` must be an integer, got `four`"),
        ("clients: 5\n", "`clients` must be a mapping with fields count, connect_ramp"),
        ("faults: {kind: deploy}\n", "`faults` must be a list"),
        ("clients:\n  resume: maybe\n", "`clients.resume` must be true or false"),
        ("costs:\n  headroom: lots\n", "`costs.headroom` must be a number"),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in _error(tmp_path, text)


def test_wrong_choice_suggests_close_match(tmp_path: Path) -> None:
    message = _error(tmp_path, "clients:\n  reconnect: {strategy: ful_jitter}\n")
    assert (
        "`clients.reconnect.strategy` is `ful_jitter`, which is not allowed; did you mean `full_jitter`?"
        in message
    )
    assert "Allowed: none, constant, exponential, full_jitter, equal_jitter, decorrelated" in message


def test_wrong_fault_kind(tmp_path: Path) -> None:
    message = _error(tmp_path, "faults:\n  - {kind: gateway_crsh, at: 30s}\n")
    assert "line 2" in message and "did you mean `gateway_crash`?" in message


def test_fault_without_kind(tmp_path: Path) -> None:
    message = _error(tmp_path, "faults:\n  - {at: 5min, count: 1}\n")
    assert "`faults.0` has no `kind`" in message and "gateway_crash" in message


def test_missing_required_field(tmp_path: Path) -> None:
    message = _error(tmp_path, "faults:\n  - {kind: spike, at: 30s}\n")
    assert "missing required field `duration` in `faults.0`" in message and "line 2" in message


def test_malformed_yaml_gives_parser_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: t\nclients:\n  count: 5\n gateways: 3\n")
    assert "line 4" in message and "not valid YAML" in message


def test_tab_indentation(tmp_path: Path) -> None:
    message = _error(tmp_path, "clients:\n\tcount: 5\n")
    assert "not valid YAML" in message and "line 2" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "top level must be a mapping" in _error(tmp_path, "- a\n- b\n")


def test_duplicate_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "clients:\n  count: 5\n  count: 6\n")
    assert "duplicate key `clients.count`" in message and "line 3" in message


def test_missing_file_suggests_sibling(tmp_path: Path) -> None:
    (tmp_path / "herd-large.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "herd-lrage.yaml")
    assert "not found" in info.value.message
    assert f"Did you mean `{tmp_path / 'herd-large.yaml'}`?" in info.value.message


def test_missing_file_suggests_scenario() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("quickstrat")
    message = info.value.message
    assert "Did you mean `quickstart`?" in message
    for name in scenario_names():
        assert name in message


def test_missing_file_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: x\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"Did you mean `config\.yaml`"):
            load_config("confg.yaml")
    finally:
        os.chdir(cwd)


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_bad_sweep_path(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: s\nsweep:\n  gatways.count: [2, 4]\n")
    assert "line 3, column 3" in message
    assert "sweep path `gatways.count` does not exist" in message and "did you mean `gateways`?" in message


def test_bad_sweep_value(tmp_path: Path) -> None:
    message = _error(tmp_path, "sweep:\n  clients.reconnect.strategy: [none, full_jiter]\n")
    assert "sweep value 2 of `clients.reconnect.strategy` is `full_jiter`" in message
    assert "did you mean `full_jitter`?" in message


def test_bad_sweep_unit(tmp_path: Path) -> None:
    message = _error(
        tmp_path, "sweep:\n  zip:\n    gateways.memory: [1GiB, 2 gigs]\n    gateways.count: [1, 2]\n"
    )
    assert "sweep value 2 of `gateways.memory`" in message and "not a valid size" in message


def test_bad_sweep_shape(tmp_path: Path) -> None:
    assert "must map to a non-empty list" in _error(tmp_path, "sweep:\n  gateways.count: 4\n")
    assert "`sweep` is empty" in _error(tmp_path, "sweep: {}\n")


def test_invalid_sweep_combination(tmp_path: Path) -> None:
    text = (
        "clients:\n  rooms: {count: 10}\n"
        "sweep:\n  clients.rooms.per_client: [1, 20]\n  gateways.count: [2, 4]\n"
    )
    message = _error(tmp_path, text)
    assert "line 3" in message and "sweep point 2 (clients.rooms.per_client=20, gateways.count=2)" in message
    assert "and 1 other point(s)" in message and "at most `count`" in message


def test_bad_override_unknown_path(base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base_config, ["gatways.count=8"])
    message = info.value.message
    assert "--set gatways.count=8" in message and "did you mean `gateways`?" in message


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("gateways.count=eight", "`gateways.count` must be an integer"),
        ("gateways.count", "expected `path=value`"),
        ("=3", "expected `path=value`"),
        ("clients.count=[1, 2", "not valid YAML"),
        ("clients.reconnect.strategy=jitter", "Allowed: none"),
        ("faults.5.at=3s", "index 5 does not exist"),
        ("clients.count.x=3", "is a value, it has no field `x`"),
        ("duration=10 mins", "did you mean `min`?"),
    ],
)
def test_bad_override(item: str, fragment: str, base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base_config, [item])
    assert f"--set {item}" in info.value.message
    assert fragment in info.value.message


def test_several_errors_in_one_paragraph_in_line_order(tmp_path: Path) -> None:
    text = "clients:\n  count: -1\ngatways: {}\ngateways:\n  count: x\n  memory: 1 gig\nedge: {layer: L5}\n"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.message
    assert message.startswith(f"{path} has 5 problems: (1) line 2")
    positions = [message.index(f"({i}) line {line}") for i, line in enumerate([2, 3, 5, 6, 7], start=1)]
    assert positions == sorted(positions)
    assert len(info.value.problems) == 5


def test_many_errors_are_summarised(tmp_path: Path) -> None:
    lines = "".join(f"  bogus{i}: 1\n" for i in range(9))
    message = _error(tmp_path, f"clients:\n{lines}")
    assert "has 9 problems" in message and "... and 4 more." in message


def test_dict_source_errors_name_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"clients": {"cont": 3}})
    assert info.value.message.startswith("config: unknown field `cont` in `clients`; did you mean `count`?")


def test_non_text_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: t\n1: 2\n")
    assert "line 2" in message and "key `1` at top level is not a field name" in message


def test_cross_field_error_at_top_level_points_to_the_named_field(tmp_path: Path) -> None:
    message = _error(tmp_path, "faults:\n  - kind: gateway_crash\n    at: 5s\n    gateway: 9\n")
    assert "line 4, column 5: `faults.0.gateway` is 9 but gateways are numbered 0..3" in message


def test_choice_without_close_match_lists_allowed(tmp_path: Path) -> None:
    message = _error(tmp_path, "edge:\n  balancer: magic\n")
    assert "`edge.balancer` is `magic`, which is not allowed. Allowed: consistent_hash, rendezvous" in message
