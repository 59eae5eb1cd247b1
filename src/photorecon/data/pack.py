"""A compact copy of a photo pack, small enough to travel with the code to a machine with no
network (a GPU node, a short cloud allocation): each photo shrunk to the long side training
uses and stored as JPEG, the manifest and attribution kept, so the same seed splits it the same.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from PIL import Image

from photorecon.data.crops import downscale
from photorecon.data.photos import PhotoRecord, read_manifest
from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path, relative_problem
from photorecon.imageio import read_image


def compact_pack(
    source: str | Path, dest: str | Path, *, max_side: int = 1024, quality: int = 92
) -> tuple[int, int]:
    """Write DEST as a compact copy of the pack SOURCE (a pack folder or shards of one);
    returns (photos, bytes on disk).

    Photos keep their manifest order (the train/val/test split of a seed depends on it), their
    records (licence, origin), and get `.jpg` paths and their new sizes.
    """
    from photorecon.data.shards import is_shard_spec

    dest = Path(dest)
    if not 1 <= quality <= 100:
        raise PhotoreconError(f"JPEG quality must be 1-100, got {quality}")
    if Path(source).is_dir() and dest.resolve() == Path(source).resolve():
        raise PhotoreconError(f"{dest}: the compact pack must go to another folder")
    if dest.exists() and not (dest / "manifest.json").is_file() and any(_entries(dest)):
        raise PhotoreconError(f"{dest}: exists, is not empty and holds no pack to replace")
    photos = _shard_photos(source) if is_shard_spec(source) else _pack_photos(Path(source))
    # the whole pack is written beside DEST and renamed onto it: never half a pack
    tmp = dest.with_name(f".{dest.name}.packing")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        out, total = _write_photos(photos, tmp, max_side, quality)
        with atomic_path(tmp / "manifest.json") as path:
            path.write_text(json.dumps([dataclasses.asdict(r) for r in out], indent=1))
        if Path(source).is_dir() and (Path(source) / "ATTRIBUTION.md").is_file():
            shutil.copyfile(Path(source) / "ATTRIBUTION.md", tmp / "ATTRIBUTION.md")
        elif is_shard_spec(source):
            from photorecon.data.photos import attribution_text

            (tmp / "ATTRIBUTION.md").write_text(attribution_text(out))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except OSError as exc:
        raise PhotoreconError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(out), total


def _entries(folder: Path):
    return folder.iterdir() if folder.is_dir() else iter([folder])


def _write_photos(photos, folder: Path, max_side: int, quality: int):
    """Each photo shrunk and stored as JPEG under FOLDER at its record's path (checked to stay
    inside FOLDER, and never two photos at one path); (records, bytes written)."""
    out, total, seen = [], 0, set()
    for record, image in photos:
        rel = Path(record.path).with_suffix(".jpg").as_posix()
        problem = relative_problem(rel)
        if problem:
            raise PhotoreconError(f"{record.path!r}: the photo's path is {problem}")
        if rel in seen:
            raise PhotoreconError(f"{record.path}: two photos would be written as {rel}")
        seen.add(rel)
        image = downscale(image, max_side)
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target, format="JPEG", quality=quality, subsampling=0)
        total += target.stat().st_size
        height, width = image.shape[:2]
        out.append(dataclasses.replace(record, path=rel, width=width, height=height))
    return out, total


def _pack_photos(source: Path):
    for record in read_manifest(source):
        yield record, read_image(source / record.path)


def _shard_photos(spec):
    """(record, photo) of shards in order; a photo from a plain folder gets a record made from
    what its JSON says."""
    import hashlib

    from photorecon.data.shards import iter_photos

    fields = {f.name for f in dataclasses.fields(PhotoRecord)}
    for sample in iter_photos(str(spec)):
        meta = sample.meta
        image = sample.rgb()
        if fields <= set(meta):
            record = PhotoRecord(**{k: meta[k] for k in fields})
        else:
            record = PhotoRecord(
                source=str(meta.get("source", "")),
                version="",
                licence=str(meta.get("licence", "")),
                origin=sample.name,
                path=sample.name,
                width=image.shape[1],
                height=image.shape[0],
                sha256=hashlib.sha256(sample.data).hexdigest(),
            )
        yield record, image
