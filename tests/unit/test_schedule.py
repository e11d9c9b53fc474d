"""Schedules: what the simulator drew, written to a file, read back as the live harness's plans."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reference_impl.driver import accounting
from reference_impl.driver.harness import LiveRun, scheduled_plans
from reference_impl.driver.loadgen import room_name
from reference_impl.system.event_log import ACCEPT, CLOSE, RECORD
from wssim.config import load_config
from wssim.crosscheck import point_key
from wssim.metrics import Recorder
from wssim.schedule import Schedule, ScheduleError
from wssim.sim import simulate


def config(**extra):
    return load_config(
        {
            "name": "sched",
            "seed": 5,
            "duration": "30s",
            "interval": "100ms",
            "clients": {
                "count": 200,
                "connect_ramp": "2s",
                "rooms": {"count": 12, "per_client": 2},
                "publish_rate": "2/min",
                "offline": {"rate": "4/min", "mean": "2s", "half_open_fraction": 0.25},
                "slow_consumers": {"fraction": 0.1},
            },
            "gateways": {"count": 3},
            "backplane": {"kind": "redis_streams"},
            "faults": [
                {"kind": "gateway_crash", "at": "10s"},
                {"kind": "spike", "at": "20s", "duration": "2s", "connect_clients": 10},
            ],
            **extra,
        }
    )


def test_the_schedule_holds_exactly_what_the_run_drew(tmp_path):
    cfg = config()
    r = simulate(cfg, 1, schedule_to=tmp_path / "s.npz")
    s = Schedule.read(tmp_path / "s.npz")
    m = r.metrics
    assert s.header["replication"] == 1 and s.header["scenario"] == "sched"
    assert len(s.publish_time) == m["messages_published"] > 0
    assert np.all(np.diff(s.publish_time) >= 0) and s.publish_room.max() < 12
    assert len(s.offline_client) == m["offline_periods"] > 0
    assert s.offline_half_open.sum() == m["half_open_disappearances"]
    assert s.clients == 210 and s.rooms.shape == (210, 2) and s.slow.sum() > 0
    assert np.isfinite(s.connect_at).all() and (s.connect_at[200:] >= 20).all()
    crash = s.faults[0]
    assert crash["kind"] == "gateway_crash" and crash["at"] == 10 and len(crash["targets"]) == 1
    again = tmp_path / "again.npz"
    simulate(cfg, 1, schedule_to=again)  # same seed, same replication: the same schedule
    assert np.array_equal(Schedule.read(again).publish_time, s.publish_time)


def test_the_live_harness_plans_the_schedule(tmp_path):
    cfg = config()
    simulate(cfg, 0, schedule_to=tmp_path / "s.npz")
    s = Schedule.read(tmp_path / "s.npz")
    s.check_fits(cfg)
    plans = {p.cid: p for p in scheduled_plans(s)}
    assert len(plans) == 210
    for cid in (0, 57, 205):
        p = plans[cid]
        assert p.rooms == [room_name(r) for r in s.rooms[cid]]
        assert p.connect_at == s.connect_at[cid] and p.slow == s.slow[cid]
        assert p.offline == s.offline_of(cid)
    run = LiveRun(cfg, 0, tmp_path, None, s)
    assert run.plan_clients()[0] == scheduled_plans(s)
    names = ["g0", "g1", "g2"]
    assert run.fault_targets(names)[0] == [names[t] for t in s.faults[0]["targets"]]
    assert run.fault_targets(names)[0] == LiveRun(cfg, 0, tmp_path, None).fault_targets(names)[0]


def test_a_schedule_of_another_shape_or_format_is_refused(tmp_path):
    simulate(config(), 0, schedule_to=tmp_path / "s.npz")
    s = Schedule.read(tmp_path / "s.npz")
    with pytest.raises(ScheduleError, match="210 clients, the config has 200"):
        s.check_fits(load_config({"clients": {"count": 200, "rooms": {"count": 12, "per_client": 2}}}))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ScheduleError, match="cannot be read"):
        Schedule.read(tmp_path / "bad.npz")


def test_an_event_on_a_bin_edge_starts_the_later_bin_in_both_engines():
    """5.0 // 0.1 == 49.0 in floating point: a crash at 5 s had its herd binned at 4.9 s."""
    rec = Recorder(interval=0.1)
    rec.rate("x", 5.0)
    rec.rate("x", 0.3)  # 0.3 / 0.1 < 3 in floating point
    assert rec.rate_series("x") == {50: 1.0, 3: 1.0}
    herd = {
        "duration": "8s",
        "interval": "100ms",
        "clients": {"count": 50, "connect_ramp": "1s", "reconnect": {"strategy": "none"}},
        "gateways": {"count": 2, "handshake_cost": "1us"},
        "edge": {"health_check": None},  # the balancer drops the crashed gateway at once
        "faults": [{"kind": "gateway_crash", "at": "5s", "gateway": 0}],
    }
    ts = simulate(load_config(herd)).timeseries
    attempts = ts[(ts["series"] == "connect_attempts") & (ts["time"] > 4)]
    assert attempts["time"].round(6).tolist() == [5.0]


