"""Turn a model spec (a registered name or a checkpoint path) into a ready model.

`parse_spec` decides once what a `--model` value names (`ModelSpec`: a registered name, a
checkpoint file or run folder, an .onnx file, a diffusers folder); everything here follows
its `source`.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from photorecon.errors import PhotoreconError
from photorecon.models.arrays import ArrayFlipTTA, ArrayInpainter
from photorecon.models.base import kind_of
from photorecon.models.files import (
    onnx_cache_path,
    prune_exports,
    shipped_weights,
    weights_file,
)
from photorecon.models.onnxrt import OnnxModel
from photorecon.models.registry import (
    array_model_info,
    create_model,
    get_model_info,
    list_models,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from photorecon.models.diffusion import DiffusionOptions


RUNTIMES = ("auto", "torch", "onnx", "openvino")
# Where a learned model runs, said once (load_model follows it; the command line's --runtime
# help and the Python API's docstrings are this text)
RUNTIME_RULE = (
    "onnx = its ONNX export (made once and cached) on onnxruntime, openvino = the export on "
    "OpenVINO; auto (default) = the export on a CPU for networks that export (ffc, the damage "
    "detector), on OpenVINO where the CPU computes in bfloat16 (AMX) and on onnxruntime "
    "elsewhere; other networks, and any on a GPU, on torch"
)
# the engine that runs a network's ONNX export for each runtime but torch (models/onnxrt.py)
ENGINE_OF = {"auto": "auto", "onnx": "onnxruntime", "openvino": "openvino"}


SOURCES = ("name", "checkpoint", "onnx", "diffusers")


@dataclass(frozen=True)
class ModelSpec:
    """What a model spec names: `source` is "name" (registered: its shipped weights, or a
    classical fill), "checkpoint" (a .safetensors file or a run folder), "onnx" (an exported
    file) or "diffusers" (a Stable Diffusion inpainting folder)."""

    text: str
    source: str

    def __str__(self) -> str:
        return self.text

    @property
    def path(self) -> Path:
        return Path(self.text)


# what a registered name looks like: a spec written so is always a name, never a path (timm's
# rule; a folder here with such a name is written ./NAME), so nothing on disk can change what
# `--model telea` means
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def parse_spec(spec: str | ModelSpec) -> ModelSpec:
    """Decide what a spec names from its text: a name (`NAME`), else a path: a diffusers
    folder, an .onnx file or a checkpoint (a .safetensors file or a run folder)."""
    if isinstance(spec, ModelSpec):
        return spec
    if NAME.fullmatch(spec):
        return ModelSpec(spec, "name")
    path = Path(spec)
    if path.is_dir() and ((path / "model_index.json").is_file() or (path / "unet").is_dir()):
        return ModelSpec(spec, "diffusers")  # one, or a folder meant to be one
    if spec.endswith(".onnx"):
        return ModelSpec(spec, "onnx")
    return ModelSpec(spec, "checkpoint")


# the best learned fill and the best classical one (on the challenge's holes): listed first
PREFERRED = ("ffc", "telea")


def ready_models() -> list[str]:
    """Models usable by name right now, best first: trained ones with shipped weights, then
    classical (a diffusion model is used through its folder: `--model PATH`). The first is
    the default model (`default_model`)."""
    trained = [n for n in list_models(True, fills=True) if shipped_weights(n) is not None]
    ready = trained + list_models(trainable=False, fills=True)
    return sorted(ready, key=lambda n: (n not in trained, n not in PREFERRED))  # stable


def default_model() -> str:
    """`ready_models()[0]`, the best model usable without training (ffc with its shipped
    weights), found without loading the registry, which imports torch, when ffc is ready."""
    if shipped_weights(PREFERRED[0]) is not None:
        return PREFERRED[0]
    return ready_models()[0]


def load_model(
    spec: str,
    device: torch.device | str = "cpu",
    tta: bool = False,
    runtime: str = "torch",
    *,
    diffusion: DiffusionOptions | dict | None = None,
    lora: str | None = None,
    role: str = "fill",
) -> nn.Module:
    """A model in eval mode on `device` from a registered name, a checkpoint, an .onnx file or
    a diffusers folder (Stable Diffusion inpainting, sampled as `diffusion` says, with `lora`
    weights added). `role` is what the caller will do with it (ROLES): "fill" (detectors and
    restorers refused in one line), "detector" (a damage detector, exported at its tile
    side) or "restorer".

    A trainable model's name loads its shipped weights; an untrained one is refused, since its
    random weights would only produce noise. `tta` averages the fills of the four flips.
    `runtime`: see RUNTIME_RULE.
    """
    if runtime not in RUNTIMES:
        raise PhotoreconError(f"unknown runtime {runtime!r} ({', '.join(RUNTIMES)})")
    if role not in ROLES:
        raise PhotoreconError(f"unknown role {role!r} ({', '.join(ROLES)})")
    explicit = runtime in ("onnx", "openvino")  # an export engine asked for by name
    parsed = parse_spec(spec)
    if parsed.source == "diffusers":
        from photorecon.models.diffusion import DiffusionOptions, load_diffusion

        if explicit:
            raise PhotoreconError(f"{spec}: a diffusion pipeline runs on the torch runtime only")
        if not isinstance(diffusion, DiffusionOptions):
            diffusion = DiffusionOptions(**(diffusion or {}))
        model = load_diffusion(spec, device, lora=lora, options=diffusion)
        return _with_tta(model, tta)
    if lora is not None:
        raise PhotoreconError(
            "--lora goes with a Stable Diffusion folder: --model DIFFUSERS_FOLDER"
        )
    cpu = str(device).startswith("cpu")
    if runtime != "torch" and cpu and parsed.source != "onnx":
        cached = cached_onnx(parsed, EXPORT_SIDE[role]) if role in EXPORT_SIDE else None
        if cached is not None:  # exported before: no torch at all
            runner = _runner(cached, _exporter(parsed, role), ENGINE_OF[runtime], role)
            return _with_tta(runner, tta)
    model = _load(parsed, device, ENGINE_OF.get(runtime, "auto"), role)
    check_role(spec, kind_of(model), role)
    if diffusion is not None and kind_of(model) == "diffusion":  # a LoRA run: sample as asked
        from photorecon.models.diffusion import DiffusionOptions

        if not isinstance(diffusion, DiffusionOptions):
            diffusion = DiffusionOptions(**diffusion)
        model.with_options(diffusion)
    if isinstance(model, ArrayInpainter):  # a classical fill or an .onnx file: no torch
        if explicit and not isinstance(model, OnnxModel):
            raise PhotoreconError(
                f"{spec} has no network to run on {ENGINE_OF[runtime]} (use the torch runtime)"
            )
        return _with_tta(model, tta)
    if explicit or (runtime == "auto" and cpu and role in EXPORT_SIDE and _onnx_ready(model)):
        try:
            return _with_tta(_onnx_version(parsed, model, ENGINE_OF[runtime], role), tta)
        except PhotoreconError as exc:
            if explicit:
                raise
            # an unusable cache folder (a file where it should be, no permission): slower, works
            warnings.warn(
                f"{spec}: running on torch, its ONNX export could not be made or loaded from "
                f"the cache ({exc})",
                stacklevel=2,
            )
    if kind_of(model) != "diffusion":
        import torch

        model = model.to(memory_format=torch.channels_last)  # ffc fills 1.3x faster on CPU
    return _with_tta(model, tta)


def _with_tta(model, tta: bool):
    """The model, or when `tta` the mean of its fills of the four flips."""
    if not tta:
        return model
    if isinstance(model, ArrayInpainter):
        return ArrayFlipTTA(model)
    from photorecon.models.tta import FlipTTA

    return FlipTTA(model).eval()


def _onnx_ready(model) -> bool:
    """Whether `model` exports to ONNX as it is and onnxruntime is installed to run it."""
    import importlib.util

    return bool(getattr(model, "onnx_ready", False)) and (
        importlib.util.find_spec("onnxruntime") is not None
    )


def weights_source(spec: str | ModelSpec) -> Path | None:
    """The safetensors file a spec loads (shipped weights for a name), or None."""
    spec = parse_spec(spec)
    if spec.source == "name":
        return shipped_weights(spec.text)
    if spec.source != "checkpoint":
        return None
    try:
        return weights_file(spec.path)
    except PhotoreconError:
        return None


def cached_onnx(spec: str | ModelSpec, size: int = 256) -> Path | None:
    """The cached export of a spec's weights at side `size`, if there is one (no torch)."""
    source = weights_source(spec)
    if source is None:
        return None
    path = onnx_cache_path(source, size)
    return path if path.is_file() else None


