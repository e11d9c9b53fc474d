"""Notes and warnings about a run: one plain line each, saying what it means and what to do about it.

Anything may raise one: loading a config (a decimal size unit), the cost estimate (a long run), an
engine (a warning about what a run measured). ``wssim validate`` and ``wssim run`` print them on
stderr as ``note: …`` or ``warning: …``; ``manifest.json`` keeps them under ``notes``, and the report
shows them above the results.

=========  ==========================================================================================
level      meaning
=========  ==========================================================================================
note       worth knowing, nothing wrong (``4GB`` is decimal; the sweep will take about 40 min)
warning    the results may not mean what they seem to (a knob that makes the run measure something else)
=========  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["note", "warning"]


@dataclass(frozen=True)
class Note:
    """One note: ``text`` is a plain sentence with the fix; ``topic`` names what raised it."""

    text: str
    level: Level = "note"
    topic: str = ""

    def line(self) -> str:
        """The line the CLI prints: ``note: …``."""
        return f"{self.level}: {self.text}"

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "topic": self.topic, "text": self.text}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Note:
        level = "warning" if data.get("level") == "warning" else "note"
        return cls(str(data.get("text", "")), level, str(data.get("topic", "")))


def unique(notes: Iterable[Note]) -> list[Note]:
    """``notes`` in order, each once (the same note raised twice is printed once)."""
    return list(dict.fromkeys(notes))


# The fleet is settled at a crash when at least this share of the clients that want a connection
# (arrived, not offline, not given up) hold one and the connect ramp is over; otherwise a herd's
# convergence time would measure the ramp, not the herd.
HERD_SETTLED = 0.95
# Admission refusing at least this share of connection attempts dominates a run.
REFUSED_SHARE = 0.5
# Deliveries still pending at the end beyond this share of those owed make delivered and lost partial.
PENDING_SHARE = 0.05


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def herd_note(metrics: Mapping[str, float], config: Any) -> Note | None:
    """Why ``herd_convergence_s`` is not a number, when a crash happened and it is NaN."""
    crash = metrics.get("crash_at_s", float("nan"))
    conv = metrics.get("herd_convergence_s", float("nan"))
    if crash != crash or conv == conv:
        return None
    ramp = config.clients.connect_ramp
    share = metrics.get("crash_connected_fraction", float("nan"))
    if crash < ramp:
        why = (
            f"the first crash ({crash:g} s) came during the connect ramp ({ramp:g} s): "
            "move the crash after the fleet has connected"
        )
    elif share == share and share < HERD_SETTLED:
        why = (
            f"at the first crash ({crash:g} s) only {_pct(share)} of the clients that wanted a connection "
            "held one (the fleet had not settled): let it connect first (raise "
            "gateways.admission.handshake_rate, lengthen clients.connect_ramp, or crash later)"
        )
    else:
        why = (
            f"the clients the crash cut were not all connected again by the end ({config.duration:g} s): "
            "lengthen duration"
        )
    return Note(f"herd_convergence_s not measured: {why}.", "warning", "herd_convergence_s")


def moved_note(metrics: Mapping[str, float], config: Any) -> Note | None:
    """Why ``connections_moved_fraction`` is not a number, when the gateway pool changed."""
    changes = [f.at for f in config.faults if f.kind in ("add_gateways", "remove_gateways")]
    moved = metrics.get("connections_moved_fraction", float("nan"))
    if not changes or min(changes) >= config.duration or moved == moved:
        return None
    return Note(
        f"connections_moved_fraction not measured: no client connected at the first change of the gateway "
        f"pool ({min(changes):g} s) connected again before the end, and open sockets do not move: give "
        "clients.offline a rate (clients that drop and come back) or lengthen duration.",
        "warning",
        "connections_moved_fraction",
    )


def result_notes(metrics: Mapping[str, float], config: Any) -> list[Note]:
    """Warnings about one run's result: what dominates it that the config likely did not intend."""
    notes = [n for n in (herd_note(metrics, config), moved_note(metrics, config)) if n is not None]
    actions = metrics.get("connect_actions", 0.0)
    refused = metrics.get("admission_rejections", 0.0)
    if actions > 0 and refused / actions >= REFUSED_SHARE:
        notes.append(
            Note(
                f"admission refuses {_pct(refused / actions)} of connection attempts ({refused:,.0f} of "
                f"{actions:,.0f}): raise gateways.admission.handshake_rate or lengthen clients.connect_ramp.",
                "warning",
                "admission_rejections",
            )
        )
    expected = metrics.get("deliveries_expected", 0.0)
    pending = metrics.get("deliveries_pending_end", 0.0)
    if expected > 0 and pending / expected >= PENDING_SHARE:
        notes.append(
            Note(
                f"{_pct(pending / expected)} of the owed deliveries were still pending at the end "
                f"(deliveries_pending_end): delivered and lost count only the rest; lengthen duration.",
                "warning",
                "deliveries_pending_end",
            )
        )
    open_end = metrics.get("offline_open_end", 0.0)
    if open_end > 0:  # NaN (not measured) is not
        notes.append(
            Note(
                f"{open_end:,.0f} offline episodes were still open at the end: what those clients are owed "
                "is pending (deliveries_pending_end), neither delivered nor lost; lengthen duration to see "
                "them resume.",
                "note",
                "offline_open_end",
            )
        )
    return notes


def across_runs(per_run: list[list[Note]]) -> list[Note]:
    """The notes of several runs, each topic once (the first run's text), with how many runs raised it."""
    first: dict[tuple[str, str], Note] = {}
    count: dict[tuple[str, str], int] = {}
    for notes in per_run:
        for key in dict.fromkeys((n.level, n.topic or n.text) for n in notes):
            count[key] = count.get(key, 0) + 1
        for n in notes:
            first.setdefault((n.level, n.topic or n.text), n)
    total = len(per_run)
    out = []
    for key, n in first.items():
        k = count[key]
        text = n.text if total <= 1 else f"{n.text.rstrip('.')} (in {k} of {total} runs)."
        out.append(Note(text, n.level, n.topic))
    return out
