"""Test-time augmentation: average a model's fills over horizontal and vertical flips."""

from __future__ import annotations

import torch
from torch import nn

FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))


class FlipTTA(nn.Module):
    """Wraps any model; runs it on the 4 flips of the input and averages the un-flipped fills."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # fill shrinks windows for learned models; an ONNX model says so with this flag
        self.learned = getattr(model, "learned", False)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(masked)
        for dims in FLIPS:
            if dims:
                out = self.model(masked.flip(dims), mask.flip(dims)).flip(dims)
            else:
                out = self.model(masked, mask)
            total = total + out.float()
        return total / len(FLIPS)
