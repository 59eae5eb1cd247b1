"""`damage`: a compact U-Net that finds old-photo damage (scratches, dust, blotches, tears).

Not an inpainter: `model(image (B,3,H,W) in [0, 1]) -> logits (B,1,H,W)`, damage where the
logit is positive at the default sensitivity. Full resolution keeps one conv pair, so 1-px
hairlines survive; three stride-2 levels and two dilated convs at 1/8 give about 150 px of
context, enough to tell a scratch from a whisker or a wire. Decoder levels add a 1x1-projected
upsampled coarse map to the encoder's features (no concatenation: cheaper on a CPU).
Trained on photos with synthetic damage (`photorecon.damage`), clean photos in every batch.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from photorecon.models.base import ConfigMixin
from photorecon.models.blocks import conv_norm_act
from photorecon.models.registry import register_model


def _dilated(channels: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            channels,
            channels,
            3,
            padding=dilation,
            dilation=dilation,
            padding_mode="reflect",
            bias=False,
        ),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class DamageDetector(nn.Module, ConfigMixin):
    """Segmentation: image (B,3,H,W) in [0, 1] -> damage logits (B,1,H,W); any H, W."""

    kind: ClassVar[str] = "detector"
    onnx_ready: ClassVar[bool] = True  # exports as it is (models/onnx.py, export_detector_onnx)
    work_size: ClassVar[int] = 256
    stride: ClassVar[int] = 8  # inputs are padded to a multiple of this ...
    min_side: ClassVar[int] = 64  # ... and at least this (the dilated convs' reflections)

    def __init__(self, *, widths: tuple[int, ...] = (12, 24, 48, 80)) -> None:
        super().__init__()
        if len(widths) != 4 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be 4 positive channel counts, got {widths!r}")
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.enc0 = nn.Sequential(conv_norm_act(3, w0), conv_norm_act(w0, w0))
        self.enc1 = nn.Sequential(conv_norm_act(w0, w1, stride=2), conv_norm_act(w1, w1))
        self.enc2 = nn.Sequential(conv_norm_act(w1, w2, stride=2), conv_norm_act(w2, w2))
        self.enc3 = nn.Sequential(
            conv_norm_act(w2, w3, stride=2), _dilated(w3, 2), _dilated(w3, 4), _dilated(w3, 1)
        )
        self.lat2 = nn.Conv2d(w3, w2, 1)
        self.dec2 = conv_norm_act(w2, w2)
        self.lat1 = nn.Conv2d(w2, w1, 1)
        self.dec1 = conv_norm_act(w1, w1)
        self.lat0 = nn.Conv2d(w1, w0, 1)
        self.dec0 = conv_norm_act(w0, w0)
        self.head = nn.Conv2d(w0, 1, 1)
        nn.init.constant_(self.head.bias, -3.0)  # damage is rare: start by predicting "clean"

    @torch.no_grad()
    def recalibrate(self, sensitivity: float) -> DamageDetector:
        """Shift the head's bias so that the default sensitivity (0.5: probability above one
        half) marks exactly what `sensitivity` marked before, and every other sensitivity
        moves with it: a threshold chosen on validation, kept in the weights. Returns self."""
        if not 0.0 < sensitivity < 1.0:
            raise ValueError(f"sensitivity must be in (0, 1), got {sensitivity}")
        self.head.bias += math.log(sensitivity / (1.0 - sensitivity))
        return self

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=like.shape[-2:], mode="nearest")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        pad_h = max(self.min_side, h + (-h) % self.stride) - h
        pad_w = max(self.min_side, w + (-w) % self.stride) - w
        x = image * 2 - 1
        if pad_h or pad_w:
            mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(e2 + self.lat2(self._up(e3, e2)))
        d1 = self.dec1(e1 + self.lat1(self._up(d2, e1)))
        d0 = self.dec0(e0 + self.lat0(self._up(d1, e0)))
        return self.head(d0)[..., :h, :w]


@register_model(
    "damage",
    model=DamageDetector,
    trainer="detector",
    summary="damage finder: scratches, dust, blotches, tears (U-Net segmentation)",
)
def damage(**kwargs) -> nn.Module:
    return DamageDetector(**kwargs)
