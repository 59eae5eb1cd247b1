"""`photorecon fill`: files or folders in, files or folders out; inputs are never overwritten
unless asked."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from photorecon.anysize import fill_any_size
from photorecon.errors import PhotoreconError
from photorecon.imageio import (
    IMAGE_SUFFIXES,
    ImageModeWarning,
    list_images,
    read_image,
    write_image,
)
from photorecon.masks import Box


@dataclass(frozen=True)
class FillJob:
    """One image to fill and where its result goes."""

    source: Path
    target: Path


def parse_box(text: str) -> Box:
    """`ROW,COL,HEIGHT,WIDTH` -> Box."""
    parts = text.split(",")
    try:
        row, col, height, width = (int(p) for p in parts)
    except ValueError:
        raise PhotoreconError(
            f"--box expects ROW,COL,HEIGHT,WIDTH integers, got {text!r}"
        ) from None
    if height <= 0 or width <= 0:
        raise PhotoreconError(f"--box {text}: height and width must be positive")
    return Box(row, col, height, width)


def plan_jobs(inputs: list[str], out: str | None, in_place: bool) -> list[FillJob]:
    """Expand folders and decide each output path; refuse to overwrite inputs."""
    sources: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = list_images(path)
            if not files:
                raise PhotoreconError(f"{path}: no images in this folder")
            sources += files
        elif path.is_file():
            sources.append(path)
        else:
            raise PhotoreconError(f"{path}: no such file or folder")
    if in_place:
        if out is not None:
            raise PhotoreconError("--in-place and -o/--out cannot be combined")
        return [FillJob(src, src) for src in sources]
    single_file_out = (
        out is not None and len(sources) == 1 and Path(out).suffix.lower() in IMAGE_SUFFIXES
    )
    jobs = []
    for src in sources:
        if single_file_out:
            target = Path(out)
        elif out is not None:
            target = Path(out) / src.name
        else:
            target = src.with_name(f"{src.stem}_filled.png")
        jobs.append(FillJob(src, target))
    inputs_set = {j.source.resolve() for j in jobs}
    for job in jobs:
        if job.target.resolve() in inputs_set:
            raise PhotoreconError(f"{job.target}: would overwrite an input (use --in-place)")
    targets = [j.target.resolve() for j in jobs]
    if len(set(targets)) != len(targets):
        raise PhotoreconError("two inputs would be written to the same output; use -o FOLDER")
    return jobs


def job_mask(
    image: np.ndarray,
    source: Path,
    boxes: list[Box],
    mask_path: str | None,
    white: bool,
) -> np.ndarray:
    """The hole mask for one image from --box, --mask or --white."""
    from photorecon.api import resolve_mask

    if mask_path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImageModeWarning)  # masks are grayscale by nature
            mask = read_image(mask_path)
        return resolve_mask(image, mask, f"{mask_path} (mask of {source})")
    return resolve_mask(image, "white" if white else boxes, str(source))


def run_fill(
    jobs: list[FillJob],
    model,
    *,
    boxes: list[Box],
    mask_path: str | None,
    white: bool,
    device="cpu",
    progress: bool = True,
) -> None:
    """Fill each job; every output is written atomically, inputs are read before anything."""
    for job in tqdm(jobs, desc="fill", unit="img", disable=not progress or len(jobs) < 2):
        image = read_image(job.source)
        mask = job_mask(image, job.source, boxes, mask_path, white)
        write_image(job.target, fill_any_size(image, mask, model, device=device))
