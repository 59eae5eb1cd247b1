"""Progress bars: one tqdm bar on a terminal, none in logs and pipes.

Off a terminal (a log file, a pipe, CI) a bar's carriage returns would flood the output, so
the bar is disabled there and the caller's own plain lines (a line per file, per validation,
a summary) are what the reader gets. `say` prints such a line without breaking a live bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def on_terminal() -> bool:
    """True when stderr, where bars are drawn, is an interactive terminal."""
    return sys.stderr.isatty()


def bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **kwargs: Any):
    """A tqdm bar over `iterable` (or with `total=`), drawn only when enabled and on a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, disable=not enabled or not on_terminal(), **kwargs)


def say(line: str) -> None:
    """Print one plain line to stdout, above a live bar if there is one."""
    from tqdm import tqdm

    tqdm.write(line)
