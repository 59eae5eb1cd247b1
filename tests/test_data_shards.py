"""WebDataset shards: writing them, reading them back, and streams that split them exactly."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo
from photorecon.data.shards import (
    expand_spec,
    iter_photos,
    iter_samples,
    shard_counts,
    write_shards,
)
from photorecon.errors import PhotoreconError
from photorecon.train.shardstream import ShardPlan, batches_before, stream_photos


def photo_folder(folder: Path, count: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        ext = "jpg" if i % 3 == 0 else "png"
        Image.fromarray(synthetic_photo(rng, h, w)).save(sub / f"p{i:02d}.{ext}")
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    photos = photo_folder(tmp_path_factory.mktemp("photos"), 13)
    out = tmp_path_factory.mktemp("shards")
    write_shards(photos, out, shard_size=4, force=True, log=lambda _: None, progress=False)
    return out


def test_shards_hold_every_photo_byte_for_byte_with_an_index(tmp_path: Path) -> None:
    photos = photo_folder(tmp_path / "photos", 7)
    (photos / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    said: list[str] = []
    out = tmp_path / "shards"
    infos = write_shards(photos, out, shard_size=3, log=said.append, progress=False)[""]
    assert [s.count for s in infos] == [3, 3, 1]
    assert any("broken.png" in line and "skipped" in line for line in said)
    assert not any("BytesIO" in line for line in said)  # the file named, not a stream
    index = json.loads((out / "index.json").read_text())
    assert index["count"] == 7 and [s["name"] for s in index["shards"]] == [s.name for s in infos]
    for entry in index["shards"]:
        assert (out / entry["name"]).stat().st_size == entry["bytes"]
    samples = list(iter_photos(str(out)))
    assert len(samples) == 7 and len({s.key for s in samples}) == 7
    for sample in samples:
        source = photos / sample.meta["path"]
        assert sample.data == source.read_bytes()  # the bytes as they were
        assert sample.ext == source.suffix[1:]
        assert sample.meta["licence"] == ""
        assert sample.rgb().shape[2] == 3
    # WebDataset's layout: <key>.<ext> and <key>.json side by side in each tar
    with tarfile.open(out / infos[0].name) as tar:
        names = tar.getnames()
    assert names[:2] == [f"{samples[0].key}.json", f"{samples[0].key}.{samples[0].ext}"]
    with pytest.raises(PhotoreconError, match="not empty"):
        write_shards(photos, out, log=said.append, progress=False)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.jpg").write_bytes(b"junk")
    with pytest.raises(PhotoreconError, match="no photo could be read"):
        write_shards(junk, tmp_path / "nothing", log=said.append, progress=False)
    assert not (tmp_path / "nothing").exists()  # nothing left behind


def test_split_shards_hold_the_photos_a_build_holds_out(pack: Path, tmp_path: Path) -> None:
    from photorecon.data.crops import split_photos
    from photorecon.data.photos import read_manifest

    written = write_shards(
        pack, tmp_path / "s", log=lambda _: None, progress=False, split=(1, 0.2, 0.2)
    )
    assert set(written) == {"train", "val", "test"}
    expected = split_photos([r.path for r in read_manifest(pack)], 1, 0.2, 0.2)
    keys = set()
    for name in written:
        got = [s.meta["path"] for s in iter_photos(str(tmp_path / "s" / name))]
        assert got == expected[name]  # in the order training takes them
        keys |= {s.key for s in iter_photos(str(tmp_path / "s" / name))}
    assert len(keys) == 10  # keys unique across the splits


def test_a_pack_keeps_its_records(pack: Path, tmp_path: Path) -> None:
    write_shards(pack, tmp_path / "s", shard_size=4, log=lambda _: None, progress=False)
    manifest = json.loads((pack / "manifest.json").read_text())
    got = [s.meta for s in iter_photos(str(tmp_path / "s"))]
    assert [{k: m[k] for k in manifest[0]} for m in got] == manifest
    assert (tmp_path / "s" / "ATTRIBUTION.md").is_file() == (pack / "ATTRIBUTION.md").is_file()


def test_specs_expand_folders_patterns_and_lists(shards: Path) -> None:
    names = sorted(p.name for p in shards.glob("*.tar"))
    assert [Path(u).name for u in expand_spec(str(shards))] == names
    pattern = str(shards / "photos-{000000..000002}.tar")
    assert [Path(u).name for u in expand_spec(pattern)] == names[:3]
    assert len(expand_spec([str(shards / names[0]), str(shards / names[1])])) == 2
    assert shard_counts(expand_spec(str(shards))) == [4, 4, 4, 1]
    assert shard_counts([f"pipe:cat {shards / names[0]}"]) == [4]  # counted by reading it
    with pytest.raises(PhotoreconError, match="no such shard"):
        expand_spec(str(shards / "photos-{000000..000009}.tar"))
    with pytest.raises(PhotoreconError, match="index.json"):
        expand_spec(str(shards.parent))


def test_skip_and_a_truncated_shard(shards: Path, tmp_path: Path) -> None:
    first = shards / "photos-000000.tar"
    keys = [s.key for s in iter_samples(str(first))]
    assert [s.key for s in iter_samples(str(first), skip=2)] == keys[2:]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(first.read_bytes()[: first.stat().st_size // 2 + 100])
    with pytest.raises(PhotoreconError, match="cut.tar: broken shard"):
        list(iter_samples(str(cut)))


def keys_of(plan: ShardPlan, g: int, first: int, count: int) -> list[str]:
    out = []
    for _, sample in stream_photos(plan, g, first):
        out.append(sample.key)
        if len(out) == count:
            return out
    return out


@pytest.mark.parametrize("streams", [1, 2, 3, 4, 5, 7])
def test_streams_split_an_epoch_exactly_once_and_resume_mid_block(
    shards: Path, streams: int
) -> None:
    urls = tuple(expand_spec(str(shards)))
    plan = ShardPlan(urls, tuple(shard_counts(list(urls))), streams, buffer=3, seed=5)
    everything = sorted(s.key for s in iter_photos(str(shards)))
    epochs: list[list[str]] = [[], []]
    for g in range(streams):
        length = plan.epoch_length(g)
        run = keys_of(plan, g, 0, 2 * length + 8)
        epochs[0] += run[:length]
        epochs[1] += run[length : 2 * length]
        for first in (1, 2, 4, length + 1):  # any point, mid-block included, resumes exactly
            assert keys_of(plan, g, first, 3) == run[first : first + 3]
    assert sorted(epochs[0]) == everything and sorted(epochs[1]) == everything


def test_the_shuffle_buffer_mixes_and_the_seed_decides(shards: Path) -> None:
    urls = tuple(expand_spec(str(shards)))
    counts = tuple(shard_counts(list(urls)))
    a = keys_of(ShardPlan(urls, counts, 1, buffer=13, seed=1), 0, 0, 13)
    b = keys_of(ShardPlan(urls, counts, 1, buffer=13, seed=2), 0, 0, 13)
    assert sorted(a) == sorted(b) and a != b and a != sorted(a)
    with pytest.raises(PhotoreconError, match="cannot feed 20 streams"):
        ShardPlan(urls, counts, 20, buffer=4, seed=0)


def test_batches_before_follows_the_loaders_round_robin() -> None:
    for streams in (1, 2, 3):
        for step in range(12):
            made = [sum(1 for t in range(step) if t % streams == s) for s in range(streams)]
            assert [batches_before(step, s, streams) for s in range(streams)] == made


def test_data_shard_command(tmp_path: Path) -> None:
    photos = photo_folder(tmp_path / "p", 5)
    cmd = [
        sys.executable,
        "-m",
        "photorecon.cli",
        "data",
        "shard",
        str(photos),
        str(tmp_path / "s"),
    ]
    done = subprocess.run([*cmd, "-q", "--shard-size", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote 5 photos in 3 shards" in done.stdout
    again = subprocess.run([*cmd, "-q"], capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "not empty" in again.stderr
    bad = subprocess.run([*cmd, "--force", "--shard-size", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--shard-size" in bad.stderr
    assert len(list((tmp_path / "s").glob("*.tar"))) == 3  # nothing lost to the bad call


def test_image_bytes_decode_like_files(shards: Path) -> None:
    sample = next(iter_photos(str(shards)))
    image = np.asarray(Image.open(io.BytesIO(sample.data)).convert("RGB"))
    assert (sample.rgb() == image).all()


def shard_config(train: Path, val: Path, *overrides: str):
    from photorecon.config import load_config
    from photorecon.train.config import TrainConfig

    base = [
        "data.source=shards",
        f"data.shards={train}",
        f"data.val_shards={val}",
        "data.size=32",
        "data.box_size=10",
        "data.val_crops_per_photo=1",
        "data.shuffle_buffer=3",
        "batch_size=2",
        "steps=12",
        "eval_every=4",
        "optim.warmup_steps=2",
        "ema=0.9",
        "ema_bn_samples=4",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    ]
    return load_config(TrainConfig, None, [*base, *overrides])


@pytest.fixture(scope="module")
def val_shards(tmp_path_factory) -> Path:
    photos = photo_folder(tmp_path_factory.mktemp("valphotos"), 3, seed=9)
    out = tmp_path_factory.mktemp("valshards")
    write_shards(photos, out, log=lambda _: None, progress=False, force=True)
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_training_from_shards_resumes_to_the_same_weights(
    shards: Path, val_shards: Path, tmp_path: Path, workers: int
) -> None:
    import torch
    from safetensors.torch import load_file

    from photorecon.train.loop import train

    cfg = lambda: shard_config(shards, val_shards, f"data.workers={workers}")  # noqa: E731
    straight = train(cfg(), tmp_path / "straight", progress=False)
    assert straight.steps == 12
    parts = []
    for _ in range(100):
        result = train(cfg(), tmp_path / "chunked", False, chunk_minutes=0.0004)
        parts.append(result.steps)
        if not result.stopped:
            break
    assert len(parts) >= 2 and parts[-1] == 12
    a = load_file(str(tmp_path / "straight" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "chunked" / "last" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    state = torch.load(tmp_path / "chunked" / "last" / "state" / "trainer.pt", weights_only=True)
    assert len(state["data"]) == max(workers, 1)
    assert {"epoch", "shard", "offset", "block"} <= set(state["data"][0])


def test_training_from_shards_needs_its_shards(shards: Path, tmp_path: Path) -> None:
    from photorecon.train.loop import train

    with pytest.raises(PhotoreconError, match="val_shards"):
        train(shard_config(shards, Path(""), "data.val_shards="), tmp_path / "r", False)
    with pytest.raises(PhotoreconError, match="no such shard"):
        train(shard_config(tmp_path / "x-{0..3}.tar", shards), tmp_path / "r", False)


@pytest.mark.usefixtures("one_torchrun")
def test_two_processes_train_from_shards_without_overlap(
    shards: Path, val_shards: Path, tmp_path: Path
) -> None:
    import os

    import torch

    run = tmp_path / "ddp"
    sets = []
    for item in [
        "data.source=shards",
        f"data.shards={shards}",
        f"data.val_shards={val_shards}",
        "data.workers=0",
        "data.size=32",
        "data.box_size=10",
        "data.val_crops_per_photo=1",
        "batch_size=2",
        "steps=6",
        "eval_every=3",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    ]:
        sets += ["--set", item]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    cmd += ["-m", "photorecon.cli", "train", "-q", "--out", str(run), *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "all 2 ranks agree on the weights" in result.stdout
    state = torch.load(run / "last" / "state" / "trainer.pt", weights_only=True)
    first, second = state["data"]
    assert first["stream"] == 0 and second["stream"] == 1
    # two streams of four shards: each reads its own two
    assert {Path(first["shard"]).name, Path(second["shard"]).name} <= {
        p.name for p in shards.glob("*.tar")
    }
    assert first["shard"] != second["shard"]


def same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


def test_build_and_pack_read_shards_as_they_read_the_pack(pack: Path, tmp_path: Path) -> None:
    from photorecon.data.build import BuildConfig, build_dataset
    from photorecon.data.pack import compact_pack

    shards = tmp_path / "shards"
    write_shards(pack, shards, shard_size=3, log=lambda _: None, progress=False)
    cfg = BuildConfig(crops_per_photo=2, size=64, box_size=20, val_frac=0.2, test_frac=0.2)
    build_dataset(pack, tmp_path / "from-pack", cfg, workers=1, progress=False)
    build_dataset(shards, tmp_path / "from-shards", cfg, workers=2, progress=False)
    assert same_tree(tmp_path / "from-pack", tmp_path / "from-shards")
    compact_pack(pack, tmp_path / "small-pack", max_side=128)
    compact_pack(
        str(shards / "photos-{000000..000003}.tar"), tmp_path / "small-shards", max_side=128
    )
    a, b = tmp_path / "small-pack", tmp_path / "small-shards"
    assert (a / "manifest.json").read_text() == (b / "manifest.json").read_text()
    assert same_tree(a / "photos", b / "photos")


@pytest.mark.usefixtures("one_torchrun")
def test_two_nodes_meet_by_c10d_rendezvous_as_the_slurm_example_does(
    shards: Path, val_shards: Path, tmp_path: Path
) -> None:
    import os
    import socket

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "nodes"
    sets = []
    for item in [
        "data.source=shards",
        f"data.shards={shards}",
        f"data.val_shards={val_shards}",
        "data.workers=1",
        "data.size=32",
        "data.box_size=10",
        "data.val_crops_per_photo=1",
        "batch_size=2",
        "steps=4",
        "eval_every=4",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    ]:
        sets += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = []
    for _ in range(2):  # two "nodes" of one process each, as two srun tasks would start them
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1"]
        cmd += ["--rdzv-id=test", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}"]
        cmd += ["-m", "photorecon.cli", "train", "-q", "--out", str(run), *sets]
        nodes.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
    outs = [p.communicate(timeout=180) for p in nodes]
    assert all(p.returncode == 0 for p in nodes), outs[0][1][-2000:] + outs[1][1][-2000:]
    said = b"".join(o[0] for o in outs).decode()
    assert "all 2 ranks agree on the weights" in said
    assert "processes: 2" in (run / "result.yaml").read_text()
