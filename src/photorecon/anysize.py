"""Fill holes in photos of any size: a context window per hole at the scale the model knows.

Each connected hole gets a window around it, large enough that the hole covers about a third of
the window's side (as in training) and at least `work_size` wide; a learned model sees that window
shrunk to `work_size`, and its fill is scaled back and pasted into the hole at full resolution.
A thin hole (a scratch, a brush stroke) needs context for its thickness, not its length: it is
filled in tiles along its length, each a window sized for its thickness (full resolution for
scratches), so a scratch across a 24-megapixel photo is not shrunk to a sub-pixel line first.
Pixels outside the holes are returned bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from photorecon.errors import PhotoreconError
from photorecon.imageio import to_uint8
from photorecon.inpaint import fill_batch
from photorecon.masks import Box, boxes_to_mask
from photorecon.models.base import kind_of, work_size_of

if TYPE_CHECKING:
    from torch import nn

HOLE_SHARE = 0.35  # the largest hole side / window side the model is asked to fill
THIN_CONTEXT = 3.0  # a thin hole needs context for this many times its thickness
MIN_SIDE = 32  # smaller windows are mirrored out to this for a learned model (its strides)


@dataclass(frozen=True)
class Window:
    """A context window (top, left, height, width) and the scale its content is run at."""

    top: int
    left: int
    height: int
    width: int
    scale: float


def labelled_holes(mask: np.ndarray) -> tuple[np.ndarray, list[Box]]:
    """Label image of the connected holes of a (H, W) mask and each hole's bounding box."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), 8)
    boxes = [
        Box(
            int(s[cv2.CC_STAT_TOP]),
            int(s[cv2.CC_STAT_LEFT]),
            int(s[cv2.CC_STAT_HEIGHT]),
            int(s[cv2.CC_STAT_WIDTH]),
        )
        for s in stats[1:count]
    ]
    return labels, boxes


def context_window(hole: Box, height: int, width: int, work_size: int, rescale: bool) -> Window:
    """A square window centred on the hole, shifted (and clipped) to lie inside the image."""
    side = max(work_size, math.ceil(max(hole.height, hole.width) / HOLE_SHARE))
    win_h, win_w = min(side, height), min(side, width)
    cy, cx = hole.row + hole.height / 2, hole.col + hole.width / 2
    top = int(min(max(round(cy - win_h / 2), 0), height - win_h))
    left = int(min(max(round(cx - win_w / 2), 0), width - win_w))
    scale = min(1.0, work_size / max(win_h, win_w)) if rescale else 1.0
    return Window(top, left, win_h, win_w, scale)


def hole_size(labels: np.ndarray, label: int, hole: Box) -> float:
    """The size a hole needs context for: its longest side, or a few times its thickness (twice
    the largest distance from a hole pixel to the outside) when that is smaller."""
    region = np.pad((labels[hole.slices()] == label).astype(np.uint8), 1)
    thickness = 2.0 * float(cv2.distanceTransform(region, cv2.DIST_L2, 3).max())
    return min(float(max(hole.height, hole.width)), THIN_CONTEXT * thickness)


def _mirror_out(image: np.ndarray, mask: np.ndarray, side: int):
    """Image and mask mirrored (holes mirrored too) to at least side x side; (image, mask,
    original height, width)."""
    height, width = mask.shape
    pad_h, pad_w = max(0, side - height), max(0, side - width)
    # a 1-pixel dimension cannot be reflected: it is repeated instead
    border = cv2.BORDER_REFLECT_101 if min(height, width) > 1 else cv2.BORDER_REPLICATE
    while pad_h or pad_w:  # reflection adds at most the size minus one per pass
        step_h, step_w = min(pad_h, mask.shape[0] - 1), min(pad_w, mask.shape[1] - 1)
        if border == cv2.BORDER_REPLICATE:
            step_h, step_w = pad_h, pad_w
        image = cv2.copyMakeBorder(image, 0, step_h, 0, step_w, border)
        mask = cv2.copyMakeBorder(mask, 0, step_h, 0, step_w, border)
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return image, mask, height, width


