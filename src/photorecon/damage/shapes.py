"""Shapes drawn as coverage layers in [0, 1] at a photo's size: antialiased curves, walks,
smooth random fields, rough blobs and jagged edges, and the colours damage takes."""

from __future__ import annotations

import math

import cv2
import numpy as np

SUPER = 4  # shapes are drawn at this many times the resolution, then area-averaged down

Layer = tuple[np.ndarray, np.ndarray, float]  # coverage (H, W), colour (3,) RGB, opacity


def canvas(height: int, width: int) -> np.ndarray:
    return np.zeros((height * SUPER, width * SUPER), np.float32)


def down(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def smooth_curve(points: np.ndarray, samples: int = 64) -> np.ndarray:
    """A Catmull-Rom-like smooth curve through (k, 2) points, as (samples, 2) points."""
    if len(points) < 3:
        t = np.linspace(0, 1, samples)[:, None]
        return points[0] * (1 - t) + points[-1] * t
    # Chaikin corner cutting: a few rounds turn a polyline into a smooth curve
    curve = points
    for _ in range(4):
        q = 0.75 * curve[:-1] + 0.25 * curve[1:]
        r = 0.25 * curve[:-1] + 0.75 * curve[1:]
        curve = np.concatenate([curve[:1], np.stack([q, r], 1).reshape(-1, 2), curve[-1:]])
    return curve


def walk(rng, height, width, length, vertices, turn, start=None, heading=None) -> np.ndarray:
    """(vertices, 2) points (x, y) of a random walk of total `length` px turning up to `turn`."""
    x, y = start if start is not None else (rng.uniform(0, width), rng.uniform(0, height))
    heading = rng.uniform(0, 2 * math.pi) if heading is None else heading
    step = length / max(vertices - 1, 1)
    points = [(x, y)]
    for _ in range(vertices - 1):
        heading += rng.uniform(-turn, turn)
        x, y = x + step * math.cos(heading), y + step * math.sin(heading)
        points.append((x, y))
    return np.asarray(points, np.float64)


def polyline(canvas: np.ndarray, curve: np.ndarray, thickness: float, dashes=None) -> None:
    """Draw a (k, 2) curve (photo pixels) on a SUPER canvas with a thickness in photo pixels;
    `dashes` (on, off) in points breaks it into pieces."""
    pts = np.round(curve * SUPER).astype(np.int32)
    thick = max(1, round(thickness * SUPER))
    if dashes is None:
        cv2.polylines(canvas, [pts], False, 1.0, thick, cv2.LINE_AA)
        return
    on, off = dashes
    for start in range(0, len(pts), on + off):
        piece = pts[start : start + on + 1]
        if len(piece) > 1:
            cv2.polylines(canvas, [piece], False, 1.0, thick, cv2.LINE_AA)


def smooth_field(rng, height: int, width: int, scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] with features about `scale` px across."""
    small = (max(2, round(height / scale)), max(2, round(width / scale)))
    field = rng.random(small).astype(np.float32)
    field = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def tone(rng, dark_share: float) -> tuple[np.ndarray, bool]:
    """A damage colour: near white (emulsion gone, paper showing) or near black (dirt, ink)."""
    if rng.random() < dark_share:
        grey = rng.uniform(0, 60)
        return np.array([grey, grey, grey * rng.uniform(0.8, 1.0)], np.float32), True
    grey = rng.uniform(205, 255)
    tint = rng.uniform(0.9, 1.0)  # paper is often a little yellow
    return np.array([grey, grey, grey * tint], np.float32)[::-1].copy(), False


def rough_blob(rng, height: int, width: int, size: float) -> np.ndarray:
    """(H, W) float coverage of an irregular patch about `size` px across, with rough edges."""
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    dist = np.hypot((rows - cy) / rng.uniform(0.5, 1.0), cols - cx) / (size / 2)
    rough = smooth_field(rng, height, width, max(4.0, size / 4)) - 0.5
    fine = smooth_field(rng, height, width, 3.0) - 0.5
    level = dist + 0.8 * rough + 0.15 * fine
    return np.clip((1.0 - level) * 3.0, 0, 1)


def jagged(rng, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k, 2) points from a to b, displaced sideways at several scales (a torn edge)."""
    steps = 40
    t = np.linspace(0, 1, steps)[:, None]
    line = a * (1 - t) + b * t
    normal = np.array([-(b - a)[1], (b - a)[0]], np.float64)
    normal /= max(np.linalg.norm(normal), 1e-6)
    length = float(np.linalg.norm(b - a))
    offset = np.zeros(steps)
    for scale, amp in ((8, 0.08), (20, 0.03), (40, 0.012)):
        knots = rng.normal(0, amp * length, scale)
        offset += np.interp(np.linspace(0, scale - 1, steps), np.arange(scale), knots)
    offset[0] = offset[-1] = 0
    return line + offset[:, None] * normal


def across(rng, height: int, width: int, heading: float, vertices: int, turn: float) -> np.ndarray:
    """A smooth curve right across the print through a random point, heading about
    `heading` (a fold's or a crease's line), as (k, 2) points."""
    side = max(height, width)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    length = 2.5 * side
    start = (cx - 0.5 * length * math.cos(heading), cy - 0.5 * length * math.sin(heading))
    return smooth_curve(walk(rng, height, width, length, vertices, turn, start, heading))
