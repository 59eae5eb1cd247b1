"""Classical fills in PyTorch: push-pull and harmonic (any device, differentiable, ONNX-exportable;
ffc starts from or blends with them). The fills on arrays (Telea, NS, mean) are in arrays.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from photorecon.models.base import InpaintModel
from photorecon.models.registry import register_model


def pushpull_fill(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Push-pull interpolation: known pixels averaged down a 2x pyramid (pull), then each level's
    gaps filled from the bilinearly upsampled coarser one (push). Smooth, any size, any device,
    differentiable and ONNX-exportable; known pixels come back unchanged."""
    known = 1.0 - mask
    sums, weights = [masked * known], [known]
    while min(sums[-1].shape[-2:]) > 1:
        sums.append(F.avg_pool2d(sums[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    estimate = sums[-1] / weights[-1].clamp_min(1e-6)
    for total, weight in zip(reversed(sums[:-1]), reversed(weights[:-1]), strict=True):
        coarse = F.interpolate(
            estimate, size=total.shape[-2:], mode="bilinear", align_corners=False
        )
        estimate = total + (1 - weight) * coarse  # total = weight x this level's known mean
    return masked * known + estimate * mask


def harmonic_fill(masked: torch.Tensor, mask: torch.Tensor, iters: int = 24) -> torch.Tensor:
    """Push-pull, then `iters` Jacobi sweeps of the Laplace equation inside the holes (each hole
    pixel the mean of its 3x3 neighbourhood, known pixels fixed): the smoothest fill the border
    allows, which for thin holes (scratches) is hard to beat. Torch-native like push-pull."""
    known = 1.0 - mask
    fixed = masked * known
    x = pushpull_fill(masked, mask)
    for _ in range(iters):
        smooth = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = fixed + smooth * mask
    return x


class HarmonicFill(nn.Module, InpaintModel):
    """`harmonic_fill` behind the model contract."""

    kind = "classical"

    def __init__(self, *, iters: int = 24) -> None:
        super().__init__()
        self.iters = iters

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return harmonic_fill(masked, mask, self.iters)


class PushPullFill(nn.Module, InpaintModel):
    """`pushpull_fill` behind the model contract."""

    kind = "classical"

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pushpull_fill(masked, mask)


@register_model("pushpull", kind="classical", summary="push-pull pyramid interpolation (torch)")
def pushpull() -> nn.Module:
    return PushPullFill()


@register_model(
    "harmonic", kind="classical", summary="push-pull, then Laplace smoothing in the holes (torch)"
)
def harmonic(*, iters: int = 24) -> nn.Module:
    return HarmonicFill(iters=iters)
