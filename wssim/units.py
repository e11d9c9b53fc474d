"""Unit-aware pydantic types: ``Duration`` (seconds), ``ByteSize`` (bytes), ``Rate`` (per second); printing.

YAML accepts human strings (``250ms``, ``8GiB``, ``5/min``) or bare numbers in SI units. After
validation Python code reads plain numbers: a ``Duration`` is a float of seconds, a ``ByteSize`` an
int of bytes, a ``Rate`` a float per second. ``model_dump(mode="json")`` writes those plain SI
numbers, which validate back to the same values, so a dumped config reloads identically.

Printing goes the other way: :func:`human` shows a value in its unit for people (``1.5 GiB``,
``250 ms``); :func:`duration_text`, :func:`bytes_text` and :func:`rate_text` write an SI number as
config text that parses back to it exactly (``25s``, ``8GiB``, ``5/min``).
"""

from __future__ import annotations

import difflib
import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

DURATION_UNITS: dict[str, float] = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
BYTE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
RATE_UNITS: dict[str, float] = {
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]+)?\s*$")
_BYTES_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]+)?\s*$")
_RATE_RE = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*({_NUMBER})?\s*([A-Za-z]+))?\s*$")

DURATION_HELP = (
    "a duration such as `250ms`, `30s`, `10min`, `2h`, `1d` (units: us, ms, s, min, h, d; "
    "a bare number is seconds)"
)
BYTES_HELP = (
    "a size such as `200B`, `32KiB`, `1MB`, `8GiB` (units: B, KB, MB, GB, TB decimal; KiB, MiB, GiB, TiB "
    "binary; a bare integer is bytes)"
)
RATE_HELP = (
    "a rate such as `5/min`, `200/s`, `3/h`, `1/d` (units: /ms, /s, /min, /h, /d; "
    "a bare number is per second)"
)

# JSON Schema patterns for editors (numbers are accepted too).
DURATION_PATTERN = r"^\s*[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*(us|ms|s|min|h|d)?\s*$"
BYTES_PATTERN = r"^\s*[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$"
RATE_PATTERN = r"^\s*[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*(/\s*(\d+(\.\d*)?)?\s*(ms|s|min|h|d))?\s*$"


_NOUNS = {"duration": "duration", "byte_size": "size", "rate": "rate"}


def _err(kind: str, value: Any, help_text: str, reason: str = "") -> PydanticCustomError:
    shown = repr(value) if not isinstance(value, str) else f"`{value}`"
    detail = f": {reason}" if reason else ""
    example = help_text.removeprefix("a duration such as ").removeprefix("a size such as ")
    example = example.removeprefix("a rate such as ")
    end = " " if detail.endswith("?") else ". "
    msg = f"{shown} is not a valid {_NOUNS[kind]}{detail}{end}Write it like {example}"
    return PydanticCustomError(kind, "{msg}", {"msg": msg})


def _close_unit(unit: str, units: dict[str, Any]) -> str:
    lowered = {u.lower(): u for u in units}
    if unit.lower() in lowered:
        return f"units are case-sensitive, did you mean `{lowered[unit.lower()]}`?"
    if unit == "m":
        return "`m` is ambiguous, did you mean `min`?"
    aliases = {
        "sec": "s",
        "secs": "s",
        "second": "s",
        "seconds": "s",
        "mins": "min",
        "minute": "min",
        "minutes": "min",
        "hr": "h",
        "hrs": "h",
        "hour": "h",
        "hours": "h",
        "day": "d",
        "days": "d",
        "bytes": "B",
        "b": "B",
    }
    if aliases.get(unit) in units:
        return f"unknown unit `{unit}`, did you mean `{aliases[unit]}`?"
    close = difflib.get_close_matches(unit, list(units), n=1, cutoff=0.6)
    return f"unknown unit `{unit}`" + (f", did you mean `{close[0]}`?" if close else "")


