"""Training samples drawn afresh every step from whole photos, and a fixed validation set."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from photorecon.data.crops import augment, challenge_sample, downscale, random_crop, random_rects
from photorecon.imageio import read_image
from photorecon.masks import boxes_to_mask, random_boxes
from photorecon.train.config import DataConfig

if TYPE_CHECKING:  # polars-free at run time: training machines may lack it
    from photorecon.challenge import MaskedEntry


def load_photos(paths: list[str], max_side: int) -> list[np.ndarray]:
    """Decode photos once, shrunk to `max_side`, so workers share them copy-on-write."""
    return [downscale(read_image(p), max_side) for p in paths]


def draw_holes(rng: np.random.Generator, height: int, width: int, cfg: DataConfig) -> list:
    """The challenge's squares, or (with probability random_rect_prob) 1-4 random rectangles."""
    if rng.random() < cfg.random_rect_prob:
        return random_rects(rng, height, width)
    return random_boxes(rng, height, width, cfg.boxes, cfg.box_size)


class IndexedStream(Dataset):
    """A stream of `length` samples, item i drawn from its own generator seeded by (seed, i)."""

    def __init__(self, cfg: DataConfig, seed: int, length: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return self.length


class RandomHoles(IndexedStream):
    """Item i: a random crop of a random photo with random holes; deterministic in (seed, i)."""

    def __init__(self, photos: list[np.ndarray], cfg: DataConfig, seed: int, length: int) -> None:
        super().__init__(cfg, seed, length)
        self.photos = photos

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        rng = np.random.default_rng([self.seed, index])
        photo = self.photos[int(rng.integers(len(self.photos)))]
        crop = augment(random_crop(photo, rng, cfg.size), rng, cfg.flips, cfg.rot90)
        boxes = draw_holes(rng, cfg.size, cfg.size, cfg)
        mask = boxes_to_mask(cfg.size, cfg.size, boxes)
        return torch.from_numpy(crop).permute(2, 0, 1), torch.from_numpy(mask)[None]


def fixed_set(
    photos: list[np.ndarray], cfg: DataConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Challenge-style samples fixed by the seed: images uint8 (N,3,H,W), masks (N,1,H,W), boxes."""
    images, masks, all_boxes = [], [], []
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, 1_000_003, i])
        for _ in range(cfg.val_crops_per_photo):
            crop, boxes = challenge_sample(photo, rng, cfg.size, cfg.box_size, cfg.boxes)
            images.append(torch.from_numpy(crop).permute(2, 0, 1))
            masks.append(torch.from_numpy(boxes_to_mask(cfg.size, cfg.size, boxes))[None])
            all_boxes.append(boxes)
    return torch.stack(images), torch.stack(masks), all_boxes


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
            boxes = draw_holes(rng, height, width, cfg)
        else:
            boxes = list(self.entries[sample].boxes)
        mask = boxes_to_mask(height, width, boxes)
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
