"""Test-time augmentation: average a model's fills over horizontal and vertical flips."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import (
    InpaintModel,
    kind_of,
    thin_fill_px_of,
    window_sides_of,
    work_size_of,
)

FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))


class FlipTTA(nn.Module, InpaintModel):
    """Wraps any model; runs it on the 4 flips of the input and averages the un-flipped fills."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # what it wraps: the fill path plans its windows and thin holes the same way
        self.kind = kind_of(model)
        self.work_size = work_size_of(model)  # type: ignore[misc]
        self.thin_fill_px = thin_fill_px_of(model)
        self.window_sides = window_sides_of(model)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(masked)
        for dims in FLIPS:
            if dims:
                out = self.model(masked.flip(dims), mask.flip(dims)).flip(dims)
            else:
                out = self.model(masked, mask)
            total = total + out.float()
        return total / len(FLIPS)
