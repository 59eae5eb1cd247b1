"""Model registry: `@register_model` and `create_model(name, **kwargs)`, timm-style."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photorecon.errors import PhotoreconError
from photorecon.models.base import KINDS, check_role, kind_of
from photorecon.models.files import Found, weights_file

if TYPE_CHECKING:
    import torch

# Modules whose import registers models; imported on first use, never at package import, and
# only as far as needed: a name is looked up module by module, so the classical fills on
# arrays (first) load without torch.
_MODEL_MODULES = (
    "photorecon.models.arrays",
    "photorecon.models.classical",
    "photorecon.models.ffc",
    "photorecon.models.context_encoder",
    "photorecon.models.bilstm",
    "photorecon.models.unet",
    "photorecon.models.cyclegan",
    "photorecon.models.diffusion",
    "photorecon.models.detector",
    "photorecon.models.restorer",
)


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its factory, the class it builds (which declares its kind,
    models/base.py: classical, supervised, adversarial, diffusion, detector, and its work
    size), and a one-line summary."""

    name: str
    factory: Callable[..., Any]
    model: type
    summary: str
    trainer: str = "supervised"  # which training step trains it: one of TRAINERS
    # the discriminator GAN training pairs it with (models/discriminators.py): a PatchGAN over
    # (input, image) pairs unless the family's report says otherwise
    discriminator: str = "conditional"

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def work_size(self) -> int:
        """The side it fills at (the fill path's window scale; a diffusion pipeline's comes
        from its folder)."""
        return self.model.work_size

    @property
    def trainable(self) -> bool:
        """Whether it must be trained before use (everything but the classical fills and the
        classical detector, whose classes say `trainable = False`)."""
        return bool(getattr(self.model, "trainable", self.kind != "classical"))

    @property
    def fills(self) -> bool:
        """Whether it fills holes (every kind but the damage detectors and restorers)."""
        return self.kind not in ("detector", "restorer")


# the training steps (photorecon.train.steps, built by train.loop.build_step): fills on pixel
# losses, damage detectors, restorers, adversarial fills, CycleGAN, Stable Diffusion LoRA
TRAINERS = ("supervised", "detector", "restorer", "gan", "cyclegan", "diffusion")

_REGISTRY: dict[str, ModelInfo] = {}
_imported: set[str] = set()


def register_model(
    name: str,
    *,
    model: type,
    summary: str,
    trainer: str = "supervised",
    discriminator: str = "conditional",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a model factory under `name`; `model` is the class it builds,
    whose `kind` (declared there alone) the registry reports."""
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise ValueError(f"model {name!r}: {model.__name__}.kind must be one of {KINDS}")

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(name, factory, model, summary, trainer, discriminator)
        return factory

    return wrap


def _ensure_loaded(name: str | None = None) -> None:
    """Import the model modules in order, stopping once `name` is registered (all if None)."""
    for module in _MODEL_MODULES:
        if name is not None and name in _REGISTRY:
            return
        if module not in _imported:
            importlib.import_module(module)
            _imported.add(module)


def array_model_info(name: str) -> ModelInfo | None:
    """The entry of `name` when it is a model on arrays (photorecon.models.arrays: the
    classical fills and detector), found without importing torch; else None."""
    arrays = _MODEL_MODULES[0]
    if arrays not in _imported:
        importlib.import_module(arrays)
        _imported.add(arrays)
    info = _REGISTRY.get(name)
    return info if info is not None and info.model.__module__ == arrays else None


def list_models(trainable: bool | None = None, fills: bool | None = None) -> list[str]:
    """Registered model names, sorted; optionally only (un)trainable ones, only inpainters
    (`fills=True`) or only damage detectors (`fills=False`)."""
    _ensure_loaded()
    return sorted(
        n
        for n, i in _REGISTRY.items()
        if (trainable is None or i.trainable == trainable) and (fills is None or i.fills == fills)
    )


def get_model_info(name: str) -> ModelInfo:
    """Registry entry for `name`; an unknown name fails with the known names."""
    _ensure_loaded(name)
    if name not in _REGISTRY:
        raise PhotoreconError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> Any:
    """Build a registered model with its constructor arguments; arguments it does not take, or
    values it cannot be built with (a negative width), are one line naming the model."""
    info = get_model_info(name)
    try:
        return info.factory(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
        raise PhotoreconError(f"model {name!r} cannot be built with {shown}: {exc}") from None


def count_parameters(model) -> int:
    """Number of trainable parameters (an onnxruntime session: the exported net's)."""
    if hasattr(model, "parameter_count"):
        return int(model.parameter_count)
    if not hasattr(model, "parameters"):  # a classical model on arrays
        return 0
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """Rebuild the model a checkpoint (a weights file or a run folder) describes and load its
    weights (strictly)."""
    return _from_weights(weights_file(path), device)


def _from_weights(file: Path, device: torch.device | str) -> Any:
    from photorecon.checkpoint import load_fitting, read_meta, read_weights

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


def build(found: Found, device: torch.device | str = "cpu", role: str | None = "fill") -> Any:
    """The model a resolved name or checkpoint describes, in eval mode on `device` (a classical
    model on arrays as it is), refused in one line when it cannot play `role`
    (models/base.py ROLES; None: whatever it is). A trainable name loads its shipped
    weights; without them it is refused, since its random weights would only produce noise."""
    spec = found.text
    if found.source == "checkpoint":  # resolved to its weights file (None: say why)
        model = _from_weights(found.weights or weights_file(spec), device)
    else:
        _ensure_loaded(spec)
        info = _REGISTRY.get(spec)
        if info is None:
            here = f"; for the {spec} here, write ./{spec}" if Path(spec).exists() else ""
            raise PhotoreconError(
                f"unknown model {spec!r}: not a registered name ({', '.join(list_models())}) "
                f"nor a checkpoint path{here}"
            )
        if info.trainable and found.weights is None:
            raise PhotoreconError(
                f"model {spec!r} needs trained weights: train it with 'photorecon train' and "
                "pass the run folder or checkpoint"
            )
        if info.trainable:
            model = _from_weights(found.weights, device)
        else:
            model = info.factory().to(device).eval()
    if role is not None:
        check_role(spec, kind_of(model), role)
    return model
