"""Restoring a whole old photo: the restorer's corrections (the same at full size as in
training), grain measured and quieted only where there is grain, the pipeline's options, the
command line on real files (formats, alpha, EXIF, 16 bits, bad input), and the trainer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_photo
from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.checks import check_strength
from photorecon.damage.look import grey, restoration_pair
from photorecon.errors import PhotoreconError
from photorecon.models.registry import create_model
from photorecon.models.restorer import apply_numpy, apply_torch
from photorecon.restoration import (
    GRAIN_FLOOR,
    RestoreOptions,
    blend,
    corrections,
    degrain,
    grain_level,
    plan_stretch,
    restore_pixels,
    stretched,
)

TONE_ONLY = RestoreOptions(damage=False, grain=False)


def random_corrections(seed: int = 0, knots: int = 16, grid: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = rng.random((3, knots)) + 0.2
    curve = np.concatenate([np.zeros((3, 1)), np.cumsum(steps / steps.sum(1, keepdims=True), 1)], 1)
    return {
        "matrix": (np.eye(3) + rng.normal(0, 0.15, (3, 3))).astype(np.float32),
        "offset": rng.normal(0, 0.05, 3).astype(np.float32),
        "curve": curve.astype(np.float32),
        "field": rng.normal(0, 0.1, (6, grid, grid)).astype(np.float32),
    }


@pytest.fixture
def bright_restorer(tmp_path: Path) -> Path:
    """A tiny restorer checkpoint that visibly changes photos (its offset lifts them)."""
    torch.manual_seed(0)
    net = create_model("restore", width=8, knots=8, grid=2, side=32)
    with torch.no_grad():
        net.head[-1].bias[9:12] = 0.1  # +0.1 on every channel: a visible, smooth change
    path = tmp_path / "restorer.safetensors"
    save_weights(path, net, CheckpointMeta("restore", dict(net.config)))
    return path


def test_full_size_corrections_are_the_training_arithmetic() -> None:
    photo = synthetic_photo(np.random.default_rng(1), 90, 130)
    c = random_corrections()
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    want = apply_torch(x, {k: torch.from_numpy(v)[None] for k, v in c.items()})[0]
    want = (want.permute(1, 2, 0).numpy() * 255).round()
    got = apply_numpy(photo, c, rows=32).astype(float)  # in bands: they must meet exactly
    assert np.abs(got - want).max() <= 1 and (got != photo).mean() > 0.5
    deep = photo.astype(np.uint16) * 257
    got16 = apply_numpy(deep, c, rows=40)
    assert got16.dtype == np.uint16 and np.abs(got16 / 257.0 - want).max() <= 1.01


def test_an_untrained_restorer_gives_the_photo_back_exactly() -> None:
    net = create_model("restore", width=8, knots=8, grid=2, side=32).eval()
    photo = synthetic_photo(np.random.default_rng(2), 70, 90)
    out, _ = restore_pixels(photo, TONE_ONLY, restorer=net)
    assert np.array_equal(out, photo)  # every correction starts at the identity


def test_levels_stretch_each_channel_to_its_own_percentiles_by_a_learned_amount() -> None:
    from photorecon.models.restorer import QUANTILES

    net = create_model("restore", width=8, knots=8, grid=2, side=32, levels=True).eval()
    assert net.config["levels"] is True
    assert "levels" not in create_model("restore", width=8, knots=8, grid=2, side=32).config
    rng = np.random.default_rng(4)
    faded = 0.35 + 0.4 * torch.from_numpy(rng.random((1, 3, 64, 64))).float()  # blacks lifted
    faded[:, 2] = faded[:, 2] * 0.6 + 0.3  # the blue channel faded more
    with torch.no_grad():
        assert (net(faded) - faded).abs().max() < 1e-5  # the identity to start with
        net.levels.bias.fill_(1.0)  # a full stretch of every channel
        out = net(faded)
    small = torch.nn.functional.adaptive_avg_pool2d(faded, 32).flatten(2)
    low = torch.quantile(small, QUANTILES[0], dim=2)
    high = torch.quantile(small, QUANTILES[-1], dim=2)
    stretched = ((faded - low[..., None, None]) / (high - low)[..., None, None]).clamp(0, 1)
    assert torch.allclose(out, stretched, atol=1e-3)
    for ch in range(3):  # each channel spans the range again, its own way
        assert out[0, ch].min() < 0.01 and out[0, ch].max() > 0.99


def test_a_restorer_without_levels_warm_starts_one_with_them(tmp_path: Path) -> None:
    from photorecon.train.state import warm_start

    torch.manual_seed(0)
    plain = create_model("restore", width=8, knots=8, grid=2, side=32)
    torch.nn.init.normal_(plain.head[-1].weight, std=0.05)
    save_weights(tmp_path / "r.safetensors", plain, CheckpointMeta("restore", plain.config))
    grown = create_model("restore", width=8, knots=8, grid=2, side=32, levels=True)
    warm_start(grown, str(tmp_path / "r.safetensors"), "restore")
    assert torch.equal(grown.head[-1].weight, plain.head[-1].weight)
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():  # the levels start at the identity: the same corrections
        assert (grown.eval()(x) - plain.eval()(x)).abs().max() < 1e-5


def identity_corrections(offset: float = 0.0) -> dict[str, np.ndarray]:
    """Corrections that only add `offset` to every channel."""
    return {
        "matrix": np.eye(3, dtype=np.float32),
        "offset": np.full(3, offset, np.float32),
        "curve": np.tile(np.linspace(0, 1, 9, dtype=np.float32), (3, 1)),
        "field": np.zeros((6, 2, 2), np.float32),
    }


def faded_photo() -> np.ndarray:
    """A photo whose channels were squeezed into their own narrow ranges (blacks lifted)."""
    photo = synthetic_photo(np.random.default_rng(11), 300, 400).astype(np.float32) / 255
    low, high = np.array([0.30, 0.25, 0.40]), np.array([0.80, 0.75, 0.90])
    return np.rint((low + (high - low) * photo) * 255).astype(np.uint8)


def test_a_photo_the_restorer_finds_aged_is_mixed_with_a_levels_stretch() -> None:
    from photorecon.metrics import image_psnr
    from photorecon.restoration import STRETCH_FROM, STRETCH_FULL, STRETCH_SHARE, small_copy, tone

    photo = faded_photo()
    assert plan_stretch(photo, identity_corrections()) is None  # left as it was: no stretch
    c = identity_corrections(-0.2)  # a large change: the restorer says the photo has aged
    assert image_psnr(photo, tone(photo, c)) < STRETCH_FULL
    plan = plan_stretch(photo, c)
    assert plan is not None and plan.share == STRETCH_SHARE and 0.2 < plan.colour < 1
    small = small_copy(photo, 256).reshape(-1, 3)  # the range of a copy: grain averaged out
    assert np.allclose(plan.low * 255, small.min(0)) and np.allclose(plan.high * 255, small.max(0))
    toned = tone(photo, c)
    out = stretched(photo, toned, plan)
    levels = np.clip((photo / 255.0 - plan.low) / (plan.high - plan.low), 0, 1) * 255
    luma = levels @ np.array([0.299, 0.587, 0.114])
    kept = plan.colour * levels + (1 - plan.colour) * luma[..., None]  # as colourful as toned
    want = (1 - plan.share) * toned + plan.share * kept
    assert np.abs(out - want).max() <= 1.5  # (rounded after each step)
    spread = np.abs(kept - kept.mean(2, keepdims=True)).mean()
    assert abs(spread - np.abs(toned - toned.mean(2, keepdims=True)).mean()) < 0.5
    for ch in range(3):  # the stretch alone spans each channel's range again
        assert levels[..., ch].min() < 3 and levels[..., ch].max() > 252
    # between the two thresholds the share rises with the change
    for offset in np.linspace(0.01, 0.08, 8):
        c = identity_corrections(-float(offset))
        change = image_psnr(photo, tone(photo, c))
        plan = plan_stretch(photo, c)
        if change >= STRETCH_FROM:
            assert plan is None
        else:
            ramp = min(1.0, (STRETCH_FROM - change) / (STRETCH_FROM - STRETCH_FULL))
            assert plan is not None and abs(plan.share - STRETCH_SHARE * ramp) < 0.02
    assert plan_stretch(photo, identity_corrections(-0.2), most=0.0) is None
    framed = photo.copy()  # a white border and a black speck: the range is spanned already,
    framed[:12], framed[-12:], framed[:, :12], framed[:, -12:] = 255, 255, 255, 255
    framed[150:160, 200:210] = 0  # so a stretch has no room, and mixing it in would only
    assert plan_stretch(framed, identity_corrections(-0.2)) is None  # undo the restorer's work


def test_the_stretch_of_a_print_made_black_and_white_is_neutral_grey_too() -> None:
    from photorecon.damage.look import grey as neutral
    from photorecon.restoration import tone

    photo = faded_photo()
    c = identity_corrections(-0.2)
    c["matrix"] = np.tile(np.array([[0.299, 0.587, 0.114]], np.float32), (3, 1))  # to grey
    plan = plan_stretch(photo, c)
    assert plan is not None and plan.colour == 0
    out = stretched(photo, tone(photo, c), plan)
    assert np.abs(out.astype(int) - out[..., :1]).max() <= 1  # no tint left
    assert np.abs(neutral(out).astype(int) - out).max() <= 1


def test_the_stretch_is_the_same_in_bands_and_at_16_bits(monkeypatch) -> None:
    import photorecon.restoration as restoration

    photo = faded_photo()
    c = identity_corrections(-0.2)
    plan = plan_stretch(photo, c)
    whole = stretched(photo, restoration.tone(photo, c), plan)
    monkeypatch.setattr(restoration, "BAND", 37)
    banded = stretched(photo, restoration.tone(photo, c), plan)
    assert np.array_equal(whole, banded)
    deep = photo.astype(np.uint16) * 257
    deep_out = stretched(deep, restoration.tone(deep, c), plan)
    assert deep_out.dtype == np.uint16 and np.abs(deep_out / 257.0 - whole).max() <= 1.5


def test_a_16_bit_photo_is_stretched_as_its_8_bit_pixels_are() -> None:
    torch.manual_seed(0)
    net = create_model("restore", width=8, knots=8, grid=2, side=32).eval()
    with torch.no_grad():
        net.head[-1].bias[9:12] = -0.2  # darkens: a large change, so the stretch is mixed in
    photo = faded_photo()
    deep = np.dstack([photo.astype(np.uint16) * 257, np.full(photo.shape[:2], 4000, np.uint16)])
    plain = RestoreOptions(damage=False, grain=False, stretch=0.0)
    out, high = restore_pixels(photo, TONE_ONLY, restorer=net, deep=deep)
    assert not np.array_equal(out, restore_pixels(photo, plain, restorer=net)[0])  # mixed in
    assert high.dtype == np.uint16 and (high[..., 3] == 4000).all()  # alpha as it was
    assert np.abs(high[..., :3] / 257.0 - out).max() <= 1.5


def test_grain_is_measured_and_only_visible_grain_is_quieted() -> None:
    import cv2

    clean = cv2.GaussianBlur(synthetic_photo(np.random.default_rng(3), 300, 400), (0, 0), 2)
    noise = np.random.default_rng(4).normal(0, 6, clean.shape[:2])[..., None]
    grainy = np.clip(clean + noise, 0, 255).astype(np.uint8)
    assert grain_level(clean) < 1.0
    assert 4.5 < grain_level(grainy) < 7.5
    quiet = degrain(grainy, grain_level(grainy))

    def err(a):
        return np.sqrt(((a.astype(float) - clean) ** 2).mean())

    assert err(quiet) < 0.6 * err(grainy)  # most of the grain gone
    options = RestoreOptions(damage=False, tone=False)
    assert np.array_equal(restore_pixels(clean, options)[0], clean)  # no grain: untouched


def test_grain_is_judged_as_the_restored_contrast_shows_it() -> None:
    import cv2

    torch.manual_seed(0)
    net = create_model("restore", width=8, knots=8, grid=2, side=32).eval()
    with torch.no_grad():  # x -> 2x - 0.5: the contrast doubled about the middle grey
        net.head[-1].bias[[0, 4, 8]] = 1.0
        net.head[-1].bias[9:12] = -0.5
    smooth = cv2.GaussianBlur(synthetic_photo(np.random.default_rng(12), 300, 400), (0, 0), 2)
    faded = 0.3 * 255 + 0.4 * smooth.astype(np.float32)
    noise = np.random.default_rng(13).normal(0, 4, smooth.shape[:2])[..., None]
    photo = np.clip(np.rint(faded + noise), 0, 255).astype(np.uint8)
    assert grain_level(photo) < GRAIN_FLOOR  # too faint to smooth as the photo is...
    toned = restore_pixels(photo, TONE_ONLY, restorer=net)[0]
    assert grain_level(toned) >= GRAIN_FLOOR  # ... but not once its contrast is restored
    quiet = restore_pixels(photo, RestoreOptions(damage=False), restorer=net)[0]

    def grainy(a):  # what is left of the grain: the difference from a smoothed copy
        return np.abs(a.astype(float) - cv2.GaussianBlur(a, (0, 0), 2)).mean()

    assert grainy(quiet) < 0.7 * grainy(toned)


def test_strength_blends_toward_the_photo() -> None:
    a = np.full((4, 4, 3), 100, np.uint8)
    b = np.full((4, 4, 3), 200, np.uint8)
    assert np.array_equal(blend(a, b, 0.0), a) and np.array_equal(blend(a, b, 1.0), b)
    assert (blend(a, b, 0.25) == 125).all()
    for bad in ("2", "-0.1", "abc", "nan"):
        with pytest.raises(PhotoreconError, match="strength"):
            check_strength(bad)


def test_an_aged_pair_has_the_target_a_restorer_should_give() -> None:
    photo = synthetic_photo(np.random.default_rng(5), 64, 64)
    seen = {"untouched": 0, "grey": 0, "colour": 0}
    for seed in range(40):
        aged, target = restoration_pair(photo, np.random.default_rng(seed))
        if aged is photo:
            seen["untouched"] += 1
            assert target is photo
        elif np.array_equal(target, grey(photo)):
            seen["grey"] += 1  # a sepia or black-and-white print: neutral grey back
        else:
            seen["colour"] += 1
            assert np.array_equal(target, photo)
    assert all(count >= 3 for count in seen.values()), seen


def test_the_free_form_ageing_changes_tone_as_prints_do_and_keeps_the_target() -> None:
    """photorecon.damage.fading: deterministic in its generator, monotone curves (a brighter
    pixel stays brighter in every channel before grain), monochrome prints toned with a grey
    target and colour prints with the photo; the trainer's mix keeps the untouched share."""
    from photorecon.damage.fading import KNOTS, apply_curves, fade, random_curve
    from photorecon.train.data import aged_pair

    rng = np.random.default_rng(0)
    for _ in range(20):
        curve = random_curve(rng, rng.uniform(0, 1))
        assert curve.shape == (KNOTS,) and np.all(np.diff(curve) >= 0)
        assert curve[0] == pytest.approx(0) and curve[-1] == pytest.approx(1)
    ramp = np.linspace(0, 1, 50)[None, :, None].repeat(3, axis=2)
    bent = apply_curves(ramp, np.stack([random_curve(rng, 0.9) for _ in range(3)]))
    assert np.all(np.diff(bent, axis=1) >= 0) and not np.allclose(bent, ramp, atol=0.02)

    photo = synthetic_photo(np.random.default_rng(5), 64, 64)
    a, _ = fade(photo, np.random.default_rng(7))
    assert np.array_equal(a, fade(photo, np.random.default_rng(7))[0])
    kinds = {"grey": 0, "colour": 0}
    for seed in range(30):
        aged, target = fade(photo, np.random.default_rng(seed))
        assert aged.shape == photo.shape and aged.dtype == np.uint8
        assert np.abs(aged.astype(int) - photo).mean() > 3  # visibly aged
        if np.array_equal(target, grey(photo)):
            kinds["grey"] += 1
        else:
            kinds["colour"] += 1
            assert target is photo
    assert min(kinds.values()) >= 5, kinds

    untouched = sum(
        aged_pair(photo, np.random.default_rng(seed), 0.25, 0.5)[0] is photo for seed in range(400)
    )
    assert 70 <= untouched <= 130  # a quarter of 400
    drawn = np.random.default_rng(3)
    drawn.random(), drawn.random()  # untouched or not, which family
    faded = aged_pair(photo, np.random.default_rng(3), 0.0, 1.0)[0]
    assert np.array_equal(faded, fade(photo, drawn)[0])
    plain = [restoration_pair(photo, np.random.default_rng(s)) for s in range(5)]
    mixed = [aged_pair(photo, np.random.default_rng(s), 0.25, 0.0) for s in range(5)]
    assert all(np.array_equal(p[0], m[0]) for p, m in zip(plain, mixed, strict=True))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "photorecon.cli", "restore", *args], capture_output=True, text=True
    )


