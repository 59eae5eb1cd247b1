"""`restore`: an old photo's fading, colour cast and lost contrast undone, at any size.

Not an inpainter: `model(image (B,3,H,W) in [0, 1]) -> image (B,3,H,W)`. A net that predicts
each pixel's colour freely invents colour where an aged photo has none left (green and red
blotches in dark fur); this one predicts *smooth corrections* from a downscaled copy of the
whole photo, and they are applied to every pixel at full resolution:

1. a colour matrix and offset (3x3 + 3): white balance, casts, a sepia or yellowed print
   turned neutral grey, a faded print's colours stretched back;
2. a monotone tone curve per channel (`knots` linear pieces): contrast, black and white point;
3. a coarse field of gain and offset per channel (`grid` x `grid`, upsampled smoothly): uneven
   fading and vignetting.

With `levels`, first each channel's black and white points are moved toward its own 0.5th and
99.5th percentiles by learned amounts (0: not at all, 1: a full stretch), folded into the
colour matrix and offset: a print whose blacks faded to grey is stretched back in one step
that does not depend on how it faded.

Every correction starts at the identity, so an untrained (or unsure) net gives the photo back
as it was. The encoder sees the copy at `side` px and each channel's percentiles (what the
histogram says about fading that a small view may miss).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from photorecon.models.base import ConfigMixin
from photorecon.models.registry import register_model

QUANTILES = (0.005, 0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98, 0.995)


class Restorer(nn.Module, ConfigMixin):
    """Image (B,3,H,W) in [0, 1] -> restored image; corrections from a `side`-px copy."""

    kind: ClassVar[str] = "restorer"
    work_size: ClassVar[int] = 256
    quiet_defaults: ClassVar[tuple[str, ...]] = ("levels",)
    additive_args: ClassVar[dict[str, tuple[str, ...]]] = {"levels": ("levels",)}

    def __init__(
        self,
        *,
        width: int = 32,
        knots: int = 16,
        grid: int = 4,
        side: int = 128,
        levels: bool = False,
    ):
        super().__init__()
        if min(width, knots, grid) < 1 or side < 32:
            raise ValueError(f"bad restorer size: width {width}, knots {knots}, grid {grid}")
        self.knots, self.grid, self.side = knots, grid, side
        chans = [3, width // 2, width, 2 * width, 2 * width]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(chans):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.GroupNorm(4, b), nn.SiLU()]
        self.encoder = nn.Sequential(*layers)
        stats = 3 * len(QUANTILES) + 3  # the percentiles and each channel's share of colour
        self.head = nn.Sequential(
            nn.Linear(chans[-1] + stats, 4 * width), nn.SiLU(), nn.Linear(4 * width, 12 + 3 * knots)
        )
        self.field = nn.Conv2d(chans[-1], 6, 1)
        for last in (self.head[-1], self.field):  # the identity to start with
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        # how far each channel's black and white points move to its own percentiles
        self.levels = nn.Linear(chans[-1] + stats, 6) if levels else None
        if self.levels is not None:  # amounts clamped to [0, 1]: exactly 0 to start with
            nn.init.zeros_(self.levels.weight)  # (a gradient still passes at 0, unlike a
            nn.init.zeros_(self.levels.bias)  # sigmoid's from far below, which never moved)

    def corrections(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """What to do to the photo: matrix (B,3,3), offset (B,3), curve (B,3,knots+1) values
        at 0, 1/knots, ..., 1, field (B,6,grid,grid): log gains then offsets."""
        small = F.adaptive_avg_pool2d(image.float(), (self.side, self.side))
        flat = small.flatten(2)
        q = torch.tensor(QUANTILES, device=image.device, dtype=flat.dtype)
        quantiles = torch.quantile(flat, q, dim=2).permute(1, 2, 0).flatten(1)  # (B, 3*Q)
        colour = (flat - flat.mean(1, keepdim=True)).abs().mean(2)  # (B, 3): 0 for grey
        features = self.encoder(small * 2 - 1)
        pooled = features.mean((2, 3))
        seen = torch.cat([pooled, quantiles * 2 - 1, colour * 4], 1)
        out = self.head(seen)
        eye = torch.eye(3, device=image.device, dtype=out.dtype)
        matrix = eye + out[:, :9].view(-1, 3, 3)
        offset = out[:, 9:12]
        if self.levels is not None:  # x -> (x - black) / (white - black), per channel, first
            amount = self.levels(seen).clamp(0, 1)
            q = quantiles.view(-1, 3, len(QUANTILES))
            black = amount[:, :3] * q[..., 0]
            white = 1 - amount[:, 3:] * (1 - q[..., -1])
            gain = 1 / (white - black).clamp(min=0.05)
            offset = offset - torch.einsum("bij,bj->bi", matrix, gain * black)
            matrix = matrix * gain[:, None, :]
        steps = torch.softmax(out[:, 12:].view(-1, 3, self.knots), dim=2)
        curve = F.pad(torch.cumsum(steps, 2), (1, 0))
        field = self.field(F.adaptive_avg_pool2d(features, (self.grid, self.grid)))
        return {"matrix": matrix, "offset": offset, "curve": curve, "field": field}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return apply_torch(image, self.corrections(image))


def _curve_torch(x: torch.Tensor, curve: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear per-channel curves (B,3,K+1) over x (B,3,H,W) in [0, 1]."""
    knots = curve.shape[2] - 1
    pos = x.clamp(0, 1) * knots
    index = pos.floor().clamp(max=knots - 1)
    frac = pos - index
    b, c = x.shape[:2]
    flat = index.long().view(b, c, -1)
    low = torch.gather(curve, 2, flat).view_as(x)
    high = torch.gather(curve, 2, flat + 1).view_as(x)
    return low + (high - low) * frac


