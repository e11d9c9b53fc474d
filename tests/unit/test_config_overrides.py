"""`--set path=value` overrides: parsed as YAML, applied before validation, unknown paths rejected."""

from __future__ import annotations

from typing import Any

import pytest

from wssim.config import load_config
from wssim.errors import ConfigError


def test_overrides_apply_before_validation(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config, ["gateways.count=8", "clients.reconnect.strategy=none", "duration=2min"])
    assert cfg.gateways.count == 8
    assert cfg.clients.reconnect.strategy == "none"
    assert cfg.duration == 120.0


def test_override_values_are_yaml() -> None:
    cfg = load_config(
        "quickstart",
        [
            "edge.idle_timeout=null",
            "clients.resume=false",
            "gateways.memory=4GiB",
            "faults=[{kind: spike, at: 10s, duration: 5s}]",
            "clients.rooms={count: 5, per_client: 2}",
        ],
    )
    assert cfg.edge.idle_timeout is None
    assert cfg.clients.resume is False
    assert cfg.gateways.memory == 4 * 2**30
    assert cfg.faults[0].kind == "spike"
    assert (cfg.clients.rooms.count, cfg.clients.rooms.per_client) == (5, 2)


def test_empty_value_is_null(base_config: dict[str, Any]) -> None:
    assert load_config(base_config, ["edge.idle_timeout="]).edge.idle_timeout is None


def test_override_into_list_item_and_optional_section(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config, ["faults.0.at=45s", "backplane.latency={median: 2ms, p99: 20ms}"])
    assert cfg.faults[0].at == 45.0
    assert cfg.backplane.latency is not None and cfg.backplane.latency.p99 == 0.02
    cfg = load_config({}, ["backplane.latency.median=1ms", "backplane.latency.p99=5ms"])
    assert cfg.backplane.latency is not None and cfg.backplane.latency.median == 0.001


def test_later_override_wins(base_config: dict[str, Any]) -> None:
    assert load_config(base_config, ["gateways.count=2", "gateways.count=3"]).gateways.count == 3


def test_override_can_set_a_sweep_axis_and_remove_the_sweep(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config, ["sweep.gateways.count=[2, 4]"])
    assert cfg.sweep is not None and cfg.sweep.axes == {"gateways.count": [2, 4]}
    cfg = load_config({"sweep": {"gateways.count": [2, 4]}}, ["sweep=null"])
    assert cfg.sweep is None


def test_override_does_not_mutate_a_dict_source() -> None:
    raw = {"gateways": {"count": 2}}
    load_config(raw, ["gateways.count=5"])
    assert raw == {"gateways": {"count": 2}}


def test_error_from_override_names_the_override_not_the_file(base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base_config, ["gateways.keepalive.timeout=5s"])
    message = info.value.message
    assert "--set gateways.keepalive.timeout=5s" in message
    assert "greater than `ping_interval`" in message


def test_unknown_override_path_is_rejected_even_if_yaml_is_valid(base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="unknown field `conut` in `clients`; did you mean `count`"):
        load_config(base_config, ["clients.conut=3"])
