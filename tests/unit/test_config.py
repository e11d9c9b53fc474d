"""Config schema: contract defaults, loading from paths/scenarios/dicts, round trips, cross-field rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from wssim.config import (
    BACKOFF_STRATEGIES,
    BALANCERS,
    FAULT_MODELS,
    OVERFLOW_POLICIES,
    Config,
    GatewayCrash,
    Spike,
    load_config,
    scenario_names,
)
from wssim.errors import ConfigError


def _models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    seen = seen if seen is not None else set()
    seen.add(model)
    for field in model.model_fields.values():
        for candidate in _leaf_types(field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate not in seen:
                _models(candidate, seen)
    return seen


def _leaf_types(ann: Any) -> list[Any]:
    args = getattr(ann, "__args__", None) or ()
    out = [ann]
    for arg in args:
        out.extend(_leaf_types(arg))
    meta = getattr(ann, "__origin__", None)
    if meta is not None:
        out.append(meta)
    return out


def test_every_model_forbids_extra_and_documents_every_field() -> None:
    models = _models(Config) | set(FAULT_MODELS.values())
    assert len(models) >= 25
    for model in models:
        if model.__name__ == "Sweep":
            continue
        assert model.model_config.get("extra") == "forbid", model
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name", "custom"),
        ("seed", 1),
        ("duration", 60.0),
        ("warmup", 0.0),
        ("replications", 1),
        ("interval", 1.0),
        ("clients.count", 1000),
        ("clients.connect_ramp", 10.0),
        ("clients.arrival", "uniform"),
        ("clients.reconnect.strategy", "full_jitter"),
        ("clients.reconnect.base", 1.0),
        ("clients.reconnect.cap", 30.0),
        ("clients.reconnect.max_attempts", None),
        ("clients.resume", True),
        ("clients.rooms.count", 100),
        ("clients.rooms.zipf_exponent", 1.1),
        ("clients.publish_rate", 0.0),
        ("clients.message_size", 200),
        ("clients.conflate_keys", 16),
        ("clients.slow_consumers.drain_rate", 10.0),
        ("clients.slow_consumers.stall_duration", 30.0),
        ("clients.offline.mean", 30.0),
        ("clients.snapshot.size", 64 * 1024),
        ("clients.snapshot.latency", 0.05),
        ("edge.layer", "L4"),
        ("edge.balancer", "consistent_hash"),
        ("edge.virtual_nodes", 160),
        ("edge.idle_timeout", 60.0),
        ("edge.path_idle_timeout", None),
        ("edge.tls_handshake_cost", 0.001),
        ("edge.conntrack_max", 262144),
        ("gateways.count", 4),
        ("gateways.memory", 8 * 2**30),
        ("gateways.base_memory", 256 * 2**20),
        ("gateways.fd_limit", 1048576),
        ("gateways.ephemeral_ports", 28232),
        ("gateways.per_connection.kernel", 8192),
        ("gateways.per_connection.tls", 20480),
        ("gateways.per_connection.app", 4096),
        ("gateways.per_connection.fds", 1),
        ("gateways.send_queue.limit", 1000),
        ("gateways.send_queue.overflow", "drop_oldest"),
        ("gateways.send_queue.credit", 64),
        ("gateways.keepalive.ping_interval", 25.0),
        ("gateways.keepalive.timeout", None),
        ("gateways.handshake_cost", 0.0003),
        ("gateways.admission.retry_after", 5.0),
        ("gateways.drain_timeout", 30.0),
        ("gateways.restart_delay", 10.0),
        ("backplane.kind", "in_memory"),
        ("backplane.topology", "channel_per_room"),
        ("backplane.interest_routing", True),
        ("backplane.shards", 16),
        ("backplane.latency", None),
        ("backplane.replay.max_messages", 1000),
        ("backplane.replay.max_age", 120.0),
        ("backplane.replay.max_per_resume", 10000),
        ("backplane.partitions", 32),
        ("backplane.managed.price_per_million_messages", 1.0),
        ("backplane.managed.price_per_connection_minute", 0.00000025),
        ("transport.kind", "websocket"),
        ("transport.poll_interval", 30.0),
        ("transport.request_overhead", 800),
        ("transport.direction", "bidirectional"),
        ("costs.gateway_per_month", 350.0),
        ("costs.backplane_per_month", 500.0),
        ("costs.headroom", 0.7),
        ("alerts.send_queue_depth_p99", 100.0),
        ("live.gateway_processes", 2),
        ("live.host", "127.0.0.1"),
        ("live.max_message_size", 65536),
        ("live.token_ttl", 3600.0),
        ("faults", []),
        ("sweep", None),
    ],
)
def test_contract_defaults(path: str, expected: object) -> None:
    value: Any = Config()
    for part in path.split("."):
        value = getattr(value, part)
    assert value == expected


def test_keepalive_effective_timeout() -> None:
    assert Config().gateways.keepalive.effective_timeout == 50.0
    cfg = load_config({"gateways": {"keepalive": {"ping_interval": None}}})
    assert cfg.gateways.keepalive.effective_timeout is None


def test_load_from_path_name_and_dict(tmp_path: Path) -> None:
    text = "name: t\nduration: 2min\nclients: {count: 10, publish_rate: 6/min}\n"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    from_path = load_config(path)
    from_str = load_config(str(path))
    from_dict = load_config(yaml.safe_load(text))
    assert from_path == from_str == from_dict
    assert from_path.duration == 120.0
    assert from_path.clients.publish_rate == pytest.approx(0.1)
    assert load_config("quickstart").name == "quickstart"


def test_an_empty_file_is_refused_and_an_empty_dict_is_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(path)
    assert load_config({}) == Config()  # from Python an empty mapping is deliberate


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_round_trips(name: str, tmp_path: Path) -> None:
    cfg = load_config(name)
    assert load_config(cfg.model_dump(mode="json")) == cfg
    path = tmp_path / "config.resolved.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    assert load_config(path) == cfg


def test_config_instance_is_accepted(base_config: dict[str, Any]) -> None:
    cfg = load_config(base_config)
    assert load_config(cfg, ["gateways.count=6"]).gateways.count == 6
    assert cfg.gateways.count == 4


def test_faults_discriminated_by_kind() -> None:
    cfg = load_config(
        {
            "faults": [
                {"kind": "gateway_crash", "at": "30s", "gateway": 1},
                {"kind": "spike", "at": "1min", "duration": "10s", "publish_multiplier": 3},
                {"kind": "deploy", "at": 5},
                {"kind": "backplane_outage", "at": 1, "duration": "5s"},
                {"kind": "subscription_outage", "at": 1, "duration": 2},
                {"kind": "add_gateways", "at": 1},
                {"kind": "remove_gateways", "at": 1, "drain": False},
                {"kind": "half_open", "at": 1, "fraction": 0.5},
            ]
        }
    )
    crash, spike = cfg.faults[0], cfg.faults[1]
    assert isinstance(crash, GatewayCrash) and crash.gateway == 1 and crash.restart
    assert isinstance(spike, Spike) and spike.at == 60.0 and spike.publish_multiplier == 3
    assert sorted(f.kind for f in cfg.faults) == sorted(FAULT_MODELS)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (
            {"gateways": {"keepalive": {"ping_interval": "25s", "timeout": "20s"}}},
            "greater than `ping_interval`",
        ),
        (
            {"gateways": {"keepalive": {"ping_interval": "25s", "timeout": "25s"}}},
            "greater than `ping_interval`",
        ),
        ({"clients": {"rooms": {"count": 3, "per_client": 4}}}, "at most `count`"),
        ({"clients": {"reconnect": {"base": "10s", "cap": "1s"}}}, "at least `base`"),
        ({"gateways": {"memory": "1GiB", "base_memory": "2GiB"}}, "smaller than `memory`"),
        ({"warmup": "2min", "duration": "1min"}, "shorter than `duration`"),
        ({"faults": [{"kind": "gateway_crash", "at": 1, "gateway": 4}]}, "numbered 0..3"),
        ({"backplane": {"latency": {"median": "10ms", "p99": "1ms"}}}, "at least `median`"),
        ({"sweep": {"zip": {"gateways.count": [1, 2], "clients.count": [1]}}}, "equal lengths"),
        ({"duration": 0}, "must be positive"),
    ],
)
def test_cross_field_rules(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    assert fragment in info.value.message


def test_keepalive_timeout_may_be_omitted_or_larger() -> None:
    cfg = load_config({"gateways": {"keepalive": {"ping_interval": "25s", "timeout": "60s"}}})
    assert cfg.gateways.keepalive.timeout == 60.0


def test_direct_model_validation_checks_sweep_paths() -> None:
    with pytest.raises(ValueError, match="gatways"):
        Config.model_validate({"sweep": {"gatways.count": [1, 2]}})
    cfg = Config.model_validate({"sweep": {"gateways.memory": ["1GiB"]}})
    assert cfg.sweep is not None and cfg.sweep.axes == {"gateways.memory": [2**30]}


def test_exponent_numbers_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("clients: {count: 2e3, publish_rate: 1.5e-2}\ngateways: {fd_limit: 1.0e6}\n")
    cfg = load_config(path, ["edge.conntrack_max=5e5"])
    assert cfg.clients.count == 2000 and cfg.gateways.fd_limit == 10**6
    assert cfg.clients.publish_rate == pytest.approx(0.015)
    assert cfg.edge.conntrack_max == 500000


@settings(max_examples=60, deadline=None)
@given(
    duration=st.integers(1, 10**5).map(lambda n: f"{n}s") | st.floats(0.5, 1e5),
    ramp=st.sampled_from(["250ms", "500us", "10min", "2h", "1d", 3, 0.25]),
    memory=st.sampled_from(["1GiB", "2GB", "8GiB", "1.5GiB", 3 * 2**30]),
    rate=st.sampled_from(["5/min", "200/s", "3/h", "1/d", 0.1, "1/3s"]),
    strategy=st.sampled_from(
        ["none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated"]
    ),
)
def test_dump_reload_identity(
    duration: object, ramp: object, memory: object, rate: object, strategy: str
) -> None:
    raw = {
        "duration": duration,
        "clients": {"connect_ramp": ramp, "publish_rate": rate, "reconnect": {"strategy": strategy}},
        "gateways": {"memory": memory},
        "sweep": {"clients.offline.mean": ["1s", "1min"], "zip": {"seed": [1, 2], "gateways.count": [3, 5]}},
    }
    cfg = load_config(raw)
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    assert load_config(yaml.safe_load(text)) == cfg


def test_schema_choices_match_the_policies() -> None:
    from wssim.policies import OVERFLOW_POLICIES as policy_overflow
    from wssim.policies import STRATEGIES
    from wssim.policies.balancing import BALANCERS as policy_balancers

    assert set(BACKOFF_STRATEGIES) == set(STRATEGIES)
    assert set(OVERFLOW_POLICIES) == set(policy_overflow)
    assert set(BALANCERS) == set(policy_balancers)
