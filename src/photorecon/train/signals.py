"""Stop requests: SIGTERM (a preempted spot instance, `kill`) or SIGINT (Ctrl+C) end a training
run cleanly after the current step, with a checkpoint, instead of losing what it learned."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopSignals:
    """Context manager: while inside, SIGTERM/SIGINT set `requested` (a second SIGINT still
    interrupts at once); the previous handlers come back on exit. Outside the main thread
    (where handlers cannot be installed) it does nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
