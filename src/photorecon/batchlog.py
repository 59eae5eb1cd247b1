"""Batch work split across workers, and picked up after a crash.

`--shard K/N` gives a run exactly its share of the inputs: a photo belongs to shard
1 + (a stable hash of its name: in its folder, or the path given) mod N, so the split does not
depend on where the archive is mounted, does not change when photos are added, and
N runs (by hand, or one per rank under torchrun, which sets RANK and WORLD_SIZE) cover every
photo exactly once. A run log (`--log FILE`, JSON lines: source, target, status, the one-line
reason of a failure, seconds) is appended to as each photo finishes; run again with the same
log, a run skips what is done (and still on disk) and retries what failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from photorecon.errors import PhotoreconError


@dataclass(frozen=True)
class Shard:
    """Share `index` (1-based) of `count`."""

    index: int = 1
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def name_for(self, name: str) -> str:
        """`name` with "{shard}" replaced by this share, "K-of-N" (a log or a part per shard)."""
        return name.replace("{shard}", f"{self.index}-of-{self.count}")

    def holds(self, name: str) -> bool:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def _whole(text: str) -> int | None:
    """A whole number written in ASCII digits (str.isdigit takes superscripts), or None."""
    text = text.strip()
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def parse_shard(text: str | None) -> Shard:
    """`K/N` (1 <= K <= N); None: torchrun's RANK/WORLD_SIZE when set, else the whole."""
    if text is None:
        raw_world, raw_rank = os.environ.get("WORLD_SIZE"), os.environ.get("RANK")
        if raw_world is None and raw_rank is None:
            return Shard()
        world, rank = _whole(raw_world or "1"), _whole(raw_rank or "0")
        if world is None or world < 1:
            raise PhotoreconError(f"WORLD_SIZE={raw_world!r} is not a whole number of ranks")
        if rank is None:
            raise PhotoreconError(f"RANK={raw_rank!r} is not a whole number")
        if rank >= world:  # ranks count from 0: a rank past the end would do nothing
            raise PhotoreconError(f"RANK {rank} is not below WORLD_SIZE {world}")
        return Shard(rank + 1, world) if world > 1 else Shard()
    k, sep, n = text.partition("/")
    index, count = _whole(k), _whole(n)
    if sep and index is not None and count is not None and 1 <= index <= count:
        return Shard(index, count)
    raise PhotoreconError(f"--shard: expected K/N with 1 <= K <= N (such as 2/4), got {text!r}")


def _exists(target: str) -> bool:
    from photorecon.remote import local_or_remote

    try:
        return local_or_remote(target).exists()
    except PhotoreconError:  # a filesystem no longer at hand: do the photo again
        return False


def _entry(line: bytes, required: tuple[str, ...]) -> dict | None:
    """A run log line as an entry (a JSON object with the `required` keys as strings, its
    seconds a number), or None."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(entry, dict) or not set(required) <= entry.keys():
        return None
    if not all(isinstance(entry[key], str) for key in required):
        return None
    seconds = entry.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return entry


def read_entries(path: Path, required: tuple[str, ...]) -> list[dict]:
    """A run log's entries, each a JSON object with the `required` keys, or one line naming
    the file and the first line that is not one. Blank lines are passed over, and so is a
    torn last line (what a power cut or a full disk leaves), with a notice."""
    import warnings

    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise PhotoreconError(f"{path}: cannot read ({exc.strerror})") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry = _entry(line, required)
        if entry is None and number == len(lines):  # not even its newline was written
            warnings.warn(f"{path}: line {number} is torn (cut short); passed over", stacklevel=2)
            continue
        if entry is None:
            raise PhotoreconError(
                f"{path}: line {number} is not a run log entry "
                f"(JSON with {', '.join(required)} as text)"
            )
        entries.append(entry)
    return entries


class RunLog:
    """A JSON-lines log of a batch: what each photo came to, appended as it finishes.

    `settings` (the run's own: its command and the options that decide an output) is written
    with each entry; a photo counts as done only for a run whose target and settings are the
    ones its entry records, and whose output is still there."""

    def __init__(self, path: str | Path | None, settings: str = "") -> None:
        self.path = Path(path) if path else None
        self.settings = settings
        self.done: dict[str, str] = {}  # source -> the target it was done to
        if self.path is None or not self.path.is_file():
            return
        for entry in read_entries(self.path, ("source", "target", "status")):
            source, target, status = entry["source"], entry["target"], entry["status"]
            same = str(entry.get("settings", "")) == settings
            if status == "done" and same and _exists(target):
                self.done[source] = target
            elif status != "done" or same:
                self.done.pop(source, None)

    def is_done(self, source: Path, target: Path | None = None) -> bool:
        done_to = self.done.get(str(source))
        return done_to is not None and (target is None or done_to == str(target))

    def write(
        self, source: Path, target: Path, status: str, reason: str = "", seconds: float = 0.0
    ) -> None:
        if self.path is None:
            return
        entry = {
            "source": str(source),
            "target": str(target),
            "status": status,
            "seconds": round(seconds, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if self.settings:
            entry["settings"] = self.settings
        if reason:
            entry["reason"] = reason.strip().splitlines()[0]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "r+b" if self.path.exists() else "wb") as fh:
                _drop_torn_tail(fh)
                fh.write((json.dumps(entry) + "\n").encode())
        except OSError as exc:
            raise PhotoreconError(
                f"{self.path}: cannot write the run log ({exc.strerror})"
            ) from None


def _drop_torn_tail(fh) -> None:
    """Cut a torn last line (no newline after it) off an open log, and leave the position at
    the end, ready to append."""
    end = fh.seek(0, os.SEEK_END)
    pos = end
    while pos > 0:
        step = min(4096, pos)
        fh.seek(pos - step)
        block = fh.read(step)
        cut = block.rfind(b"\n")
        if cut >= 0:
            pos = pos - step + cut + 1
            break
        pos -= step
    if pos != end:
        fh.truncate(pos)
    fh.seek(pos)


@dataclass
class LogSummary:
    """What one or more run logs say, merged: each photo's latest status."""

    status: dict[str, dict] = field(default_factory=dict)  # source -> its latest entry
    logs: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.status.values():
            out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out

    @property
    def seconds(self) -> float:
        return sum(float(e.get("seconds", 0.0)) for e in self.status.values())

    def failed(self) -> list[dict]:
        return [e for e in self.status.values() if e["status"] == "failed"]


def summarize(paths: list[str | Path]) -> LogSummary:
    """The run logs of a batch's shards merged: a photo's latest entry (by its time, then by
    the order of the logs and lines) says where it stands."""
    summary = LogSummary()
    for path in paths:
        log = Path(path)
        if not log.is_file():
            raise PhotoreconError(f"{log}: no such run log")
        for entry in read_entries(log, ("source", "status")):
            old = summary.status.get(str(entry["source"]))
            if old is None or str(entry.get("time", "")) >= str(old.get("time", "")):
                summary.status[str(entry["source"])] = entry
        summary.logs += 1
    return summary


def run_settings(command: str, **options) -> str:
    """A run's settings as the log records them: the command and the options that decide an
    output, as compact JSON (equal settings, equal text)."""
    return json.dumps({"command": command, **options}, sort_keys=True, default=str)
