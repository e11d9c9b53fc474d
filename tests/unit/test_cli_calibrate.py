"""`wssim calibrate` with bad options: one paragraph naming each option and what is allowed, exit 2,
no traceback, nothing started and nothing written (the checks run before any process starts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _calibrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wssim", "calibrate", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--kind", "kafka"], ["--kind 'kafka' is not a live backplane kind", "redis_pubsub, redis_streams"]),
        (
            ["--handshakes", "1", "--herds", "0"],
            ["--handshakes 1 is outside 2..5000", "--herds 0 is outside"],
        ),
        (["--connections", "50", "--handshakes", "100"], ["--connections 50 is below --handshakes 100"]),
        (["--redis-url", "http://x"], ["'http://x' is not a redis:// URL"]),
        (["--rate", "0"], ["--rate 0"]),
    ],
    ids=["kind", "counts", "fewer_connections", "url", "rate"],
)
def test_a_bad_option_is_one_paragraph_and_exit_2(
    tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    out = tmp_path / "me.yaml"
    done = _calibrate(*args, "--out", str(out))
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert err.startswith("wssim calibrate: ") and "\n" not in err, err
    assert "Traceback" not in done.stderr and "--help" in err
    for fragment in fragments:
        assert fragment in err
    assert not out.exists()


def test_an_out_path_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    done = _calibrate("--out", str(tmp_path / "nowhere" / "me.yaml"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
