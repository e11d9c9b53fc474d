"""Fixtures shared by the unit tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def base_config() -> dict[str, Any]:
    """A small valid raw config (a fresh copy per test): 100 clients, 4 gateways, one crash."""
    return {
        "name": "base",
        "duration": "60s",
        "clients": {"count": 100},
        "gateways": {"count": 4, "keepalive": {"ping_interval": "25s"}},
        "faults": [{"kind": "gateway_crash", "at": "30s"}],
    }
