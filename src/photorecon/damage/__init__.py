"""Old-photo damage drawn onto clean photos, with its true mask: what the damage detector learns.

Each kind is drawn as a coverage layer (antialiased: shapes are drawn at 4x and area-averaged
down, so a 0.7-px hairline covers its pixels partly) with a colour and an opacity, composited
over the photo. The photo is first aged (black-and-white, sepia or faded colour, toward its
paper's tone, vignetted, on textured paper) and the result captured (a scanner, or a phone's
perspective, uneven light and glare; softness, grain, JPEG), for clean and damaged photos
alike, so a detector learns damage and not a drawing style. The true mask is where the damage
visibly changed the photo. Everything is NumPy/OpenCV, drawn from an explicit
`numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from photorecon.damage.kinds import blotches, creases, dust, hairlines, scratches, tears
from photorecon.damage.look import age, capture_warp, draw_look, scan, warp
from photorecon.damage.prints import borders, craquelure, flaking, folds, foxing, pinholes
from photorecon.damage.shapes import Layer
from photorecon.errors import PhotoreconError
from photorecon.masks import parse_mix

VISIBLE = 6.0  # a damaged pixel changed by at least this many levels (of 255) is in the mask
MIN_COVER = 0.2  # ... and has at least this much of the damage's coverage


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


@dataclass(frozen=True)
class Kind:
    """A kind of damage: how it is drawn, what it is, its weight in the default mix."""

    draw: Callable[..., list[Layer]]
    help: str
    weight: float


# The default mix: the kinds real prints show (../shared/real) beside the first six, which a
# detector trained on the new kinds alone found less well (scratches F1 0.74 -> 0.60 on val).
KINDS = {
    "scratches": Kind(
        scratches, "long curved scratches, 1-5 px, light or dark, sometimes broken", 0.14
    ),
    "hairlines": Kind(
        hairlines, "film hairlines: very thin, long, nearly straight, often parallel", 0.08
    ),
    "dust": Kind(dust, "dust specks 1-7 px and short lint fibres, light or dark", 0.1),
    "blotches": Kind(blotches, "paper loss and stains: irregular patches with rough edges", 0.1),
    "tears": Kind(tears, "torn or missing corners and edges", 0.07),
    "creases": Kind(creases, "a fold line: a cracked light line with a shaded edge", 0.05),
    "craquelure": Kind(
        craquelure,
        "a network of branching cracks (cells 10-150 px, 1-6 px wide), pale where the paper shows",
        0.16,
    ),
    "flaking": Kind(
        flaking, "pale flakes where the emulsion came away, along cracks and edges", 0.08
    ),
    "folds": Kind(folds, "a crease across the whole print branching into cracks", 0.06),
    "borders": Kind(borders, "worn, chipped borders, rounded corners, abrasion", 0.07),
    "foxing": Kind(foxing, "brown foxing spots, water tide lines, silver mirroring", 0.04),
    "pinholes": Kind(pinholes, "hundreds of 1-3 px specks and pinholes at a scan's scale", 0.05),
}
DAMAGE_KINDS = tuple(KINDS)
DAMAGE_HELP = {name: kind.help for name, kind in KINDS.items()}
DRAW = {name: kind.draw for name, kind in KINDS.items()}
DEFAULT_MIX = {name: kind.weight for name, kind in KINDS.items()}


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
    lookalikes: float = 0.0,
) -> Damaged:
    """Age, damage (unless `clean`) and scan an RGB uint8 photo; deterministic in `rng`. With
    probability `lookalikes` the scene first gets details that look like damage and are not
    (`lookalikes.scene_details`: never in the mask)."""
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise PhotoreconError(f"expected an RGB uint8 photo, got {photo.dtype} {photo.shape}")
    if lookalikes > 0 and rng.random() < lookalikes:  # no draw at 0: samples stay as they were
        from photorecon.damage.lookalikes import scene_details

        photo = scene_details(photo, rng)
    height, width = photo.shape[:2]
    look = draw_look(rng)
    print_ = age(photo, look)
    reference = scan(print_, look)
    if clean:
        return Damaged(reference, reference.copy(), np.zeros((height, width), bool))
    layers = draw_layers(rng, height, width, mix or DEFAULT_MIX)
    damaged, mask = composite_layers(print_, layers)
    mask = warp(mask, capture_warp(look, height, width), nearest=True)  # as the capture moved it
    return Damaged(scan(damaged, look), reference, mask)


def render_batch(
    photos: Sequence[np.ndarray],
    rng: np.random.Generator,
    mix: dict[str, float] | None = None,
    clean_share: float = 0.0,
) -> list[Damaged]:
    """`render_damage` over photos, each sample clean with probability `clean_share`."""
    return [render_damage(p, rng, mix, clean=bool(rng.random() < clean_share)) for p in photos]
