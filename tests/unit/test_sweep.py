"""Sweeps: planning, statistics, stable files, failures, resume — with the stand-in engine."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from test_sweep_engine import crashing, standin

import wssim
from wssim.config import load_config
from wssim.sweep import (
    Results,
    RunStore,
    SweepError,
    aggregate,
    confidence_interval,
    execute_run,
    format_value,
    plan,
    run,
)

GRID = {
    "name": "grid",
    "duration": 60,
    "replications": 3,
    "faults": [{"kind": "gateway_crash", "at": 30}],
    "sweep": {"clients.count": [100, 200], "gateways.count": [1, 2]},
}


def sweep(config: dict = GRID, **kwargs) -> Results:
    """A sweep of ``config`` with the stand-in engine (serial unless told), without progress or report."""
    return run(
        config, **{"engine": standin, "executor": "serial", "progress": False, "report": False, **kwargs}
    )


def leave_partial_rows(folder, n: int) -> None:
    """Add the first ``n`` runs of GRID to ``folder``'s partial files, as a killed sweep leaves them."""
    store = RunStore(folder, ["clients.count", "gateways.count"])
    for spec in plan(load_config(GRID))[:n]:
        store.add(spec, execute_run(standin, spec.config, spec.point, spec.replication))


def test_plan_is_points_times_replications_with_one_seed():
    specs = plan(load_config(GRID))
    assert [(s.point, s.replication) for s in specs] == [(p, r) for p in range(4) for r in range(3)]
    assert {s.seed for s in specs} == {1}  # every point shares the seed: common random numbers
    assert specs[4].params == {"clients.count": 100, "gateways.count": 2}
    assert specs[4].config.gateways.count == 2


def test_format_value_is_stable_and_round_trips():
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert float(format_value(1 / 3)) == 1 / 3
    assert format_value(3.0) == "3"
    assert format_value(math.nan) == "nan"
    assert format_value(True) == "true"
    assert format_value(None) == ""
    assert format_value("full_jitter") == "full_jitter"
    assert format_value(np.int64(7)) == "7"


def test_confidence_interval_is_student_t():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, std, half = confidence_interval(values)
    assert mean == 2.5
    assert std == pytest.approx(np.std(values, ddof=1))
    assert half == pytest.approx(3.182446305284263 * std / 2)  # t(0.975, 3) * s / sqrt(4)
    assert math.isnan(confidence_interval(np.array([5.0]))[2])
    assert confidence_interval(np.array([2.0, 2.0, 2.0]))[2] == 0.0


def test_aggregate_pairs_replications_against_point_zero():
    summary = pd.DataFrame(
        {
            "point": [0, 0, 0, 1, 1, 1],
            "replication": [0, 1, 2, 0, 1, 2],
            "seed": 1,
            "x": [1, 1, 1, 2, 2, 2],
            "m": [10.0, 20.0, 30.0, 11.0, 21.0, 31.0],
        }
    )
    agg = aggregate(summary, ["x"]).set_index("point")
    assert list(agg["n"]) == [3, 3]
    assert agg.loc[1, "mean"] == 21.0
    assert agg.loc[1, "ci95_half_width"] > 20  # the unpaired spread is wide…
    assert agg.loc[1, "diff_vs_point0"] == 1.0
    assert agg.loc[1, "diff_ci95_low"] == agg.loc[1, "diff_ci95_high"] == 1.0  # …the paired one is exact


def test_run_in_memory_returns_results():
    res = wssim.run(GRID, engine=standin, executor="serial", progress=False, report=False)
    assert isinstance(res, Results)
    assert res.out is None
    assert len(res.summary) == 12
    assert res.params == ["clients.count", "gateways.count"]
    assert list(res.summary.columns[:5]) == [
        "point",
        "replication",
        "seed",
        "clients.count",
        "gateways.count",
    ]
    assert set(res.timeseries.columns) == {"run", "point", "replication", "time", "series", "label", "value"}
    assert set(res.timeseries["run"]) == {f"p{p:03d}-r{r:03d}" for p in range(4) for r in range(3)}
    assert res.markers["p000-r000"] == [(30.0, "gateway_crash g0")]
    agg = res.aggregate()
    peak = agg[agg["metric"] == "connections_peak"].set_index("point")["mean"]
    assert list(peak) == [100, 100, 200, 200]
    fig = res.plot("herd_convergence_s", x="gateways.count")
    assert len(fig.data) == 2 and fig.data[0].error_y.array is not None
    assert len(res.plot_timeseries("connections").data) == 12


