"""The full review (arithmetic and probes) of the example designs, through the real CLI.

The bad design fails every item, each with a fix, and the design with the printed fixes applied passes
every item, probes included. The good design passes; the two realistic ones give the verdicts
docs/howto/review-a-design.md explains. A probe's written config reproduces its runs with `wssim run`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from wssim.check.output import schema

DESIGNS = Path(__file__).resolve().parents[2] / "data" / "designs"
pytestmark = pytest.mark.slow


def review(tmp_path: Path, name: str, *args: str) -> tuple[int, dict]:
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-m", "wssim", "check", str(DESIGNS / f"{name}.yaml"), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads((out / "check.json").read_text())
    jsonschema.validate(doc, schema())
    assert (out / "check.html").read_text().count("plotly-graph-div") >= 4
    return proc.returncode, doc


def verdicts(doc: dict) -> dict[str, str]:
    return {item["id"]: item["verdict"] for item in doc["items"]}


def test_the_bad_design_fails_every_item_and_its_printed_fixes_pass_every_item(tmp_path):
    code, doc = review(tmp_path, "bad")
    assert code == 1 and set(verdicts(doc).values()) == {"fail"}
    assert all(item["fixes"] for item in doc["items"])
    dynamic = [item for item in doc["items"] if item["kind"] == "dynamic"]
    assert all(item["probe"] and item["probe"]["on_fixed_design"] for item in dynamic)
    sets = [arg for fix in doc["fixes"] for arg in ("--set", fix["set"])]
    assert doc["rerun"].split(" --set ")[1:] == sets[1::2]  # the command printed under the table
    code, fixed = review(tmp_path, "bad", *sets)
    assert code == 0, {i["id"]: i["summary"] for i in fixed["items"] if i["verdict"] != "pass"}
    assert set(verdicts(fixed).values()) == {"pass"} and fixed["mode"] == "full"
    assert all(
        i["probe"] and not i["probe"]["on_fixed_design"] for i in fixed["items"] if i["kind"] == "dynamic"
    )


def test_the_good_design_passes_every_item_probes_included(tmp_path):
    code, doc = review(tmp_path, "good")
    assert code == 0 and set(verdicts(doc).values()) == {"pass"}
    crash = next(i for i in doc["items"] if i["id"] == "gateway_dies")["probe"]
    assert crash["metrics"]["herd_convergence_s"] <= doc["expectations"]["reconnect_within"]["value"]


def test_the_chat_app_is_held_back_by_its_backplane(tmp_path):
    code, doc = review(tmp_path, "chat")
    v = verdicts(doc)
    assert code == 1
    assert v["transport"] == v["kernel"] == v["disconnect"] == "pass"
    assert v["budget"] == "fail"
    budget = next(i for i in doc["items"] if i["id"] == "budget")
    assert {c["id"]: c["verdict"] for c in budget["checks"]}["backplane_load"] == "fail"
    assert "backplane.capacity" in {f["path"] for f in budget["fixes"]}
    slow = next(i for i in doc["items"] if i["id"] == "slow_consumers")
    assert {c["id"]: c["verdict"] for c in slow["checks"]}["resume_after_disconnect"] == "fail"


def test_live_scores_wants_sse_and_tls_at_the_gateways(tmp_path):
    code, doc = review(tmp_path, "live-scores")
    v = verdicts(doc)
    assert code == 1 and v["transport"] == "fail" and v["dropped_message"] == "pass"
    transport = next(i for i in doc["items"] if i["id"] == "transport")
    assert transport["fixes"][0]["set"] == "transport.kind=sse"
    assert v["gateway_dies"] == "fail"
    assert "edge.layer=L4" in {f["set"] for f in doc["fixes"]}


def test_a_probe_config_reproduces_its_runs(tmp_path):
    _, doc = review(tmp_path, "good")
    crash = next(i for i in doc["items"] if i["id"] == "gateway_dies")["probe"]
    out = tmp_path / "rerun"
    proc = subprocess.run(
        [sys.executable, "-m", "wssim", "run", crash["config"], "--out", str(out), "-q", "--no-report"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert summary["herd_convergence_s"].mean() == pytest.approx(crash["metrics"]["herd_convergence_s"])
