"""The damage detector on its test split, beside the classical top-hat baseline, and what
`fill --auto` makes of it.

The test photos of the pack (the split every model holds out: seed 0, 15%) are cut into
`--crops` crops of `--size` px each, aged, damaged and scanned by `photorecon.damage` (every
fourth crop left clean), fixed by `--seed`. For each detector: precision, recall and F1 with a
2-px tolerance over the damaged crops (false alarms on clean crops count against precision),
the share of a clean crop's pixels flagged, and ms per megapixel. Then the default fill of the
detected mask (`fill --auto`) and of the true mask: the RMSE of the restored crop against the
undamaged one, as a share of the damaged crop's. Last, a 24-megapixel scan through
`photorecon fill --auto` on the command line (wall seconds).

`--by-kind` scores each kind of damage alone; `--brush PX` scores the damage brush (the true
damage grown by PX px as the region to look in) at each `--sweep` sensitivity.

Run: .venv/bin/python bench/detect.py [--photos data/photos] [--crops 3] [--size 512]
     [--split val] [--detectors damage,runs/damage-ft,tophat] [--by-kind] [--brush 12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from photorecon.anysize import fill_any_size
from photorecon.damage import render_damage
from photorecon.data.build import BuildConfig
from photorecon.data.crops import pack_splits, random_crop
from photorecon.detection import (
    WITHIN_VETO,
    TopHat,
    brushed,
    coarse_probability,
    damage_probability,
    found_at,
    load_detector,
)
from photorecon.imageio import read_image
from photorecon.models.loading import load_model_for
from photorecon.train.evaluation import detection_counts, detection_scores


def test_samples(photos_dir: str, crops: int, size: int, seed: int, split: str = "test", mix=None):
    config = BuildConfig()  # the split every model holds out
    chosen = pack_splits(photos_dir, config.seed, config.val_frac, config.test_frac)[split]
    samples = []
    for i, path in enumerate(chosen):
        photo = read_image(path)
        if min(photo.shape[:2]) < size:
            continue
        rng = np.random.default_rng([seed, i])
        for j in range(crops):
            crop = random_crop(photo, rng, size)
            samples.append(render_damage(crop, rng, mix, clean=j % 4 == 3))
    return samples


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()))


def probabilities(name: str, samples) -> tuple[list[tuple], float]:
    """Each sample's damage probability maps (full size, and the coarse passes' for the
    learned detector, as `damage_mask` runs them), and ms per megapixel for both."""
    model = load_detector(name, "cpu")
    maps, seconds = [], 0.0
    damage_probability(samples[0].image[:64, :64].copy(), model)  # load and warm up
    for sample in samples:
        start = time.perf_counter()
        full = damage_probability(sample.image, model)
        coarse = None if isinstance(model, TopHat) else coarse_probability(sample.image, model)
        maps.append((full, coarse))
        seconds += time.perf_counter() - start
    return maps, 1000 * seconds / (sum(s.mask.size for s in samples) / 1e6)


def scores_at(maps, samples, sensitivity: float) -> tuple[dict, list[np.ndarray]]:
    """Detection scores of the probability maps at a sensitivity, and the masks."""
    masks = [found_at(full, coarse, sensitivity) for full, coarse in maps]
    return scores_of(masks, samples), masks


def scores_of(masks: list[np.ndarray], samples) -> dict:
    """Precision, recall, F1 (2-px tolerance) and clean false alarms of found masks."""
    pred = torch.from_numpy(np.stack(masks))[:, None]
    truth = torch.from_numpy(np.stack([s.mask for s in samples]))[:, None]
    clean = torch.tensor([not s.mask.any() for s in samples])
    return detection_scores(*detection_counts(pred, truth), clean, samples[0].mask.size)


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask > 0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate((mask > 0).astype(np.uint8), kernel) > 0


def restoration(samples, masks, model, device, dilate: int) -> tuple[float, float]:
    """Residual RMSE share after filling the detected masks, and after the true masks (both
    grown by `dilate` px, as `fill --auto --dilate` does)."""
    damaged = [s for s in samples if s.mask.any()]
    found = [grow(m, dilate) for s, m in zip(samples, masks, strict=True) if s.mask.any()]
    base = np.sqrt(np.mean([rmse(s.image, s.clean) ** 2 for s in damaged]))

    def residual(which) -> float:
        errors = []
        for sample, mask in zip(damaged, which, strict=True):
            if mask.any() and not mask.all():
                out = fill_any_size(sample.image, mask.astype(np.float32), model, device=device)
            else:
                out = sample.image
            errors.append(rmse(out, sample.clean) ** 2)
        return float(np.sqrt(np.mean(errors)) / base)

    return residual(found), residual([grow(s.mask, dilate) for s in damaged])


def pictures(samples, masks, model, device, dilate: int, out: Path, count: int = 3) -> None:
    """Rows of damaged | found damage | restored | undamaged for the first `count` damaged
    crops, as one PNG per crop."""
    import matplotlib

    matplotlib.use("Agg")  # a benchmark script owns its process
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    chosen = [(s, m) for s, m in zip(samples, masks, strict=True) if s.mask.any()][:count]
    for k, (sample, mask) in enumerate(chosen):
        grown = grow(mask, dilate)
        restored = fill_any_size(sample.image, grown.astype(np.float32), model, device=device)
        panels = [
            ("damaged", sample.image),
            ("found damage", np.where(mask[..., None], [255, 40, 40], sample.image // 2)),
            ("fill --auto", restored),
            ("undamaged", sample.clean),
        ]
        fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
        for ax, (title, image) in zip(axes, panels, strict=True):
            ax.imshow(np.asarray(image, np.uint8))
            ax.set_title(title)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(out / f"before_after_{k + 1}.png", dpi=80)
        plt.close(fig)


def big_scan_seconds(sample, tmp: Path, seed: int = 0) -> float:
    """Wall seconds of `photorecon fill scan.png --auto` on a 6000x4000 scan: a test crop
    scaled up, with damage drawn at the scan's own scale block by block."""
    from PIL import Image

    from photorecon.damage import composite_layers, draw_layers, parse_damage_mix

    big = cv2.resize(sample.clean, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    mix = parse_damage_mix(None)
    for top in range(0, 4000, 500):
        for left in range(0, 6000, 500):
            block = big[top : top + 500, left : left + 500].astype(np.float32)
            damaged, _ = composite_layers(block, draw_layers(rng, 500, 500, mix))
            big[top : top + 500, left : left + 500] = np.clip(damaged, 0, 255).astype(np.uint8)
    path = tmp / "scan.png"
    Image.fromarray(big).save(path, compress_level=1)
    command = [sys.executable, "-m", "photorecon.cli", "fill", str(path), "--auto", "-q"]
    command += ["--dilate", "2"]
    start = time.perf_counter()
    subprocess.run([*command, "-o", str(tmp / "out.png")], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--crops", type=int, default=4, help="crops per test photo (4)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sensitivity", type=float, default=0.5)
    parser.add_argument("--dilate", type=int, default=2, help="grow masks before filling (2)")
    parser.add_argument("--no-big", action="store_true", help="skip the 24-megapixel scan")
    parser.add_argument(
        "--split", default="test", choices=("test", "val"), help="photos to cut (test)"
    )
    parser.add_argument(
        "--sweep", help="comma-separated sensitivities: precision/recall/F1/false alarms at each"
    )
    parser.add_argument("--pictures", help="write before/after pictures of 3 crops here (PNG)")
    parser.add_argument(
        "--detectors",
        default="damage,tophat",
        help="detectors to compare: names or checkpoints, comma-separated (damage,tophat); "
        "the first is the one pictured and swept",
    )
    parser.add_argument(
        "--by-kind",
        action="store_true",
        help="F1 of each detector on each kind of damage alone (photorecon.damage.KINDS)",
    )
    parser.add_argument(
        "--brush",
        type=int,
        default=0,
        help="score the damage brush instead: each damaged crop's true damage grown by this "
        "many px as the region, at each --sweep sensitivity (default 0.5,0.7,0.8,0.9,0.95)",
    )
    args = parser.parse_args()
    names = args.detectors.split(",")
    if args.brush:
        brush(args, names)
        return
    if args.by_kind:
        by_kind(args, names)
        return
    samples = test_samples(args.photos, args.crops, args.size, args.seed, args.split)
    damaged = sum(s.mask.any() for s in samples)
    print(
        f"{len(samples)} {args.split} crops of {args.size}² ({damaged} damaged, "
        f"{len(samples) - damaged} clean), sensitivity {args.sensitivity}, masks grown by "
        f"{args.dilate} px for filling"
    )
    filler, device = load_model_for("ffc", "cpu", runtime="auto")
    maps = {name: probabilities(name, samples) for name in names}
    if args.sweep:
        print("| damage, sensitivity | precision | recall | F1 | clean false alarms |")
        print("|---|---|---|---|---|")
        for value in (float(v) for v in args.sweep.split(",")):
            scores, _ = scores_at(maps[names[0]][0], samples, value)
            print(
                f"| {value:g} | {scores['precision']:.3f} | {scores['recall']:.3f} | "
                f"{scores['f1']:.3f} | {100 * scores['clean_fa']:.2f}% |"
            )
        return
    print(
        "| detector | precision | recall | F1 | clean false alarms | ms/MP | fill --auto "
        "residual | true-mask residual |"
    )
    print("|---|---|---|---|---|---|---|---|")
    found_masks = {}
    for name in names:
        probs, ms_per_mp = maps[name]
        scores, masks = scores_at(probs, samples, args.sensitivity)
        found_masks[name] = masks
        found, ceiling = restoration(samples, masks, filler, device, args.dilate)
        print(
            f"| {name} | {scores['precision']:.3f} | {scores['recall']:.3f} | {scores['f1']:.3f} "
            f"| {100 * scores['clean_fa']:.2f}% | {ms_per_mp:.0f} | {found:.3f} | "
            f"{ceiling:.3f} |"
        )
    if args.pictures:
        pictures(samples, found_masks[names[0]], filler, device, args.dilate, Path(args.pictures))
    if not args.no_big:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = big_scan_seconds(next(s for s in samples if s.mask.any()), Path(tmp))
        print(f"24-megapixel scan, photorecon fill --auto: {seconds:.1f} s wall")


def brush(args, names: list[str]) -> None:
    """Precision / recall / F1 of the damage brush: on each damaged crop, what each detector
    finds inside the true damage grown by `args.brush` px (as `detect(within=...)` keeps only
    that region), at each sensitivity of the sweep."""
    sweep = [float(v) for v in (args.sweep or "0.5,0.7,0.8,0.9,0.95").split(",")]
    samples = test_samples(args.photos, args.crops, args.size, args.seed, args.split)
    samples = [s for s in samples if s.mask.any()]
    regions = [grow(s.mask, args.brush) for s in samples]
    print(f"{len(samples)} damaged {args.split} crops of {args.size}², brush {args.brush} px\n")
    print(f"| sensitivity | {' | '.join(f'{n} P / R / F1' for n in names)} |")
    print("|---" * (len(names) + 1) + "|")
    maps = {name: probabilities(name, samples)[0] for name in names}
    for value in sweep:
        cells = []
        for name in names:
            pairs = zip(maps[name], regions, strict=True)
            masks = [
                brushed(found_at(full, coarse, value), s.image, r, value, full > WITHIN_VETO)
                for ((full, coarse), r), s in zip(pairs, samples, strict=True)
            ]
            scores = scores_of(masks, samples)  # damaged crops only: no clean ones
            cells.append(f"{scores['precision']:.2f} / {scores['recall']:.2f} / {scores['f1']:.2f}")
        print(f"| {value:g} | {' | '.join(cells)} |")


def by_kind(args, names: list[str]) -> None:
    """Precision / recall / F1 of each detector on crops damaged by one kind at a time."""
    from photorecon.damage import DAMAGE_KINDS

    print(f"{args.split} crops of {args.size}², {args.crops} per photo, one kind at a time\n")
    print(f"| kind | {' | '.join(f'{n} P / R / F1' for n in names)} |")
    print("|---" * (len(names) + 1) + "|")
    for kind in DAMAGE_KINDS:
        samples = test_samples(args.photos, args.crops, args.size, args.seed, args.split, {kind: 1})
        cells = []
        for name in names:
            scores, _ = scores_at(probabilities(name, samples)[0], samples, args.sensitivity)
            cells.append(f"{scores['precision']:.2f} / {scores['recall']:.2f} / {scores['f1']:.2f}")
        print(f"| {kind} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
