"""Calibration overlays: the simulator's costs as measured on the machine the live run uses.

An overlay is YAML: dotted config paths to values (``gateways.handshake_cost: 0.6ms``), values under
``per_backplane: {KIND: {...}}`` applied only to that ``backplane.kind``, values under
``per_send_buffer: {BYTES: {...}}`` only when ``live.send_buffer`` is that many bytes (what the path to a
slow reader holds depends on it), and a ``machine:`` mapping saying which machine it describes (host,
CPU model, cores). A calibration describes one machine: the
crosscheck refuses an overlay measured elsewhere, since its costs would compare another machine's
model against this machine's live run.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wssim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION = ROOT / "data" / "calibration" / "loopback.yaml"
CALIBRATION_ENV = "WSSIM_CALIBRATION"
PER_BACKPLANE = "per_backplane"
PER_SEND_BUFFER = "per_send_buffer"
# keys that describe the measurement, not config paths (measured_costs: figures the schema does not read)
META = ("machine", "measured", "measured_costs")
IDENTITY = ("host", "cpu", "cores")  # what makes two machines the same one


def this_machine() -> dict[str, Any]:
    """The identity of this machine, as a calibration's ``machine:`` records it."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def default_calibration() -> Path:
    """``$WSSIM_CALIBRATION``, else the committed example (``data/calibration/loopback.yaml``)."""
    env = os.environ.get(CALIBRATION_ENV)
    return Path(env) if env else CALIBRATION


def read_overlay(path: str | Path) -> dict[str, Any]:
    """The overlay's YAML mapping; a clear :class:`ConfigError` when it cannot be read."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"calibration overlay {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"calibration overlay {path}: expected a mapping of dotted paths to values")
    return data


@dataclass
class Calibration:
    """An overlay: entries for every config, entries per backplane kind, and the machine it describes."""

    everywhere: dict[str, Any] = field(default_factory=dict)
    per_backplane: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_send_buffer: dict[int, dict[str, Any]] = field(default_factory=dict)
    machine: dict[str, Any] | None = None
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        data = read_overlay(path)
        per_kind = data.pop(PER_BACKPLANE, None) or {}
        per_buffer = {int(k): v for k, v in (data.pop(PER_SEND_BUFFER, None) or {}).items()}
        machine = data.get("machine")
        for key in META:
            data.pop(key, None)
        return cls(data, per_kind, per_buffer, machine if isinstance(machine, dict) else None, str(path))

    @classmethod
    def of(cls, overrides: Iterable[str]) -> Calibration:
        """The same ``path=value`` overrides for every backplane kind."""
        return cls(dict(o.split("=", 1) for o in overrides), source="overrides")

    def overrides(self, kind: str, keep: Iterable[str] = (), send_buffer: float | None = None) -> list[str]:
        """``path=value`` overrides for a config whose backplane is ``kind`` (and whose live sockets'
        send buffer is ``send_buffer`` bytes); paths in ``keep`` (set explicitly) are left out."""
        by_buffer = self.per_send_buffer.get(int(send_buffer)) if send_buffer is not None else None
        entries = {**self.everywhere, **(self.per_backplane.get(kind) or {}), **(by_buffer or {})}
        kept = {k.split("=", 1)[0].strip() for k in keep}
        return [f"{k}={v}" for k, v in entries.items() if k not in kept]


def calibration_overrides(path: str | Path | None, kind: str, keep: Iterable[str] = ()) -> list[str]:
    """The overlay at ``path`` as ``path=value`` overrides for a config whose backplane is ``kind``.

    Top-level entries apply to every config; those under ``per_backplane: {KIND: ...}`` only to that
    kind. Paths in ``keep`` (set explicitly by the user) are left out. ``None`` or ``"none"``: no overlay.
    """
    if path is None or str(path).lower() == "none":
        return []
    return Calibration.load(path).overrides(kind, keep)


def check_machine(path: str | Path, machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The overlay's ``machine:``; :class:`ConfigError` unless it describes this machine (``machine``)."""
    here = machine or this_machine()
    recorded = Calibration.load(path).machine
    fix = (
        "measure this machine first (`wssim calibrate --out FILE`, a few minutes) "
        "and pass `--calibration FILE` (or set WSSIM_CALIBRATION=FILE); `--calibration none` compares "
        "against the uncalibrated model"
    )
    if recorded is None:
        raise ConfigError(
            f"calibration {path} does not say which machine it describes (no `machine:`): " + fix
        )
    differs = [k for k in IDENTITY if str(recorded.get(k)) != str(here.get(k))]
    if differs:
        theirs = ", ".join(f"{k} {recorded.get(k)!r}" for k in differs)
        ours = ", ".join(f"{k} {here.get(k)!r}" for k in differs)
        raise ConfigError(
            f"calibration {path} was measured on another machine ({theirs}; this one: {ours}): "
            f"its costs would not describe this live run. {fix[0].upper()}{fix[1:]}."
        )
    return recorded
