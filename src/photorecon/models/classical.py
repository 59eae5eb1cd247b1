"""Classical fills needing no training: mean colour, push-pull, harmonic, OpenCV's Telea and NS."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from photorecon.imageio import to_uint8
from photorecon.models.registry import register_model


class MeanFill(nn.Module):
    """Fill holes with each image's mean colour over its known pixels."""

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = 1.0 - mask
        total = (masked * known).sum(dim=(2, 3), keepdim=True)
        count = known.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = total / count
        return masked * known + mean * mask


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


class HarmonicFill(nn.Module):
    """`harmonic_fill` behind the model contract."""

    def __init__(self, *, iters: int = 24) -> None:
        super().__init__()
        self.iters = iters

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return harmonic_fill(masked, mask, self.iters)


class PushPullFill(nn.Module):
    """`pushpull_fill` behind the model contract."""

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pushpull_fill(masked, mask)


class OpenCVInpaint(nn.Module):
    """OpenCV's `cv2.inpaint` (Telea's fast marching or Navier-Stokes) applied per image."""

    def __init__(self, *, method: str = "telea", radius: float = 5.0) -> None:
        super().__init__()
        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
        if method not in flags:
            raise ValueError(f"method must be one of {sorted(flags)}, got {method!r}")
        self.method = method
        self.radius = float(radius)
        self._flag = flags[method]

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        images = masked.detach().permute(0, 2, 3, 1).cpu().numpy()
        holes = mask.detach()[:, 0].cpu().numpy() > 0.5
        out = np.empty_like(images)
        for i, (image, hole) in enumerate(zip(images, holes, strict=True)):
            filled = cv2.inpaint(to_uint8(image), hole.astype(np.uint8), self.radius, self._flag)
            out[i] = filled.astype(np.float32) / 255.0
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(masked.device, masked.dtype)


@register_model("mean", trainable=False, summary="each image's mean known colour")
def mean_fill() -> nn.Module:
    return MeanFill()


@register_model("pushpull", trainable=False, summary="push-pull pyramid interpolation (torch)")
def pushpull() -> nn.Module:
    return PushPullFill()


@register_model(
    "harmonic", trainable=False, summary="push-pull, then Laplace smoothing in the holes (torch)"
)
def harmonic(*, iters: int = 24) -> nn.Module:
    return HarmonicFill(iters=iters)


@register_model("telea", trainable=False, summary="OpenCV Telea fast-marching inpainting")
def telea(*, radius: float = 5.0) -> nn.Module:
    return OpenCVInpaint(method="telea", radius=radius)


@register_model("ns", trainable=False, summary="OpenCV Navier-Stokes inpainting")
def navier_stokes(*, radius: float = 5.0) -> nn.Module:
    return OpenCVInpaint(method="ns", radius=radius)
