"""Find the damage in a photo: the learned detector (`damage`) run over overlapping tiles.

`detect(image) -> mask`: any size (tiles of `TILE` px overlapping by `OVERLAP`, so every
pixel is judged with context on all sides; a tiny photo is padded inside the network), any
mode (`to_rgb`). `sensitivity` in (0, 1) sets how sure the detector must be: a pixel is
damage when its probability passes 1 - sensitivity by a margin, or passes it less well beside
such a pixel (`HYSTERESIS`: at 0.5, sure above 0.75, followed down to 0.25); higher finds
fainter damage and flags more of the photo itself. `dilate` grows the mask by
that many pixels, so a fill also covers a scratch's soft edge.

`within` is the damage brush: a region (same size, non-zero = where to look) that a person
painted roughly over damage. Only the tiles it touches are run, nothing outside it is flagged,
and inside it the detector looks harder (`WITHIN_SENSITIVITY`): the person has already said
there is damage there, so a faint crack is worth more than the risk of taking a little of
the photo with it. Inside it, thin lines and specks that stand out of their surroundings
(`local_outliers`) count too, whether the detector knew them or not: a dark scratch, or the
faint end of a crack the detector had stopped following.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from photorecon.checks import check_dilate, check_sensitivity
from photorecon.errors import PhotoreconError
from photorecon.imageio import to_rgb
from photorecon.models.arrays import TopHat
from photorecon.models.base import EXPORT_SIDE

DETECTOR = "damage"  # the shipped detector
SENSITIVITY = 0.5
TILE = EXPORT_SIDE["detector"]  # tiles the detector sees (less the overlap, kept)
OVERLAP = 48  # px of context each tile has beyond the part of it that is kept
BATCH = 4


def load_detector(spec: str = DETECTOR, device: str = "cpu", runtime: str = "auto"):
    """A damage detector by name (its shipped weights, or `tophat`: the registered classical
    baseline) or checkpoint path, in eval mode, loaded once (`cached_model`, the cache fills
    share). On a CPU (`runtime` auto, onnx or openvino) it runs its ONNX export (made once into
    the cache; once made it loads without torch) on the engine the runtime names (auto: see
    models.onnxrt.pick_engine); where the export cannot be made or read (an unusable cache
    folder) it runs on torch, with a notice naming the cache."""
    from photorecon.models.loading import cached_model
    from photorecon.models.registry import array_model_info

    classical = array_model_info(spec)  # tophat: no torch, no weights
    if classical is not None:
        if classical.kind != "detector":
            raise PhotoreconError(f"{spec} is not a damage detector (try {DETECTOR!r})")
        return classical.factory()
    return cached_model(spec, device, runtime=runtime, role="detector")


def tiles(height: int, width: int, tile: int = TILE, overlap: int = OVERLAP):
    """(top, left, tile height, tile width, keep rows, keep cols) covering the photo: each
    tile's kept part lies `overlap` px inside it except at the photo's edges."""
    step = max(1, tile - 2 * overlap)
    out = []
    for top0 in range(0, height, step):
        for left0 in range(0, width, step):
            top = max(0, min(top0 - overlap, height - tile))
            left = max(0, min(left0 - overlap, width - tile))
            rows = slice(top0, min(top0 + step, height))
            cols = slice(left0, min(left0 + step, width))
            out.append((top, left, min(tile, height), min(tile, width), rows, cols))
    return out


def damage_probability(
    rgb: np.ndarray,
    model,
    device: str = "cpu",
    where: np.ndarray | None = None,
    check: Callable[[], None] | None = None,
    threshold: float | tuple[float, ...] | None = None,
) -> np.ndarray:
    """(H, W) float32 probability of damage for an RGB uint8 photo, tile by tile (tiles of
    one size in batches of BATCH); with `where` (bool (H, W)), only the tiles whose kept part
    holds some of it are run (0 elsewhere). `check` is called before each batch (a server
    drops a detection its client gave up on there). With `threshold`, (H, W) bool: where the
    probability exceeds it, written tile by tile (1 byte a pixel where the map takes 4); with
    several thresholds, (H, W) uint8: how many of them each pixel's probability exceeds."""
    if isinstance(model, TopHat):
        prob = model.probability_map(rgb)
        return prob if threshold is None else over(prob, threshold)
    height, width = rgb.shape[:2]
    groups: dict[tuple[int, int], list] = {}
    for item in tiles(height, width):
        if where is not None and not where[item[4], item[5]].any():
            continue
        groups.setdefault((item[2], item[3]), []).append(item)
    run = model.probability if hasattr(model, "probability") else _torch_runner(model, device)
    kind = np.float32 if threshold is None else bool if np.ndim(threshold) == 0 else np.uint8
    prob = np.zeros((height, width), kind)
    for group in groups.values():
        for start in range(0, len(group), BATCH):
            if check is not None:
                check()
            part = group[start : start + BATCH]
            crops = np.stack([rgb[t : t + h, c : c + w] for t, c, h, w, _, _ in part])
            for (top, left, _, _, rows, cols), tile in zip(part, run(crops), strict=True):
                r, c = rows.start - top, cols.start - left
                kept = tile[r : r + rows.stop - rows.start, c : c + cols.stop - cols.start]
                prob[rows, cols] = kept if threshold is None else over(kept, threshold)
    return prob


