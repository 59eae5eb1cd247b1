"""Progress: one tqdm bar on a terminal; in logs and pipes, a plain line now and then.

Off a terminal (a log file, a pipe, CI) a bar's carriage returns would flood the output, so
there a `LogLines` stands in for the bar: it says nothing for a step that ends quickly, and
for a long one prints a line at most every LOG_EVERY seconds, with the count, the rate and
the time left (no step is silent in a log for longer). `say` prints the caller's own lines
(a line per file, per validation, a summary) without breaking a live bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

LOG_EVERY = 20.0  # seconds between a long step's lines in a log


def on_terminal() -> bool:
    """True when stderr, where bars are drawn, is an interactive terminal."""
    return sys.stderr.isatty()


def bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **kwargs: Any):
    """A tqdm bar over `iterable` (or with `total=`) on a terminal; elsewhere, when enabled,
    plain progress lines for a step that runs long."""
    if enabled and not on_terminal():
        return LogLines(iterable, **kwargs)
    from tqdm import tqdm

    return tqdm(iterable, disable=not enabled, **kwargs)


def clock(seconds: float) -> str:
    """12 s, 3:05, 1:02:03."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LogLines:
    """The part of tqdm's interface photorecon uses (iterate, update, set_postfix, close),
    printing `desc: n/total (share), rate, elapsed, about T left` every LOG_EVERY seconds."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        every: float = LOG_EVERY,
        stream=None,
        **_: Any,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.start_n = initial
        self.every = every
        self.stream = stream
        self.started = self.last = time.monotonic()
        self.postfix = ""
        self.share: float | None = None  # the share done, where the count alone does not say
        self.clock: tuple[float, float] | None = None  # (used, limit) s, where time bounds it
        self.spoke = False
        self.closed_at: int | None = None  # the count the last "done" line gave

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_share(self, share: float) -> None:
        """How much of the work is done (0-1), for a step bounded by time as well as count."""
        self.share = share

    def set_time_limit(self, used: float, limit: float) -> None:
        """The work is bounded by time, not by its count: `used` of `limit` seconds (a run's
        own clock, over all its chunks); lines show that instead of the count's share."""
        self.clock = (used, limit)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def close(self) -> None:
        if self.spoke and self.n != self.closed_at:
            self.closed_at = self.n
            self._line(time.monotonic(), done=True)

    def line(self, now: float, done: bool = False) -> str:
        elapsed = now - self.started
        done_here = self.n - self.start_n
        rate = done_here / elapsed if elapsed > 0 else 0.0
        if self.clock is not None:  # time-bounded: "466 steps, 0:12 of 1:00 (20%)"
            used, limit = self.clock
            parts = [f"{self.desc}: {self.n:,} {self.unit}", f"{rate:.1f} {self.unit}/s"]
            parts.append(f"{clock(used)} of {clock(limit)} ({min(used / limit, 1):.0%})")
            if self.postfix:
                parts.append(self.postfix)
            return ", ".join(parts)
        count = f"{self.n:,}/{self.total:,}" if self.total else f"{self.n:,}"
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        parts = [f"{self.desc}: {count} {self.unit}{share}", f"{rate:.1f} {self.unit}/s"]
        parts.append(f"{clock(elapsed)} elapsed")
        if self.share is not None:
            if 0 < self.share < 1 and not done:
                parts.append(f"about {clock(elapsed * (1 - self.share) / self.share)} left")
        elif self.total and rate > 0 and not done and self.n < self.total:
            parts.append(f"about {clock((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _line(self, now: float, done: bool = False) -> None:
        self.spoke = True
        stream = self.stream or sys.stderr
        print(self.line(now, done), file=stream, flush=True)


def say(line: str) -> None:
    """Print one plain line to stdout, above a live bar if there is one."""
    from tqdm import tqdm

    tqdm.write(line)
