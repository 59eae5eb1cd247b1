"""`cyclegan` (seed 002): ResNet generators trained unpaired, masked photos <-> clean photos."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import ConfigMixin, InpaintModel
from photorecon.models.registry import register_model


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module, ConfigMixin):
    """CycleGAN's generator: 7x7 stem, two stride-2 downs, residual blocks, two ups, 7x7 head."""

    def __init__(self, *, width: int = 64, blocks: int = 9) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, w, 7, bias=False),
            nn.InstanceNorm2d(w),
            nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False),
            nn.InstanceNorm2d(2 * w),
            nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False),
            nn.InstanceNorm2d(4 * w),
            nn.ReLU(True),
        ]
        layers += [ResBlock(4 * w) for _ in range(blocks)]
        layers += [
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1, bias=False),
            nn.InstanceNorm2d(2 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1, bias=False),
            nn.InstanceNorm2d(w),
            nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(w, 3, 7),
            nn.Tanh(),
        ]
        self.net = nn.Sequential(*layers)

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Image in [0, 1] -> image in [0, 1] (any size; padded to a multiple of 4)."""
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return ((self.net(x * 2 - 1) + 1) / 2)[..., :h, :w]


class CycleGAN(nn.Module, InpaintModel):
    """Both generators; the inpainting contract uses masked -> clean (`g_ab`)."""

    kind = "adversarial"

    def __init__(self, *, width: int = 64, blocks: int = 9) -> None:
        super().__init__()
        self.g_ab = ResnetGenerator(width=width, blocks=blocks)  # masked -> clean
        self.g_ba = ResnetGenerator(width=width, blocks=blocks)  # clean -> masked-looking

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Domain A is how users bring damaged photos: holes painted white.
        return self.g_ab.translate(masked * (1 - mask) + mask)


class CyclePasses(nn.Module):
    """Every generator pass of one CycleGAN step in a single forward, so DDP can wrap it."""

    def __init__(self, model: CycleGAN) -> None:
        super().__init__()
        self.model = model

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        g_ab, g_ba = self.model.g_ab, self.model.g_ba
        fake_b, fake_a = g_ab.translate(real_a), g_ba.translate(real_b)
        return {
            "fake_b": fake_b,
            "fake_a": fake_a,
            "rec_a": g_ba.translate(fake_b),
            "rec_b": g_ab.translate(fake_a),
            "idt_b": g_ab.translate(real_b),
            "idt_a": g_ba.translate(real_a),
        }


@register_model(
    "cyclegan",
    model=CycleGAN,
    summary="seed 002 CycleGAN, two ResNet generators, unpaired",
    trainer="cyclegan",
    discriminator="image",  # two of them, one per domain: 70x70 PatchGANs over one image
)
def cyclegan(**kwargs) -> nn.Module:
    return CycleGAN(**kwargs)
