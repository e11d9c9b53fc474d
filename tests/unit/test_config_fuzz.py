"""Whatever the input, loading a config either succeeds or raises ConfigError with a human message."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wssim.config import all_paths, load_config, set_path, split_path
from wssim.errors import ConfigError

PATHS = [p.replace("faults.N", "faults.0") for p in all_paths()]
EXTRA_PATHS = ["sweep", "faults", "faults.0", "sweep.gateways.count", "sweep.zip", "clients", "zip", "a..b"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["30s", "5/min", "8GiB", "none", "zipf", "gateway_crash", "-1", "1e3", "L7", "[", "{a: 1}"]
    ),
)
KEYS = st.sampled_from(["kind", "at", "count", "zip", "gateways.count", "x", "duration"])
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
BASE: dict[str, Any] = {
    "faults": [{"kind": "gateway_crash", "at": "30s"}],
    "sweep": {"gateways.count": [1, 2]},
}


def _check(raw: Any, overrides: list[str] | None = None) -> None:
    try:
        load_config(raw, overrides)
    except ConfigError as exc:
        assert exc.message and "\n" not in exc.message
        for word in ("Input should", "https://", "pydantic", "Traceback"):
            assert word not in exc.message, exc.message


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(PATHS + EXTRA_PATHS), VALUES), max_size=5))
def test_random_values_at_schema_paths(items: list[tuple[str, Any]]) -> None:
    raw: dict[str, Any] = {}
    for path, value in items:
        try:
            set_path(raw, split_path(path), value)
        except (TypeError, IndexError, AttributeError, ValueError, KeyError):
            continue  # the path could not be built in this random document
    _check(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*PATHS, *EXTRA_PATHS, "", "faults.9.at", "faults.x.at"]),
            st.sampled_from(["=", ":", ""]),
            st.text(max_size=10)
            | st.sampled_from(["[1,2]", "null", "", "30s", "[", "{kind: spike}", "!!x {}"]),
        ),
        max_size=4,
    )
)
def test_random_overrides(items: list[tuple[str, str, str]]) -> None:
    _check(BASE, [path + sep + value for path, sep, value in items])
