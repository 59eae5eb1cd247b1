"""Synthetic smooth, bright scenes: skies, clouds, snow, studio backdrops and skin.

Photo packs hold few of them, and a net trained for pixel accuracy on textured photos learns
to fill them with a colour bias (a 20-px stroke through a white cloud came back ~12 levels
darker). These scenes are added to training photos (`data.scenes`), to validation
(`data.val_scenes`) and, written as a split folder (`photorecon data scenes`), to the per-kind
evaluation, where the learned default must be no worse than Telea. Every scene is a pure
function of its generator: the same seed gives the same pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

SCENE_KINDS = ("sky", "clouds", "snow", "backdrop", "skin")
SET_FILE = "set.txt"  # a split folder's label in the per-kind table ("smooth")


def fractal_noise(
    rng: np.random.Generator,
    height: int,
    width: int,
    octaves: int = 5,
    base: int = 3,
    persistence: float = 0.5,
) -> np.ndarray:
    """(H, W) float32 smooth noise in about [-1, 1]: random grids upsampled bicubically, each
    octave twice as fine and `persistence` times as strong as the last."""
    out = np.zeros((height, width), np.float32)
    amplitude, total = 1.0, 0.0
    for k in range(octaves):
        cells = base * 2**k
        grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
        out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= persistence
    return out / total


def _ramp(height: int, width: int, angle: float) -> np.ndarray:
    """(H, W) 0..1 linear ramp along `angle` (radians; 0 = top to bottom)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = np.cos(angle) * y / max(height - 1, 1) + np.sin(angle) * x / max(width - 1, 1)
    t -= t.min()
    return t / max(float(t.max()), 1e-6)


def _radial(height: int, width: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """(H, W) distance from (cy, cx) in units of `radius`."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.hypot(y - cy, x - cx) / max(radius, 1e-6)


def _spot(rng: np.random.Generator, height: int, width: int, low: float, high: float):
    """(H, W) a soft round spot (a Gaussian) at a random place, its radius a random share
    (low..high) of the long side: a sun's glow, a highlight."""
    centre_y, centre_x = rng.uniform(0, height), rng.uniform(0, width)
    radius = rng.uniform(low, high) * max(height, width)
    return np.exp(-(_radial(height, width, centre_y, centre_x, radius) ** 2))


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours a and b (3,) by t (H, W) in 0..1 -> (H, W, 3)."""
    t = t[..., None]
    return a * (1.0 - t) + b * t


def _sky(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    zenith = np.array([rng.uniform(40, 120), rng.uniform(100, 170), rng.uniform(190, 250)])
    horizon = np.array([rng.uniform(200, 245), rng.uniform(215, 248), rng.uniform(235, 255)])
    ramp = _ramp(height, width, rng.uniform(-0.4, 0.4)) ** rng.uniform(0.6, 1.6)
    img = _mix(zenith, horizon, ramp)
    if rng.random() < 0.5:  # a glow around the sun
        glow = _spot(rng, height, width, 0.2, 0.7)
        img = img + (255.0 - img) * (glow * rng.uniform(0.2, 0.7))[..., None]
    return img


def _clouds(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    img = _sky(rng, height, width)
    cover = fractal_noise(rng, height, width, octaves=6, base=int(rng.integers(2, 5)))
    threshold = rng.uniform(-0.2, 0.4)
    density = np.clip((cover - threshold) * rng.uniform(2.0, 5.0), 0.0, 1.0)
    shade = fractal_noise(rng, height, width, octaves=4, base=3)
    white = rng.uniform(235, 255)
    cloud = white - rng.uniform(10, 60) * np.clip(shade, 0, 1)[..., None] * np.array([1, 1, 0.9])
    return img * (1 - density[..., None]) + cloud * density[..., None]


def _snow(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    lit = np.array([rng.uniform(235, 255)] * 3) - np.array([rng.uniform(0, 8), 0, 0])
    shadow = np.array([rng.uniform(160, 200), rng.uniform(180, 215), rng.uniform(215, 245)])
    relief = fractal_noise(rng, height, width, octaves=5, base=int(rng.integers(2, 4)))
    img = _mix(lit, shadow, np.clip(relief * rng.uniform(0.3, 0.9) + 0.1, 0.0, 1.0))
    if rng.random() < 0.4:  # a horizon with sky above it
        line = int(rng.uniform(0.15, 0.4) * height)
        img[:line] = _sky(rng, line, width) if line else img[:line]
    return img


def _backdrop(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    hue = rng.uniform(0, 1, 3)
    centre = 255 - rng.uniform(0, 40) - rng.uniform(0, 60) * hue * (rng.random() < 0.5)
    edge = centre * rng.uniform(0.55, 0.9)
    dist = _radial(
        height,
        width,
        rng.uniform(0.3, 0.7) * height,
        rng.uniform(0.3, 0.7) * width,
        rng.uniform(0.5, 1.0) * max(height, width),
    )
    return _mix(centre, edge, np.clip(dist, 0, 1) ** rng.uniform(1.2, 2.5))


def _skin(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    tone = np.array([rng.uniform(150, 250), 0.0, 0.0])
    tone[1] = tone[0] * rng.uniform(0.72, 0.85)
    tone[2] = tone[0] * rng.uniform(0.58, 0.75)
    shading = fractal_noise(rng, height, width, octaves=4, base=2)
    img = tone * (1.0 + 0.12 * shading)[..., None]
    highlight = _spot(rng, height, width, 0.05, 0.2)
    return img + (255 - img) * highlight[..., None] * rng.uniform(0.1, 0.5)


_RENDER = {"sky": _sky, "clouds": _clouds, "snow": _snow, "backdrop": _backdrop, "skin": _skin}


def render_scene(kind: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One (H, W, 3) uint8 RGB scene of `kind`, with a little sensor grain."""
    if kind not in _RENDER:
        raise ValueError(f"unknown scene kind {kind!r}; known: {', '.join(SCENE_KINDS)}")
    img = _RENDER[kind](rng, height, width)
    img = img + rng.standard_normal(img.shape) * rng.uniform(0.5, 2.5)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def scene_bank(seed: int | list[int], count: int, height: int, width: int) -> list[np.ndarray]:
    """`count` scenes, the kinds taken in turn, scene i from its own generator (seed, i)."""
    base = [seed] if isinstance(seed, int) else list(seed)
    return [
        render_scene(
            SCENE_KINDS[i % len(SCENE_KINDS)], np.random.default_rng([*base, i]), height, width
        )
        for i in range(count)
    ]
