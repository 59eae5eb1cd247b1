"""`photorecon predict --model mean` against a plain csv-module writer of the same rows.

The baseline reads each masked photo with OpenCV, fills its boxes with the photo's mean
known colour and writes one `id,value` row per box pixel and channel with Python's csv
module: the least a submission writer does. Both run on the same split, interleaved, best of
`--repeats`; the table gives seconds and photorecon's time as a share of the baseline's.

Run: .venv/bin/python bench/predict.py [--split data/ds/test] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from photorecon.data.challenge_dir import open_split, read_entries


def csv_module_writer(split_dir: str, out: Path) -> int:
    """The baseline: OpenCV reads, mean fill of the boxes, csv.writer rows."""
    split = open_split(split_dir)
    rows = 0
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename_box_pixel", "value"])
        for entry in read_entries(split):
            image = cv2.imread(str(split.masked_dir / entry.filename), cv2.IMREAD_COLOR)
            known = np.ones(image.shape[:2], bool)
            for box in entry.boxes:
                known[box.slices()] = False
            mean = image[known].mean(axis=0) / 255.0
            for k, box in enumerate(entry.boxes, start=1):
                for r in range(box.row, box.row + box.height):
                    for c in range(box.col, box.col + box.width):
                        for ch in range(3):
                            writer.writerow([f"{entry.filename}_box{k}_{r}_{c}_{ch}", mean[ch]])
                            rows += 1
    return rows


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="data/ds/test", help="a challenge split folder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    photos = len(read_entries(open_split(args.split)))
    command = [sys.executable, "-m", "photorecon.cli", "predict", args.split, "--model", "mean"]
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sub.csv"
        for _ in range(args.repeats):
            theirs.append(timed(lambda: csv_module_writer(args.split, Path(tmp) / "base.csv")))
            ours.append(
                timed(lambda: subprocess.run([*command, "--out", str(out), "-q"], check=True))
            )
    print(f"{args.split}: {photos} photos, best of {args.repeats}")
    print("| writer | seconds | share of the csv-module writer |")
    print("|---|---|---|")
    print(f"| csv module (baseline) | {min(theirs):.2f} | 1.00 |")
    print(f"| photorecon predict --model mean | {min(ours):.2f} | {min(ours) / min(theirs):.2f} |")


if __name__ == "__main__":
    main()
