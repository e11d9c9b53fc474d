"""The gateway's CPU: exact traces of tiny configs, and the issue's big room through the command line.

A publication reaching a gateway is one CPU job of ``backplane_message + members × (frame + per_byte
× size)`` CPU-seconds on ``cores``; handshakes share the same queue.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wssim.config import load_config
from wssim.sim.simulate import build_world

FRAME, PER_BYTE, MESSAGE, SIZE = 10e-6, 1e-9, 5e-6, 100
WRITE = FRAME + PER_BYTE * SIZE  # CPU-seconds per member


def tiny(clients: int = 3, cores: int = 1, **gateways) -> object:
    return load_config(
        {
            "name": "cpu-trace",
            "duration": 20,
            "clients": {"count": clients, "connect_ramp": 1, "rooms": {"count": 1}, "message_size": SIZE},
            "gateways": {
                "count": 1,
                "handshake_cost": 0.001,
                "keepalive": {"ping_interval": None},
                "cpu": {"cores": cores, "frame": FRAME, "per_byte": PER_BYTE, "backplane_message": MESSAGE},
                **gateways,
            },
            "edge": {"idle_timeout": None},
            "backplane": {"kind": "in_memory"},
        }
    )


def test_a_publication_is_one_job_for_every_local_member():
    """3 members: the job takes MESSAGE + 3 × WRITE; the latency samples sit inside it."""
    w = build_world(tiny())
    w.env.run(until=5)
    g = w.gateways[0]
    w.backplane.publish(0, w.env.now, 0)
    assert g.cpu.free_at == pytest.approx(5 + MESSAGE + 3 * WRITE, abs=1e-12)
    w.env.run(until=6)
    w.observer.finish()
    m = w.rec.summary()
    assert m["deliveries_delivered"] == 3
    assert MESSAGE < m["latency_p50_s"] <= MESSAGE + 3 * WRITE
    assert m["gateway_cpu_wait_mean_s"] == 0.0


def test_jobs_queue_fifo_and_cores_share_the_work():
    """Two publications at once: the second waits for the first; two cores halve both."""
    for cores in (1, 2):
        w = build_world(tiny(cores=cores))
        w.env.run(until=5)
        w.backplane.publish(0, 5.0, 0)
        w.backplane.publish(0, 5.0, 0)
        job = (MESSAGE + 3 * WRITE) / cores
        assert w.gateways[0].cpu.free_at == pytest.approx(5 + 2 * job, abs=1e-12)
        w.env.run(until=6)
        w.observer.finish()
        assert w.rec.summary()["gateway_cpu_wait_mean_s"] == pytest.approx(job / 2, abs=1e-12)


def test_a_publication_delays_the_handshakes_behind_it():
    """A 1,000-member job of ~10 ms runs when a client connects: its handshake waits for it."""
    w = build_world(tiny(clients=1000))
    w.env.run(until=5)
    job = MESSAGE + 1000 * WRITE
    w.backplane.publish(0, 5.0, 0)
    _, done = w.gateways[0].accept(999, 5.0)
    assert done == pytest.approx(5.0 + job + 0.001, abs=1e-12)


def test_frames_waiting_for_the_cpu_are_in_memory_until_written():
    """Three publications at once: the first is written at once, the frames of the two behind it wait
    in memory until each is written."""
    w = build_world(tiny(clients=1000))
    w.env.run(until=5)
    g = w.gateways[0]
    job = MESSAGE + 1000 * WRITE
    before = g.memory_used()
    for _ in range(3):
        w.backplane.publish(0, 5.0, 0)
    assert g.memory_used() - before == 2 * 1000 * SIZE
    w.env.run(until=5 + 2.5 * job)
    assert g.memory_used() - before == 1000 * SIZE  # the second is written
    w.env.run(until=6)
    assert g.memory_used() == before


@pytest.mark.parametrize(("policy", "lost", "disconnects"), [("drop_newest", 3, 0), ("disconnect", 0, 3)])
def test_a_backlog_past_the_send_queue_bound_meets_the_overflow_policy(policy, lost, disconnects):
    """Bound 2 messages: the third publication queued for the CPU overflows for every member."""
    send_queue = {"limit": 2, "overflow": policy, "gap_notice": False}
    w = build_world(tiny(send_queue=send_queue, handshake_cost=0.0))
    w.env.run(until=5)
    for _ in range(3):
        w.backplane.publish(0, 5.0, 0)
    m = w.rec.summary()
    assert m["messages_dropped_overflow"] == lost
    assert m["messages_lost"] == lost
    assert m["slow_consumer_disconnects"] == disconnects


def test_compression_shrinks_bytes_and_costs_cpu_per_byte():
    comp = {"enabled": True, "ratio": 0.5, "memory": "30KiB"}
    plain, deflated = build_world(tiny()), build_world(tiny(compression=comp))
    assert deflated.fanout.wire == SIZE // 2
    deflate = deflated.cfg.gateways.cpu.deflate_per_byte
    assert deflated.fanout.write == pytest.approx(FRAME + PER_BYTE * SIZE / 2 + deflate * SIZE)
    assert deflated.conn_bytes - plain.conn_bytes == 30 * 1024


def test_tls_at_the_gateway_costs_a_full_handshake_then_a_resumed_one():
    cpu = {"frame": 0, "backplane_message": 0, "tls_full": 0.002, "tls_resumed": 0.0005}
    for layer, first, again in (("L4", 0.003, 0.0015), ("L7", 0.001, 0.001)):
        cfg = load_config(
            {
                "name": "tls",
                "clients": {"count": 1},
                "gateways": {"count": 1, "handshake_cost": 0.001, "cpu": cpu},
                "edge": {"layer": layer, "tls_handshake_cost": 0},
            }
        )
        g = build_world(cfg).gateways[0]
        assert g.accept(0, 100.0)[1] == pytest.approx(100.0 + first)
        assert g.accept(0, 200.0, resumed=True)[1] == pytest.approx(200.0 + again)


# -- the finding: one 5,000-member room on one gateway, through the command line ----------------

MEMBERS = 5000


def big_room(tmp_path: Path, rho: float, duration: int) -> dict[str, float]:
    """``wssim run`` of one room of 5,000 members on one gateway at utilisation ``rho`` (periodic
    publications, no pings): the summary row."""
    cfg = load_config("quickstart")
    cpu = cfg.gateways.cpu
    job = cpu.backplane_message + MEMBERS * (cpu.frame + cpu.per_byte * SIZE)
    per_client = rho / job / MEMBERS
    config = {
        "name": "big-room",
        "seed": 3,
        "duration": f"{duration}s",
        "warmup": "5s",
        "clients": {
            "count": MEMBERS,
            "connect_ramp": "1s",
            "rooms": {"count": 1},
            "publish_rate": per_client,
            "publish_arrivals": "periodic",
            "message_size": f"{SIZE}B",
        },
        "gateways": {"count": 1, "keepalive": {"ping_interval": None}},
        "edge": {"idle_timeout": None},
        "backplane": {"kind": "in_memory"},
    }
    path = tmp_path / f"big-{rho}-{duration}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / f"run-{rho}-{duration}"
    proc = subprocess.run(
        [sys.executable, "-m", "wssim", "run", str(path), "--out", str(out), "--replications", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    row = next(csv.DictReader((out / "summary.csv").open()))
    return {k: float(v) for k, v in row.items() if k in METRICS_READ} | {"job": job}


METRICS_READ = (
    "gateway_cpu_utilisation_peak",
    "gateway_cpu_backlog_s_max",
    "latency_p99_s",
    "cpu_saturated_s",
)


@pytest.mark.slow
def test_a_big_room_saturates_where_frame_cost_times_members_times_rate_reaches_the_cores(tmp_path):
    """Below ρ = 1 a publication never waits: latency within one job; above, the backlog grows by
    ρ − 1 seconds per second and the latency with it, without bound."""
    below = big_room(tmp_path, 0.5, 20)
    job = below["job"]
    assert below["gateway_cpu_backlog_s_max"] < job  # nothing waits behind a publication
    assert below["latency_p99_s"] <= job
    assert below["cpu_saturated_s"] == 0
    short, long = big_room(tmp_path, 1.5, 20), big_room(tmp_path, 1.5, 40)
    assert short["gateway_cpu_utilisation_peak"] == pytest.approx(1.0)
    # Deterministic arrivals: after t seconds of publishing the backlog is (ρ − 1)·t, within one job.
    grown = long["gateway_cpu_backlog_s_max"] - short["gateway_cpu_backlog_s_max"]
    assert grown == pytest.approx(0.5 * 20, abs=2 * job)
    assert long["latency_p99_s"] > short["latency_p99_s"] + 0.5 * 10
    assert long["cpu_saturated_s"] >= 40 - 5 - 2  # saturated from the first publications on


def test_a_gateway_pays_to_read_what_it_discards():
    """Broadcast: the gateway without a member of the room still reads the message (one
    backplane_message of CPU); with a channel per room it never gets it."""
    for topology, g1_busy in (("broadcast", MESSAGE), ("channel_per_room", 0.0)):
        cfg = load_config(
            {
                "name": "discard",
                "clients": {"count": 1, "connect_ramp": 1, "rooms": {"count": 1}},
                "gateways": {
                    "count": 2,
                    "handshake_cost": 0.001,
                    "keepalive": {"ping_interval": None},
                    "cpu": {"frame": FRAME, "per_byte": 0, "backplane_message": MESSAGE},
                },
                "edge": {"idle_timeout": None, "balancer": "round_robin"},
                "backplane": {"kind": "in_memory", "topology": topology, "interest_routing": True},
            }
        )
        w = build_world(cfg)
        w.env.run(until=5)
        w.backplane.publish(0, 5.0, 0)
        g0, g1 = w.gateways
        assert g0.cpu.free_at == pytest.approx(5 + MESSAGE + FRAME)
        assert max(0.0, g1.cpu.free_at - 5) == pytest.approx(g1_busy)
