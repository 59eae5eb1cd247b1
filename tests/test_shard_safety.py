"""Shards written by someone else: names that climb out of the output folder, index entries that
are commands, compressed members that balloon, indexes that lie. Each is one line, exit 2, and
nothing written outside (or half of anything inside) the target."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo
from photorecon.data.pack import compact_pack
from photorecon.data.shards import INDEX, iter_photos, iter_samples, read_index, write_shards
from photorecon.errors import PhotoreconError


def png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(np.random.default_rng(seed), 40, 48)).save(buf, "PNG")
    return buf.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def shard(path: Path, members: list[tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            add(tar, name, data)
    return path


def index_for(folder: Path, names: list[str], counts: list[int] | None = None) -> None:
    entries = []
    for i, name in enumerate(names):
        path = folder / name
        data = path.read_bytes() if path.is_file() else b""
        entries.append(
            {
                "name": name,
                "count": (counts or [1] * len(names))[i],
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    index = {"format": "photorecon-shards/1", "count": 1, "bytes": 0, "shards": entries}
    (folder / INDEX).write_text(json.dumps(index))


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "photorecon.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.mark.parametrize(
    "members",
    [
        [("00000000.png", png_bytes()), ("00000000.json", b'{"path": "../../../escaped.png"}')],
        [("00000000.png", png_bytes()), ("00000000.json", b'{"path": "ABSOLUTE/escaped-abs.png"}')],
        [("00000000.png", png_bytes()), ("00000000.json", b'{"path": "."}')],
        [("../../../escaped.png", png_bytes())],
        [("a/../../escaped.png", png_bytes())],
    ],
    ids=["json-climbs", "json-absolute", "json-dot", "member-climbs", "member-inner-climb"],
)
def test_pack_never_writes_outside_its_folder(tmp_path: Path, members) -> None:
    work = tmp_path / "w" / "x" / "y"
    work.mkdir(parents=True)
    members = [(n, d.replace(b"ABSOLUTE", str(tmp_path).encode())) for n, d in members]
    shard(work / "evil.tar", members)
    before = files_under(tmp_path)
    done = cli("data", "pack", str(work / "evil.tar"), str(work / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "evil.tar" in done.stderr
    assert "Traceback" not in done.stderr
    assert files_under(tmp_path) == before  # nothing written, in the target or out of it
    with pytest.raises(PhotoreconError, match="evil.tar"):
        list(iter_photos(str(work / "evil.tar")))


def test_an_index_entry_is_a_file_name_never_a_command(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    shard(folder / "photos-000000.tar", [("00000000.png", png_bytes())])
    index_for(folder, ["pipe:touch PWNED; cat photos-000000.tar"])
    for args in (["data", "pack", ".", "../out"], ["data", "build", ".", "../ds"]):
        done = cli(*args, cwd=folder)
        assert done.returncode == 2 and "not a .tar file name" in done.stderr, done.stderr
        assert not (folder / "PWNED").exists() and not (tmp_path / "PWNED").exists()
    # good names pass; a path, a URL, a hidden file, a count of 0 do not
    for name, count in (("photos-000000.tar", 1),):
        index_for(folder, [name], [count])
        assert [s.name for s in read_index(folder)] == [name]
    for name, count, why in (
        ("sub/photos.tar", 1, "not a .tar file name"),
        ("s3://bucket/x.tar", 1, "not a .tar file name"),
        (".hidden.tar", 1, "not a .tar file name"),
        ("photos-000000.tar", 0, "no photos"),
    ):
        index_for(folder, [name], [count])
        with pytest.raises(PhotoreconError, match=why):
            read_index(folder)


def test_a_folder_given_as_dot_reads_its_shards_by_absolute_path(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    shard(folder / "photos-000000.tar", [("00000000.png", png_bytes())])
    index_for(folder, ["photos-000000.tar"])
    done = cli("data", "pack", ".", "../out", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "00000000.jpg").is_file()


def test_compressed_shards_and_members_larger_than_a_photo_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 MiB of zeros gzip to a few KB: refused before a byte of it is inflated
    bomb = shard(tmp_path / "bomb.tar.gz", [("00000000.png", bytes(8 << 20))], "w:gz")
    assert bomb.stat().st_size < 100_000
    with pytest.raises(PhotoreconError, match="gzip-compressed shard"):
        list(iter_samples(str(bomb)))
    renamed = tmp_path / "bomb.tar"
    renamed.write_bytes(bomb.read_bytes())  # its name does not matter, its bytes do
    with pytest.raises(PhotoreconError, match="gzip-compressed shard"):
        list(iter_samples(str(renamed)))
    # a plain member larger than any photo within the pixel limit: refused from its header
    monkeypatch.setenv("PHOTORECON_MAX_PIXELS", "1000")
    big = shard(tmp_path / "big.tar", [("00000000.png", bytes(2 << 20))])
    with pytest.raises(PhotoreconError, match="more than any photo within the pixel limit"):
        list(iter_samples(str(big)))
    fat_json = shard(
        tmp_path / "json.tar",
        [("00000000.png", png_bytes()), ("00000000.json", b" " * (2 << 20) + b"{}")],
    )
    with pytest.raises(PhotoreconError, match="more than a record"):
        list(iter_samples(str(fat_json)))
    monkeypatch.delenv("PHOTORECON_MAX_PIXELS")
    done = cli("data", "pack", str(bomb), str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "gzip" in done.stderr


def test_a_key_twice_and_a_lying_index_are_refused_where_shards_are_read_whole(
    tmp_path: Path,
) -> None:
    twice = shard(
        tmp_path / "twice.tar",
        [("a.png", png_bytes(0)), ("b.png", png_bytes(1)), ("a.png", png_bytes(2))],
    )
    with pytest.raises(PhotoreconError, match="sample a appears twice"):
        list(iter_samples(str(twice)))
    done = cli("data", "pack", str(twice), str(tmp_path / "out"))
    assert done.returncode == 2 and "appears twice" in done.stderr
    assert not (tmp_path / "out").exists()

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"p{i}.png").write_bytes(png_bytes(i))
    good = tmp_path / "good"
    write_shards(photos, good, log=lambda _: None, progress=False)
    assert len(list(iter_photos(str(good)))) == 3
    index = json.loads((good / INDEX).read_text())
    index["shards"][0]["count"] = 2  # a low count would drop a photo
    (good / INDEX).write_text(json.dumps(index))
    with pytest.raises(PhotoreconError, match="holds 3 photos, its index.json says 2"):
        list(iter_photos(str(good)))
    index["shards"][0]["count"] = 3
    (good / INDEX).write_text(json.dumps(index))
    tar = good / index["shards"][0]["name"]
    data = bytearray(tar.read_bytes())
    data[-2000] ^= 1  # one bit of padding changed: the tar still reads, the hash does not match
    tar.write_bytes(bytes(data))
    with pytest.raises(PhotoreconError, match="does not match its index.json"):
        list(iter_photos(str(good)))


def test_a_broken_shard_leaves_no_half_written_pack(tmp_path: Path) -> None:
    members = [(f"{i:08d}.png", png_bytes(i)) for i in range(4)]
    whole = shard(tmp_path / "whole.tar", members)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) * 3 // 4])
    out = tmp_path / "out"
    done = cli("data", "pack", str(cut), str(out))
    assert done.returncode == 2 and "cut.tar" in done.stderr and done.stderr.count("\n") == 1
    assert not out.exists() and files_under(tmp_path) == {"whole.tar", "cut.tar"}
    # a good pack there is replaced whole only by another good pack
    assert compact_pack(str(whole), out)[0] == 4
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert cli("data", "pack", str(cut), str(out)).returncode == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # a folder holding something else is never replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    refused = cli("data", "pack", str(whole), str(other))
    assert refused.returncode == 2 and "holds no pack" in refused.stderr
    assert os.listdir(other) == ["keep.txt"]


def test_a_manifest_path_that_climbs_out_is_refused(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "p.png").write_bytes(png_bytes())
    record = {
        "source": "",
        "version": "",
        "licence": "",
        "origin": "",
        "path": "../p.png",
        "width": 48,
        "height": 40,
        "sha256": "",
    }
    (pack / "manifest.json").write_text(json.dumps([record]))
    done = cli("data", "pack", str(pack), str(tmp_path / "out"))
    assert done.returncode == 2 and "leaves its folder" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "p.jpg").exists()


def test_gzip_magic_is_what_is_refused_not_the_first_bytes_of_a_plain_tar(tmp_path: Path) -> None:
    plain = shard(tmp_path / "plain.tar", [("00000000.png", png_bytes())])
    assert not plain.read_bytes().startswith(gzip.compress(b"")[:2])
    assert [s.key for s in iter_samples(str(plain))] == ["00000000"]