def test_restore_keeps_alpha_exif_and_profile_and_16_bits(tmp_path: Path, bright_restorer) -> None:
    from PIL import ImageCms

    photo = synthetic_photo(np.random.default_rng(6), 80, 100)
    alpha = np.tile(np.linspace(0, 255, 100, dtype=np.uint8), (80, 1))
    image = Image.fromarray(np.dstack([photo, alpha]), "RGBA")
    exif = Image.Exif()
    exif[0x010E] = "grandmother, 1921"  # ImageDescription
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(tmp_path / "p.png", exif=exif.tobytes(), icc_profile=icc)
    deep = (np.random.default_rng(7).integers(0, 65536, (60, 70, 3))).astype(np.uint16)
    import cv2

    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    done = cli(
        str(tmp_path / "p.png"),
        str(tmp_path / "deep.png"),
        "--no-damage",
        "--model",
        str(bright_restorer),
        "-o",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    out = Image.open(tmp_path / "out" / "p.png")
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)
    assert out.getexif()[0x010E] == "grandmother, 1921" and out.info.get("icc_profile") == icc
    changed = np.asarray(out)[..., :3].astype(int) - photo
    assert np.abs(changed).mean() > 15  # the restorer's change (and its stretch) is there
    back = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    assert len(np.unique(back[..., 0] % 257)) > 100  # 16-bit values, not 8-bit ones x 257


