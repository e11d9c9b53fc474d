"""Shared pieces of the harness-level live tests: server availability and ground truth from the logs."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pandas as pd
import pytest

from reference_impl.driver.accounting import Ledger

SERVER = {
    "redis_pubsub": ("WSSIM_REDIS_URL", "redis-server"),
    "redis_streams": ("WSSIM_REDIS_URL", "redis-server"),
    "nats": ("WSSIM_NATS_URL", "nats-server"),
    "jetstream": ("WSSIM_NATS_URL", "nats-server"),
}


def need_server(kind: str) -> None:
    """Skip (fail under CI) when neither a URL nor the server binary is available for ``kind``."""
    if kind not in SERVER:
        return
    var, binary = SERVER[kind]
    if os.environ.get(var) or shutil.which(binary):
        return
    reason = f"{binary} not on PATH and {var} not set: install {binary} or point {var} at a server"
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def crash_config(kind: str, **clients: Any) -> dict[str, Any]:
    """A short run: 120 clients in 8 rooms, gateway g1 killed at 2.5 s for good, publishing paused around
    the crash and around the reconnects (2 s constant backoff), so the messages published while the
    crashed gateway's clients were away are exactly those of [2.9 s, 3.7 s)."""
    base = {
        "count": 120,
        "connect_ramp": "1s",
        "publish_rate": "0.5/s",
        "reconnect": {"strategy": "constant", "base": "2s", "cap": "2s"},
        "rooms": {"count": 8, "per_client": 2},
    }
    base.update(clients)
    return {
        "name": f"crash-{kind}",
        "seed": 11,
        "duration": "6s",
        "clients": base,
        "gateways": {"count": 3, "keepalive": {"ping_interval": "5s"}},
        "backplane": {"kind": kind},
        "faults": [
            {"kind": "gateway_crash", "at": "2.5s", "gateway": 1, "restart": False},
            {"kind": "spike", "at": "2.1s", "duration": "0.8s", "publish_multiplier": 0},
            {"kind": "spike", "at": "3.7s", "duration": "1.8s", "publish_multiplier": 0},
        ],
    }


def away_truth(ledger: Ledger, rooms: dict[int, list[str]]) -> tuple[pd.Series, int]:
    """From the publishers' own log: per client, messages of its rooms published while it was away
    (after its first disconnect, before its re-subscription to that room). Also the number of clients
    that were disconnected."""
    ev, pub = ledger.events, ledger.published
    closes = ev[ev["kind"] == "close"].groupby("cid")["t"].min()
    subs = ev[ev["kind"] == "sub"]
    truth = {}
    for cid, t_close in closes.items():
        n = 0
        for room in rooms[int(cid)]:
            back = subs[(subs["cid"] == cid) & (subs["detail"] == room) & (subs["t"] > t_close)]["t"]
            t_back = back.min() if len(back) else float("inf")
            n += int(((pub["room"] == room) & (pub["ts"] > t_close) & (pub["ts"] < t_back)).sum())
        truth[int(cid)] = n
    return pd.Series(truth, dtype="int64"), len(closes)
