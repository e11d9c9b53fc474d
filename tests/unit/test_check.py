"""`wssim check`: the senior checklist as a design review, through the real CLI and the review's rules.

The arithmetic checks are compared with closed forms computed here independently; the probes (scaled
simulations) are exercised end to end in tests/integration/test_check_designs.py.
"""

from __future__ import annotations

import json
import math
import shlex
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


def printed_rerun(stdout: str) -> list[str]:
    """The arguments of the ``wssim check ... --set ...`` line printed under the table."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Review the design with every fix"))
    command = shlex.split(lines[at + 1])
    assert command[:2] == ["wssim", "check"], command
    return command[2:]


def test_the_printed_fixes_make_every_arithmetic_check_pass(tmp_path):
    """The command printed under the table, run as printed: every item passes (each fix is a `--set`)."""
    proc = wssim_cli("check", DESIGNS / "bad.yaml", "--quick", "--out", tmp_path / "bad")
    assert proc.returncode == 1
    printed = printed_rerun(proc.stdout)
    doc = json.loads((tmp_path / "bad" / "check.json").read_text())
    assert printed[1::2] == ["--set"] * len(doc["fixes"])
    assert printed[2::2] == [f["set"] for f in doc["fixes"]]
    for item in doc["items"]:  # every failing item contributes at least one of the printed fixes
        assert {f["set"] for f in item["fixes"]} <= set(printed[2::2]), item["id"]
    proc = wssim_cli("check", printed[0], "--quick", "--out", tmp_path / "fixed", *printed[1:])
    assert proc.returncode == 0, proc.stdout
    doc = json.loads((tmp_path / "fixed" / "check.json").read_text())
    assert {i["verdict"] for i in doc["items"]} == {"pass"} and doc["fixes"] == []
    assert "every fix applied" not in proc.stdout


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


# ------------------------------------------------------------------ expectations: stated, else defaults


def quick_review(tmp_path: Path, design_path: Path, *sets: str) -> tuple[int, dict, dict]:
    """The quick review through the CLI: (exit code, check.json, {check id: check})."""
    out = tmp_path / f"q{len(list(tmp_path.iterdir()))}"
    proc = wssim_cli("check", design_path, "--quick", "--out", out, *(a for s in sets for a in ("--set", s)))
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((out / "check.json").read_text())
    jsonschema.validate(doc, schema())
    return proc.returncode, doc, {c["id"]: c for item in doc["items"] for c in item["checks"]}


def without_expectation(tmp_path: Path, name: str) -> Path:
    """good.yaml with ``expectations.NAME`` left out (so the guide's default applies)."""
    import yaml

    raw = yaml.safe_load((DESIGNS / "good.yaml").read_text())
    raw["expectations"].pop(name, None)
    path = tmp_path / f"good-without-{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_monthly_budget_is_judged_only_when_stated(tmp_path):
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml")
    assert not doc["expectations"]["monthly_budget"]["stated"]
    cost = c["nodes_and_cost"]["value"]  # (gateways needed + 1 spare) × gateway price + the backplane
    assert code == 0 and c["nodes_and_cost"]["verdict"] == "pass" and c["nodes_and_cost"]["limit"] is None
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", f"expectations.monthly_budget={cost - 1}")
    assert code == 1 and doc["expectations"]["monthly_budget"] == {"value": cost - 1, "stated": True}
    assert c["nodes_and_cost"]["verdict"] == "fail" and c["nodes_and_cost"]["limit"] == cost - 1
    assert quick_review(tmp_path, DESIGNS / "good.yaml", f"expectations.monthly_budget={cost}")[0] == 0


def test_reconnect_within_defaults_to_the_largest_recommended_cap(tmp_path):
    code, doc, c = quick_review(tmp_path, without_expectation(tmp_path, "reconnect_within"))
    assert doc["expectations"]["reconnect_within"] == {"value": 60.0, "stated": False}
    herd = c["herd_floor"]  # the busiest gateway's clients over the survivors' admission rate + the cap
    assert code == 0 and herd["limit"] == 60.0 and herd["verdict"] == "pass"
    tight = math.floor(herd["value"]) - 1
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", f"expectations.reconnect_within={tight}s")
    assert code == 1 and c["herd_floor"]["verdict"] == "fail" and c["herd_floor"]["limit"] == tight
    fixed = [f["set"] for f in doc["fixes"]]
    promise = f"expectations.reconnect_within={tight}s"
    code, _, c = quick_review(tmp_path, DESIGNS / "good.yaml", promise, *fixed)
    assert c["herd_floor"]["verdict"] == "pass"


def test_a_p99_promise_above_a_second_is_not_low_latency_traffic(tmp_path):
    """The four-part test's low-latency part is the design's p99 promise (default 1 s, the transport
    model's bound); the spike's backlog is judged against the same promise."""
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml")
    assert doc["expectations"]["latency_p99"] == {"value": 1.0, "stated": False}
    assert code == 0 and c["four_part_test"]["verdict"] == "pass" and c["backplane_at_spike"]["limit"] == 1.0
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", "expectations.latency_p99=5s")
    assert code == 1 and c["four_part_test"]["verdict"] == "fail"
    assert "low latency no" in c["four_part_test"]["text"] and c["backplane_at_spike"]["limit"] == 5.0
    assert "transport.kind=sse" in [f["set"] for f in doc["fixes"]]


def test_a_loss_budget_judges_an_outage_longer_than_the_window(tmp_path):
    """Harmless losses are not judged unless the design states a loss budget; then a subscription
    outage longer than the replay window fails (what falls out of the window is lost)."""
    short = ("expectations.lost_message_cost=harmless", "backplane.replay.max_age=5s")
    _, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", *short)
    assert doc["expectations"]["loss_budget"] == {"value": None, "stated": False}
    assert c["outage_window"]["verdict"] == "pass" and "not judged" in c["outage_window"]["text"]
    _, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", *short, "expectations.loss_budget=0.01")
    assert doc["expectations"]["loss_budget"] == {"value": 0.01, "stated": True}
    window = c["outage_window"]
    assert window["verdict"] == "fail" and window["value"] > window["limit"]
    assert "backplane.replay.max_age" in [f["path"] for f in doc["fixes"]]
    _, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", "backplane.replay.max_age=5s")
    assert doc["expectations"]["loss_budget"]["stated"] is False  # unacceptable: a budget of 0
    assert c["outage_window"]["verdict"] == "fail" and "loss budget 0" in c["outage_window"]["text"]


def test_the_how_to_documents_every_field_of_the_schema():
    """The stable field names of check.json, as the how-to lists them, are the schema's."""
    howto = (DESIGNS.parents[1] / "docs" / "howto" / "review-a-design.md").read_text()
    table = howto.split("## The fields of `check.json`", 1)[1].split("\n## ", 1)[0]
    s = schema()
    names = [*s["properties"], *s["properties"]["design"]["properties"]]
    for part in ("item", "check", "fix", "probe"):
        names += list(s["$defs"][part]["properties"])
    missing = [n for n in dict.fromkeys(names) if f"`{n}`" not in table and f"`{n}[]`" not in table]
    assert not missing, f"fields of check.schema.json missing from the how-to: {missing}"


def test_the_quick_review_loads_no_data_frame_or_statistics_library():
    """--quick answers in well under a second (benchmarks/bench_check.py) because it is arithmetic on
    the config: the CLI's start-up must not import pandas or scipy (the sweep package), which alone
    took over a second of the process's CPU when the error handler imported it up front."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "wssim", "check", str(DESIGNS / "good.yaml"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "wssim.check.static" in imported  # the measurement saw the review's imports
    heavy = sorted(m for m in imported if m.split(".")[0] in ("pandas", "scipy", "pyarrow", "plotly"))
    assert not heavy, heavy[:10]


def test_the_budget_reports_cpu_at_peak_fan_out_from_the_gateway_cpu_model(tmp_path):
    """The connection budget's CPU is the simulator's CPU model (gateways.cpu): per member delivered
    ``frame + per_byte × bytes``, per backplane message reaching the gateway ``backplane_message``, per
    connection ``ping / ping_interval``; against ``cores`` within the headroom."""
    cfg = wssim.load_config(DESIGNS / "good.yaml")
    fig, cpu = figures(cfg), cfg.gateways.cpu
    writes = fig.deliveries * fig.share * (cpu.frame + cpu.per_byte * cfg.clients.message_size)
    messages = fig.backplane * fig.share * cpu.backplane_message
    pings = fig.per_node * cpu.ping / cfg.gateways.keepalive.ping_interval
    _, _, c = quick_review(tmp_path, DESIGNS / "good.yaml")
    assert c["cpu"]["value"] == pytest.approx(writes + messages + pings)
    assert c["cpu"]["limit"] == pytest.approx(cpu.cores * cfg.costs.headroom)
    assert c["cpu"]["verdict"] == "pass" and "gateways.cpu" in c["cpu"]["source"]
    slow = "gateways.cpu.frame=40us"  # a frame five times as costly: past one core
    code, doc, c = quick_review(tmp_path, DESIGNS / "good.yaml", slow)
    assert code == 1 and c["cpu"]["verdict"] == "fail" and c["cpu"]["value"] > cpu.cores
    assert "gateways.count" in {f["path"] for f in doc["fixes"]}
    code, _, c = quick_review(tmp_path, DESIGNS / "good.yaml", slow, "gateways.cpu.cores=4")
    assert c["cpu"]["verdict"] == "pass" and c["cpu"]["limit"] == pytest.approx(4 * cfg.costs.headroom)
