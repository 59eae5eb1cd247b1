"""Model registry: `@register_model` and `create_model(name, **kwargs)`, timm-style."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from photorecon.errors import PhotoreconError

# Modules whose import registers models; imported on first use, never at package import.
_MODEL_MODULES = (
    "photorecon.models.classical",
    "photorecon.models.ffc",
    "photorecon.models.context_encoder",
    "photorecon.models.bilstm",
    "photorecon.models.unet",
    "photorecon.models.cyclegan",
)


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its factory, whether it must be trained, and a one-line summary."""

    name: str
    factory: Callable[..., nn.Module]
    trainable: bool
    summary: str
    trainer: str = "supervised"  # which training loop: supervised, gan or cyclegan
    # the discriminator GAN training pairs it with (models/discriminators.py): a PatchGAN over
    # (input, image) pairs unless the family's report says otherwise
    discriminator: str = "conditional"


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False


def register_model(
    name: str,
    *,
    trainable: bool,
    summary: str,
    trainer: str = "supervised",
    discriminator: str = "conditional",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under `name`."""

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(name, factory, trainable, summary, trainer, discriminator)
        return factory

    return wrap


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _MODEL_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_models(trainable: bool | None = None) -> list[str]:
    """Registered model names, sorted; optionally only (un)trainable ones."""
    _ensure_loaded()
    return sorted(n for n, i in _REGISTRY.items() if trainable is None or i.trainable == trainable)


def get_model_info(name: str) -> ModelInfo:
    """Registry entry for `name`; an unknown name fails with the known names."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise PhotoreconError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model with its constructor arguments."""
    return get_model_info(name).factory(**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
