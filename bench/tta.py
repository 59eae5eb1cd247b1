"""Which test-time augmentation to ship: none, the four flips (`--tta`), or all eight symmetries
of the square (the flips, with and without a transpose). Chosen on the val split.

Run: .venv/bin/python bench/tta.py --split data/ds/val [--model ffc]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from photorecon.models.loading import load_model
from photorecon.models.tta import FlipTTA
from photorecon.train.loop import validate_split


class TransposeTTA(nn.Module):
    """The mean of a model's fills of the image and of its transpose (8 passes with FlipTTA)."""

    learned = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        plain = self.model(masked, mask).float()
        turned = self.model(masked.transpose(2, 3), mask.transpose(2, 3)).float()
        return (plain + turned.transpose(2, 3)) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="data/ds/val")
    parser.add_argument("--model", default="ffc")
    args = parser.parse_args()
    base = load_model(args.model)
    variants = {
        "none": base,
        "4 flips (--tta)": FlipTTA(base),
        "8 symmetries": TransposeTTA(FlipTTA(base)),
    }
    print(f"{args.model} on {args.split}\n\n| TTA | passes | RMSE | seconds |\n|---|---|---|---|")
    for (label, model), passes in zip(variants.items(), (1, 4, 8), strict=True):
        began = time.perf_counter()
        rmse = validate_split(model.eval(), args.split, "cpu")
        print(f"| {label} | {passes} | {rmse:.4f} | {time.perf_counter() - began:.1f} |")


if __name__ == "__main__":
    main()
