"""Challenge folders: masked photos + masked_info.csv, optionally originals and truth.csv.

Accepted layouts (the builder writes the first; the original challenge data fits it too):
- a split folder `SPLIT/masked/` (photos + masked_info.csv), `SPLIT/original/` (same names,
  optional) and `SPLIT/truth.csv` (optional);
- a bare masked folder holding the photos and masked_info.csv (like the challenge's test set).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photorecon.challenge import BOX_SIZE, MaskedEntry, check_boxes, read_masked_info
from photorecon.errors import PhotoreconError
from photorecon.imageio import read_image
from photorecon.masks import boxes_to_mask

INFO_NAME = "masked_info.csv"
CHALLENGE_SIZE = 256


@dataclass(frozen=True)
class ChallengeSplit:
    """Where a challenge folder's parts live; `original_dir`/`truth` are None when absent."""

    masked_dir: Path
    info_path: Path
    original_dir: Path | None
    truth: Path | None
    box_size: int = BOX_SIZE
    image_size: int | None = CHALLENGE_SIZE  # None: any size


def open_split(
    path: str | Path, box_size: int = BOX_SIZE, image_size: int | None = CHALLENGE_SIZE
) -> ChallengeSplit:
    """Locate the parts of a split folder or a bare masked folder."""
    path = Path(path)
    if not path.is_dir():
        raise PhotoreconError(f"{path}: no such folder")
    if (path / "masked").is_dir():
        root, masked = path, path / "masked"
    elif (path / INFO_NAME).is_file() or path.name == "masked":
        root, masked = path.parent, path
    else:
        raise PhotoreconError(f"{path}: no {INFO_NAME} here or in {path / 'masked'}")
    info = masked / INFO_NAME
    if not info.is_file():
        raise PhotoreconError(f"{info}: masked_info.csv not found")
    original = root / "original" if (root / "original").is_dir() and root != masked else None
    truth = root / "truth.csv" if (root / "truth.csv").is_file() and root != masked else None
    return ChallengeSplit(masked, info, original, truth, box_size, image_size)


def read_entries(split: ChallengeSplit) -> list[MaskedEntry]:
    """The split's masked_info.csv entries, with the split's square size."""
    return read_masked_info(split.info_path, box_size=split.box_size)


def load_masked(split: ChallengeSplit, entry: MaskedEntry) -> tuple[np.ndarray, np.ndarray]:
    """One masked photo (uint8 H,W,3) and its mask (H,W), checked against size and boxes."""
    path = split.masked_dir / entry.filename
    size = split.image_size
    image = read_image(path)
    height, width = image.shape[:2]
    if size is not None and (height, width) != (size, size):
        raise PhotoreconError(f"{path}: image is {width}x{height}, expected {size}x{size}")
    check_boxes(entry, height, width, split.info_path)
    return image, boxes_to_mask(height, width, list(entry.boxes))


def load_original(split: ChallengeSplit, entry: MaskedEntry) -> np.ndarray:
    """The unmasked photo for an entry (needs an original/ folder)."""
    if split.original_dir is None:
        raise PhotoreconError(f"{split.masked_dir.parent}: no original/ folder")
    return read_image(split.original_dir / entry.filename)


def iter_masked(
    split: ChallengeSplit, entries: list[MaskedEntry]
) -> Iterator[tuple[MaskedEntry, np.ndarray, np.ndarray]]:
    """Entries with their masked photos and masks, in order."""
    for entry in entries:
        image, mask = load_masked(split, entry)
        yield entry, image, mask
