"""Sweep expansion: cartesian product over axes in YAML order, `zip:` as one paired axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wssim.config import Config, SweepPoint, expand_sweep, load_config
from wssim.errors import ConfigError


def test_no_sweep_is_one_point(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config)
    points = expand_sweep(cfg)
    assert points == [SweepPoint(0, {}, cfg)]


def test_cartesian_product_in_yaml_order() -> None:
    cfg = load_config(
        {"sweep": {"gateways.count": [2, 4, 8], "clients.reconnect.strategy": ["none", "full_jitter"]}}
    )
    points = expand_sweep(cfg)
    assert [p.index for p in points] == list(range(6))
    assert [tuple(p.params.values()) for p in points] == [
        (2, "none"),
        (2, "full_jitter"),
        (4, "none"),
        (4, "full_jitter"),
        (8, "none"),
        (8, "full_jitter"),
    ]
    for point in points:
        assert list(point.params) == ["gateways.count", "clients.reconnect.strategy"]
        assert point.config.sweep is None
        assert point.config.gateways.count == point.params["gateways.count"]
        assert point.config.clients.reconnect.strategy == point.params["clients.reconnect.strategy"]


def test_yaml_order_decides_which_axis_varies_fastest(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("sweep:\n  clients.reconnect.strategy: [none, full_jitter]\n  gateways.count: [2, 4]\n")
    points = expand_sweep(load_config(path))
    assert [p.params["gateways.count"] for p in points] == [2, 4, 2, 4]


def test_zip_is_one_axis_at_its_yaml_position() -> None:
    cfg = load_config(
        {
            "sweep": {
                "clients.reconnect.strategy": ["none", "full_jitter"],
                "zip": {"gateways.count": [2, 4, 8], "clients.count": [1000, 2000, 4000]},
                "seed": [1, 2],
            }
        }
    )
    points = expand_sweep(cfg)
    assert len(points) == 2 * 3 * 2
    pairs = {(p.params["gateways.count"], p.params["clients.count"]) for p in points}
    assert pairs == {(2, 1000), (4, 2000), (8, 4000)}
    assert [p.params["seed"] for p in points[:4]] == [1, 2, 1, 2]
    assert list(points[0].params) == ["clients.reconnect.strategy", "gateways.count", "clients.count", "seed"]
    for point in points:
        assert point.config.clients.count == point.params["clients.count"]
        assert point.config.seed == point.params["seed"]


def test_zip_only() -> None:
    cfg = load_config({"sweep": {"zip": {"gateways.count": [1, 2], "clients.count": [10, 20]}}})
    assert [p.params for p in expand_sweep(cfg)] == [
        {"gateways.count": 1, "clients.count": 10},
        {"gateways.count": 2, "clients.count": 20},
    ]


def test_params_are_normalised_si_values() -> None:
    cfg = load_config({"sweep": {"gateways.memory": ["1GiB", "2GiB"], "edge.idle_timeout": ["30s", None]}})
    points = expand_sweep(cfg)
    assert points[0].params == {"gateways.memory": 2**30, "edge.idle_timeout": 30.0}
    assert points[1].params == {"gateways.memory": 2**30, "edge.idle_timeout": None}
    assert points[1].config.edge.idle_timeout is None


def test_sweep_into_a_fault_and_a_whole_section() -> None:
    cfg = load_config(
        {
            "faults": [{"kind": "gateway_crash", "at": "30s"}],
            "sweep": {
                "faults.0.at": ["10s", "20s"],
                "clients.reconnect": [{"strategy": "none"}, {"cap": "1min"}],
            },
        }
    )
    points = expand_sweep(cfg)
    assert [p.config.faults[0].at for p in points] == [10.0, 10.0, 20.0, 20.0]
    assert points[1].config.clients.reconnect.cap == 60.0
    assert points[0].config.clients.reconnect.strategy == "none"


def test_sweep_round_trips_through_dump() -> None:
    cfg = load_config(
        {"sweep": {"gateways.memory": ["1GiB"], "zip": {"seed": [1, 2], "clients.count": [5, 6]}}}
    )
    dumped = cfg.model_dump(mode="json")
    assert dumped["sweep"] == {"gateways.memory": [2**30], "zip": {"seed": [1, 2], "clients.count": [5, 6]}}
    again = load_config(dumped)
    assert again == cfg
    assert [p.params for p in expand_sweep(again)] == [p.params for p in expand_sweep(cfg)]


def test_points_share_everything_else(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config, ["sweep.gateways.count=[2, 4]"])
    a, b = (p.config.model_dump() for p in expand_sweep(cfg))
    a["gateways"].pop("count")
    b["gateways"].pop("count")
    assert a == b


def test_invalid_combination_raises_config_error() -> None:
    cfg = Config.model_validate({"sweep": {"clients.rooms.count": [1, 10], "clients.rooms.per_client": [5]}})
    with pytest.raises(
        ConfigError, match=r"sweep point 0 \(clients.rooms.count=1, clients.rooms.per_client=5\)"
    ):
        expand_sweep(cfg)


def test_size_counts_points() -> None:
    cfg = load_config(
        {"sweep": {"seed": [1, 2, 3], "zip": {"gateways.count": [1, 2], "clients.count": [1, 2]}}}
    )
    assert cfg.sweep is not None and cfg.sweep.size() == 6 == len(expand_sweep(cfg))
    assert cfg.sweep.paths() == ["seed", "gateways.count", "clients.count"]
