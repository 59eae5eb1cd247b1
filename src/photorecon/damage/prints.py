"""Damage as real old prints show it (each `kind(rng, height, width) -> list[Layer]`).

Drawn after looking at real damaged prints (`../shared/real`): a connected network of cracks
over the whole print (craquelure) where the emulsion broke and the paper shows, pale flakes
where it came away along the cracks and at the edges, folds that branch into cracks, worn and
chipped borders and corners with abrasion, foxing spots and water tide lines, and pinholes and
specks by the hundred at a scan's scale.
"""

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
    polyline,
    smooth_curve,
    smooth_field,
    walk,
)


def paper(rng) -> np.ndarray:
    """The colour under the emulsion: white to cream, a little yellow or brown (RGB)."""
    grey = rng.uniform(200, 252)
    return np.array(
        [grey, grey * rng.uniform(0.93, 1.0), grey * rng.uniform(0.78, 0.97)], np.float32
    )


def _edge_weight(height: int, width: int, rng) -> np.ndarray:
    """(H, W) in [0, 1]: 1 at the print's edges and corners, falling off inward (damage is
    often denser there); which edges count is drawn (a crop may hold none of the print's)."""
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    reach = rng.uniform(0.15, 0.5) * min(height, width)
    dist = np.full((height, width), np.inf, np.float32)
    for d in (rows, height - 1 - rows, cols, width - 1 - cols):
        if rng.random() < 0.5:
            dist = np.minimum(dist, np.broadcast_to(d, (height, width)))
    if not np.isfinite(dist).any():
        return np.zeros((height, width), np.float32)
    return np.clip(1.0 - dist / reach, 0, 1)