def test_files_written_and_reloadable(tmp_path):
    out = tmp_path / "out"
    res = sweep(out=out, report=True)
    for name in ("summary.csv", "aggregate.csv", "timeseries.parquet", "config.resolved.yaml", "report.html"):
        assert (out / name).exists(), name
    assert (out / "markers.json").exists() and (out / "manifest.json").exists()
    assert not (out / "partial").exists()
    lines = (out / "summary.csv").read_text().splitlines()
    assert len(lines) == 13
    assert lines[1].startswith("0,0,1,100,1,")
    again = Results.load(out)
    pd.testing.assert_frame_equal(again.summary, res.summary)
    pd.testing.assert_frame_equal(again.timeseries, res.timeseries)
    assert again.markers == res.markers
    assert again.params == res.params
    # the resolved config reloads and plans the same runs
    reloaded = load_config(out / "config.resolved.yaml")
    assert [s.key for s in plan(reloaded)] == [(p, r) for p in range(4) for r in range(3)]


def test_same_files_whatever_the_order_runs_finish(tmp_path):
    sweep(out=tmp_path / "a")
    sweep(executor="local", workers=2, out=tmp_path / "b")
    for name in ("summary.csv", "aggregate.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_failing_point_is_reported_and_the_rest_kept(tmp_path):
    cfg = {**GRID, "sweep": {"clients.count": [100, 13]}, "replications": 2}
    with pytest.warns(RuntimeWarning, match="unlucky"):
        res = sweep(cfg, out=tmp_path / "o")
    assert len(res.summary) == 2 and set(res.summary["point"]) == {0}
    assert [(f["point"], f["replication"]) for f in res.failures] == [(1, 0), (1, 1)]
    assert res.failures[0]["params"] == {"clients.count": 13}
    assert "ValueError: unlucky client count 13" in res.failures[0]["error"]
    assert Results.load(tmp_path / "o").failures[0]["error"] == res.failures[0]["error"]


def test_a_worker_that_dies_fails_its_run_and_the_sweep_goes_on(tmp_path):
    cfg = {**GRID, "sweep": {"clients.count": [100, 66, 200]}, "replications": 2}
    with pytest.warns(RuntimeWarning, match="WorkerDied"):
        res = run(
            cfg,
            engine=crashing,
            executor="local",
            workers=1,
            out=tmp_path / "o",
            progress=False,
            report=False,
        )
    assert [(f["point"], f["replication"]) for f in res.failures] == [(1, 0), (1, 1)]
    assert "worker process died" in res.failures[0]["error"]
    assert sorted(set(res.summary["point"])) == [0, 2] and len(res.summary) == 4


def test_resume_skips_finished_runs(tmp_path, monkeypatch):
    log = tmp_path / "log.txt"
    monkeypatch.setenv("WSSIM_TEST_LOG", str(log))
    out = tmp_path / "o"
    sweep({**GRID, "replications": 2}, out=out)
    assert len(log.read_text().splitlines()) == 8
    first = (out / "summary.csv").read_text()
    res = sweep(resume=out)  # 3 replications now
    assert len(log.read_text().splitlines()) == 8 + 4  # only replication 2 of each point ran
    assert len(res.summary) == 12
    full = sweep(out=tmp_path / "fresh")
    assert (out / "summary.csv").read_bytes() == (tmp_path / "fresh" / "summary.csv").read_bytes()
    assert len(res.timeseries) == len(full.timeseries)
    assert first.splitlines()[1] in (out / "summary.csv").read_text()


def test_resume_keeps_the_earlier_replication_count(tmp_path, monkeypatch):
    out = tmp_path / "o"
    sweep({**GRID, "replications": 3}, out=out)
    res = sweep({**GRID, "replications": 2}, resume=out)
    assert len(res.summary) == 12 and res.config["replications"] == 3
    with pytest.raises(SweepError, match="can only grow"):
        sweep(replications=1, resume=out)


def test_resume_reads_partial_rows_of_a_killed_run(tmp_path, monkeypatch):
    out = tmp_path / "o"
    sweep(out=out)
    reference = (out / "summary.csv").read_bytes()
    # Simulate a hard kill: final files gone, only the partial rows of 5 runs are left.
    partial = tmp_path / "killed"
    partial.mkdir()
    leave_partial_rows(partial, 5)
    assert (partial / "partial" / "summary.jsonl").exists() and not (partial / "summary.csv").exists()
    log = tmp_path / "log.txt"
    monkeypatch.setenv("WSSIM_TEST_LOG", str(log))
    sweep(resume=partial)
    assert len(log.read_text().splitlines()) == 12 - 5
    assert (partial / "summary.csv").read_bytes() == reference


def test_resume_refuses_a_different_config(tmp_path):
    out = tmp_path / "o"
    sweep(out=out)
    with pytest.raises(SweepError, match=r"different config \(`clients.count_zipf|`duration`"):
        sweep({**GRID, "duration": 90}, resume=out)


def test_out_folder_must_be_new_or_empty(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("keep me")
    with pytest.raises(SweepError, match="not empty"):
        sweep(out=tmp_path / "o")
    assert (tmp_path / "o" / "x").read_text() == "keep me"


def test_unknown_engine_is_a_sweep_error(tmp_path):
    with pytest.raises(SweepError, match="engine"):
        run(GRID, engine="warp", out=tmp_path / "o", progress=False, report=False)
    with pytest.raises(SweepError, match="cannot be imported"):
        run(GRID, engine="nowhere.at_all:fn", out=tmp_path / "o", progress=False, report=False)
    assert not (tmp_path / "o").exists()


def test_replications_override_is_recorded():
    res = sweep(replications=2)
    assert res.config["replications"] == 2
    assert len(res.summary) == 8


def test_zip_axes_give_paired_columns_in_sweep_order():
    cfg = {
        **GRID,
        "replications": 1,
        "sweep": {"seed": [1], "zip": {"gateways.count": [1, 2], "clients.count": [10, 20]}},
    }
    res = sweep(cfg)
    assert res.params == ["gateways.count", "clients.count"]  # a swept seed is the seed column itself
    assert list(res.summary.columns[:5]) == [
        "point",
        "replication",
        "seed",
        "gateways.count",
        "clients.count",
    ]
    assert res.points().values.tolist() == [[0, 1, 10], [1, 2, 20]]


def test_report_of_a_killed_run_uses_its_partial_rows(tmp_path):
    from wssim.report import rebuild

    folder = tmp_path / "killed"
    sweep({**GRID, "replications": 1}, out=folder)
    for name in ("summary.csv", "aggregate.csv", "timeseries.parquet", "markers.json"):
        (folder / name).unlink()  # as if the process had been killed before writing its final files
    leave_partial_rows(folder, 3)
    res = Results.load(folder)
    assert res.params == ["clients.count", "gateways.count"]
    assert len(res.summary) == 3 and len(res.timeseries) > 0
    assert rebuild(folder).stat().st_size > 100_000


def test_progress_can_be_a_function_given_the_fraction_done():
    """A notebook's progress bar listens to the sweep: fractions rise to exactly 1 at the last run."""
    seen: list[float] = []
    res = sweep(progress=seen.append)
    assert len(seen) >= len(res.summary) == 12
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 1


def test_run_progress_counts_work_not_simulated_time():
    """A connect ramp in the first tenth of the run holds nearly all its work (publish rate 0): the
    progress reported at the end of the ramp is near 1, not 0.1; it never goes back and ends at 1."""
    from wssim.config import load_config
    from wssim.sim import simulate

    cfg = load_config(
        "quickstart",
        [
            "clients.count=4000",
            "duration=100s",
            "clients.connect_ramp=10s",
            "clients.publish_rate=0/s",
            "faults=[]",
        ],
    )
    seen: list[float] = []
    simulate(cfg, 0, progress=seen.append)
    assert len(seen) == 100 and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))
    assert seen[10] > 0.9  # simulated time 11 s of 100: the ramp's connects are done
    assert seen[4] < 0.6  # half the ramp


def test_terminal_bar_eta_counts_the_runs_in_flight():
    """One long run: the top bar (the one with the ETA) moves with the run's own progress."""
    import io

    from rich.console import Console

    from wssim.sweep.progress import RunProgress

    bar = RunProgress(True, 1, "capstone: 1 run", Console(file=io.StringIO(), force_terminal=True))
    try:
        bar.run_progress("p000-r000", 0.4)
        assert bar.progress.tasks[0].completed == 0.4
        bar.run_done("p000-r000")
        assert bar.progress.tasks[0].completed == 1.0
    finally:
        bar.stop()
