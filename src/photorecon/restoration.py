"""Restore a whole old photo: find and fill its damage, then undo its fading, colour cast and
lost contrast, and quiet its grain.

1. damage: the shipped detector's mask filled by the default fill (as `fill --auto`);
2. tone: the learned restorer (`models/restorer.py`) predicts smooth corrections from a
   downscaled copy, applied to every pixel at full resolution (16-bit photos at 16 bits); where
   those corrections change the photo a lot (the restorer says it has aged), its result is
   mixed with a classical per-channel levels stretch of the photo (`plan_stretch`);
3. grain: the noise level is measured on the toned photo's flat areas (Immerkaer's estimate;
   after the tone, as a stretched contrast shows it), and only a photo with visible grain is
   smoothed, on its luminance, edge-preserving (a bilateral
   filter scaled to the noise), its chroma a little; a photo without grain is left alone.

`strength` blends the result back toward the input (0: the input, 1: the full restoration).
Everything after the damage fill is per-pixel or local arithmetic, done in bands of rows, so a
24-megapixel photo costs seconds and bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from photorecon.errors import PhotoreconError

RESTORER = "restore"  # the shipped restorer
# grain measured below this (levels of 255) is left alone: the pack's clean val photos read
# 0.1-5.8 (a few are noisy digital photos), real old prints 0.6-2.4, the training ageing 2-10
GRAIN_FLOOR = 6.0
BAND = 1024  # rows done at a time
# The classical partner. On fading it was not trained on, the restorer corrects too little; a
# per-channel levels stretch (each channel's darkest and lightest values in a 256-px copy to
# black and white) corrects lifted blacks and dull whites whatever faded them, and does nothing
# to a photo that already spans the range. It is mixed in only where the restorer's own
# corrections change the photo by more than STRETCH_FROM dB PSNR (the restorer says it has
# aged), rising to STRETCH_SHARE of the result at STRETCH_FULL dB and more: a photo the restorer
# leaves (nearly) as it was is never stretched. Chosen on the val photos aged by
# photorecon.damage.fading (an ageing the shipped restorer never saw); the held-out ageing of
# bench/restore.py was left to check it (bench/RESULTS.md, session 14).
STRETCH_SHARE = 0.7
STRETCH_FROM, STRETCH_FULL = 35.0, 30.0
# ... and only as far as the stretch has room to work: a photo that already spans the range (a
# white border, black specks) is stretched by almost nothing, and mixing that in would only
# undo the restorer's correction. The stretch's change of the luminance over the restorer's:
# none of it below the first, all from the second (val's one photo below 0.3 lost 1.2 dB).
STRETCH_ROOM = (0.3, 0.6)


@dataclass(frozen=True)
class RestoreOptions:
    """What `restore` does: which stages run and how strongly."""

    damage: bool = True
    tone: bool = True
    grain: bool = True
    strength: float = 1.0
    sensitivity: float = 0.5  # the damage detector's, as `fill --auto --sensitivity`
    stretch: float = STRETCH_SHARE  # the most of the classical stretch mixed in (0: none)


@dataclass(frozen=True)
class Stretch:
    """A per-channel levels stretch, `low` and `high` (3,) in [0, 1] to black and white and
    clipped, its colours kept by `colour` (0: neutral grey, 1: all of them; as much as the
    restorer kept: a toned print it turned black-and-white is stretched black-and-white too),
    mixed `share` into the restorer's result."""

    low: np.ndarray
    high: np.ndarray
    share: float
    colour: float


