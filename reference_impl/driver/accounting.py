"""Turn the load generator's records into the shared metrics: what was owed, delivered, lost, duplicated.

Ground truth is the publishers' log. A client is owed every message published to one of its rooms
after its first subscription to that room: when the backplane numbers messages (``epoch``, ``offset``)
that is "offset above the offset in the ``subscribed`` reply, same epoch"; otherwise (or for another
epoch) "published at or after the subscription time". A client that never got subscribed is owed
everything published after its planned connect time. Then:

* ``deliveries_expected`` = Σ owed; ``deliveries_delivered`` = owed messages received at least once;
* ``messages_lost`` = expected − delivered (a permanent gap, after every resume and replay);
* ``messages_duplicated`` = message frames received beyond the first copy of each (client, message);
* latency = first receipt − publish timestamp (wall-clock seconds), owed messages only.

Order is checked per (client, room): after dropping repeated ids, offsets of one epoch must increase.

The connections held (sampled per gateway as the simulator samples them), the handshake rate, the
herd's convergence and the first slow-consumer disconnect come from the gateways' event logs instead
(:func:`record_gateways`): the simulator counts them at its gateways, and a client's view lags its
gateway's by its own event loop's delay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reference_impl.driver.loadgen import ClientPlan, WorkerRecord
from reference_impl.system.event_log import (
    ACCEPT,
    BACKPLANE_CUT,
    BACKPLANE_RESTORED,
    CLOSE,
    SLOW_DISCONNECT,
    read_events,
)
from wssim.metrics import BIN_EPSILON, Recorder, bin_indices


@dataclass
class Ledger:
    """The merged records of one live run and the per-client accounting."""

    published: pd.DataFrame  # mid, room, ts, epoch, off
    received: pd.DataFrame  # cid, mid, room, off, epoch, t, ts
    events: pd.DataFrame  # cid, t, kind, detail
    owed: pd.DataFrame  # cid, room, owed, got  (one row per client x room)
    subscriptions: pd.DataFrame = field(default_factory=pd.DataFrame)  # first subscribed reply per pair
    counters: dict[str, float] = field(default_factory=dict)
    order_violations: int = 0
    assignments: dict[str, str] = field(default_factory=dict)  # routing key -> gateway, latest connection
    latency: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # (publish ts, first receipt)
    errors: list[str] = field(default_factory=list)

    @property
    def lost_by_client(self) -> pd.Series:
        """Messages each client never received (owed − got), indexed by client id."""
        frame = self.owed.assign(lost=self.owed["owed"] - self.owed["got"])
        return frame.groupby("cid")["lost"].sum()

    @property
    def duplicates(self) -> int:
        return int(len(self.received) - len(self.received.drop_duplicates(["cid", "mid"])))


def _concat(records: list[WorkerRecord]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    recv, pub, ev, subs = [], [], [], []
    for r in records:
        rooms = np.asarray([*r.rooms, ""], dtype=object)
        epochs = np.asarray([*r.epochs, ""], dtype=object)
        recv.append(
            pd.DataFrame(
                {
                    "cid": np.asarray(r.r_cid, dtype=np.int64),
                    "mid": np.asarray(r.r_mid, dtype=np.int64),
                    "room": rooms[np.asarray(r.r_room, dtype=np.int64)],
                    "off": np.asarray(r.r_off, dtype=np.int64),
                    "epoch": epochs[np.asarray(r.r_epoch, dtype=np.int64)],
                    "t": np.asarray(r.r_t, dtype=float),
                    "ts": np.asarray(r.r_ts, dtype=float),
                }
            )
        )
        pub.append(
            pd.DataFrame(
                {
                    "mid": np.asarray(r.p_mid, dtype=np.int64),
                    "room": rooms[np.asarray(r.p_room, dtype=np.int64)],
                    "ts": np.asarray(r.p_ts, dtype=float),
                    "epoch": epochs[np.asarray(r.p_epoch, dtype=np.int64)],  # -1 -> ""
                    "off": np.asarray(r.p_off, dtype=np.int64),
                }
            )
        )
        ev.append(pd.DataFrame(r.events, columns=["cid", "t", "kind", "detail"]))
        subs.extend(
            (cid, r.rooms[rix], t, r.epochs[eix], off) for (cid, rix), (t, eix, off) in r.subscribed.items()
        )
    sub_frame = pd.DataFrame(subs, columns=["cid", "room", "sub_t", "sub_epoch", "sub_off"])
    sub_frame = sub_frame.sort_values("sub_t").drop_duplicates(["cid", "room"])
    return (
        pd.concat(recv, ignore_index=True),
        pd.concat(pub, ignore_index=True),
        pd.concat(ev, ignore_index=True),
        sub_frame,
    )


def _owed_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows (message x client subscription) the client is owed."""
    by_offset = (frame["off"].to_numpy() >= 0) & (frame["epoch"].to_numpy() == frame["sub_epoch"].to_numpy())
    after_off = frame["off"].to_numpy() > frame["sub_off"].to_numpy()
    after_t = frame["ts"].to_numpy() >= frame["start"].to_numpy()
    return np.where(by_offset, after_off, after_t)


