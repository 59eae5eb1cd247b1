from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_photo
from photorecon import fill
from photorecon.anysize import context_window, fill_any_size, find_white_boxes
from photorecon.cli import main
from photorecon.errors import PhotoreconError
from photorecon.masks import Box
from photorecon.models.registry import create_model


def outside_unchanged(out: np.ndarray, image: np.ndarray, mask: np.ndarray) -> bool:
    return bool((out[mask == 0] == image[mask == 0]).all())


def holes_filled(out: np.ndarray, image: np.ndarray, mask: np.ndarray) -> bool:
    """The holes hold a fill: not the photo's own pixels left where they were (the input
    still holds them: a fill that does nothing would pass an outside-only check), and no
    further from them than a flat grey would be."""
    hole = mask > 0
    replaced = (out[hole] != image[hole]).any(axis=-1).mean() > 0.5
    error = np.abs(out[hole].astype(float) - image[hole]).mean()
    return bool(replaced and error < np.abs(128.0 - image[hole]).mean())


@pytest.mark.parametrize(("height", "width"), [(256, 256), (300, 700), (900, 500)])
def test_any_size_fills_only_holes(height: int, width: int) -> None:
    image = synthetic_photo(np.random.default_rng(height), height, width)
    mask = np.zeros((height, width), np.float32)
    mask[10:60, 20:90] = 1
    mask[height - 40 :, width - 30 :] = 1  # touches the corner
    torch_model = create_model("ffc", width=4, downs=2, blocks=1, max_width=8).eval()
    for model in (create_model("telea"), torch_model):
        out = fill_any_size(image, mask, model)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert outside_unchanged(out, image, mask)
        if model is not torch_model:  # the random tiny net's fill is noise: placement only
            assert holes_filled(out, image, mask)
        else:
            assert (out[mask > 0] != image[mask > 0]).any(axis=-1).mean() > 0.5


def test_context_window_scales_large_holes_to_work_size() -> None:
    win = context_window(Box(1000, 1000, 400, 300), 3000, 4000, 256, rescale=True)
    assert win.height == win.width and win.height >= 400 / 0.35
    assert win.top <= 1000 and win.top + win.height >= 1400
    assert win.scale == pytest.approx(256 / win.height)
    small = context_window(Box(0, 0, 20, 20), 100, 3000, 256, rescale=True)
    assert (small.height, small.width, small.scale) == (100, 256, 1.0)
    native = context_window(Box(1000, 1000, 400, 300), 3000, 4000, 256, rescale=False)
    assert native.scale == 1.0


def test_find_white_boxes() -> None:
    image = synthetic_photo(np.random.default_rng(0), 200, 200)
    image[10:85, 20:95] = 255
    image[150:160, 150:190] = 255
    image[100, 100] = 255  # a lone white pixel is not a box
    assert find_white_boxes(image) == [Box(10, 20, 75, 75), Box(150, 150, 10, 40)]


def test_api_returns_same_kind() -> None:
    image = synthetic_photo(np.random.default_rng(1), 120, 150)
    out = fill(image, [(10, 10, 30, 30)], model="telea")
    assert isinstance(out, np.ndarray) and out.shape == image.shape
    pil = fill(Image.fromarray(image), [(10, 10, 30, 30)], model="telea")
    assert isinstance(pil, Image.Image) and np.array_equal(np.asarray(pil), out)
    mask = np.zeros((120, 150), bool)
    mask[10:40, 10:40] = True
    assert np.array_equal(fill(image, mask, model="telea"), out)
    white = image.copy()
    white[10:40, 10:40] = 255
    assert (fill(white, "white", model="telea")[10:40, 10:40] != 255).any()
    with pytest.raises(PhotoreconError, match="outside"):
        fill(image, [(100, 100, 50, 50)], model="telea")
    with pytest.raises(PhotoreconError, match="mask is"):
        fill(image, np.zeros((10, 10)), model="telea")
    with pytest.raises(PhotoreconError, match="row, col, height, width"):
        fill(image, [(1, 2, 3)], model="telea")


