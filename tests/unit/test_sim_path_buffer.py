"""The path between the send queue and a reader holds whole messages before the queue grows."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.sim import simulate


def run(path_buffer: str, overflow: str = "drop_oldest") -> dict[str, float]:
    """One client that reads once a minute; 41 messages of 1 KiB in 21 s; a queue of 5."""
    return simulate(
        load_config(
            {
                "duration": "21s",
                "clients": {
                    "count": 1,
                    "connect_ramp": "0s",
                    "rooms": {"count": 1, "per_client": 1},
                    "publish_rate": "2/s",
                    "publish_arrivals": "periodic",
                    "message_size": "1KiB",
                    "slow_consumers": {"fraction": 1.0, "drain_rate": "1/min", "read_time": "deterministic"},
                    "reconnect": {"strategy": "none"},
                },
                "gateways": {
                    "count": 1,
                    "send_queue": {"limit": 5, "overflow": overflow, "path_buffer": path_buffer},
                },
                "backplane": {"kind": "redis_streams"},
            }
        )
    ).metrics


@pytest.mark.parametrize(("path_buffer", "held"), [("0B", 0), ("3KiB", 3), ("3.5KiB", 3)])
def test_the_path_holds_whole_messages_before_the_queue_overflows(path_buffer, held):
    m = run(path_buffer)
    assert m["messages_published"] == 41
    assert m["messages_dropped_overflow"] == 41 - 5 - held  # nothing read in the first minute
    assert m["send_queue_depth_max"] == 5  # the queue proper, not what the path holds


def test_a_disconnect_waits_for_the_path_to_fill_too():
    first = run("0B", "disconnect")["first_slow_consumer_disconnect_s"]
    later = run("4KiB", "disconnect")["first_slow_consumer_disconnect_s"]
    assert later - first == pytest.approx(4 * 0.5, abs=1e-3)  # four more messages, 2 per second (+ latency)
