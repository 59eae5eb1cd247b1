"""What every photorecon model says about itself: its kind and its constructor arguments.

`InpaintModel` is a small mixin, as diffusers' ConfigMixin is: a subclass's keyword
arguments are recorded in `self.config` when it is built (defaults included), so a checkpoint
stores exactly what rebuilds the same network, with no hand-written dict per model. `kind`
says what the model is: `classical` (no training), `supervised`, `adversarial` (trained
against a discriminator), `diffusion`, `detector` (finds damage instead of filling it) or
`restorer` (an old photo's fading and casts undone).
No torch here: classical fills on arrays build on it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from photorecon.errors import PhotoreconError

KINDS = ("classical", "supervised", "adversarial", "diffusion", "detector", "restorer")


def _plain(value: Any) -> Any:
    """Tuples as lists, so a recorded config equals the same config read back from JSON."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class ConfigMixin:
    """Records the constructor's keyword arguments in `self.config`.

    `quiet_defaults` names arguments recorded only when they differ from their default
    (checkpoints written before the argument existed have no such key, and stay equal).
    `additive_args` names constructor arguments that only add modules (their name prefixes):
    weights trained without them warm-start a model built with them.
    """

    quiet_defaults: ClassVar[tuple[str, ...]] = ()
    additive_args: ClassVar[dict[str, tuple[str, ...]]] = {}
    records_arguments: ClassVar[bool] = True  # False: the class sets `config` itself
    config: Mapping[str, Any] = MappingProxyType({})  # a class without arguments records none

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or not cls.__dict__.get("records_arguments", True):
            return
        signature = inspect.signature(init)
        named = [
            p
            for p in list(signature.parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

        @functools.wraps(init)
        def recording(self, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            config = {}
            for param in named:
                value = bound.arguments[param.name]
                if param.name in cls.quiet_defaults and value == param.default:
                    continue
                config[param.name] = _plain(value)
            self.config = config  # the outermost class's __init__ finishes last, and wins

        cls.__init__ = recording  # type: ignore[method-assign]


class InpaintModel(ConfigMixin):
    """An inpainting model: `model(masked (B,3,H,W), mask (B,1,H,W)) -> (B,3,H,W)`."""

    kind: ClassVar[str] = "supervised"
    work_size: ClassVar[int] = 256  # the side it was trained at: the fill path's window scale
    onnx_ready: ClassVar[bool] = False  # exports to ONNX as it is (runtime "auto" then uses it)
    # holes at most this thick are filled by the harmonic fill instead (0: none; models/ffc.py)
    thin_fill_px: int = 0
    # sides under work_size of the full-resolution windows it fills small holes in as well as
    # in a work_size one (anysize.py; empty: every window is at least work_size)
    window_sides: tuple[int, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in KINDS:
            raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}, got {cls.kind!r}")


def kind_of(model: Any) -> str:
    """A model's kind (its class says: an InpaintModel, a detector, a restorer, an exported
    runner); a plain network of the user's own is a learned fill."""
    kind = getattr(model, "kind", None)
    return kind if isinstance(kind, str) and kind in KINDS else "supervised"


def work_size_of(model: Any) -> int:
    """The side a model fills at (256 for a plain network of the user's own)."""
    return model.work_size if isinstance(model, InpaintModel) else InpaintModel.work_size


def window_sides_of(model: Any) -> tuple[int, ...]:
    """The smaller window sides a model fills holes in at full resolution (InpaintModel
    .window_sides), in increasing order; none for a model that does not say."""
    sides = getattr(model, "window_sides", ()) or ()
    return tuple(sorted({int(s) for s in sides}))


def thin_fill_px_of(model: Any) -> int:
    """How thick a hole the harmonic fill takes from a model (InpaintModel.thin_fill_px; 0:
    none, or a model that does not say)."""
    return int(getattr(model, "thin_fill_px", 0) or 0)


# what a caller loads a model for, and the kinds (KINDS) that do it
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