def test_bad_input_is_one_line_and_one_bad_photo_never_stops_the_rest(
    tmp_path: Path, bright_restorer
) -> None:
    Image.fromarray(synthetic_photo(np.random.default_rng(8), 60, 80)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    model = ["--model", str(bright_restorer), "--no-damage"]
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"mine")
    for bad, says in (
        (["--strength", "1.5"], "--strength must be from 0 to 1"),
        (["--strength", "much"], "--strength must be a number"),
        (["--model", "telea"], "not a restorer"),
        (["--model", "nothing-such"], "nothing-such"),
    ):
        done = cli(str(tmp_path / "a.png"), *model, *bad, "-o", str(keep))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert says in done.stderr and keep.read_bytes() == b"mine"
    both = cli(str(tmp_path / "a.png"), str(tmp_path / "b.png"), *model, "-o", str(tmp_path / "o"))
    assert both.returncode == 2 and "b.png" in both.stderr
    assert (tmp_path / "o" / "a.png").is_file() and not (tmp_path / "o" / "b.png").exists()
    nothing = cli(str(tmp_path / "a.png"), "--no-damage", "--no-tone")
    assert nothing.returncode == 2 and "nothing to do" in nothing.stderr


def test_python_restore_keeps_the_input_kind(bright_restorer) -> None:
    import photorecon

    photo = synthetic_photo(np.random.default_rng(9), 50, 60)
    out = photorecon.restore(photo, damage=False, model=str(bright_restorer))
    assert out.dtype == np.uint8 and out.shape == photo.shape
    assert np.abs(out.astype(int) - photo).mean() > 10  # the restorer (and its stretch) changed it
    half = photorecon.restore(photo, damage=False, model=str(bright_restorer), strength=0.5)
    assert np.abs(half.astype(int) - (photo.astype(int) + out) / 2).max() <= 1
    rgba = Image.fromarray(np.dstack([photo, np.full((50, 60), 7, np.uint8)]), "RGBA")
    pil = photorecon.restore(rgba, damage=False, model=str(bright_restorer))
    assert pil.mode == "RGBA" and (np.asarray(pil)[..., 3] == 7).all()
    with pytest.raises(PhotoreconError, match="strength"):
        photorecon.restore(photo, strength=3)
    with pytest.raises(PhotoreconError, match="not a restorer"):
        photorecon.restore(photo, damage=False, model="telea")


