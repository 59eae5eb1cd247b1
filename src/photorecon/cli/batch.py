"""The batch work of `fill`, `detect` and `restore`: files or folders in, files or folders
out; inputs are never overwritten unless asked. A batch goes on past a bad file (one line
each, a summary at the end); what the user's file carries besides pixels (alpha, EXIF, colour
profile) goes back out with the fill."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photorecon.anysize import fill_any_size
from photorecon.batchlog import RunLog, Shard
from photorecon.errors import NoHoles, PhotoreconError
from photorecon.fsutil import STDOUT
from photorecon.imageio import (
    IMAGE_SUFFIXES,
    ImageModeWarning,
    encode_photo,
    format_for,
    list_images,
    read_mask,
    read_photo,
    write_photo,
)
from photorecon.masks import Box
from photorecon.remote import RemotePath, local_or_remote

Location = Path | RemotePath  # a local file, or one at an fsspec URL (photorecon.remote)


@dataclass(frozen=True)
class Job:
    """One image to fill and where its result goes."""

    source: Location
    target: Location


@dataclass
class BatchSummary:
    """What a batch came to: photos done, skipped (nothing to do), failed, done before."""

    filled: int = 0
    skipped: int = 0
    failed: int = 0
    done_before: int = 0  # in the run log as done by an earlier run

    def finish(self, verb: str, total: int, shard) -> None:
        """Say what a batch came to (a batch or a share of one; one photo says nothing), and
        exit non-zero through one line if any photo failed."""
        if total > 1 or shard.count > 1:
            print(
                f"{verb} {self.filled} of {total} photos"
                + (f" (shard {shard})" if shard.count > 1 else "")
                + (f", {self.done_before} done before" if self.done_before else "")
                + (f", {self.skipped} skipped" if self.skipped else "")
                + (f", {self.failed} failed" if self.failed else "")
            )
        if self.failed:
            raise PhotoreconError(f"{self.failed} of {total} photos could not be {verb}")


def expand_inputs(inputs: list[str], shard: Shard | None = None) -> list[Location]:
    """Files as given and the images directly inside folders (local, or at fsspec URLs); a
    missing one is an error. With `shard`, only its share: a folder's photos by their names
    in the folder, a file by the path as given, so the split is the same wherever the
    archive is mounted and does not move when photos are added."""
    sources: list[Location] = []
    keep = (lambda key: shard.holds(key)) if shard is not None and shard.count > 1 else None
    for item in inputs:
        path = local_or_remote(item)
        if isinstance(path, RemotePath) and path.is_dir():
            files = [p for p in path.children() if p.suffix.lower() in IMAGE_SUFFIXES]
        elif path.is_dir():
            files = list_images(path)
        elif path.is_file():
            if keep is None or keep(item):
                sources.append(path)
            continue
        else:
            raise PhotoreconError(f"{path}: no such file or folder")
        if not files:
            raise PhotoreconError(f"{path}: no images in this folder")
        sources += [f for f in files if keep is None or keep(f.name)]
    return sources


# formats an image on standard output keeps; others come out as PNG
ANSWER_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")


def plan_jobs(
    inputs: list[str],
    out: str | None,
    in_place: bool,
    shard: Shard | None = None,
    suffix: str = "_filled",
) -> list[Job]:
    """Expand folders (keeping this shard's share of them) and decide each output path
    (`<stem><suffix>.<ext>` beside the input without `out`); refuse to overwrite inputs."""
    sources = expand_inputs(inputs, shard)
    if in_place:
        if out is not None:
            raise PhotoreconError("--in-place and -o/--out cannot be combined")
        return [Job(src, src) for src in sources]
    if out == STDOUT:  # the filled image, in the input's format, to standard output
        if len(sources) != 1:
            raise PhotoreconError("-o - writes one image to standard output: give one photo")
        return [Job(sources[0], Path(STDOUT))]
    where = local_or_remote(out) if out is not None else None
    single_file_out = (
        where is not None and len(sources) == 1 and where.suffix.lower() in IMAGE_SUFFIXES
    )
    jobs = []
    for src in sources:
        if single_file_out:
            target = where
        elif where is not None:
            target = where / src.name
        else:
            target = src.with_name(f"{src.stem}{suffix}{src.suffix}")
        jobs.append(Job(src, target))
    inputs_set = {j.source.resolve() for j in jobs}
    for job in jobs:
        if job.target.resolve() in inputs_set:
            raise PhotoreconError(f"{job.target}: would overwrite an input (use --in-place)")
    targets = [j.target.resolve() for j in jobs]
    if len(set(targets)) != len(targets):
        raise PhotoreconError("two inputs would be written to the same output; use -o FOLDER")
    return jobs


def mask_file(mask_path: str, source: Path) -> Path:
    """The mask for `source`: the file itself, or in a folder of masks the one with the
    photo's name (IOPaint's convention; any image suffix, PNG preferred)."""
    folder = Path(mask_path)
    if not folder.is_dir():
        return folder
    for suffix in (".png", *IMAGE_SUFFIXES):
        candidate = folder / f"{source.stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise PhotoreconError(f"{source}: no mask named {source.stem}.png in {folder}")


@dataclass(frozen=True)
class AutoDetect:
    """`fill --auto`: find the damage with this detector before filling."""

    model: object
    sensitivity: float
    dilate: int
    device: str = "cpu"


def job_mask(
    image: np.ndarray,
    source: Path,
    boxes: list[Box],
    mask_path: str | None,
    white: bool,
    auto: AutoDetect | None = None,
) -> np.ndarray:
    """The hole mask for one image from --box, --mask (a file or a folder) or --white, and
    with --auto the damage the detector finds added to it."""
    from photorecon.api import resolve_mask

    given = None
    if mask_path is not None:
        path = mask_file(mask_path, source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImageModeWarning)  # masks are grayscale by nature
            mask = read_mask(path)
        given = resolve_mask(image, mask, f"{path} (mask of {source})")
    elif white or boxes:
        given = resolve_mask(image, "white" if white else boxes, str(source))
    if auto is None:
        if given is None:
            raise PhotoreconError("give --box, --mask, --white or --auto")
        return given
    from photorecon.detection import damage_mask

    found = damage_mask(image, auto.model, auto.sensitivity, auto.dilate, auto.device) > 0
    holes = found if given is None else found | (given > 0)
    if not holes.any():
        raise NoHoles(f"{source}: no damage found")
    if holes.all():
        raise PhotoreconError(f"{source}: the detector flags the whole photo; lower --sensitivity")
    return holes.astype(np.float32)


def run_batch(
    jobs: list[Job],
    work: Callable[[Job], str],
    *,
    desc: str,
    progress: bool = True,
    log: RunLog | None = None,
) -> BatchSummary:
    """`work` on each job (it returns the note for the job's line); a bad file is reported in
    one line and the batch goes on; a file with nothing to do (NoHoles) is skipped. One job
    alone raises instead. On a terminal one progress bar runs over the batch; elsewhere (a log,
    a pipe) each file gets one plain line when it is done."""
    from photorecon.progress import bar as progress_bar
    from photorecon.progress import say

    summary = BatchSummary()
    log = log or RunLog(None)
    bar = progress_bar(total=len(jobs), desc=desc, unit="img", enabled=progress)
    for job in jobs:
        if log.is_done(job.source, job.target):  # a rerun: done before, and its output is there
            summary.done_before += 1
            bar.update(1)
            continue
        started = time.perf_counter()
        try:
            note = work(job)
        except NoHoles as exc:
            log.write(job.source, job.target, "skipped", str(exc), time.perf_counter() - started)
            if len(jobs) == 1:
                raise
            summary.skipped += 1
            print(f"photorecon: {exc}; skipped", file=sys.stderr)
        except PhotoreconError as exc:
            log.write(job.source, job.target, "failed", str(exc), time.perf_counter() - started)
            if len(jobs) == 1:
                raise
            summary.failed += 1
            print(f"photorecon: error: {exc}", file=sys.stderr)
        else:
            log.write(job.source, job.target, "done", "", time.perf_counter() - started)
            summary.filled += 1
            if progress:
                say(f"{job.source} -> {job.target}" + (f"  ({note})" if note else ""))
        bar.update(1)
    bar.close()
    return summary


def run_fill(
    jobs: list[Job],
    model,
    *,
    boxes: list[Box],
    mask_path: str | None,
    white: bool,
    device="cpu",
    progress: bool = True,
    quality: int = 95,
    label: str = "",
    auto: AutoDetect | None = None,
    detail: bool = False,
    log: RunLog | None = None,
) -> BatchSummary:
    """Fill each job and write it atomically (`run_batch`: bad files do not stop the rest);
    `detail` adds the photo's own texture to large holes (photorecon.detail)."""

    def work(job: Job) -> str:
        photo = read_location(job.source)
        mask = job_mask(photo.rgb, job.source, boxes, mask_path, white, auto)
        filled = fill_any_size(photo.rgb, mask, model, device=device, detail=detail)
        if str(job.target) == STDOUT:
            fmt = photo.format if photo.format in ANSWER_FORMATS else "PNG"
            sys.stdout.buffer.write(encode_photo(filled, photo, fmt, quality))
            sys.stdout.buffer.flush()
        elif isinstance(job.target, RemotePath):
            fmt = format_for(job.target)
            job.target.write_bytes(encode_photo(filled, photo, fmt, quality))
        else:
            write_photo(job.target, filled, photo, quality)
        return label

    # an image on standard output is all that goes there: no progress lines
    progress = progress and not any(str(job.target) == STDOUT for job in jobs)
    return run_batch(jobs, work, desc="fill", progress=progress, log=log)


def read_location(source: Location):
    """`read_photo` of a local file or of one at a URL."""
    if isinstance(source, RemotePath):
        return read_photo(source.read_bytes(), str(source))
    return read_photo(source)


def plan_masks(inputs: list[str], out: str | None) -> list[Job]:
    """`detect`'s jobs: each photo and the mask file written for it (`<stem>.png` in an output
    folder, `<stem>_mask.png` beside the photo without -o, or the -o file for one photo)."""
    sources = expand_inputs(inputs)
    where = local_or_remote(out) if out is not None else None
    one_file = where is not None and len(sources) == 1 and where.suffix.lower() == ".png"
    if where is not None and not one_file and where.suffix.lower() in IMAGE_SUFFIXES:
        raise PhotoreconError(f"{out}: masks are PNGs: a .png file for one photo, else a folder")
    jobs = []
    for src in sources:
        if one_file:
            target = where
        elif where is not None:
            target = where / f"{src.stem}.png"
        else:
            target = src.with_name(f"{src.stem}_mask.png")
        jobs.append(Job(src, target))
    inputs_set = {j.source.resolve() for j in jobs}
    targets = [j.target.resolve() for j in jobs]
    if any(t in inputs_set for t in targets):
        raise PhotoreconError("a mask would overwrite an input photo; use -o FOLDER")
    if len(set(targets)) != len(targets):
        raise PhotoreconError("two photos would get the same mask file; use -o FOLDER")
    return jobs


def run_detect(
    jobs: list[Job],
    model,
    *,
    sensitivity: float,
    dilate: int,
    device="cpu",
    progress: bool = True,
    within: str | None = None,
) -> BatchSummary:
    """Write each photo's damage mask (`run_batch`: bad files do not stop the rest); `within`
    (a region file, or a folder of them named like the photos) limits each to its region."""
    from photorecon.detection import damage_mask, region_mask
    from photorecon.imageio import encode_mask, write_mask

    def work(job: Job) -> str:
        photo = read_location(job.source)
        region = None
        if within is not None:
            path = mask_file(within, job.source)
            where = f"{path} (region of {job.source})"
            region = region_mask(read_mask(path), photo.rgb.shape[:2], where)
        mask = damage_mask(photo.rgb, model, sensitivity, dilate, device, within=region)
        if isinstance(job.target, RemotePath):
            job.target.write_bytes(encode_mask(mask))
        else:
            job.target.parent.mkdir(parents=True, exist_ok=True)
            write_mask(job.target, mask)
        return f"{float((mask > 0).mean()) * 100:.2f}% flagged"

    return run_batch(jobs, work, desc="detect", progress=progress)