# what a caller loads a model for, and the kinds (models/base.py KINDS) that do it
ROLES = {
    "fill": ("classical", "supervised", "adversarial", "diffusion"),
    "detector": ("detector",),
    "restorer": ("restorer",),
}
# the side each role's network is exported at: a fill's work size, a detector's tile (a
# restorer runs on torch: it is small, and its input is a 128-px copy)
EXPORT_SIDE = {"fill": 256, "detector": 512}


def role_of(kind: str) -> str:
    """The role a model of `kind` plays (ROLES)."""
    return next(role for role, kinds in ROLES.items() if kind in kinds)


def check_role(spec: str, kind: str, role: str) -> None:
    """One line when a model of `kind` cannot do what `role` asks."""
    if kind in ROLES[role]:
        return
    if role == "detector":
        raise PhotoreconError(f"{spec} is not a damage detector (try 'damage')")
    if role == "restorer":
        raise PhotoreconError(f"{spec} is not a restorer (try 'restore')")
    use = "photorecon detect or fill --auto" if kind == "detector" else "photorecon restore"
    raise PhotoreconError(f"{spec} is a {kind}, not a fill (it goes with {use})")


def _exporter(spec: ModelSpec, role: str = "fill", model=None) -> Callable[[int], Path]:
    """Exports the spec's network at a given side into the cache (torch loaded on first use);
    the export it replaces goes (`prune_exports`)."""
    state = {"model": model}

    def export(side: int) -> Path:
        source = weights_source(spec)
        if source is None:
            raise PhotoreconError(f"{spec}: no weights file to export")
        path = onnx_cache_path(source, side)
        if not path.is_file():
            from photorecon.models.onnx import export_detector_onnx, export_onnx

            if state["model"] is None:
                state["model"] = _load(spec, "cpu")
            net = state["model"].cpu()
            if role == "detector":
                export_detector_onnx(net, path, side)
            else:
                export_onnx(net, path, size=side, parts=True)
            prune_exports(path)
        return path

    return export


