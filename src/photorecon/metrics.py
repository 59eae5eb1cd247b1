"""Per-image metrics that follow the challenge's definition (each box counted on its own)."""

from __future__ import annotations

import math

import numpy as np

from photorecon.masks import Box


def box_values(image: np.ndarray, boxes: list[Box] | tuple[Box, ...]) -> np.ndarray:
    """All box pixels of an image (H, W, 3) as floats in [0, 1]; overlaps appear once per box."""
    scale = 1.0 / 255.0 if image.dtype == np.uint8 else 1.0
    return np.concatenate([image[b.slices()].reshape(-1).astype(np.float64) for b in boxes]) * scale


def box_rmse(pred: np.ndarray, original: np.ndarray, boxes: list[Box] | tuple[Box, ...]) -> float:
    """The challenge's RMSE for one image: over every box pixel and channel."""
    diff = box_values(pred, boxes) - box_values(original, boxes)
    return math.sqrt(float(np.mean(np.square(diff))))
