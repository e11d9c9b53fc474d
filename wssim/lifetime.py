"""Process lifetime: nothing a run starts outlives it.

=====================  ===================================================================================
how the run ends       what stops its descendants
=====================  ===================================================================================
return, error          each owner's ``finally``: the sweep shuts its pool, the live harness its fleet
Ctrl-C (SIGINT)        the same ``finally`` blocks, through :class:`KeyboardInterrupt`
SIGTERM, SIGHUP        :func:`terminate_on_signals` raises :class:`Terminated` (a ``KeyboardInterrupt``)
                       in the main thread, so the same teardown runs, in the same order
SIGKILL of the parent  pool workers asked the kernel to kill them when their parent dies
                       (:func:`die_with_parent`, Linux ``PR_SET_PDEATHSIG``)
=====================  ===================================================================================

Invariant: a second SIGTERM or SIGHUP during the teardown does not interrupt it (it is noted and
ignored); SIGKILL remains the way to stop at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1
_active = False


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP): tear down as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (once).

    Does nothing outside the main thread or when already active (nesting is harmless).
    """
    global _active
    if _active or threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:  # later signals must not interrupt the teardown the first one started
            raised = True
            raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    _active = True
    try:
        yield
    finally:
        _active = False
        for sig, old in previous.items():
            signal.signal(sig, old)


def reset_signals() -> None:
    """In a forked child: default actions for SIGTERM and SIGHUP (a handler inherited from the parent
    would turn the parent's ``terminate()`` into an exception the child might catch)."""
    global _active
    _active = False
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when the thread that forked it ends (Linux).

    Call it first thing in a forked child; exits at once if the parent is already gone. Elsewhere it
    does nothing: the parent's teardown still stops its children.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
