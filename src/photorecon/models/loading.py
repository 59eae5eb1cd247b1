"""Turn a model spec (a registered name, a checkpoint, an .onnx file or a diffusers folder)
into a ready model, in one pass: `files.resolve` decides once what the spec names and finds
its files (weights, a cached export), then the module that opens that kind of thing opens it
(`onnxrt` an export or an .onnx file, `registry` a name or checkpoint, `diffusion` a diffusers
folder), `onnxrt.on_runtime` places a built network on its runtime and `arrays.with_flips`
adds test-time flips. Fills, detectors and restorers load through it alike, kept in one cache
(`cached_model`).
"""

from __future__ import annotations

import collections
import os
import threading
from typing import TYPE_CHECKING

from photorecon.errors import PhotoreconError
from photorecon.models.arrays import ArrayInpainter, with_flips
from photorecon.models.base import (  # noqa: F401 (ROLES and the rest: the loading API)
    EXPORT_SIDE,
    ROLES,
    check_role,
    role_of,
)
from photorecon.models.files import (  # noqa: F401 (parse_spec and the rest: the loading API)
    NAME,
    SOURCES,
    Found,
    ModelSpec,
    parse_spec,
    resolve,
    shipped_weights,
    weights_source,
)
from photorecon.models.onnxrt import (
    ENGINE_OF,
    on_runtime,
    open_export,
    open_int8,
    open_onnx_file,
)
from photorecon.models.registry import (  # noqa: F401 (load_checkpoint: the loading API)
    array_model_info,
    build,
    list_models,
    load_checkpoint,
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
    "elsewhere, and a network's 8-bit copy where one lies beside its weights (the shipped "
    "detector's and ffc's do) on OpenVINO; other networks, and any on a GPU, on torch"
)

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
    spec: str | Found | None,
    device: torch.device | str = "cpu",
    tta: bool = False,
    runtime: str = "torch",
    *,
    diffusion: DiffusionOptions | dict | None = None,
    lora: str | None = None,
    role: str = "fill",
) -> nn.Module | ArrayInpainter:
    """A model in eval mode on `device` from a registered name (None: `default_model()`), a
    checkpoint, an .onnx file or a diffusers folder (Stable Diffusion inpainting, sampled as
    `diffusion` says, with `lora` weights added). `role` is what the caller will do with it
    (ROLES): "fill" (detectors and restorers refused in one line), "detector" (a damage
    detector, exported at its tile side) or "restorer".

    A trainable model's name loads its shipped weights; an untrained one is refused, since its
    random weights would only produce noise. `tta` averages the fills of the four flips.
    `runtime`: see RUNTIME_RULE.
    """
    _check_request(runtime, role)
    found = resolve(spec or default_model(), EXPORT_SIDE.get(role))
    engine = ENGINE_OF.get(runtime, "auto")
    if found.source == "diffusers":
        if engine != "auto":  # an export engine asked for by name
            raise PhotoreconError(f"{found.text}: a diffusion pipeline runs on torch only")
        from photorecon.models.diffusion import load_diffusion

        model = load_diffusion(found.text, device, lora=lora, options=diffusion)
    elif lora is not None:
        raise PhotoreconError("--lora needs --model DIFFUSERS_FOLDER (a Stable Diffusion folder)")
    elif found.source == "onnx":
        model = open_onnx_file(found.text, role, engine)
    elif (
        role in ("detector", "fill")
        and runtime == "auto"
        and str(device).startswith("cpu")
        and found.int8 is not None
        and (quick := open_int8(found, role)) is not None
    ):
        model = quick  # made and shipped beside the weights: no torch at all
    elif found.export is not None and runtime != "torch" and str(device).startswith("cpu"):
        model = open_export(found, role, engine)  # exported before: no torch at all
    else:
        model = on_runtime(build(found, device, role), found, runtime, device, role)
        if diffusion is not None and model.kind == "diffusion":  # a LoRA run: sample as asked
            model.with_options(diffusion)
    return with_flips(model) if tta else model


def _check_request(runtime: str, role: str) -> None:
    """One line for an unknown runtime or role."""
    if runtime not in RUNTIMES:
        raise PhotoreconError(f"unknown runtime {runtime!r} ({', '.join(RUNTIMES)})")
    if role not in ROLES:
        raise PhotoreconError(f"unknown role {role!r} ({', '.join(ROLES)})")


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

    found = resolve(spec, EXPORT_SIDE["fill"])
    exported = found.source == "onnx" or found.export is not None or found.int8 is not None
    if runtime != "torch" and lora is None and exported and cpu_only(device):
        where: torch.device | str = "cpu"
    elif found.source == "name" and array_model_info(spec) is not None:
        where = "cpu"  # a classical fill on arrays runs on the CPU whatever the device
    else:
        where = resolve_device(device)
    model = load_model(found, where, tta=tta, runtime=runtime, diffusion=diffusion, lora=lora)
    return model, where


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
            dropped = []
            while len(self._models) > capacity:
                dropped.append(self._models.popitem(last=False))
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
    spec: str | None,
    device: str = "cpu",
    tta: bool = False,
    runtime: str = "auto",
    diffusion: DiffusionOptions | None = None,
    lora: str | None = None,
    role: str = "fill",
) -> nn.Module:
    """`load_model` once per (spec, device, tta, runtime, options, role) for repeated calls
    (`ModelCache`: `$PHOTORECON_CACHE_MODELS` of them at most): fills and detectors alike.
    A spec of None is the default model."""

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
