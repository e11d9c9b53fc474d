"""Which fan-out path a run takes: chosen by ``simulation.fanout``, recorded in its manifest and notes."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from wssim.cli import app
from wssim.config import load_config
from wssim.sim import simulate

FLEET = {
    "name": "fanout-path",
    "seed": 3,
    "duration": "12s",
    "clients": {"count": 400, "connect_ramp": "2s", "rooms": {"count": 40}, "publish_rate": "1/s"},
    "gateways": {"count": 2},
    "backplane": {"kind": "nats", "topology": "channel_per_room"},
}


def run(*overrides: str) -> tuple[str, list[str]]:
    """The path one run took, and its notes' texts."""
    info = simulate(load_config(FLEET, list(overrides))).info
    return info["fanout_path"], [n["text"] for n in info["notes"]]


def test_auto_stays_exact_below_the_rate_and_batches_above_it() -> None:
    assert run() == ("exact", [])  # 400 publishes/s < batched_from
    path, notes = run("simulation.batched_from=100")
    assert path == "batched" and "batched steps of 10 ms" in notes[0]


def test_exact_is_forced_and_batched_is_taken_where_it_applies() -> None:
    assert run("simulation.fanout=exact", "simulation.batched_from=0") == ("exact", [])
    assert run("simulation.fanout=batched")[0] == "batched"


def test_batched_where_it_cannot_apply_runs_exact_with_a_note() -> None:
    path, notes = run("simulation.fanout=batched", "backplane.kind=kafka")
    assert path == "exact"
    assert notes == [
        "simulation.fanout: batched does not apply to Kafka partitions (backplane.kind): "
        "the run took the exact path."
    ]


def test_the_manifest_records_the_path_and_the_cli_prints_the_note(tmp_path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump({**FLEET, "simulation": {"fanout": "batched", "step": "5ms"}}))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--executor", "serial"])
    assert res.exit_code == 0, res.output
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [r["fanout_path"] for r in runs.values()] == ["batched"]
    assert "note: publications in plain rooms were fanned out in batched steps of 5 ms" in res.stderr
