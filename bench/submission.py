"""Speed of the submission writer and scorer at the challenge's test size (200 photos, 6.75M rows).

Run: .venv/bin/python bench/submission.py [--photos 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from photorecon.challenge import MaskedEntry, score_files, write_submission
from photorecon.masks import random_boxes


def make_items(photos: int, seed: int, dtype: str) -> list[tuple[MaskedEntry, np.ndarray]]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(photos):
        boxes = tuple(random_boxes(rng, 256, 256))
        if dtype == "uint8":
            image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        else:
            image = rng.random((256, 256, 3), dtype=np.float32)
        items.append((MaskedEntry(f"{i:05d}.png", boxes), image))
    return items


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        truth, sub = Path(tmp) / "truth.csv", Path(tmp) / "sub.csv"
        truth_items = make_items(args.photos, 0, "uint8")
        pred_items = [
            (e, make_items(1, i + 1, "float32")[0][1]) for i, (e, _) in enumerate(truth_items)
        ]
        rows = write_submission(truth, truth_items)
        t_u8 = best_of(args.repeats, lambda: write_submission(truth, truth_items))
        t_f32 = best_of(args.repeats, lambda: write_submission(sub, pred_items))
        t_score = best_of(args.repeats, lambda: score_files(sub, truth))
        size = sub.stat().st_size / 2**20
    print(
        f"{args.photos} photos, {rows:,} rows, submission {size:.0f} MiB (best of {args.repeats})"
    )
    print(f"| {'step':32s} | {'seconds':>8s} | {'rows/s':>12s} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 14}|")
    for label, t in (
        ("write (uint8 truth)", t_u8),
        ("write (float32 predictions)", t_f32),
        ("score (read both + RMSE)", t_score),
    ):
        print(f"| {label:32s} | {t:8.3f} | {rows / t:12,.0f} |")


if __name__ == "__main__":
    main()
