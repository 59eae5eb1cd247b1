"""Damage detectors on real old photos: precision, recall and F1 against hand-checked masks, and
the share of real clean old photos flagged.

A folder laid out as `../shared/real` is: `scratched/<name>.png` (real damaged photos),
`truth/<name>.png` (their damage masks, non-zero = damaged) and `clean/*.png` (real old photos
without damage). For each detector (a name, a checkpoint, or `tophat`), each damaged photo is
scored with a 2-px tolerance (a flagged pixel within 2 px of true damage is a hit, a true
pixel within 2 px of a flagged one is found), then all of them pooled; each clean photo gives
the share of its pixels flagged. `--within` also scores the damage brush: a broad stroke
(the true damage dilated by `--brush` px, as a person paints roughly over it) given as the
region to look in, as `detect(photo, within=region)` runs it.

Run: .venv/bin/python bench/real_damage.py [--real ../shared/real] [--detectors damage,tophat]
     [--sensitivity 0.5] [--within] [--brush 12]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from photorecon.detection import SENSITIVITY, detect
from photorecon.imageio import read_image

TOLERANCE = 2


def near(mask: np.ndarray, radius: int = TOLERANCE) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """flagged, flagged near truth, true, true near flagged (bool masks)."""
    return np.array(
        [pred.sum(), (pred & near(truth)).sum(), truth.sum(), (truth & near(pred)).sum()],
        np.float64,
    )


def scores(c: np.ndarray) -> tuple[float, float, float]:
    precision = c[1] / max(c[0], 1.0)
    recall = c[3] / max(c[2], 1.0)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def real_set(folder: Path):
    """(name, photo, truth) of the damaged photos and (name, photo) of the clean ones."""
    damaged = []
    for path in sorted((folder / "scratched").glob("*.png")):
        truth = cv2.imread(str(folder / "truth" / path.name), cv2.IMREAD_GRAYSCALE) > 0
        damaged.append((path.stem, read_image(path), truth))
    clean = [(p.stem, read_image(p)) for p in sorted((folder / "clean").glob("*.png"))]
    return damaged, clean


def brush_region(truth: np.ndarray, brush: int) -> np.ndarray:
    """What a person paints roughly over the damage: the true mask widened by `brush` px."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * brush + 1, 2 * brush + 1))
    return cv2.dilate(truth.astype(np.uint8) * 255, kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(Path(__file__).parents[1].parent / "shared/real"))
    parser.add_argument("--detectors", default="damage,tophat")
    parser.add_argument("--sensitivity", type=float, default=SENSITIVITY)
    parser.add_argument("--within", action="store_true", help="also score the damage brush")
    parser.add_argument("--brush", type=int, default=12, help="brush half-width in px")
    args = parser.parse_args()
    damaged, clean = real_set(Path(args.real))
    names = [d[0] for d in damaged]
    print(f"real damaged photos: {', '.join(names)}; clean: {', '.join(c[0] for c in clean)}")
    print(f"sensitivity {args.sensitivity}, tolerance {TOLERANCE} px\n")
    head = " | ".join(f"{n} P / R / F1" for n in names)
    print(f"| detector | {head} | all P / R / F1 | clean flagged |")
    print("|---" * (len(names) + 3) + "|")
    rows = [(d, False) for d in args.detectors.split(",")]
    if args.within:
        rows += [(d, True) for d in args.detectors.split(",") if d != "tophat"]
    for detector, within in rows:
        total = np.zeros(4)
        cells = []
        for _, photo, truth in damaged:
            region = brush_region(truth, args.brush) if within else None
            pred = detect(photo, model=detector, sensitivity=args.sensitivity, within=region) > 0
            c = counts(pred, truth)
            total += c
            cells.append("{:.2f} / {:.2f} / {:.2f}".format(*scores(c)))
        flagged = (
            []
            if within
            else [
                float((detect(photo, model=detector, sensitivity=args.sensitivity) > 0).mean())
                for _, photo in clean
            ]
        )
        label = f"{detector}, brush {args.brush} px" if within else detector
        share = "-" if within else f"{100 * np.mean(flagged):.2f}% (max {100 * max(flagged):.2f}%)"
        print(
            f"| {label} | {' | '.join(cells)} | "
            + "{:.2f} / {:.2f} / {:.2f}".format(*scores(total))
            + f" | {share} |"
        )


if __name__ == "__main__":
    main()
