"""A network's 8-bit copy (the damage detector's, ffc's): made by `export-onnx --int8`, used on
a CPU while it lies beside the weights it was made from, and the shipped ones as good as the
float32 networks."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.cli import main
from photorecon.detection import damage_mask, damage_probability, load_detector
from photorecon.fsutil import file_sha256
from photorecon.models.files import INT8_SOURCE, int8_path, resolve, shipped_weights
from photorecon.models.loading import clear_models, load_model
from photorecon.models.onnxrt import OnnxDetector, OnnxModel, OrtRunner
from photorecon.models.registry import create_model
from test_detect import scratched

pytest.importorskip("onnxruntime")


def _detector(path: Path, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    net = create_model("damage", widths=[4, 8, 8, 8])
    with torch.no_grad():  # a random net says 0.5 everywhere: this one's maps vary
        net.head.weight.mul_(2000)
    save_weights(path, net, CheckpointMeta("damage", dict(net.config)))
    return path


def _shipped_int8(name: str) -> Path:
    """The shipped 8-bit copy of `name`, made from the weights shipped beside it (a retrained
    network needs a new copy)."""
    weights = shipped_weights(name)
    copy = int8_path(weights)
    assert copy.is_file(), f"weights/{name}.int8.onnx: make it with export-onnx --int8"
    assert OrtRunner(copy).metadata(INT8_SOURCE) == file_sha256(weights)
    return copy


def test_the_shipped_detector_runs_its_8bit_copy_and_finds_what_the_network_finds() -> None:
    copy = _shipped_int8("damage")
    clear_models()
    quick = load_detector("damage", "cpu")
    assert resolve("damage").int8 == copy
    assert isinstance(quick, OnnxDetector) and quick.runner.metadata(INT8_SOURCE)  # the copy
    network = load_detector("damage", "cpu", runtime="torch")
    image, truth = scratched(3, 300, 400)
    found, wanted = damage_mask(image, quick) > 0, damage_mask(image, network) > 0
    assert wanted.any() and (found & (truth > 0)).any()
    agree = (found & wanted).sum() / max(1, (found | wanted).sum())
    assert agree > 0.9, agree  # the same pixels within a few in a hundred
    gap = np.abs(damage_probability(image, quick) - damage_probability(image, network))
    assert gap.mean() < 0.01, gap.mean()


def test_export_onnx_int8_makes_a_copy_that_detect_uses_while_its_weights_stay(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture
) -> None:
    weights = _detector(tmp_path / "det.safetensors", 0)
    out = int8_path(weights)
    args = ["export-onnx", "--model", str(weights), "--int8", str(pack), "--out", str(out)]
    assert main([*args, "--calibration-tiles", "2"]) == 0
    said = capsys.readouterr().out
    assert said.strip().startswith(f"wrote {out}") and "histogram" not in said  # its own line
    assert OrtRunner(out).metadata(INT8_SOURCE) == file_sha256(weights)
    clear_models()
    quick = load_detector(str(weights), "cpu")
    assert isinstance(quick, OnnxDetector) and quick.runner.metadata(INT8_SOURCE)
    network = load_detector(str(weights), "cpu", runtime="torch")
    image = scratched(1)[0]
    gap = np.abs(damage_probability(image, quick) - damage_probability(image, network))
    assert gap.mean() < 0.03, gap.mean()
    # other weights saved over the file: the copy no longer fits them, the float32 export runs
    _detector(weights, 1)
    clear_models()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stale = load_detector(str(weights), "cpu")
    assert any("made from other weights" in str(w.message) for w in caught)
    assert not (isinstance(stale, OnnxDetector) and stale.runner.metadata(INT8_SOURCE))
    # a copy made at another side than detection's tiles: the same
    _detector(weights, 0)
    assert main([*args, "--calibration-tiles", "1", "--size", "64"]) == 0
    clear_models()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_detector(str(weights), "cpu")
    assert any("is 64x64, not 512x512; not used" in str(w.message) for w in caught)
    # a copy that is not an ONNX file at all: the same, with the reason
    out.write_bytes(b"not a network")
    clear_models()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        broken = load_detector(str(weights), "cpu")
    assert any("8-bit detector is not used" in str(w.message) for w in caught)
    assert damage_mask(image, broken).shape == image.shape[:2]
    clear_models()


def test_export_onnx_int8_refuses_what_it_cannot_quantize(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "x.onnx"
    for name in ("restore", "telea"):  # a restorer runs on torch; a classical fill is no net
        assert main(["export-onnx", "--model", name, "--out", str(out)]) == 2
        assert "export-onnx takes learned fills and damage detectors" in capsys.readouterr().err
    args = ["export-onnx", "--model", "damage", "--int8", str(pack), "--out", str(out)]
    assert main([*args, "--calibration-tiles", "0"]) == 2
    assert "--calibration-tiles must be 1 or more" in capsys.readouterr().err
    weights = _detector(tmp_path / "det.safetensors", 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(["export-onnx", "--model", str(weights), "--int8", str(empty), "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest" in err[0]
    assert not out.exists()


def test_a_detector_exports_at_its_tile_side(tmp_path: Path) -> None:
    weights = _detector(tmp_path / "det.safetensors", 0)
    out = tmp_path / "det.onnx"
    assert main(["export-onnx", "--model", str(weights), "--out", str(out)]) == 0
    assert OrtRunner(out).input_shape[1:] == (3, 512, 512)
    shutil.rmtree(tmp_path)


def _int8_session(model) -> bool:
    """Whether a fill runs its work windows on an 8-bit copy."""
    return isinstance(model, OnnxModel) and bool(model.sessions[model.size].metadata(INT8_SOURCE))


def _photo_with_holes(seed: int = 5):
    import cv2

    from conftest import synthetic_photo

    image = synthetic_photo(np.random.default_rng(seed), 400, 520)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[100:190, 150:240] = 1  # a 90-px hole: a 256-px window, the 8-bit copy
    mask[300:318, 400:418] = 1  # an 18-px one: a 64-px window, float32
    cv2.line(mask, (20, 380), (500, 330), 1, 14)  # a 14-px crack: 128-px tiles, float32
    return image, mask


def test_the_shipped_ffc_fills_its_work_windows_with_its_8bit_copy_as_the_network_does() -> None:
    from photorecon.anysize import fill_any_size

    _shipped_int8("ffc")
    clear_models()
    quick = load_model("ffc", "cpu", runtime="auto")
    assert _int8_session(quick) and quick.window_sides == (32, 64, 128)
    plain = load_model("ffc", "cpu", runtime="onnx")  # the float32 export, named
    assert isinstance(plain, OnnxModel) and not _int8_session(plain)
    image, mask = _photo_with_holes()
    fast, slow = fill_any_size(image, mask, quick), fill_any_size(image, mask, plain)
    hole = mask > 0
    assert (fast[~hole] == image[~hole]).all()
    gap = np.abs(fast.astype(float) - slow)[hole]
    assert gap.mean() < 2.0, gap.mean()  # levels of 255, over every hole
    assert (quick.sessions.keys() - {(256, 256)}) and all(  # smaller windows: float32
        not s.metadata(INT8_SOURCE) for k, s in quick.sessions.items() if k != (256, 256)
    )
    clear_models()


def test_export_onnx_int8_makes_a_fill_copy_that_fill_uses_while_its_weights_stay(
    tmp_path: Path, pack: Path
) -> None:
    import torch

    from photorecon.anysize import fill_any_size

    def tiny_ffc(seed: int) -> Path:
        torch.manual_seed(seed)
        net = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, blend="harmonic")
        path = tmp_path / "ffc.safetensors"
        save_weights(path, net, CheckpointMeta("ffc", dict(net.config)))
        return path

    weights = tiny_ffc(0)
    out = int8_path(weights)
    args = ["export-onnx", "--model", str(weights), "--int8", str(pack), "--out", str(out)]
    assert main([*args, "--calibration-tiles", "3"]) == 0
    assert OrtRunner(out).input_shape[1:] == (3, 256, 256)
    clear_models()
    quick = load_model(str(weights), "cpu", runtime="auto")
    assert _int8_session(quick) and quick.blend == "harmonic" and quick.thin_fill_px == 9
    image, mask = _photo_with_holes(2)
    filled = fill_any_size(image, mask, quick)
    assert (filled[mask == 0] == image[mask == 0]).all()
    assert (filled[mask > 0] != image[mask > 0]).any(axis=-1).mean() > 0.5
    tiny_ffc(1)  # other weights saved over the file: the float32 export runs
    clear_models()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stale = load_model(str(weights), "cpu", runtime="auto")
    assert any("made from other weights" in str(w.message) for w in caught)
    assert not _int8_session(stale)
    assert fill_any_size(image, mask, stale).shape == image.shape
    clear_models()
