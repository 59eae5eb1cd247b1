"""Rectangular holes: boxes, masks made from them, and white-box detection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A rectangular hole: top-left (row, col) and size in pixels."""

    row: int
    col: int
    height: int
    width: int

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices covering the box."""
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)

    def fits(self, height: int, width: int) -> bool:
        """True when the box lies wholly inside an image of the given size."""
        return (
            self.height > 0
            and self.width > 0
            and self.row >= 0
            and self.col >= 0
            and self.row + self.height <= height
            and self.col + self.width <= width
        )


def boxes_to_mask(height: int, width: int, boxes: list[Box]) -> np.ndarray:
    """Mask (H, W) float32 with 1 inside any box (missing) and 0 elsewhere."""
    mask = np.zeros((height, width), dtype=np.float32)
    for box in boxes:
        mask[box.slices()] = 1.0
    return mask


def paint_white(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Copy of an RGB uint8 image with each box painted pure white, as the challenge does."""
    out = image.copy()
    for box in boxes:
        out[box.slices()] = 255
    return out


def random_boxes(
    rng: np.random.Generator, height: int, width: int, count: int = 2, size: int = 75
) -> list[Box]:
    """`count` square boxes of side `size` placed uniformly inside the image (may overlap)."""
    rows = rng.integers(0, height - size + 1, size=count)
    cols = rng.integers(0, width - size + 1, size=count)
    return [Box(int(r), int(c), size, size) for r, c in zip(rows, cols, strict=True)]
