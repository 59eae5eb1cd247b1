"""Where training batches come from: a DataLoader over CPU-cut samples, or the device stream.

Both give (images uint8 (B,3,S,S), masks float (B,1,S,S)) for global steps start+1..steps,
this rank's share, deterministic in the seed; and a fixed set of training-like batches for
BatchNorm statistics. `data.loader` picks one: "workers" (the DataLoader; also what data that
does not fit in memory needs), "device" (photos cached on the training device,
`stream.DeviceStream`), or "auto": the device stream on CUDA, the DataLoader elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from photorecon.damage import parse_damage_mix
from photorecon.data.crops import split_photos
from photorecon.data.photos import read_manifest
from photorecon.errors import PhotoreconError
from photorecon.models.registry import get_model_info
from photorecon.train.config import TrainConfig
from photorecon.train.data import (
    DamagedCrops,
    RandomHoles,
    SplitPairs,
    fixed_damage_set,
    fixed_scene_set,
    fixed_set,
    load_photos,
    scene_photos,
)
from photorecon.train.distributed import DistInfo, StepBatches

BN_FIRST = 2**61  # BatchNorm samples sit far past any training step's, so none is disturbed
Batch = tuple[torch.Tensor, torch.Tensor]


class LoaderSamples:
    """Samples cut on the CPU, one per dataset index, by `data.workers` loader processes."""

    def __init__(self, dataset: Dataset, cfg: TrainConfig, info: DistInfo, device) -> None:
        self.dataset, self.cfg, self.info, self.device = dataset, cfg, info, device

    def describe(self) -> str:
        return f"a DataLoader ({self.cfg.data.workers} workers)"

    def batches(self, start: int, steps: int) -> Iterator[Batch]:
        workers = self.cfg.data.workers
        yield from DataLoader(
            self.dataset,
            batch_sampler=StepBatches(start, steps, self.cfg.batch_size, self.info),
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            generator=own_generator(self.cfg.seed, start),
        )

    def bn_batches(self, count: int) -> DataLoader:
        indices = range(BN_FIRST, BN_FIRST + count)
        return DataLoader(
            self.dataset,
            batch_size=self.cfg.batch_size,
            sampler=indices,
            generator=own_generator(self.cfg.seed, BN_FIRST),
        )


def own_generator(seed: int, start: int) -> torch.Generator:
    """A DataLoader's own generator: starting an iterator draws its workers' base seed, and
    from torch's global generator that draw would shift every random number a step takes
    after a resume (noise, dropout). Batches depend on (seed, step) alone either way."""
    return torch.Generator().manual_seed(seed * 1_000_003 + start)


class DeviceSamples:
    """Samples cut in batches on the training device from photos cached there."""

    def __init__(self, photos, cfg: TrainConfig, info: DistInfo, device) -> None:
        from photorecon.train.stream import DeviceStream

        self.cfg = cfg
        self.stream = DeviceStream(photos, cfg.data, cfg.seed, cfg.batch_size, device, info.rank)

    def describe(self) -> str:
        mb = self.stream.cache.nbytes / 2**20
        return f"the device stream ({mb:.0f} MiB of photos on {self.stream.device})"

    def batches(self, start: int, steps: int) -> Iterator[Batch]:
        for step in range(start, steps):
            yield self.stream.batch(step)

    def bn_batches(self, count: int) -> Iterator[Batch]:
        batches = -(-count // self.cfg.batch_size)
        for k in range(batches):
            yield self.stream.batch(BN_FIRST + k)


def _use_device_stream(cfg: TrainConfig, device: torch.device) -> bool:
    loader = cfg.data.loader
    if loader not in ("auto", "workers", "device"):
        raise PhotoreconError(f"data.loader must be auto, workers or device, got {loader!r}")
    if loader == "device" and cfg.data.source != "photos":
        raise PhotoreconError("data.loader=device needs data.source=photos")
    return loader == "device" or (
        loader == "auto" and device.type == "cuda" and cfg.data.source == "photos"
    )


def build_data(cfg: TrainConfig, info: DistInfo | None = None, device=None):
    """The training samples and the validation source (a split folder or in-memory samples)."""
    info = info or DistInfo()
    device = torch.device("cpu") if device is None else torch.device(device)
    d = cfg.data
    length = 2**62  # indices come from StepBatches; the dataset is an endless stream
    if (cfg.trainer or get_model_info(cfg.model.name).trainer) == "detector":
        return _detector_data(cfg, info, device, length)
    if d.source == "photos":
        records = read_manifest(d.photos)
        paths = [str(Path(d.photos) / r.path) for r in records]
        splits = split_photos(paths, d.seed, d.val_frac, d.test_frac)
        photos = load_photos(splits["train"], d.max_side)
        photos += scene_photos(d, len(photos))
        if _use_device_stream(cfg, device):
            samples = DeviceSamples(photos, cfg, info, device)
        else:
            dataset = RandomHoles(photos, d, cfg.seed, length)
            samples = LoaderSamples(dataset, cfg, info, device)
        if d.val_split:
            return samples, {"split": d.val_split}
        if not splits["val"]:
            raise PhotoreconError("training needs val photos: set data.val_frac > 0")
        images, masks, kinds = fixed_set(load_photos(splits["val"], d.max_side), d, d.seed)
        if d.val_scenes > 0:
            more = fixed_scene_set(d, d.seed)
            images, masks = torch.cat([images, more[0]]), torch.cat([masks, more[1]])
            kinds = kinds + more[2]
        return samples, {"images": images, "masks": masks, "kinds": kinds}
    if d.source == "split":
        from photorecon.data.challenge_dir import load_original, open_split, read_entries

        _use_device_stream(cfg, device)  # checks the option
        if not d.train_split or not d.val_split:
            raise PhotoreconError("data.source=split needs data.train_split and data.val_split")
        split = open_split(d.train_split, d.box_size)
        if split.original_dir is None:
            raise PhotoreconError(f"{d.train_split}: training needs an original/ folder")
        entries = read_entries(split)
        originals = [load_original(split, e) for e in entries]
        dataset = SplitPairs(originals, entries, d, cfg.seed, length)
        return LoaderSamples(dataset, cfg, info, device), {"split": d.val_split}
    raise PhotoreconError(f"unknown data.source {d.source!r} (photos or split)")


def _detector_data(cfg: TrainConfig, info: DistInfo, device, length: int):
    """A damage detector's samples (photos damaged on the fly, on the CPU) and its fixed
    validation set of damaged and clean crops of the val photos."""
    d = cfg.data
    if d.source != "photos":
        raise PhotoreconError("a damage detector trains on data.source=photos")
    if not 0.0 <= d.clean_share < 1.0:
        raise PhotoreconError(f"data.clean_share must be in [0, 1), got {d.clean_share}")
    parse_damage_mix(d.damage)  # an unknown kind or a bad weight fails before photos load
    if d.loader == "device":
        raise PhotoreconError("a damage detector's samples are drawn on the CPU: data.loader=auto")
    records = read_manifest(d.photos)
    paths = [str(Path(d.photos) / r.path) for r in records]
    splits = split_photos(paths, d.seed, d.val_frac, d.test_frac)
    if not splits["val"]:
        raise PhotoreconError("training needs val photos: set data.val_frac > 0")
    dataset = DamagedCrops(load_photos(splits["train"], d.max_side), d, cfg.seed, length)
    images, masks, labels = fixed_damage_set(load_photos(splits["val"], d.max_side), d, d.seed)
    val = {"images": images, "masks": masks, "labels": labels, "detect": True}
    return LoaderSamples(dataset, cfg, info, device), val
