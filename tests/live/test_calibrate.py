"""`wssim calibrate` on this machine: an overlay the crosscheck accepts, with the CPU per operation and
the memory of permessage-deflate; and nothing it starts outlives it.

One calibration, small but complete (one backplane kind, the CPU measurement included), through the
real command line; its figures are checked against what each one means, not against fixed numbers
from another machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from live_runs import need_server

from wssim.config import load_config
from wssim.crosscheck import Calibration, check_machine
from wssim.units import parse_bytes, parse_duration

pytestmark = [pytest.mark.live, pytest.mark.slow]
SMALL = ["--kind", "redis_pubsub", "--herds", "1", "--handshakes", "50", "--connections", "200"]
SMALL += ["--subscribers", "20", "--seconds", "1"]


def _calibrate(*args: str, env_extra: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "WSSIM_REDIS_URL"}  # it starts its own server
    env.update(env_extra or {})
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "wssim", "calibrate", *args], stdout=subprocess.PIPE,
                            text=True, env=env, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_server("redis_pubsub")
    out = tmp_path_factory.mktemp("calibrate") / "this-machine.yaml"
    proc = _calibrate(*SMALL, "--out", str(out))
    stdout, stderr = proc.communicate(timeout=420)
    assert proc.returncode == 0, stdout + stderr
    return out


def _costs(path: Path) -> dict[str, Any]:
    """The CPU model's entries, top level or (before the schema reads them) under measured_costs."""
    data = yaml.safe_load(path.read_text())
    return {
        **(data.get("measured_costs") or {}),
        **{k: v for k, v in data.items() if k.startswith("gateways.c")},
    }


@pytest.mark.timeout(480)
def test_the_overlay_describes_this_machine_and_applies_to_a_config(overlay: Path) -> None:
    check_machine(overlay)
    calibration = Calibration.load(overlay)
    overrides = calibration.overrides("redis_pubsub", send_buffer=8192)
    config = load_config("herd", overrides)  # every entry is a value the config accepts
    assert config.gateways.send_queue.path_buffer > 0
    assert 0 < config.gateways.handshake_cost < 0.05
    assert 4096 < config.gateways.per_connection.app < 256 * 1024  # an idle websockets connection: KiBs


@pytest.mark.timeout(480)
def test_the_gateway_costs_are_measured(overlay: Path) -> None:
    costs = _costs(overlay)
    frame, per_byte = (
        parse_duration(costs["gateways.cpu.frame"]),
        parse_duration(costs["gateways.cpu.per_byte"]),
    )
    message, ping = (
        parse_duration(costs["gateways.cpu.backplane_message"]),
        parse_duration(costs["gateways.cpu.ping"]),
    )
    # a Python gateway writes a frame in microseconds (its broadcast benchmark: ~100k deliveries per
    # CPU-second) and copies a byte in well under one; a backplane message is parsed and framed once
    assert 1e-6 < frame < 1e-3 and 0 < per_byte < 1e-7 and per_byte * 1000 < frame
    assert 1e-6 < message < 5e-3 and 1e-6 < ping < 1e-3
    assert costs["gateways.cpu.cores"] == 1
    # compression: text shrinks, the compressor costs more per byte than a copy, and its state memory
    assert 0.1 < float(costs["gateways.compression.ratio"]) < 0.9
    assert parse_duration(costs["gateways.cpu.deflate_per_byte"]) > per_byte
    assert parse_bytes(costs["gateways.compression.memory"]) > 8 * 1024


def _started(proc: subprocess.Popen[str], err: Path, phase: str) -> bool:
    """Whether the calibration reached ``phase``: its gateway and balancer run, or the CPU part began."""
    if phase == "cpu":
        return "memory per idle connection" in err.read_text()
    names = " ".join(" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True))
    return "redis-server" in names and "balancer" in names


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("sig", "phase"),
    [(signal.SIGTERM, "handshakes"), (signal.SIGINT, "handshakes"), (signal.SIGTERM, "cpu")],
    ids=["SIGTERM", "SIGINT", "SIGTERM-during-cpu"],
)
def test_a_signal_stops_every_process_the_calibration_started(
    tmp_path: Path, sig: signal.Signals, phase: str
) -> None:
    need_server("redis_pubsub")
    out, err = tmp_path / "me.yaml", tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        proc = _calibrate(*SMALL, "--out", str(out), stderr=stderr)
    started = [psutil.Process(proc.pid)]
    try:
        deadline = time.monotonic() + 100
        while not _started(proc, err, phase):
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"the calibration did not reach {phase} within 100 s"
            time.sleep(0.1)
        time.sleep(1.0)  # measuring
        fleet = psutil.Process(proc.pid).children(recursive=True)
        started += fleet
        proc.send_signal(sig)
        _, alive = psutil.wait_procs(fleet, timeout=5.0)
        assert alive == [], f"still running 5 s after {sig.name}: {[p.cmdline() for p in alive]}"
        assert proc.wait(timeout=5) == (130 if sig == signal.SIGINT else 128 + sig), err.read_text()
        assert "Traceback" not in err.read_text() and not out.exists()
    finally:
        for p in started:
            with contextlib.suppress(psutil.Error):
                p.kill()


@pytest.mark.timeout(120)
def test_a_failed_calibration_says_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    """NATS unreachable: the private Redis already runs when the NATS gateway fails to start."""
    need_server("redis_pubsub")
    marker = uuid.uuid4().hex  # inherited by every process the calibration starts
    out = tmp_path / "me.yaml"
    proc = _calibrate("--kind", "nats", "--kind", "redis_pubsub", "--nats-url", "nats://127.0.0.1:1",
                      "--out", str(out), env_extra={"WSSIM_TEST_MARKER": marker})  # fmt: skip
    _, err = proc.communicate(timeout=100)
    assert proc.returncode == 1, err
    assert "the gateway on redis_pubsub" not in err and "nats://127.0.0.1:1" in err, err
    assert "Traceback" not in err and not out.exists()
    time.sleep(1.0)
    left = []
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if p.environ().get("WSSIM_TEST_MARKER") == marker:
                left.append(p.cmdline())
    assert left == [], left
