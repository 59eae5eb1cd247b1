"""U-Net generators: `pix2pix` (seed 002's best, TF pix2pix layout) and a lighter `unet_gan`."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import InpaintModel
from photorecon.models.registry import register_model


class Down(nn.Module):
    """Conv 4x4 stride 2 -> BatchNorm (optional) -> LeakyReLU."""

    def __init__(self, cin: int, cout: int, norm: bool = True) -> None:
        super().__init__()
        # no bias even without BatchNorm, as in the TF pix2pix the seed used (54,414,979 params)
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(0.3, inplace=True))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Up(nn.Module):
    """ConvTranspose 4x4 stride 2 -> BatchNorm -> Dropout (optional) -> ReLU."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.ReLU(inplace=True))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class UNet(nn.Module, InpaintModel):
    """Encoder-decoder with skips; `widths` per level; input = masked image (+ mask channel)."""

    kind = "adversarial"  # pix2pix and the vanilla U-Net GAN train it against a PatchGAN

    def __init__(
        self,
        *,
        widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512),
        dropout_levels: int = 3,
        dropout: float = 0.5,
        with_mask: bool = False,
        innermost_norm: bool = False,
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        self.with_mask = with_mask
        self.factor = 2 ** len(widths)
        cin = 4 if with_mask else 3
        # The seed's TF model normalised its 1x1 bottleneck too; with batch 1 that maps a single
        # value to zero (PyTorch refuses it), so by default the innermost level has no norm, as
        # in the PyTorch pix2pix reference (1,024 fewer parameters than the seed's 54,414,979).
        last = len(widths) - 1
        self.downs = nn.ModuleList(
            Down(a, b, norm=0 < i < last or (i == last and innermost_norm))
            for i, (a, b) in enumerate(zip((cin, *widths[:-1]), widths, strict=True))
        )
        ups = []
        rev = widths[::-1]  # bottleneck first
        for i in range(len(widths) - 1):
            cin_up = rev[i] if i == 0 else 2 * rev[i]
            ups.append(Up(cin_up, rev[i + 1], dropout if i < dropout_levels else 0.0))
        self.ups = nn.ModuleList(ups)
        self.last = nn.ConvTranspose2d(2 * widths[0], 3, 4, 2, 1)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, w = masked.shape[-2:]
        x = masked * (1 - mask)
        if self.with_mask:
            x = torch.cat([x, mask], dim=1)
        pad_h, pad_w = (-h) % self.factor, (-w) % self.factor
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips = skips[:-1][::-1]
        for up, skip in zip(self.ups, skips, strict=True):
            x = torch.cat([up(x), skip], dim=1)
        # tanh as in pix2pix, mapped to [0, 1]
        out = (torch.tanh(self.last(x)) + 1) / 2
        return out[..., :h, :w]


@register_model(
    "pix2pix",
    model=UNet,
    summary="seed 002 pix2pix U-Net (54M) + 70x70 PatchGAN",
    trainer="gan",
)
def pix2pix(**kwargs) -> nn.Module:
    return UNet(**kwargs)


@register_model(
    "unet_gan",
    model=UNet,
    summary="seed 002 vanilla U-Net GAN (lighter U-Net)",
    trainer="gan",
)
def unet_gan(**kwargs) -> nn.Module:
    kwargs.setdefault("widths", (32, 64, 128, 256, 256, 256))
    kwargs.setdefault("dropout_levels", 0)
    return UNet(**kwargs)
