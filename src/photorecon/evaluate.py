"""Fill a split with several models and score each against its truth with the challenge metric."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from photorecon.challenge import (
    MaskedEntry,
    Score,
    read_submission,
    score_frames,
    submission_frame,
    write_submission,
)
from photorecon.data.challenge_dir import ChallengeSplit, read_entries
from photorecon.errors import PhotoreconError
from photorecon.models.files import trained_on
from photorecon.models.loading import load_model
from photorecon.models.registry import count_parameters
from photorecon.predict import predict_split


@dataclass(frozen=True)
class EvalRow:
    """One model's result on a split."""

    model: str
    parameters: int
    score: Score
    images_per_s: float


def evaluate_models(
    split: ChallengeSplit,
    specs: list[str],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    submissions_dir: str | Path | None = None,
    progress: bool = True,
    tta: bool = False,
    runtime: str = "torch",
    model_options: dict | None = None,
) -> list[EvalRow]:
    """Score each model on the split's truth.csv, same code path as `photorecon score`
    (`model_options`: load_model's diffusion sampling and LoRA)."""
    if split.truth is None:
        raise PhotoreconError(f"{split.masked_dir.parent}: no truth.csv to score against")
    truth = read_submission(split.truth, "truth")
    entries = read_entries(split)
    warn_if_trained_on(split, specs)
    rows = []
    for spec in specs:
        model = load_model(spec, device, tta=tta, runtime=runtime, **(model_options or {}))
        start = time.perf_counter()
        filled: list[tuple[MaskedEntry, np.ndarray]] = list(
            predict_split(
                model,
                split,
                batch_size=batch_size,
                device=device,
                progress=progress,
                entries=entries,
            )
        )
        elapsed = time.perf_counter() - start
        frame = submission_frame(filled)
        score = score_frames(frame, truth, where=f"{spec} on {split.masked_dir}")
        if submissions_dir is not None:
            write_submission(Path(submissions_dir) / f"{spec}.csv", filled)
        label = spec + (" +tta" if tta else "") + (" (onnx)" if runtime == "onnx" else "")
        rows.append(EvalRow(label, count_parameters(model), score, len(filled) / elapsed))
    return rows


def warn_if_trained_on(split: ChallengeSplit, specs: list[str]) -> None:
    """Warn when a split made from the pack holds photos a shipped model trained on."""
    import warnings

    listing = split.masked_dir.parent / "photos.txt"
    if not listing.is_file():
        return
    photos = set(listing.read_text().split())
    for spec in specs:
        overlap = photos & trained_on(spec)
        if overlap:
            warnings.warn(
                f"{len(overlap)} of the {len(photos)} photos of {split.masked_dir.parent} were in "
                f"{spec}'s training set: its score here is optimistic",
                stacklevel=2,
            )


def rows_to_frame(rows: list[EvalRow]) -> pl.DataFrame:
    """A table of results, best RMSE first."""
    return pl.DataFrame(
        {
            "model": [r.model for r in rows],
            "params": [r.parameters for r in rows],
            "rmse": [r.score.rmse for r in rows],
            "psnr_db": [r.score.psnr for r in rows],
            "images_per_s": [r.images_per_s for r in rows],
        }
    ).sort("rmse")


# --- Per hole kind: any split's originals with drawn holes, or a mask split ------------------

MASKS_DIR = "masks"
HOLES_FILE = "holes.txt"


@dataclass(frozen=True)
class HoleSet:
    """Photos and their hole masks for one column of the per-kind table."""

    name: str
    images: list[np.ndarray]  # uint8 (H, W, 3) originals
    masks: list[np.ndarray]  # (H, W) float32, 1 = missing


def hole_mask(kind: str, seed: int, index: int, height: int, width: int) -> np.ndarray:
    """The (H, W) mask of `kind` for photo `index`: fixed by (seed, kind, index) alone, so every
    model and every run sees the same holes."""
    from photorecon.masks import HOLE_KINDS, draw_kind, generator_from

    rng = np.random.default_rng([seed, 77, HOLE_KINDS.index(kind), index])
    return draw_kind(kind, generator_from(rng), 1, height, width)[0, 0].numpy()


def drawn_hole_sets(split_dir: str | Path, kinds: list[str], seed: int = 0) -> list[HoleSet]:
    """A split's original/ photos (read once) with holes of each of `kinds` drawn on them."""
    from photorecon.imageio import list_images, read_image
    from photorecon.masks import check_kind

    for kind in kinds:
        check_kind(kind)
    root = Path(split_dir)
    folder = root / "original" if (root / "original").is_dir() else root
    paths = list_images(folder) if folder.is_dir() else []
    if not paths:
        raise PhotoreconError(f"{split_dir}: no original/ photos to draw holes on")
    images = [read_image(p) for p in paths]
    label = set_label(root)
    return [
        HoleSet(
            _set_name(f"{label}-{kind}" if label else kind, images),
            images,
            [hole_mask(kind, seed, i, *im.shape[:2]) for i, im in enumerate(images)],
        )
        for kind in kinds
    ]


