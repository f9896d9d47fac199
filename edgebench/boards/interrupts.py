"""SIGTERM as Ctrl-C while something must be given back (a held labgrid place), and both held off while it
is being given back.

Python's default SIGTERM ends the process at once, past every `finally`; CI runners and job schedulers stop
a job with SIGTERM, so without this a cancelled job would leave its board acquired. Signal handlers can
only be set from the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so it takes the same clean-up path."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def sigterm_as_interrupt() -> Callable[[], None]:
    """Until the returned function is called, SIGTERM raises Terminated (when nobody else handles it)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        return lambda: None  # someone else decides what SIGTERM does here (a test runner, an embedding app)
    signal.signal(signal.SIGTERM, _raise_terminated)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (a release half-sent would leave the place held),
    then interrupt as they would have."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
    if signal.SIGTERM in arrived:
        raise Terminated()
    if arrived:
        raise KeyboardInterrupt()