def over(prob: np.ndarray, threshold: float | tuple[float, ...]) -> np.ndarray:
    """prob > threshold (bool); for several thresholds, how many each pixel exceeds (uint8)."""
    if np.ndim(threshold) == 0:
        return prob > threshold
    count = np.zeros(prob.shape, np.uint8)
    for value in threshold:
        count += prob > value
    return count


def _torch_runner(model, device):
    """uint8 tiles (B, h, w, 3) -> probabilities (B, h, w) through a torch detector."""
    import torch

    def run(crops: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float() / 255.0
            x = x.contiguous(memory_format=torch.channels_last)
            return torch.sigmoid(model(x).float())[:, 0].cpu().numpy()

    return run


def detect(
    image: np.ndarray | Image.Image,
    *,
    sensitivity: float = SENSITIVITY,
    dilate: int = 0,
    model: str = DETECTOR,
    device: str = "cpu",
    within: np.ndarray | Image.Image | None = None,
) -> np.ndarray | Image.Image:
    """The damage in a photo as a mask of the same kind as the input: a PIL "L" image or an
    (H, W) uint8 array, 255 = damage, 0 = intact. `within` (an array or image of the photo's
    size, non-zero = where to look): the damage inside that region only, looked for harder."""
    sensitivity = check_sensitivity(sensitivity)
    dilate = check_dilate(dilate)
    is_pil = isinstance(image, Image.Image)
    rgb = np.asarray(to_rgb(image), np.uint8) if is_pil else np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise PhotoreconError(f"expected an H×W×3 uint8 array, got {rgb.dtype} {rgb.shape}")
    region = None if within is None else region_mask(within, rgb.shape[:2])
    detector = load_detector(model, device)
    mask = damage_mask(rgb, detector, sensitivity, dilate, device, within=region)
    return Image.fromarray(mask, "L") if is_pil else mask


def region_mask(region, shape: tuple[int, int], name: str = "within") -> np.ndarray:
    """(H, W) bool of a region given as an array (non-zero in any channel) or an image (read
    as `--mask` files are: non-zero in any colour channel), which must be the photo's size."""
    if isinstance(region, Image.Image):
        from photorecon.imageio import mask_array

        region = mask_array(region)
    region = np.asarray(region)
    if region.ndim == 3:
        region = region.max(axis=2)
    if region.ndim != 2 or region.shape != tuple(shape):
        got = "x".join(str(v) for v in region.shape[:2][::-1])
        raise PhotoreconError(
            f"{name}: a region of {got} px for a photo of {shape[1]}x{shape[0]} px "
            "(it must be the photo's size)"
        )
    return region > 0


# Large damage (blotches, torn corners, worn borders) outgrows what the detector sees at full
# resolution: it is also run on the photo at half and a quarter of its size, and what those
# find counts where it forms regions of at least COARSE_AREA px at full size that the
# full-size pass confirms: at least COARSE_CONFIRM of a region's pixels flagged there too.
# Without the confirmation the detector trained on real prints' damage took pale backgrounds
# and corners for paper loss at the coarse scales (a real clean photo 5% flagged); with it, on
# the val photos' drawn damage: mean F1 over the kinds 0.537 -> 0.625, torn corners 0.64 ->
# 0.62, worn borders 0.77 -> 0.79 (without the coarse passes: 0.38 and 0.61).
COARSE_SCALES = (0.5, 0.25)
COARSE_AREA = 3000
COARSE_CONFIRM = 0.05
MIN_COARSE_SIDE = 64


# A pixel is damage where the detector's probability passes 1 - sensitivity by HYSTERESIS
# logits (0.75 at the default), and where it passes it less well, down to HYSTERESIS logits
# under (0.25), when it joins such a pixel (`seeded`): a crack is followed along its faint
# stretches, and a doubtful speck of the scene on its own is left alone. Chosen on the val
# photos' drawn damage and ../shared/real with the weights shipped with it: see the card.
HYSTERESIS = math.log(3.0)

# Inside a brushed region the detector looks this hard at least (chosen on the val photos'
# drawn damage and ../shared/real: see the model card).
WITHIN_SENSITIVITY = 0.7
# ... and a pixel there is damage too where its luminance stands WITHIN_OUTLIER robust
# deviations out of the median of its WITHIN_MEDIAN x WITHIN_MEDIAN neighbourhood (lines and
# specks up to 3 px wide, bright or dark), the deviation taken as WITHIN_NOISE levels at the
# least, unless the detector rules it out (a probability of WITHIN_VETO or less: the edge of a
# lip, an eyelash, embroidery). Chosen on the val photos' drawn damage (brush F1 0.854 ->
# 0.866 and 0.797 -> 0.812 on two draws; a 5-px median lost there, 9 px gained less; without
# the veto precision 0.88 / 0.86, with it 0.90 / 0.89) and ../shared/real (0.84 -> 0.91).
WITHIN_OUTLIER = 4.0
WITHIN_MEDIAN = 7
WITHIN_NOISE = 2.0
WITHIN_VETO = 0.005


def damage_mask(
    rgb: np.ndarray,
    model,
    sensitivity: float = SENSITIVITY,
    dilate: int = 0,
    device="cpu",
    within: np.ndarray | None = None,
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """(H, W) uint8 mask, 255 = damage, of an RGB uint8 photo: the detector's finds at full
    size, and the large regions it finds on the photo shrunk (`COARSE_SCALES`); with
    `within` (bool (H, W)), only inside it, at WITHIN_SENSITIVITY at least, with its local
    outliers (`brushed`)."""
    if within is not None:
        if not within.any():
            return np.zeros(rgb.shape[:2], np.uint8)
        sensitivity = max(sensitivity, WITHIN_SENSITIVITY)
    # maps of bools, never of floats, at full size: a 110-megapixel photo is detected in
    # about 10 bytes a pixel, its own 3 included (a label per pixel in large_regions is most)
    threshold = 1.0 - sensitivity
    grow, seed = hysteresis(threshold)
    # how many of (veto,) grow, seed each pixel's probability exceeds: 1 byte a pixel
    levels = (grow, seed) if within is None else (min(WITHIN_VETO, grow), grow, seed)
    level = damage_probability(rgb, model, device, within, check, threshold=levels)
    possible = None if within is None else level > 0
    found = seeded(level >= len(levels) - 1, level == len(levels))
    del level
    if not isinstance(model, TopHat):
        coarse = coarse_over(rgb, model, threshold, device, check)
        found |= large_regions(coarse, confirmed_by=found)
        del coarse
    if within is not None:
        found = brushed(found, rgb, within, sensitivity, possible)
    mask = found.view(np.uint8)  # the bools' bytes, 0 and 1, made 0 and 255 in place
    mask *= 255
    if dilate > 0 and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, kernel)
        if within is not None:  # the brush's edge is a hard limit, grown damage included
            mask[~within] = 0
    return mask


def brushed(
    found: np.ndarray,
    rgb: np.ndarray,
    within: np.ndarray,
    sensitivity: float,
    possible: np.ndarray,
) -> np.ndarray:
    """(H, W) bool: what the damage brush keeps of the detector's finds `found` (at the
    region's sensitivity): those inside `within`, and the region's local outliers where the
    detector does not rule damage out (`possible`: its probability above WITHIN_VETO)."""
    found &= within
    found |= local_outliers(rgb, within, outlier_deviations(sensitivity)) & possible
    return found


def outlier_deviations(sensitivity: float) -> float:
    """How many robust deviations a pixel inside a brushed region must stand out by:
    WITHIN_OUTLIER at WITHIN_SENSITIVITY, fewer as the sensitivity rises (2 at the least)."""
    scale = ((1.0 - sensitivity) / (1.0 - WITHIN_SENSITIVITY)) ** 0.5
    return float(np.clip(WITHIN_OUTLIER * scale, 2.0, WITHIN_OUTLIER))


def local_outliers(
    rgb: np.ndarray, within: np.ndarray, deviations: float = WITHIN_OUTLIER
) -> np.ndarray:
    """(H, W) bool, inside `within` only: the pixels whose luminance differs from the median
    of their WITHIN_MEDIAN-px neighbourhood by more than `deviations` times the region's robust
    deviation of that difference (1.4826 x its median over the region, at least WITHIN_NOISE
    levels: grain and JPEG noise in a flat region do not count).
    A line or speck narrower than half the neighbourhood is left out of its median, so it
    stands out whole; an edge or a smooth slope does not."""
    out = np.zeros(within.shape, bool)
    rows, cols = np.flatnonzero(within.any(1)), np.flatnonzero(within.any(0))
    if rows.size == 0:
        return out
    pad = WITHIN_MEDIAN // 2
    box = (
        slice(max(0, rows[0] - pad), rows[-1] + pad + 1),
        slice(max(0, cols[0] - pad), cols[-1] + pad + 1),
    )
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[box]), cv2.COLOR_RGB2GRAY)
    residual = cv2.absdiff(grey, cv2.medianBlur(grey, WITHIN_MEDIAN))
    inside = within[box]
    sigma = max(1.4826 * float(np.median(residual[inside])), WITHIN_NOISE)
    out[box] = (residual > deviations * sigma) & inside
    return out


