"""Old-photo damage drawn onto clean photos, with its true mask: what the damage detector learns.

Each kind is drawn as a coverage layer (antialiased: shapes are drawn at 4x and area-averaged
down, so a 0.7-px hairline covers its pixels partly) with a colour and an opacity, composited
over the photo. The photo is first aged (faded, tinted, sometimes black-and-white) and the
result scanned (softness, grain, JPEG), for clean and damaged photos alike, so a detector
learns damage and not a drawing style. The true mask is where the damage visibly changed the
photo. Everything is NumPy/OpenCV, drawn from an explicit `numpy.random.Generator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from photorecon.errors import PhotoreconError
from photorecon.masks import parse_mix

SUPER = 4  # shapes are drawn at this many times the resolution, then area-averaged down
VISIBLE = 6.0  # a damaged pixel changed by at least this many levels (of 255) is in the mask
MIN_COVER = 0.2  # ... and has at least this much of the damage's coverage

DAMAGE_HELP = {
    "scratches": "long curved scratches, 1-5 px, light or dark, sometimes broken",
    "hairlines": "film hairlines: very thin, long, nearly straight, often parallel",
    "dust": "dust specks 1-7 px and short lint fibres, light or dark",
    "blotches": "paper loss and stains: irregular patches with rough edges",
    "tears": "torn or missing corners and edges",
    "creases": "fold lines across the print: a cracked light line with a shaded edge",
}
DAMAGE_KINDS = tuple(DAMAGE_HELP)
DEFAULT_MIX = {
    "scratches": 0.3,
    "hairlines": 0.15,
    "dust": 0.25,
    "blotches": 0.1,
    "tears": 0.08,
    "creases": 0.12,
}


@dataclass(frozen=True)
class Damaged:
    """A rendered sample: the damaged photo, the same photo aged and scanned without the damage
    (the same softness, grain and JPEG: away from the damage the two are identical), and the
    true mask (bool, True = damaged)."""

    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray


def parse_damage_mix(spec: str | dict | None) -> dict[str, float]:
    """`{"scratches": 2, "dust": 1}` or "scratches:2,dust" -> normalised weights of known kinds
    (None or empty: the default mix)."""
    if spec is None or spec == {} or spec == "":
        return dict(DEFAULT_MIX)
    return parse_mix(spec, DAMAGE_KINDS, "damage")


# --- shapes: coverage layers in [0, 1] at the photo's size ----------------------------------


def _canvas(height: int, width: int) -> np.ndarray:
    return np.zeros((height * SUPER, width * SUPER), np.float32)


def _down(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def _smooth_curve(points: np.ndarray, samples: int = 64) -> np.ndarray:
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


def _walk(rng, height, width, length, vertices, turn, start=None, heading=None) -> np.ndarray:
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


def _polyline(canvas: np.ndarray, curve: np.ndarray, thickness: float, dashes=None) -> None:
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


def _smooth_field(rng, height: int, width: int, scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] with features about `scale` px across."""
    small = (max(2, round(height / scale)), max(2, round(width / scale)))
    field = rng.random(small).astype(np.float32)
    field = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def _tone(rng, dark_share: float) -> tuple[np.ndarray, bool]:
    """A damage colour: near white (emulsion gone, paper showing) or near black (dirt, ink)."""
    if rng.random() < dark_share:
        grey = rng.uniform(0, 60)
        return np.array([grey, grey, grey * rng.uniform(0.8, 1.0)], np.float32), True
    grey = rng.uniform(205, 255)
    tint = rng.uniform(0.9, 1.0)  # paper is often a little yellow
    return np.array([grey, grey, grey * tint], np.float32)[::-1].copy(), False


Layer = tuple[np.ndarray, np.ndarray, float]  # coverage (H, W), colour (3,) RGB, opacity


def scratches(rng, height: int, width: int) -> list[Layer]:
    side = min(height, width)
    layers = []
    colour, _ = _tone(rng, 0.3)
    canvas = _canvas(height, width)
    for _ in range(int(rng.integers(1, 7))):
        length = rng.uniform(0.3, 1.3) * side
        walk = _walk(rng, height, width, length, int(rng.integers(3, 7)), rng.uniform(0.05, 0.5))
        thickness = float(rng.choice([1, 1.5, 2, 3, 4, 5], p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05]))
        dashes = None
        if rng.random() < 0.3:
            dashes = (int(rng.integers(4, 20)), int(rng.integers(1, 6)))
        _polyline(canvas, _smooth_curve(walk), thickness, dashes)
    cover = _down(canvas, height, width)
    # scratches fade in and out along their length
    fade = 0.45 + 0.55 * _smooth_field(rng, height, width, rng.uniform(20, 80))
    layers.append((np.clip(cover, 0, 1) * fade, colour, rng.uniform(0.65, 1.0)))
    return layers