def _cell_edges(rng, height: int, width: int, cell: float, warp: float) -> np.ndarray:
    """(H, W) bool: the boundaries of a Voronoi network of cells about `cell` px across, its
    lines bent by a smooth warp of up to `warp` px (cracks are never straight)."""
    count = max(3, int(height * width / cell**2 * rng.uniform(0.7, 1.3)))
    seeds = np.full((height, width), 255, np.uint8)
    seeds[rng.integers(0, height, count), rng.integers(0, width, count)] = 0
    _, labels = cv2.distanceTransformWithLabels(
        seeds, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = max(4.0, cell / 2)
    for amp in (warp, warp / 3):
        grid_x += amp * (smooth_field(rng, height, width, scale) - 0.5)
        grid_y += amp * (smooth_field(rng, height, width, scale) - 0.5)
        scale /= 3
    labels = cv2.remap(
        labels.astype(np.float32), grid_x, grid_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    )
    edges = np.zeros((height, width), bool)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    return edges


def _crack_cover(edges: np.ndarray, width_px: np.ndarray) -> np.ndarray:
    """Coverage of cracks along `edges` whose width (px) varies as `width_px` says."""
    dist = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(width_px / 2 - dist + 0.5, 0, 1)


def craquelure(rng, height: int, width: int) -> list[Layer]:
    """A connected network of branching cracks, cells 10-150 px, 1-6 px wide and varying along
    each crack, pale where the paper shows, sometimes with a darker rim; denser toward edges;
    covering 2-15% of the print."""
    cell = float(np.exp(rng.uniform(np.log(18), np.log(150))))
    edges = _cell_edges(rng, height, width, cell, rng.uniform(0.2, 0.6) * cell)
    if rng.random() < 0.6:  # finer cracks inside the cells
        edges |= _cell_edges(rng, height, width, cell * rng.uniform(0.2, 0.45), cell * 0.15) & (
            smooth_field(rng, height, width, cell / 3) < rng.uniform(0.1, 0.4)
        )
    thin, thick = (0.8, 2.5) if rng.random() < 0.7 else (1.5, 6.0)
    width_px = thin + (thick - thin) * smooth_field(rng, height, width, rng.uniform(8, 40))
    # keep a part of the network, in patches, more of it near the edges and corners, until it
    # covers the share drawn for this print
    patches = smooth_field(rng, height, width, max(6.0, cell / 2))
    near_edge = _edge_weight(height, width, rng) * rng.uniform(0.2, 0.6)
    target = rng.uniform(0.02, 0.15)
    share = rng.uniform(0.3, 0.9)
    for _ in range(6):
        cover = _crack_cover(edges & (patches < share + near_edge), width_px)
        if cover.mean() <= target:
            break
        share *= 0.6
        near_edge *= 0.6
    if not cover.any():
        return []
    cover *= 0.7 + 0.3 * smooth_field(rng, height, width, 3.0)  # broken paper, not ink
    layers: list[Layer] = []
    if rng.random() < 0.4:  # a darker rim where the emulsion lifted
        kept = cover > 0.5
        rim = np.clip(cv2.dilate(kept.astype(np.float32), np.ones((3, 3), np.uint8)) - cover, 0, 1)
        dark = np.array([60, 45, 30], np.float32) * rng.uniform(0.5, 1.5)
        layers.append((rim, dark, rng.uniform(0.15, 0.4)))
    layers.append((cover, paper(rng), rng.uniform(0.75, 1.0)))
    return layers


def _flake(sheet: np.ndarray, rng, cx: float, cy: float, radius: float) -> None:
    """An irregular filled polygon about `radius` px across at (cx, cy) on a SUPER canvas."""
    corners = int(rng.integers(6, 13))
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    radii = radius * rng.uniform(0.35, 1.25, corners)
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    cv2.fillPoly(sheet, [np.round(points * SUPER).astype(np.int32)], 1.0, cv2.LINE_AA)


def flaking(rng, height: int, width: int) -> list[Layer]:
    """Irregular pale flakes where emulsion came away: along a crack network and at edges."""
    layers = craquelure(rng, height, width) if rng.random() < 0.7 else []
    along = layers[-1][0] > 0.5 if layers else np.zeros((height, width), bool)
    sheet = canvas(height, width)
    area = height * width / 65536
    ys, xs = np.nonzero(along)
    for _ in range(int(rng.integers(2, 25) * area) + 1):
        if len(ys) and rng.random() < 0.75:
            k = int(rng.integers(len(ys)))
            cx, cy = float(xs[k]), float(ys[k])
        else:  # at an edge of the print
            edge = int(rng.integers(4))
            along_edge = rng.uniform(0, width if edge < 2 else height)
            inset = rng.uniform(0, 6)
            cx, cy = {
                0: (along_edge, inset),
                1: (along_edge, height - inset),
                2: (inset, along_edge),
                3: (width - inset, along_edge),
            }[edge]
        _flake(sheet, rng, cx, cy, float(np.exp(rng.uniform(np.log(1.5), np.log(22)))))
    cover = down(sheet, height, width)
    cover = np.clip(cover * (0.85 + 0.15 * smooth_field(rng, height, width, 2.0)), 0, 1)
    return [*layers, (cover, paper(rng), 1.0)]


def folds(rng, height: int, width: int) -> list[Layer]:
    """A crease across the whole print that branches into cracks, with a faint shaded band."""
    straight = rng.random() < 0.7  # folds follow the print's sides more often than not
    heading = (rng.integers(2) * math.pi / 2 if straight else 0) + rng.uniform(-0.3, 0.3)
    if not straight:
        heading = rng.uniform(0, math.pi)
    curve = across(rng, height, width, heading, 16, 0.03)
    crack = canvas(height, width)
    polyline(
        crack, curve, rng.uniform(1.0, 3.5), (int(rng.integers(8, 30)), int(rng.integers(0, 3)))
    )
    for _ in range(int(rng.integers(2, 12))):  # branches: short cracks leaving the fold
        x, y = curve[int(rng.integers(len(curve)))]
        if not (-20 <= x <= width + 20 and -20 <= y <= height + 20):
            continue
        turn = heading + rng.choice([-1, 1]) * rng.uniform(0.3, 1.3)
        twig = walk(rng, height, width, rng.uniform(8, 90), 6, 0.6, start=(x, y), heading=turn)
        polyline(crack, smooth_curve(twig), rng.uniform(0.7, 2.0))
    band = canvas(height, width)
    polyline(band, curve, rng.uniform(4, 12))
    band = cv2.GaussianBlur(down(band, height, width), (0, 0), 2.5)
    shade = np.full(3, rng.choice([30.0, 230.0]), np.float32)
    fade = 0.55 + 0.45 * smooth_field(rng, height, width, 40)
    return [
        (np.clip(band, 0, 1) * 0.12, shade, 1.0),  # the shading: too faint to count as damage
        (np.clip(down(crack, height, width), 0, 1) * fade, paper(rng), rng.uniform(0.75, 1.0)),
    ]


def borders(rng, height: int, width: int) -> list[Layer]:
    """Worn borders and corners: an edge band eaten away irregularly with chips, rounded
    corner wear, and abrasion (a broad patch of fine scuffs)."""
    sheet = canvas(height, width)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    cover = np.zeros((height, width), np.float32)
    for edge in range(4):
        if rng.random() > 0.45:
            continue
        depth = rng.uniform(1, 10) * (
            0.4 + 1.2 * smooth_field(rng, height, width, rng.uniform(6, 40))
        )
        d = (rows, height - 1 - rows, cols, width - 1 - cols)[edge]
        cover = np.maximum(cover, np.clip(depth - d + 0.5, 0, 1))
        for _ in range(int(rng.integers(0, 6))):  # chips: bites out of the edge
            along = rng.uniform(0, width if edge < 2 else height)
            x, y = {0: (along, 0), 1: (along, height), 2: (0, along), 3: (width, along)}[edge]
            _flake(sheet, rng, x, y, rng.uniform(2, 16))
    for corner in range(4):
        if rng.random() > 0.3:
            continue
        radius = rng.uniform(5, 0.25 * min(height, width))
        cx = radius if corner in (0, 3) else width - radius
        cy = radius if corner in (0, 1) else height - radius
        outside = (np.sign(cols - cx) == (1 if corner in (1, 2) else -1)) & (
            np.sign(rows - cy) == (1 if corner in (2, 3) else -1)
        )
        rough = radius * (1 + 0.08 * (smooth_field(rng, height, width, 5) - 0.5))
        dist = np.hypot(cols - cx, rows - cy)
        cover = np.maximum(cover, np.where(outside, np.clip(dist - rough + 0.5, 0, 1), 0))
    cover = np.maximum(cover, down(sheet, height, width))
    layers: list[Layer] = []
    if cover.any():
        pick = rng.random()
        colour = paper(rng) if pick < 0.7 else np.full(3, rng.uniform(10, 60), np.float32)
        layers.append((np.clip(cover, 0, 1), colour, 1.0))
    if rng.random() < 0.5:  # abrasion: fine scuffs in a broad patch
        scuffs = canvas(height, width)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        spread = rng.uniform(0.1, 0.4) * min(height, width)
        heading = rng.uniform(0, math.pi)
        for _ in range(int(rng.integers(15, 120))):
            start = (cx + rng.normal(0, spread), cy + rng.normal(0, spread))
            own = heading + rng.normal(0, 0.4)
            path = walk(rng, height, width, rng.uniform(2, 18), 3, 0.2, start=start, heading=own)
            polyline(scuffs, smooth_curve(path), rng.uniform(0.5, 1.3))
        layers.append(
            (np.clip(down(scuffs, height, width), 0, 1), paper(rng), rng.uniform(0.45, 0.9))
        )
    return layers


def foxing(rng, height: int, width: int) -> list[Layer]:
    """Brown foxing spots in clusters, a water stain's tide line, sometimes silver mirroring."""
    layers: list[Layer] = []
    brown = np.array([rng.uniform(120, 190), rng.uniform(80, 130), rng.uniform(30, 80)], np.float32)
    area = height * width / 65536
    sheet = canvas(height, width)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    spread = rng.uniform(0.1, 0.5) * max(height, width)
    for _ in range(int(rng.integers(3, 40) * area) + 1):
        x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
        r = float(np.exp(rng.uniform(np.log(1.0), np.log(8.0))))
        cv2.circle(
            sheet, (round(x * SUPER), round(y * SUPER)), round(r * SUPER), 1.0, -1, cv2.LINE_AA
        )
    spots = cv2.GaussianBlur(down(sheet, height, width), (0, 0), rng.uniform(0.5, 1.5))
    layers.append((np.clip(spots * 1.3, 0, 1), brown, rng.uniform(0.45, 0.9)))
    if rng.random() < 0.5:  # a tide line: the rim a drying drop of water leaves
        line = canvas(height, width)
        radius = rng.uniform(0.2, 0.7) * min(height, width)
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        angles = np.linspace(0, 2 * math.pi, 48)
        wobble = 1 + 0.25 * np.interp(angles, np.linspace(0, 2 * math.pi, 9), rng.normal(0, 1, 9))
        ring = np.stack(
            [x0 + radius * wobble * np.cos(angles), y0 + radius * wobble * np.sin(angles)], 1
        )
        polyline(line, smooth_curve(ring), rng.uniform(1.0, 3.0))
        ring_cover = cv2.GaussianBlur(down(line, height, width), (0, 0), 0.7)
        layers.append((np.clip(ring_cover * 1.5, 0, 1), brown * 0.8, rng.uniform(0.4, 0.8)))
    if rng.random() < 0.25:  # silver mirroring: a faint bluish sheen toward the edges
        sheen = _edge_weight(height, width, rng) * smooth_field(rng, height, width, 30)
        layers.append((sheen, np.array([170, 180, 200], np.float32), rng.uniform(0.1, 0.18)))
    return layers


def pinholes(rng, height: int, width: int) -> list[Layer]:
    """Specks and pinholes at a high-resolution scan's scale: hundreds of 1-3 px dots, mostly
    pale, some in clusters."""
    layers: list[Layer] = []
    area = height * width / 65536
    for dark in (False, True):
        if dark and rng.random() < 0.6:
            continue
        sheet = canvas(height, width)
        count = int(rng.uniform(10, 150) * area * (0.3 if dark else 1.0))
        clustered = rng.random() < 0.4
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        for _ in range(count):
            if clustered:
                x = cx + rng.normal(0, 0.15 * width)
                y = cy + rng.normal(0, 0.15 * height)
            else:
                x, y = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.choice([0.5, 0.75, 1.0, 1.5], p=[0.35, 0.3, 0.25, 0.1])
            cv2.circle(
                sheet, (round(x * SUPER), round(y * SUPER)), round(r * SUPER), 1.0, -1, cv2.LINE_AA
            )
        colour = np.full(3, rng.uniform(0, 50), np.float32) if dark else paper(rng)
        layers.append((np.clip(down(sheet, height, width), 0, 1), colour, rng.uniform(0.7, 1.0)))
    return layers