def build_ledger(
    records: list[WorkerRecord], clients: list[ClientPlan], t0: float, time_scale: float
) -> Ledger:
    """Merge the workers' records and account for every (client, room)."""
    received, published, events, subs = _concat(records)
    if not published.empty and (published["off"] < 0).all():
        # published through client sockets: only a message somebody received surely reached the backplane
        published = published[published["mid"].isin(received["mid"])]
    pairs = pd.DataFrame(
        [(c.cid, r, t0 + c.connect_at * time_scale) for c in clients for r in c.rooms],
        columns=["cid", "room", "plan_t"],
    )
    pairs = pairs.merge(subs, on=["cid", "room"], how="left")
    pairs["start"] = pairs["sub_t"].fillna(pairs["plan_t"])
    pairs["sub_epoch"] = pairs["sub_epoch"].fillna("")
    pairs["sub_off"] = pairs["sub_off"].fillna(np.iinfo(np.int64).max).astype(np.int64)
    # owed: every (client subscription, published message of that room) pair that qualifies
    cross = pairs.merge(published, on="room", how="inner")
    cross = cross[_owed_mask(cross)]
    owed_n = cross.groupby(["cid", "room"]).size().rename("owed")
    # received at least once, among the owed
    first = received.sort_values("t", kind="stable").drop_duplicates(["cid", "mid"])
    got = cross[["cid", "room", "mid", "ts"]].merge(
        first[["cid", "mid", "t"]], on=["cid", "mid"], how="inner"
    )
    got_n = got.groupby(["cid", "room"]).size().rename("got")
    owed = pairs[["cid", "room"]].merge(owed_n, on=["cid", "room"], how="left")
    owed = owed.merge(got_n, on=["cid", "room"], how="left").fillna({"owed": 0, "got": 0})
    owed[["owed", "got"]] = owed[["owed", "got"]].astype(np.int64)
    # order: within a (client, room, epoch), deduplicated offsets must increase in receipt order
    violations = 0
    if not first.empty:
        ordered = first.sort_values(["cid", "room", "t"], kind="stable")
        step = ordered.groupby(["cid", "room", "epoch"])["off"].diff()
        violations = int((step <= 0).sum())
    ledger = Ledger(published, received, events, owed, subscriptions=subs, order_violations=violations)
    ledger.counters["latency_samples"] = float(len(got))
    ledger.latency = got[["ts", "t"]].to_numpy()
    for r in records:
        for k, v in r.counters.items():
            ledger.counters[k] = ledger.counters.get(k, 0.0) + v
        if r.error:
            ledger.errors.append(f"worker {r.index}: {r.error}")
    return ledger


def gateway_events(logs: dict[tuple[str, int], Path], kills: dict[tuple[str, int], float]) -> pd.DataFrame:
    """Every gateway process's logged events, merged: ``t`` (wall), ``kind``, ``delta`` (connections).

    An accept adds one connection, a close removes one; a process killed at ``kills[(name, instance)]``
    loses every connection it still held at that moment (one row with the negative count, ``kind`` 0).
    """
    frames = []
    for key, path in logs.items():
        rows = read_events(path) if path.exists() else []
        ev = pd.DataFrame(rows, columns=["t", "kind"]).astype({"t": float, "kind": np.int64})
        ev["delta"] = np.select([ev["kind"] == ACCEPT, ev["kind"] == CLOSE], [1, -1], 0)
        if key in kills:
            held = int(ev.loc[ev["t"] <= kills[key], "delta"].sum())
            ev = pd.concat(
                [ev[ev["t"] <= kills[key]], pd.DataFrame({"t": [kills[key]], "kind": [0], "delta": [-held]})]
            )
        frames.append(ev.assign(gateway=key[0], instance=key[1]))
    if not frames:
        return pd.DataFrame(columns=["t", "kind", "delta", "gateway", "instance"])
    return pd.concat(frames, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)


