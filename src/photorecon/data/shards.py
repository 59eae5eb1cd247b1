"""Photos as WebDataset shards: tar files of samples, read as streams, of any total size.

`write_shards` turns a photo pack (a folder with `manifest.json`) or any folder of photos into
tar shards in WebDataset's layout: one sample per photo, keyed `<8-digit index>`, holding the
image's bytes exactly as they were (`<key>.jpg`, `.png`, ...) and `<key>.json` (where it came
from, its licence and, for a pack, its whole manifest record), plus `index.json` beside them
(every shard's name, sample count, size and SHA-256). The writer is webdataset's `TarWriter`.

Readers take a *shard spec*: a folder holding an `index.json`, a brace pattern
(`shards/photos-{000000..000099}.tar`), a `pipe:` command (`pipe:aws s3 cp s3://b/x.tar -`), an
fsspec URL (`s3://...`, `gs://...`, where the matching fsspec package is installed), a local
path, or a list of those. Samples stream through `tarfile` one at a time (webdataset's tar
iterators group a sample's files), so nothing is held whole in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path
from photorecon.imageio import IMAGE_SUFFIXES, decode_rgb
from photorecon.remote import URL, RemotePath, local_or_remote

INDEX = "index.json"
SHARD_NAME = "photos-{:06d}.tar"
FORMAT = "photorecon-shards/1"
MTIME = 1_700_000_000  # a fixed file time in the tar headers: equal inputs, equal shards
IMAGE_EXTS = tuple(s.lstrip(".") for s in IMAGE_SUFFIXES)


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the index lists it."""

    name: str
    count: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class PhotoSample:
    """One photo read from a shard: its key, image bytes as stored, their extension, and the
    JSON record (at least `source` and `licence`)."""

    key: str
    ext: str
    data: bytes
    meta: dict

    @property
    def name(self) -> str:
        return str(self.meta.get("path") or f"{self.key}.{self.ext}")

    def rgb(self, shrink_to: int = 0) -> np.ndarray:
        """The photo decoded as RGB uint8 (H, W, 3), EXIF-turned as `read_image` does; a
        JPEG decoded at a reduced scale where its long side stays at least `shrink_to`."""
        return decode_rgb(self.data, self.name, shrink_to)


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcePhoto:
    path: Path
    record: dict


def source_photos(folder: str | Path) -> list[SourcePhoto]:
    """The photos of a pack (manifest order, records kept) or of a folder (every image under
    it, sorted by relative path, licence unknown)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PhotoreconError(f"{folder}: no such folder")
    if (folder / "manifest.json").is_file():
        from photorecon.data.photos import read_manifest

        return [SourcePhoto(folder / r.path, asdict(r)) for r in read_manifest(folder)]
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise PhotoreconError(f"{folder}: no photos (no manifest.json and no image files)")
    out = []
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        out.append(SourcePhoto(path, {"path": rel, "source": rel, "licence": ""}))
    return out


def _extension(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tiff": "tif"}.get(ext, ext)


def _photo_problem(data: bytes, name: str) -> str | None:
    """Why these bytes are not a photo a reader could use, from the header alone (or None)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except UnidentifiedImageError:  # its message names the BytesIO object, not the file
        return f"{name}: cannot read image (not an image format Pillow knows)"
    except Exception as exc:
        return f"{name}: cannot read image ({first_line(exc)})"
    return None