def _check_number(value: Any, kind: str, help_text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = "true/false" if isinstance(value, bool) else f"got {type(value).__name__}"
        raise _err(kind, value, help_text, got)
    if not math.isfinite(value):
        raise _err(kind, value, help_text, "must be finite")
    if value < 0:
        raise _err(kind, value, help_text, "it must not be negative")
    return float(value)


def _scaled(
    value: Any, kind: str, pattern: re.Pattern[str], units: dict[str, float], default: str, help_text: str
) -> float:
    """A number with an optional unit, in base units (a bare number is already in base units)."""
    if not isinstance(value, str):
        return _check_number(value, kind, help_text)
    m = pattern.match(value)
    if not m:
        raise _err(kind, value, help_text)
    unit = m.group(2) or default
    if unit not in units:
        raise _err(kind, value, help_text, _close_unit(unit, units))
    return _check_number(float(m.group(1)), kind, help_text) * units[unit]


def parse_duration(value: Any) -> float:
    """Parse a duration (``"250ms"``, ``"10min"``, ``30``) into float seconds."""
    return _scaled(value, "duration", _DURATION_RE, DURATION_UNITS, "s", DURATION_HELP)


def parse_bytes(value: Any) -> int:
    """Parse a size (``"8GiB"``, ``"200B"``, ``1024``) into int bytes."""
    total = _scaled(value, "byte_size", _BYTES_RE, BYTE_UNITS, "B", BYTES_HELP)
    if abs(total - round(total)) > 1e-6 * max(1.0, total):
        raise _err("byte_size", value, BYTES_HELP, "must be a whole number of bytes")
    return round(total)


def parse_rate(value: Any) -> float:
    """Parse a rate (``"5/min"``, ``"200/s"``, ``3``) into float events per second."""
    if isinstance(value, str):
        m = _RATE_RE.match(value)
        if not m:
            raise _err("rate", value, RATE_HELP)
        number = float(m.group(1))
        per = float(m.group(2)) if m.group(2) else 1.0
        unit = m.group(3) or "s"
        if unit not in RATE_UNITS:
            raise _err("rate", value, RATE_HELP, _close_unit(unit, RATE_UNITS))
        if per <= 0:
            raise _err("rate", value, RATE_HELP, "the period must be positive")
        return _check_number(number, "rate", RATE_HELP) / (per * RATE_UNITS[unit])
    return _check_number(value, "rate", RATE_HELP)


# --------------------------------------------------------------------------------------------- printing


def human(value: Any, unit: str = "") -> str:
    """A short human form of a value in its unit: 1.5 GiB, 250 ms, 12.5%, 1,234."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if unit == "bytes":
        for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= div:
                return f"{v / div:.3g} {suffix}"
        return f"{v:.0f} B"
    if unit == "s":
        if v != 0 and abs(v) < 1:
            return f"{v * 1000:.3g} ms"
        for limit, div, suffix in ((600, 1, "s"), (36_000, 60, "min"), (360_000, 3600, "h")):
            if abs(v) < limit:
                return f"{v / div:.3g} {suffix}"
        return f"{v / 86400:,.0f} d"
    if unit == "fraction":
        return f"{v * 100:.3g}%"
    if unit == "USD/month":
        return f"${v:,.0f}/mo"
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _whole(value: float, order: list[tuple[str, float]], parse: Any, fallback: str) -> str:
    """``value`` in the largest unit of ``order`` that writes it as a whole number parsing back to it."""
    for suffix, size in order:
        n = round(value / size)
        if n >= 1 and math.isclose(parse(f"{n}{suffix}"), value, rel_tol=1e-12):
            return f"{n}{suffix}"
    return fallback


def duration_text(seconds: float) -> str:
    """A duration as config text that parses back to ``seconds``: ``25s``, ``2min``, ``1500ms``."""
    order = [(u, DURATION_UNITS[u]) for u in ("d", "h", "min", "s", "ms", "us")]
    return _whole(seconds, order, parse_duration, f"{float(seconds)!r}s") if seconds else "0s"


def bytes_text(size: int) -> str:
    """A size as config text that parses back to ``size``: ``8GiB``, ``500KiB``, ``200B``."""
    for suffix in ("TiB", "GiB", "MiB", "KiB"):
        if size and size % BYTE_UNITS[suffix] == 0:
            return f"{size // BYTE_UNITS[suffix]}{suffix}"
    return f"{int(size)}B"


def rate_text(per_second: float) -> str:
    """A rate as config text that parses back to ``per_second``: ``2000/s``, ``5/min``."""
    order = [(f"/{u}", 1.0 / RATE_UNITS[u]) for u in ("s", "min", "h")]
    return _whole(per_second, order, parse_rate, f"{float(per_second)!r}/s") if per_second else "0/s"


DECIMAL_BYTE_UNITS = ("KB", "MB", "GB", "TB")


def decimal_sizes(raw: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ``(dotted path, text)`` in a raw config written with a decimal size unit (``4GB``).

    Only sizes take these units, so any string that parses as one is a size, wherever it is.
    """
    if isinstance(raw, dict):
        return [hit for k, v in raw.items() for hit in decimal_sizes(v, f"{path}{k}.")]
    if isinstance(raw, list):
        return [hit for i, v in enumerate(raw) for hit in decimal_sizes(v, f"{path}{i}.")]
    if isinstance(raw, str) and (m := _BYTES_RE.match(raw)) and m.group(2) in DECIMAL_BYTE_UNITS:
        return [(path.rstrip("."), raw.strip())]
    return []


def _unit_schema(pattern: str, example: str, integer: bool = False) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "integer" if integer else "number", "minimum": 0},
            {"type": "string", "pattern": pattern},
        ],
        "examples": [example],
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(_unit_schema(DURATION_PATTERN, "30s")),
]
"""Seconds (float). YAML: ``250ms``, ``30s``, ``10min``, ``2h``, ``1d``, ``500us`` or a number of seconds."""

