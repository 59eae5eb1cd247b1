"""`photorecon summary`: what the run logs of a batch say, merged."""

from __future__ import annotations

import argparse

from photorecon.cli.options import Command
from photorecon.errors import PhotoreconError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", help="run logs (--run-log), one per shard or rerun")


def run(args: argparse.Namespace) -> None:
    from photorecon.batchlog import summarize

    summary = summarize(args.logs)
    counts = summary.counts()
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    print(
        f"{len(summary.status)} photos in {summary.logs} logs: {said}; "
        f"{summary.seconds:.1f} s of work"
    )
    failed = summary.failed()
    for entry in failed:
        print(f"failed: {entry['source']}: {entry.get('reason', '')}")
    if failed:
        raise PhotoreconError(f"{len(failed)} of {len(summary.status)} photos are not filled")


COMMANDS = (
    Command("summary", "what the run logs of a batch fill say, merged", add_arguments, run),
)