def write_shards(
    photos: str | Path,
    out: str | Path,
    *,
    shard_size: int = 1000,
    shard_mb: float = 0.0,
    force: bool = False,
    log=print,
    progress: bool = True,
    split: tuple[int, float, float] | None = None,
) -> dict[str, list[ShardInfo]]:
    """Write the photos of PHOTOS as tar shards and `index.json` into OUT; returns the shards
    written, by split ("" without one).

    A shard closes at `shard_size` photos or, when `shard_mb` is set, before it would pass that
    many MiB. A file that is missing or cannot be read is skipped with one line; the rest go on.
    Each shard is written under a temporary name and renamed when whole; the index comes last.
    `split` = (seed, val_frac, test_frac) writes OUT/train, OUT/val and OUT/test instead, the
    photos split as `data build` and training split a pack with that seed and those fractions.
    """
    if shard_size < 1:
        raise PhotoreconError(f"--shard-size must be at least 1, got {shard_size}")
    if shard_mb < 0:
        raise PhotoreconError(f"--shard-mb must be positive, got {shard_mb}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhotoreconError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise PhotoreconError(f"{out}: already exists and is not empty (use --force to replace)")
    # keys follow the photos' places in the whole set, so they stay unique across splits
    sources = [
        SourcePhoto(p.path, {**p.record, "index": i}) for i, p in enumerate(source_photos(photos))
    ]
    if split is None:
        sets = {"": sources}
    else:
        from photorecon.data.crops import split_photos

        names = [str(p.record["path"]) for p in sources]
        by_name = {str(p.record["path"]): p for p in sources}
        # each set in the order split_photos gives (by path), the order training and `data
        # build` take a split's photos in: the same validation crops from shards as from a pack
        sets = {
            name: [by_name[n] for n in group] for name, group in split_photos(names, *split).items()
        }
        sets = {name: sets[name] for name in ("train", "val", "test")}
    written = {}
    made = not out.exists()
    try:
        for name, subset in sets.items():
            written[name] = _write_set(subset, out / name, shard_size, shard_mb, log, progress)
            attribution = Path(photos) / "ATTRIBUTION.md"
            if attribution.is_file():
                shutil.copyfile(attribution, out / name / "ATTRIBUTION.md")
    except PhotoreconError:
        if made:  # nothing of this call's is left behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    return written


def _write_set(
    sources: list[SourcePhoto], out: Path, shard_size: int, shard_mb: float, log, progress: bool
) -> list[ShardInfo]:
    from webdataset import TarWriter

    from photorecon.progress import bar

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("photos-*.tar"):
        old.unlink()
    limit = shard_mb * 2**20 if shard_mb else float("inf")
    shards: list[ShardInfo] = []
    batch: list[tuple[str, bytes, dict]] = []
    size = 0
    skipped = 0

    def flush() -> None:
        nonlocal batch, size
        if not batch:
            return
        name = SHARD_NAME.format(len(shards))
        target = out / name
        with atomic_path(target) as tmp, open(tmp, "wb") as stream:
            writer = TarWriter(stream, encoder=False, mtime=MTIME, user="", group="")
            for ext, data, meta in batch:
                key = f"{meta['index']:08d}"
                writer.write({"__key__": key, ext: data, "json": json.dumps(meta).encode()})
            writer.close()
        shards.append(ShardInfo(name, len(batch), target.stat().st_size, _sha256(target)))
        batch, size = [], 0

    for photo in bar(sources, desc="shard", enabled=progress):
        name = str(photo.path)
        try:
            data = photo.path.read_bytes()
        except OSError as exc:
            log(f"{name}: cannot read ({exc.strerror or first_line(exc)}); skipped")
            skipped += 1
            continue
        problem = _photo_problem(data, name)
        if problem:
            log(f"{problem}; skipped")
            skipped += 1
            continue
        entry = len(data) + 3 * 512  # two headers and padding
        if batch and (len(batch) >= shard_size or size + entry > limit):
            flush()
        batch.append((_extension(photo.path), data, photo.record))
        size += entry
    flush()
    if not shards:
        raise PhotoreconError(f"{out}: no photo could be read for it")
    index = {
        "format": FORMAT,
        "count": sum(s.count for s in shards),
        "bytes": sum(s.bytes for s in shards),
        "shards": [asdict(s) for s in shards],
    }
    with atomic_path(out / INDEX) as tmp:
        tmp.write_text(json.dumps(index, indent=1) + "\n")
    if skipped:
        log(f"{skipped} of {len(sources)} photos skipped")
    return shards


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- reading ---------------------------------------------------------------------------------


def read_index(folder: str | Path) -> list[ShardInfo]:
    """The shards an `index.json` lists, checked for shape."""
    path = Path(folder) / INDEX
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        shards = [ShardInfo(**s) for s in data["shards"]]
    except OSError as exc:
        raise PhotoreconError(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise PhotoreconError(f"{path}: not a shard index ({first_line(exc)})") from None
    for s in shards:
        if not isinstance(s.count, int) or s.count < 0 or "/" in s.name or s.name.startswith("."):
            raise PhotoreconError(f"{path}: bad entry for {s.name!r}")
    return shards


def _is_url(spec: str) -> bool:
    """A `pipe:` command or any URL (file:// included): not checked on the local disk."""
    return spec.startswith("pipe:") or URL.match(spec) is not None


def expand_spec(spec: str | list[str]) -> list[str]:
    """Shard URLs of a spec (see the module's doc), in order."""
    from braceexpand import braceexpand

    if isinstance(spec, (list, tuple)):
        return [url for part in spec for url in expand_spec(part)]
    spec = str(spec).strip()
    if not spec:
        raise PhotoreconError("no shards given")
    if not _is_url(spec) and Path(spec).is_dir():
        if not (Path(spec) / INDEX).is_file():
            raise PhotoreconError(f"{spec}: a folder of shards needs its {INDEX} ('data shard')")
        return [str(Path(spec) / s.name) for s in read_index(spec)]
    urls = list(braceexpand(spec))
    missing = [u for u in urls if not _is_url(u) and not Path(u).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise PhotoreconError(f"{missing[0]}: no such shard{more}")
    return urls


def is_shard_spec(spec: str | Path) -> bool:
    """Whether a command's photo source names shards (a folder with an index.json, tar files, a
    brace pattern of them, pipe: or a URL) rather than a photo pack or folder."""
    text = str(spec)
    if _is_url(text):
        return True
    if Path(text).is_dir():
        return (Path(text) / INDEX).is_file()
    return text.endswith(".tar") or text.endswith(".tar}") or "{" in text


def known_counts(urls: list[str]) -> list[int | None]:
    """Each shard's sample count from an `index.json` in its folder, None where none says."""
    cache: dict[str, dict[str, int]] = {}
    counts: list[int | None] = []
    for url in urls:
        if _is_url(url):
            counts.append(None)
            continue
        folder = str(Path(url).parent)
        if folder not in cache:
            try:
                cache[folder] = {s.name: s.count for s in read_index(folder)}
            except PhotoreconError:
                cache[folder] = {}
        counts.append(cache[folder].get(Path(url).name))
    return counts


def shard_counts(urls: list[str]) -> list[int]:
    """Each shard's sample count: from its index, else by reading the shard through once."""
    return [
        count if count is not None else sum(1 for _ in iter_samples(url))
        for url, count in zip(urls, known_counts(urls), strict=True)
    ]


def open_shard(url: str):
    """A binary stream of one shard: a local file (or file:// URL), a `pipe:` command
    (webdataset's gopen), or an fsspec URL (`photorecon.remote`)."""
    if url.startswith("pipe:"):
        from webdataset.gopen import gopen

        return gopen(url, "rb")
    location = local_or_remote(url)
    if isinstance(location, RemotePath):
        return location.open()
    try:
        return open(location, "rb")
    except OSError as exc:
        raise PhotoreconError(f"{location}: cannot open shard ({exc.strerror})") from None


def iter_samples(url: str, skip: int = 0) -> Iterator[PhotoSample]:
    """The photos of one shard in stored order, the first `skip` passed over; a truncated or
    malformed shard is one line naming it."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    stream = open_shard(url)
    try:
        files = ({**f, "__url__": url} for f in tar_file_iterator(stream))
        for position, sample in enumerate(group_by_keys(files)):
            if position < skip:
                continue
            yield _photo_sample(sample, url)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise PhotoreconError(f"{url}: broken shard ({first_line(exc)})") from None
    finally:
        stream.close()


def _photo_sample(sample: dict, url: str) -> PhotoSample:
    key = sample["__key__"]
    exts = [k for k in sample if k in IMAGE_EXTS]
    if len(exts) != 1:
        raise PhotoreconError(f"{url}: sample {key} has {len(exts)} images, not one")
    try:
        meta = json.loads(sample["json"]) if "json" in sample else {}
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError) as exc:
        raise PhotoreconError(f"{url}: sample {key} has a bad json ({first_line(exc)})") from None
    return PhotoSample(key, exts[0], sample[exts[0]], meta)


def iter_photos(spec: str | list[str]) -> Iterator[PhotoSample]:
    """Every photo of a shard spec, shard after shard."""
    for url in expand_spec(spec):
        yield from iter_samples(url)
