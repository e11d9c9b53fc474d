"""Predict, run, compare: an exercise's prediction next to the model's answer, hidden until asked for.

A notebook exercise is four cells: the question (markdown), the participant's prediction
(``prediction_1 = ...``), the run, and ``reveal(...)``, which shows the prediction and, folded away
until clicked, the answer the run computed and how far the prediction was from it. The answer also
travels in a machine-readable form (:data:`ANSWER_MIME`) so the facilitator's answer key is collected
from what the notebooks print (:mod:`wssim.lessons.answer_key`), never typed.

========================  ============================================================================
prediction vs answer      verdict
========================  ============================================================================
none written              asks for one (the answer is still there, folded)
numbers, within 10%       close
numbers, within 2×        the right order: N% high or low
numbers, further apart    off by a factor of N
names (strategy, kind…)   right or not, ignoring case, spaces, dashes and underscores
========================  ============================================================================
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

from wssim.units import human

ANSWER_MIME = "application/vnd.wssim.answer+json"
CLOSE = 0.10  # a prediction within 10% of the answer is close
SAME_ORDER = 2.0  # within a factor of 2 it is of the right order
UNITS = ("s", "bytes", "fraction", "USD/month")  # units wssim.report.human formats itself


def fmt(value: Any, unit: str = "") -> str:
    """A number as people read it (``1,234``, ``8.3 s``, ``61 GiB``, ``14.3%``), with its unit."""
    if isinstance(value, str) or not isinstance(value, Real):
        return str(value)
    if unit in UNITS:
        return human(value, unit)
    text = human(value)
    return f"{text} {unit}".strip()


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _name(x: Any) -> str:
    return "".join(ch for ch in str(x).lower() if ch.isalnum())


def verdict(prediction: Any, value: Any) -> str:
    """How ``prediction`` compares with the model's ``value`` (see the module table)."""
    if prediction is None or prediction is Ellipsis:
        return "You wrote no prediction: write one in the cell above, then run this cell again."
    if _is_number(prediction) and _is_number(value):
        p, v = float(prediction), float(value)
        if v == 0 or p == 0:
            return "Exactly right." if p == v else f"The model says {fmt(v)}, you said {fmt(p)}."
        ratio = p / v
        if ratio <= 0:
            return "Wrong sign."
        if abs(ratio - 1) <= CLOSE:
            return f"Close: within {abs(ratio - 1):.0%}."
        if 1 / SAME_ORDER <= ratio <= SAME_ORDER:
            return f"The right order: {abs(ratio - 1):.0%} {'high' if ratio > 1 else 'low'}."
        return f"Off by a factor of {max(ratio, 1 / ratio):.1f} ({'too high' if ratio > 1 else 'too low'})."
    if _name(prediction) == _name(value):
        return "Right."
    return f"Not quite: the model says {value}."


@dataclass(frozen=True)
class Answer:
    """The model's answer to one exercise, displayed next to the prediction and folded until clicked."""

    key: str
    value: Any
    text: str
    why: str = ""
    prediction: Any = None

    @property
    def verdict(self) -> str:
        """How the prediction compares with the answer."""
        return verdict(self.prediction, self.value)

    def __str__(self) -> str:
        lines = [f"Exercise {self.key}: the model says {self.text}.", self.verdict]
        return "\n".join(lines + ([self.why] if self.why else []))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        said = "—" if self.prediction in (None, Ellipsis) else html.escape(fmt(self.prediction))
        why = f"<p>{html.escape(self.why)}</p>" if self.why else ""
        body = (
            f"<div class='wssim-answer'><b>Exercise {html.escape(self.key)}</b> · your prediction: "
            f"<code>{said}</code><details><summary>Show the model's answer</summary>"
            f"<p><b>The model: {html.escape(self.text)}.</b> {html.escape(self.verdict)}</p>{why}"
            "</details></div>"
        )
        plain = f"Exercise {self.key} · your prediction: {said} (print() this to see the model's answer)"
        data = {"key": self.key, "text": self.text, "why": self.why}
        return {"text/plain": plain, "text/html": body, ANSWER_MIME: data}


def reveal(key: str, prediction: Any, value: Any, unit: str = "", why: str = "", text: str = "") -> Answer:
    """The answer to exercise ``key``: the run's ``value`` (a number in ``unit``, or a name), shown next to
    ``prediction``. ``text`` overrides how the value is written; ``why`` is one sentence of explanation."""
    return Answer(key, value, text or fmt(value, unit), why, prediction)
