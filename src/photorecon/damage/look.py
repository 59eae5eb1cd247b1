"""How a print has aged and how it was captured, for clean and damaged photos alike."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Look:
    """How a print has aged and how it was scanned; drawn once per sample, applied to both the
    clean and the damaged version so they differ only by the damage."""

    grey: bool
    fade: float
    lift: float
    tint: tuple[float, float, float]
    blur: float
    grain: float
    grain_seed: int
    jpeg: int  # 0: none


def draw_look(rng: np.random.Generator) -> Look:
    tint = (1.0, 1.0, 1.0)
    if rng.random() < 0.4:  # sepia, yellowed or faded-cyan prints
        tint = tuple(float(v) for v in rng.uniform(0.8, 1.1, 3))
    return Look(
        grey=bool(rng.random() < 0.3),
        fade=float(rng.uniform(0.6, 1.0)) if rng.random() < 0.5 else 1.0,
        lift=float(rng.uniform(0, 40)) if rng.random() < 0.5 else 0.0,
        tint=tint,  # type: ignore[arg-type]
        blur=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.5 else 0.0,
        grain=float(rng.uniform(1, 8)) if rng.random() < 0.6 else 0.0,
        grain_seed=int(rng.integers(2**31)),
        jpeg=int(rng.integers(50, 96)) if rng.random() < 0.5 else 0,
    )


def age(photo: np.ndarray, look: Look) -> np.ndarray:
    """The print: grey, faded and tinted as `look` says; float32 RGB in [0, 255]."""
    x = photo.astype(np.float32)
    if look.grey:
        x = np.repeat(x @ np.array([[0.299], [0.587], [0.114]], np.float32), 3, axis=2)
    x = x * look.fade + look.lift * (1 - look.fade) + look.lift * 0.3
    return np.clip(x * np.asarray(look.tint, np.float32), 0, 255)


def scan(print_: np.ndarray, look: Look, jpeg: bool = True) -> np.ndarray:
    """The scan of a float print: softness, film grain (the same for every call with this
    look), JPEG; uint8 RGB."""
    x = print_
    if look.blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), look.blur)
    if look.grain > 0:
        noise = np.random.default_rng(look.grain_seed).normal(0, look.grain, x.shape[:2])
        x = x + noise[..., None].astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if jpeg and look.jpeg:
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])
        out = np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]) if ok else out
    return out
