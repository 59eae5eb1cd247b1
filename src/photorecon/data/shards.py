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

import io
import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path, file_sha256, relative_problem
from photorecon.imageio import IMAGE_SUFFIXES, decode_rgb, max_pixels
from photorecon.remote import URL, RemotePath, is_chain, local_or_remote

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
    """One photo read from a shard: its key, image bytes as stored, their extension, the
    JSON record (at least `source` and `licence`), and its name: the record's `path`, else
    `<key>.<ext>`, always a relative path that stays inside any folder it is written under."""

    key: str
    ext: str
    data: bytes
    meta: dict
    name: str

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
        shards.append(ShardInfo(name, len(batch), target.stat().st_size, file_sha256(target)))
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


# --- reading ---------------------------------------------------------------------------------


# An index entry is the plain name of a tar file beside it: never a path, a URL or a `pipe:`.
SHARD_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*\.tar$")


def read_index(folder: str | Path) -> list[ShardInfo]:
    """The shards an `index.json` lists, checked for shape: each entry a plain `.tar` file name
    in that folder, a count and a size that are whole numbers, a SHA-256 in hex."""
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
        if not isinstance(s.name, str) or not SHARD_FILE.match(s.name):
            raise PhotoreconError(f"{path}: bad entry {s.name!r} (not a .tar file name)")
        if not all(_whole(v) for v in (s.count, s.bytes)) or not SHA256.match(str(s.sha256)):
            raise PhotoreconError(f"{path}: bad entry for {s.name} (count, bytes or sha256)")
        if s.count < 1:  # the writer never writes an empty shard: 0 would hide its photos
            raise PhotoreconError(f"{path}: {s.name} is listed with no photos")
    return shards


SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_url(spec: str) -> bool:
    """A `pipe:` command or any URL (file:// included): not checked on the local disk."""
    return spec.startswith("pipe:") or URL.match(spec) is not None or is_chain(spec)


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
        # absolute paths: `.` joined to an entry must never read as a `pipe:` or a URL
        folder = Path(spec).absolute()
        return [str(folder / s.name) for s in read_index(spec)]
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
    # compressed tars too, so that the reader says why it will not read them
    return TAR_NAME.search(text) is not None or "{" in text


TAR_NAME = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz|tar\.zst)}?$")


def index_entries(urls: list[str]) -> list[ShardInfo | None]:
    """Each shard's entry in an `index.json` in its folder, None where none lists it."""
    cache: dict[str, dict[str, ShardInfo]] = {}
    entries: list[ShardInfo | None] = []
    for url in urls:
        if _is_url(url):
            entries.append(None)
            continue
        folder = str(Path(url).parent)
        if folder not in cache:
            cache[folder] = (
                {s.name: s for s in read_index(folder)} if (Path(folder) / INDEX).is_file() else {}
            )
        entries.append(cache[folder].get(Path(url).name))
    return entries


def known_counts(urls: list[str]) -> list[int | None]:
    """Each shard's sample count from an `index.json` in its folder, None where none says."""
    return [e.count if e else None for e in index_entries(urls)]


def check_whole(url: str, entry: ShardInfo) -> None:
    """A local shard read whole must be the file its index describes: its size and SHA-256."""
    path = Path(url)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PhotoreconError(f"{url}: cannot read shard ({exc.strerror})") from None
    if size != entry.bytes or file_sha256(path) != entry.sha256:
        raise PhotoreconError(
            f"{url}: does not match its {INDEX} (size or SHA-256 differs): changed since "
            "it was written"
        )


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


def iter_samples(url: str, skip: int = 0, expected: int | None = None) -> Iterator[PhotoSample]:
    """The photos of one shard in stored order, the first `skip` passed over; a truncated,
    compressed or malformed shard, a key twice, or a count other than `expected` (read to
    the end) is one line naming it."""
    stream = open_shard(url)
    try:
        seen: set[str] = set()
        count = 0
        for count, (key, files) in enumerate(_samples(_members(stream, url)), 1):
            if key in seen:
                raise PhotoreconError(f"{url}: sample {key} appears twice")
            seen.add(key)
            if count > skip:
                yield _photo_sample(key, files, url)
        if expected is not None and count != expected:
            raise PhotoreconError(f"{url}: holds {count} photos, its {INDEX} says {expected}")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise PhotoreconError(f"{url}: broken shard ({first_line(exc)})") from None
    finally:
        stream.close()


COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
META_BYTES = 1 << 20  # a sample's JSON record: a few hundred bytes in practice


def largest_member() -> int:
    """The most bytes one photo in a shard may take: the pixel limit's photo stored raw at 16
    bits in four channels, plus room for its headers (no photo file is larger)."""
    return max_pixels() * 8 + (1 << 20)


class _Prefixed:
    """A read-only stream with bytes already read put back in front (to peek at a magic)."""

    def __init__(self, head: bytes, rest) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size is None or size < 0:
            out, self.head = self.head + self.rest.read(), b""
            return out
        out, self.head = self.head[:size], self.head[size:]
        if len(out) < size:
            out += self.rest.read(size - len(out))
        return out


def _members(stream, url: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of a plain tar's regular files in order. Compressed tars are refused (a
    small one can expand without bound), and a member larger than a photo can be is refused
    from its header, before it is read."""
    head = stream.read(6)
    for magic, kind in COMPRESSED.items():
        if head.startswith(magic):
            raise PhotoreconError(f"{url}: a {kind}-compressed shard; shards are plain tar files")
    limit = largest_member()
    with tarfile.open(fileobj=_Prefixed(head, stream), mode="r|") as tar:
        for member in tar:
            if not member.isreg() or member.name.split("/")[-1].startswith("__"):
                continue  # links are never followed; webdataset's own metadata is not a photo
            cap = META_BYTES if member.name.endswith(".json") else limit
            if member.size > cap:
                raise PhotoreconError(
                    f"{url}: {member.name} is {member.size:,} bytes, more than "
                    f"{'a record' if cap == META_BYTES else 'any photo within the pixel limit'} "
                    f"can be ({cap:,})"
                )
            data = tar.extractfile(member).read()
            tar.members = []  # a stream of any length: keep no member list
            yield member.name, data


def _samples(members: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) of adjacent members sharing a key (WebDataset's layout: the
    key is the name up to the first dot of its last part)."""
    key, files = None, {}
    for name, data in members:
        folder, _, base = name.rpartition("/")
        stem, dot, ext = base.partition(".")
        if not dot or not stem:
            continue
        this = f"{folder}/{stem}" if folder else stem
        if this != key:
            if key is not None:
                yield key, files
            key, files = this, {}
        ext = ext.lower()
        if ext in files:
            raise PhotoreconError(f"{name}: twice in one sample")
        files[ext] = data
    if key is not None:
        yield key, files


def _photo_sample(key: str, files: dict[str, bytes], url: str) -> PhotoSample:
    exts = [k for k in files if k in IMAGE_EXTS]
    if len(exts) != 1:
        raise PhotoreconError(f"{url}: sample {key} has {len(exts)} images, not one")
    try:
        meta = json.loads(files["json"]) if "json" in files else {}
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError) as exc:
        raise PhotoreconError(f"{url}: sample {key} has a bad json ({first_line(exc)})") from None
    name = meta.get("path") or f"{key}.{exts[0]}"
    problem = relative_problem(name)
    if problem:
        raise PhotoreconError(f"{url}: sample {key} is named {str(name)[:200]!r}, {problem}")
    return PhotoSample(key, exts[0], files[exts[0]], meta, name)


def iter_photos(spec: str | list[str]) -> Iterator[PhotoSample]:
    """Every photo of a shard spec, shard after shard; a shard its index lists is checked
    against it (size and SHA-256 before reading, its count after)."""
    urls = expand_spec(spec)
    for url, entry in zip(urls, index_entries(urls), strict=True):
        if entry is not None:
            check_whole(url, entry)
        yield from iter_samples(url, expected=entry.count if entry else None)
