"""Fills of old-photo damage at photo scale: RMSE in the holes and seconds, by kind of damage.

The photos of a pack's split (val by default; the split every model trains on: `data build`'s),
each shrunk to at most `--max-side` px, are aged and damaged by `photorecon.damage` (the
default mix, and each kind in `--kinds` alone), and the true damage, grown by `--grow` px as
`fill --auto --dilate` grows what it finds, is filled on the undamaged aged photo by each fill
in `--models` through `fill_any_size` (windows, thin holes, the harmonic branch: the path a
user's photo takes). `NAME@full` runs a model with every window at least its work size (no
smaller windows: `InpaintModel.window_sides` off), to compare window plans.

Run: .venv/bin/python bench/damage_fill.py [--split val] [--models ffc,ffc@full,telea]
     [--kinds mix,craquelure,scratches,blotches] [--max-side 1200]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from photorecon.anysize import fill_any_size
from photorecon.damage import parse_damage_mix, render_damage
from photorecon.data.build import BuildConfig
from photorecon.data.crops import pack_splits
from photorecon.imageio import read_image
from photorecon.models.loading import load_model


def samples(photos: str, split: str, kinds: list[str], max_side: int, grow: int, seed: int):
    """(kind, aged photo, mask) for each photo of the split and each kind."""
    config = BuildConfig()
    paths = pack_splits(photos, config.seed, config.val_frac, config.test_frac)[split]
    out = []
    for i, path in enumerate(paths):
        photo = read_image(path)
        scale = min(1.0, max_side / max(photo.shape[:2]))
        if scale < 1:
            size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
            photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        for k, kind in enumerate(kinds):
            mix = parse_damage_mix(None if kind == "mix" else kind)
            damaged = render_damage(photo, np.random.default_rng([seed, i, k]), mix)
            mask = damaged.mask.astype(np.uint8)
            if grow:
                mask = cv2.dilate(mask, np.ones((2 * grow + 1,) * 2, np.uint8))
            if mask.any() and not mask.all():
                out.append((kind, damaged.clean, mask))
    return out


def model_for(name: str):
    spec, _, variant = name.partition("@")
    model = load_model(spec, "cpu", runtime="auto")
    if variant == "full":
        model.window_sides = ()
    elif variant:
        raise SystemExit(f"unknown variant @{variant} (full)")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--models", default="ffc,ffc@full,telea")
    parser.add_argument("--kinds", default="mix,craquelure,scratches,blotches")
    parser.add_argument("--max-side", type=int, default=1200)
    parser.add_argument("--grow", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    cases = samples(args.photos, args.split, kinds, args.max_side, args.grow, args.seed)
    pixels = sum(int(m.sum()) for _, _, m in cases)
    print(f"{len(cases)} damaged photos ({args.split}, <= {args.max_side} px), {pixels} hole px")
    print("| fill | " + " | ".join(kinds) + " | all | seconds |")
    print("|---" * (len(kinds) + 3) + "|")
    for name in args.models.split(","):
        model = model_for(name)
        squared = {k: 0.0 for k in kinds}
        count = {k: 0 for k in kinds}
        seconds = 0.0
        for kind, clean, mask in cases:
            start = time.perf_counter()
            out = fill_any_size(clean, mask, model)
            seconds += time.perf_counter() - start
            hole = mask > 0
            error = (out[hole].astype(np.float64) - clean[hole]) / 255
            squared[kind] += float((error**2).sum())
            count[kind] += error.size
        rmse = [np.sqrt(squared[k] / max(count[k], 1)) for k in kinds]
        total = np.sqrt(sum(squared.values()) / max(sum(count.values()), 1))
        cells = " | ".join(f"{r:.4f}" for r in rmse)
        print(f"| {name} | {cells} | {total:.4f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
