"""The Python API: `fill(image, mask_or_boxes, model="ffc") -> image`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from photorecon.anysize import fill_any_size, find_white_boxes, mask_from_boxes
from photorecon.errors import NoHoles, PhotoreconError
from photorecon.imageio import to_rgb
from photorecon.masks import Box
from photorecon.models.loading import (  # noqa: F401 (the cache is the API's too)
    MODELS,
    cached_model,
    clear_models,
    default_model,
)

if TYPE_CHECKING:
    from photorecon.models.diffusion import DiffusionOptions

BoxLike = Box | Sequence[int]
MaskOrBoxes = np.ndarray | Image.Image | Sequence[BoxLike] | str


def as_boxes(items: Sequence[BoxLike]) -> list[Box]:
    """Boxes from Box objects or (row, col, height, width) sequences."""
    boxes = []
    for item in items:
        if isinstance(item, Box):
            boxes.append(item)
            continue
        values = (
            list(item)
            if isinstance(item, Sequence | np.ndarray) and not isinstance(item, str)
            else []
        )
        whole = (isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values)
        if len(values) != 4 or not all(whole):
            raise PhotoreconError(f"a box is (row, col, height, width) integers, got {item!r}")
        boxes.append(Box(*(int(v) for v in values)))
    return boxes


def resolve_mask(image: np.ndarray, mask_or_boxes: MaskOrBoxes, where: str = "image") -> np.ndarray:
    """A (H, W) float mask from a mask array/image, boxes, "white" (detect white boxes) or
    "auto" (find the damage with the shipped detector, `photorecon.detection`).

    `where` names the input in error messages.
    """
    height, width = image.shape[:2]
    if isinstance(mask_or_boxes, str):
        if mask_or_boxes == "auto":
            from photorecon.detection import detect

            found = detect(image) > 0
            if not found.any():
                raise NoHoles(f"{where}: no damage found")
            return found.astype(np.float32)
        if mask_or_boxes != "white":
            raise PhotoreconError(f"unknown mask keyword {mask_or_boxes!r} (use 'white' or 'auto')")
        boxes = find_white_boxes(image)
        if not boxes:
            raise NoHoles(f"{where}: no pure-white rectangles found")
        return mask_from_boxes(height, width, boxes, where)
    if isinstance(mask_or_boxes, Image.Image):
        mask_or_boxes = np.asarray(mask_or_boxes)
    if isinstance(mask_or_boxes, np.ndarray):
        mask = mask_or_boxes
        if mask.ndim == 3:
            mask = mask.any(axis=2)
        if mask.shape != (height, width):
            raise PhotoreconError(
                f"{where}: mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{width}x{height}"
            )
        return (mask != 0).astype(np.float32)
    return mask_from_boxes(height, width, as_boxes(mask_or_boxes), where)


def rgb_array(image) -> np.ndarray:
    """An H×W×3 uint8 array as it is, else one line saying what it was."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise PhotoreconError(f"expected an H×W×3 uint8 array, got {array.dtype} {array.shape}")
    return array


def fill(
    image: np.ndarray | Image.Image,
    mask_or_boxes: MaskOrBoxes,
    model: str | None = None,
    *,
    device: str = "cpu",
    tta: bool = False,
    runtime: str = "auto",
    diffusion: DiffusionOptions | None = None,
    lora: str | None = None,
    detail: bool = False,
) -> np.ndarray | Image.Image:
    """Fill holes in a photo of any size and return the same kind (PIL image or H×W×3 uint8).

    `mask_or_boxes`: a mask (array or PIL image, non-zero = missing), a list of
    (row, col, height, width) boxes, "white" to fill pure-white rectangles, or "auto" to find
    the damage (scratches, dust, blotches, tears) first and fill it. `model`: a
    registered name or a checkpoint path; default the best shipped model. `tta` averages the
    fills of the four flips; `runtime` is where a learned model runs (auto, torch, onnx,
    openvino: `photorecon.models.loading.RUNTIME_RULE`). A diffusers
    folder as `model` runs Stable Diffusion inpainting, sampled as `diffusion`
    (`photorecon.models.diffusion.DiffusionOptions`: prompt, steps, guidance, strength, seed,
    samples) says, with `lora` weights added. `detail` (learned models) gives holes about
    24 px thick and more texture from the photo's own pixels (`photorecon.detail`); the plain
    fill is the most accurate pixel for pixel. Pixels outside the holes are returned unchanged.
    """
    is_pil = isinstance(image, Image.Image)
    array = np.asarray(to_rgb(image), dtype=np.uint8) if is_pil else rgb_array(image)
    mask = resolve_mask(array, mask_or_boxes)
    net = cached_model(model, device, tta, runtime, diffusion, lora)
    out = fill_any_size(array, mask, net, device=device, detail=detail)
    return Image.fromarray(out) if is_pil else out


def restore(
    image: np.ndarray | Image.Image,
    *,
    damage: bool = True,
    tone: bool = True,
    grain: bool = True,
    strength: float = 1.0,
    sensitivity: float = 0.5,
    model: str = "restore",
    fill_model: str | None = None,
    device: str = "cpu",
) -> np.ndarray | Image.Image:
    """Restore an old photo and return the same kind (PIL image or H×W×3 uint8): its damage
    found and filled (`damage`, as `fill(image, "auto")`), its fading, colour cast and lost
    contrast undone (`tone`, the learned restorer `model`), its grain quieted (`grain`), the
    result blended back toward the photo by `strength` (0: as it was, 1: fully restored). A
    PIL image keeps its alpha channel."""
    from photorecon.checks import check_sensitivity, check_strength
    from photorecon.detection import load_detector
    from photorecon.restoration import RestoreOptions, restore_pixels

    options = RestoreOptions(
        damage, tone, grain, check_strength(strength), check_sensitivity(sensitivity)
    )
    is_pil = isinstance(image, Image.Image)
    if is_pil:
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "PA") else None
        array = np.asarray(image.convert("RGB") if alpha is not None else to_rgb(image), np.uint8)
    else:
        array = rgb_array(image)
    restorer = cached_model(model, "cpu", role="restorer") if tone else None
    restored, _ = restore_pixels(
        array,
        options,
        restorer=restorer,
        detector=load_detector("damage", "cpu") if damage else None,
        fill_model=cached_model(fill_model, device) if damage else None,
        device=device,
    )
    if not is_pil:
        return restored
    out = Image.fromarray(restored)
    if alpha is not None:
        out.putalpha(alpha)
    return out
