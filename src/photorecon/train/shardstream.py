"""Training samples streamed from WebDataset shards (`data.source: shards`), nothing held whole.

Every rank runs `max(data.workers, 1)` streams, so G = ranks x streams in all; global stream g
reads its own shards (shard i belongs to stream i mod G) or, with fewer shards than streams,
every shard keeping its G-th photos, so no photo is read by two streams in an epoch. An epoch of
a stream is its shards in an order drawn anew from (seed, epoch, g); its photos pass through a
shuffle buffer of `data.shuffle_buffer` photos: the stream is cut into blocks that size and each
block is given out in a permuted order. Each photo gives one crop with holes (or damage) drawn
from its own generator, seeded by (seed, g, n) for the stream's n-th photo.

Steps go to streams in turn (step t to stream t mod streams on every rank, which is the order a
DataLoader takes its workers' batches in), so where each stream stands at any step follows from
the step alone: a resumed run re-reads only the block it stopped in (its shard and offset found
from the index's counts, `position`) and carries on with the very batches an unbroken run would
have had. Resuming exactly needs the same number of ranks and workers.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from photorecon.data.crops import downscale
from photorecon.data.shards import PhotoSample, iter_samples
from photorecon.errors import PhotoreconError

Cut = Callable[[np.ndarray, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class ShardPlan:
    """The shards (URLs and sample counts), how many streams share them, the shuffle buffer."""

    urls: tuple[str, ...]
    counts: tuple[int, ...]
    streams: int
    buffer: int
    seed: int

    def __post_init__(self) -> None:
        if self.buffer < 1:
            raise PhotoreconError(f"data.shuffle_buffer must be at least 1, got {self.buffer}")
        if sum(self.counts) < self.streams:
            raise PhotoreconError(
                f"{sum(self.counts)} photos in the shards cannot feed {self.streams} streams "
                "(ranks x workers): fewer workers, or more photos"
            )

    def order(self, g: int, epoch: int) -> tuple[list[int], int, int]:
        """Stream g's shards in epoch `epoch`'s order, and the stride and phase with which it
        takes their photos (every photo of its own shards, or every G-th of all)."""
        count = len(self.urls)
        if count >= self.streams:
            mine = np.arange(g, count, self.streams)
            rng = np.random.default_rng([self.seed, 11, epoch, g])
            return [int(i) for i in rng.permutation(mine)], 1, 0
        shared = np.random.default_rng([self.seed, 11, epoch]).permutation(count)
        return [int(i) for i in shared], self.streams, g

    def epoch_length(self, g: int) -> int:
        """Photos stream g reads in one epoch (the same every epoch)."""
        order, stride, phase = self.order(g, 0)
        total = sum(self.counts[i] for i in order)
        return len(range(phase, total, stride))

    def position(self, g: int, n: int) -> dict:
        """Where stream g's n-th photo sits: epoch, the shard, the photo's offset in it, and the
        block of the shuffle buffer."""
        length = self.epoch_length(g)
        epoch, r = divmod(n, length)
        order, stride, phase = self.order(g, epoch)
        shard, offset = _locate(order, self.counts, r * stride + phase)
        return {
            "stream": g,
            "epoch": epoch,
            "shard": self.urls[shard],
            "offset": offset,
            "block": r // self.buffer,
        }


def _locate(order: list[int], counts, k: int) -> tuple[int, int]:
    """Shard index and offset of the k-th photo of the shards in `order`."""
    for shard in order:
        if k < counts[shard]:
            return shard, k
        k -= counts[shard]
    raise IndexError(k)


def _read_block(plan: ShardPlan, order: list[int], stride: int, phase: int, first: int, count: int):
    """`count` photos of a stream's epoch from its `first`-th on (photo k of the shards in
    `order` is the stream's when k = i * stride + phase)."""
    want = first * stride + phase
    start = 0
    out: list[PhotoSample] = []
    for shard in order:
        size = plan.counts[shard]
        if want < start + size:
            skip = want - start
            with closing(iter_samples(plan.urls[shard], skip=skip)) as samples:
                for position, sample in enumerate(samples, skip):
                    if start + position == want:
                        out.append(sample)
                        want += stride
                        if len(out) == count:
                            return out
                    if want >= start + size:
                        if position == size - 1 and next(samples, None) is not None:
                            raise PhotoreconError(
                                f"{plan.urls[shard]}: holds more photos than its index says "
                                f"({size})"
                            )
                        break
                else:
                    raise PhotoreconError(
                        f"{plan.urls[shard]}: holds fewer photos than its index says ({size})"
                    )
        start += size
    raise PhotoreconError(
        f"the shards hold fewer photos than their index says ({len(out)} of {count} read)"
    )


def stream_photos(plan: ShardPlan, g: int, first: int) -> Iterator[tuple[int, PhotoSample]]:
    """Stream g's photos from its `first`-th on, endlessly (epoch after epoch): (n, sample)."""
    length = plan.epoch_length(g)
    n = first
    while True:
        epoch, r = divmod(n, length)
        order, stride, phase = plan.order(g, epoch)
        block = r // plan.buffer
        head = block * plan.buffer
        photos = _read_block(plan, order, stride, phase, head, min(plan.buffer, length - head))
        perm = np.random.default_rng([plan.seed, 12, g, epoch, block]).permutation(len(photos))
        for i in range(r - head, len(photos)):
            yield n, photos[perm[i]]
            n += 1


def batches_before(step: int, stream: int, streams: int) -> int:
    """Batches stream `stream` of `streams` gave for steps 0..step-1 (step t goes to t mod S)."""
    return max(0, -(-(step - stream) // streams))


class ShardBatches(IterableDataset):
    """Endless batches (images uint8 (B,3,S,S), masks float (B,1,S,S)) for steps start, start+1,
    ... of this rank, from the shards; worker w of a DataLoader serves stream (w + start) mod S,
    so the loader's round-robin over workers keeps step t on stream t mod S."""

    def __init__(
        self,
        plan: ShardPlan,
        cut: Cut,
        *,
        max_side: int,
        batch_size: int,
        rank: int,
        local_streams: int,
        start: int,
        salt: int = 0,
    ) -> None:
        self.plan, self.cut, self.max_side = plan, cut, max_side
        self.batch_size, self.rank, self.local = batch_size, rank, local_streams
        self.start, self.salt = start, salt

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        if (info.num_workers if info is not None else 1) != self.local:
            raise PhotoreconError(f"expected {self.local} loader workers")
        local = (worker + self.start) % self.local
        g = self.rank * self.local + local
        first = batches_before(self.start, local, self.local) * self.batch_size
        photos = stream_photos(self.plan, g, first)
        last_good: np.ndarray | None = None
        while True:
            images, masks = [], []
            for n, sample in itertools.islice(photos, self.batch_size):
                try:
                    photo = downscale(sample.rgb(self.max_side), self.max_side)
                    last_good = photo
                except PhotoreconError as exc:
                    if last_good is None:
                        raise
                    warnings.warn(f"{exc}; a photo read before stands in", stacklevel=1)
                    photo = last_good
                rng = np.random.default_rng([self.plan.seed, 13, self.salt, g, n])
                image, mask = self.cut(photo, rng)
                images.append(image)
                masks.append(mask)
            yield torch.stack(images), torch.stack(masks)
