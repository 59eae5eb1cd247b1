"""Classical fills in PyTorch: push-pull and harmonic (any device, differentiable, ONNX-exportable;
ffc starts from or blends with them). The fills on arrays (Telea, NS, mean) are in arrays.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from photorecon.models.arrays import HARMONIC_ITERS
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


def harmonic_fill(
    masked: torch.Tensor, mask: torch.Tensor, iters: int = HARMONIC_ITERS
) -> torch.Tensor:
    """Push-pull, then `iters` Jacobi sweeps of the Laplace equation inside the holes (each hole
    pixel the mean of its 3x3 neighbourhood, replicated at the image's edge; known pixels fixed):
    the smoothest fill the border allows, which for thin holes (scratches) is hard to beat.
    What `masked` holds in the holes is never read.

    Run eagerly, the sweeps visit only the hole pixels (a gather of their 3x3 neighbours), so
    two 75-px squares in a 256-px window cost a sixth of the full-frame sweeps; traced (ONNX
    export), the full-frame sweeps give the same numbers with static shapes."""
    known = 1.0 - mask
    fixed = masked * known
    x = pushpull_fill(masked, mask)
    if iters <= 0:
        return x
    tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if tracing or mask.shape[1] != 1 or x.requires_grad:
        for _ in range(iters):
            smooth = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
            x = fixed + smooth * mask
        return x
    return _sparse_sweeps(x, mask, iters)


def _sparse_sweeps(x: torch.Tensor, mask: torch.Tensor, iters: int) -> torch.Tensor:
    """`iters` Jacobi sweeps over the hole pixels only (mask (B,1,H,W) > 0), the rest fixed:
    each sweep gathers the 9 neighbours of every hole pixel from a (pixels, channels) table."""
    b, c, h, w = x.shape
    holes = (mask[:, 0] > 0).nonzero()  # (N, 3): sample, row, col
    if holes.numel() == 0:
        return x
    n, r, col = holes.unbind(1)
    centre = (n * h + r) * w + col
    neighbours = [
        (n * h + (r + dr).clamp(0, h - 1)) * w + (col + dc).clamp(0, w - 1)  # edge replicated
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
    ]
    flat = x.permute(0, 2, 3, 1).reshape(b * h * w, c).clone(memory_format=torch.contiguous_format)
    for _ in range(iters):
        total = flat.index_select(0, neighbours[0])
        for index in neighbours[1:]:
            total += flat.index_select(0, index)
        flat.index_copy_(0, centre, total / 9.0)
    out = flat.reshape(b, h, w, c).permute(0, 3, 1, 2)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return out  # NHWC in memory, as the input was
    return out.contiguous()


class HarmonicFill(nn.Module, InpaintModel):
    """`harmonic_fill` behind the model contract."""

    kind = "classical"

    def __init__(self, *, iters: int = HARMONIC_ITERS) -> None:
        super().__init__()
        self.iters = iters

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return harmonic_fill(masked, mask, self.iters)


class PushPullFill(nn.Module, InpaintModel):
    """`pushpull_fill` behind the model contract."""

    kind = "classical"

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pushpull_fill(masked, mask)


@register_model("pushpull", model=PushPullFill, summary="push-pull pyramid interpolation (torch)")
def pushpull() -> nn.Module:
    return PushPullFill()


@register_model(
    "harmonic", model=HarmonicFill, summary="push-pull, then Laplace smoothing in the holes (torch)"
)
def harmonic(*, iters: int = HARMONIC_ITERS) -> nn.Module:
    return HarmonicFill(iters=iters)