def hysteresis(threshold: float) -> tuple[float, float]:
    """(grow, seed): the probabilities HYSTERESIS logits either side of `threshold`."""
    logit = math.log(threshold / (1.0 - threshold))
    return tuple(1.0 / (1.0 + math.exp(-(logit + d))) for d in (-HYSTERESIS, HYSTERESIS))


def seeded(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """(H, W) bool: the 8-connected regions of `candidates` that hold a pixel of `seeds`
    (a subset of them): a crack followed from where the detector is sure along where it is
    not, a region it is nowhere sure of dropped."""
    if not seeds.any():
        return seeds.copy()
    count, labels = cv2.connectedComponents(candidates.view(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[labels[seeds]] = True
    keep[0] = False
    return keep[labels]


def found_at(full: np.ndarray, coarse: np.ndarray | None, sensitivity: float) -> np.ndarray:
    """(H, W) bool damage at a sensitivity, as `damage_mask` finds it from the probability
    maps: the full-size pass's finds (`seeded` between the `hysteresis` thresholds), and the
    large regions of the coarse passes' (`coarse_probability`; None for a detector without)."""
    threshold = 1.0 - sensitivity
    grow, seed = hysteresis(threshold)
    found = seeded(full > grow, full > seed)
    if coarse is not None:
        found |= large_regions(coarse > threshold, confirmed_by=found)
    return found


def _coarse_maps(rgb: np.ndarray, model, device="cpu", check=None):
    """The detector's probability maps of the photo shrunk to each of COARSE_SCALES (none for
    a scale that would leave a side under MIN_COARSE_SIDE px)."""
    height, width = rgb.shape[:2]
    for scale in COARSE_SCALES:
        size = (round(width * scale), round(height * scale))
        if min(size) >= MIN_COARSE_SIDE:
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            yield damage_probability(small, model, device, check=check)


def coarse_probability(rgb: np.ndarray, model, device="cpu", check=None) -> np.ndarray:
    """(H, W) float32: the most the detector says, at full size, of the photo shrunk to each
    of COARSE_SCALES (0 where every scale would leave a side under MIN_COARSE_SIDE px)."""
    height, width = rgb.shape[:2]
    out = np.zeros((height, width), np.float32)
    for prob in _coarse_maps(rgb, model, device, check):
        np.maximum(out, cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR), out=out)
    return out


def coarse_over(rgb: np.ndarray, model, threshold: float, device="cpu", check=None) -> np.ndarray:
    """(H, W) bool: `coarse_probability(...) > threshold`, without a full-size float map."""
    out = np.zeros(rgb.shape[:2], bool)
    for prob in _coarse_maps(rgb, model, device, check):
        upsampled_over(prob, threshold, out)
    return out


def upsampled_over(small: np.ndarray, threshold: float, out: np.ndarray, band: int = 256) -> None:
    """out |= cv2.resize(small, out's size, INTER_LINEAR) > threshold, a band of rows at a
    time: OpenCV's bilinear scaling done as its two passes, across by OpenCV on the few rows a
    band needs, down here with the same weights (half-pixel centres, clamped at the edges)."""
    height, width = out.shape
    rows_in = small.shape[0]
    ys = (np.arange(height, dtype=np.float64) + 0.5) * (rows_in / height) - 0.5
    top = np.floor(ys).astype(np.int64)
    weight = (ys - top).astype(np.float32)
    weight[top < 0], top[top < 0] = 0.0, 0
    last = top >= rows_in - 1
    weight[last], top[last] = 0.0, rows_in - 1
    below = np.minimum(top + 1, rows_in - 1)
    for start in range(0, height, band):
        part = slice(start, min(height, start + band))
        lo, hi = int(top[part].min()), int(below[part].max()) + 1
        across = cv2.resize(small[lo:hi], (width, hi - lo), interpolation=cv2.INTER_LINEAR)
        w = weight[part, None]
        value = across[top[part] - lo] * (1 - w) + across[below[part] - lo] * w
        out[part] |= value > threshold


def large_regions(
    found: np.ndarray, area: int = COARSE_AREA, confirmed_by: np.ndarray | None = None
) -> np.ndarray:
    """(H, W) bool: the 8-connected regions of `found` of at least `area` px, and with
    `confirmed_by` only those at least COARSE_CONFIRM of whose pixels it holds too."""
    if not found.any():
        return found
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        np.ascontiguousarray(found).view(np.uint8), connectivity=8
    )
    sizes = stats[:, cv2.CC_STAT_AREA]
    keep = sizes >= area
    if confirmed_by is not None:
        keep &= np.bincount(labels[confirmed_by], minlength=count) >= COARSE_CONFIRM * sizes
    keep[0] = False
    return keep[labels]
