"""Finding damage from the command line, the Python API and the server: masks out, fills
from them, bad input in one line, and the shipped detector on damage it never saw."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo
from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.cli import main
from photorecon.detect import TopHat, check_sensitivity, damage_mask, detect, tiles
from photorecon.errors import PhotoreconError
from photorecon.models.registry import create_model


def scratched(seed: int = 0, height: int = 200, width: int = 260):
    """A smooth photo with a bright 2-px scratch and three dark specks; (image, true mask)."""
    image = synthetic_photo(np.random.default_rng(seed), height, width)
    image = cv2.GaussianBlur(image, (0, 0), 2.0)
    mask = np.zeros((height, width), np.uint8)
    cv2.line(mask, (10, 20), (width - 15, height - 30), 255, 2)
    for y, x in ((40, 200), (150, 60), (100, 130)):
        cv2.circle(mask, (x, y), 2, 255, -1)
    out = image.copy()
    out[mask > 0] = 250
    out[(mask > 0) & (np.arange(width)[None, :] > width - 80)] = 15  # the specks' side is dark
    return out, mask


@pytest.fixture
def tiny_detector(tmp_path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    net = create_model("damage", widths=[4, 8, 8, 8])
    path = tmp_path / "det.safetensors"
    save_weights(path, net, CheckpointMeta("damage", dict(net.config)))
    return path


def test_tiles_cover_every_pixel_once() -> None:
    for height, width in ((1000, 700), (300, 520), (40, 3000), (512, 512), (7, 9)):
        count = np.zeros((height, width), int)
        for top, left, h, w, rows, cols in tiles(height, width):
            assert top >= 0 and top + h <= height and left >= 0 and left + w <= width
            assert top <= rows.start and rows.stop <= top + h
            assert left <= cols.start and cols.stop <= left + w
            count[rows, cols] += 1
        assert (count == 1).all()


def test_tiling_matches_one_pass(tiny_detector: Path) -> None:
    """Overlapping tiles give the same mask as the whole photo at once (up to the overlap)."""
    import torch

    from photorecon.detect import damage_probability, load_detector

    model = load_detector(str(tiny_detector), runtime="torch")
    image, _ = scratched(1, 700, 650)
    tiled = damage_probability(image, model)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        whole = torch.sigmoid(model(x))[0, 0].numpy()
    assert np.abs(tiled - whole).max() < 0.05


def test_onnxruntime_detector_matches_torch_and_needs_no_torch_later(
    tiny_detector: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from photorecon.detect import damage_probability, load_detector
    from photorecon.models.onnxrt import OnnxDetector

    image, _ = scratched(2, 600, 530)  # tiles of 512 and smaller ones at the edges
    onnx = load_detector(str(tiny_detector), runtime="onnx")
    assert isinstance(onnx, OnnxDetector)
    torch_model = load_detector(str(tiny_detector), runtime="torch")
    a, b = damage_probability(image, onnx), damage_probability(image, torch_model)
    assert np.abs(a - b)[8:-8, 8:-8].max() < 1e-3  # the edges differ only in their padding
    Image.fromarray(image).save(tmp_path / "p.png")
    code = (
        "import sys; from photorecon.cli import main; "
        f"code = main(['detect', {str(tmp_path / 'p.png')!r}, '--model', {str(tiny_detector)!r},"
        f" '-o', {str(tmp_path / 'm.png')!r}, '-q']); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"  # the export is cached: no torch this time


def test_tophat_baseline_and_sensitivity() -> None:
    image, truth = scratched()
    found = damage_mask(image, TopHat())
    assert (found[truth > 0] > 0).mean() > 0.8  # a bright thin line is what a top-hat sees
    fewer = damage_mask(image, TopHat(), sensitivity=0.05)
    assert (fewer > 0).sum() <= (found > 0).sum()
    grown = damage_mask(image, TopHat(), dilate=2)
    assert (grown > 0).sum() > (found > 0).sum() and (grown[found > 0] > 0).all()
    for bad in ("high", 0, 1, 1.5, -0.1):
        with pytest.raises(PhotoreconError, match="sensitivity"):
            check_sensitivity(bad)


def test_detect_command_writes_masks_and_goes_on_past_bad_files(
    tmp_path: Path, capsys, tiny_detector: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    image, _ = scratched()
    Image.fromarray(image).save(folder / "a.jpg", quality=95)
    Image.fromarray(np.dstack([image, np.full(image.shape[:2], 200, np.uint8)])).save(
        folder / "b.png"
    )  # with alpha
    (folder / "c.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "masks"
    code = main(["detect", str(folder), "-o", str(out), "--model", "tophat", "--dilate", "1"])
    printed, err = capsys.readouterr()
    assert code == 2 and "c.png" in err and "1 of 3 photos could not be read" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    mask = np.asarray(Image.open(out / "a.png"))
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    assert "wrote 2 of 3 masks" in printed
    # a learned detector from a checkpoint, one photo, the default name beside it
    assert main(["detect", str(folder / "a.jpg"), "--model", str(tiny_detector)]) == 0
    assert (folder / "a_mask.png").is_file()
    # bad values are one line
    assert main(["detect", str(folder / "a.jpg"), "--sensitivity", "2"]) == 2
    assert "--sensitivity must be between 0 and 1" in capsys.readouterr().err
    assert main(["detect", str(folder / "a.jpg"), "-o", str(tmp_path / "m.jpg")]) == 2
    assert "masks are PNGs" in capsys.readouterr().err


def test_fill_auto_fills_what_is_found_and_adds_boxes(tmp_path: Path, capsys) -> None:
    image, truth = scratched()
    path = tmp_path / "old.png"
    Image.fromarray(image).save(path)
    out = tmp_path / "new.png"
    args = ["fill", str(path), "--auto", "--detector-model", "tophat", "--model", "telea"]
    assert main([*args, "-o", str(out), "--box", "0,0,10,10"]) == 0, capsys.readouterr().err
    filled = np.asarray(Image.open(out))
    changed = (filled != image).any(axis=2)
    assert changed[truth > 0].mean() > 0.5  # the scratch is filled
    assert changed[:10, :10].any()  # and the box given beside --auto
    found = damage_mask(image, TopHat()) > 0
    found[:10, :10] = True
    assert not changed[~found].any()  # nothing else was touched
    # a clean photo: nothing to fill, said in one line
    clean = tmp_path / "clean.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(clean)
    assert main(["fill", str(clean), "--auto", "--detector-model", "tophat"]) == 2
    assert "no damage found" in capsys.readouterr().err
    assert main(["fill", str(clean), "--auto", "--white"]) == 2
    assert main(["fill", str(clean)]) == 2
    assert "--auto" in capsys.readouterr().err


def test_python_detect_keeps_the_input_kind(tiny_detector: Path) -> None:
    image, _ = scratched()
    as_array = detect(image, model=str(tiny_detector))
    assert as_array.dtype == np.uint8 and as_array.shape == image.shape[:2]
    as_pil = detect(Image.fromarray(image).convert("RGBA"), model=str(tiny_detector))
    assert as_pil.mode == "L" and as_pil.size == (image.shape[1], image.shape[0])
    with pytest.raises(PhotoreconError, match="not a damage detector"):
        detect(image, model="telea")


def test_shipped_detector_finds_damage_it_never_saw() -> None:
    """The shipped weights on a synthetic photo with a drawn scratch and specks."""
    from photorecon.models.loading import shipped_weights

    assert shipped_weights("damage") is not None, "the detector's weights ship with photorecon"
    from photorecon.api import fill

    image, truth = scratched(5)
    found = detect(image) > 0
    square = np.ones((5, 5), np.uint8)  # 2 px of tolerance either way
    assert (cv2.dilate(found.astype(np.uint8), square) > 0)[truth > 0].mean() > 0.7  # recall
    assert found[cv2.dilate(truth, square) == 0].mean() < 0.01  # the photo itself left alone
    original = cv2.GaussianBlur(synthetic_photo(np.random.default_rng(5), 200, 260), (0, 0), 2.0)

    def rmse(a: np.ndarray) -> float:
        return float(np.sqrt(((a.astype(float) - original) ** 2).mean()))

    assert rmse(fill(image, "auto", model="telea")) < 0.5 * rmse(image)


def test_server_finds_damage(tiny_detector: Path, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    import photorecon.detect
    from photorecon.serve.app import create_app

    real = photorecon.detect.load_detector
    tiny = str(tiny_detector)
    monkeypatch.setattr(photorecon.detect, "load_detector", lambda *a, **k: real(tiny))
    client = TestClient(create_app(default_model="telea"))
    image, _ = scratched()
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    files = {"image": ("a.png", buf.getvalue(), "image/png")}
    answer = client.post("/api/detect", files=files, data={"kind": "damage"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    mask = Image.open(io.BytesIO(answer.content))
    assert mask.mode == "L" and mask.size == (image.shape[1], image.shape[0])
    white = client.post("/api/detect", files=files)
    assert white.status_code == 200 and white.json() == {"boxes": []}
    bad = client.post("/api/detect", files=files, data={"kind": "damage", "sensitivity": "7"})
    assert bad.status_code == 400 and "sensitivity" in bad.json()["detail"]
    assert client.post("/api/detect", files=files, data={"kind": "cats"}).status_code == 400


def test_coarse_passes_keep_only_large_regions_and_skip_tiny_photos() -> None:
    from photorecon.detect import (
        COARSE_AREA,
        coarse_probability,
        damage_mask,
        large_regions,
        load_detector,
    )

    found = np.zeros((200, 200), bool)
    found[10:20, 10:20] = True  # 100 px: a coarse pass's speck, dropped
    found[100:170, 100:170] = True  # 4,900 px: a blotch, kept
    kept = large_regions(found)
    assert kept[120, 120] and not kept[15, 15] and kept.sum() == 70 * 70 >= COARSE_AREA
    model = load_detector("damage", "cpu")
    tiny = np.full((60, 90, 3), 120, np.uint8)
    assert not coarse_probability(tiny, model).any()  # both scales under 64 px: skipped
    assert damage_mask(tiny, model).shape == (60, 90)
