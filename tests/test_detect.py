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
from photorecon.detection import TopHat, check_sensitivity, damage_mask, detect, tiles
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
    with torch.no_grad():  # a random net says nearly 0.5 everywhere (std 1e-5): tiles taken
        net.head.weight.mul_(20000)  # from the wrong place would pass; this one varies
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

    from photorecon.detection import damage_probability, load_detector

    model = load_detector(str(tiny_detector), runtime="torch")
    image, _ = scratched(1, 700, 650)
    tiled = damage_probability(image, model)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        whole = torch.sigmoid(model(x))[0, 0].numpy()
    assert whole.std() > 0.1 and tiled.std() > 0.1  # a map that says something
    gap = np.abs(tiled - whole)  # the seams see a little less context than the whole pass
    assert np.quantile(gap, 0.999) < 0.02 and gap.mean() < 2e-3


def test_onnxruntime_detector_matches_torch_and_needs_no_torch_later(
    tiny_detector: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from photorecon.detection import damage_probability, load_detector
    from photorecon.models.onnxrt import OnnxDetector

    image, _ = scratched(2, 600, 530)  # tiles of 512 and smaller ones at the edges
    onnx = load_detector(str(tiny_detector), runtime="onnx")
    assert isinstance(onnx, OnnxDetector)
    torch_model = load_detector(str(tiny_detector), runtime="torch")
    a, b = damage_probability(image, onnx), damage_probability(image, torch_model)
    assert b.std() > 0.1  # a map that says something
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
    from photorecon.models.files import shipped_weights

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

    import photorecon.detection
    from photorecon.serve.app import create_app

    real = photorecon.detection.load_detector
    tiny = str(tiny_detector)
    monkeypatch.setattr(photorecon.detection, "load_detector", lambda *a, **k: real(tiny))
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
    from photorecon.detection import (
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
    # a large coarse find counts only where the full-size pass confirms part of it
    full = np.zeros((200, 200), bool)
    assert not large_regions(found, confirmed_by=full).any()  # a pale background: dropped
    full[100:110, 100:125] = True  # 250 of its 4,900 px (5.1%) found at full size too
    assert large_regions(found, confirmed_by=full).sum() == 70 * 70
    model = load_detector("damage", "cpu")
    tiny = np.full((60, 90, 3), 120, np.uint8)
    assert not coarse_probability(tiny, model).any()  # both scales under 64 px: skipped
    assert damage_mask(tiny, model).shape == (60, 90)


def faint_scratched(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A smooth photo with a faint 2-px crack: a person sees it, the detector is unsure."""
    image = cv2.GaussianBlur(synthetic_photo(np.random.default_rng(seed), 200, 260), (0, 0), 2.0)
    truth = np.zeros((200, 260), np.uint8)
    cv2.line(truth, (20, 30), (240, 170), 255, 2)
    out = image.astype(np.int16)
    out[truth > 0] += 20
    return np.clip(out, 0, 255).astype(np.uint8), truth


def stroke_over(truth: np.ndarray, half_width: int = 12) -> np.ndarray:
    """A rough brush stroke over the left half of the damage."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * half_width + 1,) * 2)
    region = cv2.dilate(truth, kernel)
    region[:, truth.shape[1] // 2 :] = 0
    return region


class RedIsDamage:
    """A stand-in detector: a pixel's damage probability is its red value / 255."""

    kind = "detector"

    def probability(self, crops: np.ndarray) -> np.ndarray:
        return crops[..., 0].astype(np.float32) / 255


def test_within_flags_what_passes_the_harder_threshold_inside_the_region_only() -> None:
    from photorecon.detection import (
        WITHIN_SENSITIVITY,
        WITHIN_VETO,
        hysteresis,
        local_outliers,
        seeded,
    )

    rng = np.random.default_rng(0)
    image = np.zeros((300, 700, 3), np.uint8)  # wider than one tile: tiles are placed in it
    specks = rng.random((300, 700)) < 0.01  # sparse: no large region at the coarse scales
    image[..., 0] = np.where(specks, rng.integers(0, 256, (300, 700)), 0)
    region = np.zeros((300, 700), bool)
    region[40:260, 450:690] = True  # only tiles over here run
    image[150:152, 460:680, 1] = 200  # a green line: it stands out, but red (the detector) is 0
    outliers = local_outliers(image, region)
    assert outliers.any() and not outliers[~region].any() and outliers[150:152, 470:670].all()
    mask = damage_mask(image, RedIsDamage(), 0.5, within=region) > 0
    prob = image[..., 0] / 255
    possible = outliers & (prob > WITHIN_VETO)  # the detector rules the green line out
    grow, sure = hysteresis(1 - WITHIN_SENSITIVITY)  # doubtful specks count beside sure ones
    assert np.array_equal(mask, (seeded(prob > grow, prob > sure) | possible) & region)
    line = (slice(150, 152), slice(460, 680))
    assert not mask[line][image[line][..., 0] == 0].any()
    grow, sure = hysteresis(0.5)
    assert np.array_equal(
        damage_mask(image, RedIsDamage(), 0.5) > 0, seeded(prob > grow, prob > sure)
    )
    grown = damage_mask(image, RedIsDamage(), 0.5, dilate=4, within=region) > 0
    assert not grown[~region].any() and grown.sum() > mask.sum()


def test_a_crack_is_followed_along_its_faint_stretches_a_doubtful_speck_left_alone() -> None:
    from photorecon.detection import hysteresis

    grow, seed = hysteresis(0.5)
    assert grow < 0.5 < seed and abs(grow + seed - 1) < 1e-9  # symmetric in logits
    assert hysteresis(0.3)[1] < seed  # a higher sensitivity lowers both
    image = np.zeros((200, 300, 3), np.uint8)
    image[50, 20:150, 0] = 240  # a crack the detector is sure of ...
    image[50, 150:280, 0] = 110  # ... going on where it is less sure (0.43)
    image[140:146, 100:106, 0] = 110  # a speck as doubtful, on its own
    image[170, 20:280, 0] = 30  # a line it thinks intact (0.12)
    found = damage_mask(image, RedIsDamage(), 0.5) > 0
    assert found[50, 20:280].all()
    assert not found[140:146, 100:106].any() and not found[170].any()
    assert found.sum() == 260


def test_local_outliers_take_thin_lines_and_specks_not_edges_bars_or_grain() -> None:
    from photorecon.detection import local_outliers

    rng = np.random.default_rng(3)
    grey = np.tile(np.linspace(60, 190, 240), (160, 1))  # a smooth slope ...
    grey[:, 120:] += 40  # ... with a hard edge across it
    grey += rng.normal(0, 1.5, grey.shape)  # and grain
    grey[100:102, 20:220] -= 35  # a dark scratch 2 px wide, across the edge
    grey[70, 150] += 60  # a bright speck
    grey[120:140, 160:200] += 50  # a 20-px blotch: the detector's, not this
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    region = np.zeros(grey.shape, bool)
    region[10:150, 10:230] = True
    found = local_outliers(image, region)
    assert found[100:102, 20:220].mean() > 0.95  # the scratch, on both sides of the edge
    assert found[70, 150]
    assert not found[~region].any()
    elsewhere = np.ones(grey.shape, bool)
    for rows, cols in (((97, 105), (17, 223)), ((67, 74), (147, 154))):
        elsewhere[slice(*rows), slice(*cols)] = False
    elsewhere[118:142, 158:202] = False
    interior = elsewhere.copy()
    interior[122:138, 162:198] = True  # the blotch's inside: too wide to stand out
    assert found[interior & region].mean() < 0.002  # not the edge, the slope, nor the grain
    assert not local_outliers(image, np.zeros_like(region)).any()
    # a flat sky where one pixel in ten is off by 2 levels (JPEG ripple): the region's own
    # deviation is 0, and the noise floor keeps such ripple from counting
    sky = np.full((120, 160), 180, np.int16)
    sky[rng.random(sky.shape) < 0.1] += 2
    sky_rgb = np.repeat(sky.astype(np.uint8)[..., None], 3, axis=2)
    assert not local_outliers(sky_rgb, np.ones(sky.shape, bool)).any()


def test_the_damage_brush_finds_damage_inside_the_stroke_and_nothing_outside() -> None:
    image, truth = faint_scratched()
    region = stroke_over(truth)
    inside = (truth > 0) & (region > 0)

    def recall(found: np.ndarray) -> float:
        return float((cv2.dilate((found > 0).astype(np.uint8), np.ones((5, 5))) > 0)[inside].mean())

    brushed = detect(image, within=region, dilate=3) > 0
    assert not brushed[region == 0].any()  # nothing outside the stroke, grown damage included
    assert recall(detect(image, within=region)) > recall(detect(image)) + 0.05  # looked harder
    assert recall(brushed) > 0.4
    # the stroke itself is not taken: the photo between the crack and the stroke's edge stays
    assert brushed[(region > 0) & (cv2.dilate(truth, np.ones((9, 9), np.uint8)) == 0)].mean() < 0.05
    pil = detect(Image.fromarray(image), within=Image.fromarray(region))
    assert np.array_equal(np.asarray(pil) > 0, detect(image, within=region) > 0)
    assert not detect(image, within=np.zeros_like(region)).any()
    with pytest.raises(PhotoreconError, match="must be the photo's size"):
        detect(image, within=region[:100])


def test_detect_within_on_the_command_line(tmp_path: Path, capsys) -> None:
    image, truth = faint_scratched()
    Image.fromarray(image).save(tmp_path / "p.png")
    Image.fromarray(stroke_over(truth)).save(tmp_path / "stroke.png")

    def run(region: str) -> int:
        out = str(tmp_path / "found.png")
        return main(["detect", str(tmp_path / "p.png"), "--within", region, "-q", "-o", out])

    assert run(str(tmp_path / "stroke.png")) == 0
    found = np.asarray(Image.open(tmp_path / "found.png")) > 0
    assert found.any() and not found[stroke_over(truth) == 0].any()
    Image.fromarray(stroke_over(truth)[:50]).save(tmp_path / "small.png")
    assert run(str(tmp_path / "small.png")) == 2
    err = capsys.readouterr().err
    assert "small.png" in err and "photo's size" in err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "found.png")) > 0, found)  # kept


def test_server_damage_brush() -> None:
    from fastapi.testclient import TestClient

    from photorecon.serve.app import create_app

    client = TestClient(create_app(default_model="telea"))
    image, truth = faint_scratched()
    region = stroke_over(truth)
    # the page sends its stroke canvas: RGBA, the mask colour where painted, clear elsewhere
    stroke = np.zeros((*region.shape, 4), np.uint8)
    stroke[region > 0] = (255, 32, 80, 255)

    def png_of(array: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format="PNG")
        return buf.getvalue()

    files = {
        "image": ("a.png", png_of(image), "image/png"),
        "within": ("w.png", png_of(stroke), "image/png"),
    }
    answer = client.post("/api/detect", files=files, data={"kind": "damage"})
    assert answer.status_code == 200, answer.text
    mask = np.asarray(Image.open(io.BytesIO(answer.content))) > 0
    assert np.array_equal(mask, detect(image, within=region) > 0)
    assert mask.any() and not mask[region == 0].any()
    files["within"] = ("w.png", png_of(stroke[:80]), "image/png")
    wrong = client.post("/api/detect", files=files, data={"kind": "damage"})
    assert wrong.status_code == 400 and "photo's size" in wrong.json()["detail"]
    white = client.post("/api/detect", files=files, data={"kind": "white"})
    assert white.status_code == 400 and "kind=damage" in white.json()["detail"]


def test_the_package_functions_stay_functions_after_their_modules_load() -> None:
    """`photorecon.detect` and `photorecon.restore` are functions however often they are
    used and whatever is imported (a submodule of the same name would replace them)."""
    import importlib

    import photorecon

    for name in ("detect", "fill", "restore"):
        first = getattr(photorecon, name)
        importlib.import_module("photorecon.api")
        importlib.import_module("photorecon.detection")
        importlib.import_module("photorecon.restoration")
        assert callable(first) and getattr(photorecon, name) is first, name


def test_a_detection_stops_between_tile_batches_once_its_caller_gives_up() -> None:
    from photorecon.detection import BATCH, damage_probability

    calls = []

    class Counting(RedIsDamage):
        def probability(self, crops):
            calls.append(len(crops))
            return super().probability(crops)

    class GaveUp(Exception):
        pass

    checks = []

    def check() -> None:
        checks.append(1)
        if len(checks) > 2:
            raise GaveUp

    big = np.zeros((2000, 2000, 3), np.uint8)  # 25 tiles: 7 batches
    with pytest.raises(GaveUp):
        damage_probability(big, Counting(), check=check)
    assert len(calls) == 2 and sum(calls) == 2 * BATCH  # two batches ran, then it stopped


def test_detect_runs_on_torch_when_the_cache_folder_is_unusable(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from photorecon.models.files import shipped_weights

    image, _ = scratched(2)
    Image.fromarray(image).save(tmp_path / "p.png")
    (tmp_path / "not-a-folder").write_text("a file where the cache should be")
    env = {**os.environ, "PHOTORECON_CACHE": str(tmp_path / "not-a-folder")}
    # the same weights with no 8-bit copy beside them: the float32 export, which needs the cache
    alone = shutil.copy(shipped_weights("damage"), tmp_path / "damage.safetensors")
    runs = {
        "detect": ["-o", str(tmp_path / "m.png")],  # the shipped 8-bit copy: no cache needed
        "detect ": ["-o", str(tmp_path / "m2.png"), "--model", str(alone)],
        # the fill's 8-bit copy needs no cache, its smaller windows' exports do: those windows
        # run in the copy's, mirrored out (a 20-px blot needs a 64-px one; the scratches found
        # are thin enough for the harmonic fill alone)
        "fill": ["--auto", "--box", "10,150,20,20", "-o", str(tmp_path / "f.png")],
    }
    for command, args in runs.items():
        photo = str(tmp_path / "p.png")
        done = subprocess.run(
            [sys.executable, "-m", "photorecon.cli", command.strip(), photo, *args],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        fallback = "running on torch" in done.stderr or "small windows run at 256" in done.stderr
        noticed = fallback and "cache" in done.stderr
        assert noticed == (command != "detect"), (command, done.stderr)
    assert (np.asarray(Image.open(tmp_path / "m.png")) > 0).any()
    assert (np.asarray(Image.open(tmp_path / "m2.png")) > 0).any()


def test_tophat_is_a_registered_detector_that_fills_nothing() -> None:
    from photorecon.detection import load_detector
    from photorecon.models.loading import ready_models
    from photorecon.models.registry import get_model_info, list_models

    info = get_model_info("tophat")
    assert info.kind == "detector" and not info.trainable and not info.fills
    assert "tophat" in list_models(fills=False) and "tophat" not in ready_models()
    assert isinstance(load_detector("tophat"), TopHat)
    with pytest.raises(PhotoreconError, match="telea is not a damage detector"):
        load_detector("telea")


def test_the_mask_is_made_from_bools_exactly_as_from_the_probability_maps() -> None:
    """damage_mask keeps no float map at full size (a 110-megapixel photo in about 10 bytes a
    pixel): its mask equals the one thresholded from the float maps the benches use."""
    from photorecon.detection import (
        coarse_probability,
        damage_probability,
        found_at,
        load_detector,
        upsampled_over,
    )

    rng = np.random.default_rng(3)
    for height, width, rows, cols in ((999, 777, 250, 194), (513, 1025, 257, 513)):
        small = cv2.GaussianBlur(rng.random((rows, cols)).astype(np.float32), (0, 0), 2)
        whole = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        for threshold in (0.45, 0.5, 0.55):
            out = np.zeros((height, width), bool)
            upsampled_over(small, threshold, out, band=97)
            assert np.array_equal(out, whole > threshold)
    image = synthetic_photo(rng, 700, 900)
    for k in range(6):
        cv2.line(image, (40 + 150 * k, 20), (90 + 120 * k, 680), (245, 245, 240), 3)
    cv2.circle(image, (700, 500), 60, (235, 230, 220), -1)
    model = load_detector("damage", "cpu", "torch")
    full, coarse = damage_probability(image, model), coarse_probability(image, model)
    for sensitivity in (0.3, 0.5, 0.8):
        want = found_at(full, coarse, sensitivity)
        got = damage_mask(image, model, sensitivity)
        assert want.any() and np.array_equal(got > 0, want)


def test_recalibrating_the_head_moves_every_sensitivity_by_the_same_step() -> None:
    """A detector recalibrated to 0.7 marks at the default 0.5 what it marked at 0.7, and at
    0.5 what a stricter setting (0.3) now marks; refused outside (0, 1)."""
    import torch

    torch.manual_seed(0)
    model = create_model("damage", widths=(4, 4, 4, 4)).eval()
    with torch.no_grad():
        model.head.bias.fill_(0.0)
        image = torch.rand(1, 3, 64, 64)
        model.head.bias.fill_(float(np.log(0.3 / 0.7) - model(image).median()))  # splits
        before = model(image)
        after = model.recalibrate(0.7)(image)
    far = (before - np.log(0.3 / 0.7)).abs() > 1e-4  # off the old threshold, by rounding
    assert torch.equal((torch.sigmoid(after) > 0.5)[far], (torch.sigmoid(before) > 0.3)[far])
    assert 0 < (torch.sigmoid(before) > 0.3).float().mean() < 1  # a threshold that splits
    assert torch.allclose(after - before, torch.tensor(np.log(0.7 / 0.3), dtype=torch.float32))
    with pytest.raises(ValueError, match="sensitivity"):
        model.recalibrate(1.0)