def _run_window(model, image, holes, win: Window, device, learned: bool) -> np.ndarray:
    """The model's uint8 fill of one window, at the window's scale and back."""
    rows = slice(win.top, win.top + win.height)
    cols = slice(win.left, win.left + win.width)
    crop, crop_mask = image[rows, cols], holes[rows, cols].astype(np.float32)
    if learned and min(crop_mask.shape) < MIN_SIDE:  # a tiny photo: too small for the strides
        big, big_mask, height, width = _mirror_out(crop, crop_mask, MIN_SIDE)
        return to_uint8(fill_batch(model, [big], [big_mask], device)[0])[:height, :width]
    if win.scale >= 1.0:
        return to_uint8(fill_batch(model, [crop], [crop_mask], device)[0])
    size = (max(1, round(win.width * win.scale)), max(1, round(win.height * win.scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(crop_mask, size, interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
    pred = fill_batch(model, [small], [small_mask], device)[0]
    return to_uint8(cv2.resize(pred, (win.width, win.height), interpolation=cv2.INTER_CUBIC))


def thin_hole_tiles(
    labels: np.ndarray, label: int, hole: Box, side: int, work_size: int, rescale: bool
) -> dict[Window, list[tuple[slice, slice]]]:
    """Windows of `side` (clipped to the photo) along thin hole `label` (its box `hole`), each
    with the cells (the window's central half) whose hole pixels it fills; only cells the hole
    passes through get one, and cells sharing a window (a small photo) share it. A window over
    `work_size` runs shrunk to it when `rescale`."""
    height, width = labels.shape
    win_h, win_w = min(side, height), min(side, width)
    scale = min(1.0, work_size / max(win_h, win_w)) if rescale else 1.0
    cell = max(1, side // 2)
    tiles: dict[Window, list[tuple[slice, slice]]] = {}
    for r0 in range(hole.row, hole.row + hole.height, cell):
        for c0 in range(hole.col, hole.col + hole.width, cell):
            r1, c1 = min(r0 + cell, hole.row + hole.height), min(c0 + cell, hole.col + hole.width)
            if not (labels[r0:r1, c0:c1] == label).any():
                continue
            top = int(min(max(round((r0 + r1) / 2 - win_h / 2), 0), height - win_h))
            left = int(min(max(round((c0 + c1) / 2 - win_w / 2), 0), width - win_w))
            win = Window(top, left, win_h, win_w, scale)
            tiles.setdefault(win, []).append((slice(r0, r1), slice(c0, c1)))
    return tiles


def fill_any_size(
    image: np.ndarray,
    mask: np.ndarray,
    model: nn.Module,
    *,
    work_size: int | None = None,
    rescale: bool | None = None,
    device="cpu",
) -> np.ndarray:
    """Fill the holes of an RGB uint8 image (H, W, 3); returns uint8, known pixels unchanged.

    `rescale` (default: for learned models) runs large windows shrunk to `work_size` (default:
    the side the model was trained at, 256 for ffc, 512 for SD 2); classical fills work at full
    resolution.
    """
    work_size = work_size or work_size_of(model)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PhotoreconError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise PhotoreconError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    holes = mask > 0
    out = image.copy()
    if not holes.any():
        return out
    if holes.all():
        raise PhotoreconError(
            f"the mask covers the whole {image.shape[1]}x{image.shape[0]} image: nothing is "
            "left to fill it from"
        )
    learned = kind_of(model) != "classical"
    if rescale is None:
        rescale = learned
    height, width = holes.shape
    labels, boxes = labelled_holes(holes)
    sizes = [hole_size(labels, k, b) for k, b in enumerate(boxes, start=1)]
    thin = [size < max(b.height, b.width) for size, b in zip(sizes, boxes, strict=True)]
    done = np.zeros(len(boxes) + 1, dtype=bool)
    fills: dict[Window, np.ndarray] = {}  # a window's fill depends only on the window

    def window_fill(win: Window) -> np.ndarray:
        if win not in fills:
            fills[win] = _run_window(model, image, holes, win, device, learned)
        return fills[win]

    for label, hole in enumerate(boxes, start=1):
        if done[label]:
            continue
        if thin[label - 1]:
            side = max(work_size, math.ceil(sizes[label - 1] / HOLE_SHARE))
            tiles = thin_hole_tiles(labels, label, hole, side, work_size, rescale)
            for win, cells in tiles.items():
                filled = window_fill(win)
                for rows, cols in cells:
                    target = labels[rows, cols] == label
                    local = filled[
                        rows.start - win.top : rows.stop - win.top,
                        cols.start - win.left : cols.stop - win.left,
                    ]
                    out[rows, cols][target] = local[target]
            done[label] = True
            continue
        win = context_window(hole, height, width, work_size, rescale)
        # every hole lying wholly inside this window is filled by this one model call (a thin
        # one only when the window runs at full resolution: it would lose its detail shrunk)
        inside = [
            k
            for k, b in enumerate(boxes, start=1)
            if not done[k]
            and (not thin[k - 1] or win.scale >= 1.0 or k == label)
            and b.row >= win.top
            and b.col >= win.left
            and b.row + b.height <= win.top + win.height
            and b.col + b.width <= win.left + win.width
        ]
        done[inside] = True
        rows = slice(win.top, win.top + win.height)
        cols = slice(win.left, win.left + win.width)
        filled = window_fill(win)
        target = np.isin(labels[rows, cols], inside)
        out[rows, cols][target] = filled[target]
    return out


def find_white_boxes(image: np.ndarray, min_side: int = 8) -> list[Box]:
    """Pure-white (255, 255, 255) solid rectangles of at least `min_side`, like the challenge's."""
    white = (image == 255).all(axis=2).astype(np.uint8)
    boxes = []
    for box in labelled_holes(white)[1]:
        if box.height < min_side or box.width < min_side:
            continue
        region = white[box.slices()]
        if region.all():
            boxes.append(box)
        else:
            # white squares touching bright surroundings: keep the largest solid rectangle core
            core = _solid_core(region)
            if core is not None and min(core.height, core.width) >= min_side:
                boxes.append(Box(box.row + core.row, box.col + core.col, core.height, core.width))
    return boxes


def _solid_core(region: np.ndarray) -> Box | None:
    """Rows and columns that are entirely white inside a component's bounding box."""
    full_rows = np.flatnonzero(region.all(axis=1))
    full_cols = np.flatnonzero(region.all(axis=0))
    if full_rows.size == 0 or full_cols.size == 0:
        return None
    r0, r1, c0, c1 = full_rows[0], full_rows[-1], full_cols[0], full_cols[-1]
    if not region[r0 : r1 + 1, c0 : c1 + 1].all():
        return None
    return Box(int(r0), int(c0), int(r1 - r0 + 1), int(c1 - c0 + 1))


def mask_from_boxes(height: int, width: int, boxes: list[Box], where: str = "image") -> np.ndarray:
    """A (H, W) mask from boxes, each checked to lie inside the image."""
    for box in boxes:
        if not box.fits(height, width):
            raise PhotoreconError(
                f"{where}: box at row {box.row}, col {box.col} ({box.height}x{box.width}) is "
                f"outside the {width}x{height} image"
            )
    return boxes_to_mask(height, width, boxes)
