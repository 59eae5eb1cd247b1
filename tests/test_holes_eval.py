"""Hole kinds end to end: mask splits from `data build --holes`, `evaluate` per kind beside
Telea, and the compact photo pack that travels to a GPU machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photorecon.cli import main
from photorecon.data.build import BuildConfig, build_dataset
from photorecon.evaluate import drawn_holes, evaluate_kinds, mask_split
from photorecon.imageio import read_image


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def scratch_split(pack: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("holes") / "ds"
    cfg = BuildConfig(
        seed=1, val_frac=0.2, test_frac=0.2, crops_per_photo=2, size=96, holes="scratches"
    )
    build_dataset(pack, out, cfg, workers=1, progress=False)
    return out / "test"


def test_build_writes_a_mask_split(scratch_split: Path) -> None:
    assert (scratch_split / "holes.txt").read_text() == "scratches\n"
    assert not (scratch_split / "masked" / "masked_info.csv").exists()
    names = sorted(p.name for p in (scratch_split / "original").iterdir())
    assert names == sorted(p.name for p in (scratch_split / "masks").iterdir()) and len(names) == 4
    for name in names:
        mask = np.asarray(Image.open(scratch_split / "masks" / name))
        masked = read_image(scratch_split / "masked" / name)
        original = read_image(scratch_split / "original" / name)
        assert mask.shape == (96, 96) and set(np.unique(mask)) == {0, 255}
        assert 0 < (mask > 0).mean() < 0.2  # thin strokes
        assert (masked[mask > 0] == 255).all()
        assert (masked[mask == 0] == original[mask == 0]).all()


def test_evaluate_per_kind_puts_telea_beside_every_model(
    scratch_split: Path, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    table = tmp_path / "kinds.csv"
    code, out, err = run(
        capsys,
        "evaluate",
        str(scratch_split),
        str(dataset / "val"),
        "--holes",
        "squares,brush",
        "--models",
        "mean,ns",
        "--csv",
        str(table),
        "-q",
    )
    assert code == 0, err
    assert "RMSE per hole kind" in out and "telea" in out
    header, *rows = table.read_text().splitlines()
    assert header.split(",") == [
        "model",
        "scratches@96",
        "scratches@96_vs_telea",
        "squares",
        "squares_vs_telea",
        "brush",
        "brush_vs_telea",
        "ms_per_image",
    ]
    cells = {r.split(",")[0]: [float(x) for x in r.split(",")[1:]] for r in rows}
    assert set(cells) == {"mean", "ns", "telea"}
    assert cells["telea"][1] == cells["telea"][3] == cells["telea"][5] == 0.0
    # the mean colour is a poor fill everywhere: worse than Telea on every kind
    assert all(cells["mean"][i] > cells["telea"][i] for i in (0, 2, 4))


def test_per_kind_on_onnxruntime_keeps_telea_as_the_reference(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    table = tmp_path / "onnx.csv"
    code, _, err = run(
        capsys, "evaluate", str(dataset / "val"), "--holes", "brush", "--models", "ffc",
        "--runtime", "onnx", "--csv", str(table), "-q",
    )  # fmt: skip
    assert code == 0, err
    models = [r.split(",")[0] for r in table.read_text().splitlines()[1:]]
    assert models == ["ffc (onnx)", "telea"]
    # asked for by name on onnxruntime, a classical fill is still a one-line error
    code, _, err = run(capsys, "evaluate", str(dataset / "val"), "--holes", "brush",
                       "--models", "telea", "--runtime", "onnx", "-q")  # fmt: skip
    assert code == 2 and "no network to run on onnxruntime" in err


def test_drawn_holes_are_fixed_by_seed_and_scored_through_the_fill_path(dataset: Path) -> None:
    a, b = drawn_holes(dataset / "val", "brush", 3), drawn_holes(dataset / "val", "brush", 3)
    assert all((x == y).all() for x, y in zip(a.masks, b.masks, strict=True))
    assert not all(
        (x == y).all()
        for x, y in zip(a.masks, drawn_holes(dataset / "val", "brush", 4).masks, strict=True)
    )
    row, mean = evaluate_kinds([a], ["telea", "mean"], progress=False)
    assert row.model == "telea" and row.seconds_per_image > 0
    assert 0 < row.rmse["brush"] < 0.9 * mean.rmse["brush"]  # better than a flat fill


def test_mask_split_errors_name_the_file(scratch_split: Path, tmp_path: Path) -> None:
    import shutil

    from photorecon.errors import PhotoreconError

    broken = tmp_path / "broken"
    shutil.copytree(scratch_split, broken)
    victim = sorted((broken / "masks").iterdir())[0]
    victim.unlink()
    with pytest.raises(PhotoreconError, match=f"{victim.name}: missing"):
        mask_split(broken)
    with pytest.raises(PhotoreconError, match="not a mask split"):
        mask_split(tmp_path)


def test_compact_pack_keeps_order_and_split(pack: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run(
        capsys,
        "data",
        "pack",
        str(pack),
        str(tmp_path / "small"),
        "--max-side",
        "300",
        "--quality",
        "90",
    )
    assert code == 0 and "wrote 10 photos" in out, err
    before = json.loads((pack / "manifest.json").read_text())
    after = json.loads((tmp_path / "small" / "manifest.json").read_text())
    assert [Path(r["path"]).stem for r in after] == [Path(r["path"]).stem for r in before]
    assert all(r["path"].endswith(".jpg") and max(r["width"], r["height"]) <= 300 for r in after)
    assert all(
        read_image(tmp_path / "small" / r["path"]).shape[:2] == (r["height"], r["width"])
        for r in after
    )
    # the same seed holds out the same photos from the compact pack
    cfg = BuildConfig(seed=1, val_frac=0.2, test_frac=0.2, crops_per_photo=1)
    build_dataset(pack, tmp_path / "a", cfg, workers=1, progress=False)
    build_dataset(tmp_path / "small", tmp_path / "b", cfg, workers=1, progress=False)
    for split in ("train", "val", "test"):
        a = [Path(p).stem for p in (tmp_path / "a" / split / "photos.txt").read_text().split()]
        b = [Path(p).stem for p in (tmp_path / "b" / split / "photos.txt").read_text().split()]
        assert a == b