def herd_convergence(events: pd.DataFrame, at: float, window: float = 1.0) -> float:
    """Wall seconds from the crash at ``at`` until the last client it cut holds a connection again.

    The simulator's definition, from the load generators' connection events (``cid``, ``t``, ``kind``,
    ``detail``): the herd is the clients whose connection closed within ``window`` wall seconds of the
    kill (not for an offline episode); the clock stops at the last one's first ``open`` after it. NaN
    without a herd, or when one of them never connected again.
    """
    if events.empty:
        return float("nan")
    kind, t = events["kind"].to_numpy(), events["t"].to_numpy(dtype=float)
    cut = (kind == "close") & (t >= at) & (t <= at + window) & (events["detail"].astype(str) != "offline")
    herd = set(events.loc[cut, "cid"].tolist())
    if not herd:
        return float("nan")
    opens = events[(kind == "open") & (t > at) & events["cid"].isin(herd)]
    first = opens.groupby("cid")["t"].min()
    if len(first) < len(herd):
        return float("nan")
    return float(first.max() - at)


def moved_after(events: pd.DataFrame, at: float) -> tuple[int, int]:
    """(moved, reconnected) for a change of the gateway pool at wall time ``at``.

    The simulator's definition, from the load generators' connection events (``open`` with the gateway
    that accepted it as ``detail``): the clients whose last event before ``at`` was an ``open`` held a
    connection then; of those that opened one again after ``at`` (``reconnected``), ``moved`` landed on
    another gateway than the one they held.
    """
    if events.empty:
        return 0, 0
    conn = events[events["kind"].isin(["open", "close", "offline"])].sort_values("t", kind="stable")
    t = conn["t"].to_numpy(dtype=float)
    last = conn[t < at].drop_duplicates("cid", keep="last")
    held = last[last["kind"] == "open"].set_index("cid")["detail"]
    opens = conn[(conn["kind"] == "open").to_numpy() & (t > at)].drop_duplicates("cid")
    back = opens[opens["cid"].isin(held.index)].set_index("cid")["detail"]
    return int((back != held[back.index]).sum()), len(back)


def _rate(rec: Recorder, series: str, t: np.ndarray) -> None:
    """Bin scenario times ``t`` into a rate series (one call per bin, not per event)."""
    if len(t) == 0:
        return
    bins, counts = np.unique(bin_indices(t, rec.interval), return_counts=True)
    for b, n in zip(bins, counts, strict=True):
        rec.rate(series, float(b) * rec.interval, float(n))


