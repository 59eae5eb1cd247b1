"""Detail in large holes: the default model's plain fill, the same with `detail`, and Telea.

On a split at 512 px (default the 512-px large-hole test split, `data build --holes large
--size 512`): its own large holes, plus boxes, blobs and brush strokes drawn on the same photos
(fixed by --seed). Per hole set and fill: the RMSE in the hole (0-1 scale); the detail ratio,
the standard deviation of the Laplacian (of the grey image) inside the hole, 2 px in from its
edge, over the real photo's there (1 = as much fine structure as the photo, 0 = a smear); the
colour shift, the mean difference of the low frequencies (Gaussian, sigma 6 px) of the detailed
fill and the plain one over the hole, in levels of 255 (the largest of the three channels'); and
ms per photo (the fills are interleaved photo by photo, so a busy machine slows each alike).
A picture, plain | detail | Telea | original, 256-px crops around the hole at 100%, is written
for the most textured photos of the first set.

Run: .venv/bin/python bench/detail.py [--split data/ds512-large/test] [--limit 0]
     [--picture bench/pictures/detail.jpg]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from photorecon.anysize import fill_any_size
from photorecon.api import default_model
from photorecon.evaluate import drawn_hole_sets, mask_split
from photorecon.models.loading import load_model_for

KINDS = ("boxes", "blobs", "brush")


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def inside(mask: np.ndarray, px: int = 2) -> np.ndarray:
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.erode((mask > 0).astype(np.uint8), kernel) > 0


def laplacian_std(image: np.ndarray, where: np.ndarray) -> float:
    return float(cv2.Laplacian(grey(image), cv2.CV_32F)[where].std())


def low(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 6)


def run(args: argparse.Namespace) -> None:
    spec = args.model or default_model()
    net, device = load_model_for(spec, "cpu")
    telea, _ = load_model_for("telea", "cpu")
    sets = [mask_split(args.split), *drawn_hole_sets(args.split, list(KINDS), args.seed)]
    fills = {"plain": (net, False), "detail": (net, True), "telea": (telea, False)}
    # warm-up: the first detail call loads the compiled patch search
    first = sets[0]
    fill_any_size(first.images[0], first.masks[0], net, detail=True)
    rows, pictures = [], []
    for holes in sets:
        n = len(holes.images) if args.limit <= 0 else min(args.limit, len(holes.images))
        sse = {k: 0.0 for k in fills}
        count = 0
        ratio = {k: [] for k in fills}
        seconds = {k: 0.0 for k in fills}
        shift = []
        for image, mask in zip(holes.images[:n], holes.masks[:n], strict=True):
            hole, core = mask > 0, inside(mask)
            outs = {}
            for name, (model, detail) in fills.items():
                start = time.perf_counter()
                outs[name] = fill_any_size(image, mask, model, device=device, detail=detail)
                seconds[name] += time.perf_counter() - start
                diff = (outs[name][hole].astype(np.float64) - image[hole]) / 255.0
                sse[name] += float(np.square(diff).sum())
                if core.any():
                    real = laplacian_std(image, core)
                    ratio[name].append(laplacian_std(outs[name], core) / max(real, 1e-6))
            count += int(hole.sum()) * 3
            drift = (low(outs["detail"]) - low(outs["plain"]))[hole].mean(axis=0)
            shift.append(float(np.abs(drift).max()))
            if holes is first and core.any():  # the most textured photos make the picture
                crops = [crop_around(x, hole) for x in (*outs.values(), image)]
                pictures.append((laplacian_std(image, core), crops))
                pictures = sorted(pictures, key=lambda p: -p[0])[: args.pictures]
        for name in fills:
            rows.append(
                (
                    holes.name,
                    name,
                    float(np.sqrt(sse[name] / max(count, 1))),
                    float(np.mean(ratio[name])) if ratio[name] else float("nan"),
                    float(np.mean(shift)) if name == "detail" else 0.0,
                    1000 * seconds[name] / n,
                    n,
                )
            )
    print_table(rows, spec)
    if args.picture and pictures:
        write_picture([crops for _, crops in pictures], Path(args.picture))


def crop_around(image: np.ndarray, hole: np.ndarray, side: int = 256) -> np.ndarray:
    """A side x side crop centred on the hole (at 100%: no scaling)."""
    rows, cols = np.nonzero(hole)
    top = int(min(max(rows.mean() - side / 2, 0), image.shape[0] - side))
    left = int(min(max(cols.mean() - side / 2, 0), image.shape[1] - side))
    return image[top : top + side, left : left + side]


def print_table(rows, spec: str) -> None:
    print(f"\nmodel {spec}; RMSE in the hole, detail ratio (1 = the photo's), colour shift")
    header = "| holes | fill | RMSE | vs plain | detail ratio | colour shift | ms/photo | photos |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    plain = {r[0]: r[2] for r in rows if r[1] == "plain"}
    for name, fill, rmse, ratio, shift, ms, n in rows:
        print(
            f"| {name} | {fill} | {rmse:.4f} | {rmse / plain[name]:.3f}× | {ratio:.2f} | "
            f"{shift:.2f} | {ms:.0f} | {n} |"
        )


def write_picture(pictures, path: Path) -> None:
    """Rows of plain | detail | Telea | original, each crop around the hole at 100%."""
    rows = [np.concatenate(row, axis=1) for row in pictures]
    grid = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {path} (columns: plain, detail, Telea, original)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="data/ds512-large/test")
    parser.add_argument("--model", help="default: the default model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="photos per hole set (0: all)")
    parser.add_argument("--pictures", type=int, default=3)
    parser.add_argument("--picture", default="", help="write the side-by-side picture here")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