def small_copy(rgb: np.ndarray, side: int) -> np.ndarray:
    """The photo area-shrunk so its short side is `side` px (as it is when already smaller)."""
    height, width = rgb.shape[:2]
    scale = min(1.0, side / min(height, width))
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def corrections(model, rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The restorer's corrections for an RGB uint8 photo (from a copy of it at the restorer's
    side, so a photo of any size costs the same), as arrays."""
    import torch

    small = small_copy(rgb, model.side * 2)  # area-shrunk here first: the net's pooling after
    with torch.inference_mode():
        x = torch.from_numpy(np.array(small)).permute(2, 0, 1)[None].float() / 255
        x = x.to(next(model.parameters()).device)
        out = model.corrections(x)
    return {k: v[0].float().cpu().numpy() for k, v in out.items()}


def tone(image: np.ndarray, c: dict[str, np.ndarray]) -> np.ndarray:
    """The corrections on an RGB uint8 or uint16 photo, same dtype out."""
    from photorecon.models.restorer import apply_numpy

    return apply_numpy(image, c, rows=BAND)


def plan_stretch(
    rgb: np.ndarray, c: dict[str, np.ndarray], most: float = STRETCH_SHARE, side: int = 256
) -> Stretch | None:
    """The levels stretch to mix into the result of the corrections `c` on an RGB uint8 photo,
    judged on a `side`-px copy, or None: `most` of it where `c` changes the photo by
    STRETCH_FULL dB or more, none from STRETCH_FROM dB, scaled down where the stretch has little
    room (STRETCH_ROOM), and no more colourful than `c` leaves the photo."""
    from photorecon.metrics import image_psnr

    small = small_copy(rgb, side)
    toned = tone(small, c)
    ramp = (STRETCH_FROM - image_psnr(small, toned)) / (STRETCH_FROM - STRETCH_FULL)
    share = most * float(np.clip(ramp, 0.0, 1.0))
    if share <= 0:
        return None
    pixels = small.reshape(-1, 3)
    low, high = pixels.min(0) / 255.0, pixels.max(0) / 255.0
    plan = Stretch(low, np.maximum(high, low + 1 / 255), share, colour=1.0)
    levels = stretched(small, toned, plan, only=True)  # all of its colour, to measure it
    room = luminance_change(small, levels) / max(luminance_change(small, toned), 1e-6)
    share *= float(np.clip((room - STRETCH_ROOM[0]) / (STRETCH_ROOM[1] - STRETCH_ROOM[0]), 0, 1))
    if share <= 0:
        return None
    colour = float(np.clip(colourfulness(toned) / max(colourfulness(levels), 1e-6), 0.0, 1.0))
    return replace(plan, share=share, colour=colour)


def luminance_change(a: np.ndarray, b: np.ndarray) -> float:
    """The root-mean-square difference of two RGB photos' luminances (levels)."""
    from photorecon.damage.look import LUMA

    diff = (a.astype(np.float32) - b.astype(np.float32)) @ LUMA
    return float(np.sqrt(np.mean(diff**2)))


def colourfulness(rgb: np.ndarray) -> float:
    """How far an RGB photo's channels stand from their mean, on average (levels)."""
    return float(np.abs(rgb.astype(np.float32) - rgb.mean(2, keepdims=True)).mean())


def stretched(image: np.ndarray, toned: np.ndarray, s: Stretch, only: bool = False) -> np.ndarray:
    """`toned` (the restorer's result on `image`) mixed with `s`'s stretch of `image` (the
    stretch alone where `only`), a band of rows at a time; RGB uint8 or uint16, the same dtype
    out."""
    from photorecon.damage.look import LUMA

    top = 65535.0 if image.dtype == np.uint16 else 255.0
    gain = 1 / (s.high - s.low)  # x -> (x - low * top) / (high - low), rounded and clipped
    levels = np.concatenate([np.diag(gain), (-s.low * top * gain)[:, None]], 1).astype(np.float32)
    grey = np.repeat(LUMA.T, 3, axis=0)
    keep = (s.colour * np.eye(3) + (1 - s.colour) * grey).astype(np.float32)
    out = np.empty_like(toned)
    for start in range(0, image.shape[0], BAND):
        band = slice(start, start + BAND)
        y = cv2.transform(image[band], levels)
        if s.colour < 1:
            y = cv2.transform(y, keep)
        out[band] = y if only else cv2.addWeighted(toned[band], 1 - s.share, y, s.share, 0.0)
    return out


