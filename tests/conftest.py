"""Suite-wide rule: under ``CI`` a skipped test is a failure.

A skip hides a missing server, browser or module; locally it says what to install, in CI it must not
pass silently. The rule covers skips at collection (``pytest.importorskip`` at module level) and in
tests and fixtures alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CI = bool(os.environ.get("CI"))


def _fail_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which is a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())
