"""Fill a challenge folder with a model and write its submission."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photorecon.challenge import MaskedEntry, write_submission
from photorecon.data.challenge_dir import ChallengeSplit, iter_masked, read_entries
from photorecon.inpaint import fill_batch
from photorecon.progress import bar as progress_bar

if TYPE_CHECKING:
    import torch
    from torch import nn


def predict_split(
    model: nn.Module,
    split: ChallengeSplit,
    *,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    progress: bool = True,
    entries: list[MaskedEntry] | None = None,
) -> Iterator[tuple[MaskedEntry, np.ndarray]]:
    """Yield (entry, filled float32 (H, W, 3) in [0, 1]) for each photo of the split."""
    entries = read_entries(split) if entries is None else entries
    model.eval()
    bar = progress_bar(total=len(entries), desc="fill", unit="img", enabled=progress, leave=False)
    batch: list[tuple[MaskedEntry, np.ndarray, np.ndarray]] = []

    def flush() -> Iterator[tuple[MaskedEntry, np.ndarray]]:
        filled = fill_batch(model, [b[1] for b in batch], [b[2] for b in batch], device)
        bar.update(len(batch))
        yield from zip((b[0] for b in batch), filled, strict=True)
        batch.clear()

    try:
        for item in iter_masked(split, entries):
            batch.append(item)
            if len(batch) == batch_size:
                yield from flush()
        if batch:
            yield from flush()
    finally:
        bar.close()


def predict_to_csv(
    model: nn.Module,
    split: ChallengeSplit,
    out: str | Path,
    *,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    progress: bool = True,
    entries: list[MaskedEntry] | None = None,
) -> int:
    """Fill every photo of the split (or those `entries` name) and write the submission
    atomically; returns its row count."""
    filled = predict_split(
        model, split, batch_size=batch_size, device=device, progress=progress, entries=entries
    )
    return write_submission(out, filled)