def test_corrections_come_from_a_small_copy_whatever_the_size(bright_restorer) -> None:
    from photorecon.models.loading import load_model

    net = load_model(str(bright_restorer), "cpu", role="restorer")
    photo = synthetic_photo(np.random.default_rng(10), 200, 300)
    big = np.kron(photo, np.ones((4, 4, 1), np.uint8))  # the same photo at 4x the size
    a, b = corrections(net, photo), corrections(net, big)
    for key in a:
        assert np.allclose(a[key], b[key], atol=0.02), key


def test_a_restorer_trains_through_the_engine(tmp_path: Path) -> None:
    from conftest import make_pack
    from photorecon.config import load_config
    from photorecon.models.loading import load_checkpoint
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train

    pack = make_pack(tmp_path / "pack", count=8)
    overrides = [
        f"data.photos={pack}",
        "data.size=64",
        "data.val_frac=0.25",
        "model.kwargs={width: 8, knots: 8, grid: 2, side: 32}",
        "batch_size=4",
        "steps=6",
        "eval_every=3",
        "optim.warmup_steps=1",
        "ema=0",
    ]
    cfg = load_config(TrainConfig, "configs/restore-cpu.yaml", overrides)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.metric == "RMSE" and result.best_score < 0.5
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val_rmse", "val_psnr", "val_untouched_psnr"} <= set(header)
    assert load_checkpoint(tmp_path / "run").kind == "restorer"
    bad = load_config(TrainConfig, "configs/restore-cpu.yaml", [*overrides, "data.source=shards"])
    with pytest.raises(PhotoreconError, match="data.source=photos"):
        train(bad, tmp_path / "bad", progress=False)


