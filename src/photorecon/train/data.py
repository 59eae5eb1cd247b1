"""Training samples drawn afresh every step from whole photos, and a fixed validation set."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from photorecon.damage import parse_damage_mix, render_damage
from photorecon.data.crops import augment, challenge_sample, downscale, random_crop, random_rects
from photorecon.errors import PhotoreconError
from photorecon.imageio import read_image
from photorecon.masks import (
    boxes_to_mask,
    check_kind,
    draw_holes,
    draw_kind,
    generator_from,
    parse_hole_mix,
    random_boxes,
)
from photorecon.train.config import DataConfig

if TYPE_CHECKING:  # polars-free at run time: training machines may lack it
    from photorecon.challenge import MaskedEntry


def load_photos(paths: list[str], max_side: int) -> list[np.ndarray]:
    """Decode photos once, shrunk to `max_side`, so workers share them copy-on-write."""
    return [downscale(read_image(p), max_side) for p in paths]


def legacy_boxes(rng: np.random.Generator, height: int, width: int, cfg: DataConfig) -> list:
    """The challenge's squares, or (with probability random_rect_prob) 1-4 random rectangles."""
    if rng.random() < cfg.random_rect_prob:
        return random_rects(rng, height, width)
    return random_boxes(rng, height, width, cfg.boxes, cfg.box_size)


def sample_mask(rng: np.random.Generator, height: int, width: int, cfg: DataConfig) -> np.ndarray:
    """One (H, W) float32 hole mask as `cfg.holes` says (legacy boxes when it is empty)."""
    if not cfg.holes:
        return boxes_to_mask(height, width, legacy_boxes(rng, height, width, cfg))
    mix = parse_hole_mix(cfg.holes)
    return draw_holes(mix, generator_from(rng), 1, height, width, cfg.box_size)[0, 0].numpy()


def val_kinds(cfg: DataConfig) -> list[str]:
    """The hole kinds a validation set cycles through."""
    kinds = list(cfg.val_holes) or (list(parse_hole_mix(cfg.holes)) if cfg.holes else ["squares"])
    return [check_kind(kind) for kind in kinds]


class IndexedStream(Dataset):
    """A stream of `length` samples, item i drawn from its own generator seeded by (seed, i)."""

    def __init__(self, cfg: DataConfig, seed: int, length: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return self.length


class HoleCut:
    """A photo -> a random crop, flipped and turned, with random holes: (uint8 (3,S,S), float
    mask (1,S,S)); `scenes` (optional) stand in for the photo with probability `cfg.scenes`."""

    def __init__(self, cfg: DataConfig, scenes: list[np.ndarray] | None = None) -> None:
        self.cfg, self.scenes = cfg, scenes

    def __call__(self, photo: np.ndarray, rng: np.random.Generator):
        cfg = self.cfg
        if self.scenes and rng.random() < cfg.scenes:
            photo = self.scenes[int(rng.integers(len(self.scenes)))]
        crop = augment(random_crop(photo, rng, cfg.size), rng, cfg.flips, cfg.rot90)
        mask = sample_mask(rng, cfg.size, cfg.size, cfg)
        return torch.from_numpy(crop).permute(2, 0, 1), torch.from_numpy(mask)[None]


class DamageCut:
    """A photo -> a random crop, flipped and turned, aged, damaged (or left clean with
    probability `clean_share`) and scanned (`photorecon.damage`), with its true damage mask."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg, self.mix = cfg, parse_damage_mix(cfg.damage)

    def __call__(self, photo: np.ndarray, rng: np.random.Generator):
        cfg = self.cfg
        crop = augment(random_crop(photo, rng, cfg.size), rng, cfg.flips, cfg.rot90)
        clean = bool(rng.random() < cfg.clean_share)
        sample = render_damage(crop, rng, self.mix, clean=clean, lookalikes=cfg.lookalikes)
        mask = torch.from_numpy(sample.mask.astype(np.float32))[None]
        return torch.from_numpy(sample.image).permute(2, 0, 1), mask


class RandomHoles(IndexedStream):
    """Item i: a random crop of a random photo with random holes; deterministic in (seed, i)."""

    def __init__(self, photos: list[np.ndarray], cfg: DataConfig, seed: int, length: int) -> None:
        super().__init__(cfg, seed, length)
        self.photos = photos
        self.cut = HoleCut(cfg)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        return self.cut(self.photos[int(rng.integers(len(self.photos)))], rng)


def fixed_set(
    photos: list[np.ndarray], cfg: DataConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Validation samples fixed by the seed: images uint8 (N,3,H,W), masks (N,1,H,W) and each
    sample's hole kind, the kinds of `val_kinds` taken in turn (squares: the challenge's)."""
    kinds = val_kinds(cfg)
    images, masks, names = [], [], []
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, 1_000_003, i])
        for j in range(cfg.val_crops_per_photo):
            kind = kinds[(i * cfg.val_crops_per_photo + j) % len(kinds)]
            if kind == "squares":
                crop, boxes = challenge_sample(photo, rng, cfg.size, cfg.box_size, cfg.boxes)
                mask = torch.from_numpy(boxes_to_mask(cfg.size, cfg.size, boxes))[None]
            else:
                crop = random_crop(photo, rng, cfg.size)
                mask = draw_kind(kind, generator_from(rng), 1, cfg.size, cfg.size, cfg.box_size)[0]
            images.append(torch.from_numpy(crop).permute(2, 0, 1))
            masks.append(mask)
            names.append(kind)
    return torch.stack(images), torch.stack(masks), names


