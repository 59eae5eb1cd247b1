"""Build a challenge-format data set from a photo pack: whole photos split, crops, white boxes."""

from __future__ import annotations

import os
import shutil
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photorecon.challenge import BOX_SIZE, MaskedEntry, write_masked_info, write_submission
from photorecon.data.crops import random_crop, split_photos
from photorecon.data.photos import read_manifest
from photorecon.errors import PhotoreconError
from photorecon.imageio import decode_rgb, read_image, write_image, write_mask
from photorecon.masks import check_kind, paint_white, random_boxes
from photorecon.progress import bar as progress_bar

SPLITS = ("train", "val", "test")
DAMAGE = "damage"  # data build --holes damage


@dataclass(frozen=True)
class BuildConfig:
    """How a data set is cut from photos."""

    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.15
    crops_per_photo: int = 8
    size: int = 256
    box_size: int = BOX_SIZE
    boxes: int = 2
    # "squares": the challenge's layout (masked_info.csv, truth.csv); any other kind of
    # photorecon.masks.HOLE_KINDS writes a mask split: original/, masked/, masks/, holes.txt;
    # "damage": a mask split of old-photo damage (photorecon.damage): masked/ the damaged
    # scans, original/ the same scans undamaged, masks/ the true damage
    holes: str = "squares"


def _photo_job(
    args: tuple[str | bytes, str, int, int, BuildConfig, str],
) -> list[MaskedEntry]:
    """Cut one photo's crops (the photo a path, or its bytes from a shard), write original and
    masked PNGs; returns their entries."""
    source, name, photo_index, split_seed, cfg, split_dir = args
    rng = np.random.default_rng([cfg.seed, split_seed, photo_index])
    image = read_image(source) if isinstance(source, str) else decode_rgb(source, name)
    out = []
    for k in range(cfg.crops_per_photo):
        crop = random_crop(image, rng, cfg.size)
        name = f"{photo_index:04d}_{k:02d}.png"
        write_image(Path(split_dir) / "original" / name, crop)
        if cfg.holes == "squares":
            boxes = random_boxes(rng, cfg.size, cfg.size, cfg.boxes, cfg.box_size)
            write_image(Path(split_dir) / "masked" / name, paint_white(crop, boxes))
            out.append(MaskedEntry(name, tuple(boxes)))
            continue
        if cfg.holes == DAMAGE:
            sample = _damaged(crop, rng)
            write_image(Path(split_dir) / "original" / name, sample.clean)
            write_mask(Path(split_dir) / "masks" / name, sample.mask)
            write_image(Path(split_dir) / "masked" / name, sample.image)
            out.append(MaskedEntry(name, ()))
            continue
        mask = _kind_mask(rng, cfg)
        write_mask(Path(split_dir) / "masks" / name, mask)
        write_image(Path(split_dir) / "masked" / name, np.where(mask[..., None] > 0, 255, crop))
        out.append(MaskedEntry(name, ()))
    return out


def _damaged(crop: np.ndarray, rng: np.random.Generator):
    """A damaged rendering of a crop with some damage in it (drawn again, up to 10 times, when
    the damage happened to change nothing visibly)."""
    from photorecon.damage import render_damage

    for _ in range(10):
        sample = render_damage(crop, rng)
        if sample.mask.any() and not sample.mask.all():
            return sample
    raise PhotoreconError("no visible damage in 10 draws: the photo may be blank")


def _kind_mask(rng: np.random.Generator, cfg: BuildConfig) -> np.ndarray:
    from photorecon.masks import draw_kind, generator_from

    gen = generator_from(rng)
    return draw_kind(cfg.holes, gen, 1, cfg.size, cfg.size, cfg.box_size)[0, 0].numpy()


