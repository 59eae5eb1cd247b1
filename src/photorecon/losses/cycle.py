"""CycleGAN's cycle-consistency and identity losses (L1, both directions)."""

from __future__ import annotations

import torch


def cycle_loss(
    rec_a: torch.Tensor, real_a: torch.Tensor, rec_b: torch.Tensor, real_b: torch.Tensor
) -> torch.Tensor:
    """A -> B -> A and B -> A -> B should come back to where they started."""
    return (rec_a.float() - real_a).abs().mean() + (rec_b.float() - real_b).abs().mean()


def identity_loss(
    idt_a: torch.Tensor, real_a: torch.Tensor, idt_b: torch.Tensor, real_b: torch.Tensor
) -> torch.Tensor:
    """A generator given a photo of its own output domain should leave it as it is."""
    return (idt_b.float() - real_b).abs().mean() + (idt_a.float() - real_a).abs().mean()
