"""Where models' files are: what a model spec names (`parse_spec`, `resolve`), checkpoints'
weights files, the shipped weights and the user's own, and the cache of exported networks. The
bottom of the model modules: it imports none of them (and no torch), so checkpoints, exports
and loading all take their paths from here."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from photorecon.errors import PhotoreconError
from photorecon.fsutil import cache_dir  # the export cache's folder (exports are named in it)

WEIGHTS_NAME = "model.safetensors"
EXPORT = 7  # what an exported file holds (4: thin_fill_px and parameters in its metadata;
# 5: a blending model's fill and gate apart; 6: a sidecar with its hash and a canary; 7: the
# window sides in its metadata); older ones are redone


def weights_file(path: str | Path) -> Path:
    """A checkpoint's safetensors file: the path itself, or DIR/[best/]model.safetensors."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "best" / WEIGHTS_NAME, path / WEIGHTS_NAME):
            if candidate.is_file():
                return candidate
        raise PhotoreconError(f"{path}: no {WEIGHTS_NAME} in this folder or its best/")
    if not path.is_file():
        raise PhotoreconError(f"{path}: no such checkpoint")
    return path


def user_weights_dir() -> Path:
    """Where `ship: NAME` writes a model's new weights: $PHOTORECON_WEIGHTS when set, else the
    user's data folder (platformdirs; ~/.local/share/photorecon/weights on Linux), never the
    installed package's folder."""
    if os.environ.get("PHOTORECON_WEIGHTS"):
        return Path(os.environ["PHOTORECON_WEIGHTS"])
    import platformdirs

    return platformdirs.user_data_path("photorecon") / "weights"


def shipped_weights(name: str) -> Path | None:
    """The weights a trainable model loads by name: the user's own (`user_weights_dir`, where
    training ships improved weights) before the package's `photorecon/weights/` (package data:
    in a checkout and in an installed wheel)."""
    from importlib.resources import files

    roots = [str(user_weights_dir()), str(files("photorecon") / "weights")]
    for root in roots:
        if root and (Path(root) / f"{name}.safetensors").is_file():
            return Path(root) / f"{name}.safetensors"
    return None


def trained_on(name: str) -> set[str]:
    """Pack paths of the photos a shipped model trained on (empty when not recorded)."""
    weights = shipped_weights(name)
    listing = weights.with_name(f"{name}-train-photos.txt") if weights else None
    if listing is None or not listing.is_file():
        return set()
    lines = listing.read_text().splitlines()
    return {ln.split(None, 1)[1] for ln in lines if ln and not ln.startswith("#") and " " in ln}


def _digest(text: str, length: int) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:length]


def onnx_cache_path(source: Path, size: int) -> Path:
    """Where the export at side `size` of the weights `source` is kept: named by the weights
    file and side (its first part, shared by every export of them at that side) and by the
    file's time and size, photorecon's version and the export format (its second part)."""
    from photorecon import __version__

    stat = source.stat()
    group = _digest(f"{source.resolve()}:{size}", 8)
    key = f"{source.resolve()}:{stat.st_mtime_ns}:{stat.st_size}:{__version__}:{size}:{EXPORT}"
    return cache_dir() / f"{group}-{_digest(key, 16)}.onnx"


LEGACY_EXPORT = re.compile(r"[0-9a-f]{20}\.onnx")  # named before exports were grouped


def prune_exports(fresh: Path) -> list[Path]:
    """After `fresh` is exported: the exports it replaces removed with what lies beside them
    (their sidecars): those of the same weights at the same side made before the weights,
    photorecon or the export format changed, and any named the old way, which nothing loads
    now. OpenVINO's compiled copies of them go the next time OpenVINO opens its cache
    (models/onnxrt.py). Returns the exports removed."""
    group = fresh.name.split("-", 1)[0]
    removed = []
    for other in fresh.parent.glob("*.onnx"):
        stale = other.name.startswith(f"{group}-") or LEGACY_EXPORT.fullmatch(other.name)
        if other != fresh and stale:
            for part in fresh.parent.glob(glob.escape(other.name) + "*"):
                part.unlink(missing_ok=True)
            removed.append(other)
    return removed


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


def cached_export(weights: Path | None, side: int) -> Path | None:
    """The cached export of `weights` at `side`, if it was made (no torch)."""
    if weights is None:
        return None
    path = onnx_cache_path(weights, side)
    return path if path.is_file() else None


INT8_SUFFIX = ".int8.onnx"  # a network's 8-bit copy, beside its weights (models/quantize.py)
INT8_SOURCE = "source_sha256"  # its metadata: the SHA-256 of the weights it was made from


def int8_path(weights: Path) -> Path:
    """Where the 8-bit copy of the network in `weights` (NAME.safetensors) lies: NAME.int8.onnx
    beside it."""
    return weights.with_name(weights.name.removesuffix(".safetensors") + INT8_SUFFIX)


@dataclass(frozen=True)
class Found:
    """A model spec resolved once into what to open: its text and what it names (`source`, as
    `ModelSpec`'s), the weights file it loads (None for a classical fill, an .onnx file or a
    diffusers folder, or a trainable name with no weights yet), its export cached at the
    side asked for (None when not made yet) and the 8-bit copy beside its weights (None when
    there is none)."""

    text: str
    source: str
    weights: Path | None
    export: Path | None
    int8: Path | None = None


def resolve(spec: str | ModelSpec | Found, side: int | None = None) -> Found:
    """What a spec names and the files behind it, looked up once (no torch): its weights and,
    when `side` is given, its cached export at that side."""
    if isinstance(spec, Found):
        return spec
    parsed = parse_spec(spec)
    weights = weights_source(parsed)
    export = cached_export(weights, side) if side is not None else None
    int8 = int8_path(weights) if weights is not None else None
    int8 = int8 if int8 is not None and int8.is_file() else None
    return Found(parsed.text, parsed.source, weights, export, int8)
