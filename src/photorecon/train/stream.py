"""Device-side training samples: photos decoded once into uint8 tensors, batches cut on the device.

The DataLoader path (`data.RandomHoles`) cuts one sample at a time on CPU workers; on a GPU that
caps training at what the workers can decode and resize. Here the photos live on the training
device as a small mip pyramid (each level half the previous, area-averaged once at start-up), and
every batch is a handful of batched tensor operations: pick photos and crop scales, gather a
window per sample at the pyramid level where the crop is 1-2x the output size, resample it with
one `grid_sample` (flips and 90-degree turns folded into the sampling grid) and draw the holes
with `photorecon.masks`. A batch depends only on (seed, step, rank), so runs resume exactly and
DDP ranks draw different samples without coordination.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from photorecon.masks import draw_holes, parse_hole_mix
from photorecon.train.config import DataConfig


def hole_mix(cfg: DataConfig) -> dict[str, float]:
    """`cfg.holes`, or for an empty one the closest mix to the legacy holes (squares, and
    random_rect_prob of random rectangles)."""
    if cfg.holes:
        return parse_hole_mix(cfg.holes)
    p = cfg.random_rect_prob
    return parse_hole_mix({"squares": 1 - p, "boxes": p} if p > 0 else {"squares": 1.0})


class PhotoCache:
    """Photos as uint8 tensors (N, H_l, W_l, 3) per pyramid level, zero-padded to the largest,
    with each photo's real size per level; on the training device (shared memory on a CPU)."""

    def __init__(self, photos: list[np.ndarray], device: torch.device, size: int) -> None:
        if not photos:
            raise ValueError("no photos to cache")
        longest = max(min(p.shape[:2]) for p in photos)
        count = max(1, math.floor(math.log2(max(longest / size, 1.0))) + 1)
        self.levels: list[torch.Tensor] = []
        sizes = []
        level_photos = list(photos)
        for level in range(count):
            if level:
                level_photos = [_half(p) for p in level_photos]
            height = max(p.shape[0] for p in level_photos)
            width = max(p.shape[1] for p in level_photos)
            stack = torch.zeros(len(photos), height, width, 3, dtype=torch.uint8)
            for i, p in enumerate(level_photos):
                stack[i, : p.shape[0], : p.shape[1]] = torch.from_numpy(p)
            self.levels.append(stack.share_memory_() if device.type == "cpu" else stack.to(device))
            sizes.append([p.shape[:2] for p in level_photos])
        # (N, levels, 2) heights and widths
        self.sizes = torch.tensor(sizes, dtype=torch.float32).permute(1, 0, 2).to(device)
        self.device = device

    @property
    def nbytes(self) -> int:
        return sum(t.numel() for t in self.levels)


def _half(photo: np.ndarray) -> np.ndarray:
    height, width = photo.shape[:2]
    size = (max(1, width // 2), max(1, height // 2))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA)


class DeviceStream:
    """`batch(step)`: (images uint8 (B,3,S,S), masks float (B,1,S,S)) for a global step index,
    this rank's share; deterministic in (seed, step, rank)."""

    def __init__(
        self,
        photos: list[np.ndarray],
        cfg: DataConfig,
        seed: int,
        batch_size: int,
        device: torch.device,
        rank: int = 0,
    ) -> None:
        self.cfg, self.seed, self.batch_size, self.rank = cfg, seed, batch_size, rank
        self.cache = PhotoCache(photos, device, cfg.size)
        self.mix = hole_mix(cfg)
        self.device = device

    def generator(self, step: int) -> torch.Generator:
        seed = int(np.random.default_rng([self.seed, 5, step, self.rank]).integers(2**62))
        return torch.Generator(self.device).manual_seed(seed)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = self.generator(step)
        images = self.crops(gen, self.batch_size)
        size = self.cfg.size
        masks = draw_holes(self.mix, gen, self.batch_size, size, size, self.cfg.box_size)
        return images, masks

    def crops(self, gen: torch.Generator, n: int) -> torch.Tensor:
        """n random multi-scale square crops, flipped and turned, as uint8 (n, 3, S, S)."""
        cfg, cache, dev = self.cfg, self.cache, self.device
        size = cfg.size
        rand = lambda *shape: torch.rand(shape, generator=gen, device=dev)  # noqa: E731
        index = torch.randint(0, len(cache.levels[0]), (n,), generator=gen, device=dev)
        full = cache.sizes[index, 0]  # (n, 2)
        short = full.min(1).values
        low = torch.minimum(short, torch.full_like(short, size))
        side = torch.exp(torch.log(low) + rand(n) * (torch.log(short) - torch.log(low)))
        level = torch.log2(side / size).floor().clamp(0, len(cache.levels) - 1).long()
        scale = torch.pow(2.0, level.float())
        dims = cache.sizes[index, level]  # (n, 2) this level's height, width
        side = torch.minimum(side / scale, dims.min(1).values)
        top = rand(n) * (dims[:, 0] - side)
        left = rand(n) * (dims[:, 1] - side)
        window = 2 * size + 2
        out = torch.empty(n, 3, size, size, dtype=torch.uint8, device=dev)
        grid = self._grid(gen, n, side, top - top.floor(), left - left.floor(), window)
        for lv in level.unique().tolist():
            rows = (level == lv).nonzero().flatten()
            stack = cache.levels[lv]
            r = top[rows].floor().long()[:, None] + torch.arange(window, device=dev)
            c = left[rows].floor().long()[:, None] + torch.arange(window, device=dev)
            r = r.clamp(max=stack.shape[1] - 1)
            c = c.clamp(max=stack.shape[2] - 1)
            patch = stack[index[rows][:, None, None], r[:, :, None], c[:, None, :]]
            patch = patch.permute(0, 3, 1, 2).float()
            sampled = F.grid_sample(patch, grid[rows], mode="bilinear", align_corners=False)
            out[rows] = sampled.round().clamp(0, 255).to(torch.uint8)
        return out

    def _grid(self, gen, n: int, side, dy, dx, window: int) -> torch.Tensor:
        """grid_sample coordinates (n, S, S, 2) into each sample's window: output pixel (i, j)
        reads crop pixel (a, b) of the flipped and turned crop, as `crops.augment` does."""
        cfg, dev = self.cfg, self.device
        size = cfg.size
        i = torch.arange(size, device=dev, dtype=torch.float32).view(1, size, 1).expand(n, -1, size)
        j = torch.arange(size, device=dev, dtype=torch.float32).view(1, 1, size).expand(n, size, -1)
        flip = torch.rand(n, generator=gen, device=dev) < (0.5 if cfg.flips else 0.0)
        turns = torch.randint(0, 4 if cfg.rot90 else 1, (n,), generator=gen, device=dev)
        last = size - 1
        # np.rot90(x, k)[i, j] reads x at k=1: (j, last-i); k=2: (last-i, last-j); k=3: (last-j, i)
        k = turns.view(n, 1, 1)
        a = torch.where(k == 1, j, torch.where(k == 2, last - i, torch.where(k == 3, last - j, i)))
        b = torch.where(k == 1, last - i, torch.where(k == 2, last - j, torch.where(k == 3, i, j)))
        b = torch.where(flip.view(n, 1, 1), last - b, b)
        step = (side / size).view(n, 1, 1)
        ys = (a + 0.5) * step - 0.5 + dy.view(n, 1, 1)
        xs = (b + 0.5) * step - 0.5 + dx.view(n, 1, 1)
        return torch.stack([(2 * xs + 1) / window - 1, (2 * ys + 1) / window - 1], dim=-1)
