"""Turn a model spec given by a user (a registered name) into a ready model."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.registry import create_model, get_model_info


def load_model(spec: str, device: torch.device | str = "cpu") -> nn.Module:
    """A registered model by name, in eval mode on `device`; unknown names list the known ones."""
    get_model_info(spec)  # raises with the known names
    return create_model(spec).to(device).eval()
