"""The one place where models are run on batches and known pixels are pasted back.

A classical fill on arrays (models/arrays.py) runs on NumPy, without torch; every other model
runs on tensors. Both paths paste the known pixels back the same way, in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from photorecon.models.arrays import ArrayInpainter

if TYPE_CHECKING:
    import torch
    from torch import nn


def composite(pred, masked, mask):
    """Keep known pixels exactly: `mask * pred + (1 - mask) * masked`, mask 1 = missing
    (tensors or arrays)."""
    return mask * pred + (1.0 - mask) * masked


def to_arrays(
    images: Sequence[np.ndarray], masks: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (H, W, 3) images and (H, W) 0/1 masks -> masked float32 (B, H, W, 3) in [0, 1]
    with the holes zeroed, and masks float32 (B, H, W)."""
    mask = np.stack(masks).astype(np.float32)
    image = np.stack(images).astype(np.float32)
    image *= np.float32(1 / 255.0)
    image[mask > 0] = 0.0  # the holes zeroed, in place: no extra full-size pass
    return image, mask


def to_batch(
    images: Sequence[np.ndarray], masks: Sequence[np.ndarray], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) images and (H, W) 0/1 masks -> masked (B,3,H,W) in [0,1], mask (B,1,H,W).

    Hole pixels are zeroed (LaMa's `img * (1 - mask)`), so a model never sees the white paint.
    """
    import torch

    image = torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    mask = torch.from_numpy(np.stack(masks).astype(np.float32)).to(device)[:, None]
    return image * (1.0 - mask), mask


def fill_batch(
    model: nn.Module | ArrayInpainter,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Fill same-size images; float32 (B, H, W, 3) in [0, 1] with known pixels kept exactly."""
    if isinstance(model, ArrayInpainter):
        masked, mask = to_arrays(images, masks)
        pred = np.asarray(model.fill_arrays(masked, mask), dtype=np.float32)
        np.clip(pred, 0.0, 1.0, out=pred)
        holes = mask > 0  # 0/1 masks: compositing is a selection, the known pixels exact
        return np.where(holes[..., None], pred, masked)
    import torch

    with torch.inference_mode():
        masked, mask = to_batch(images, masks, device)
        pred = model(masked, mask).float().clamp(0.0, 1.0)
        out = composite(pred, masked, mask)
        return out.permute(0, 2, 3, 1).cpu().numpy()
