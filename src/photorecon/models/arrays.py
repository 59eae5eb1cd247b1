"""Classical fills on NumPy arrays: OpenCV's Telea and Navier-Stokes, and the mean colour.

They need no torch, so `photorecon predict --model telea` and `fill --model telea` start in a
fraction of a second (torch is never imported). `fill_arrays` is their own interface; they
also answer the tensor contract of every other model (`model(masked, mask)`), for code that
works on tensors (test-time augmentation, training's validation).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import cv2
import numpy as np

from photorecon.imageio import to_uint8
from photorecon.models.base import InpaintModel, thin_fill_px_of, window_sides_of
from photorecon.models.registry import register_model


class ArrayInpainter(InpaintModel):
    """A classical fill on arrays: masked float32 (B, H, W, 3) in [0, 1], holes zeroed, and
    masks (B, H, W) with 1 = missing -> fills (B, H, W, 3) (known pixels are pasted back by
    the caller, `photorecon.inpaint.fill_batch`)."""

    kind = "classical"

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, masked, mask):
        """The tensor contract: (B,3,H,W) and (B,1,H,W) tensors in, a tensor out."""
        import torch  # only tensor callers come here

        images = masked.detach().permute(0, 2, 3, 1).float().cpu().numpy()
        holes = mask.detach()[:, 0].float().cpu().numpy()
        out = np.ascontiguousarray(self.fill_arrays(images, holes), dtype=np.float32)
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(masked.device, masked.dtype)

    # what callers that also handle networks ask of a model: nothing to move or switch
    def eval(self) -> ArrayInpainter:
        return self

    def train(self, mode: bool = True) -> ArrayInpainter:
        return self

    def to(self, *args: Any, **kwargs: Any) -> ArrayInpainter:
        return self

    def parameters(self) -> Iterator[Any]:
        return iter(())


class MeanFill(ArrayInpainter):
    """Fill holes with each image's mean colour over its known pixels."""

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        holes = masks > 0  # `masked` has its holes zeroed (the contract): its sum is the known's
        total = masked.sum(axis=(1, 2), keepdims=True, dtype=np.float64)
        count = np.maximum((~holes).sum(axis=(1, 2))[:, None, None, None], 1)
        mean = (total / count).astype(np.float32)
        return np.where(holes[..., None], mean, masked)


class OpenCVInpaint(ArrayInpainter):
    """OpenCV's `cv2.inpaint` applied per image; subclasses pick the method."""

    flag: ClassVar[int]

    def __init__(self, *, radius: float = 5.0) -> None:
        self.radius = float(radius)

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        out = np.empty_like(masked, dtype=np.float32)
        for i, (image, hole) in enumerate(zip(masked, masks > 0.5, strict=True)):
            filled = cv2.inpaint(to_uint8(image), hole.astype(np.uint8), self.radius, self.flag)
            out[i] = filled.astype(np.float32) / 255.0
        return out


class Telea(OpenCVInpaint):
    """Telea's fast marching method."""

    flag = cv2.INPAINT_TELEA

    def __init__(self, *, radius: float = 5.0) -> None:
        super().__init__(radius=radius)


class NavierStokes(OpenCVInpaint):
    """The Navier-Stokes based method."""

    flag = cv2.INPAINT_NS

    def __init__(self, *, radius: float = 5.0) -> None:
        super().__init__(radius=radius)


class ArrayFlipTTA(ArrayInpainter):
    """Test-time augmentation for an array fill: the mean of its fills of the four flips."""

    FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (1,), (1, 2))  # (B, H, W, C) axes

    def __init__(self, model: ArrayInpainter) -> None:
        self.model = model
        self.kind = model.kind  # a learned model's flips are still learned (windows, scale)
        self.work_size = model.work_size
        self.thin_fill_px = thin_fill_px_of(model)  # a hole the model leaves to the harmonic fill
        self.window_sides = window_sides_of(model)

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        total = np.zeros(masked.shape, np.float32)
        for axes in self.FLIPS:
            fill = self.model.fill_arrays(np.flip(masked, axes), np.flip(masks, axes))
            total += np.flip(fill, axes)
        return total / len(self.FLIPS)


