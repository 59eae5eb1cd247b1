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

    def fill_in(self, name: str) -> str:
        """`name` with "{shard}" replaced by this share, "K-of-N" (a log or a part per shard)."""
        return name.replace("{shard}", f"{self.index}-of-{self.count}")

    def holds(self, name: str) -> bool:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def parse_shard(text: str | None) -> Shard:
    """`K/N` (1 <= K <= N); None: torchrun's RANK/WORLD_SIZE when set, else the whole."""
    if text is None:
        world = os.environ.get("WORLD_SIZE", "")
        rank = os.environ.get("RANK", "")
        if world.isdigit() and rank.isdigit() and int(world) > 1:
            return Shard(int(rank) + 1, int(world))
        return Shard()
    k, sep, n = text.partition("/")
    if sep and k.strip().isdigit() and n.strip().isdigit():
        shard = Shard(int(k), int(n))
        if 1 <= shard.index <= shard.count:
            return shard
    raise PhotoreconError(f"--shard: expected K/N with 1 <= K <= N (such as 2/4), got {text!r}")


def _exists(target: str) -> bool:
    from photorecon.remote import local_or_remote

    try:
        return local_or_remote(target).exists()
    except PhotoreconError:  # a filesystem no longer at hand: do the photo again
        return False


def read_entries(path: Path, required: tuple[str, ...]) -> list[dict]:
    """A run log's entries, each a JSON object with the `required` keys, or one line naming
    the file and the first line that is not one."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not set(required) <= entry.keys():
                raise ValueError
        except (ValueError, RecursionError):
            raise PhotoreconError(
                f"{path}: line {number} is not a run log entry (JSON with source, target, status)"
            ) from None
        entries.append(entry)
    return entries


class RunLog:
    """A JSON-lines log of a batch: what each photo came to, appended as it finishes."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.done: set[str] = set()
        if self.path is None or not self.path.is_file():
            return
        for entry in read_entries(self.path, ("source", "target", "status")):
            source, target, status = entry["source"], entry["target"], entry["status"]
            if status == "done" and _exists(str(target)):
                self.done.add(str(source))
            elif status != "done":
                self.done.discard(str(source))

    def is_done(self, source: Path) -> bool:
        return str(source) in self.done

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
        if reason:
            entry["reason"] = reason.strip().splitlines()[0]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
        except OSError as exc:
            raise PhotoreconError(
                f"{self.path}: cannot write the run log ({exc.strerror})"
            ) from None


@dataclass
class Summary:
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


def summarize(paths: list[str | Path]) -> Summary:
    """The run logs of a batch's shards merged: a photo's latest entry (by its time, then by
    the order of the logs and lines) says where it stands."""
    summary = Summary()
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
