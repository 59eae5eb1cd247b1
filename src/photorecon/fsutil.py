"""File writes: outputs appear whole or not at all, and a write that fails is one line.

A regular file (or a new one) is written to a temporary file beside it and renamed onto it, so
a failed or interrupted write leaves what was there; a replaced file keeps its mode and owner,
and a symlink stays a link to the file that is replaced. A special file (a FIFO, /dev/stdout, a
terminal) cannot be replaced that way: it is written to directly, and `-` means standard output.
Also where photorecon keeps its cache (`cache_dir`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from photorecon.errors import PhotoreconError

STDOUT = "-"


def relative_problem(name) -> str | None:
    """Why `name` (from a file others wrote: a shard, a manifest) is not a relative path that
    stays inside the folder it is joined to, or None: it must be a non-empty string of
    `/`-separated parts, none empty, `.` or `..`, with no backslash or NUL, not absolute."""
    if not isinstance(name, str) or not name:
        return "not a file name"
    if "\\" in name or "\0" in name or ":" in name.split("/")[0]:
        return "not a plain relative path"
    if name.startswith("/"):
        return "an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "a path that leaves its folder or names none"
    return None


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a MiB at a time."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_special(path: Path) -> bool:
    """True for an existing file that is neither a regular file nor a folder."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_error(path: Path, exc: OSError) -> PhotoreconError:
    return PhotoreconError(f"{path}: cannot write ({exc.strerror or exc})")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    A special file is yielded itself. An OSError (disk full, no permission, a file where a
    folder should be) becomes a one-line PhotoreconError, and the destination is untouched."""
    path = Path(path)
    if path.is_symlink():  # a link is kept: the file it points to is the one replaced
        path = Path(os.path.realpath(path))
    if is_special(path):
        try:
            yield path
        except OSError as exc:
            raise _write_error(path, exc) from None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        keep_owner_and_mode(tmp_path, path)
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def keep_owner_and_mode(tmp: Path, path: Path) -> None:
    """Give the new file what the file it replaces had (its mode, and its owner and group where
    this process may set them); a new file gets what a plain open() would give it (mkstemp
    makes 0600 files)."""
    try:
        old = path.stat()
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
    with contextlib.suppress(OSError):  # only root may give a file away
        os.chown(tmp, old.st_uid, old.st_gid)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; rename it onto `path` on success.
    `-` is standard output."""
    if str(path) == STDOUT:
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        try:
            yield stream
            stream.flush()
        except OSError as exc:
            raise _write_error(Path("<stdout>"), exc) from None
        return
    with atomic_path(path) as tmp:
        try:
            with open(tmp, mode, **kwargs) as fh:
                yield fh
        except OSError as exc:  # a special file's writes fail here (ENOSPC on /dev/full)
            raise _write_error(Path(path), exc) from None


def cache_dir() -> Path:
    """Where exported ONNX models (and OpenVINO's compiled copies of them) are kept:
    $PHOTORECON_CACHE or the user's cache folder."""
    if os.environ.get("PHOTORECON_CACHE"):
        return Path(os.environ["PHOTORECON_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "photorecon"
