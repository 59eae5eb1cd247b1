"""Holes: the challenge's boxes (`Box`, `random_boxes`, masks and white paint made from them)
and every kind of free-form hole drawn for training and evaluation (`HOLES`, `draw_holes`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from photorecon.errors import PhotoreconError

BOX_SIZE = 75  # the challenge's squares: two of 75x75 in each 256x256 photo


@dataclass(frozen=True)
class Box:
    """A rectangular hole: top-left (row, col) and size in pixels."""

    row: int
    col: int
    height: int
    width: int

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices covering the box."""
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)

    def fits(self, height: int, width: int) -> bool:
        """True when the box lies wholly inside an image of the given size."""
        return (
            self.height > 0
            and self.width > 0
            and self.row >= 0
            and self.col >= 0
            and self.row + self.height <= height
            and self.col + self.width <= width
        )


def parse_box(text: str) -> Box:
    """`ROW,COL,HEIGHT,WIDTH` -> Box."""
    parts = text.split(",")
    try:
        row, col, height, width = (int(p) for p in parts)
    except ValueError:
        raise PhotoreconError(
            f"--box expects ROW,COL,HEIGHT,WIDTH integers, got {text!r}"
        ) from None
    if height <= 0 or width <= 0:
        raise PhotoreconError(f"--box {text}: height and width must be positive")
    return Box(row, col, height, width)


def boxes_to_mask(height: int, width: int, boxes: list[Box]) -> np.ndarray:
    """Mask (H, W) float32 with 1 inside any box (missing) and 0 elsewhere."""
    mask = np.zeros((height, width), dtype=np.float32)
    for box in boxes:
        mask[box.slices()] = 1.0
    return mask


