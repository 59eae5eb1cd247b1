"""Pure functions for cutting training samples: photo splits, multi-scale crops, random holes."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from photorecon.errors import PhotoreconError
from photorecon.masks import BOX_SIZE, Box, random_boxes


def split_photos(
    paths: list[str], seed: int, val_frac: float, test_frac: float
) -> dict[str, list[str]]:
    """Assign whole photos to train/val/test (each photo to exactly one split)."""
    if not 0 <= val_frac < 1 or not 0 <= test_frac < 1 or val_frac + test_frac >= 1:
        raise PhotoreconError(f"bad split fractions: val {val_frac}, test {test_frac}")
    order = np.random.default_rng(seed).permutation(len(paths))
    shuffled = [paths[i] for i in order]
    n_test = math.ceil(test_frac * len(paths)) if test_frac > 0 else 0
    n_val = math.ceil(val_frac * len(paths)) if val_frac > 0 else 0
    if n_test + n_val >= len(paths):
        raise PhotoreconError(f"{len(paths)} photos are too few for val and test splits")
    return {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test : n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val :]),
    }


def pack_splits(
    pack: str | Path, seed: int, val_frac: float, test_frac: float
) -> dict[str, list[str]]:
    """A photo pack's photos (paths under `pack`, from its manifest) split as `split_photos`
    splits them."""
    from photorecon.data.photos import read_manifest

    paths = [str(Path(pack) / r.path) for r in read_manifest(pack)]
    return split_photos(paths, seed, val_frac, test_frac)


def random_crop(image: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A square crop at a random scale (side log-uniform in [size, short side]) resized to size."""
    height, width = image.shape[:2]
    short = min(height, width)
    side = round(math.exp(rng.uniform(math.log(size), math.log(short)))) if short > size else short
    side = min(max(side, min(size, short)), short)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = image[top : top + side, left : left + side]
    if side == size:
        return crop.copy()
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def random_rects(
    rng: np.random.Generator, height: int, width: int, min_side: int = 16, max_side: int = 128
) -> list[Box]:
    """1-4 rectangles of random size, for models meant to fill more than the challenge's squares."""
    boxes = []
    for _ in range(int(rng.integers(1, 5))):
        h = int(rng.integers(min_side, min(max_side, height) + 1))
        w = int(rng.integers(min_side, min(max_side, width) + 1))
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        boxes.append(Box(top, left, h, w))
    return boxes


def augment(image: np.ndarray, rng: np.random.Generator, flips: bool, rot90: bool) -> np.ndarray:
    """Random horizontal flip and rotation by a multiple of 90 degrees."""
    if flips and rng.random() < 0.5:
        image = image[:, ::-1]
    if rot90:
        image = np.rot90(image, int(rng.integers(0, 4)))
    return np.ascontiguousarray(image)


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the long side is at most `max_side` (no-op when already small)."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def challenge_sample(
    photo: np.ndarray,
    rng: np.random.Generator,
    size: int = 256,
    box_size: int = BOX_SIZE,
    boxes: int = 2,
) -> tuple[np.ndarray, list[Box]]:
    """One challenge-style sample: a multi-scale crop and its square holes."""
    crop = random_crop(photo, rng, size)
    return crop, random_boxes(rng, size, size, boxes, box_size)