def test_fill_cli_files_folders_and_safety(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(2)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_photo(rng, 200, 260)).save(folder / f"p{i}.png")
    src = folder / "p0.png"
    original = src.read_bytes()
    assert main(["fill", str(src), "--box", "10,10,40,40", "--model", "telea", "-q"]) == 0
    assert (folder / "p0_filled.png").is_file()
    assert (
        main(
            [
                "fill",
                str(folder / "p0.png"),
                str(folder / "p1.png"),
                "--box",
                "5,5,20,20",
                "--model",
                "mean",
                "-o",
                str(tmp_path / "out"),
                "-q",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png"]
    capsys.readouterr()
    # refusing to overwrite an input, out-of-bounds boxes, bad masks, no hole spec
    assert main(["fill", str(src), "--box", "1,1,5,5", "--model", "mean", "-o", str(src)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert main(["fill", str(src), "--box", "190,0,20,20", "--model", "mean"]) == 2
    assert "outside the 260x200 image" in capsys.readouterr().err
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "m.png")
    assert main(["fill", str(src), "--mask", str(tmp_path / "m.png"), "--model", "mean"]) == 2
    assert "mask is 10x10" in capsys.readouterr().err
    assert main(["fill", str(src), "--model", "mean"]) == 2
    assert "give one of --box" in capsys.readouterr().err
    assert src.read_bytes() == original
    # --in-place does overwrite, and only the box changes
    before = np.asarray(Image.open(src))
    assert main(["fill", str(src), "--box", "10,20,30,40", "--model", "mean", "--in-place"]) == 0
    after = np.asarray(Image.open(src))
    changed = (after != before).any(axis=2)
    assert changed[10:40, 20:60].any() and not changed[:10].any() and not changed[40:].any()


def test_mask_image_fill(tmp_path: Path) -> None:
    image = synthetic_photo(np.random.default_rng(3), 100, 140)
    Image.fromarray(image).save(tmp_path / "a.png")
    mask = np.zeros((100, 140), np.uint8)
    mask[30:50, 60:90] = 200
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out_path = tmp_path / "o.png"
    assert (
        main(
            [
                "fill",
                str(tmp_path / "a.png"),
                "--mask",
                str(tmp_path / "mask.png"),
                "--model",
                "telea",
                "-o",
                str(out_path),
                "-q",
            ]
        )
        == 0
    )
    out = np.asarray(Image.open(out_path))
    assert outside_unchanged(out, image, mask) and holes_filled(out, image, mask)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    from photorecon.imageio import read_image

    image = synthetic_photo(np.random.default_rng(4), 60, 100)  # landscape pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a portrait photo from a phone
    path = tmp_path / "phone.jpg"
    Image.fromarray(image).save(path, exif=exif, quality=95)
    assert read_image(path).shape == (100, 60, 3)  # as the user sees it


def test_the_default_model_is_the_first_ready_one(monkeypatch, tmp_path) -> None:
    from photorecon.api import default_model
    from photorecon.models import loading

    assert default_model() == "ffc" == loading.ready_models()[0]  # the checkout ships it
    assert loading.ready_models().index("telea") == 1  # the best classical fill next
    packaged = loading.shipped_weights
    # weights of another family of the user's own: ffc stays first
    monkeypatch.setattr(
        loading, "shipped_weights", lambda n: tmp_path if n == "bilstm" else packaged(n)
    )
    assert default_model() == loading.ready_models()[0] == "ffc"
    assert loading.ready_models()[:3] == ["ffc", "bilstm", "telea"]
    # no ffc weights: the next learned fill, then with none Telea
    monkeypatch.setattr(loading, "shipped_weights", lambda n: tmp_path if n == "bilstm" else None)
    assert default_model() == loading.ready_models()[0] == "bilstm"
    monkeypatch.setattr(loading, "shipped_weights", lambda name: None)
    assert default_model() == loading.ready_models()[0] == "telea"


def test_a_long_scratch_on_a_large_photo_is_filled_at_full_resolution() -> None:
    from photorecon.anysize import hole_size, labelled_holes, thin_hole_tiles

    height, width = 1200, 1600
    image = synthetic_photo(np.random.default_rng(7), height, width)
    mask = np.zeros((height, width), np.float32)
    cv2 = pytest.importorskip("cv2")
    cv2.line(mask, (30, 40), (1550, 1100), 1.0, thickness=4)  # a scratch across the photo
    mask[100:180, 1300:1380] = 1  # and a square hole
    labels, boxes = labelled_holes(mask)
    sizes = [hole_size(labels, k, b) for k, b in enumerate(boxes, start=1)]
    scratch = int(np.argmax([b.width for b in boxes]))
    assert sizes[scratch] < 20 < 80 == sizes[1 - scratch]  # thickness, not length, counts
    tiles = thin_hole_tiles(labels, scratch + 1, boxes[scratch], 256, 256, True)
    assert all(w.height == w.width == 256 and w.scale == 1.0 for w in tiles)
    assert 10 < len(tiles) < 60  # along the scratch only, not the whole box
    covered = np.zeros_like(mask, bool)
    for cells in tiles.values():
        for rows, cols in cells:
            covered[rows, cols] = True
    assert covered[labels == scratch + 1].all()  # every scratch pixel has its tile

    class Recorder(torch.nn.Module):
        """A 'learned' fill (it has a parameter) that records the sizes it is run at."""

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.calls: list[tuple[int, int, int]] = []

        def forward(self, masked, holes):
            self.calls.append(tuple(masked.shape[:1]) + tuple(masked.shape[-2:]))
            return masked + 0.5 * holes

    model = Recorder()
    out = fill_any_size(image, mask, model)
    assert outside_unchanged(out, image, mask)
    assert (out[mask > 0] == 128).all()  # every hole pixel came from a model call
    # one window per tile and one for the square, all 256 px, each run alone
    assert model.calls == [(1, 256, 256)] * (len(tiles) + 1)


def test_a_thick_stroke_on_a_small_photo_is_filled_at_full_resolution() -> None:
    from photorecon.anysize import labelled_holes, thin_hole_tiles

    mask = np.zeros((256, 256), np.float32)
    mask[100:130, 10:240] = 1  # a 30-px stroke: its context window (343 px) is the photo
    labels, boxes = labelled_holes(mask)
    tiles = thin_hole_tiles(labels, 1, boxes[0], 343, 256, True)
    assert {(w.height, w.width, w.scale) for w in tiles} == {(256, 256, 1.0)}


def test_small_holes_get_the_smallest_window_the_model_fills_them_in() -> None:
    """A model with window sides (ffc: 32, 64, 128) fills a small hole, and a thick crack's
    tiles, in the smallest of them that keeps the hole a third of the window; a model
    without them, and a hole too large for them, in a work_size window as before."""
    import cv2

    from photorecon.anysize import labelled_holes, plan_fill, smallest_side

    assert [smallest_side(s, (32, 64, 128), 256) for s in (5, 11, 12, 30, 44, 45, 89, 90)] == [
        32,
        32,
        64,
        128,
        128,
        256,
        256,
        258,
    ]
    assert smallest_side(20, (), 256) == 256
    mask = np.zeros((1000, 1200), np.uint8)
    mask[100:120, 100:120] = 1  # a 20-px blot: a 64-px window
    mask[500:540, 600:640] = 1  # a 40-px one: 128
    mask[800:880, 900:980] = 1  # 80 px: 256
    cv2.line(mask, (50, 300), (1150, 330), 1, 12)  # a long 12-px crack: tiles of 128
    labels, boxes = labelled_holes(mask)
    sides = {}
    for sizes in ((32, 64, 128), ()):
        pastes, classical = plan_fill(labels, boxes, 256, True, True, 9.0, sides=sizes)
        assert not classical  # all thicker than the harmonic fill's 9 px
        sides[sizes] = {}
        for win, _rows, _cols, which in pastes:
            assert win.scale == 1.0 and win.height == win.width
            for k in which:
                sides[sizes].setdefault(k, set()).add(win.height)
    crack = int(np.argmax([b.width for b in boxes])) + 1  # hole k + 1 is boxes[k]
    by_size = {20: 64, 40: 128, 80: 256}
    for k, box in enumerate(boxes):
        if k + 1 != crack:
            assert sides[(32, 64, 128)][k + 1] == {by_size[box.height]}
    assert sides[(32, 64, 128)][crack] == {128}
    assert all(found == {256} for found in sides[()].values())


def test_a_model_s_window_sides_reach_the_fill_on_every_runtime(tmp_path: Path) -> None:
    """ffc says it fills small holes in 32-128 px windows; its ONNX export and its flipped
    (tta) fills say so too, and a small blot is filled in a 64-px window."""
    from photorecon.models.arrays import with_flips
    from photorecon.models.base import window_sides_of
    from photorecon.models.onnx import export_onnx
    from photorecon.models.onnxrt import OnnxModel

    net = create_model("ffc", width=4, downs=2, blocks=1, max_width=8).eval()
    assert window_sides_of(net) == (32, 64, 128) == window_sides_of(with_flips(net))
    export_onnx(net, tmp_path / "ffc.onnx", 256)
    onnx = OnnxModel(tmp_path / "ffc.onnx")
    assert window_sides_of(onnx) == (32, 64, 128) == window_sides_of(with_flips(onnx))
    # the flips keep the thin holes' harmonic fill too, on either runtime
    blended = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, blend="harmonic")
    export_onnx(blended.eval(), tmp_path / "blended.onnx", 256)
    thin = OnnxModel(tmp_path / "blended.onnx")
    assert blended.thin_fill_px == thin.thin_fill_px > 0
    assert with_flips(blended).thin_fill_px == with_flips(thin).thin_fill_px == thin.thin_fill_px
    assert window_sides_of(create_model("telea")) == ()

    seen = []
    net.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape[-2:])))
    image = synthetic_photo(np.random.default_rng(3), 600, 800)
    mask = np.zeros((600, 800), np.uint8)
    mask[300:320, 400:420] = 1
    out = fill_any_size(image, mask, net)
    assert seen == [(64, 64)] and outside_unchanged(out, image, mask)


def test_flipped_fills_keep_the_work_size_of_what_they_wrap() -> None:
    """A model trained at 512 px (as Stable Diffusion 2 is) keeps its 512-px windows when its
    fills are averaged over flips (`--tta`), on tensors and on arrays."""
    import torch

    from photorecon.models.arrays import ArrayInpainter, with_flips
    from photorecon.models.base import InpaintModel, work_size_of

    class Wide(torch.nn.Module, InpaintModel):
        kind = "diffusion"
        work_size = 512

        def forward(self, masked, mask):
            return masked

    class WideArrays(ArrayInpainter):
        kind = "supervised"
        work_size = 512

        def fill_arrays(self, masked, masks):
            return masked

    for model in (Wide(), WideArrays()):
        assert work_size_of(with_flips(model)) == 512
    seen = []
    flipped = with_flips(Wide())
    flipped.model.register_forward_hook(lambda _m, args, _o: seen.append(args[0].shape[-1]))
    image = synthetic_photo(np.random.default_rng(4), 700, 700)
    mask = np.zeros((700, 700), np.uint8)
    mask[300:400, 300:400] = 1
    fill_any_size(image, mask, flipped)
    assert seen and set(seen) == {512}