ByteSize = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(_unit_schema(BYTES_PATTERN, "8GiB", integer=True)),
]
"""Bytes (int). YAML: ``200B``, ``32KiB``, ``1MB``, ``8GiB`` or a number of bytes."""

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(_unit_schema(RATE_PATTERN, "5/min")),
]
"""Events per second (float). YAML: ``5/min``, ``200/s``, ``3/h``, ``1/d`` or a number per second."""

UNIT_OF: dict[Any, str] = {Duration: "seconds", ByteSize: "bytes", Rate: "per second"}

__all__ = [
    "WIDE_MARK",
    "WIDE_NOTE",
    "ByteSize",
    "Duration",
    "Rate",
    "Scale",
    "bytes_text",
    "decimal_sizes",
    "duration_text",
    "human",
    "number",
    "parse_bytes",
    "parse_duration",
    "parse_rate",
    "range_decimals",
    "rate_text",
    "scale_for",
    "too_wide",
    "with_interval",
    "with_range",
]


# ---------------------------------------------------------------------------------- tables of results

WIDE_MARK = "†"
WIDE_NOTE = (
    f"{WIDE_MARK} too wide to mean much: from fewer than 3 replications, or wider than the value itself "
    "(more --replications narrow it)"
)


@dataclass(frozen=True)
class Scale:
    """How a metric's values are shown in a table: divided by ``div``, with ``prefix`` and ``suffix``."""

    div: float = 1.0
    suffix: str = ""
    prefix: str = ""


