"""Fill holes in photos of any size: a context window per hole at the scale the model knows.

Each connected hole gets a window around it, large enough that the hole covers about a third of
the window's side (as in training) and at least `work_size` wide; a learned model sees that window
shrunk to `work_size`, and its fill is scaled back and pasted into the hole at full resolution.
A model that fills small holes as well in smaller windows (its `window_sides`: ffc's 32, 64 and
128 px) gets the smallest of them that keeps that third, at full resolution: a network's cost
grows with its window's area, and a photo's damage is mostly small holes.
A thin hole (a scratch, a brush stroke) needs context for its thickness, not its length: it is
filled in tiles along its length, each a window sized for its thickness (full resolution for
scratches), so a scratch across a 24-megapixel photo is not shrunk to a sub-pixel line first.
Pixels outside the holes are returned bit-identical.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from photorecon.detail import (
    DETAIL_SIDE,
    MIN_THICKNESS,
    DetailOptions,
    check_options,
    synthesize,
)
from photorecon.errors import PhotoreconError
from photorecon.imageio import to_uint8
from photorecon.inpaint import fill_batch
from photorecon.masks import Box, boxes_to_mask
from photorecon.models.arrays import harmonic_arrays
from photorecon.models.base import kind_of, thin_fill_px_of, window_sides_of, work_size_of
from photorecon.models.onnxrt import mirror_out

if TYPE_CHECKING:
    from torch import nn

HOLE_SHARE = 0.35  # the largest hole side / window side the model is asked to fill
THIN_CONTEXT = 3.0  # a thin hole needs context for this many times its thickness
MIN_SIDE = 32  # smaller windows are mirrored out to this for a learned model (its strides)
TINY = 8  # a hole this small (a speck, a dead pixel) needs little context: ...
SMALL_SIDE = 32  # ... a window of this side, at full resolution (val specks: as good as 64)
BATCH = 8  # windows of one shape run together, at most this many at a time ...
SMALL_BATCH_PIXELS = 8 * 64 * 64  # ... and at most this many pixels (a 256-px window: alone)
THIN_MARGIN = 8  # px around a thin hole that its harmonic fill is solved on
CELL = 256  # the holes the harmonic fill takes alone are solved together this many px at a time


@dataclass(frozen=True)
class Window:
    """A context window (top, left, height, width) and the scale its content is run at."""

    top: int
    left: int
    height: int
    width: int
    scale: float


def labelled_holes(mask: np.ndarray) -> tuple[np.ndarray, list[Box]]:
    """Label image of the connected holes of a (H, W) mask and each hole's bounding box; the
    components are found inside the holes' bounding region only (a speck on a 24-megapixel
    photo costs a small labelling, not a whole-photo one)."""
    binary = (mask > 0).astype(np.uint8)
    left, top, w, h = cv2.boundingRect(binary)
    labels = np.zeros(binary.shape, np.int32)
    if w == 0 or h == 0:
        return labels, []
    count, region, stats, _ = cv2.connectedComponentsWithStats(
        binary[top : top + h, left : left + w], connectivity=8, ltype=cv2.CV_32S
    )
    labels[top : top + h, left : left + w] = region
    boxes = [
        Box(
            top + int(s[cv2.CC_STAT_TOP]),
            left + int(s[cv2.CC_STAT_LEFT]),
            int(s[cv2.CC_STAT_HEIGHT]),
            int(s[cv2.CC_STAT_WIDTH]),
        )
        for s in stats[1:count]
    ]
    return labels, boxes


def context_window(
    hole: Box, height: int, width: int, least: int, rescale: bool, work_size: int | None = None
) -> Window:
    """A square window centred on the hole, at least `least` wide, shifted (and clipped) to lie
    inside the image; over `work_size` (default `least`) it runs shrunk when `rescale`."""
    work_size = work_size or least
    side = max(least, math.ceil(max(hole.height, hole.width) / HOLE_SHARE))
    win_h, win_w = min(side, height), min(side, width)
    cy, cx = hole.row + hole.height / 2, hole.col + hole.width / 2
    top = int(min(max(round(cy - win_h / 2), 0), height - win_h))
    left = int(min(max(round(cx - win_w / 2), 0), width - win_w))
    scale = min(1.0, work_size / max(win_h, win_w)) if rescale else 1.0
    return Window(top, left, win_h, win_w, scale)


def hole_thickness(labels: np.ndarray, label: int, hole: Box) -> float:
    """Twice the largest distance from a pixel of hole `label` to the outside (a 1-px line: 2)."""
    region = np.pad((labels[hole.slices()] == label).astype(np.uint8), 1)
    return 2.0 * float(cv2.distanceTransform(region, cv2.DIST_L2, 3).max())


def hole_size(labels: np.ndarray, label: int, hole: Box) -> float:
    """The size a hole needs context for: its longest side, or a few times its thickness when
    that is smaller."""
    thickness = hole_thickness(labels, label, hole)
    return min(float(max(hole.height, hole.width)), THIN_CONTEXT * thickness)


def fill_thin(
    image: np.ndarray, holes: np.ndarray, labels: np.ndarray, which: list[int], boxes: list[Box]
):
    """The harmonic fills of holes `which` (labels; `boxes[k - 1]` is hole k's), solved
    together a cell (CELL px) of the photo at a time on their boxes and a margin: (rows, cols,
    uint8 fill of that region, the region's pixels of those holes) for each cell. Every hole
    pixel there counts as unknown; only those holes are swept and kept."""
    cells: dict[tuple[int, int], list[int]] = {}
    for label in which:
        box = boxes[label - 1]
        cells.setdefault((box.row // CELL, box.col // CELL), []).append(label)
    for group in cells.values():
        near = [boxes[k - 1] for k in group]
        rows = slice(
            max(0, min(b.row for b in near) - THIN_MARGIN),
            min(labels.shape[0], max(b.row + b.height for b in near) + THIN_MARGIN),
        )
        cols = slice(
            max(0, min(b.col for b in near) - THIN_MARGIN),
            min(labels.shape[1], max(b.col + b.width for b in near) + THIN_MARGIN),
        )
        target = np.isin(labels[rows, cols], group)
        patch = image[rows, cols].astype(np.float32) * np.float32(1 / 255)
        yield rows, cols, to_uint8(harmonic_arrays(patch, holes[rows, cols], only=target)), target


def _window_input(image, holes, win: Window, learned: bool):
    """What the model sees of a window (image uint8, mask float32) and how its float fill
    becomes the window's uint8 fill: shrunk to the window's scale and back, or for a learned
    model a tiny window mirrored out to its strides and cut back."""
    rows = slice(win.top, win.top + win.height)
    cols = slice(win.left, win.left + win.width)
    crop, crop_mask = image[rows, cols], holes[rows, cols].astype(np.float32)
    if learned and min(crop_mask.shape) < MIN_SIDE:  # a tiny photo: too small for the strides
        big, big_mask = mirror_out(crop, crop_mask, MIN_SIDE)
        return big, big_mask, lambda pred: to_uint8(pred)[: win.height, : win.width]
    if win.scale >= 1.0:
        return crop, crop_mask, to_uint8
    size = (max(1, round(win.width * win.scale)), max(1, round(win.height * win.scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(crop_mask, size, interpolation=cv2.INTER_AREA) > 0).astype(np.float32)

    def back(pred: np.ndarray) -> np.ndarray:
        return to_uint8(cv2.resize(pred, (win.width, win.height), interpolation=cv2.INTER_CUBIC))

    return small, small_mask, back


def run_windows(
    model,
    image,
    holes,
    windows,
    device,
    learned: bool,
    check: Callable[[], None] | None = None,
    advance: Callable[[int], None] | None = None,
) -> dict[Window, np.ndarray]:
    """Each window's uint8 fill; small windows whose inputs have the same shape run in batches
    (at most BATCH, SMALL_BATCH_PIXELS), large ones one by one; `check` is called before each
    model call (to cancel)."""
    inputs = {win: _window_input(image, holes, win, learned) for win in windows}
    groups: dict[tuple[int, ...], list[Window]] = {}
    for win, (crop, _, _) in inputs.items():
        groups.setdefault(crop.shape, []).append(win)
    fills: dict[Window, np.ndarray] = {}
    for shape, group in groups.items():
        # small windows run together (per-call overheads dominate them); a 256-px one runs
        # alone, which costs nothing on a CPU and lets a cancelled fill stop after one window
        batch = max(1, min(BATCH, SMALL_BATCH_PIXELS // (shape[0] * shape[1])))
        for start in range(0, len(group), batch):
            if check is not None:
                check()
            part = group[start : start + batch]
            crops = [inputs[w][0] for w in part]
            masks = [inputs[w][1] for w in part]
            preds = fill_batch(model, crops, masks, device)
            for win, pred in zip(part, preds, strict=True):
                fills[win] = inputs[win][2](pred)
            if advance is not None:
                advance(len(part))
    return fills


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
    check: Callable[[], None] | None = None,
    detail: bool | DetailOptions = False,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Fill the holes of an RGB uint8 image (H, W, 3); returns uint8, known pixels unchanged.

    `rescale` (default: for learned models) runs large windows shrunk to `work_size` (default:
    the side the model was trained at, 256 for ffc, 512 for SD 2); classical fills work at full
    resolution. `check` is called between batches of windows: raising there cancels the fill.
    `detail` (learned models; True or DetailOptions) gives holes at least
    `detail.MIN_THICKNESS` thick texture from the photo's own pixels (photorecon.detail).
    `progress(done, total)` is told of each step (a batch of windows, a detailed window).
    """
    work_size = work_size or work_size_of(model)
    holes = fillable_holes(image, mask)
    out = image.copy()
    if not holes.any():
        return out
    learned = kind_of(model) != "classical"
    options = detail_options(detail, learned, model)
    if rescale is None:
        rescale = learned
    labels, boxes = labelled_holes(holes)
    thin_px = float(thin_fill_px_of(model)) if learned else 0.0
    sides = window_sides_of(model) if learned else ()
    thickness = [hole_thickness(labels, k, b) for k, b in enumerate(boxes, start=1)]
    pastes, classical = plan_fill(
        labels, boxes, work_size, rescale, learned, thin_px, thickness, sides
    )
    windows = list(dict.fromkeys(p[0] for p in pastes))
    detailed = detail_windows(pastes, thickness) if options is not None else {}
    steps = Steps(len(windows) + len(detailed), progress)
    fills = run_windows(model, image, holes, windows, device, learned, check, steps.advance)
    # thin enough for the model's own harmonic branch alone
    for rows, cols, local, target in fill_thin(image, holes, labels, classical, boxes):
        paste(out, rows, cols, local, target)
    for win, rows, cols, which in pastes:
        region = labels[rows, cols]
        target = region == which[0] if len(which) == 1 else np.isin(region, which)
        local = fills[win][
            rows.start - win.top : rows.stop - win.top, cols.start - win.left : cols.stop - win.left
        ]
        paste(out, rows, cols, local, target)
    for win, which in detailed.items():
        if check is not None:
            check()
        add_detail(out, holes, labels, win, which, options)
        steps.advance(1)
    return out


def fillable_holes(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The holes (mask > 0) of a fill, or one line for what cannot be filled: not an RGB uint8
    image, a mask of another size, a mask over the whole image (nothing left to fill from)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PhotoreconError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise PhotoreconError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    holes = mask > 0
    if holes.size and holes.all():
        raise PhotoreconError(
            f"the mask covers the whole {image.shape[1]}x{image.shape[0]} image: nothing is "
            "left to fill it from"
        )
    return holes


def detail_options(detail: bool | DetailOptions, learned: bool, model) -> DetailOptions | None:
    """The detail options a fill asked for (None: none), checked; refused for a classical fill."""
    if not detail:
        return None
    if not learned:
        raise PhotoreconError(
            "detail needs a learned fill (its low frequencies guide the texture); "
            f"{type(model).__name__} is a classical one"
        )
    return check_options(detail if isinstance(detail, DetailOptions) else DetailOptions())


def paste(out: np.ndarray, rows: slice, cols: slice, local: np.ndarray, target: np.ndarray):
    """Write the `target` pixels of a region's fill `local` into `out` at (rows, cols)."""
    out[rows, cols][target] = local[target]


class Steps:
    """Counts a fill's steps for a `progress(done, total)` callback (none: counts only)."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.done, self.total, self.report = 0, total, report
        if report is not None:
            report(0, total)

    def advance(self, count: int) -> None:
        self.done += count
        if self.report is not None:
            self.report(self.done, self.total)


def detail_windows(pastes: list[Paste], thickness: list[float]) -> dict[Window, tuple[int, ...]]:
    """The windows whose holes are thick enough for detail, with those holes' labels (thin
    holes, filled in tiles along their length, keep the plain fill); `thickness[k - 1]` is hole
    k's (hole_thickness)."""
    out: dict[Window, tuple[int, ...]] = {}
    for win, _rows, _cols, which in pastes:
        thick = tuple(k for k in which if thickness[k - 1] >= MIN_THICKNESS)
        if thick:
            out[win] = tuple(dict.fromkeys(out.get(win, ()) + thick))
    return out


def add_detail(
    out: np.ndarray,
    holes: np.ndarray,
    labels: np.ndarray,
    win: Window,
    which: tuple[int, ...],
    options: DetailOptions,
) -> None:
    """Replace, in place, the high frequencies of holes `which` in window `win` of the filled
    image `out` with texture from the window's known pixels; a window over DETAIL_SIDE is
    detailed shrunk to it and its change scaled back."""
    rows = slice(win.top, win.top + win.height)
    cols = slice(win.left, win.left + win.width)
    base = out[rows, cols].astype(np.float32) * np.float32(1 / 255)
    region_holes = holes[rows, cols]
    targets = np.isin(labels[rows, cols], which)
    scale = min(1.0, DETAIL_SIDE / max(win.height, win.width))
    if scale < 1.0:
        size = (max(1, round(win.width * scale)), max(1, round(win.height * scale)))
        small = cv2.resize(base, size, interpolation=cv2.INTER_AREA)
        shrink = lambda m: cv2.resize(m.astype(np.float32), size, cv2.INTER_AREA) > 0  # noqa: E731
        result = synthesize(small, shrink(region_holes), shrink(targets), options)
        if result is not None:
            change = cv2.resize(result - small, (win.width, win.height), cv2.INTER_CUBIC)
            result = base + change
    else:
        result = synthesize(base, region_holes, targets, options)
    if result is None:
        warnings.warn(
            "detail: too little of the photo is known around a hole to take texture from; "
            "it keeps the plain fill",
            stacklevel=3,
        )
        return
    out[rows, cols][targets] = to_uint8(result)[targets]


Paste = tuple[Window, slice, slice, tuple[int, ...]]  # fill these labels here from this window


def plan_fill(
    labels: np.ndarray,
    boxes: list[Box],
    work_size: int,
    rescale: bool,
    learned: bool,
    thin_px: float = 0.0,
    thickness: list[float] | None = None,
    sides: tuple[int, ...] = (),
) -> tuple[list[Paste], list[int]]:
    """Which window fills which hole pixels: thin holes in tiles along their length, every
    other hole in a window around it that also takes the holes lying wholly inside it; a
    tiny hole (a speck) gets a small window when the model is learned. Holes at most
    `thin_px` thick (lines and specks) are listed apart: the harmonic fill takes them.
    `thickness`: each hole's hole_thickness, when the caller has them already. `sides`
    (increasing, under `work_size`): the smaller windows the model fills as well at full
    resolution; a hole, or a thin hole's tile, gets the smallest that holds it at HOLE_SHARE."""
    height, width = labels.shape
    if not boxes:
        return [], []
    if thickness is None:
        thickness = [hole_thickness(labels, k, b) for k, b in enumerate(boxes, start=1)]
    sizes = [
        min(float(max(b.height, b.width)), THIN_CONTEXT * t)
        for t, b in zip(thickness, boxes, strict=True)
    ]
    thin = np.array([size < max(b.height, b.width) for size, b in zip(sizes, boxes, strict=True)])
    # a line or a speck: the model's own harmonic branch fills it as well, at a tenth of the cost
    classical = [k + 1 for k, t in enumerate(thickness) if t <= thin_px]
    box = np.array([[b.row, b.col, b.row + b.height, b.col + b.width] for b in boxes])
    done = np.zeros(len(boxes), dtype=bool)
    done[[k - 1 for k in classical]] = True
    pastes: list[Paste] = []
    for index, hole in enumerate(boxes):
        label = index + 1
        if done[index]:
            continue
        if thin[index]:
            side = smallest_side(sizes[index], sides, work_size)
            tiles = thin_hole_tiles(labels, label, hole, side, work_size, rescale)
            pastes.extend(
                (win, rows, cols, (label,)) for win, cells in tiles.items() for rows, cols in cells
            )
            done[index] = True
            continue
        least = smallest_side(max(hole.height, hole.width), sides, work_size)
        if learned and max(hole.height, hole.width) <= TINY:
            least = min(least, SMALL_SIDE)
        win = context_window(hole, height, width, least, rescale, work_size)
        # every hole lying wholly inside this window is filled by this one model call (a thin
        # one only when the window runs at full resolution: it would lose its detail shrunk)
        inside = (
            ~done
            & (~thin | (win.scale >= 1.0))
            & (box[:, 0] >= win.top)
            & (box[:, 1] >= win.left)
            & (box[:, 2] <= win.top + win.height)
            & (box[:, 3] <= win.left + win.width)
        )
        inside[index] = True
        done |= inside
        rows = slice(win.top, win.top + win.height)
        cols = slice(win.left, win.left + win.width)
        pastes.append((win, rows, cols, tuple(int(k) + 1 for k in np.flatnonzero(inside))))
    return pastes, classical


def smallest_side(size: float, sides: tuple[int, ...], work_size: int) -> int:
    """The side of the window a hole of `size` needs (HOLE_SHARE of it): the smallest of
    `sides` that is large enough, else work_size or more."""
    need = math.ceil(size / HOLE_SHARE)
    return next((s for s in sides if need <= s < work_size), max(work_size, need))


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
