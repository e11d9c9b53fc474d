"""wssim: a discrete-event simulator of WebSocket fleets.

Python API for notebooks::

    import wssim
    cfg = wssim.load_config("herd")          # a built-in scenario name or a YAML path
    res = wssim.run(cfg, replications=3)     # -> Results
    res.summary, res.aggregate(), res.timeseries
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from wssim.config import Config
    from wssim.sweep import Results


def load_config(source: Any, overrides: list[str] | None = None) -> Config:
    """Load a config from a YAML path, a built-in scenario name, or a dict."""
    from wssim.config import load_config as _load

    return _load(source, overrides=overrides)


def run(config: Any, **kwargs: Any) -> Results:
    """Run a config (every sweep point × replication) and return its results."""
    from wssim.sweep import run as _run

    return _run(config, **kwargs)


__all__ = ["__version__", "load_config", "run"]