def build_dataset(
    pack: str | Path,
    out: str | Path,
    cfg: BuildConfig = BuildConfig(),
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write OUT/<split>/{masked,original} and val/test truth.csv; returns images per split.

    PACK is a photo pack folder or shards of one (`data shard`): the same photos in the same
    order give the same data set either way.
    """
    out = Path(out)
    if cfg.holes != DAMAGE:
        check_kind(cfg.holes)
    names, photos = _photo_source(pack)
    if out.exists() and any(out.iterdir()) and not force:
        raise PhotoreconError(f"{out}: already exists and is not empty (use --force to replace)")
    splits = split_photos(names, cfg.seed, cfg.val_frac, cfg.test_frac)
    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    place = {}
    for split_index, split in enumerate(SPLITS):
        split_dir = tmp / split
        (split_dir / "masked").mkdir(parents=True)
        (split_dir / "original").mkdir(parents=True)
        if cfg.holes != "squares":
            (split_dir / "masks").mkdir(parents=True)
        for i, name in enumerate(splits[split]):
            place[name] = (i, split_index, str(split_dir))
    workers = workers or min(os.cpu_count() or 1, 8)
    results: dict[str, list[MaskedEntry]] = {s: [] for s in SPLITS}
    jobs = ((source, name, *place[name][:2], cfg, place[name][2]) for name, source in photos())
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = _bounded_map(pool, _photo_job, jobs, 4 * workers)
            bar = progress_bar(done, total=len(names), desc="build", enabled=progress)
            for job, entries in bar:
                results[SPLITS[job[3]]].extend(entries)
        for split in SPLITS:
            split_dir = tmp / split
            entries = sorted(results[split], key=lambda e: e.filename)
            if cfg.holes != "squares":
                (split_dir / "holes.txt").write_text(cfg.holes + "\n")
            else:
                write_masked_info(split_dir / "masked" / "masked_info.csv", entries)
            if split != "train" and cfg.holes == "squares":
                # Training reads original/ directly; a train truth.csv would be gigabytes.
                originals = ((e, read_image(split_dir / "original" / e.filename)) for e in entries)
                write_submission(split_dir / "truth.csv", originals)
            (split_dir / "photos.txt").write_text("".join(f"{n}\n" for n in splits[split]))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {s: len(results[s]) for s in SPLITS}


def _photo_source(pack: str | Path):
    """The photos' names (paths in the pack, in manifest order) and a generator of (name,
    source): a pack's file paths, or a shard set's image bytes streamed in order."""
    from photorecon.data.shards import is_shard_spec, iter_photos

    if is_shard_spec(pack):
        names = [sample.name for sample in iter_photos(str(pack))]
        if len(set(names)) != len(names):
            raise PhotoreconError(f"{pack}: two photos share a name")
        return names, lambda: ((s.name, s.data) for s in iter_photos(str(pack)))
    pack = Path(pack)
    records = read_manifest(pack)
    for r in records:
        if not (pack / r.path).is_file():
            raise PhotoreconError(f"{pack / r.path}: listed in the manifest but missing")
    names = [r.path for r in records]
    return names, lambda: ((n, str(pack / n)) for n in names)


def _bounded_map(pool, fn, jobs, ahead: int):
    """(job, fn(job)) in order, with at most `ahead` jobs submitted and not yet taken: a stream
    of photos is never read far past the workers."""
    pending = deque()
    for job in jobs:
        pending.append((job, pool.submit(fn, job)))
        if len(pending) >= ahead:
            job, future = pending.popleft()
            yield job, future.result()
    while pending:
        job, future = pending.popleft()
        yield job, future.result()


def build_scenes(
    out: str | Path, count: int, height: int, width: int, seed: int, *, force: bool = False
) -> int:
    """Write `count` synthetic smooth, bright scenes (photorecon.data.scenes) as OUT/original/
    plus OUT/set.txt ("smooth"): a folder `evaluate --holes` draws holes on, its columns named
    smooth-<kind>. Returns how many were written."""
    from photorecon.data.scenes import SET_FILE, scene_bank

    out = Path(out)
    if count < 1 or min(height, width) < 32:
        raise PhotoreconError(
            f"scenes: need count >= 1 and sides >= 32, got {count} of {width}x{height}"
        )
    if out.exists() and any(out.iterdir()) and not force:
        raise PhotoreconError(f"{out}: already exists and is not empty (use --force to replace)")
    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "original").mkdir(parents=True)
        # a seed apart from training's and validation's banks (train/data.py)
        for i, scene in enumerate(scene_bank([seed, 59_999], count, height, width)):
            write_image(tmp / "original" / f"scene_{i:04d}.png", scene)
        (tmp / SET_FILE).write_text("smooth\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count
