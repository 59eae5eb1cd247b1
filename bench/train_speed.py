"""Training throughput, three ways: the optimisation step alone (synthetic batches already on
the device), the data path alone (the DataLoader with N workers, or the device stream), and full
training steps (data + step, as the engine runs them) with each data path.

A run is data-bound when the data path's images/s is below the step's. Step variants:
`contiguous` (NCHW), `channels_last` (NHWC, the engine's default) and `compile` (torch.compile
of the generator in the config's layout), each under every `--amps` setting (off, bf16, fp16).

Run: .venv/bin/python bench/train_speed.py --batch 8 --seconds 20
GPU: python3 bench/train_speed.py --batch 64 --variants channels_last,compile --amps off,bf16 \
       --workers 8,15 --full workers:8,device
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from photorecon.config import load_config
from photorecon.masks import boxes_to_mask, random_boxes
from photorecon.models.registry import count_parameters, create_model
from photorecon.train.config import TrainConfig
from photorecon.train.distributed import DistInfo
from photorecon.train.loop import amp_dtype, build_step, ema_update, fast_cuda_kernels
from photorecon.train.samples import build_data

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
    amp = amp_dtype(cfg.amp, device)

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


def with_loader(cfg: TrainConfig, loader: str) -> TrainConfig:
    """The config with data.loader (and data.workers for "workers:N") set."""
    kind, _, workers = loader.partition(":")
    data = dataclasses.replace(cfg.data, loader=kind)
    if workers:
        data = dataclasses.replace(data, workers=int(workers))
    return dataclasses.replace(cfg, data=data)


def data_speed(cfg: TrainConfig, device: torch.device, seconds: float) -> float:
    """Images/s the data path delivers on the device (the first batch excluded)."""
    samples = build_data(cfg, DistInfo(), device)[0]
    batches = samples.batches(0, 10**9)
    next(batches)
    sync(device)
    began, count = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        images, masks = next(batches)
        images, masks = images.to(device), masks.to(device)
        count += len(images)
    sync(device)
    return count / (time.perf_counter() - began)


def full_speed(cfg: TrainConfig, device: torch.device, seconds: float) -> float:
    """Images/s of whole training steps: batches from the data path, step, EMA update."""
    torch.manual_seed(0)
    samples = build_data(cfg, DistInfo(), device)[0]
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    generator = create_model(cfg.model.name, **cfg.model.kwargs).to(device, memory_format=layout)
    step = build_step(cfg, generator, DistInfo(), device)
    if cfg.compile:
        step.train_model = torch.compile(step.train_model)
    ema = copy.deepcopy(generator).requires_grad_(False)
    amp = amp_dtype(cfg.amp, device)

    def autocast():
        return torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()

    batches = samples.batches(0, 10**9)
    count, began = 0, None
    for k, (images, masks) in enumerate(batches):
        images = images.to(device, non_blocking=True).float() / 255
        step(images, masks.to(device, non_blocking=True), autocast)
        ema_update(ema, generator, 0.999)
        if k == 2:  # after the warm-up (and compilation)
            sync(device)
            began = time.perf_counter()
        elif began is not None:
            count += len(images)
            if time.perf_counter() - began > seconds:
                break
    sync(device)
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "ffc.yaml"))
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per row")
    parser.add_argument("--variants", default="contiguous,channels_last")
    parser.add_argument("--amps", default="auto", help="autocast settings for step rows")
    parser.add_argument("--workers", default="0,2", help="loader worker counts to time")
    parser.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the device stream's data path too",
    )
    parser.add_argument(
        "--full",
        default="workers:0,device",
        help="data paths for full training steps (workers:N or device)",
    )
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
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = torch.get_num_threads()
    params = count_parameters(create_model(cfg.model.name, **cfg.model.kwargs))
    holes = ",".join(cfg.data.holes) or "squares (legacy)"
    print(f"{cfg.model.name} ({params:,} parameters), batch {cfg.batch_size}, {name}, ", end="")
    print(f"{threads} threads; holes {holes}")
    print("\n| part | setting | images/s |\n|---|---|---|")
    with fast_cuda_kernels(device):
        for amp in [a for a in args.amps.split(",") if a]:
            timed = dataclasses.replace(cfg, amp=amp)
            for variant in [v for v in args.variants.split(",") if v]:
                speed = step_speed(timed, variant, device, args.seconds)
                print(f"| step | {variant}, amp {amp} | {speed:.1f} |", flush=True)
        loaders = [f"workers:{w}" for w in args.workers.split(",") if w]
        loaders += ["device"] if args.stream else []
        for loader in loaders:
            speed = data_speed(with_loader(cfg, loader), device, args.seconds)
            print(f"| data | {loader} | {speed:.1f} |", flush=True)
        for loader in [f for f in args.full.split(",") if f]:
            speed = full_speed(with_loader(cfg, loader), device, args.seconds)
            print(f"| full step | {loader} | {speed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