def _runner(path: Path, exporter: Callable[[int], Path], engine: str, role: str):
    """An export opened on `engine` for its role; a damaged cache entry is made anew once."""
    side = EXPORT_SIDE[role]
    if role == "detector":
        from photorecon.models.onnxrt import OnnxDetector

        return OnnxDetector(path, engine=engine, remake=lambda: exporter(side))
    return OnnxModel(path, exporter, engine=engine, remake=lambda: exporter(side))


def _onnx_version(spec: ModelSpec, model: nn.Module, engine: str = "auto", role: str = "fill"):
    """The model exported to ONNX (cached by its weights file), loaded on `engine`."""
    if not any(True for _ in model.parameters()):
        raise PhotoreconError(f"{spec} has no network to export (use the torch runtime)")
    if weights_source(spec) is None:
        raise PhotoreconError(f"{spec}: no weights file to export")
    exporter = _exporter(spec, role, model)
    return _runner(exporter(EXPORT_SIDE[role]), exporter, engine, role)


def load_model_for(
    spec: str,
    device: str = "auto",
    *,
    tta: bool = False,
    runtime: str = "auto",
    diffusion: DiffusionOptions | dict | None = None,
    lora: str | None = None,
) -> tuple[nn.Module | ArrayInpainter, torch.device | str]:
    """A ready model and the device it runs on, for a command's `--model` and `--device`.

    A classical fill on arrays (telea, ns, mean), an .onnx file, and on a CPU a network whose
    ONNX export is cached run without torch: for them the device is not resolved and torch is
    never imported.
    """
    from photorecon.device import cpu_only, resolve_device

    parsed = parse_spec(spec)
    if _runs_on_arrays(parsed, runtime, lora) and cpu_only(device):
        where: torch.device | str = "cpu"
    elif parsed.source == "name" and array_model_info(spec) is not None:
        where = "cpu"  # a classical fill on arrays runs on the CPU whatever the device
    else:
        where = resolve_device(device)
    model = load_model(spec, where, tta=tta, runtime=runtime, diffusion=diffusion, lora=lora)
    return model, where


