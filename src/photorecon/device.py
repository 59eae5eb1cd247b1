"""Device selection: never hard-coded, `auto` picks CUDA when present."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from photorecon.errors import PhotoreconError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; otherwise the named device, checked."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise PhotoreconError(f"unknown device {name!r} ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PhotoreconError(f"device {name!r} requested but CUDA is not available")
    return device


def cpu_only(name: str) -> bool:
    """Whether `name` means the CPU, told without importing torch: "cpu", or "auto" on a
    machine with no NVIDIA driver (where CUDA cannot be available)."""
    if name.startswith("cpu"):
        return True
    return name == "auto" and not (
        os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi")
    )
