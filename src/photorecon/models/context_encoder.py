"""`context_encoder` (seed 000): an encoder to a 4000-d bottleneck and back up to 3x256x256."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import InpaintModel
from photorecon.models.registry import register_model

SIZE = 256


def _enc(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return [*layers, nn.LeakyReLU(0.2, inplace=True)]


def _dec(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class ContextEncoder(nn.Module, InpaintModel):
    """Seed 000's generator; other sizes are resized to 256x256 and back."""

    kind = "adversarial"

    def __init__(self, *, bottleneck: int = 4000, width: int = 64) -> None:
        super().__init__()
        w = width
        # 256 -> 128 -> 64 -> 32 -> 16 -> 8 -> 4 (channels as the seed lists them)
        self.encoder = nn.Sequential(
            *_enc(3, w, norm=False),
            *_enc(w, w),
            *_enc(w, 2 * w),
            *_enc(2 * w, 2 * w),
            *_enc(2 * w, 4 * w),
            *_enc(4 * w, 8 * w),
            nn.Conv2d(8 * w, bottleneck, 4, 1, 0),  # 4x4 -> 1x1: the context vector
            nn.BatchNorm2d(bottleneck),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(bottleneck, 8 * w, 4, 1, 0, bias=False),  # 1 -> 4
            nn.BatchNorm2d(8 * w),
            nn.ReLU(True),
            *_dec(8 * w, 4 * w),
            *_dec(4 * w, 2 * w),
            *_dec(2 * w, 2 * w),
            *_dec(2 * w, w),
            *_dec(w, w),
            nn.ConvTranspose2d(w, 3, 4, 2, 1),  # 128 -> 256
            nn.Sigmoid(),
        )

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, w = masked.shape[-2:]
        x = masked * (1 - mask)
        if (h, w) != (SIZE, SIZE):
            x = nn.functional.interpolate(
                x, size=(SIZE, SIZE), mode="bilinear", align_corners=False
            )
        out = self.decoder(self.encoder(x))
        if (h, w) != (SIZE, SIZE):
            out = nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out


@register_model(
    "context_encoder",
    model=ContextEncoder,
    summary="seed 000 context-encoder GAN (4000-d bottleneck)",
    trainer="gan",
    discriminator="sixteen",  # seed 000's 16x16-output discriminator over the image alone
)
def context_encoder(**kwargs) -> nn.Module:
    return ContextEncoder(**kwargs)
