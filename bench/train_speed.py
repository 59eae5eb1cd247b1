"""Training throughput, split in two: the optimisation step alone (synthetic batches already on
the device) and the data loader alone (real samples from the photo pack, no model).

A run is loader-bound when the loader's images/s is below the step's. Step variants: `contiguous`
(NCHW), `channels_last` (NHWC, the engine's default) and `compile` (torch.compile of the
generator in the config's layout).

Run: .venv/bin/python bench/train_speed.py --config configs/ffc.yaml --batch 8 --seconds 20
GPU: python3 bench/train_speed.py --batch 32 --variants contiguous,channels_last,compile \
       --workers 4,8,15
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from photorecon.config import load_config
from photorecon.masks import boxes_to_mask, random_boxes
from photorecon.models.registry import count_parameters, create_model
from photorecon.train.config import TrainConfig
from photorecon.train.loop import (
    DistInfo,
    StepBatches,
    _amp_dtype,
    _fast_cuda_kernels,
    build_data,
    build_step,
    ema_update,
)

ROOT = Path(__file__).resolve().parents[1]


def synthetic_batch(cfg: TrainConfig, batch: int, device: torch.device):
    rng = np.random.default_rng(0)
    size = cfg.data.size
    images = torch.rand(batch, 3, size, size, device=device)
    masks = np.stack(
        [
            boxes_to_mask(size, size, random_boxes(rng, size, size, 2, cfg.data.box_size))
            for _ in range(batch)
        ]
    )
    return images, torch.from_numpy(masks)[:, None].to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_speed(cfg: TrainConfig, variant: str, device: torch.device, seconds: float) -> float:
    """Images/s of step + EMA update on one fixed batch, after a warm-up."""
    torch.manual_seed(0)
    generator = create_model(cfg.model.name, **cfg.model.kwargs)
    nhwc = variant == "channels_last" or (variant == "compile" and cfg.channels_last)
    layout = torch.channels_last if nhwc else torch.contiguous_format
    generator = generator.to(device, memory_format=layout)
    step = build_step(cfg, generator, DistInfo(), device)
    if variant == "compile":
        step.train_model = torch.compile(step.train_model)
    ema = copy.deepcopy(generator).requires_grad_(False)  # as the engine makes it
    images, masks = synthetic_batch(cfg, cfg.batch_size, device)
    images, masks = (t.contiguous(memory_format=layout) for t in (images, masks))
    amp = _amp_dtype(cfg.amp, device)

    def autocast():
        return torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()

    for _ in range(3):
        step(images, masks, autocast)
    sync(device)
    began, count = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        step(images, masks, autocast)
        ema_update(ema, generator, 0.999)
        count += 1
    sync(device)
    return count * cfg.batch_size / (time.perf_counter() - began)


def loader_speed(cfg: TrainConfig, dataset, workers: int, seconds: float) -> float:
    """Images/s the data loader delivers with `workers` processes (the first batch excluded)."""
    loader = DataLoader(
        dataset,
        batch_sampler=StepBatches(0, 10**9, cfg.batch_size, DistInfo()),
        num_workers=workers,
    )
    batches = iter(loader)
    next(batches)
    began, count = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        count += len(next(batches)[0])
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "ffc.yaml"))
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per row")
    parser.add_argument("--variants", default="contiguous,channels_last")
    parser.add_argument("--workers", default="0,2", help="loader worker counts to time")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], help="config overrides")
    args = parser.parse_args()
    cfg = load_config(
        TrainConfig,
        args.config,
        [
            f"data.photos={args.photos}",
            f"batch_size={args.batch}",
            f"device={args.device}",
            *args.set,
        ],
    )
    from photorecon.device import resolve_device

    device = resolve_device(cfg.device)
    _fast_cuda_kernels(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = torch.get_num_threads()
    params = count_parameters(create_model(cfg.model.name, **cfg.model.kwargs))
    print(f"{cfg.model.name} ({params:,} parameters), batch {cfg.batch_size}, {name}, ", end="")
    print(f"{threads} threads, amp {_amp_dtype(cfg.amp, device)}")
    print("\n| part | setting | images/s |\n|---|---|---|")
    for variant in [v for v in args.variants.split(",") if v]:
        print(f"| step | {variant} | {step_speed(cfg, variant, device, args.seconds):.1f} |")
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    dataset = build_data(cfg)[0] if worker_counts else None
    for workers in worker_counts:
        speed = loader_speed(cfg, dataset, workers, args.seconds)
        print(f"| loader | {workers} workers | {speed:.1f} |")


if __name__ == "__main__":
    main()