def apply_torch(image: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
    """The corrections on an image (B,3,H,W) in [0, 1], differentiably (training)."""
    x = torch.einsum("bij,bjhw->bihw", c["matrix"], image.float()) + c["offset"][..., None, None]
    x = _curve_torch(x, c["curve"])
    field = F.interpolate(c["field"], size=image.shape[-2:], mode="bilinear", align_corners=False)
    return (x * torch.exp(field[:, :3]) + field[:, 3:]).clamp(0, 1)


def apply_numpy(image: np.ndarray, c: dict[str, np.ndarray], rows: int = 1024) -> np.ndarray:
    """The corrections of one photo (arrays, no batch) on an RGB uint8 or uint16 (H, W, 3)
    photo of any size, a band of `rows` rows at a time (a 24-megapixel photo is never held as
    floats whole); the same dtype out. The same arithmetic as `apply_torch`."""
    import cv2

    height, width = image.shape[:2]
    top = 65535.0 if image.dtype == np.uint16 else 255.0
    affine = np.concatenate([c["matrix"], c["offset"][:, None] * top], 1).astype(np.float32)
    knots = c["curve"].shape[1] - 1
    grid_x = np.linspace(0, 1, knots + 1)
    # each curve as a table of 4096 steps over [0, 1] (finer than 8 bits in or out); at 16
    # bits the curve itself
    table = np.linspace(0, 1, 4096)
    luts = np.concatenate([np.interp(table, grid_x, c["curve"][ch]) for ch in range(3)])
    luts = (luts * top).astype(np.float32)  # the three tables end to end, in output levels
    steps = affine * (4095 / top)  # 8 bits: straight to the tables' steps
    channel = np.arange(3, dtype=np.int32) * 4096
    # the coarse field upsampled band by band (a full-size copy of it would be 24 bytes a pixel):
    # across the width once, then each band's rows as one small matrix product
    grid_h, grid_w = c["field"].shape[1:]
    across = np.einsum("cyx,wx->ywc", c["field"], _bilinear_weights(width, grid_w))
    across = np.ascontiguousarray(across, np.float32).reshape(grid_h, width * 6)
    down = _bilinear_weights(height, grid_h)
    fields = np.empty((min(rows, height), width * 6), np.float32)
    out = np.empty_like(image)
    for start in range(0, height, rows):
        band = slice(start, min(start + rows, height))
        size = band.stop - start
        field = np.matmul(down[band], across, out=fields[:size]).reshape(size, width, 6)
        if top > 255:
            x = np.clip(cv2.transform(image[band].astype(np.float32), affine) / top, 0, 1)
            y = np.stack([np.interp(x[..., ch], grid_x, c["curve"][ch]) for ch in range(3)], 2)
            y *= top
        else:
            x = cv2.transform(image[band].astype(np.float32), steps)
            index = np.rint(np.clip(x, 0, 4095, out=x), out=x).astype(np.int32) + channel
            y = luts[index]  # each channel's curve, in one gather
        y *= np.exp(field[..., :3])
        y += field[..., 3:] * top
        out[band] = np.clip(np.rint(y, out=y), 0, top, out=y).astype(image.dtype)
    return out


def _bilinear_weights(size: int, grid: int) -> np.ndarray:
    """(size, grid) float32: the weights that upsample `grid` samples to `size` bilinearly, as
    F.interpolate(align_corners=False) does (pixel centres; the edges held)."""
    source = np.clip((np.arange(size) + 0.5) * grid / size - 0.5, 0, grid - 1)
    low = np.floor(source).astype(np.int64)
    frac = (source - low).astype(np.float32)
    weights = np.zeros((size, grid), np.float32)
    np.add.at(weights, (np.arange(size), low), 1 - frac)
    np.add.at(weights, (np.arange(size), np.minimum(low + 1, grid - 1)), frac)
    return weights


@register_model(
    "restore",
    model=Restorer,
    trainer="restorer",
    summary="old-photo restorer: fading, colour casts, lost contrast (smooth global corrections)",
)
def restore(**kwargs) -> nn.Module:
    return Restorer(**kwargs)
