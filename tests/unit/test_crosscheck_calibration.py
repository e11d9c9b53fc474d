"""Crosscheck calibration overlay: parsing, per-backplane entries, --set precedence, simulator side only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_sweep_engine import standin

from wssim.config import load_config
from wssim.crosscheck import (
    CALIBRATION,
    Calibration,
    calibration_overrides,
    check_machine,
    crosscheck,
    this_machine,
)
from wssim.errors import ConfigError

OVERLAY = """\
gateways.handshake_cost: 1.5ms
gateways.base_memory: 40MiB
per_backplane:
  redis_pubsub:
    backplane.latency.median: 5ms
    backplane.latency.p99: 10ms
"""


def test_overlay_entries_and_per_backplane_section(tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text(OVERLAY)
    everywhere = ["gateways.handshake_cost=1.5ms", "gateways.base_memory=40MiB"]
    assert calibration_overrides(path, "nats") == everywhere
    got = calibration_overrides(path, "redis_pubsub", keep=["gateways.base_memory=1GiB"])
    assert got == [
        "gateways.handshake_cost=1.5ms",
        "backplane.latency.median=5ms",
        "backplane.latency.p99=10ms",
    ]
    assert calibration_overrides("none", "nats") == [] and calibration_overrides(None, "nats") == []


def test_bad_overlay_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        calibration_overrides(tmp_path / "missing.yaml", "nats")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError):
        calibration_overrides(tmp_path / "list.yaml", "nats")


@pytest.mark.parametrize("kind", ["redis_pubsub", "redis_streams", "nats", "jetstream", "none"])
def test_committed_overlay_loads_for_every_live_backplane(kind):
    overrides = calibration_overrides(CALIBRATION, kind)
    cfg = load_config({"backplane": {"kind": kind}}, overrides)
    assert cfg.gateways.handshake_cost > 300e-6  # Python on shared cores is slower than the default node
    assert cfg.gateways.per_connection.tls == 0
    assert (cfg.backplane.latency is not None) == (kind != "none")


def probe(config, replication=0, progress=None):
    """The stand-in engine, reporting the handshake cost it was given (in µs) as ``connections_peak``."""
    result = standin(config, replication, progress)
    result.metrics["connections_peak"] = config.gateways.handshake_cost * 1e6
    return result


def test_calibration_reaches_the_simulator_only():
    cfg = {"name": "cal", "duration": 10, "replications": 2, "clients": {"count": 50}}
    result = crosscheck(
        cfg,
        progress=False,
        workers=1,
        sim_engine=probe,
        live_engine=probe,
        calibration=["gateways.handshake_cost=2ms"],
    )
    row = result.table.set_index("metric").loc["connections_peak"]
    assert row["sim_mean"] == pytest.approx(2000.0) and row["live"] == pytest.approx(300.0)
    assert result.calibration == ["gateways.handshake_cost=2ms"]


def machine_overlay(tmp_path, **machine) -> str:
    path = tmp_path / "cal.yaml"
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in machine.items())
    path.write_text(OVERLAY + ("machine:\n" + lines if machine else ""))
    return str(path)


def test_a_calibration_must_describe_this_machine(tmp_path):
    here = this_machine()
    assert check_machine(machine_overlay(tmp_path, **here)) == here
    with pytest.raises(ConfigError, match="does not say which machine"):
        check_machine(machine_overlay(tmp_path))
    with pytest.raises(ConfigError, match=r"measured on another machine \(host 'elsewhere'"):
        check_machine(machine_overlay(tmp_path, **{**here, "host": "elsewhere"}))
    assert Calibration.load(machine_overlay(tmp_path, **here)).overrides("nats") == [
        "gateways.handshake_cost=1.5ms",
        "gateways.base_memory=40MiB",
    ]


def test_the_cli_refuses_another_machines_calibration_before_running(tmp_path):
    other = machine_overlay(tmp_path, **{**this_machine(), "cores": 96})
    done = subprocess.run(
        [sys.executable, "-m", "wssim", "crosscheck", "crosscheck/fanout", "--calibration", other,
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "measured on another machine (cores 96" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_measured_costs_are_kept_out_of_the_overrides(tmp_path):
    """Figures the schema does not read (``measured_costs:``) describe the measurement, like ``machine:``."""
    path = tmp_path / "o.yaml"
    path.write_text(OVERLAY + "measured_costs:\n  gateways.cpu.frame: 9us\n  gateways.cpu.cores: 1\n")
    overrides = calibration_overrides(path, "nats")
    assert overrides == ["gateways.handshake_cost=1.5ms", "gateways.base_memory=40MiB"]
    load_config("herd", overrides)
