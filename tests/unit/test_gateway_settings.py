"""Gateway settings: scenario mapping, keepalive from the shared policy, CLI overrides, frame building."""

from __future__ import annotations

import json

import pytest

from reference_impl.driver.harness import scaled_gateway_config
from reference_impl.system.backplanes import Delivery
from reference_impl.system.gateway import GatewaySettings, msg_frame, parse_settings
from reference_impl.system.settings import INSECURE_DEV_SECRET, SECRET_ENV, load_key
from wssim.config import load_config


def test_from_config_maps_the_scenario() -> None:
    cfg = load_config(
        "quickstart",
        [
            "gateways.send_queue.overflow=disconnect",
            "gateways.send_queue.limit=77",
            "gateways.admission.max_connections=500",
            "backplane.replay.max_per_resume=9",
            "live.max_message_size=2KiB",
        ],
    )
    s = GatewaySettings.from_config(cfg, port=1234)
    assert (s.queue_policy, s.queue_limit, s.max_connections) == ("disconnect", 77, 500)
    assert (s.max_per_resume, s.max_message_size, s.port) == (9, 2048, 1234)
    assert s.secret is None and s.public_key is None, "a scenario never carries a key"


def test_every_limit_is_on_by_default_and_listed() -> None:
    limits = GatewaySettings().limits()
    for name in (
        "queue_limit_bytes",
        "block_limit",
        "memory_budget",
        "max_rooms_per_connection",
        "max_connections",
        "max_connections_per_subject",
        "auth_failure_rate",
        "ping_timeout",
    ):
        assert limits[name] is not None and limits[name] > 0, name
    assert "secret" not in repr(GatewaySettings(secret="s" * 40))


@pytest.mark.parametrize(("burst", "expected"), [(None, 400.0), (20, 20.0)])
def test_admission_burst_is_a_count_the_live_clock_does_not_scale(burst, expected) -> None:
    """At half speed the rate halves in wall terms; the bucket holds as many handshakes as simulated."""
    cfg = load_config(
        "quickstart",
        ["gateways.admission.handshake_rate=400/s", f"gateways.admission.burst={burst or 'null'}"],
    )
    cfg.live.time_scale = 2.0
    raw = scaled_gateway_config(cfg, "in_memory")
    s = GatewaySettings.from_config(load_config(raw))
    assert (s.handshake_rate, s.handshake_burst) == (200.0, expected)


@pytest.mark.parametrize(
    ("interval", "timeout", "dead"), [(25.0, None, 50.0), (10.0, 15.0, 15.0), (None, None, None)]
)
def test_keepalive_dead_after_the_policy_timeout(
    interval: float | None, timeout: float | None, dead: float | None
) -> None:
    assert GatewaySettings(ping_interval=interval, ping_timeout=timeout).keepalive().timeout == dead


def test_parse_settings_types_and_errors() -> None:
    got = parse_settings(["queue_limit=5", "ping_interval=0.5", "gap_notice=false", "max_connections=none"])
    assert got == {"queue_limit": 5, "ping_interval": 0.5, "gap_notice": False, "max_connections": None}
    assert parse_settings(["allowed_origins=https://a.example, https://b.example"]) == {
        "allowed_origins": ("https://a.example", "https://b.example")
    }
    with pytest.raises(SystemExit, match="unknown field"):
        parse_settings(["nope=1"])
    with pytest.raises(SystemExit, match="never go on the command line"):
        parse_settings(["secret=abc"])


def test_a_key_is_required_and_never_built_in(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SystemExit, match="no token key"):
        load_key(None, None, False, "127.0.0.1")
    with pytest.raises(SystemExit, match="loopback only"):
        load_key(None, None, True, "0.0.0.0")
    assert load_key(None, None, True, "127.0.0.1") == {"secret": INSECURE_DEV_SECRET}
    monkeypatch.setenv(SECRET_ENV, "from-env")
    assert load_key(None, None, False, "0.0.0.0") == {"secret": "from-env"}
    (tmp_path / "k").write_text("from-file\n")
    assert load_key(str(tmp_path / "k"), None, False, "0.0.0.0") == {"secret": "from-file"}


def test_msg_frame_is_the_protocol_frame() -> None:
    frame = json.loads(msg_frame(Delivery("r", "ep", 7, '{"id":"a","ts":1.5,"body":"x"}')))
    assert frame == {"op": "msg", "room": "r", "offset": 7, "epoch": "ep", "id": "a", "ts": 1.5, "body": "x"}
    assert json.loads(msg_frame(Delivery("r", "e", 1, "{}"))) == {
        "op": "msg",
        "room": "r",
        "offset": 1,
        "epoch": "e",
    }


def test_compression_is_off_by_default_and_follows_the_scenario() -> None:
    """gateways.compression.enabled reaches the live gateway (through the config the harness writes)."""
    assert GatewaySettings.from_config(load_config("quickstart")).compression is None
    on = load_config("quickstart", ["gateways.compression.enabled=true"])
    assert GatewaySettings.from_config(on).compression == "deflate"
    raw = scaled_gateway_config(on, "redis_pubsub")
    assert GatewaySettings.from_config(load_config(raw)).compression == "deflate"
    assert parse_settings(["compression=deflate"]) == {"compression": "deflate"}
    with pytest.raises(SystemExit, match="compression is deflate"):
        parse_settings(["compression=gzip"])
