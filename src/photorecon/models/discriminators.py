"""PatchGAN discriminators shared by the GAN families."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import ConfigMixin


def _down(cin: int, cout: int, norm: bool, stride: int = 2) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


class PatchGAN(nn.Module, ConfigMixin):
    """pix2pix's 70x70 PatchGAN: 256x256 in -> 30x30 logits; `in_channels` 6 for (input, target)."""

    def __init__(self, *, in_channels: int = 6, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_down(in_channels, width, norm=False),
            *_down(width, 2 * width, norm=True),
            *_down(2 * width, 4 * width, norm=True),
            nn.ZeroPad2d(1),
            nn.Conv2d(4 * width, 8 * width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(8 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ZeroPad2d(1),
            nn.Conv2d(8 * width, 1, 4, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SixteenPatch(nn.Module, ConfigMixin):
    """Seed 000's discriminator: 3x256x256 -> 64x128 -> 128x64 -> 256x32 -> 512x16 -> 1x16x16."""

    def __init__(self, *, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_down(in_channels, width, norm=False),
            *_down(width, 2 * width, norm=True),
            *_down(2 * width, 4 * width, norm=True),
            *_down(4 * width, 8 * width, norm=True),
            nn.Conv2d(8 * width, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# Which discriminator a GAN-trained generator is paired with: name -> (factory, conditional).
# A conditional one sees (masked input, image) pairs (pix2pix); the others the image alone.
DISCRIMINATORS = {
    "conditional": (lambda width: PatchGAN(in_channels=6, width=width), True),
    "image": (lambda width: PatchGAN(in_channels=3, width=width), False),
    "sixteen": (lambda width: SixteenPatch(in_channels=3, width=width), False),
}


def create_discriminator(name: str, width: int = 64) -> tuple[nn.Module, bool]:
    """(discriminator, conditional) registered under `name`."""
    if name not in DISCRIMINATORS:
        from photorecon.errors import PhotoreconError

        raise PhotoreconError(
            f"unknown discriminator {name!r}; known: {', '.join(sorted(DISCRIMINATORS))}"
        )
    factory, conditional = DISCRIMINATORS[name]
    return factory(width), conditional
