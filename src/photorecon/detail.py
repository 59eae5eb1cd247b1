"""Detail for large holes from the photo's own texture: guided multi-scale patch synthesis.

A net trained for pixel accuracy fills a large hole with the right colours and structure but
hardly any texture (a smear). Here the fill is split into its low frequencies (a Gaussian blur),
which are kept, and its high frequencies, which are replaced by the photo's own: for every hole
pixel, PatchMatch finds a patch of the known pixels whose low frequencies look like the fill's
there (the guide, so grass comes from grass and sky from sky) and whose detail agrees with the
detail already placed around it (coherence, so texture runs on across the hole's edge and
between neighbouring patches); overlapping patches vote. Coarse to fine: the matches found on a
half-size copy seed the next level, so larger texture elements hold together. Known pixels are
never changed, the result is deterministic for a seed, and the low frequencies (the colours)
stay the base fill's: the detail carries no colour shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from photorecon.errors import PhotoreconError

MIN_THICKNESS = 24  # px: thinner holes (scratches, strokes) keep the plain fill
DETAIL_SIDE = 512  # a window larger than this is detailed shrunk to it (the cost stays bounded)
MIN_SOURCE = 4.0  # at least this many known patch centres per hole pixel, else no detail


@dataclass(frozen=True)
class DetailOptions:
    """How the synthesis runs: the patch (radius, sampled every `step` px when matching), the
    blur splitting low from high frequencies, the weight of detail coherence against the guide,
    the levels of the pyramid (at most) and the PatchMatch passes and EM rounds per level."""

    radius: int = 3
    step: int = 2
    sigma: float = 5.0
    coherence: float = 1.0
    levels: int = 3
    passes: int = 2  # on the coarsest level ...
    fine_passes: int = 1  # ... and on the finer ones, which start from its matches
    rounds: int = 1
    spread: float = 0.6
    search: int = 8
    seed: int = 0


def _split(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) frequencies of a float32 image: a Gaussian blur and what it leaves."""
    low = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return low, image - low


def _source_centres(known: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) uint8: pixels whose whole patch lies inside the image and in the known pixels."""
    core = cv2.erode(
        known.astype(np.uint8),
        np.ones((2 * radius + 1,) * 2, np.uint8),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return core


def _pyramid(image: np.ndarray, holes: np.ndarray, levels: int):
    """[(image, holes)] from the finest down, each level half the last (a hole pixel stays one
    at every level it touches)."""
    out = [(image, holes)]
    for _ in range(levels - 1):
        img, hol = out[-1]
        size = (max(1, img.shape[1] // 2), max(1, img.shape[0] // 2))
        out.append(
            (
                cv2.resize(img, size, interpolation=cv2.INTER_AREA),
                cv2.resize(hol.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0,
            )
        )
    return out


def _random_matches(rng: np.random.Generator, source: np.ndarray, count: int) -> np.ndarray:
    rows, cols = np.nonzero(source)
    pick = rng.integers(0, rows.size, count)
    return np.stack([rows[pick], cols[pick]], axis=1).astype(np.int32)


def _upsampled_matches(prev_nnf, prev_index, ty, tx, source, rng) -> np.ndarray:
    """A finer level's first matches: the coarse match of each pixel's parent, doubled and
    shifted by the pixel's place in it; a random source centre where that is not one."""
    ph, pw = prev_index.shape
    parent = prev_index[np.minimum(ty // 2, ph - 1), np.minimum(tx // 2, pw - 1)]
    nnf = _random_matches(rng, source, ty.size)
    has = parent >= 0
    cand = prev_nnf[parent[has]] * 2 + np.stack([ty[has] % 2, tx[has] % 2], axis=1)
    height, width = source.shape
    ok = (cand[:, 0] < height) & (cand[:, 1] < width)
    ok[ok] = source[cand[ok, 0], cand[ok, 1]] > 0
    rows = np.flatnonzero(has)[ok]
    nnf[rows] = cand[ok]
    return nnf


def synthesize(
    base: np.ndarray, holes: np.ndarray, targets: np.ndarray, options: DetailOptions
) -> np.ndarray | None:
    """The base fill (H, W, 3) float32 in 0..1 (known pixels and the plain fill in `holes`)
    with the high frequencies of the `targets` pixels (a subset of the holes) synthesised from
    the known pixels. None when too little of the photo is known to take texture from."""
    o = options
    rng = np.random.default_rng(o.seed)
    thickness = 2.0 * float(
        cv2.distanceTransform(np.pad(targets, 1).astype(np.uint8), cv2.DIST_L2, 3).max()
    )
    levels = max(1, min(o.levels, 1 + int(math.log2(max(thickness / 16.0, 1.0)))))
    pyramid = _pyramid(np.dstack([base, targets.astype(np.float32)]), holes, levels)
    state = None  # (matches, index) of the last level run
    for level in reversed(range(levels)):
        stack, hol = pyramid[level]
        img, tgt = np.ascontiguousarray(stack[..., :3]), stack[..., 3] > 0
        source = _source_centres(~hol, o.radius)
        count = int(np.count_nonzero(tgt))
        if level == 0 and int(source.sum()) < MIN_SOURCE * count:
            return None
        if count == 0 or not source.any():
            continue
        low, high, state = _run_level(img, hol, tgt, source, state, rng, o, level == levels - 1)
        if level == 0:
            # the detail's own low frequencies (from voting) go, so the colours stay the base's
            _, detail = _split(high, o.sigma)
            out = base.copy()
            out[tgt] = low[tgt] + detail[tgt]
            return np.clip(out, 0.0, 1.0)
    return None


def _run_level(img, hol, tgt, source, state, rng, o: DetailOptions, coarsest: bool):
    """One pyramid level: matches seeded from the coarser level's (random on the coarsest),
    `rounds` of PatchMatch and voting. Returns (low, high with the targets' detail, state)."""
    from photorecon import _patchmatch as pm

    low, high = _split(img, o.sigma)
    ty, tx = (a.astype(np.int32) for a in np.nonzero(tgt))
    index = np.full(tgt.shape, -1, np.int32)
    index[ty, tx] = np.arange(ty.size, dtype=np.int32)
    valid = (~hol).astype(np.uint8)
    if state is None:
        nnf = _random_matches(rng, source, ty.size)
    else:
        nnf = _upsampled_matches(*state, ty, tx, source, rng)
        high[ty, tx] = pm.vote(high, ty, tx, index, nnf, o.radius, o.spread)
        valid[ty, tx] = 1
    # the coarsest level searches the whole window; finer ones refine what it found
    span = 0 if coarsest else o.search
    passes = o.passes if coarsest else o.fine_passes
    for _ in range(o.rounds):
        seed = int(rng.integers(2**31 - 1))
        pm.patchmatch(
            low,
            high,
            valid,
            source,
            ty,
            tx,
            index,
            nnf,
            o.radius,
            o.step,
            np.float32(o.coherence),
            passes,
            span,
            seed,
        )
        high[ty, tx] = pm.vote(high, ty, tx, index, nnf, o.radius, o.spread)
        valid[ty, tx] = 1
    return low, high, (nnf, index)


def check_options(options: DetailOptions) -> DetailOptions:
    """The options as given, or a one-line error for a value that cannot work."""
    if options.radius < 1 or options.step < 1 or options.sigma <= 0:
        raise PhotoreconError(f"detail: radius, step >= 1 and sigma > 0, got {options}")
    if min(options.levels, options.passes, options.fine_passes, options.rounds) < 1:
        raise PhotoreconError(f"detail: levels, passes and rounds must be >= 1, got {options}")
    return options