def paint_white(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Copy of an RGB uint8 image with each box painted pure white, as the challenge does."""
    out = image.copy()
    for box in boxes:
        out[box.slices()] = 255
    return out


def random_boxes(
    rng: np.random.Generator, height: int, width: int, count: int = 2, size: int = BOX_SIZE
) -> list[Box]:
    """`count` square boxes of side `size` placed uniformly inside the image (may overlap)."""
    if size > min(height, width) or size < 1 or count < 0:
        raise PhotoreconError(
            f"{count} boxes of side {size} do not fit a {width}x{height} image "
            "(in training: data.box_size larger than data.size)"
        )
    rows = rng.integers(0, height - size + 1, size=count)
    cols = rng.integers(0, width - size + 1, size=count)
    return [Box(int(r), int(c), size, size) for r, c in zip(rows, cols, strict=True)]


# --- Free-form holes -------------------------------------------------------------------------
# Every kind is drawn for a whole batch at once with torch tensor operations, from an explicit
# torch.Generator, on the generator's device (the GPU in device-side training). torch is
# imported inside the functions so that box-only users of this module never load it.


def check_kind(kind: str) -> str:
    """`kind` itself when it is a known hole kind; else an error listing them."""
    if kind not in HOLE_KINDS:
        raise PhotoreconError(f"unknown hole kind {kind!r}; known: {', '.join(HOLE_KINDS)}")
    return kind


def generator_from(rng: np.random.Generator, device="cpu"):
    """A torch.Generator seeded from a numpy one, for drawing holes in the middle of numpy code."""
    import torch

    return torch.Generator(device).manual_seed(int(rng.integers(2**62)))


def parse_hole_mix(spec: str | dict) -> dict[str, float]:
    """`{"squares": 0.3, "brush": 0.7}` or "squares:0.3,brush:0.7" (or one kind) -> checked weights.

    Weights are non-negative, at least one positive, kinds from HOLE_KINDS; they are normalised.
    """
    return parse_mix(spec, HOLE_KINDS, "hole")


def parse_mix(spec: str | dict, kinds: tuple[str, ...], what: str) -> dict[str, float]:
    """Weights of named kinds (a mapping, or "a:0.3,b" text where a bare name weighs 1),
    checked against `kinds` and normalised; `what` ("hole", "damage") names them in errors."""
    if isinstance(spec, str):
        items: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, weight = part.partition(":")
            try:
                items[name.strip()] = float(weight) if weight else 1.0
            except ValueError:
                raise PhotoreconError(
                    f"{what} mix {spec!r}: weight {weight!r} is not a number"
                ) from None
        spec = items
    for name, weight in spec.items():
        if name not in kinds:
            raise PhotoreconError(f"unknown {what} kind {name!r}; known: {', '.join(kinds)}")
        number = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not number or not 0 <= weight < math.inf:
            raise PhotoreconError(
                f"{what} kind {name!r}: weight must be a finite number >= 0, got {weight!r}"
            )
    total = float(sum(spec.values()))
    shares = {name: float(w) / total for name, w in spec.items() if total > 0}
    shares = {name: share for name, share in shares.items() if share > 0}
    if not shares or not math.isfinite(total):
        raise PhotoreconError(
            f"a {what} mix needs at least one kind with a positive weight, all weights finite"
        )
    return shares


def _uniform(gen, shape, low: float, high: float):
    import torch

    return torch.rand(shape, generator=gen, device=gen.device) * (high - low) + low


def _randint(gen, shape, low: int, high: int):
    """Integers in [low, high] inclusive."""
    import torch

    return torch.randint(low, high + 1, shape, generator=gen, device=gen.device)


def _grid(height: int, width: int, device):
    """Pixel-centre coordinates: rows (1, H, 1) and cols (1, 1, W), float32."""
    import torch

    rows = torch.arange(height, device=device, dtype=torch.float32).view(1, height, 1)
    cols = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width)
    return rows, cols


def rect_masks(gen, n: int, height: int, width: int, heights, widths, active):
    """(n, H, W) bool: union of rectangles of the given sizes (n, k) placed uniformly; `active`
    (n, k) says which of the k rectangles each sample uses."""
    import torch

    heights = heights.clamp(1, height)
    widths = widths.clamp(1, width)
    tops = (
        torch.rand(heights.shape, generator=gen, device=gen.device) * (height - heights + 1)
    ).floor()
    lefts = (
        torch.rand(widths.shape, generator=gen, device=gen.device) * (width - widths + 1)
    ).floor()
    rows, cols = _grid(height, width, gen.device)
    out = torch.zeros(n, height, width, dtype=torch.bool, device=gen.device)
    for j in range(heights.shape[1]):
        t, l_, h, w = (v[:, j].view(n, 1, 1).float() for v in (tops, lefts, heights, widths))
        inside = (rows >= t) & (rows < t + h) & (cols >= l_) & (cols < l_ + w)
        out |= inside & active[:, j].view(n, 1, 1)
    return out


def stroke_masks(gen, n: int, height: int, width: int, *, strokes, vertices, step, turn, thick):
    """(n, H, W) bool: random-walk polylines with round ends, drawn as distance-to-segment tests.

    strokes (lo, hi) per sample; vertices (lo, hi) per stroke; step (lo, hi) segment length as a
    share of the image side; turn: largest heading change per vertex (radians), small for
    scratches and large for brush strokes; thick (lo, hi) width in px.
    """
    import math

    import torch

    side = float(min(height, width))
    max_strokes, max_vertices = strokes[1], vertices[1]
    n_strokes = _randint(gen, (n, 1), *strokes)
    segments, used = [], []  # each (n, 5): y1, x1, y2, x2, radius; (n,) bool
    for s in range(max_strokes):
        y = _uniform(gen, (n,), 0, height - 1)
        x = _uniform(gen, (n,), 0, width - 1)
        heading = _uniform(gen, (n,), 0, 2 * math.pi)
        radius = _uniform(gen, (n,), thick[0] / 2, thick[1] / 2)
        n_vertices = _randint(gen, (n,), *vertices)
        for v in range(max_vertices - 1):
            heading = heading + _uniform(gen, (n,), -turn, turn)
            length = _uniform(gen, (n,), step[0] * side, step[1] * side)
            y2 = (y + length * torch.sin(heading)).clamp(0, height - 1)
            x2 = (x + length * torch.cos(heading)).clamp(0, width - 1)
            segments.append(torch.stack([y, x, y2, x2, radius], 1))
            used.append((n_strokes[:, 0] > s) & (n_vertices > v + 1))
            y, x = y2, x2
    return draw_segments(torch.stack(segments, 1), torch.stack(used, 1), height, width)


def draw_segments(segments, used, height: int, width: int, crop: bool | None = None):
    """(n, H, W) bool: pixel centres within radius of any used segment.

    segments (n, S, 5) as (y1, x1, y2, x2, radius), used (n, S) bool. On a CPU each segment is
    tested only inside its own bounding box (thin scratches cost a few hundred pixels, not the
    whole image); elsewhere the whole batch is tested at once, with no host round trips.
    `crop` forces one way or the other (both give the same masks).
    """
    import torch

    n = segments.shape[0]
    device = segments.device
    out = torch.zeros(n, height, width, dtype=torch.bool, device=device)
    if not (device.type == "cpu" if crop is None else crop):
        rows, cols = _grid(height, width, device)
        for j in range(segments.shape[1]):
            y1, x1, y2, x2, r = (v.view(n, 1, 1) for v in segments[:, j].unbind(1))
            out |= _near_segment(rows, cols, y1, x1, y2, x2, r) & used[:, j].view(n, 1, 1)
        return out
    for i, j in used.nonzero().tolist():
        y1, x1, y2, x2, r = segments[i, j].tolist()
        r0, r1 = max(0, int(min(y1, y2) - r)), min(height, int(max(y1, y2) + r) + 2)
        c0, c1 = max(0, int(min(x1, x2) - r)), min(width, int(max(x1, x2) + r) + 2)
        rows = torch.arange(r0, r1, dtype=torch.float32).view(r1 - r0, 1)
        cols = torch.arange(c0, c1, dtype=torch.float32).view(1, c1 - c0)
        out[i, r0:r1, c0:c1] |= _near_segment(rows, cols, *segments[i, j].unbind(0))
    return out


def _near_segment(rows, cols, y1, x1, y2, x2, radius):
    """Bool over the broadcast of rows and cols: pixel centres within `radius` of the segment
    (y1, x1)-(y2, x2); the segment's values broadcast likewise (per sample, or scalars)."""
    dy, dx = y2 - y1, x2 - x1
    length2 = (dy * dy + dx * dx).clamp_min(1e-6)
    t = (((rows - y1) * dy + (cols - x1) * dx) / length2).clamp(0, 1)
    py, px = rows - (y1 + t * dy), cols - (x1 + t * dx)
    return py * py + px * px <= radius * radius


def blob_masks(gen, n: int, height: int, width: int, count=(1, 3), across=(0.1, 0.4)):
    """(n, H, W) bool: unions of rotated ellipses whose radius wobbles with the angle."""
    import math

    import torch

    side = float(min(height, width))
    rows, cols = _grid(height, width, gen.device)
    out = torch.zeros(n, height, width, dtype=torch.bool, device=gen.device)
    n_blobs = _randint(gen, (n,), *count)
    for b in range(count[1]):
        cy = _uniform(gen, (n,), 0, height - 1).view(n, 1, 1)
        cx = _uniform(gen, (n,), 0, width - 1).view(n, 1, 1)
        a = _uniform(gen, (n,), across[0] * side / 2, across[1] * side / 2).view(n, 1, 1)
        ratio = _uniform(gen, (n,), 0.4, 1.0).view(n, 1, 1)
        theta = _uniform(gen, (n,), 0, math.pi).view(n, 1, 1)
        freq = _randint(gen, (n,), 2, 4).view(n, 1, 1).float()
        phase = _uniform(gen, (n,), 0, 2 * math.pi).view(n, 1, 1)
        amp = _uniform(gen, (n,), 0.0, 0.25).view(n, 1, 1)
        dy, dx = rows - cy, cols - cx
        u = dx * torch.cos(theta) + dy * torch.sin(theta)
        w = -dx * torch.sin(theta) + dy * torch.cos(theta)
        angle = torch.atan2(w, u)
        scale = 1 + amp * torch.sin(freq * angle + phase)
        inside = (u / a) ** 2 + (w / (a * ratio)) ** 2 <= scale * scale
        out |= inside & (n_blobs > b).view(n, 1, 1)
    return out


def _squares(gen, n: int, height: int, width: int, box_size: int):
    """The challenge's two squares of `box_size` (overlaps allowed)."""
    import torch

    size = torch.full((n, 2), float(min(box_size, height, width)), device=gen.device)
    active = torch.ones(n, 2, dtype=torch.bool, device=gen.device)
    return rect_masks(gen, n, height, width, size, size.clone(), active)


def _rectangles(gen, n: int, height: int, width: int, box_size: int, *, most, low, high):
    """1 to `most` rectangles, each side a uniform share `low`-`high` of the image's."""
    import torch

    hs = (_uniform(gen, (n, most), low, high) * height).round()
    ws = (_uniform(gen, (n, most), low, high) * width).round()
    count = _randint(gen, (n, 1), 1, most)
    active = torch.arange(most, device=gen.device).view(1, most) < count
    return rect_masks(gen, n, height, width, hs, ws, active)


def _strokes(gen, n: int, height: int, width: int, box_size: int, **shape):
    return stroke_masks(gen, n, height, width, **shape)


def _blobs(gen, n: int, height: int, width: int, box_size: int):
    return blob_masks(gen, n, height, width)


@dataclass(frozen=True)
class HoleKind:
    """A kind of hole: what it is (for help texts) and how a batch of it is drawn:
    `draw(gen, n, height, width, box_size) -> (n, H, W)` bool, on the generator's device."""

    help: str
    draw: Callable[..., Any]


# Every kind of hole, in the order tables list them. Random-walk strokes: long, gently turning
# thin scratches; shorter, turning, thick brush strokes.
HOLES = {
    "squares": HoleKind("the challenge: two 75-px squares (overlaps allowed)", _squares),
    "boxes": HoleKind(
        "1-3 rectangles, each side 5-50% of the image side",
        functools.partial(_rectangles, most=3, low=0.05, high=0.5),
    ),
    "large": HoleKind(
        "one rectangle about a third of each side",
        functools.partial(_rectangles, most=1, low=0.28, high=0.38),
    ),
    "scratches": HoleKind(
        "2-5 thin curved strokes, 1-5 px wide",
        functools.partial(
            _strokes, strokes=(2, 5), vertices=(2, 4), step=(0.15, 0.45), turn=0.5, thick=(1, 5)
        ),
    ),
    "brush": HoleKind(
        "1-3 LaMa-style random-walk brush strokes, 8-40 px wide",
        functools.partial(
            _strokes, strokes=(1, 3), vertices=(3, 8), step=(0.06, 0.2), turn=1.5, thick=(8, 40)
        ),
    ),
    "blobs": HoleKind("1-3 irregular blobs (wobbly ellipses), 10-40% of the side across", _blobs),
}
HOLE_KINDS = tuple(HOLES)


def draw_kind(kind: str, gen, n: int, height: int, width: int, box_size: int = BOX_SIZE):
    """(n, 1, H, W) float32 masks (1 = missing) of one hole kind, on the generator's device."""
    masks = HOLES[check_kind(kind)].draw(gen, n, height, width, box_size)
    return masks[:, None].float()


def draw_holes(
    mix: dict[str, float], gen, n: int, height: int, width: int, box_size: int = BOX_SIZE
):
    """(n, 1, H, W) float32 masks, each sample's kind drawn from the weights `mix` (normalised)."""
    import torch

    names = list(mix)
    if len(names) == 1:
        return draw_kind(names[0], gen, n, height, width, box_size)
    weights = torch.tensor([mix[k] for k in names], dtype=torch.float32, device=gen.device)
    kinds = torch.multinomial(weights, n, replacement=True, generator=gen)
    out = torch.zeros(n, 1, height, width, device=gen.device)
    for index, name in enumerate(names):
        rows = (kinds == index).nonzero().flatten()
        if rows.numel():
            out[rows] = draw_kind(name, gen, rows.numel(), height, width, box_size)
    return out
