"""A second, wider family of print ageing for the restorer: free-form tone changes.

`photorecon.damage.look` ages a print by named steps, each with its own formula (a gamma per
dye, a sepia ramp, fading toward the paper, a squeeze about the middle grey). A restorer
trained on those alone learns their formulas: on prints aged by other chemistry it corrects
too little or in the wrong direction. This family draws the same kinds of change without the
formulas, as the restorer's own corrections are shaped, so that what it learns is to undo a
smooth global change of tone and colour whatever produced it:

- each channel through its own random monotone curve (dyes fading at their own rates, in any
  shape: shadows first, highlights first, an S or its inverse);
- dyes bleeding into each other (a random channel mixing near the identity);
- a monochrome print toned by a random gradient from a shadow colour to a highlight colour
  (sepia, selenium, gold, cyanotype and the browns between);
- the paper showing through (blended toward a paper colour) or stained over (multiplied by it);
- blacks lifted and whites dulled (flare, a faded base), each by its own amount;
- then softness, grain whose strength grows with the signal, and JPEG.

No torch here; deterministic in the generator it is given.
"""

from __future__ import annotations

import cv2
import numpy as np

from photorecon.damage.look import LUMA, grey, jpeg_roundtrip

KNOTS = 9  # points of each random tone curve, evenly spaced in [0, 1]


def random_curve(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A monotone curve through (0, lo) .. (1, hi) on KNOTS points: random increments,
    `strength` of the way from the identity."""
    steps = rng.dirichlet(np.full(KNOTS - 1, rng.uniform(0.8, 4.0)))
    curve = np.concatenate([[0.0], np.cumsum(steps)])
    return (1 - strength) * np.linspace(0, 1, KNOTS) + strength * curve


def apply_curves(x: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Each channel of x (H, W, 3) in [0, 1] through its curve (3, KNOTS), piecewise linear."""
    knots = np.linspace(0, 1, KNOTS)
    out = np.empty_like(x)
    for c in range(3):
        out[..., c] = np.interp(x[..., c], knots, curves[c])
    return out


def tone_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A toned print's shadow and highlight colours (RGB in [0, 1]): warm browns most often,
    sometimes cold (selenium, cyanotype) or near neutral."""
    hue = rng.choice(["warm", "cold", "neutral"], p=[0.7, 0.15, 0.15])
    if hue == "warm":
        dark = np.array([rng.uniform(0.1, 0.3), rng.uniform(0.05, 0.2), rng.uniform(0.0, 0.1)])
        light = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.8, 0.95), rng.uniform(0.6, 0.85)])
    elif hue == "cold":
        dark = np.array([rng.uniform(0.0, 0.1), rng.uniform(0.05, 0.15), rng.uniform(0.15, 0.35)])
        light = np.array([rng.uniform(0.75, 0.95), rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0)])
    else:
        dark = np.full(3, rng.uniform(0.0, 0.15)) + rng.uniform(-0.03, 0.03, 3)
        light = np.full(3, rng.uniform(0.85, 1.0)) + rng.uniform(-0.04, 0.04, 3)
    return np.clip(dark, 0, 1), np.clip(light, 0, 1)


def fade(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(aged uint8 RGB, target): `photo` aged by this family, and what a restorer should give
    back (the photo, or for a monochrome print the photo as neutral grey)."""
    x = photo.astype(np.float64) / 255
    monochrome = rng.random() < 0.35
    if monochrome:
        lum = np.clip(x @ LUMA.astype(np.float64), 0, 1)
        lum = apply_curves(np.repeat(lum, 3, axis=2), np.tile(random_curve(rng, 0.5), (3, 1)))
        dark, light = tone_colours(rng)
        toned = rng.uniform(0.3, 1.0)
        x = lum * (1 - toned) + (dark + (light - dark) * lum[..., :1]) * toned
    else:
        curves = np.stack([random_curve(rng, rng.uniform(0.2, 0.9)) for _ in range(3)])
        x = apply_curves(x, curves)
        if rng.random() < 0.5:
            mix = np.eye(3) + rng.uniform(-0.12, 0.12, (3, 3)) * (1 - np.eye(3))
            x = np.clip(x @ (mix / mix.sum(1, keepdims=True)).T, 0, 1)
    paper = np.array([1.0, rng.uniform(0.86, 1.0), rng.uniform(0.6, 0.95)]) * rng.uniform(0.8, 1)
    if rng.random() < 0.6:  # the paper showing through
        x = x + (paper - x) * rng.uniform(0.05, 0.45)
    elif rng.random() < 0.5:  # stained over
        x = x * (1 - rng.uniform(0.1, 0.5) * (1 - paper))
    black, white = rng.uniform(0, 0.25), rng.uniform(0.75, 1.0)
    x = black + (white - black) * x
    if rng.random() < 0.5:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.6:
        noise = rng.normal(0, 1, x.shape[:2])[..., None]
        x = x + noise * (
            rng.uniform(0.005, 0.02) + rng.uniform(0, 0.03) * np.sqrt(np.clip(x, 0, 1))
        )
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        out = jpeg_roundtrip(out, int(rng.integers(55, 95)))
    return out, grey(photo) if monochrome else photo
