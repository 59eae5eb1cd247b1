"""Does an EMA checkpoint gain from BatchNorm statistics of its own?

A checkpoint's EMA weights carry running statistics gathered by the live weights. This
recomputes them (training-mode forwards, cumulative average) on N samples drawn as in training
from the checkpoint's own training photos, for several N, and scores each on a val split.

Run: .venv/bin/python bench/bn_recalibration.py --model ffc --photos data/photos --split data/ds/val
`--save FILE --save-samples N` also writes the weights recalibrated on N samples (same metadata).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time

import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from photorecon.checkpoint import read_meta, save_weights, weights_file
from photorecon.errors import PhotoreconError
from photorecon.models.files import shipped_weights
from photorecon.models.loading import load_checkpoint
from photorecon.train.batchnorm import recalibrate_batchnorm
from photorecon.train.config import DataConfig, TrainConfig
from photorecon.train.evaluation import validate_split
from photorecon.train.samples import build_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ffc", help="a shipped model's name or a checkpoint")
    parser.add_argument("--photos", default="data/photos", help="the pack it was trained on")
    parser.add_argument("--split", default="data/ds/val")
    parser.add_argument("--samples", default="512,2048,8192")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--save")
    parser.add_argument("--save-samples", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    path = shipped_weights(args.model) or args.model
    meta = read_meta(path)
    trained = meta.config.get("data", {})
    fields = {f.name for f in dataclasses.fields(DataConfig)}
    data = DataConfig(**{k: v for k, v in trained.items() if k in fields})
    # the engine's own sample stream from the same train photos (val_split: no val photos loaded)
    data = dataclasses.replace(data, photos=args.photos, val_split=args.split)
    data = dataclasses.replace(data, loader="workers")
    stream = build_data(TrainConfig(data=data, seed=args.seed))[0].dataset
    if args.save:  # fp16 stays fp16
        stored = load_file(str(weights_file(path))).values()
        dtype = next(t.dtype for t in stored if t.is_floating_point())
    base = load_checkpoint(path).to(memory_format=torch.channels_last)
    counts = sorted({0, *(int(n) for n in args.samples.split(",") if n), args.save_samples})
    print(f"{args.model} ({path}); samples from {args.photos}, scored on {args.split}\n")
    print("| BatchNorm statistics | val RMSE | seconds |\n|---|---|---|")
    for n in counts:
        model = copy.deepcopy(base)
        began = time.perf_counter()
        if n:
            loader = DataLoader(stream, batch_size=args.batch, sampler=range(n), num_workers=0)
            recalibrate_batchnorm(model, loader, "cpu")
        rmse = validate_split(model.eval(), args.split, "cpu")
        label = f"recomputed on {n:,} samples" if n else "as saved"
        print(f"| {label} | {rmse:.4f} | {time.perf_counter() - began:.0f} |", flush=True)
        if args.save and n == args.save_samples:
            save_weights(args.save, model.to(memory_format=torch.contiguous_format), meta, dtype)
            print(f"wrote {args.save} (BatchNorm statistics from {n:,} samples)")


if __name__ == "__main__":
    try:
        main()
    except PhotoreconError as exc:  # a missing or foreign checkpoint, a bad pack: one line
        sys.exit(f"bn_recalibration: {exc}")
