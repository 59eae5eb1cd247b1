"""Checkpoint files: weights in safetensors with the model's name and constructor arguments
inside, read and written here; building the model they describe is models/loading.py's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path
from photorecon.models.files import WEIGHTS_NAME, weights_file

__all__ = [
    "WEIGHTS_NAME",
    "CheckpointMeta",
    "average_weights",
    "read_meta",
    "read_weights",
    "save_weights",
    "weights_file",
]

META_KEY = "photorecon"


@dataclass(frozen=True)
class CheckpointMeta:
    """What is needed to rebuild a model from its weights, plus provenance."""

    model: str
    kwargs: dict[str, Any]
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def cpu_state(model: nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """A module's state dict as contiguous CPU tensors, floats optionally cast to `dtype`."""
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    return state


def save_weights(
    path: str | Path, model: nn.Module, meta: CheckpointMeta, dtype: torch.dtype | None = None
) -> None:
    """Write a model's state dict (optionally cast, e.g. fp16 to ship) atomically."""
    save_state(path, cpu_state(model, dtype), meta)


def read_meta(path: str | Path) -> CheckpointMeta:
    """The metadata stored in a checkpoint; a clear error for a truncated or foreign file."""
    file = weights_file(path)
    try:
        with safe_open(str(file), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise PhotoreconError(f"{file}: not a readable safetensors checkpoint ({exc})") from None
    if raw is None:
        raise PhotoreconError(f"{file}: no photorecon metadata (not a photorecon checkpoint)")
    try:
        data = json.loads(raw)
        return CheckpointMeta(
            model=data["model"],
            kwargs=data.get("kwargs", {}),
            step=data.get("step", 0),
            metrics=data.get("metrics", {}),
            config=data.get("config", {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise PhotoreconError(f"{file}: malformed checkpoint metadata ({exc})") from None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (CPU, as stored); a clear error for a bad file."""
    file = weights_file(path)
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PhotoreconError(f"{file}: cannot read weights ({exc})") from None


def load_fitting(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    misfit: str,
    new_modules: tuple[str, ...] = (),
) -> None:
    """Load `state` strictly, each tensor cast to the model's dtype (fp16 files into fp32
    models); a missing, extra or misshapen tensor is `misfit (first line of torch's reason)`.
    Tensors of the `new_modules` (name prefixes) may be missing: they keep their initial values.
    """
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    for key, value in reference.items():
        if key not in state and key.split(".")[0] in new_modules:
            state[key] = value
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise PhotoreconError(f"{misfit} ({first})") from None


def average_weights(
    paths: list[str | Path], shares: list[float] | None = None
) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """A model soup: the weighted mean of checkpoints of one model (same name, constructor
    arguments and tensors), each floating-point tensor averaged in fp32 and stored as the first
    checkpoint stores it, the others (BatchNorm's counters) taken from the first. `shares`
    (default equal) are normalised to sum to 1. The metadata is the first checkpoint's, its
    provenance (`config`) replaced by the soup's recipe."""
    if len(paths) < 2:
        raise PhotoreconError("averaging needs at least two checkpoints")
    shares = [1.0] * len(paths) if shares is None else [float(v) for v in shares]
    if len(shares) != len(paths) or min(shares) < 0 or sum(shares) <= 0:
        raise PhotoreconError(
            f"{len(shares)} shares for {len(paths)} checkpoints: one each, none negative"
        )
    shares = [v / sum(shares) for v in shares]
    metas = [read_meta(p) for p in paths]
    states = [read_weights(p) for p in paths]
    first, first_state = metas[0], states[0]
    for path, meta, state in zip(paths[1:], metas[1:], states[1:], strict=True):
        if (meta.model, meta.kwargs) != (first.model, first.kwargs):
            raise PhotoreconError(
                f"{path}: a {meta.model} {meta.kwargs}, not a {first.model} {first.kwargs} "
                f"as {paths[0]}"
            )
        if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in first_state.items()}:
            raise PhotoreconError(f"{path}: its tensors differ from {paths[0]}'s")
    soup = {}
    for key, value in first_state.items():
        if value.is_floating_point():
            mean = sum(
                share * state[key].float() for share, state in zip(shares, states, strict=True)
            )
            soup[key] = mean.to(value.dtype).contiguous()
        else:
            soup[key] = value
    recipe = [
        {"checkpoint": str(p), "share": round(v, 6), "step": m.step, "init": m.config.get("init")}
        for p, v, m in zip(paths, shares, metas, strict=True)
    ]
    return soup, CheckpointMeta(first.model, first.kwargs, 0, {}, {"soup": recipe})


def save_state(path: str | Path, state: dict[str, torch.Tensor], meta: CheckpointMeta) -> None:
    """Write tensors with their metadata atomically (`save_weights` for a built model)."""
    text = json.dumps(
        {
            "model": meta.model,
            "kwargs": meta.kwargs,
            "step": meta.step,
            "metrics": meta.metrics,
            "config": meta.config,
        }
    )
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={META_KEY: text})