def set_label(root: Path) -> str:
    """A folder's label in the per-kind table (its set.txt, as `data scenes` writes), or ""."""
    from photorecon.data.scenes import SET_FILE

    path = root / SET_FILE
    return path.read_text().strip() if path.is_file() else ""


def drawn_holes(split_dir: str | Path, kind: str, seed: int = 0) -> HoleSet:
    """A split's original/ photos with holes of `kind` drawn on them."""
    return drawn_hole_sets(split_dir, [kind], seed)[0]


def mask_split(split_dir: str | Path) -> HoleSet:
    """A split written by `data build --holes KIND`: original/, masks/ and holes.txt."""
    from photorecon.imageio import list_images, read_image, read_mask

    root = Path(split_dir)
    if not (root / MASKS_DIR).is_dir() or not (root / "original").is_dir():
        raise PhotoreconError(f"{split_dir}: not a mask split (needs original/ and masks/)")
    kind = (root / HOLES_FILE).read_text().strip() if (root / HOLES_FILE).is_file() else "mask"
    images, masks = [], []
    for path in list_images(root / "original"):
        mask_path = root / MASKS_DIR / path.with_suffix(".png").name
        if not mask_path.is_file():
            raise PhotoreconError(f"{mask_path}: missing (every original needs its mask)")
        image, mask = read_image(path), read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise PhotoreconError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                f"its photo {image.shape[1]}x{image.shape[0]}"
            )
        images.append(image)
        masks.append(mask)
    if not images:
        raise PhotoreconError(f"{root / 'original'}: no photos")
    return HoleSet(_set_name(kind, images), images, masks)


def _set_name(kind: str, images: list[np.ndarray]) -> str:
    sizes = {im.shape[:2] for im in images}
    if sizes == {(256, 256)}:
        return kind
    side = max(max(s) for s in sizes)
    return f"{kind}@{side}"


def fill_rmse(model: nn.Module, holes: HoleSet, device="cpu") -> tuple[float, float]:
    """(RMSE over every hole pixel and channel, seconds per photo) through the fill path."""
    from photorecon.anysize import fill_any_size
    from photorecon.metrics import SquaredErrors

    errors, seconds = SquaredErrors(), 0.0
    for image, mask in zip(holes.images, holes.masks, strict=True):
        start = time.perf_counter()
        out = fill_any_size(image, mask, model, device=device)
        seconds += time.perf_counter() - start
        hole = mask > 0
        errors.add((out[hole].astype(np.float64) - image[hole]) / 255.0)
    return errors.rmse, seconds / len(holes.images)


@dataclass(frozen=True)
class KindRow:
    """One model's RMSE on each hole set, and its mean fill time per photo."""

    model: str
    parameters: int
    rmse: dict[str, float]
    seconds_per_image: float


def evaluate_kinds(
    sets: list[HoleSet],
    specs: list[str],
    *,
    device: torch.device | str = "cpu",
    tta: bool = False,
    runtime: str = "torch",
    progress: bool = True,
    model_options: dict | None = None,
) -> list[KindRow]:
    """Each model on each hole set (Telea always among them, as the reference)."""
    from photorecon.progress import bar as progress_bar

    added = "telea" not in specs  # the reference, whatever runtime the models were asked on
    if added:
        specs = [*specs, "telea"]
    rows = []
    for spec in progress_bar(specs, desc="models", enabled=progress, leave=False):
        reference = added and spec == "telea"
        model = load_model(
            spec,
            device,
            tta=tta,
            runtime="torch" if reference else runtime,
            **({} if reference else model_options or {}),
        )
        scores, times = {}, []
        for holes in sets:
            scores[holes.name], seconds = fill_rmse(model, holes, device)
            times += [seconds] * len(holes.images)
        label = spec + (" +tta" if tta and spec != "telea" else "")
        label += " (onnx)" if runtime == "onnx" and not reference else ""
        rows.append(KindRow(label, count_parameters(model), scores, float(np.mean(times))))
    return rows


def kinds_frame(rows: list[KindRow]) -> pl.DataFrame:
    """The per-kind table: one row per model, RMSE per hole set, change vs Telea, ms per photo."""
    telea = next(r for r in rows if r.model.startswith("telea"))
    columns: dict[str, list] = {"model": [r.model for r in rows]}
    for name in telea.rmse:
        columns[name] = [r.rmse[name] for r in rows]
        columns[f"{name}_vs_telea"] = [r.rmse[name] / telea.rmse[name] - 1 for r in rows]
    columns["ms_per_image"] = [1000 * r.seconds_per_image for r in rows]
    return pl.DataFrame(columns)