def hairlines(rng, height: int, width: int) -> list[Layer]:
    canvas = _canvas(height, width)
    colour, _ = _tone(rng, 0.4)
    heading = rng.choice([math.pi / 2, rng.uniform(0, math.pi)], p=[0.6, 0.4])
    for _ in range(int(rng.integers(1, 9))):
        start = (rng.uniform(0, width), rng.uniform(0, height))
        own = heading + rng.normal(0, 0.05)
        length = rng.uniform(0.4, 1.5) * max(height, width)
        back = (start[0] - 0.5 * length * math.cos(own), start[1] - 0.5 * length * math.sin(own))
        walk = _walk(rng, height, width, length, 5, 0.03, start=back, heading=own)
        _polyline(canvas, _smooth_curve(walk), rng.uniform(0.6, 1.4))
    cover = np.clip(_down(canvas, height, width), 0, 1)
    fade = 0.5 + 0.5 * _smooth_field(rng, height, width, rng.uniform(30, 120))
    return [(cover * fade, colour, rng.uniform(0.5, 0.95))]


def dust(rng, height: int, width: int) -> list[Layer]:
    layers = []
    area = height * width / 65536  # specks per 256x256
    for dark in (False, True):
        canvas = _canvas(height, width)
        count = int(rng.integers(3, 60) * area) if rng.random() < 0.8 else 0
        for _ in range(count):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.choice([0.5, 1, 1.5, 2, 3, 3.5], p=[0.25, 0.3, 0.2, 0.12, 0.08, 0.05])
            axes = (max(1, round(r * SUPER * rng.uniform(0.6, 1.0))), max(1, round(r * SUPER)))
            centre = (round(cx * SUPER), round(cy * SUPER))
            angle = rng.uniform(0, 180)
            cv2.ellipse(canvas, centre, axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(0, 4) * area)):  # lint: short curly fibres
            walk = _walk(rng, height, width, rng.uniform(6, 30), 5, 1.0)
            _polyline(canvas, _smooth_curve(walk), rng.uniform(0.8, 1.6))
        if canvas.any():
            colour = _tone(rng, 1.0 if dark else 0.0)[0]
            layers.append((np.clip(_down(canvas, height, width), 0, 1), colour, 1.0))
    return layers


def _rough_blob(rng, height: int, width: int, size: float) -> np.ndarray:
    """(H, W) float coverage of an irregular patch about `size` px across, with rough edges."""
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    dist = np.hypot((rows - cy) / rng.uniform(0.5, 1.0), cols - cx) / (size / 2)
    rough = _smooth_field(rng, height, width, max(4.0, size / 4)) - 0.5
    fine = _smooth_field(rng, height, width, 3.0) - 0.5
    level = dist + 0.8 * rough + 0.15 * fine
    return np.clip((1.0 - level) * 3.0, 0, 1)


def blotches(rng, height: int, width: int) -> list[Layer]:
    layers = []
    side = min(height, width)
    for _ in range(int(rng.integers(1, 4))):
        cover = _rough_blob(rng, height, width, rng.uniform(0.04, 0.22) * side)
        if rng.random() < 0.7:  # paper loss: opaque, paper-coloured, a little textured
            colour, _ = _tone(rng, 0.0)
            texture = 0.85 + 0.15 * _smooth_field(rng, height, width, 2.0)
            layers.append((cover * texture, colour, 1.0))
        else:  # a stain or mould: dark-brownish, partly transparent
            tint = np.array([rng.uniform(40, 110), rng.uniform(30, 80), rng.uniform(10, 50)])
            layers.append((cover, tint.astype(np.float32), rng.uniform(0.6, 0.9)))
    return layers


def tears(rng, height: int, width: int) -> list[Layer]:
    """A piece missing from a corner or an edge, cut along a jagged line."""
    canvas = _canvas(height, width)
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
        line = _jagged(rng, a, b)
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
        line = np.concatenate([_jagged(rng, a, mid), _jagged(rng, mid, b)[1:]])
        poly = line
    cv2.fillPoly(canvas, [np.round(poly * SUPER).astype(np.int32)], 1.0, cv2.LINE_AA)
    cover = np.clip(_down(canvas, height, width), 0, 1)
    pick = rng.random()
    if pick < 0.5:
        colour = _tone(rng, 0.0)[0]  # the white backing or the album page
    elif pick < 0.8:
        colour = np.full(3, rng.uniform(0, 40), np.float32)  # a black scanner lid
    else:
        colour = np.full(3, rng.uniform(90, 170), np.float32)  # grey card
    return [(cover, colour, 1.0)]


