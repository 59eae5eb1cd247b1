"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations


class PhotoreconError(Exception):
    """A user-facing error: the message names the file (if any) and the problem."""


class NoHoles(PhotoreconError):
    """Nothing to fill in this image (no white boxes found, an empty mask)."""
