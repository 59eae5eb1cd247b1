"""Adversarial losses: BCE or least squares against an all-real / all-fake target, and feature
matching on a PatchGAN's hidden activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from photorecon.errors import PhotoreconError


def adversarial(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """GAN loss against an all-real or all-fake target: BCE on logits, or least squares."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    raise PhotoreconError(f"unknown gan.adv_loss {kind!r} (bce or lsgan)")


def discriminator_features(disc: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Activations after each LeakyReLU of a PatchGAN-style `disc.net` (logits excluded)."""
    feats = []
    for layer in disc.net:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            feats.append(x)
    return feats


def feature_matching(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """L1 between the discriminator's hidden activations for a real and a generated input
    (the real side without gradients)."""
    with torch.no_grad():
        targets = discriminator_features(disc, real)
    feats = discriminator_features(disc, fake)
    return sum(F.l1_loss(f, t) for f, t in zip(feats, targets, strict=True)) / len(feats)
