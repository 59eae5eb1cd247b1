"""Device selection: never hard-coded, `auto` picks CUDA when present."""

from __future__ import annotations

import torch

from photorecon.errors import PhotoreconError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise PhotoreconError(f"unknown device {name!r} ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PhotoreconError(f"device {name!r} requested but CUDA is not available")
    return device