def scale_for(unit: str, values: Iterable[Any] = (), kind: str = "") -> Scale:
    """One display unit for all the values of a metric (a row), chosen from the largest of them.

    Durations of things that happen once (``kind`` ``time``: a convergence, a detection) are in
    seconds, or minutes past 10 min; other durations (latencies) in ms below 1 s. Bytes in the largest
    binary unit; rates (``…/s``) per second; fractions in %; counts plain.
    """
    finite = [abs(float(v)) for v in values if _finite(v)]
    top = max(finite, default=0.0)
    if unit == "s":
        if top >= 600:
            return Scale(60.0, " min") if top < 36_000 else Scale(3600.0, " h")
        return Scale(1.0, " s") if kind == "time" or top >= 1 else Scale(1e-3, " ms")
    if unit in ("bytes", "bytes/s"):
        per = "/s" if unit == "bytes/s" else ""
        for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if top >= div:
                return Scale(float(div), f" {suffix}{per}")
        return Scale(1.0, f" B{per}")
    if unit.endswith("/s") or unit == "per second":
        return Scale(1.0, " /s")
    if unit == "fraction":
        return Scale(0.01, "%")
    if unit == "USD/month":
        return Scale(1.0, "/mo", "$")
    return Scale()


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _decimals(half: float) -> int:
    """Decimal places that show ``half`` to one significant figure (negative: round to tens, ...)."""
    d = -math.floor(math.log10(half))
    if round(half, d) >= 10.0 ** (1 - d):  # 0.00096 rounds up to 0.001: one place fewer
        d -= 1
    return d


def _fixed(x: float, decimals: int) -> str:
    if decimals <= 0:
        return f"{round(x, decimals):,.0f}"
    return f"{x:,.{decimals}f}"


def _plain(x: float) -> str:
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def with_interval(value: Any, half: Any, scale: Scale, wide: bool = False) -> str:
    """``0.1690 ± 0.0002 ms``: the half-width to one significant figure, the value to the same place
    (to two figures at least when the interval is wider than the value), the unit once; without a
    usable half-width, the value to three significant figures. ``wide`` appends :data:`WIDE_MARK`."""
    if not _finite(value):
        return "–"
    v = float(value) / scale.div
    h = float(half) / scale.div if _finite(half) else 0.0
    p, s = scale.prefix, scale.suffix
    if h <= 0 or h < abs(v) * 1e-6:  # no interval, or one far below the value's precision
        return f"{p}{_plain(v)}{s}"
    d = _decimals(h)
    if 0 < abs(v) < h:  # an interval wider than the value: keep the value's first two figures
        d = max(d, 1 - math.floor(math.log10(abs(v))))
    text = f"{p}{_fixed(v, d)} ± {_fixed(h, d)}{s}"
    return f"{text} {WIDE_MARK}" if wide else text


def range_decimals(low: Any, high: Any, scale: Scale) -> int | None:
    """Decimal places that show the interval [low, high] (its half-width to one significant figure)."""
    if not (_finite(low) and _finite(high)) or float(high) <= float(low):
        return None
    return _decimals((float(high) - float(low)) / 2 / scale.div)


def number(value: Any, scale: Scale, decimals: int | None = None) -> str:
    """``value`` in ``scale``: to ``decimals`` places, or three significant figures."""
    if not _finite(value):
        return "–"
    v = float(value) / scale.div
    text = _plain(v) if decimals is None else _fixed(v, decimals)
    return f"{scale.prefix}{text}{scale.suffix}"


def with_range(value: Any, low: Any, high: Any, scale: Scale) -> str:
    """``12.3 [11.9, 12.8] ms``: the value and its interval, to the interval's precision, unit once."""
    d = range_decimals(low, high, scale)
    if d is None or not _finite(value):
        return number(value, scale)
    bare = Scale(scale.div)
    low_high = f"[{number(low, bare, d)}, {number(high, bare, d)}]"
    return f"{scale.prefix}{number(value, bare, d)} {low_high}{scale.suffix}"


def too_wide(n: Any, value: Any, half: Any) -> bool:
    """An interval too wide to mean much: from fewer than 3 replications, or wider than the value."""
    if not (_finite(half) and float(half) > 0):
        return False
    return (_finite(n) and float(n) < 3) or (_finite(value) and float(half) > abs(float(value)))
