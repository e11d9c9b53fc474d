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
