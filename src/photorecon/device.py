"""Device selection: never hard-coded, `auto` picks CUDA when present."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from photorecon.errors import PhotoreconError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu (under torchrun, this process's own GPU: cuda:
    LOCAL_RANK, so the ranks of a batch fill spread over the node's GPUs); otherwise the named
    device, checked."""
    import torch

    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = os.environ.get("LOCAL_RANK", "")
        if local.isdigit() and torch.cuda.device_count() > 1:
            return torch.device("cuda", int(local) % torch.cuda.device_count())
        return torch.device("cuda")
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
