"""The first damage kinds: scratches, hairlines, dust, blotches, torn corners and single creases
(each `kind(rng, height, width) -> list[Layer]`)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from photorecon.damage.shapes import (
    SUPER,
    Layer,
    across,
    canvas,
    down,
    jagged,
    polyline,
    rough_blob,
    smooth_curve,
    smooth_field,
    tone,
    walk,
)


def scratches(rng, height: int, width: int) -> list[Layer]:
    side = min(height, width)
    layers = []
    colour, _ = tone(rng, 0.3)
    sheet = canvas(height, width)
    for _ in range(int(rng.integers(1, 7))):
        length = rng.uniform(0.3, 1.3) * side
        path = walk(rng, height, width, length, int(rng.integers(3, 7)), rng.uniform(0.05, 0.5))
        thickness = float(rng.choice([1, 1.5, 2, 3, 4, 5], p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05]))
        dashes = None
        if rng.random() < 0.3:
            dashes = (int(rng.integers(4, 20)), int(rng.integers(1, 6)))
        polyline(sheet, smooth_curve(path), thickness, dashes)
    cover = down(sheet, height, width)
    # scratches fade in and out along their length
    fade = 0.45 + 0.55 * smooth_field(rng, height, width, rng.uniform(20, 80))
    layers.append((np.clip(cover, 0, 1) * fade, colour, rng.uniform(0.65, 1.0)))
    return layers


def hairlines(rng, height: int, width: int) -> list[Layer]:
    sheet = canvas(height, width)
    colour, _ = tone(rng, 0.4)
    heading = rng.choice([math.pi / 2, rng.uniform(0, math.pi)], p=[0.6, 0.4])
    for _ in range(int(rng.integers(1, 9))):
        start = (rng.uniform(0, width), rng.uniform(0, height))
        own = heading + rng.normal(0, 0.05)
        length = rng.uniform(0.4, 1.5) * max(height, width)
        back = (start[0] - 0.5 * length * math.cos(own), start[1] - 0.5 * length * math.sin(own))
        path = walk(rng, height, width, length, 5, 0.03, start=back, heading=own)
        polyline(sheet, smooth_curve(path), rng.uniform(0.6, 1.4))
    cover = np.clip(down(sheet, height, width), 0, 1)
    fade = 0.5 + 0.5 * smooth_field(rng, height, width, rng.uniform(30, 120))
    return [(cover * fade, colour, rng.uniform(0.5, 0.95))]


def dust(rng, height: int, width: int) -> list[Layer]:
    layers = []
    area = height * width / 65536  # specks per 256x256
    for dark in (False, True):
        sheet = canvas(height, width)
        count = int(rng.integers(3, 60) * area) if rng.random() < 0.8 else 0
        for _ in range(count):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.choice([0.5, 1, 1.5, 2, 3, 3.5], p=[0.25, 0.3, 0.2, 0.12, 0.08, 0.05])
            axes = (max(1, round(r * SUPER * rng.uniform(0.6, 1.0))), max(1, round(r * SUPER)))
            centre = (round(cx * SUPER), round(cy * SUPER))
            angle = rng.uniform(0, 180)
            cv2.ellipse(sheet, centre, axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(0, 4) * area)):  # lint: short curly fibres
            path = walk(rng, height, width, rng.uniform(6, 30), 5, 1.0)
            polyline(sheet, smooth_curve(path), rng.uniform(0.8, 1.6))
        if sheet.any():
            colour = tone(rng, 1.0 if dark else 0.0)[0]
            layers.append((np.clip(down(sheet, height, width), 0, 1), colour, 1.0))
    return layers


def blotches(rng, height: int, width: int) -> list[Layer]:
    layers = []
    side = min(height, width)
    for _ in range(int(rng.integers(1, 4))):
        cover = rough_blob(rng, height, width, rng.uniform(0.04, 0.22) * side)
        if rng.random() < 0.7:  # paper loss: opaque, paper-coloured, a little textured
            colour, _ = tone(rng, 0.0)
            texture = 0.85 + 0.15 * smooth_field(rng, height, width, 2.0)
            layers.append((cover * texture, colour, 1.0))
        else:  # a stain or mould: dark-brownish, partly transparent
            tint = np.array([rng.uniform(40, 110), rng.uniform(30, 80), rng.uniform(10, 50)])
            layers.append((cover, tint.astype(np.float32), rng.uniform(0.6, 0.9)))
    return layers


def tears(rng, height: int, width: int) -> list[Layer]:
    """A piece missing from a corner or an edge, cut along a jagged line."""
    sheet = canvas(height, width)
    side = min(height, width)
    depth = rng.uniform(0.06, 0.3) * side
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    if rng.random() < 0.6:  # a corner: a jagged line between two points on its edges
        k = int(rng.integers(4))
        cx, cy = corners[k]
        nx, ny = corners[(k + 1) % 4], corners[(k - 1) % 4]
        a = np.array([cx, cy]) + (np.array(nx) - np.array([cx, cy])) * depth / max(width, height)
        a = a * rng.uniform(0.8, 2.5)
        b = np.array([cx, cy]) + (np.array(ny) - np.array([cx, cy])) * depth / max(width, height)
        b = b * rng.uniform(0.8, 2.5)
        a = np.clip(a, 0, [width, height])
        b = np.clip(b, 0, [width, height])
        line = jagged(rng, a, b)
        poly = np.concatenate([[[cx, cy]], line])
    else:  # an edge: a bite out of one side
        edge = int(rng.integers(4))
        span = rng.uniform(0.15, 0.6) * (width if edge % 2 == 0 else height)
        centre = rng.uniform(span / 2, (width if edge % 2 == 0 else height) - span / 2)
        if edge % 2 == 0:
            y0 = 0 if edge == 0 else height
            a, b = np.array([centre - span / 2, y0]), np.array([centre + span / 2, y0])
            inward = np.array([0, 1 if edge == 0 else -1])
        else:
            x0 = width if edge == 1 else 0
            a, b = np.array([x0, centre - span / 2]), np.array([x0, centre + span / 2])
            inward = np.array([-1 if edge == 1 else 1, 0])
        mid = (a + b) / 2 + inward * depth
        line = np.concatenate([jagged(rng, a, mid), jagged(rng, mid, b)[1:]])
        poly = line
    cv2.fillPoly(sheet, [np.round(poly * SUPER).astype(np.int32)], 1.0, cv2.LINE_AA)
    cover = np.clip(down(sheet, height, width), 0, 1)
    pick = rng.random()
    if pick < 0.5:
        colour = tone(rng, 0.0)[0]  # the white backing or the album page
    elif pick < 0.8:
        colour = np.full(3, rng.uniform(0, 40), np.float32)  # a black scanner lid
    else:
        colour = np.full(3, rng.uniform(90, 170), np.float32)  # grey card
    return [(cover, colour, 1.0)]


def creases(rng, height: int, width: int) -> list[Layer]:
    """A fold across the print: a light crack (emulsion broken) with a faint shaded band."""
    curve = across(rng, height, width, rng.uniform(0, math.pi), 12, 0.04)
    crack = canvas(height, width)
    dashes = (int(rng.integers(6, 30)), int(rng.integers(0, 3)))
    polyline(crack, curve, rng.uniform(1.0, 3.0), dashes)
    band = canvas(height, width)
    polyline(band, curve, rng.uniform(4, 10))
    band = cv2.GaussianBlur(down(band, height, width), (0, 0), 2.0)
    fade = 0.5 + 0.5 * smooth_field(rng, height, width, 40)
    colour, _ = tone(rng, 0.15)
    shade = np.full(3, rng.choice([30.0, 230.0]), np.float32)
    return [
        (np.clip(band, 0, 1) * 0.12, shade, 1.0),  # the shading: too faint to count as damage
        (np.clip(down(crack, height, width), 0, 1) * fade, colour, rng.uniform(0.7, 1.0)),
    ]
