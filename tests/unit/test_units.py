"""Units: human strings and bare SI numbers parse to seconds, bytes and per-second rates; config text
written from SI numbers parses back to them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from wssim.units import (
    BYTE_UNITS,
    DURATION_UNITS,
    RATE_UNITS,
    ByteSize,
    Duration,
    Rate,
    bytes_text,
    duration_text,
    parse_bytes,
    parse_duration,
    parse_rate,
    rate_text,
)


class M(BaseModel):
    d: Duration = 0.0
    b: ByteSize = 0
    r: Rate = 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("10min", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("500us", 0.0005),
        ("1.5s", 1.5),
        (" 5 min ", 300.0),
        ("0s", 0.0),
        ("12", 12.0),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(M(d=text).d, float)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("200B", 200),
        ("1KB", 1000),
        ("1MB", 10**6),
        ("2GB", 2 * 10**9),
        ("32KiB", 32 * 1024),
        ("256MiB", 256 * 2**20),
        ("8GiB", 8 * 2**30),
        ("1.5KiB", 1536),
        ("4096", 4096),
        (4096, 4096),
        (0, 0),
    ],
)
def test_byte_size(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size
    assert type(M(b=text).b) is int


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5/min", 5 / 60),
        ("200/s", 200.0),
        ("3/h", 3 / 3600),
        ("1/d", 1 / 86400),
        ("10/5min", 10 / 300),
        ("0/s", 0.0),
        ("7", 7.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_rate(text: str | float, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("d", "10 minutes", "did you mean `min`"),
        ("d", "5m", "did you mean `min`"),
        ("d", "3 fortnights", "units: us, ms, s, min, h, d"),
        ("b", "8gib", "did you mean `GiB`"),
        ("b", "8 gigs", "KiB, MiB, GiB"),
        ("r", "5/minute", "did you mean `min`"),
        ("r", "5 per min", "/s, /min"),
        ("d", "abc", "`30s`"),
    ],
)
def test_wrong_unit_lists_units_and_example(field: str, value: str, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        M(**{field: value})
    message = info.value.errors()[0]["msg"]
    assert expected in message
    assert "Write it like" in message


@pytest.mark.parametrize(
    ("field", "value"), [("d", -1), ("d", "-3s"), ("b", -5), ("b", "-1KiB"), ("r", "-2/s")]
)
def test_negative_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match="negative"):
        M(**{field: value})


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}, math.inf, math.nan, "inf"])
def test_non_numbers_rejected(value: object) -> None:
    for field in ("d", "b", "r"):
        with pytest.raises(ValidationError):
            M(**{field: value})


def test_fractional_bytes_rejected() -> None:
    with pytest.raises(ValidationError, match="whole number of bytes"):
        M(b="1.5B")


def test_dump_is_plain_si_and_reloads() -> None:
    m = M(d="250ms", b="8GiB", r="5/min")
    dumped = m.model_dump(mode="json")
    assert dumped == {"d": 0.25, "b": 8 * 2**30, "r": pytest.approx(5 / 60)}
    assert M(**dumped) == m


def test_json_schema_accepts_strings_and_numbers() -> None:
    schema = M.model_json_schema()["properties"]
    for name in ("d", "b", "r"):
        kinds = {entry["type"] for entry in schema[name]["anyOf"]}
        assert kinds in ({"number", "string"}, {"integer", "string"})


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(sorted(DURATION_UNITS)))
def test_duration_scales_by_unit(x: float, unit: str) -> None:
    assert parse_duration(f"{x!r}{unit}") == pytest.approx(x * DURATION_UNITS[unit])


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(BYTE_UNITS)))
def test_bytes_scale_by_unit(n: int, unit: str) -> None:
    assert parse_bytes(f"{n}{unit}") == n * BYTE_UNITS[unit]


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(sorted(RATE_UNITS)))
def test_rate_scales_by_unit(x: float, unit: str) -> None:
    assert parse_rate(f"{x!r}/{unit}") == pytest.approx(x / RATE_UNITS[unit])


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_duration_text_parses_back(seconds: float) -> None:
    assert parse_duration(duration_text(seconds)) == pytest.approx(seconds, rel=1e-12)


@given(st.integers(min_value=0, max_value=2**50))
def test_bytes_text_parses_back(size: int) -> None:
    assert parse_bytes(bytes_text(size)) == size


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_rate_text_parses_back(per_second: float) -> None:
    assert parse_rate(rate_text(per_second)) == pytest.approx(per_second, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "value"),
    [(duration_text(120), "2min"), (duration_text(1.5), "1500ms"), (bytes_text(8 * 2**30), "8GiB"),
     (bytes_text(1000), "1000B"), (rate_text(5 / 60), "5/min"), (rate_text(2000), "2000/s")],
)  # fmt: skip
def test_config_text_picks_the_largest_whole_unit(text: str, value: str) -> None:
    assert text == value


@pytest.mark.parametrize(
    ("value", "half", "unit", "kind", "n", "expected"),
    [
        (0.000169, 0.00000018, "s", "quantile", 5, "0.1690 ± 0.0002 ms"),
        (12.5, 2.26e-14, "s", "time", 5, "12.5 s"),  # an interval far below the value's precision
        (4.5, 6.35, "crashes", "count", 2, "4.5 ± 6.3 †"),  # wider than the value: two figures kept
        (0.13, 0.012, "s", "time", 5, "0.13 ± 0.01 s"),  # herd_convergence_s stays in seconds
        (3012.4, 123.0, "handshakes/s", "peak", 5, "3,000 ± 100 /s"),
        (0.000169, 0.00000096, "s", "quantile", 5, "0.169 ± 0.001 ms"),  # 0.00096 rounds up a place
        (2.5e9, 1.1e8, "bytes", "peak", 5, "2.3 ± 0.1 GiB"),
        (float("nan"), 1.0, "s", "time", 5, "–"),
    ],
)
def test_a_value_is_shown_to_the_precision_of_its_interval(value, half, unit, kind, n, expected):
    from wssim.units import scale_for, too_wide, with_interval

    scale = scale_for(unit, [value], kind)
    assert with_interval(value, half, scale, too_wide(n, value, half)) == expected
