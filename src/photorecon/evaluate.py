"""Fill a split with several models and score each against its truth with the challenge metric."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

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
from photorecon.models.loading import load_model, trained_on
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
) -> list[EvalRow]:
    """Score each model on the split's truth.csv, same code path as `photorecon score`."""
    if split.truth is None:
        raise PhotoreconError(f"{split.masked_dir.parent}: no truth.csv to score against")
    truth = read_submission(split.truth, "truth")
    entries = read_entries(split)
    warn_if_trained_on(split, specs)
    rows = []
    for spec in specs:
        model = load_model(spec, device, tta=tta, runtime=runtime)
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