def record(ledger: Ledger, rec: Recorder, t0: float, time_scale: float) -> None:
    """Feed the shared recorder with what the clients saw (scenario seconds for time series; latencies
    in wall seconds). The connection level and handshakes are the gateways': :func:`record_gateways`."""

    def scn(t: np.ndarray | float) -> np.ndarray:
        return (np.asarray(t, dtype=float) - t0) / time_scale

    owed = ledger.owed
    rec.count("messages_published", float(len(ledger.published)))
    rec.count("deliveries_expected", float(owed["owed"].sum()))
    rec.count("deliveries_delivered", float(owed["got"].sum()))
    rec.count("messages_lost", float((owed["owed"] - owed["got"]).sum()))
    rec.count("messages_duplicated", float(ledger.duplicates))
    c = ledger.counters
    for name in ("reconnect_attempts", "resume_attempts", "replay_hits", "replay_misses", "resyncs"):
        rec.count(name, c.get(name, 0.0))
    rec.count("order_violations", float(ledger.order_violations))
    rec.count("gap_notices", c.get("gap_notices", 0.0))
    rec.count("messages_replayed", c.get("replayed", 0.0))
    rec.count("publishes_failed", c.get("publish_errors", 0.0))
    rec.count("half_open_disappearances", c.get("half_open", 0.0))
    rec.count("client_gaps", c.get("client_gaps", 0.0))  # offset gaps clients saw and resumed from
    # replayed frames a gap-resuming client already held (dropped by offset, not in messages_duplicated)
    rec.count("messages_redelivered", c.get("redelivered", 0.0))
    rec.count("snapshot_bytes", c.get("snapshot_bytes", 0.0))
    rec.count("snapshot_seconds", c.get("snapshot_seconds", 0.0))
    lat = ledger.latency
    if len(lat):  # messages published during warm-up are left out, as the simulator does
        keep = scn(lat[:, 0]) >= rec.warmup
        rec.observe_many("latency", lat[keep, 1] - lat[keep, 0])
    ev = ledger.events
    kinds = ev["kind"].to_numpy()
    _rate(rec, "connect_attempts", scn(ev.loc[kinds == "attempt", "t"].to_numpy()))
    attempts = ev[kinds == "attempt"]
    later = attempts[attempts.duplicated("cid")]  # reconnects: attempts that are not a client's first
    _rate(rec, "reconnects", scn(later["t"].to_numpy()))
    _rate(rec, "deliveries", scn(ledger.received["t"].to_numpy()))
    rec.count("connect_actions", float(len(attempts)))
    rejects = ev[kinds == "reject"]
    rec.count("admission_rejections", float((rejects["detail"] == 503).sum()))
    rec.count("clients_gave_up", float((kinds == "give_up").sum()))
    rec.count("offline_periods", float((kinds == "offline").sum()))
    closes = ev[kinds == "close"]
    rec.count("drain_closes", float((closes["detail"] == 1001).sum()))
    rec.set("peak_connect_attempt_rate", rec.peak_rate("connect_attempts"))


def sample_connections(rec: Recorder, changes: pd.DataFrame, scn: Any, duration: float) -> None:
    """The connections held, sampled as the simulator samples them: each gateway's at every interval's
    start (the ``connections`` series), the fleet's mean over the samples from the warm-up on and its
    level at the end."""
    step = rec.interval
    grid = np.arange(0, int(np.floor(duration / step + BIN_EPSILON)) + 1) * step
    fleet = np.zeros(len(grid))
    for name, part in changes.groupby("gateway"):
        at = np.searchsorted(scn(part["t"].to_numpy()), grid, side="right")
        level = np.concatenate(([0], np.cumsum(part["delta"].to_numpy())))[at]
        fleet += level
        for t, n in zip(grid, level, strict=True):
            rec.gauge("connections", float(t), float(n), label=str(name).removeprefix("g"))
    kept = grid >= rec.warmup
    rec.set("connections_mean", float(fleet[kept].mean()) if kept.any() else 0.0)
    st = scn(changes["t"].to_numpy())
    end = int(np.searchsorted(st, duration, side="right"))
    rec.set("connections_end", float(np.cumsum(changes["delta"].to_numpy())[end - 1]) if end else 0.0)


def record_gateways(
    events: pd.DataFrame,
    rec: Recorder,
    t0: float,
    time_scale: float,
    duration: float | None = None,
) -> None:
    """Feed the recorder with what the gateways logged, measured where the simulator measures it.

    Handshakes are counted when a gateway completes one (the simulator: when its accept queue has
    served it); the connections held are accepts − closes − what a killed gateway held (the herd's
    convergence is measured at the clients: :func:`herd_convergence`).
    """
    scn = lambda t: (np.asarray(t, dtype=float) - t0) / time_scale  # noqa: E731
    kinds = events["kind"].to_numpy()
    _rate(rec, "handshakes", scn(events.loc[kinds == ACCEPT, "t"].to_numpy()))
    for name, kind in (
        ("backplane_cut_at_s", BACKPLANE_CUT),
        ("backplane_restored_at_s", BACKPLANE_RESTORED),
    ):
        at = events.loc[kinds == kind, "t"].to_numpy()
        if len(at):  # the first subscription outage, as the gateway saw it
            rec.set(name, float(scn(at.min())))
    slow = events.loc[kinds == SLOW_DISCONNECT, "t"].to_numpy()
    if len(slow):
        rec.set("first_slow_consumer_disconnect_s", float(scn(slow.min())))
    changes = events[events["delta"] != 0]
    level = np.cumsum(changes["delta"].to_numpy())
    rec.peak("connections_peak", float(level.max()) if len(level) else 0.0)
    if duration:
        sample_connections(rec, changes, scn, duration)
