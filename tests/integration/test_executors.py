"""Results do not depend on where runs execute: process pool (1 or 2 workers) or a local Dask cluster.

A 2 × 2 sweep of the real simulator with 3 replications goes through each executor for real; the
files must be byte-identical (rows keyed and sorted by (point, replication), stable float text).
"""

from __future__ import annotations

import pandas as pd
import pytest

from wssim.config import load_config
from wssim.sweep import run
from wssim.sweep.executors import make_executor

pytestmark = pytest.mark.slow

OVERRIDES = [
    "clients.count=400",
    "duration=30s",
    "faults.0.at=15s",
    "replications=3",
    "sweep={clients.reconnect.strategy: [none, full_jitter], gateways.count: [2, 4]}",
]


@pytest.fixture(scope="module")
def config():
    return load_config("quickstart", OVERRIDES)


@pytest.fixture(scope="module")
def pool2(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool2") / "run"
    res = run(config, executor="local", workers=2, out=out, progress=False, report=False)
    return out, res


def same_files(a, b) -> None:
    for name in ("summary.csv", "aggregate.csv", "markers.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "timeseries.parquet"), pd.read_parquet(b / "timeseries.parquet")
    )


def test_the_sweep_covers_every_point_and_replication(pool2):
    _, res = pool2
    assert len(res.summary) == 12
    assert list(zip(res.summary["point"], res.summary["replication"], strict=True)) == [
        (p, r) for p in range(4) for r in range(3)
    ]
    assert res.failures == []
    assert res.summary["seed"].nunique() == 1


def test_one_worker_and_two_workers_are_byte_identical(config, pool2, tmp_path):
    out2, _ = pool2
    out1 = tmp_path / "pool1"
    run(config, executor="local", workers=1, out=out1, progress=False, report=False)
    same_files(out1, out2)


def test_local_dask_cluster_matches_the_process_pool(config, pool2, tmp_path):
    pytest.importorskip("distributed")
    out2, _ = pool2
    outd = tmp_path / "dask"
    res = run(config, executor="dask", workers=2, out=outd, progress=False, report=False)
    assert "Dask" in res.info["executor"]
    same_files(outd, out2)


def test_executor_handles():
    with make_executor("serial") as handle:
        assert handle.executor.submit(pow, 2, 10).result() == 1024
    with make_executor("local", workers=2) as handle:
        assert handle.workers == 2 and handle.progress is not None
        assert sorted(f.result() for f in [handle.executor.submit(abs, -i) for i in range(5)]) == [
            0,
            1,
            2,
            3,
            4,
        ]
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(ValueError, match="at least 1"):
        make_executor("local", workers=0)