SCENE_SIDES = (512, 768)  # (height, width) of the synthetic scenes added to photos
SCENE_HOLES = ("scratches", "brush")  # thin and thick strokes on the validation scenes


def scene_photos(cfg: DataConfig, photos: int) -> list[np.ndarray]:
    """The synthetic smooth scenes that join `photos` training photos: `cfg.scenes` of the
    whole, at most `max_side` on the long side, fixed by the data seed."""
    from photorecon.data.scenes import scene_bank

    if not 0.0 <= cfg.scenes < 1.0:
        raise PhotoreconError(f"data.scenes must be in [0, 1), got {cfg.scenes}")
    count = round(photos * cfg.scenes / (1.0 - cfg.scenes))
    height, width = (min(side, cfg.max_side) for side in SCENE_SIDES)
    return scene_bank([cfg.seed, 31_337], count, height, width)


def fixed_scene_set(cfg: DataConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """`cfg.val_scenes` synthetic scenes (a bank apart from training's), one crop each with thin
    or thick strokes in turn, labelled smooth-scratches / smooth-brush."""
    from photorecon.data.scenes import scene_bank

    height, width = (min(side, cfg.max_side) for side in SCENE_SIDES)
    images, masks, names = [], [], []
    for i, scene in enumerate(scene_bank([seed, 47_111], cfg.val_scenes, height, width)):
        rng = np.random.default_rng([seed, 3_000_017, i])
        kind = SCENE_HOLES[i % len(SCENE_HOLES)]
        mask = draw_kind(kind, generator_from(rng), 1, cfg.size, cfg.size, cfg.box_size)[0]
        images.append(torch.from_numpy(random_crop(scene, rng, cfg.size)).permute(2, 0, 1))
        masks.append(mask)
        names.append(f"smooth-{kind}")
    return torch.stack(images), torch.stack(masks), names


class DamagedCrops(IndexedStream):
    """Item i: a random crop of a random photo, aged, damaged (or left clean with probability
    `clean_share`) and scanned (`photorecon.damage`), with its true damage mask; deterministic
    in (seed, i)."""

    def __init__(self, photos: list[np.ndarray], cfg: DataConfig, seed: int, length: int) -> None:
        super().__init__(cfg, seed, length)
        self.photos = photos
        self.cut = DamageCut(cfg)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        return self.cut(self.photos[int(rng.integers(len(self.photos)))], rng)


def fixed_damage_set(
    photos: list[np.ndarray], cfg: DataConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Validation samples for a damage detector, fixed by the seed: damaged images uint8
    (N,3,H,W), true masks (N,1,H,W), and each sample's label, "damaged" or "clean" (every
    fourth crop of a photo is left clean)."""
    mix = parse_damage_mix(cfg.damage)
    images, masks, labels = [], [], []
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, 2_000_003, i])
        for j in range(cfg.val_crops_per_photo):
            clean = j % 4 == 3
            sample = render_damage(random_crop(photo, rng, cfg.size), rng, mix, clean=clean)
            images.append(torch.from_numpy(sample.image).permute(2, 0, 1))
            masks.append(torch.from_numpy(sample.mask.astype(np.float32))[None])
            labels.append("clean" if clean else "damaged")
    return torch.stack(images), torch.stack(masks), labels


class SplitPairs(IndexedStream):
    """Masked/original pairs of a split folder, epoch after epoch in a seeded order.

    Item g is sample `perm_epoch[g % n]` of epoch `g // n`; augmentation (seed 002's resize and
    random crop, flips, rotations) moves the holes with the pixels. Holes are the listed boxes or,
    with `fresh_boxes`, drawn anew for every item.
    """

    def __init__(
        self,
        originals: list[np.ndarray],
        entries: list[MaskedEntry],
        cfg: DataConfig,
        seed: int,
        length: int,
    ) -> None:
        super().__init__(cfg, seed, length)
        self.originals = originals
        self.entries = entries

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        n = len(self.originals)
        epoch, pos = divmod(index, n)
        sample = int(np.random.default_rng([self.seed, 7, epoch]).permutation(n)[pos])
        rng = np.random.default_rng([self.seed, index])
        image = self.originals[sample]
        height, width = image.shape[:2]
        if cfg.fresh_boxes:
            mask = sample_mask(rng, height, width, cfg)
        else:
            mask = boxes_to_mask(height, width, list(self.entries[sample].boxes))
        both = np.dstack([image, (mask * 255).astype(np.uint8)])
        if cfg.resize_crop:
            both = cv2.resize(
                both, (cfg.resize_crop, cfg.resize_crop), interpolation=cv2.INTER_LINEAR
            )
        if both.shape[:2] != (cfg.size, cfg.size):
            top = int(rng.integers(0, both.shape[0] - cfg.size + 1))
            left = int(rng.integers(0, both.shape[1] - cfg.size + 1))
            both = both[top : top + cfg.size, left : left + cfg.size]
        both = augment(both, rng, cfg.flips, cfg.rot90)
        image, mask = both[..., :3], (both[..., 3] > 127).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), torch.from_numpy(
            mask
        )[None]


def _restore_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Most of a photo: shrunk so its short side is 1-1.6 crops, then a crop of `size` (a
    restorer's corrections come from the whole photo, so it trains on nearly whole ones)."""
    short = min(photo.shape[:2])
    scale = size * rng.uniform(1.0, 1.6) / short
    if scale < 1:
        photo = cv2.resize(
            photo,
            (max(size, round(photo.shape[1] * scale)), max(size, round(photo.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
    return random_crop(photo, rng, size)


def aged_pair(
    photo: np.ndarray, rng: np.random.Generator, untouched_share: float, fading: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(aged, target) for a restorer: untouched with probability `untouched_share`, else aged
    by `photorecon.damage.fading` with probability `fading` and by
    `photorecon.damage.look.restoration_pair` otherwise (with no fading, exactly its draws)."""
    from photorecon.damage.look import restoration_pair

    if not fading:
        return restoration_pair(photo, rng, untouched_share)
    if rng.random() < untouched_share:
        return photo, photo
    if rng.random() < fading:
        from photorecon.damage.fading import fade

        return fade(photo, rng)
    return restoration_pair(photo, rng, 0.0)


class AgedCrops(IndexedStream):
    """Item i: most of a random photo, flipped and turned, aged and scanned as an old print
    (`photorecon.damage.look.restoration_pair`), with what a restorer should give back: (aged
    uint8 (3,S,S), target uint8 (3,S,S)); deterministic in (seed, i)."""

    def __init__(self, photos: list[np.ndarray], cfg: DataConfig, seed: int, length: int) -> None:
        super().__init__(cfg, seed, length)
        self.photos = photos

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        rng = np.random.default_rng([self.seed, index])
        photo = self.photos[int(rng.integers(len(self.photos)))]
        crop = augment(_restore_crop(photo, rng, cfg.size), rng, cfg.flips, cfg.rot90)
        aged, target = aged_pair(np.ascontiguousarray(crop), rng, cfg.untouched_share, cfg.fading)
        return torch.from_numpy(aged).permute(2, 0, 1), torch.from_numpy(target).permute(2, 0, 1)


def fixed_restore_set(
    photos: list[np.ndarray], cfg: DataConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Validation samples for a restorer, fixed by the seed: aged images and their targets,
    uint8 (N,3,H,W), and each sample's label, "aged" or "untouched" (every fourth crop of a
    photo is left as it was)."""
    images, targets, labels = [], [], []
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, 4_000_037, i])
        for j in range(cfg.val_crops_per_photo):
            untouched = j % 4 == 3
            crop = _restore_crop(photo, rng, cfg.size)
            aged, target = aged_pair(crop, rng, 1.0 if untouched else 0.0, cfg.fading)
            images.append(torch.from_numpy(np.ascontiguousarray(aged)).permute(2, 0, 1))
            targets.append(torch.from_numpy(np.ascontiguousarray(target)).permute(2, 0, 1))
            labels.append("untouched" if untouched else "aged")
    return torch.stack(images), torch.stack(targets), labels
