"""Batch fills split across runs (--shard K/N) and picked up after a crash (--log)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photorecon.batchlog import Shard, parse_shard
from photorecon.cli import main
from photorecon.errors import PhotoreconError


def folder(tmp_path: Path, count: int = 16) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (24, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(src / f"p{i:02d}.png")
    return src


def fill(src: Path, out: Path, *extra: str) -> int:
    return main(["fill", str(src), "--box", "4,4,8,8", "--model", "telea", "-o", str(out),
                 "-q", *extra])  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_shards_cover_every_photo_exactly_once(tmp_path: Path, n: int) -> None:
    src, out = folder(tmp_path), tmp_path / "out"
    seen: list[str] = []
    for k in range(1, n + 1):
        log = tmp_path / f"{k}.jsonl"
        assert fill(src, out, "--shard", f"{k}/{n}", "--log", str(log)) == 0
        seen += [json.loads(line)["source"] for line in log.open()] if log.exists() else []
    assert sorted(Path(s).name for s in seen) == sorted(p.name for p in src.iterdir())
    assert len(list(out.iterdir())) == 16
    # the split follows the names in the folder, not where the folder is
    moved = tmp_path / "elsewhere" / "deep" / "in"
    moved.parent.mkdir(parents=True)
    src.rename(moved)
    for k in range(1, n + 1):
        mine = {p.name for p in moved.iterdir() if Shard(k, n).holds(p.name)}
        log = tmp_path / f"{k}.jsonl"
        before = (
            {Path(json.loads(line)["source"]).name for line in log.open()}
            if log.exists()
            else set()
        )
        assert mine == before


def test_the_split_stays_put_when_photos_are_added() -> None:
    names = [f"scans/{i}.png" for i in range(200)]
    before = {n for n in names if Shard(2, 3).holds(n)}
    after = {n for n in [*names, "scans/new.png"] if Shard(2, 3).holds(n)}
    assert before <= after and len(after - before) <= 1


def test_a_rerun_does_only_what_is_missing_or_failed(tmp_path: Path, capsys) -> None:
    src, out, log = folder(tmp_path, 6), tmp_path / "out", tmp_path / "run.jsonl"
    (src / "p03.png").write_bytes(b"not a png")  # fails the first time
    assert fill(src, out, "--log", str(log)) == 2
    assert "1 failed" in capsys.readouterr().out
    (out / "p01.png").unlink()  # an output lost since
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(src / "p03.png")  # mended
    assert fill(src, out, "--log", str(log)) == 0
    assert "filled 2 of 6 photos, 4 done before" in capsys.readouterr().out
    entries = [json.loads(line) for line in log.open()]
    failed = [e for e in entries if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["source"].endswith("p03.png") and failed[0]["reason"]


@pytest.mark.parametrize("text", ["3/2", "0/0", "x/y", "2", "1/0"])
def test_bad_shards_are_one_line(text: str) -> None:
    with pytest.raises(PhotoreconError, match="--shard: expected K/N"):
        parse_shard(text)


def test_torchrun_ranks_choose_the_shard(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert parse_shard(None) == Shard(3, 4)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert parse_shard(None) == Shard(1, 1)
    for world, rank, says in (
        ("2", "5", "RANK 5 is not below WORLD_SIZE 2"),
        ("2", "2", "RANK 2 is not below WORLD_SIZE 2"),  # ranks counted from 1 by mistake
        ("2", "\u00b2", "RANK='\u00b2' is not a whole number"),  # a superscript two
        ("x", "0", "WORLD_SIZE='x'"),
    ):
        monkeypatch.setenv("WORLD_SIZE", world)
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(PhotoreconError, match=re.escape(says)):
            parse_shard(None)
    for bad in ("\u00b2/4", "1/\u00b2", "0/4", "5/4", "1/", "a/b"):
        with pytest.raises(PhotoreconError, match="--shard"):
            parse_shard(bad)


def test_a_log_that_is_not_one_is_a_clear_error(tmp_path: Path, capsys) -> None:
    log = tmp_path / "run.jsonl"
    log.write_text("{not json\n")
    assert fill(folder(tmp_path, 2), tmp_path / "out", "--log", str(log)) == 2
    assert "run.jsonl: line 1 is not a run log entry" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_predict_shards_merge_into_the_whole_submission(dataset: Path, tmp_path: Path) -> None:
    masked = dataset / "train" / "masked"
    whole = tmp_path / "whole.csv"
    assert main(["predict", str(masked), "--model", "telea", "--out", str(whole), "-q"]) == 0
    parts = []
    for k in (1, 2, 3):
        out = str(tmp_path / "part-{shard}.csv")
        assert main(["predict", str(masked), "--model", "telea", "--out", out, "-q",
                     "--shard", f"{k}/3"]) == 0  # fmt: skip
        parts.append(str(tmp_path / f"part-{k}-of-3.csv"))
    merged = tmp_path / "merged.csv"
    assert main(["merge", str(merged), *parts]) == 0
    assert sorted(merged.read_text().splitlines()) == sorted(whole.read_text().splitlines())
    assert merged.read_text().startswith("filename_box_pixel,value\n")


def test_merge_refuses_overlapping_or_broken_parts(dataset: Path, tmp_path: Path, capsys) -> None:
    masked = dataset / "train" / "masked"
    part = tmp_path / "p.csv"
    assert main(["predict", str(masked), "--model", "telea", "--out", str(part), "-q"]) == 0
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "m.csv"), str(part), str(part)]) == 2
    assert "is in" in capsys.readouterr().err and not (tmp_path / "m.csv").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,value\nx,1\n")
    assert main(["merge", str(tmp_path / "m.csv"), str(part), str(bad)]) == 2
    assert "bad.csv: wrong header" in capsys.readouterr().err
    value = tmp_path / "value.csv"  # a header as it should be, a value that is not a number
    value.write_text("filename_box_pixel,value\nx.png_box1_0_0_0,abc\n")
    kept = tmp_path / "kept.csv"
    kept.write_text("as it was")
    assert main(["merge", str(kept), str(value)]) == 2
    assert "value.csv: malformed submission part CSV" in capsys.readouterr().err
    assert kept.read_text() == "as it was"
    data = part.read_bytes()
    for name, cut in (
        ("mid-row.csv", len(data) - 3),
        ("row-end.csv", data.rindex(b"\n", 0, -1) + 1),
    ):
        short = tmp_path / name  # cut in a value, or cut cleanly after a row: both short
        short.write_bytes(data[:cut])
        assert main(["merge", str(kept), str(short)]) == 2
        err = capsys.readouterr().err
        assert name in err and ("middle of a row" in err or "not whole" in err), err
        assert kept.read_text() == "as it was"
    assert main(["merge", str(kept), str(part)]) == 0  # the whole part merges


def test_summary_merges_the_shards_logs(tmp_path: Path, capsys) -> None:
    src, out = folder(tmp_path, 8), tmp_path / "out"
    (src / "p05.png").write_bytes(b"broken")
    logs = [str(tmp_path / f"{k}.jsonl") for k in (1, 2)]
    for k in (1, 2):
        fill(src, out, "--shard", f"{k}/2", "--log", logs[k - 1])
    capsys.readouterr()
    assert main(["summary", *logs]) == 2  # a failure is still there
    said = capsys.readouterr().out
    assert said.startswith("8 photos in 2 logs: 7 done, 1 failed")
    assert "failed: " in said and "p05.png" in said
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(src / "p05.png")
    owner = next(k for k in (1, 2) if Shard(k, 2).holds("p05.png"))
    fill(src, out, "--shard", f"{owner}/2", "--log", logs[owner - 1])
    capsys.readouterr()
    assert main(["summary", *logs]) == 0
    assert capsys.readouterr().out.startswith("8 photos in 2 logs: 8 done")


def test_fill_reads_and_writes_fsspec_urls(tmp_path: Path, capsys) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    src = folder(tmp_path, 4)
    for p in sorted(src.iterdir()):
        fs.pipe(f"/scans/{p.name}", p.read_bytes())
    fs.pipe("/scans/notes.txt", b"not a photo")  # not an image suffix: left alone
    log = tmp_path / "run.jsonl"
    assert fill("memory://scans", "memory://restored", "--log", str(log)) == 0
    local = tmp_path / "local"
    assert fill(src, local) == 0
    for p in sorted(local.iterdir()):  # the same bytes as a local fill of the same photos
        assert fs.cat(f"/restored/{p.name}") == p.read_bytes()
    assert main(["summary", str(log)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("4 photos in 1 logs: 4 done")
    fs.rm("/restored/p01.png")  # lost since: a rerun does that one only
    assert fill("memory://scans", "memory://restored", "--log", str(log)) == 0
    assert "filled 1 of 4 photos, 3 done before" in capsys.readouterr().out
    assert main(["detect", "memory://scans/p00.png", "-o", "memory://masks/p00.png", "-q"]) == 0
    assert fs.cat("/masks/p00.png").startswith(b"\x89PNG")
    assert fill("memory://nowhere", "memory://x") == 2
    assert "memory://nowhere: no such file or folder" in capsys.readouterr().err


def test_predict_writes_to_a_url_and_shards_stream_from_one(
    dataset: Path, tmp_path: Path, pack: Path
) -> None:
    fsspec = pytest.importorskip("fsspec")
    from photorecon.data.shards import expand_spec, iter_photos, shard_counts, write_shards

    fs = fsspec.filesystem("memory")
    masked = dataset / "val" / "masked"
    local = tmp_path / "sub.csv"
    assert main(["predict", str(masked), "--model", "telea", "--out", str(local), "-q"]) == 0
    assert main(["predict", str(masked), "--model", "telea", "--out", "memory://subs/s.csv"]) == 0
    assert fs.cat("/subs/s.csv") == local.read_bytes()
    write_shards(pack, tmp_path / "shards", shard_size=4, log=lambda _: None, progress=False)
    for p in (tmp_path / "shards").glob("*.tar"):
        fs.pipe(f"/shards/{p.name}", p.read_bytes())
    urls = expand_spec("memory://shards/photos-{000000..000002}.tar")
    assert shard_counts(urls) == [4, 4, 2]
    remote = [s.data for s in iter_photos(urls)]
    assert remote == [s.data for s in iter_photos(str(tmp_path / "shards"))]


def test_a_killed_run_is_completed_by_the_same_command(tmp_path: Path, capsys) -> None:
    src, out, log = folder(tmp_path, 8), tmp_path / "out", tmp_path / "run.jsonl"
    assert fill(src, out, "--log", str(log)) == 0
    lines = log.read_text().splitlines()
    # as a kill after the third photo leaves it: three logged and written, the rest not
    log.write_text("\n".join(lines[:3]) + "\n")
    for entry in map(json.loads, lines[3:]):
        Path(entry["target"]).unlink()
    capsys.readouterr()
    assert fill(src, out, "--log", str(log)) == 0
    assert "filled 5 of 8 photos, 3 done before" in capsys.readouterr().out
    assert len(list(out.iterdir())) == 8


def test_under_torchrun_auto_picks_this_ranks_own_gpu(monkeypatch) -> None:
    import torch

    from photorecon.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cuda", 2)
    monkeypatch.setenv("LOCAL_RANK", "6")  # more ranks than GPUs: they share them in turn
    assert resolve_device("auto") == torch.device("cuda", 2)
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.usefixtures("one_torchrun")
def test_torchrun_ranks_fill_their_own_shares(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    src, out = folder(tmp_path, 10), tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    cmd += ["-m", "photorecon.cli", "fill", str(src), "--box", "4,4,8,8", "--model", "telea"]
    cmd += ["-o", str(out), "-q", "--run-log", str(tmp_path / "fill-{shard}.jsonl")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    logs = sorted(p.name for p in tmp_path.glob("fill-*.jsonl"))
    assert logs == ["fill-1-of-2.jsonl", "fill-2-of-2.jsonl"]
    assert main(["summary", *(str(tmp_path / n) for n in logs)]) == 0


def test_a_log_skips_only_work_done_to_this_target_with_these_settings(
    tmp_path: Path, capsys
) -> None:
    src, log = folder(tmp_path, 5), tmp_path / "run.jsonl"
    assert fill(src, tmp_path / "out1", "--log", str(log)) == 0
    capsys.readouterr()
    # the same log, another output folder: every photo is done again, into out2
    assert fill(src, tmp_path / "out2", "--log", str(log)) == 0
    assert "filled 5 of 5 photos" in capsys.readouterr().out
    assert len(list((tmp_path / "out2").iterdir())) == 5
    # the same target, other settings (another box): done again too
    assert main(["fill", str(src), "--box", "2,2,5,5", "--model", "telea", "-o",
                 str(tmp_path / "out2"), "-q", "--log", str(log)]) == 0  # fmt: skip
    assert "filled 5 of 5 photos" in capsys.readouterr().out
    # and the same run again: nothing left to do
    assert main(["fill", str(src), "--box", "2,2,5,5", "--model", "telea", "-o",
                 str(tmp_path / "out2"), "-q", "--log", str(log)]) == 0  # fmt: skip
    assert "filled 0 of 5 photos, 5 done before" in capsys.readouterr().out


def test_a_torn_last_line_is_passed_over_and_the_log_goes_on(tmp_path: Path, capsys) -> None:
    src, out, log = folder(tmp_path, 4), tmp_path / "out", tmp_path / "run.jsonl"
    assert fill(src, out, "--log", str(log)) == 0
    whole = log.read_bytes()
    log.write_bytes(whole + b"\n\n" + whole.splitlines()[0][:25])  # blank lines, a torn tail
    (out / "p02.png").unlink()
    capsys.readouterr()
    assert fill(src, out, "--log", str(log)) == 0
    said = capsys.readouterr()
    assert "filled 1 of 4 photos, 3 done before" in said.out and "torn" in said.err
    # the torn tail is cut off before the new entry is written, whole, on a line of its own
    assert [json.loads(line)["source"] for line in log.read_bytes().split(b"\n") if line][
        -1
    ].endswith("p02.png")
    assert main(["summary", str(log)]) == 0 and "torn" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "line",
    [
        b'{"source": "a.png", "target": "b.png", "status": "done", "seconds": "abc"}',
        b'{"source": "a.png", "target": "b.png", "status": ["done"]}',
        b'{"source": "a.png", "target": "b.png", "status": "d\xffne"}',
    ],
    ids=["seconds-text", "status-list", "not-utf8"],
)
def test_a_bad_line_mid_log_is_one_line_naming_it(tmp_path: Path, capsys, line: bytes) -> None:
    log = tmp_path / "run.jsonl"
    good = b'{"source": "c.png", "target": "d.png", "status": "done", "seconds": 1}'
    log.write_bytes(line + b"\n" + good + b"\n")
    assert main(["summary", str(log)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run.jsonl: line 1 is not a run log entry" in err
    assert fill(folder(tmp_path, 2), tmp_path / "out", "--log", str(log)) == 2
    assert "line 1" in capsys.readouterr().err


def test_a_rank_past_the_world_is_refused_on_the_command_line(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert fill(folder(tmp_path, 2), tmp_path / "out") == 2
    assert "RANK 5 is not below WORLD_SIZE 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_chained_urls_keep_their_chain_and_take_names_from_the_inner_path(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import zipfile

    fsspec = pytest.importorskip("fsspec")
    monkeypatch.chdir(tmp_path)  # a chain taken for a local path would make a folder here
    src = folder(tmp_path, 3)
    archive = tmp_path / "scans.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, f"box/{p.name}")
    inside = f"zip://box::file://{archive}"
    assert fill(inside, "simplecache::memory://chained") == 0, capsys.readouterr().err
    fs = fsspec.filesystem("memory")
    assert sorted(fs.ls("/chained", detail=False)) == [f"/chained/p0{i}.png" for i in range(3)]
    local = tmp_path / "local"
    assert fill(src, local) == 0
    for p in sorted(local.iterdir()):  # named by the path inside the archive, filled alike
        assert fs.cat(f"/chained/{p.name}") == p.read_bytes()
    assert not any(":" in p.name for p in tmp_path.rglob("*"))  # no folder named after a URL
    one = f"zip://box/p01.png::file://{archive}"
    assert fill(one, "simplecache::memory://single/p01.png") == 0
    assert fs.cat("/single/p01.png") == (local / "p01.png").read_bytes()
