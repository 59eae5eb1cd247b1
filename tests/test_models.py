from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from photorecon.errors import PhotoreconError
from photorecon.inpaint import composite, fill_batch
from photorecon.masks import Box, boxes_to_mask
from photorecon.models.base import InpaintModel
from photorecon.models.registry import create_model, get_model_info, list_models


def batch(seed: int = 0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = torch.zeros(2, 1, size, size)
    mask[:, :, 10:30, 20:45] = 1
    mask[1, :, 40:60, 5:20] = 1
    return image * (1 - mask), mask


@pytest.mark.parametrize(
    "name", [n for n in list_models(fills=True) if get_model_info(n).kind != "diffusion"]
)
def test_model_contract(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    masked, mask = batch()
    with torch.no_grad():
        out = model(masked, mask)
    assert out.shape == masked.shape
    assert torch.isfinite(out).all()
    filled = composite(out, masked, mask)
    assert torch.equal(filled * (1 - mask), masked * (1 - mask))
    # it says what it is, as the registry does, and records what rebuilds it
    info = get_model_info(name)
    assert isinstance(model, InpaintModel) and model.kind == info.kind
    assert info.model is type(model) and info.work_size == model.work_size
    rebuilt = create_model(name, **model.config)
    assert rebuilt.config == model.config
    assert json.loads(json.dumps(dict(model.config))) == model.config


def test_config_records_arguments_with_quiet_defaults() -> None:
    plain = create_model("ffc", width=8, downs=2, blocks=1)
    assert plain.config == dict(
        width=8, downs=2, blocks=1, ratio=0.75, max_width=256, skips=True
    )  # prior/blend left out at their defaults: older checkpoints have no such keys
    blended = create_model("ffc", width=8, downs=2, blocks=1, blend="harmonic")
    assert blended.config["blend"] == "harmonic" and "prior" not in blended.config
    assert create_model("pix2pix").config["widths"] == [64, 128, 256, 512, 512, 512, 512, 512]


def test_classical_fills_on_arrays_need_no_torch() -> None:
    """`--help`, `score`, and predict/fill with Telea, NS or mean never import torch."""
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    from conftest import synthetic_photo

    tmp = Path(__file__).parent / ".torchless"
    tmp.mkdir(exist_ok=True)
    photo = tmp / "photo.png"
    Image.fromarray(synthetic_photo(np.random.default_rng(1), 64, 80)).save(photo)
    script = f"""
import sys
from photorecon.cli import main
fill = ["fill", {str(photo)!r}, "--box", "9,9,20,20", "-o", {str(tmp / "out.png")!r}]
commands = [
    ["--help"],
    [*fill, "--model", "telea"],
    [*fill, "--model", "ns", "--tta"],
    [*fill, "--model", "mean"],
    ["predict", {str(tmp)!r}, "--model", "telea", "--image-size", "0", "--box-size", "8",
     "--out", {str(tmp / "pred.csv")!r}],
    ["score", {str(tmp / "sub.csv")!r}, {str(tmp / "sub.csv")!r}],
]
for argv in commands:
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    assert rc in (0, None), (argv, rc)
print("TORCH", "torch" in sys.modules)
"""
    (tmp / "masked_info.csv").write_text(
        ",filename,box1_row,box1_col,box2_row,box2_col\n0,photo.png,5,5,30,40\n"
    )
    (tmp / "sub.csv").write_text("filename_box_pixel,value\na.png_box1_0_0_0,0.5\n")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    assert done.returncode == 0, done.stderr
    assert "TORCH False" in done.stdout


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(PhotoreconError, match=r"unknown model 'nope'.*telea"):
        create_model("nope")


def test_mean_fill_uses_known_pixel_mean() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :4] = 100
    image[:, 4:] = 200
    mask = boxes_to_mask(8, 8, [Box(0, 0, 8, 2)])  # hides the left two columns (value 100)
    out = fill_batch(create_model("mean"), [image], [mask])[0]
    expected = (2 * 100 + 4 * 200) / 6 / 255
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out[0, 5], 200 / 255, atol=1e-6)


@pytest.mark.parametrize("name", ["telea", "ns", "pushpull", "harmonic"])
def test_classical_fill_is_close_on_smooth_image(name: str) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.dstack([yy * 2, xx * 2, (yy + xx)]).astype(np.uint8)
    mask = boxes_to_mask(64, 64, [Box(20, 20, 10, 10)])
    out = fill_batch(create_model(name), [image], [mask])[0]
    hole = mask > 0
    err = np.abs(out[hole] - image[hole] / 255.0).mean()
    mean_err = np.abs(
        fill_batch(create_model("mean"), [image], [mask])[0][hole] - image[hole] / 255.0
    ).mean()
    assert err < 0.05
    assert err < mean_err / 3


def test_pushpull_keeps_known_pixels_and_fills_a_constant_exactly() -> None:
    from photorecon.models.classical import pushpull_fill

    image = torch.full((1, 3, 37, 50), 0.3)  # odd sizes: the pyramid rounds up
    image[..., 0] = 0.9
    mask = torch.zeros(1, 1, 37, 50)
    mask[..., 10:30, 20:45] = 1
    out = pushpull_fill(image * (1 - mask), mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    flat = pushpull_fill(torch.full_like(image, 0.3) * (1 - mask), mask)
    assert torch.allclose(flat, torch.tensor(0.3), atol=1e-6)


def test_ffc_with_pushpull_prior_starts_as_the_classical_fill() -> None:
    from photorecon.models.classical import pushpull_fill

    model = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, prior="pushpull").eval()
    masked, mask = batch()
    with torch.no_grad():
        out = model(masked, mask)
    assert (out - pushpull_fill(masked, mask)).abs().max() < 2e-3
    assert model.config["prior"] == "pushpull"
    assert "prior" not in create_model("ffc", width=4, downs=2, blocks=1, max_width=8).config
    with pytest.raises(PhotoreconError, match="prior must be"):
        create_model("ffc", prior="telea")


