"""Batch work split across workers, and picked up after a crash.

`--shard K/N` gives a run exactly its share of the inputs: a photo belongs to shard
1 + (a stable hash of its path) mod N, so the split does not change when photos are added and
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
from dataclasses import dataclass
from pathlib import Path

from photorecon.errors import PhotoreconError


@dataclass(frozen=True)
class Shard:
    """Share `index` (1-based) of `count`."""

    index: int = 1
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

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


class RunLog:
    """A JSON-lines log of a batch: what each photo came to, appended as it finishes."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.done: set[str] = set()
        if self.path is None or not self.path.is_file():
            return
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            try:
                entry = json.loads(line)
                source, target, status = entry["source"], entry["target"], entry["status"]
            except (ValueError, KeyError, TypeError):
                raise PhotoreconError(
                    f"{self.path}: line {number} is not a run log entry (JSON with source, "
                    "target, status)"
                ) from None
            if status == "done" and Path(target).exists():
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
