"""Small simulations for the lessons: a config with changes and a sweep, run, failures raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wssim


class LessonRunFailed(RuntimeError):
    """A lesson's simulation run failed; the message names the run and the error."""


def configure(base: Any, overrides: list[str] | None = None, **sections: Any) -> Any:
    """``base`` (a scenario name, a config or a dict) with ``--set``-style ``overrides`` applied, then the
    top-level ``sections`` (``faults=[...]``, ``sweep={...}``) replaced."""
    cfg = wssim.load_config(
        base if not hasattr(base, "model_dump") else base.model_dump(mode="json"), overrides
    )
    if not sections:
        return cfg
    return wssim.load_config({**cfg.model_dump(mode="json"), **sections})


def one_run(cfg: Any, changes: list[str], progress: Any = None, **sections: Any) -> Any:
    """An interactive cell's simulation: ``cfg`` with ``changes`` (and ``sections``), no sweep, one
    replication, reporting to ``progress``."""
    return simulate(configure(cfg, changes, sweep=None, **sections), progress=progress or False)


def chat_fleet(clients: int, overrides: list[str], **sections: Any) -> Any:
    """The ``quickstart`` fleet resized to ``clients`` chat clients in rooms of ten, then ``overrides``
    and ``sections`` as :func:`configure` applies them."""
    rooms = [f"clients.count={clients}", f"clients.rooms.count={max(1, clients // 10)}"]
    return configure("quickstart", rooms + overrides, **sections)


def simulate(
    cfg: Any, replications: int = 1, progress: bool | Callable[[float], None] = False, sweep: Any = None
) -> Any:
    """Run ``cfg`` (with ``sweep`` if given); a single run stays in this process, more use every core."""
    if sweep is not None:
        cfg = configure(cfg, sweep=sweep)
    points = cfg.sweep.size() if cfg.sweep is not None else 1
    executor = "serial" if points * replications == 1 else "local"
    res = wssim.run(cfg, replications=replications, progress=progress, executor=executor, report=False)
    if res.failures:
        first = res.failures[0]
        raise LessonRunFailed(f"{len(res.failures)} run(s) failed, first {first['params']}: {first['error']}")
    return res