def _jagged(rng, a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def creases(rng, height: int, width: int) -> list[Layer]:
    """A fold across the print: a light crack (emulsion broken) with a faint shaded band."""
    side = max(height, width)
    heading = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    length = 2.5 * side
    start = (cx - 0.5 * length * math.cos(heading), cy - 0.5 * length * math.sin(heading))
    walk = _walk(rng, height, width, length, 12, 0.04, start=start, heading=heading)
    curve = _smooth_curve(walk)
    crack = _canvas(height, width)
    dashes = (int(rng.integers(6, 30)), int(rng.integers(0, 3)))
    _polyline(crack, curve, rng.uniform(1.0, 3.0), dashes)
    band = _canvas(height, width)
    _polyline(band, curve, rng.uniform(4, 10))
    band = cv2.GaussianBlur(_down(band, height, width), (0, 0), 2.0)
    fade = 0.5 + 0.5 * _smooth_field(rng, height, width, 40)
    colour, _ = _tone(rng, 0.15)
    shade = np.full(3, rng.choice([30.0, 230.0]), np.float32)
    return [
        (np.clip(band, 0, 1) * 0.12, shade, 1.0),  # the shading: too faint to count as damage
        (np.clip(_down(crack, height, width), 0, 1) * fade, colour, rng.uniform(0.7, 1.0)),
    ]


DRAW: dict[str, Callable[..., list[Layer]]] = {
    "scratches": scratches,
    "hairlines": hairlines,
    "dust": dust,
    "blotches": blotches,
    "tears": tears,
    "creases": creases,
}


# --- ageing and scanning: for clean and damaged photos alike -------------------------------


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


# --- the sample ---------------------------------------------------------------------------


def draw_layers(rng, height: int, width: int, mix: dict[str, float]) -> list[Layer]:
    """1-3 kinds of damage drawn from the weights `mix` (a kind may come twice)."""
    names = list(mix)
    weights = np.asarray([mix[n] for n in names], np.float64)
    picks = rng.choice(len(names), size=int(rng.integers(1, 4)), p=weights / weights.sum())
    layers: list[Layer] = []
    for k in picks:
        layers.extend(DRAW[names[int(k)]](rng, height, width))
    return layers


def composite_layers(print_: np.ndarray, layers: Sequence[Layer]) -> tuple[np.ndarray, np.ndarray]:
    """The print with the layers over it (float RGB) and the mask of visible damage (bool)."""
    out = print_.copy()
    for cover, colour, opacity in layers:
        alpha = (cover * opacity)[..., None]
        out = out * (1 - alpha) + colour.reshape(1, 1, 3) * alpha
    coverage = np.zeros(print_.shape[:2], np.float32)
    for cover, _, opacity in layers:
        coverage = np.maximum(coverage, cover * opacity)
    change = np.abs(out - print_).max(axis=2)
    return out, (coverage >= MIN_COVER) & (change >= VISIBLE)


def render_damage(
    photo: np.ndarray,
    rng: np.random.Generator,
    mix: dict[str, float] | None = None,
    clean: bool = False,
) -> Damaged:
    """Age, damage (unless `clean`) and scan an RGB uint8 photo; deterministic in `rng`."""
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise PhotoreconError(f"expected an RGB uint8 photo, got {photo.dtype} {photo.shape}")
    height, width = photo.shape[:2]
    look = draw_look(rng)
    print_ = age(photo, look)
    reference = scan(print_, look)
    if clean:
        return Damaged(reference, reference.copy(), np.zeros((height, width), bool))
    layers = draw_layers(rng, height, width, mix or DEFAULT_MIX)
    damaged, mask = composite_layers(print_, layers)
    return Damaged(scan(damaged, look), reference, mask)


def render_batch(
    photos: Sequence[np.ndarray],
    rng: np.random.Generator,
    mix: dict[str, float] | None = None,
    clean_share: float = 0.0,
) -> list[Damaged]:
    """`render_damage` over photos, each sample clean with probability `clean_share`."""
    return [render_damage(p, rng, mix, clean=bool(rng.random() < clean_share)) for p in photos]