def test_the_server_restores_in_the_uploads_format() -> None:
    import io

    from fastapi.testclient import TestClient

    from photorecon.serve.app import create_app

    client = TestClient(create_app(default_model="telea"))
    photo = synthetic_photo(np.random.default_rng(11), 90, 120)
    faded = (photo * 0.5 + 110).astype(np.uint8)  # washed out toward a light grey
    buf = io.BytesIO()
    Image.fromarray(faded).save(buf, "JPEG", quality=95)
    files = {"image": ("old.jpg", buf.getvalue(), "image/jpeg")}
    answer = client.post("/api/restore", files=files, data={"damage": "false"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"
    out = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB")).astype(float)
    assert out.std() > faded.std() * 1.15  # contrast given back
    half = client.post("/api/restore", files=files, data={"damage": "false", "strength": "0"})
    back = np.asarray(Image.open(io.BytesIO(half.content)).convert("RGB")).astype(float)
    sent = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(float)
    assert np.abs(back - sent).mean() < 0.5  # strength 0: the photo as it was sent
    for data, says in (
        ({"strength": "1.5"}, "strength"),
        ({"damage": "false", "tone": "false"}, "nothing to do"),
    ):
        bad = client.post("/api/restore", files=files, data=data)
        assert bad.status_code == 400 and says in bad.json()["detail"]
