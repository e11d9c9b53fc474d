"""`wssim check`: the senior checklist as a design review, through the real CLI and the review's rules.

The arithmetic checks are compared with closed forms computed here independently; the probes (scaled
simulations) are exercised end to end in tests/integration/test_check_designs.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import wssim
from wssim.check import ITEM_IDS, apply_fixes, review
from wssim.check.figures import figures, reach
from wssim.check.items import Fix
from wssim.check.output import schema
from wssim.check.probes import scale_design
from wssim.check.review import merge
from wssim.check.static import miss_fraction, replay_window, time_to_oom

DESIGNS = Path(__file__).resolve().parents[2] / "data" / "designs"


def wssim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wssim", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def checks(result, item_id: str) -> dict[str, object]:
    item = next(i for i in result.items if i.spec.id == item_id)
    return {c.id: c for c in item.checks}


def test_the_bad_design_passes_validate_but_fails_every_item_each_with_a_fix(tmp_path):
    """The finding: a design that breaks every checklist item was valid and nothing reviewed it."""
    assert wssim_cli("validate", DESIGNS / "bad.yaml").returncode == 0
    proc = wssim_cli("check", DESIGNS / "bad.yaml", "--quick", "--out", tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "check.json").read_text())
    assert [i["id"] for i in doc["items"]] == list(ITEM_IDS)
    for item in doc["items"]:
        assert item["verdict"] == "fail", item["id"]
        assert item["fixes"], f"{item['id']} fails without a fix"
    assert "FAIL" in proc.stdout and "--set transport.kind=sse" in proc.stdout


def test_the_printed_fixes_make_every_arithmetic_check_pass(tmp_path):
    doc_path = tmp_path / "bad"
    assert wssim_cli("check", DESIGNS / "bad.yaml", "--quick", "--out", doc_path).returncode == 1
    sets = [
        arg for f in json.loads((doc_path / "check.json").read_text())["fixes"] for arg in ("--set", f["set"])
    ]
    proc = wssim_cli("check", DESIGNS / "bad.yaml", "--quick", "--out", tmp_path / "fixed", *sets)
    assert proc.returncode == 0, proc.stdout
    doc = json.loads((tmp_path / "fixed" / "check.json").read_text())
    assert {i["verdict"] for i in doc["items"]} == {"pass"}


def test_check_json_validates_against_the_shipped_schema(tmp_path):
    for name in ("bad", "good", "chat", "live-scores"):
        wssim_cli("check", DESIGNS / f"{name}.yaml", "--quick", "--out", tmp_path / name)
        doc = json.loads((tmp_path / name / "check.json").read_text())
        jsonschema.validate(doc, schema())
        assert doc["mode"] == "quick" and doc["exit_code"] == (doc["verdict"] == "fail")


def test_exit_codes_warnings_and_strict(tmp_path):
    assert wssim_cli("check", DESIGNS / "good.yaml", "--quick").returncode == 0
    warn = ["--set", "edge.conntrack_max=262144"]  # 200k connections: more than 70% of the table
    proc = wssim_cli("check", DESIGNS / "good.yaml", "--quick", *warn)
    assert proc.returncode == 0 and "WARN" in proc.stdout
    assert wssim_cli("check", DESIGNS / "good.yaml", "--quick", "--strict", *warn).returncode == 1


def test_a_bad_config_is_one_paragraph_and_exit_2(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("clients: {count: 10}\nexpectations: {lost_message_cost: sometimes}\n")
    proc = wssim_cli("check", bad, "--quick", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "expectations.lost_message_cost" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ the rules


def design(**overrides) -> object:
    base = {"name": "t", "clients": {"count": 100_000}, "gateways": {"count": 4}}
    for path, value in overrides.items():
        node = base
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return wssim.load_config(base)


def test_pings_at_or_above_the_tightest_timeout_fail_and_the_fix_beats_it():
    cfg = design(edge__path_idle_timeout="30s", gateways__keepalive={"ping_interval": "30s"})
    check = checks(review(cfg, quick=True), "disconnect")["pings_vs_timeouts"]
    assert check.verdict == "fail" and check.limit == 30
    fixed = apply_fixes(cfg, list(check.fixes))
    assert fixed.gateways.keepalive.ping_interval < 30
    assert checks(review(fixed, quick=True), "disconnect")["pings_vs_timeouts"].verdict == "pass"


@pytest.mark.parametrize(
    ("strategy", "verdict"), [("none", "fail"), ("exponential", "fail"), ("full_jitter", "pass")]
)
def test_only_jittered_backoff_passes(strategy, verdict):
    cfg = design(clients__reconnect={"strategy": strategy, "cap": "30s"})
    assert checks(review(cfg, quick=True), "disconnect")["backoff"].verdict == verdict


def test_the_replay_check_is_the_exponential_miss_fraction():
    cfg = design(
        clients__offline={"mean": "30s"},
        backplane={"kind": "redis_streams", "replay": {"max_messages": None, "max_age": "60s"}},
    )
    check = checks(review(cfg, quick=True), "disconnect")["replay_window"]
    assert check.value == pytest.approx(math.exp(-60 / 30))
    assert check.verdict == "fail"  # 13.5% against the default 1% budget
    need = float(next(f.value for f in check.fixes if f.path.endswith("max_age")).removesuffix("s"))
    assert need == math.ceil(-30 * math.log(0.01))


def test_the_count_bound_shortens_the_window_at_the_room_publish_rate():
    cfg = design(
        clients__rooms={"count": 1000},
        clients__publish_rate="6/min",
        backplane={"kind": "redis_streams", "replay": {"max_messages": 500, "max_age": None}},
    )
    fig = figures(cfg)
    room_rate = 100_000 * 0.1 / 1000  # publications per room per second
    assert replay_window(cfg, fig) == pytest.approx(500 / room_rate)
    assert miss_fraction(cfg, 500 / room_rate) == pytest.approx(math.exp(-(500 / room_rate) / 30))


def test_time_to_oom_is_free_memory_over_the_growth_of_the_slow_queues():
    cfg = design(
        clients__slow_consumers={"fraction": 0.05, "drain_rate": "0.5/s"},
        clients__rooms={"count": 5000},
        clients__publish_rate="6/min",
        clients__message_size="1KiB",
        gateways__send_queue={"overflow": "unbounded"},
    )
    fig = figures(cfg)
    arrival = 20 * 0.1  # members per room × publish rate
    slow = fig.per_node_one_down * 0.05
    free = cfg.gateways.memory - cfg.gateways.base_memory - fig.per_node_one_down * fig.conn_bytes
    assert time_to_oom(cfg, fig) == pytest.approx(free / (slow * (arrival - 0.5) * 1024))
    assert checks(review(cfg, quick=True), "slow_consumers")["overflow_policy"].verdict == "fail"


def test_a_p99_alert_cannot_see_slow_readers_under_one_percent():
    cfg = design(
        clients__slow_consumers={"fraction": 0.005, "drain_rate": "0.1/s"},
        clients__rooms={"count": 5000},
        clients__publish_rate="6/min",
        gateways__send_queue={"overflow": "unbounded"},
    )
    check = checks(review(cfg, quick=True), "slow_consumers")["alert"]
    assert check.verdict == "fail" and "cannot see" in check.text


def test_an_at_most_once_backplane_fails_when_a_lost_message_is_unacceptable():
    for kind, cost, verdict in [
        ("redis_pubsub", "unacceptable", "fail"),
        ("redis_pubsub", "harmless", "pass"),
        ("redis_streams", "unacceptable", "pass"),
    ]:
        cfg = design(backplane={"kind": kind}, expectations={"lost_message_cost": cost})
        assert checks(review(cfg, quick=True), "dropped_message")["semantics"].verdict == verdict, (
            kind,
            cost,
        )


def test_fan_out_reach_is_the_closed_form():
    assert reach(8, 5) == pytest.approx(8 * (1 - (7 / 8) ** 5))
    cfg = design(
        clients__rooms={"count": 20_000},
        clients__publish_rate="1/min",
        backplane={"kind": "redis_pubsub", "topology": "broadcast"},
    )
    fig = figures(cfg)
    assert fig.backplane == pytest.approx(100_000 / 60 * 4)  # every publication to every gateway
    assert fig.useful_backplane == pytest.approx(100_000 / 60 * reach(4, 5))


def test_fixes_of_one_path_combine_by_their_bound():
    merged = merge(
        [
            Fix("a", 3, "", "at_least"),
            Fix("a", 5, "", "at_least"),
            Fix("b", "25s", "", "at_most"),
            Fix("b", "15s", "", "at_most"),
            Fix("c", "x", ""),
        ]
    )
    assert merged["a"].value == 5 and merged["b"].value == "15s" and merged["c"].value == "x"


def test_scaling_keeps_what_each_room_and_client_sees():
    cfg = wssim.load_config(DESIGNS / "chat.yaml")
    raw, scaling = scale_design(cfg, 2000)
    small = wssim.load_config(raw)
    real, sim = figures(cfg), figures(small)
    assert scaling.factor == pytest.approx(cfg.clients.count / 2000)
    assert sim.room_rate == pytest.approx(real.room_rate)  # every room publishes as often
    per_conn = (cfg.gateways.memory - cfg.gateways.base_memory) / real.conn_bytes / real.connections
    small_per_conn = (small.gateways.memory - small.gateways.base_memory) / sim.conn_bytes / sim.connections
    assert small_per_conn == pytest.approx(per_conn, rel=1e-3)  # gateways as full, relatively
    assert small.gateways.handshake_cost == pytest.approx(cfg.gateways.handshake_cost * scaling.factor)
