"""The restorer on aged photos and on untouched ones, beside classical restorations.

The val or test photos of the pack (the splits every model holds out: seed 0) are shrunk to
`--side` px and aged three ways, fixed by `--seed`:
- `project`: as photorecon ages them for training (`photorecon.damage.look`);
- `fading`: by photorecon's second family (`photorecon.damage.fading`: free-form curves, toned
  monochrome, paper, lifted blacks), which the shipped restorer was not trained on and on
  which the restore pipeline's own settings were chosen;
- `foreign`: by an ageing written apart from it, here, with other formulas (dye fading with a
  gamma per channel, the classic sepia matrix, yellowed paper, a contrast squeeze about the
  mean, signal-dependent noise, blur, JPEG): what the restorer never saw.
The target is the photo itself, or for a sepia or black-and-white print the photo as neutral
grey. Each method is scored by PSNR (dB) and SSIM (on luminance) against the target, and on the
untouched photos against themselves ("no harm": a method should give them back as they were).

Methods: `aged` (nothing done), `stretch+nlm` (each channel's 1st-99th percentile stretched to
the full range, then OpenCV's non-local means), `greyworld+nlm` (grey-world white balance, the
same stretch and non-local means), `restore` (photorecon's restorer and grain step, damage off;
`--model` picks a checkpoint), and the same without the classical stretch it mixes in where it
finds a photo aged (`restore, no stretch`).

`--pictures FILE` also writes real old photos (`../shared/real`) before and after the whole
`photorecon restore` (damage, tone and grain) as one picture.

Run: .venv/bin/python bench/restore.py [--split val] [--model restore] [--side 512]
     [--pictures bench/pictures/restore_real.jpg]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from photorecon.damage.fading import fade
from photorecon.damage.look import grey, restoration_pair
from photorecon.data.build import BuildConfig
from photorecon.data.crops import downscale, pack_splits
from photorecon.imageio import read_image

SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def foreign_age(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(aged, target) by an ageing photorecon's training never used."""
    x = photo.astype(np.float64) / 255
    sepia = rng.random() < 0.4
    if sepia:
        x = np.clip(x @ SEPIA.T, 0, 1) ** rng.uniform(0.9, 1.3)
        target = grey(photo)
    else:  # dyes fade at their own rates: a gamma per channel, cyan (red) first
        gammas = rng.uniform(0.55, 1.15, 3)
        gammas[0] = rng.uniform(0.45, 0.8)
        x = x**gammas
        target = photo
    paper = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.85, 0.95), rng.uniform(0.65, 0.85)])
    yellow = rng.uniform(0.05, 0.35)
    x = x * (1 - yellow) + paper * yellow
    squeeze = rng.uniform(0.55, 0.95)
    x = x.mean((0, 1)) + (x - x.mean((0, 1))) * squeeze
    if rng.random() < 0.6:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.0))
    shot = np.sqrt(np.clip(x, 0, 1)) * rng.uniform(0.01, 0.04)  # noise grows with the signal
    x = x + rng.normal(0, 1, x.shape[:2])[..., None] * shot
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    _, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]), target


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the luminances (Gaussian window, sigma 1.5, the usual constants)."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v):
        return cv2.GaussianBlur(v, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cov + c2)
    return float((num / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def stretch(rgb: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(rgb, 1, axis=(0, 1)), np.percentile(rgb, 99, axis=(0, 1))
    out = (rgb.astype(np.float64) - lo) / np.maximum(hi - lo, 1) * 255
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def nlm(rgb: np.ndarray) -> np.ndarray:
    return cv2.fastNlMeansDenoisingColored(rgb, None, 5, 5, 7, 21)


def greyworld(rgb: np.ndarray) -> np.ndarray:
    means = rgb.reshape(-1, 3).mean(0)
    return np.clip(np.rint(rgb * (means.mean() / np.maximum(means, 1))), 0, 255).astype(np.uint8)


def methods(model: str):
    from photorecon.models.loading import load_model
    from photorecon.restoration import RestoreOptions, restore_pixels

    restorer = load_model(model, "cpu", role="restorer")
    options = RestoreOptions(damage=False)
    plain = RestoreOptions(damage=False, stretch=0.0)
    return {
        "aged": lambda im: im,
        "stretch+nlm": lambda im: nlm(stretch(im)),
        "greyworld+nlm": lambda im: nlm(stretch(greyworld(im))),
        "restore, no stretch": lambda im: restore_pixels(im, plain, restorer=restorer)[0],
        "restore": lambda im: restore_pixels(im, options, restorer=restorer)[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--model", default="restore")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pictures", help="real old photos before and after, as one JPEG")
    parser.add_argument("--real", default=str(Path(__file__).parents[1].parent / "shared/real"))
    args = parser.parse_args()
    if args.pictures:
        real_pictures(Path(args.real), args.model, Path(args.pictures))
    config = BuildConfig()  # the split every model holds out
    chosen = pack_splits(args.photos, config.seed, config.val_frac, config.test_frac)[args.split]
    photos = [downscale(read_image(p), args.side) for p in chosen]
    sets = {"project": [], "fading": [], "foreign": [], "untouched": []}
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([args.seed, i, 0])
        sets["project"].append(restoration_pair(photo, rng, untouched_share=0.0))
        sets["fading"].append(fade(photo, np.random.default_rng([args.seed, i, 2])))
        sets["foreign"].append(foreign_age(photo, np.random.default_rng([args.seed, i, 1])))
        sets["untouched"].append((photo, photo))
    print(f"{len(photos)} {args.split} photos at {args.side} px, seed {args.seed}\n")
    print(
        "| method | project ageing PSNR / SSIM | fading PSNR / SSIM | foreign ageing PSNR / SSIM "
        "| untouched PSNR (worst) / SSIM | ms per photo |"
    )
    print("|---|---|---|---|---|---|")
    for name, method in methods(args.model).items():
        cells, seconds, count = [], 0.0, 0
        for key, pairs in sets.items():
            scores = []
            for aged, target in pairs:
                start = time.perf_counter()
                out = method(aged)
                seconds += time.perf_counter() - start
                count += 1
                scores.append((psnr(out, target), ssim(out, target)))
            p, s = np.mean(scores, axis=0)
            worst = f" ({min(v[0] for v in scores):.1f})" if key == "untouched" else ""
            cells.append(f"{p:.2f}{worst} / {s:.3f}")
        print(f"| {name} | {' | '.join(cells)} | {1000 * seconds / count:.0f} |")


def real_pictures(folder: Path, model: str, out: Path) -> None:
    """Each real old photo beside its restoration (damage, tone, grain), in one picture."""
    import matplotlib

    matplotlib.use("Agg")  # a benchmark script owns its process
    import matplotlib.pyplot as plt

    from photorecon.detection import load_detector
    from photorecon.models.loading import load_model, load_model_for
    from photorecon.restoration import RestoreOptions, restore_pixels

    restorer = load_model(model, "cpu", role="restorer")
    detector = load_detector("damage", "cpu")
    filler, _ = load_model_for("ffc", "cpu")
    paths = sorted(folder.glob("scratched/*.png")) + sorted(folder.glob("clean/*.png"))
    fig, axes = plt.subplots(len(paths), 2, figsize=(10, 4.2 * len(paths)))
    for row, path in zip(axes, paths, strict=True):
        photo = read_image(path)
        restored, _ = restore_pixels(
            photo, RestoreOptions(), restorer=restorer, detector=detector, fill_model=filler
        )
        panels = ((path.name, photo), ("restored", restored))
        for ax, (title, image) in zip(row, panels, strict=True):
            ax.imshow(image)
            ax.set_title(title)
            ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=70, pil_kwargs={"quality": 85})
    plt.close(fig)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
