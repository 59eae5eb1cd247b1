"""Pixel losses: L1/L2 inside the holes (normalised by hole area), L1 on known pixels."""

from __future__ import annotations

import torch


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cfg) -> torch.Tensor:
    """Weighted L1/L2 inside the holes (normalised by hole area) plus L1 on known pixels;
    `cfg` is the run's LossConfig (hole_l1, hole_l2, image_l2, known_l1)."""
    diff = pred - target
    hole = mask.sum().clamp_min(1.0) * 3
    known = (1 - mask).sum().clamp_min(1.0) * 3
    loss = cfg.hole_l1 * (diff.abs() * mask).sum() / hole
    loss = loss + cfg.hole_l2 * (diff.square() * mask).sum() / hole
    loss = loss + cfg.image_l2 * diff.square().mean()
    return loss + cfg.known_l1 * (diff.abs() * (1 - mask)).sum() / known


def hole_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the hole pixels only (the GAN families' reconstruction term)."""
    return ((pred - target).abs() * mask).sum() / (mask.sum().clamp_min(1) * 3)
