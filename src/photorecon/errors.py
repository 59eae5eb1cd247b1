"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations


class PhotoreconError(Exception):
    """A user-facing error: the message names the file (if any) and the problem."""


class NoHoles(PhotoreconError):
    """Nothing to fill in this image (no white boxes found, an empty mask)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for
    one-line errors built from a library's multi-line ones."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