def with_flips(model: Any) -> Any:
    """A fill that averages `model`'s fills of the four flips: on arrays for a model on arrays
    (an export included), on tensors (models/tta.py, torch) for a network."""
    if isinstance(model, ArrayInpainter):
        return ArrayFlipTTA(model)
    from photorecon.models.tta import FlipTTA

    return FlipTTA(model).eval()


@register_model("mean", model=MeanFill, summary="each image's mean known colour")
def mean_fill() -> ArrayInpainter:
    return MeanFill()


@register_model("telea", model=Telea, summary="OpenCV Telea fast-marching inpainting")
def telea(*, radius: float = 5.0) -> ArrayInpainter:
    return Telea(radius=radius)


@register_model("ns", model=NavierStokes, summary="OpenCV Navier-Stokes inpainting")
def navier_stokes(*, radius: float = 5.0) -> ArrayInpainter:
    return NavierStokes(radius=radius)


def pushpull_arrays(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Push-pull interpolation on arrays (as `classical.pushpull_fill` on tensors): known
    pixels (float (H, W, C), `known` (H, W) 1 = known) averaged down a 2x pyramid, each level's
    gaps filled from the coarser one brought back up."""
    sums, weights = [image * known[..., None]], [known.astype(np.float32)]
    while min(weights[-1].shape) > 1:
        h, w = weights[-1].shape
        size = (max(1, -(-w // 2)), max(1, -(-h // 2)))
        sums.append(
            cv2.resize(sums[-1], size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        )
        weights.append(cv2.resize(weights[-1], size, interpolation=cv2.INTER_AREA))
    estimate = sums[-1] / np.maximum(weights[-1], 1e-6)[..., None]
    for total, weight in zip(reversed(sums[:-1]), reversed(weights[:-1]), strict=True):
        size = (weight.shape[1], weight.shape[0])
        coarse = cv2.resize(estimate, size, interpolation=cv2.INTER_LINEAR).reshape(total.shape)
        estimate = total + (1 - weight)[..., None] * coarse
    return image * known[..., None] + estimate * (1 - known)[..., None]


# Jacobi sweeps of the harmonic fill, from push-pull's start: chosen on the val photos and
# val scenes (every kind better at 60 and 100 than at 24; smooth scenes better still at 400,
# the challenge's squares worse from 160)
HARMONIC_ITERS = 100


# holes whose box and ring fit in PACKED x PACKED px, away from the frame's edge, are swept
# together: their regions side by side in one array (a speck's sweeps cost a call each, not
# its few pixels), PACK_WIDTH px wide
PACKED, PACK_WIDTH = 64, 256


def harmonic_arrays(
    image: np.ndarray,
    hole: np.ndarray,
    iters: int = HARMONIC_ITERS,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """The harmonic fill on arrays (as `classical.harmonic_fill` on tensors): push-pull, then
    `iters` Jacobi sweeps inside the holes (each hole pixel the mean of its 3x3 neighbourhood,
    replicated at the edge; known pixels fixed). `image` float32 (H, W, C), `hole` (H, W) bool;
    what `image` holds in the holes is never read.

    The sweeps run on each hole's box and a one-pixel ring (a 3x3 box filter there): holes
    that do not touch never meet in a 3x3 neighbourhood, so this is the full-frame solve at
    the cost of the holes' own area. Small holes inside the frame are swept packed together
    (`sweep_packed`), large ones and those on the frame's edge one by one. With `only` (H, W)
    bool, the holes with no pixel in it are not swept (their pixels keep push-pull's values):
    they cannot change the others'."""
    x = pushpull_arrays(image, (~hole).astype(np.float32)).astype(np.float32)
    if iters <= 0 or not hole.any():
        return x
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        hole.astype(np.uint8), connectivity=8
    )
    height, width = hole.shape
    wanted = None if only is None else np.bincount(labels[only], minlength=count) > 0
    packed = []
    for label in range(1, count):
        if wanted is not None and not wanted[label]:
            continue
        left, top, box_w, box_h = (int(v) for v in stats[label, :4])
        rows = slice(max(0, top - 1), min(height, top + box_h + 1))
        cols = slice(max(0, left - 1), min(width, left + box_w + 1))
        inside_frame = top > 0 and left > 0 and top + box_h < height and left + box_w < width
        if inside_frame and box_h + 2 <= PACKED and box_w + 2 <= PACKED:
            packed.append((label, rows, cols))
            continue
        region = np.ascontiguousarray(x[rows, cols])  # OpenCV writes in place into these
        inside = (labels[rows, cols] == label).astype(np.uint8)
        sweep(region, inside, iters)
        x[rows, cols] = region
    if packed:
        sweep_packed(x, labels, packed, iters)
    return x


def sweep(region: np.ndarray, inside: np.ndarray, iters: int) -> None:
    """`iters` Jacobi sweeps, in place, of the `inside` (uint8) pixels of a float32 region."""
    smooth = np.empty_like(region)
    for _ in range(iters):
        cv2.blur(region, (3, 3), dst=smooth, borderType=cv2.BORDER_REPLICATE)
        cv2.copyTo(smooth, inside, region)


def sweep_packed(
    x: np.ndarray, labels: np.ndarray, holes: list[tuple[int, slice, slice]], iters: int
) -> None:
    """The sweeps of many small holes (label, rows, cols of its box and ring; none on the
    frame's edge) at once, in place in `x`: their regions are laid side by side in rows of
    one array (tallest first). A hole's pixels lie inside its ring, so each sees only its own
    region's pixels, as it would alone."""
    order = sorted(holes, key=lambda h: h[1].stop - h[1].start, reverse=True)
    places, top, left, shelf = [], 0, 0, 0
    for _label, rows, cols in order:
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if left + w > PACK_WIDTH:
            top, left, shelf = top + shelf, 0, 0
        places.append((top, left))
        left, shelf = left + w, max(shelf, h)
    canvas = np.zeros((top + shelf, PACK_WIDTH, x.shape[2]), np.float32)
    inside = np.zeros(canvas.shape[:2], np.uint8)
    for (label, rows, cols), (r, c) in zip(order, places, strict=True):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        canvas[r : r + h, c : c + w] = x[rows, cols]
        inside[r : r + h, c : c + w] = labels[rows, cols] == label
    sweep(canvas, inside, iters)
    for (label, rows, cols), (r, c) in zip(order, places, strict=True):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        own = labels[rows, cols] == label
        x[rows, cols][own] = canvas[r : r + h, c : c + w][own]


class TopHat:
    """The classical baseline: bright and dark details thinner than `size` px that stand out
    from their surroundings by more than `contrast` levels (morphological white and black
    top-hats on the luminance), plus pure-white areas."""

    kind = "detector"
    trainable = False  # nothing to learn: two thresholds

    def __init__(self, size: int = 7, contrast: float = 30.0) -> None:
        self.size, self.contrast = size, contrast

    def probability_map(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 in [0, 1] for a whole RGB uint8 photo (no tiles needed)."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.size, self.size))
        bright = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
        dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
        response = np.maximum(bright, dark).astype(np.float32)
        prob = np.clip(response / (2 * self.contrast), 0, 1)
        prob[(rgb >= 250).all(axis=2)] = 1.0
        return prob


@register_model(
    "tophat",
    model=TopHat,
    summary="damage detector, classical: thin bright and dark details (morphological top-hats)",
)
def tophat(**kwargs) -> TopHat:
    return TopHat(**kwargs)
