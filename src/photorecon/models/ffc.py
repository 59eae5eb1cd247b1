"""`ffc`: a LaMa-style inpainting generator built on Fast Fourier Convolutions.

A 7x7 stem, strided downsampling, FFC residual blocks at 1/2**downs resolution (global receptive
field from the first block), and nearest-upsample decoding with optional encoder skips, which
keep the fill continuous with the known pixels around the hole. With `prior="pushpull"` the
holes arrive pre-filled by push-pull interpolation and the net learns a correction to it (the
head starts at zero, so an untrained net already gives the classical fill). With
`blend="harmonic"` the net's fill is mixed per pixel with the harmonic fill by a learned gate:
the net keeps large holes, the smooth classical fill can take over thin ones (scratches), where
it is hard to beat. The gate starts as an even mix; a net trained without it can be
warm-started into it (`init=`), and learns where to open it.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from photorecon.models.base import InpaintModel
from photorecon.models.blocks import FFCResBlock, UpBlock, conv_norm_act
from photorecon.models.classical import harmonic_fill, pushpull_fill
from photorecon.models.registry import register_model

THIN_FILL_PX = 9  # twice the largest distance to the hole's edge: lines up to about 8 px


class FFCInpainter(nn.Module, InpaintModel):
    """Generator: (masked (B,3,H,W), mask (B,1,H,W)) -> image (B,3,H,W) in [0, 1]."""

    kind = "supervised"
    onnx_ready = True  # exports as it is (Fourier units as DFT matrix products)
    # a small hole's window as small as a third of the hole's side allows: on the val photos
    # with drawn damage the fill is as accurate as in a 256-px window (bench/RESULTS.md,
    # session 16), and a 64-px window costs a seventh of a 256-px one
    window_sides = (32, 64, 128)
    # recorded only when set, so the configs of checkpoints made before them stay as they were
    quiet_defaults = ("prior", "blend")

    def __init__(
        self,
        *,
        width: int = 16,
        downs: int = 4,
        blocks: int = 9,
        ratio: float = 0.75,
        max_width: int = 256,
        skips: bool = True,
        prior: str = "none",
        blend: str = "none",
    ) -> None:
        super().__init__()
        if prior not in ("none", "pushpull"):
            raise ValueError(f"prior must be 'none' or 'pushpull', got {prior!r}")
        if blend not in ("none", "harmonic"):
            raise ValueError(f"blend must be 'none' or 'harmonic', got {blend!r}")
        self.prior = prior
        self.blend = blend
        self.downs = downs
        self.skips = skips
        widths = [min(width * 2**i, max_width) for i in range(downs + 1)]
        self.stem = conv_norm_act(4, widths[0], 7)
        self.down = nn.ModuleList(
            conv_norm_act(widths[i], widths[i + 1], 3, stride=2) for i in range(downs)
        )
        self.body = nn.Sequential(*(FFCResBlock(widths[-1], ratio) for _ in range(blocks)))
        self.up = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], skip=widths[i] if skips else 0)
            for i in reversed(range(downs))
        )
        self.head = nn.Conv2d(widths[0], 3, 7, padding=3, padding_mode="reflect")
        if prior != "none":  # start as the classical fill; learn a correction in logit space
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        # holes at most this thick (lines up to ~8 px) are filled by the harmonic fill alone: on
        # the validation photos it equals the blended net there (6-8 px strokes: 0.0813 vs
        # 0.0814; 8-10 px: the net 1% better), at a tenth of the cost
        self.thin_fill_px = THIN_FILL_PX if blend == "harmonic" else 0
        self.gate = None
        if blend != "none":  # per-pixel share of the net's fill; starts as an even mix
            self.gate = nn.Conv2d(widths[0], 1, 3, padding=1, padding_mode="reflect")
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    # constructor arguments that only add modules (their name prefixes): weights trained
    # without the argument warm-start a net with it, the added modules keeping their init
    additive_args: ClassVar[dict[str, tuple[str, ...]]] = {"blend": ("gate",)}

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, share = self.forward_parts(masked, mask)
        if share is None:
            return out
        return share * out + (1 - share) * harmonic_fill(masked, mask)

    def forward_parts(
        self, masked: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The net's own fill and, with `blend`, the gate's per-pixel share of it (None
        without): `forward` mixes them with the harmonic fill, and an ONNX export for
        photorecon's engines stops here, leaving the harmonic fill to the arrays."""
        h, w = masked.shape[-2:]
        factor = 2**self.downs
        pad_h, pad_w = (-h) % factor, (-w) % factor
        masked = masked * (1 - mask)
        base = pushpull_fill(masked, mask) if self.prior == "pushpull" else None
        x = torch.cat([masked if base is None else base, mask], dim=1)
        if pad_h or pad_w:
            # any size works: reflect-pad to a multiple of the total stride, crop at the end
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        x = self.stem(x)
        feats = []
        for down in self.down:
            feats.append(x)
            x = down(x)
        x = self.body(x)
        for up, skip in zip(self.up, reversed(feats), strict=True):
            x = up(x, skip if self.skips else None)
        logits = self.head(x)[..., :h, :w]
        if base is not None:
            logits = logits + torch.logit(base, eps=1e-3)
        out = torch.sigmoid(logits)
        if self.gate is None:
            return out, None
        return out, torch.sigmoid(self.gate(x)[..., :h, :w])


@register_model("ffc", model=FFCInpainter, summary="LaMa-style Fast Fourier Convolution generator")
def ffc(**kwargs) -> nn.Module:
    return FFCInpainter(**kwargs)