def _runs_on_arrays(parsed: ModelSpec, runtime: str, lora: str | None) -> bool:
    """Whether the spec runs without torch on a CPU: an .onnx file, or a network whose export
    is cached (not on the torch runtime, nor with a LoRA or a diffusers folder)."""
    if runtime == "torch" or lora is not None or parsed.source == "diffusers":
        return False
    return parsed.source == "onnx" or cached_onnx(parsed) is not None


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (strictly)."""
    from photorecon.checkpoint import load_fitting, read_meta, read_weights

    file = weights_file(path)
    meta = read_meta(file)
    if not isinstance(meta.kwargs, dict):
        raise PhotoreconError(f"{file}: malformed checkpoint metadata (kwargs is not a mapping)")
    try:
        if not get_model_info(meta.model).trainable:  # a classical fill has no weights
            raise PhotoreconError(f"{meta.model!r} is a classical fill, with no weights to load")
        model = create_model(meta.model, **meta.kwargs)
    except (TypeError, ValueError, PhotoreconError) as exc:  # unknown, untrainable, bad kwargs
        raise PhotoreconError(
            f"{file}: its metadata does not build model {meta.model!r} ({exc})"
        ) from None
    load_fitting(model, read_weights(file), f"{file}: weights do not fit model {meta.model!r}")
    return model.to(device).eval()


def _load(
    parsed: ModelSpec, device: torch.device | str, engine: str = "auto", role: str = "fill"
) -> nn.Module | ArrayInpainter:
    spec = parsed.text
    if parsed.source == "onnx":
        if not parsed.path.is_file():
            raise PhotoreconError(f"{spec}: no such ONNX file")
        if role == "detector":
            from photorecon.models.onnxrt import OnnxDetector

            return OnnxDetector(spec, engine=engine)
        return OnnxModel(spec, engine=engine)
    if parsed.source == "checkpoint":
        return load_checkpoint(spec, device)
    try:
        info = get_model_info(spec)
    except PhotoreconError:
        here = f"; for the {spec} here, write ./{spec}" if Path(spec).exists() else ""
        raise PhotoreconError(
            f"unknown model {spec!r}: not a registered name ({', '.join(list_models())}) "
            f"nor a checkpoint path{here}"
        ) from None
    if info.trainable:
        weights = shipped_weights(spec)
        if weights is None:
            raise PhotoreconError(
                f"model {spec!r} needs trained weights: train it with 'photorecon train' and "
                "pass the run folder or checkpoint"
            )
        return load_checkpoint(weights, device)
    return create_model(spec).to(device).eval()


CACHE_ENV = "PHOTORECON_CACHE_MODELS"  # how many loaded models stay in memory (default 4)


class ModelCache:
    """Loaded models kept for repeated calls, the least recently used dropped first, at most
    `$PHOTORECON_CACHE_MODELS` of them (0: none kept). A dropped model's memory goes back (a
    CUDA device's cached blocks too): a Stable Diffusion pipeline holds gigabytes."""

    def __init__(self) -> None:
        self._models: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def capacity() -> int:
        text = os.environ.get(CACHE_ENV, "4").strip()
        if not text.isdigit():
            raise PhotoreconError(f"{CACHE_ENV} must be a whole number >= 0, got {text!r}")
        return int(text)

    def get(self, key: tuple, load):
        capacity = self.capacity()
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = load()  # outside the lock: other threads keep using what is loaded
        if capacity == 0:
            return model
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            dropped = [self._models.popitem(last=False) for _ in range(len(self) - capacity)]
        if dropped:
            del dropped
            _release_memory()
        return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
        _release_memory()


def _release_memory() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


MODELS = ModelCache()


def cached_model(
    spec: str,
    device: str = "cpu",
    tta: bool = False,
    runtime: str = "auto",
    diffusion: DiffusionOptions | None = None,
    lora: str | None = None,
    role: str = "fill",
) -> nn.Module:
    """`load_model` once per (spec, device, tta, runtime, options, role) for repeated calls
    (`ModelCache`: `$PHOTORECON_CACHE_MODELS` of them at most): fills and detectors alike."""

    def load():
        from photorecon.threads import configure_once

        configure_once()  # before torch is first imported: threads that do not spin
        return load_model(
            spec, device, tta=tta, runtime=runtime, diffusion=diffusion, lora=lora, role=role
        )

    return MODELS.get((spec, str(device), tta, runtime, diffusion, lora, role), load)


def clear_models() -> None:
    """Drop every model the API has kept loaded."""
    MODELS.clear()
