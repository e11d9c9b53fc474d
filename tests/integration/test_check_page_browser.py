"""check.html, the review's page of evidence charts, opened in real headless Chromium.

The full review of the good design (arithmetic and the five probes) writes check.html; it must open
offline with no console error or exception, and every chart — the static items' arithmetic and the
probes' time series — must be drawn by plotly with data in it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_report_browser import keep_screenshot, open_in_chromium

DESIGNS = Path(__file__).resolve().parents[2] / "data" / "designs"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_review_page_opens_with_every_chart_drawn(tmp_path):
    out = tmp_path / "review"
    proc = subprocess.run(
        [sys.executable, "-m", "wssim", "check", str(DESIGNS / "good.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out / "check.html"
    html = page.read_text(encoding="utf-8")
    assert "<script src=" not in html and "<link " not in html  # plotly.js inline: opens offline
    shot = out / "check.png"
    check, problems = open_in_chromium(page, shot)
    keep_screenshot(shot)
    assert problems == []
    assert check["plotly"] == "object" and check["external"] == []
    charts = check["charts"]
    assert len(charts) >= 4 + 5  # transport, budget, kernel, replay; at least one per probe
    for chart in charts:
        assert chart["traces"] > 0 and chart["rendered"], chart
        assert not chart["overflow"], chart
    assert sum(c["points"] for c in charts) > 0
