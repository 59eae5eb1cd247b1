"""Details of a scene that look like damage and are not: what a damage detector must learn to
leave alone. The shipped detector, trained on damage alone, flagged 0.87% of a real clean old
photo of daisies (`../shared/real/clean`): small pale blossoms, bright highlights and thin
pale stems read as dust, specks and scratches. These are drawn into the photo before it is
aged and scanned (`render_damage(lookalikes=...)`), so they share the scene's focus, light and
grain, and are never in the damage mask.

`scene_details(photo, rng) -> photo`: blossoms in clusters (petals around a yellow or brown
heart, shaded), soft specular highlights, and thin curved bright stems or wires, each with a
soft edge.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _soft(layer: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(layer, (0, 0), sigma) if sigma > 0 else layer


def _paint(out: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> None:
    """out = out * (1 - cover) + colour * cover, in place (float32 RGB, cover (H, W) in [0, 1])."""
    alpha = np.clip(cover, 0, 1)[..., None]
    out *= 1 - alpha
    out += alpha * colour.reshape(1, 1, 3)


def blossoms(out: np.ndarray, rng: np.random.Generator) -> None:
    """A cluster of small flowers: 5-8 pale petals round a heart, shaded a little."""
    height, width = out.shape[:2]
    centre = rng.uniform((0, 0), (height, width))
    spread = rng.uniform(15, 0.4 * min(height, width))
    petal_colour = np.array([rng.uniform(225, 255)] * 3, np.float32) * np.array(
        [1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)], np.float32
    )
    heart_colour = np.array([rng.uniform(170, 240), rng.uniform(120, 200), rng.uniform(10, 80)])
    sigma = rng.uniform(0.4, 1.2)
    for _ in range(int(rng.integers(3, 30))):
        cy, cx = centre + rng.normal(0, spread, 2)
        radius = rng.uniform(2.0, 9.0)
        petals = np.zeros((height, width), np.float32)
        count = int(rng.integers(5, 9))
        turn = rng.uniform(0, 2 * math.pi)
        for k in range(count):
            angle = turn + 2 * math.pi * k / count
            py, px = cy + math.sin(angle) * radius * 0.6, cx + math.cos(angle) * radius * 0.6
            axes = (max(1, round(radius * 0.55)), max(1, round(radius * 0.25)))
            cv2.ellipse(
                petals, (round(px), round(py)), axes, math.degrees(angle), 0, 360, 1.0, -1,
                cv2.LINE_AA,
            )  # fmt: skip
        shade = 1.0 - 0.15 * rng.random()
        _paint(out, _soft(petals, sigma) * rng.uniform(0.8, 1.0), petal_colour * shade)
        heart = np.zeros((height, width), np.float32)
        cv2.circle(heart, (round(cx), round(cy)), max(1, round(radius * 0.3)), 1.0, -1, cv2.LINE_AA)
        _paint(out, _soft(heart, sigma), heart_colour.astype(np.float32))


def highlights(out: np.ndarray, rng: np.random.Generator) -> None:
    """Soft specular glints: on water, metal, eyes, glass; brightest in the middle."""
    height, width = out.shape[:2]
    spots = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 12))):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        spots[y, x] = 1.0
    sigma = rng.uniform(0.8, 3.0)
    glow = _soft(spots, sigma)
    glow /= max(float(glow.max()), 1e-6)
    _paint(out, glow * rng.uniform(0.6, 1.0), np.array([250, 250, 245], np.float32))


def stems(out: np.ndarray, rng: np.random.Generator) -> None:
    """Thin curved bright lines with soft edges (grass, stems, wires, hair in the light)."""
    height, width = out.shape[:2]
    lines = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 6))):
        start = rng.uniform((0, 0), (width, height))
        angle = rng.uniform(0, 2 * math.pi)
        length = rng.uniform(15, 0.6 * max(height, width))
        bend = rng.normal(0, 0.6)
        t = np.linspace(0, 1, 24)
        xs = start[0] + np.cos(angle + bend * t) * length * t
        ys = start[1] + np.sin(angle + bend * t) * length * t
        points = np.stack([xs, ys], 1).round().astype(np.int32)
        cv2.polylines(lines, [points], False, 1.0, 1, cv2.LINE_AA)
    colour = np.array([rng.uniform(200, 245)] * 3, np.float32) * np.array(
        [1.0, rng.uniform(0.95, 1.05), rng.uniform(0.8, 1.0)], np.float32
    )
    _paint(out, _soft(lines, rng.uniform(0.5, 1.0)) * rng.uniform(0.5, 0.9), colour)


DETAILS = (blossoms, highlights, stems)


def scene_details(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The RGB uint8 photo with one or two kinds of look-alike details drawn in."""
    out = photo.astype(np.float32)
    for k in rng.choice(len(DETAILS), size=int(rng.integers(1, 3)), replace=False):
        DETAILS[int(k)](out, rng)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
