"""Where training batches come from: a DataLoader over CPU-cut samples, or the device stream.

Both give (images uint8 (B,3,S,S), masks float (B,1,S,S)) for global steps start+1..steps,
this rank's share, deterministic in the seed; and a fixed set of training-like batches for
BatchNorm statistics. `data.loader` picks one: "workers" (the DataLoader; also what data that
does not fit in memory needs), "device" (photos cached on the training device,
`stream.DeviceStream`), or "auto": the device stream on CUDA, the DataLoader elsewhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from photorecon.damage import parse_damage_mix
from photorecon.data.crops import downscale, pack_splits
from photorecon.errors import PhotoreconError
from photorecon.models.registry import get_model_info
from photorecon.train.config import TrainConfig
from photorecon.train.data import (
    DamageCut,
    DamagedCrops,
    HoleCut,
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


class ShardSamples:
    """Samples streamed from WebDataset shards (`shardstream`): `data.workers` loader processes
    (or this one) each read their own shards; batches for a step follow from the step alone."""

    def __init__(self, plan, cut, cfg: TrainConfig, info: DistInfo, device) -> None:
        self.plan, self.cut, self.cfg, self.info, self.device = plan, cut, cfg, info, device

    @property
    def local_streams(self) -> int:
        return max(self.cfg.data.workers, 1)

    def describe(self) -> str:
        plan = self.plan
        return (
            f"{len(plan.urls)} shards ({sum(plan.counts):,} photos) streamed by "
            f"{self.local_streams} reader(s) per rank, shuffle buffer {plan.buffer}"
        )

    def dataset(self, start: int, salt: int = 0, only_stream_0: bool = False):
        """The batches for steps start, start+1, ... of this rank's readers (or, with
        `only_stream_0`, stream 0's alone, read in this process)."""
        from photorecon.train.shardstream import ShardBatches

        return ShardBatches(
            self.plan,
            self.cut,
            max_side=self.cfg.data.max_side,
            batch_size=self.cfg.batch_size,
            rank=0 if only_stream_0 else self.info.rank,
            local_streams=1 if only_stream_0 else self.local_streams,
            start=start,
            salt=salt,
        )

    def positions(self, step: int) -> list[dict]:
        """Where every stream of every rank stands before `step` (for the run's state)."""
        from photorecon.train.shardstream import batches_before

        local, out = self.local_streams, []
        for g in range(self.plan.streams):
            done = batches_before(step, g % local, local) * self.cfg.batch_size
            out.append(self.plan.position(g, done))
        return out

    def batches(self, start: int, steps: int) -> Iterator[Batch]:
        workers = self.cfg.data.workers
        loader = DataLoader(
            self.dataset(start),
            batch_size=None,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            generator=own_generator(self.cfg.seed, start),
        )
        yield from itertools.islice(loader, max(steps - start, 0))

    def bn_batches(self, count: int) -> Iterator[Batch]:
        batches = -(-count // self.cfg.batch_size)
        # stream 0's photos from the start, cut with generators of their own
        yield from itertools.islice(iter(self.dataset(0, BN_SALT, only_stream_0=True)), batches)


BN_SALT = 97  # BatchNorm batches: the first photos again, cut with generators no step uses


def _shard_data(cfg: TrainConfig, info: DistInfo, device, detector: bool):
    """Training samples streamed from `data.shards`; validation from `data.val_shards` (loaded
    whole: keep it small) or `data.val_split`."""
    from photorecon.data.shards import expand_spec, iter_photos, shard_counts
    from photorecon.train.shardstream import ShardPlan

    d = cfg.data
    if d.loader == "device":
        raise PhotoreconError("data.source=shards streams on the CPU: data.loader=auto or workers")
    if not d.shards:
        raise PhotoreconError("data.source=shards needs data.shards")
    if not d.val_shards and not (d.val_split and not detector):
        raise PhotoreconError("data.source=shards needs data.val_shards (or data.val_split)")
    urls = expand_spec(d.shards)
    plan = ShardPlan(
        tuple(urls),
        tuple(shard_counts(urls)),
        info.world * max(d.workers, 1),
        d.shuffle_buffer,
        cfg.seed,
    )
    scenes = scene_photos(d, 64) if d.scenes and not detector else None
    cut = DamageCut(d) if detector else HoleCut(d, scenes)
    samples = ShardSamples(plan, cut, cfg, info, device)
    if not d.val_shards:
        return samples, {"split": d.val_split}
    val_photos = [downscale(p.rgb(), d.max_side) for p in iter_photos(d.val_shards)]
    if detector:
        images, masks, labels = fixed_damage_set(val_photos, d, d.seed)
        return samples, {"images": images, "masks": masks, "labels": labels, "detect": True}
    images, masks, kinds = fixed_set(val_photos, d, d.seed)
    return samples, _with_scenes({"images": images, "masks": masks, "kinds": kinds}, d)


def _with_scenes(val: dict, d) -> dict:
    """The validation set with `data.val_scenes` smooth scenes added (smooth-* kinds)."""
    if d.val_scenes <= 0:
        return val
    images, masks, kinds = fixed_scene_set(d, d.seed)
    return {
        "images": torch.cat([val["images"], images]),
        "masks": torch.cat([val["masks"], masks]),
        "kinds": val["kinds"] + kinds,
    }


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
    trainer = cfg.trainer or get_model_info(cfg.model.name).trainer
    detector = trainer == "detector"
    if trainer == "restorer":
        return _restorer_data(cfg, info, device, length)
    if d.source == "shards":
        return _shard_data(cfg, info, device, detector)
    if detector:
        return _detector_data(cfg, info, device, length)
    if d.source == "photos":
        splits = pack_splits(d.photos, d.seed, d.val_frac, d.test_frac)
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
        return samples, _with_scenes({"images": images, "masks": masks, "kinds": kinds}, d)
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
    raise PhotoreconError(f"unknown data.source {d.source!r} (photos, split or shards)")


def _detector_data(cfg: TrainConfig, info: DistInfo, device, length: int):
    """A damage detector's samples (photos damaged on the fly, on the CPU) and its fixed
    validation set of damaged and clean crops of the val photos."""
    d = cfg.data
    if not 0.0 <= d.clean_share < 1.0:
        raise PhotoreconError(f"data.clean_share must be in [0, 1), got {d.clean_share}")
    parse_damage_mix(d.damage)  # an unknown kind or a bad weight fails before photos load
    train, val_photos = _cpu_photos(cfg, "a damage detector")
    dataset = DamagedCrops(train, d, cfg.seed, length)
    images, masks, labels = fixed_damage_set(val_photos, d, d.seed)
    val = {"images": images, "masks": masks, "labels": labels, "detect": True}
    return LoaderSamples(dataset, cfg, info, device), val


def _cpu_photos(cfg: TrainConfig, who: str) -> tuple[list, list]:
    """The train and val photos of a pack, for a trainer whose samples are drawn on the CPU
    (`who` names it in the errors)."""
    d = cfg.data
    if d.source != "photos":
        raise PhotoreconError(f"{who} trains on data.source=photos")
    if d.loader == "device":
        raise PhotoreconError(f"{who}'s samples are drawn on the CPU: data.loader=auto")
    splits = pack_splits(d.photos, d.seed, d.val_frac, d.test_frac)
    if not splits["val"]:
        raise PhotoreconError("training needs val photos: set data.val_frac > 0")
    return load_photos(splits["train"], d.max_side), load_photos(splits["val"], d.max_side)


def _restorer_data(cfg: TrainConfig, info: DistInfo, device, length: int):
    """A restorer's samples (photos aged on the fly, on the CPU) and its fixed validation set
    of aged and untouched crops of the val photos."""
    from photorecon.train.data import AgedCrops, fixed_restore_set

    d = cfg.data
    train, val_photos = _cpu_photos(cfg, "a restorer")
    dataset = AgedCrops(train, d, cfg.seed, length)
    images, targets, labels = fixed_restore_set(val_photos, d, d.seed)
    val = {"images": images, "targets": targets, "labels": labels, "restore": True}
    return LoaderSamples(dataset, cfg, info, device), val
