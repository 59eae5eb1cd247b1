"""Latency of `photorecon.fill` on CPU for several photo sizes, hole counts and models.

Run: .venv/bin/python bench/fill.py [--models ffc,telea,ns,mean] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from photorecon import fill
from photorecon.api import cached_model

SIZES = ((256, 256), (768, 1024), (3000, 4000))  # (height, width)
HOLES = (1, 2, 5)


def photo(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth noisy test image (content does not change the timing much)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(yy / 37), np.cos(xx / 53), np.sin((yy + xx) / 71)], axis=2)
    noise = rng.normal(0, 0.05, (height, width, 3))
    return np.clip((base * 0.4 + 0.5 + noise) * 255, 0, 255).astype(np.uint8)


def holes(height: int, width: int, count: int, rng: np.random.Generator) -> list[tuple]:
    """`count` 75x75 squares (the challenge's size) placed at random."""
    side = 75
    return [
        (int(rng.integers(0, height - side)), int(rng.integers(0, width - side)), side, side)
        for _ in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="ffc,telea,ns,mean")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    models = args.models.split(",")
    for name in models:
        cached_model(name, "cpu")  # load once, outside the timings
    print(f"CPU, torch threads {torch.get_num_threads()}, best of {args.repeats}; 75x75 holes")
    print(f"| {'photo':>9s} | holes | " + " | ".join(f"{m:>9s}" for m in models) + " |")
    print("|" + "-" * 11 + "|-------|" + "|".join("-" * 11 for _ in models) + "|")
    for height, width in SIZES:
        image = photo(height, width, rng)
        for count in HOLES:
            boxes = holes(height, width, count, rng)
            cells = []
            for name in models:
                fill(image, boxes, model=name)  # warm-up
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    fill(image, boxes, model=name)
                    times.append(time.perf_counter() - start)
                cells.append(f"{1000 * min(times):7.0f}ms")
            print(
                f"| {width:>4d}x{height:<4d} | {count:5d} | "
                + " | ".join(f"{c:>9s}" for c in cells)
                + " |"
            )


if __name__ == "__main__":
    main()
