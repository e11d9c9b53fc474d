"""The batched path keeps its replay windows as columns (:mod:`wssim.sim.windowlog`): whole runs with a
crash, resumes and a backplane restart give exactly the metrics of appending every publication to a
buffer per room."""

from __future__ import annotations

import math

import pytest

from wssim.config import load_config
from wssim.sim import history, simulate

FLEET = {
    "name": "windows",
    "seed": 5,
    "duration": "40s",
    "warmup": "5s",
    "clients": {
        "count": 3000,
        "connect_ramp": "3s",
        "reconnect": {"strategy": "full_jitter", "base": "1s", "cap": "8s"},
        "resume": True,
        "rooms": {"count": 300, "per_client": 2},
        "publish_rate": "30/min",
    },
    "gateways": {"count": 3},
    "backplane": {"kind": "redis_streams", "topology": "channel_per_room", "replay": {"max_age": "6s"}},
    "simulation": {"fanout": "batched"},
    "faults": [
        {"kind": "gateway_crash", "at": "15s", "gateway": 0, "count": 1},
        {"kind": "backplane_outage", "at": "28s", "duration": "2s"},
    ],
}


def metrics(monkeypatch: pytest.MonkeyPatch, columns: bool) -> dict[str, float]:
    if not columns:  # every publication appended to a buffer per room, as the exact path does
        init = history.History.__init__
        monkeypatch.setattr(history.History, "__init__", lambda h, w, batched=False: init(h, w, False))
    return simulate(load_config(FLEET)).metrics


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_windows_kept_as_columns_answer_every_resume_as_buffers_do(monkeypatch) -> None:
    cols = metrics(monkeypatch, columns=True)
    bufs = metrics(monkeypatch, columns=False)
    assert cols["messages_replayed"] > 0 and cols["replay_misses"] > 0  # both answers exercised
    assert {k: v for k, v in cols.items() if not same(v, bufs[k])} == {}
