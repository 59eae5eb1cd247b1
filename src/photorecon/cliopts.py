"""Option groups more than one command takes, declared once (argparse)."""

from __future__ import annotations

import argparse


def add_batch_options(p: argparse.ArgumentParser, verb: str) -> None:
    """--shard and --run-log: a batch split across runs and picked up after a crash."""
    p.add_argument(
        "--shard",
        metavar="K/N",
        help=f"{verb} only share K of N of the photos (by a stable hash of each name, so N "
        "runs cover each photo once; under torchrun, RANK/WORLD_SIZE choose it)",
    )
    p.add_argument(
        "--run-log",
        "--log",
        dest="log",
        metavar="FILE",
        help="run log (JSON lines): a rerun with the same log skips photos done (to the same "
        "output, with the same settings) and retries those that failed; {shard} in the name "
        "becomes K-of-N (--log is the same, but torchrun takes it for its own --log-dir)",
    )
