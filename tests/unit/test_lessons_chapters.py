"""The chapters' own analysis: closed forms and the small helpers the notebooks call."""

from __future__ import annotations

import pytest

from wssim.lessons import edge, fanout_cpu, history_loss, keepalive


@pytest.fixture(scope="module")
def edge_cfg():
    return edge.fleet(1_000, 4, "20s", "40s", "0/s", "10s")


def test_edge_fleet_crashes_gateway_zero_behind_the_default_health_check(edge_cfg):
    assert [f.kind for f in edge_cfg.faults] == ["gateway_crash"]
    assert edge_cfg.faults[0].gateway == 0 and edge_cfg.faults[0].at == 20
    hc = edge_cfg.edge.health_check
    assert (hc.interval, hc.fall, hc.rise, hc.passive) == (1.0, 2, 2, False)


def test_detection_closed_form_is_fall_minus_a_half_intervals(edge_cfg):
    assert edge.detection_closed_form(edge_cfg, 5.0) == pytest.approx(7.5)
    assert edge.detection_closed_form(edge.configure(edge_cfg, ["edge.health_check.fall=3"]), 2.0) == 5.0


def test_l7_node_holds_tls_and_two_kernel_buffers_per_connection(edge_cfg):
    # quickstart's per-connection budget: 20 KiB TLS, 8 KiB kernel buffers per socket
    assert edge.edge_memory_closed_form(edge_cfg) == 1_000 * (20 + 2 * 8) * 1024
    two_nodes = edge.configure(edge_cfg, ["edge.nodes=2"])
    assert edge.edge_memory_closed_form(two_nodes) == 500 * 36 * 1024


def test_health_check_labels_read_as_settings():
    assert edge.label(1.0, False) == "every 1 s"
    assert edge.label(0.5, True) == "every 0.5 s + passive"


def test_sticky_sessions_leave_the_restarted_gateway_short_of_its_share(edge_cfg):
    cfg = edge.configure(edge_cfg, ["duration=80s", "clients.offline.rate=2/min"])
    res = edge.stickiness(cfg)
    assert edge.restarted_share(res, "sticky") < 0.5 < edge.restarted_share(res, "consistent_hash")


def test_history_loss_fleet_puts_the_crash_after_the_backplane_returns():
    cfg = history_loss.fleet(1_000, "20s", "5s", "3s", "100/s", "1/min", "60s")
    outage, crash = cfg.faults
    assert (outage.kind, outage.at, outage.duration) == ("backplane_outage", 20, 5)
    assert (crash.kind, crash.at, crash.gateway) == ("gateway_crash", 28, 0)
    assert cfg.clients.snapshot.rate == 100
    moved = history_loss.with_faults(cfg, 10, 2, 0)
    assert [f.at for f in moved.faults] == [10, 12]


def test_the_whole_herd_at_once_waits_herd_over_rate():
    cfg = history_loss.fleet(2_000, "20s", "5s", "5s", "100/s", "1/min", "60s")
    assert history_loss.herd_size(cfg) == 500
    assert history_loss.queue_closed_form(cfg) == 5.0
    unlimited = history_loss.configure(cfg, ["clients.snapshot.rate=null"])
    assert history_loss.queue_closed_form(unlimited) == 0.0


def test_a_lost_history_turns_later_resumes_into_resyncs_a_kept_one_does_not():
    cfg = history_loss.fleet(600, "10s", "3s", "2s", "50/s", "2/min", "40s")
    table = history_loss.costs(history_loss.kinds(cfg))
    lost, kept = table.loc["redis_streams"], table.loc["jetstream"]
    assert kept["resyncs"] == 0 and kept["served_fraction"] == 1.0
    assert lost["resyncs"] > 0 and lost["served_fraction"] < 1.0
    assert lost["snapshot_bytes"] == lost["resyncs"] * 64 * 1024


def test_a_dead_socket_is_held_the_pong_timeout_less_half_an_interval():
    assert keepalive.held_closed_form(25) == 37.5  # default timeout: 2 × interval
    assert keepalive.held_closed_form(10, 15) == 10.0


def test_keepalive_fleet_leaves_only_the_keepalive_to_notice():
    cfg = keepalive.fleet(500, "1/min", "30s", 0.3, "60s")
    assert cfg.edge.idle_timeout is None and cfg.faults == []
    assert cfg.clients.offline.half_open_fraction == 0.3
    assert keepalive.per_socket(cfg) == (8 + 20 + 4) * 1024
    assert keepalive.name(None) == "no pings" and keepalive.name(25.0) == "pings every 25 s"


def test_without_pings_every_half_open_socket_leaks_and_pings_reclaim_them():
    cfg = keepalive.fleet(600, "2/min", "20s", 0.5, "60s")
    table = keepalive.costs(keepalive.settings(cfg, [None, "5s"]), cfg)
    off, on = table.loc["no pings"], table.loc["pings every 5 s"]
    assert off["half_open_disappearances"] > 0
    assert off["half_open_leaked"] == off["half_open_disappearances"] and off["dead_peer_reclaims"] == 0
    assert on["half_open_leaked"] < off["half_open_leaked"] and on["reclaimed_fraction"] > 0.5
    assert off["leaked_bytes"] == off["half_open_leaked"] * 32 * 1024
    assert on["deliveries_to_dead_peers"] < off["deliveries_to_dead_peers"]


