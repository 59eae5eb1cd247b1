from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.cli import main
from photorecon.errors import PhotoreconError
from photorecon.models.base import kind_of
from photorecon.models.blocks import irfft2_matmul, rfft2_matmul
from photorecon.models.onnx import export_onnx
from photorecon.models.onnxrt import OnnxModel
from photorecon.models.registry import create_model
from photorecon.models.tta import FlipTTA

TINY = {"width": 4, "downs": 2, "blocks": 2, "max_width": 8}


@pytest.mark.parametrize(("h", "w"), [(16, 16), (5, 7), (8, 9)])
def test_matmul_dft_matches_torch_fft(h: int, w: int) -> None:
    x = torch.randn(2, 3, h, w)
    freq = torch.fft.rfft2(x, norm="ortho")
    real, imag = rfft2_matmul(x)
    assert torch.allclose(real, freq.real, atol=1e-5) and torch.allclose(imag, freq.imag, atol=1e-5)
    back = irfft2_matmul(real, imag, h, w)
    assert torch.allclose(back, x, atol=1e-5)


# onnxruntime computes in float32 as torch does; OpenVINO in bfloat16 where the CPU has it
ENGINE_TOLERANCE = {"onnxruntime": 1e-4, "openvino": 1e-2}


@pytest.mark.parametrize("engine", list(ENGINE_TOLERANCE))
@pytest.mark.parametrize(
    ("extra", "parts"),
    [
        ({}, False),
        ({"prior": "pushpull"}, False),
        ({"blend": "harmonic"}, False),
        ({"blend": "harmonic"}, True),
    ],
)
def test_onnx_matches_pytorch(extra: dict, parts: bool, engine: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime" if engine == "onnxruntime" else "openvino")
    torch.manual_seed(0)
    model = create_model("ffc", **TINY, **extra).eval()
    heads = [model.head] + ([model.gate] if model.gate is not None else [])
    for p in (p for head in heads for p in head.parameters()):  # zero heads hide the network
        torch.nn.init.normal_(p, std=0.05)
    path = export_onnx(model, tmp_path / "m.onnx", size=32, parts=parts)
    runner = OnnxModel(path, engine=engine)
    assert runner.engine == engine
    assert runner.blend == ("harmonic" if parts else "none")
    tolerance = ENGINE_TOLERANCE[engine]
    x = torch.rand(3, 3, 32, 32)
    mask = torch.zeros(3, 1, 32, 32)
    mask[..., 5:20, 8:25] = 1
    with torch.no_grad():
        expected = model(x * (1 - mask), mask)
    got = runner(x * (1 - mask), mask)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < tolerance
    # smaller inputs are mirrored out to the fixed size, filled, and cut back
    small, small_mask = x[:1, :, :24, :20], mask[:1, :, :24, :20]
    got_small = runner(small * (1 - small_mask), small_mask)
    assert got_small.shape == (1, 3, 24, 20)
    padded_x = torch.nn.functional.pad(small, (0, 12, 0, 8), mode="reflect")
    padded_m = torch.nn.functional.pad(small_mask, (0, 12, 0, 8), mode="reflect")
    with torch.no_grad():
        want = model(padded_x * (1 - padded_m), padded_m)[..., :24, :20]
    assert (got_small - want).abs().max().item() < tolerance
    with pytest.raises(PhotoreconError, match="takes images up to"):
        runner(torch.rand(1, 3, 40, 16), torch.zeros(1, 1, 40, 16))


def test_export_cli_and_onnx_as_model_spec(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    ckpt = tmp_path / "m.safetensors"
    model = create_model("ffc", **TINY)
    save_weights(ckpt, model, CheckpointMeta("ffc", model.config))
    onnx_path = tmp_path / "m.onnx"
    assert main(["export-onnx", "--model", str(ckpt), "--out", str(onnx_path), "--size", "64"]) == 0
    assert "wrote" in capsys.readouterr().out
    from photorecon.api import fill

    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    out = fill(image, [(10, 10, 20, 20)], model=str(onnx_path))
    assert out.shape == image.shape
    assert (out[:10] == image[:10]).all()
    # inside the hole: the network's fill, as the checkpoint gives it on torch
    ref = fill(image, [(10, 10, 20, 20)], model=str(ckpt), runtime="torch")
    hole = (slice(10, 30), slice(10, 30))
    assert (out[hole] != image[hole]).any(axis=-1).mean() > 0.9
    assert np.abs(out[hole].astype(int) - ref[hole]).max() <= 2
    assert main(["export-onnx", "--model", "nope", "--out", str(tmp_path / "x.onnx")]) == 2


def test_tta_averages_flips() -> None:
    torch.manual_seed(0)
    model = create_model("ffc", **TINY).eval()
    x = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 4:12, 6:20] = 1
    with torch.no_grad():
        tta = FlipTTA(model)(x, mask)
        manual = (
            model(x, mask)
            + model(x.flip(3), mask.flip(3)).flip(3)
            + model(x.flip(2), mask.flip(2)).flip(2)
            + model(x.flip((2, 3)), mask.flip((2, 3))).flip((2, 3))
        ) / 4
    assert torch.allclose(tta, manual, atol=1e-6)
    # a flip-equivariant fill is unchanged by TTA
    mean = create_model("mean")
    assert torch.allclose(FlipTTA(mean)(x, mask), mean(x, mask), atol=1e-6)


def test_onnx_runtime_exports_once_and_caches(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from photorecon.models.loading import load_model

    monkeypatch.setenv("PHOTORECON_CACHE", str(tmp_path / "cache"))
    ckpt = tmp_path / "m.safetensors"
    torch.manual_seed(0)
    model = create_model("ffc", **TINY).eval()
    save_weights(ckpt, model, CheckpointMeta("ffc", model.config))
    runner = load_model(str(ckpt), runtime="onnx")
    assert isinstance(runner, OnnxModel)
    (cached,) = (tmp_path / "cache").glob("*.onnx")
    stamp = cached.stat().st_mtime_ns
    x = torch.rand(1, 3, 256, 256)
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 40:115, 60:135] = 1
    with torch.no_grad():
        assert (load_model(str(ckpt), runtime="onnx")(x, mask) - model(x, mask)).abs().max() < 1e-4
    assert cached.stat().st_mtime_ns == stamp  # reused, not exported again
    # with TTA the ONNX model still counts as learned, so fill shrinks windows to its size
    assert kind_of(load_model(str(ckpt), runtime="onnx", tta=True)) != "classical"
    with pytest.raises(PhotoreconError, match="no network"):
        load_model("telea", runtime="onnx")
    with pytest.raises(PhotoreconError, match="unknown runtime"):
        load_model("telea", runtime="tpu")
    if importlib.util.find_spec("openvino") is not None:  # the same export, on OpenVINO
        on_openvino = load_model(str(ckpt), runtime="openvino")
        assert isinstance(on_openvino, OnnxModel) and on_openvino.engine == "openvino"
        assert cached.stat().st_mtime_ns == stamp
        with torch.no_grad():
            assert (on_openvino(x, mask) - model(x, mask)).abs().max() < 1e-2
        assert (tmp_path / "cache" / "openvino").is_dir()  # its compiled network, kept


def test_auto_runs_openvino_only_where_it_computes_in_bfloat16(monkeypatch) -> None:
    from photorecon.models import onnxrt

    for bfloat16, engine in ((True, "openvino"), (False, "onnxruntime")):
        monkeypatch.setattr(onnxrt, "openvino_bfloat16", lambda b=bfloat16: b)
        assert onnxrt.pick_engine("auto") == engine
    assert onnxrt.pick_engine("onnxruntime") == "onnxruntime"
    with pytest.raises(PhotoreconError, match="unknown ONNX engine 'tensorrt'"):
        onnxrt.pick_engine("tensorrt")


@pytest.mark.parametrize("engine", list(ENGINE_TOLERANCE))
@pytest.mark.parametrize("content", [b"not a model", None])
def test_a_broken_onnx_file_is_one_line_on_either_engine(
    engine: str, content: bytes | None, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    pytest.importorskip(engine)
    path = tmp_path / "broken.onnx"
    if content is None:  # a real export cut short
        model = create_model("ffc", **TINY).eval()
        whole = export_onnx(model, tmp_path / "whole.onnx", size=32).read_bytes()
        content = whole[: len(whole) // 3]
    path.write_bytes(content)
    with pytest.raises(PhotoreconError) as caught:
        OnnxModel(path, engine=engine)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: cannot load ONNX model (")
    assert "tensorflow" not in capfd.readouterr().err  # no other format's reader was tried