def test_live_connections_are_counted_at_the_gateways_and_a_kill_drops_them(tmp_path):
    """Gateway g0 accepts 3 connections and closes one; it is killed at 6 s; g1 accepts 2 at 6.5 s."""
    t0 = 1000.0
    logs = {("g0", 0): tmp_path / "g0", ("g1", 0): tmp_path / "g1"}
    g0 = ((0.3, ACCEPT), (0.31, ACCEPT), (5.0, ACCEPT), (5.5, CLOSE))
    logs[("g0", 0)].write_bytes(b"".join(RECORD.pack(t0 + t, k) for t, k in g0))
    logs[("g1", 0)].write_bytes(b"".join(RECORD.pack(t0 + 6.5, ACCEPT) for _ in range(2)))
    events = accounting.gateway_events(logs, {("g0", 0): t0 + 6.0})
    rec = Recorder(interval=0.1)
    accounting.record_gateways(events, rec, t0, 1.0, duration=8.0)
    m = rec.summary()
    assert rec.rate_series("handshakes") == {3: 2.0, 50: 1.0, 65: 2.0}
    assert m["connections_peak"] == 3 and m["connections_end"] == 2


def test_live_herd_convergence_waits_for_the_clients_the_crash_cut():
    """Clients 1 and 2 are cut by the kill at 6 s and reopen at 6.5 s and 7.25 s; client 3 goes offline
    then, client 4 is new: neither belongs to the herd, however early they open."""
    rows = [
        (1, 1.0, "open", None), (2, 1.0, "open", None), (3, 1.0, "open", None),
        (1, 6.01, "close", 1006), (2, 6.02, "close", "ConnectionClosedError"), (3, 6.05, "close", "offline"),
        (4, 6.1, "open", None), (3, 6.2, "open", None), (1, 6.5, "open", None), (2, 7.25, "open", None),
    ]  # fmt: skip
    events = pd.DataFrame(rows, columns=["cid", "t", "kind", "detail"])
    assert accounting.herd_convergence(events, 6.0) == pytest.approx(1.25)
    assert math.isnan(accounting.herd_convergence(events[events["t"] < 7.0], 6.0))  # client 2 never back


def test_live_moved_fraction_counts_the_clients_that_came_back_after_the_pool_change():
    """The change is at 5 s. Client 1 returns to g0 (stayed), 2 returns to g3 (moved); 3 was in an
    offline episode at the change (its close is logged at the episode's end) and 4 opened only after
    it: neither held a connection then. Client 5 held one and never came back."""
    rows = [
        (1, 1.0, "open", "g0"), (2, 1.0, "open", "g1"), (3, 1.0, "open", "g2"), (5, 1.0, "open", "g2"),
        (3, 4.0, "offline", 2.0), (3, 6.0, "close", "offline"), (3, 6.5, "open", "g3"),
        (1, 6.0, "close", "offline"), (2, 6.1, "close", 1006), (4, 6.2, "open", "g3"),
        (2, 6.4, "open", "g3"), (1, 6.6, "open", "g0"), (1, 8.0, "close", 1001), (1, 8.5, "open", "g3"),
    ]  # fmt: skip
    events = pd.DataFrame(rows, columns=["cid", "t", "kind", "detail"])
    assert accounting.moved_after(events, 5.0) == (1, 2)  # the first return counts, not a later one
    assert accounting.moved_after(events, 0.5) == (0, 0)


def test_each_sweep_point_has_its_own_schedule_key():
    cfg = load_config("crosscheck/semantics")
    points = [load_config(cfg.without_sweep().model_dump(mode="json"), [f"backplane.kind={k}"])
              for k in ("redis_pubsub", "jetstream")]  # fmt: skip
    keys = {point_key(p, ("backplane.kind",)) for p in points}
    assert len(keys) == 2 and point_key(points[0], ()) == point_key(points[1], ())


def test_a_quiet_window_holds_no_publication(tmp_path):
    """A publication drawn before a rate change used to land after it, inside a quiet window."""
    quiet = [
        {"kind": "spike", "at": f"{a}s", "duration": "300ms", "publish_multiplier": 0} for a in (10, 15, 20)
    ]
    cfg = config(faults=quiet)
    simulate(cfg, 0, schedule_to=tmp_path / "s.npz")
    t = Schedule.read(tmp_path / "s.npz").publish_time
    assert len(t) > 100
    assert not any(a <= x < a + 0.3 for x in t for a in (10, 15, 20))