def grain_level(rgb: np.ndarray, block: int = 8) -> float:
    """The photo's grain (standard deviation of its noise, levels of 255) on its luminance:
    the spread of a second-difference filter in 8x8 blocks (Immerkaer's kernel), taken in the
    flattest tenth of the blocks, where only noise is left (texture and edges would pass for
    noise elsewhere). On the pack's val photos with added noise it reads about 3/4 of it:
    `NOISE_GAIN` scales it back."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey, -1, kernel)[1:-1, 1:-1]
    rows, cols = (response.shape[0] // block) * block, (response.shape[1] // block) * block
    if rows == 0 or cols == 0:
        return 0.0
    blocks = response[:rows, :cols].reshape(rows // block, block, cols // block, block)
    spread = blocks.transpose(0, 2, 1, 3).reshape(-1, block * block).std(axis=1) / 6.0
    return float(np.percentile(spread, 10)) * NOISE_GAIN


NOISE_GAIN = 1.3


def degrain(image: np.ndarray, sigma: float) -> np.ndarray:
    """Grain of `sigma` levels (of 255) smoothed away: the luminance by a bilateral filter
    scaled to it (edges kept), the chroma by a 1-px blur; uint8 or uint16 in, same out."""
    deep = image.dtype == np.uint16
    scale = 257.0 if deep else 1.0
    out = np.empty_like(image)
    for top in range(0, image.shape[0], BAND):
        # each band with 4 rows of context either side, so bands meet without a seam
        lo, hi = max(0, top - 4), min(image.shape[0], top + BAND + 4)
        part = image[lo:hi].astype(np.float32) / scale
        ycc = cv2.cvtColor(part, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = cv2.bilateralFilter(ycc[..., 0], 5, 2.5 * sigma, 2.0)
        ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), 1.0)
        back = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) * scale
        keep = slice(top - lo, top - lo + min(BAND, image.shape[0] - top))
        out[top : top + BAND] = np.clip(np.rint(back[keep]), 0, 65535 if deep else 255)
    return out


def blend(before: np.ndarray, after: np.ndarray, strength: float) -> np.ndarray:
    """`after` blended back toward `before` (0: before, 1: after), same dtype."""
    if strength >= 1.0:
        return after
    if strength <= 0.0:
        return before.copy()
    mixed = before.astype(np.float32) + strength * (after.astype(np.float32) - before)
    return np.clip(np.rint(mixed), 0, np.iinfo(before.dtype).max).astype(before.dtype)


def restore_pixels(
    rgb: np.ndarray,
    options: RestoreOptions,
    *,
    restorer=None,
    detector=None,
    fill_model=None,
    deep: np.ndarray | None = None,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray | None]:
    """(restored RGB uint8, restored 16-bit samples or None): the photo's damage filled
    (`detector` + `fill_model`), its tone corrected (`restorer`) and its grain quieted, as
    `options` say. `deep` (uint16 (H, W, 3|4), a 16-bit photo's own samples) is restored at
    16 bits beside the 8-bit pixels (its alpha, if any, as it was)."""
    from photorecon.imageio import deep_result

    out, high = rgb, deep
    if options.damage:
        from photorecon.anysize import fill_any_size
        from photorecon.detection import damage_mask

        mask = damage_mask(rgb, detector, options.sensitivity, 0, device) > 0
        if mask.all():
            raise PhotoreconError("the detector flags the whole photo; lower the sensitivity")
        if mask.any():
            out = fill_any_size(rgb, mask.astype(np.float32), fill_model, device=device)
            if high is not None:
                high = deep_result(out, _Like(rgb, high))
    if options.tone:
        c = corrections(restorer, out)
        plan = plan_stretch(out, c, options.stretch) if options.stretch > 0 else None
        toned = tone(out, c)
        out = stretched(out, toned, plan) if plan else toned
        if high is not None:
            deep_toned = tone(high[..., :3], c)
            if plan:
                deep_toned = stretched(high[..., :3], deep_toned, plan)
            high = np.concatenate([deep_toned, high[..., 3:]], axis=2)
    if options.grain:
        sigma = grain_level(out)  # as the restored contrast shows it
        if sigma >= GRAIN_FLOOR:
            out = degrain(out, sigma)
            if high is not None:
                high = np.concatenate([degrain(high[..., :3], sigma), high[..., 3:]], axis=2)
    out = blend(rgb, out, options.strength)
    if high is not None:
        restored = blend(deep[..., :3], high[..., :3], options.strength)
        high = np.concatenate([restored, deep[..., 3:]], axis=2)
    return out, high


@dataclass(frozen=True)
class _Like:
    """What `deep_result` reads of a photo: its 8-bit pixels and 16-bit samples."""

    rgb: np.ndarray
    deep: np.ndarray