def test_harmonic_fill_solves_laplace_inside_the_holes() -> None:
    from photorecon.models.classical import harmonic_fill

    # a linear ramp is harmonic: the fill of a thin gap in it is the ramp itself
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64).clone()
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., :, 30:33] = 1  # a 3-px vertical scratch
    out = harmonic_fill(ramp * (1 - mask), mask, iters=200)
    assert torch.equal(out * (1 - mask), ramp * (1 - mask))
    assert (out - ramp).abs().max() < 2e-3
    coarse = harmonic_fill(ramp * (1 - mask), mask, iters=0)  # push-pull alone: further off
    assert (coarse - ramp).abs().max() > 4 * (out - ramp).abs().max()


def test_ffc_blend_warm_starts_from_a_net_without_it(tmp_path) -> None:
    from photorecon.checkpoint import CheckpointMeta, save_weights
    from photorecon.models.classical import harmonic_fill
    from photorecon.train.state import warm_start

    tiny = dict(width=4, downs=2, blocks=1, max_width=8)
    torch.manual_seed(0)
    plain = create_model("ffc", **tiny).eval()
    path = tmp_path / "plain.safetensors"
    save_weights(path, plain, CheckpointMeta("ffc", plain.config))
    blended = create_model("ffc", **tiny, blend="harmonic").eval()
    warm_start(blended, str(path), "ffc")
    assert blended.config["blend"] == "harmonic" and "blend" not in plain.config
    masked, mask = batch()
    with torch.no_grad():  # the gate starts as an even mix of the net and the classical fill
        want = 0.5 * plain(masked, mask) + 0.5 * harmonic_fill(masked * (1 - mask), mask)
        assert (blended(masked, mask) - want).abs().max() < 1e-5
    with pytest.raises(PhotoreconError, match="blend must be"):
        create_model("ffc", blend="telea")
    # the other way round (a blend checkpoint into a plain net) is a misfit, not a silent drop
    save_weights(tmp_path / "b.safetensors", blended, CheckpointMeta("ffc", blended.config))
    with pytest.raises(PhotoreconError, match="blend"):
        warm_start(create_model("ffc", **tiny), str(tmp_path / "b.safetensors"), "ffc")


def test_a_spec_is_parsed_once_into_what_it_names(tmp_path) -> None:
    from photorecon.models.loading import parse_spec

    (tmp_path / "sd" / "unet").mkdir(parents=True)
    (tmp_path / "run" / "best").mkdir(parents=True)
    assert parse_spec("ffc").source == "name" and parse_spec("telea").source == "name"
    assert parse_spec(str(tmp_path / "sd")).source == "diffusers"
    assert parse_spec(str(tmp_path / "run")).source == "checkpoint"
    assert parse_spec("weights.safetensors").source == "checkpoint"
    assert parse_spec("model.onnx").source == "onnx"
    spec = parse_spec("ffc")
    assert parse_spec(spec) is spec and str(spec) == "ffc"


def test_a_registered_name_means_the_registered_model_whatever_is_on_disk(
    tmp_path, monkeypatch, capsys
) -> None:
    """An empty folder named `telea` in the working folder made `fill --model telea` fail
    with "no model.safetensors": a name is never read as a path (./NAME is the folder)."""
    from photorecon.cli import main
    from photorecon.models.loading import load_model, parse_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "telea").mkdir()
    (tmp_path / "myrun").mkdir()
    assert parse_spec("telea").source == "name" and parse_spec("./telea").source == "checkpoint"
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(photo)
    assert main(["fill", str(photo), "--box", "8,8,8,8", "--model", "telea", "-q"]) == 0
    assert (tmp_path / "p_filled.png").is_file()
    with pytest.raises(PhotoreconError, match=r"unknown model 'myrun'.*write \./myrun"):
        load_model("myrun")
    with pytest.raises(PhotoreconError, match="no model.safetensors"):
        load_model("./myrun")


def test_a_model_is_loaded_for_a_role_and_refused_for_another(tmp_path, capsys) -> None:
    from photorecon.cli import main
    from photorecon.models.loading import load_model

    with pytest.raises(PhotoreconError, match="damage is a detector, not a fill"):
        load_model("damage")
    with pytest.raises(PhotoreconError, match="restore is a restorer, not a fill"):
        load_model("restore")
    with pytest.raises(PhotoreconError, match="telea is not a restorer"):
        load_model("telea", role="restorer")
    with pytest.raises(PhotoreconError, match="ffc is not a damage detector"):
        load_model("ffc", role="detector")
    assert load_model("damage", role="detector").kind == "detector"
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(photo)
    assert main(["fill", str(photo), "--box", "1,1,2,2", "--model", "damage", "-q"]) == 2
    assert "damage is a detector, not a fill" in capsys.readouterr().err
