"""How a print has aged and how it was captured, for clean and damaged photos alike."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Look:
    """How a print has aged and how it was captured; drawn once per sample, applied to both the
    clean and the damaged version so they differ only by the damage.

    The print: black-and-white (`grey`), toned toward sepia (`sepia`, 0-1), faded toward its
    paper's colour (`fade` < 1 keeps that share of the picture, unevenly by `uneven`), a colour
    cast (`tint`, per-channel gains), darker corners (`vignette`), paper texture (`texture`).
    The capture: a scanner, or a phone with uneven light, glare and a slight perspective
    (`light`, `glare`, `tilt`), then softness, film grain and JPEG. Spatial patterns come from
    `seed`, so the clean and damaged versions share them."""

    grey: bool
    fade: float
    tint: tuple[float, float, float]
    blur: float
    grain: float
    seed: int
    jpeg: int  # 0: none
    sepia: float = 0.0
    paper: tuple[float, float, float] = (235.0, 228.0, 210.0)
    uneven: float = 0.0
    vignette: float = 0.0
    texture: float = 0.0
    light: float = 0.0
    glare: float = 0.0
    tilt: float = 0.0
    gamma: float = 1.0
    dyes: tuple[float, float, float] = (1.0, 1.0, 1.0)  # a gamma per channel: dyes fading
    squeeze: float = 1.0  # contrast kept about the print's middle grey


def draw_look(rng: np.random.Generator) -> Look:
    tint = (1.0, 1.0, 1.0)
    if rng.random() < 0.4:  # yellowed, magenta- or cyan-shifted prints
        tint = tuple(float(v) for v in rng.uniform(0.72, 1.12, 3))
    dyes = (1.0, 1.0, 1.0)
    if rng.random() < 0.35:  # colour dyes fade each at its own rate (cyan, then the red, first)
        dyes = tuple(float(v) for v in rng.uniform(0.6, 1.25, 3))
    grey = bool(rng.random() < 0.35)
    sepia = float(rng.uniform(0.4, 1.0)) if rng.random() < 0.35 else 0.0
    grey_paper = rng.uniform(200, 250)
    paper = (grey_paper, grey_paper * rng.uniform(0.92, 1.0), grey_paper * rng.uniform(0.75, 0.97))
    phone = rng.random() < 0.25
    return Look(
        grey=grey,
        fade=float(rng.uniform(0.45, 1.0)) if rng.random() < 0.6 else 1.0,
        tint=tint,  # type: ignore[arg-type]
        blur=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.5 else 0.0,
        grain=float(rng.uniform(1, 8)) if rng.random() < 0.6 else 0.0,
        seed=int(rng.integers(2**31)),
        jpeg=int(rng.integers(50, 96)) if rng.random() < (0.8 if phone else 0.4) else 0,
        sepia=sepia,
        paper=tuple(float(v) for v in paper),  # type: ignore[arg-type]
        uneven=float(rng.uniform(0, 0.25)) if rng.random() < 0.4 else 0.0,
        vignette=float(rng.uniform(0.05, 0.35)) if rng.random() < 0.3 else 0.0,
        texture=float(rng.uniform(0.01, 0.05)) if rng.random() < 0.4 else 0.0,
        light=float(rng.uniform(0.05, 0.25)) if phone else 0.0,
        glare=float(rng.uniform(15, 70)) if phone and rng.random() < 0.4 else 0.0,
        tilt=float(rng.uniform(0.005, 0.03)) if phone else 0.0,
        gamma=float(rng.uniform(0.75, 1.35)) if rng.random() < 0.35 else 1.0,
        dyes=dyes,  # type: ignore[arg-type]
        squeeze=float(rng.uniform(0.5, 0.95)) if rng.random() < 0.4 else 1.0,
    )


def _field(seed: int, salt: int, height: int, width: int, scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] fixed by (seed, salt), features about `scale` px."""
    rng = np.random.default_rng([seed, salt])
    small = (max(2, round(height / scale)), max(2, round(width / scale)))
    field = cv2.resize(rng.random(small).astype(np.float32), (width, height), cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


LUMA = np.array([[0.299], [0.587], [0.114]], np.float32)
SEPIA_DARK = np.array([38, 24, 14], np.float32)
SEPIA_LIGHT = np.array([250, 236, 205], np.float32)


def age(photo: np.ndarray, look: Look) -> np.ndarray:
    """The print: grey, toned, faded toward its paper, tinted, vignetted and textured as
    `look` says; float32 RGB in [0, 255]."""
    height, width = photo.shape[:2]
    x = photo.astype(np.float32)
    if look.gamma != 1.0 or look.dyes != (1.0, 1.0, 1.0):
        gammas = look.gamma * np.asarray(look.dyes, np.float32)
        x = 255.0 * (x / 255.0) ** (gammas if not look.grey else look.gamma)
    if look.grey or look.sepia:
        x = np.repeat(x @ LUMA, 3, axis=2)
    if look.sepia:
        s = x[..., :1] / 255.0
        x = x * (1 - look.sepia) + (SEPIA_DARK + (SEPIA_LIGHT - SEPIA_DARK) * s) * look.sepia
    if look.fade < 1 or look.uneven:
        keep = look.fade - look.uneven * _field(look.seed, 1, height, width, max(height, width) / 3)
        keep = np.clip(keep, 0.3, 1.0)[..., None]
        x = x * keep + np.asarray(look.paper, np.float32) * (1 - keep)
    x = x * np.asarray(look.tint, np.float32)
    if look.squeeze < 1:
        middle = float(np.median(x))
        x = middle + (x - middle) * look.squeeze
    if look.vignette:
        rows = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
        cols = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
        x = x * (1 - look.vignette * (rows**2 + cols**2) / 2)[..., None]
    if look.texture:
        fine = _field(look.seed, 2, height, width, 1.5) - 0.5
        x = x * (1 + 2 * look.texture * fine)[..., None]
    return np.clip(x, 0, 255)


def capture_warp(look: Look, height: int, width: int) -> np.ndarray | None:
    """The 3x3 perspective a phone held a little off square gives (None for a scanner)."""
    if not look.tilt:
        return None
    rng = np.random.default_rng([look.seed, 3])
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = corners + rng.uniform(-1, 1, (4, 2)).astype(np.float32) * look.tilt * max(height, width)
    return cv2.getPerspectiveTransform(corners, moved)


def warp(image: np.ndarray, matrix: np.ndarray | None, nearest: bool = False) -> np.ndarray:
    """An image (float or bool) through `capture_warp`'s matrix; the edges reflected in."""
    if matrix is None:
        return image
    height, width = image.shape[:2]
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if image.dtype == bool:
        out = cv2.warpPerspective(
            image.astype(np.uint8),
            matrix,
            (width, height),
            flags=flags,
            borderMode=cv2.BORDER_REFLECT,
        )
        return out > 0
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT
    )


