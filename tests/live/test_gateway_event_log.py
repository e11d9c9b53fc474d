"""The gateway's accept queue holds a herd, and its event log records where the crosscheck measures.

A herd's connections arrive within milliseconds. While the gateway's event loop is busy the kernel
queues them in the listen backlog; asyncio's default of 100 dropped the rest, and each dropped SYN
cost its client TCP's 1 s retransmission (4 stragglers made a 0.2 s herd converge in 1.2 s live).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time

import pytest
from live_helpers import raw_connect

from reference_impl.system.event_log import ACCEPT, CLOSE, read_events

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

HERD = 300  # more than asyncio's default backlog of 100


def connects_completed(port: int, n: int, wait: float) -> int:
    """Start ``n`` TCP connects at once; how many complete (SYN-ACK received) within ``wait`` s."""
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE)
            socks.append(s)
        done: set[socket.socket] = set()
        deadline = time.monotonic() + wait
        while len(done) < n and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    done.add(s)
                sel.unregister(s)
        return len(done)
    finally:
        for s in socks:
            s.close()
        sel.close()


def test_a_busy_gateway_queues_a_whole_herd_in_its_listen_backlog(gateway_process):
    gw = gateway_process()
    os.kill(gw.proc.pid, signal.SIGSTOP)  # an event loop too busy to accept: the kernel queues
    try:
        completed = connects_completed(gw.port, HERD, wait=0.5)
    finally:
        os.kill(gw.proc.pid, signal.SIGCONT)
    assert completed == HERD, f"{HERD - completed} of {HERD} SYNs dropped by a full accept queue"


def test_the_event_log_records_each_accept_and_close(gateway_process, tmp_path):
    log = tmp_path / "events.bin"
    gw = gateway_process("--gw", f"event_log={log}")
    before = time.time()
    socks = [raw_connect(gw.port, f"c{i}") for i in range(3)]
    socks[0].close()
    deadline = time.monotonic() + 5
    while sum(kind == CLOSE for _, kind in read_events(log)) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(gw.proc.pid, signal.SIGKILL)  # what was logged survives a kill
    gw.proc.wait(5)
    events = read_events(log)
    assert [kind for _, kind in events].count(ACCEPT) == 3
    assert [kind for _, kind in events].count(CLOSE) == 1
    assert all(before <= t <= time.time() for t, _ in events)
    for s in socks[1:]:
        s.close()