def test_the_answer_key_reads_questions_answers_and_findings_from_an_executed_notebook():
    import nbformat.v4 as v4

    from wssim.lessons import answer_key
    from wssim.lessons.exercises import reveal

    bundle = reveal("12.1", 100, 1_764.0, "attempts", why="Probes every 5 s.")._repr_mimebundle_()
    nb = v4.new_notebook(
        cells=[
            v4.new_markdown_cell(
                "## 1. Health checks\n\n### Exercise 12.1 · Attempts sent to a dead gateway\n"
            ),
            v4.new_code_cell("prediction_1 = None"),
            v4.new_code_cell("reveal(...)", outputs=[v4.new_output("display_data", data=bundle)]),
            v4.new_markdown_cell("## What you should have seen"),
            v4.new_code_cell(
                "print(...)", outputs=[v4.new_output("stream", name="stdout", text="- 1,764\n")]
            ),
            v4.new_markdown_cell("## Try it"),
            v4.new_code_cell(
                "explore(...)", outputs=[v4.new_output("stream", name="stdout", text="ignored")]
            ),
            v4.new_markdown_cell(
                "## Takeaway\n\nProbe often.\n\n## For discussion\n\nWhy not\nprobe faster?"
            ),
        ]
    )
    assert answer_key.questions(nb) == {"12.1": "Attempts sent to a dead gateway"}
    assert answer_key.answers(nb) == [{"key": "12.1", "text": "1,764 attempts", "why": "Probes every 5 s."}]
    assert answer_key.findings(nb) == "- 1,764"
    text = answer_key.markdown(answer_key.NOTEBOOK_DIR / "12_edge_and_health_checks.py", nb)
    assert "| 12.1 Attempts sent to a dead gateway | **1,764 attempts** | Probes every 5 s. |" in text
    assert "```text\n- 1,764\n```" in text and "ignored" not in text
    assert text.endswith("**For discussion.** Why not probe faster?\n")


def test_a_blackout_leaves_only_the_keepalive_between_dead_sockets_and_an_oom():
    cfg = keepalive.blackout(1_000, 0.5, "20s", "32KiB", "512MiB", "60s")
    (fault,) = cfg.faults
    assert (fault.kind, fault.at, fault.fraction) == ("half_open", 20, 0.5)
    assert cfg.gateways.send_queue.overflow == "unbounded" and cfg.edge.idle_timeout is None
    assert cfg.clients.slow_consumers.fraction == 0 and cfg.clients.offline.rate == 0


def test_the_answer_key_sets_parameters_and_refuses_unknown_ones(capsys):
    import nbformat.v4 as v4

    from wssim.lessons import answer_key

    params = v4.new_code_cell("CLIENTS = 2_000  # clients\nGATEWAYS = 4", metadata={"tags": ["parameters"]})
    nb = answer_key.set_parameters(v4.new_notebook(cells=[params]), {"GATEWAYS": "8"})
    assert nb.cells[0].source == "CLIENTS = 2_000  # clients\nGATEWAYS = 8"
    with pytest.raises(
        answer_key.ParameterError, match="no parameter `NODES`; its parameters are CLIENTS, GATEWAYS"
    ):
        answer_key.set_parameters(nb, {"NODES": "3"})
    assert answer_key.main(["12", "--set", "NODES=3"]) == 2
    assert answer_key.main(["12", "--set", "NODES"]) == 2
    assert answer_key.main(["99"]) == 2
    err = capsys.readouterr().err
    assert "no parameter `NODES`" in err and "--set takes NAME=VALUE" in err and "no notebook `99`" in err
    assert "Traceback" not in err


def test_fanout_cpu_knee_is_cores_over_clients_times_cpu_per_publication():
    cfg = fanout_cpu.fleet(4_000, 4, 1, "30s")
    cpu = cfg.gateways.cpu
    per_pub = cpu.backplane_message + 1_000 * (cpu.frame + cfg.clients.message_size * cpu.per_byte)
    assert fanout_cpu.cpu_per_publication(cfg) == pytest.approx(per_pub)
    assert fanout_cpu.saturation_rate(cfg) == pytest.approx(1 / (4_000 * per_pub))
    two_cores = fanout_cpu.configure(cfg, ["gateways.cpu.cores=2"])
    assert fanout_cpu.saturation_rate(two_cores) == pytest.approx(2 * fanout_cpu.saturation_rate(cfg))
    ten_rooms = fanout_cpu.configure(cfg, ["clients.rooms.count=10"])
    assert fanout_cpu.cpu_per_publication(ten_rooms) < fanout_cpu.cpu_per_publication(cfg) / 9


def test_a_big_room_saturates_the_gateway_past_the_knee_and_not_below():
    cfg = fanout_cpu.fleet(2_000, 2, 1, "30s")
    knee = fanout_cpu.saturation_rate(cfg) * 60
    table = fanout_cpu.rates(cfg, [round(knee / 3, 3), round(2 * knee, 3)])
    below, above = table.iloc[0], table.iloc[1]
    assert below["cpu_saturated_s"] == 0 and above["cpu_saturated_s"] > 0
    assert above["latency_p99_s"] > 10 * below["latency_p99_s"]
    assert fanout_cpu.first_saturated(table) == table.index[1]
