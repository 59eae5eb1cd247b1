"""The one place where models are run on batches and known pixels are pasted back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def composite(pred: torch.Tensor, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep known pixels exactly: `mask * pred + (1 - mask) * masked`, mask 1 = missing."""
    return mask * pred + (1.0 - mask) * masked


def to_batch(
    images: Sequence[np.ndarray], masks: Sequence[np.ndarray], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) images and (H, W) 0/1 masks -> masked (B,3,H,W) in [0,1], mask (B,1,H,W).

    Hole pixels are zeroed (LaMa's `img * (1 - mask)`), so a model never sees the white paint.
    """
    image = torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    mask = torch.from_numpy(np.stack(masks).astype(np.float32)).to(device)[:, None]
    return image * (1.0 - mask), mask


@torch.inference_mode()
def fill_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Fill same-size images; float32 (B, H, W, 3) in [0, 1] with known pixels kept exactly."""
    masked, mask = to_batch(images, masks, device)
    pred = model(masked, mask).float().clamp(0.0, 1.0)
    out = composite(pred, masked, mask)
    return out.permute(0, 2, 3, 1).cpu().numpy()