def scan(print_: np.ndarray, look: Look, jpeg: bool = True) -> np.ndarray:
    """The capture of a float print: perspective, uneven light and glare (a phone), softness,
    film grain (the same for every call with this look), JPEG; uint8 RGB."""
    height, width = print_.shape[:2]
    x = warp(print_, capture_warp(look, height, width))
    if look.light:
        x = (
            x
            * (
                1 + look.light * (_field(look.seed, 4, height, width, max(height, width) / 2) - 0.5)
            )[..., None]
        )
    if look.glare:
        rng = np.random.default_rng([look.seed, 5])
        rows = np.arange(height, dtype=np.float32)[:, None] - rng.uniform(0, height)
        cols = np.arange(width, dtype=np.float32)[None, :] - rng.uniform(0, width)
        spread = rng.uniform(0.1, 0.4) * max(height, width)
        x = x + look.glare * np.exp(-(rows**2 + cols**2) / (2 * spread**2))[..., None]
    if look.blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), look.blur)
    if look.grain > 0:
        noise = np.random.default_rng([look.seed, 6]).normal(0, look.grain, x.shape[:2])
        x = x + noise[..., None].astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return jpeg_roundtrip(out, look.jpeg) if jpeg and look.jpeg else out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 RGB image saved as JPEG at `quality` and read back (as it was if OpenCV cannot
    encode it)."""
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]) if ok else rgb


def grey(photo: np.ndarray) -> np.ndarray:
    """A colour photo as neutral black-and-white (uint8 RGB, three equal channels)."""
    lum = np.rint(photo.astype(np.float32) @ LUMA)
    return np.repeat(np.clip(lum, 0, 255).astype(np.uint8), 3, axis=2)


def restoration_pair(
    photo: np.ndarray, rng: np.random.Generator, untouched_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """(aged, target) for a restorer: the photo aged and scanned as `draw_look` draws it,
    and what a restorer should give back: the photo itself, or for a black-and-white or
    sepia print the photo as neutral black-and-white (its colours are gone). With probability
    `untouched_share` the photo is not aged at all: it must come back as it is."""
    from dataclasses import replace

    if rng.random() < untouched_share:
        return photo, photo
    # nothing that moves pixels or adds light: the target must line up with the photo
    look = replace(draw_look(rng), tilt=0.0, glare=0.0)
    aged = scan(age(photo, look), look)
    return aged, grey(photo) if look.grey or look.sepia else photo
