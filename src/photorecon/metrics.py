"""The one error measure photorecon reports, RMSE over pixel values in [0, 1] (`SquaredErrors`),
and per-image helpers that follow the challenge's definition (each box counted on its own)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from photorecon.masks import Box


@dataclass
class SquaredErrors:
    """A running sum of squared errors of values in [0, 1] and how many there were: every RMSE
    photorecon prints (the challenge scorer, evaluate, validation, pictures) comes from one."""

    sse: float = 0.0
    count: int = 0

    def add(self, diff: np.ndarray) -> SquaredErrors:
        """Count the differences `diff` (prediction minus truth, in [0, 1] units)."""
        diff = np.asarray(diff, dtype=np.float64)
        self.sse += float(np.square(diff).sum())
        self.count += int(diff.size)
        return self

    def add_sums(self, sse: float, count: float) -> SquaredErrors:
        """Count errors already summed elsewhere (on a GPU, say)."""
        self.sse += float(sse)
        self.count += int(count)
        return self

    @property
    def mse(self) -> float:
        return self.sse / self.count if self.count else math.nan

    @property
    def rmse(self) -> float:
        return math.sqrt(self.mse) if self.count else math.nan


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for signals in [0, 1]; infinite for a perfect match."""
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def image_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape; infinite where they are equal."""
    return psnr_from_mse(SquaredErrors().add((a.astype(np.float32) - b) / 255.0).mse)


def box_values(image: np.ndarray, boxes: list[Box] | tuple[Box, ...]) -> np.ndarray:
    """All box pixels of an image (H, W, 3) as floats in [0, 1]; overlaps appear once per box."""
    scale = 1.0 / 255.0 if image.dtype == np.uint8 else 1.0
    return np.concatenate([image[b.slices()].reshape(-1).astype(np.float64) for b in boxes]) * scale


def box_rmse(pred: np.ndarray, original: np.ndarray, boxes: list[Box] | tuple[Box, ...]) -> float:
    """The challenge's RMSE for one image: over every box pixel and channel."""
    return SquaredErrors().add(box_values(pred, boxes) - box_values(original, boxes)).rmse
