"""The damage generator and the damage detector's network, metrics and training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_photo
from photorecon.damage import (
    DAMAGE_KINDS,
    DRAW,
    composite_layers,
    parse_damage_mix,
    render_batch,
    render_damage,
)
from photorecon.errors import PhotoreconError
from photorecon.models.registry import create_model, get_model_info, list_models
from photorecon.train.evaluation import detection_counts, detection_scores
from photorecon.train.steps import detection_loss


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return synthetic_photo(np.random.default_rng(3), 128, 160)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_damages_the_photo_where_its_mask_says(photo, kind) -> None:
    changed_somewhere = False
    for seed in range(4):
        sample = render_damage(photo, np.random.default_rng(seed), {kind: 1.0})
        assert sample.image.shape == photo.shape and sample.image.dtype == np.uint8
        assert sample.mask.shape == photo.shape[:2] and sample.mask.dtype == bool
        if sample.mask.any():
            changed_somewhere = True
            diff = np.abs(sample.image.astype(int) - sample.clean.astype(int)).max(axis=2)
            # damage pixels differ from the undamaged scan far more than the rest does
            assert diff[sample.mask].mean() > 3 * diff[~sample.mask].mean() + 2
    assert changed_somewhere, f"{kind} drew no damage in 4 seeds"


def test_render_is_deterministic_in_its_generator_and_clean_has_no_mask(photo) -> None:
    a = render_damage(photo, np.random.default_rng(7))
    b = render_damage(photo, np.random.default_rng(7))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    clean = render_damage(photo, np.random.default_rng(7), clean=True)
    assert not clean.mask.any()
    batch = render_batch([photo] * 6, np.random.default_rng(0), clean_share=0.5)
    assert len(batch) == 6 and any(not s.mask.any() for s in batch)


def test_mask_counts_only_visible_damage() -> None:
    grey = np.full((20, 20, 3), 128.0, np.float32)
    cover = np.zeros((20, 20), np.float32)
    cover[5, :] = 1.0  # fully covered row, but in the photo's own colour: invisible
    cover[10, :] = 1.0
    layers = [
        (cover * (np.arange(20) == 5)[:, None], np.full(3, 128.0, np.float32), 1.0),
        (cover * (np.arange(20) == 10)[:, None], np.full(3, 250.0, np.float32), 1.0),
    ]
    _, mask = composite_layers(grey, layers)
    assert not mask[5].any() and mask[10].all() and mask.sum() == 20


def test_damage_mix_parsing() -> None:
    assert parse_damage_mix("scratches:2,dust") == {"scratches": 2 / 3, "dust": 1 / 3}
    assert set(parse_damage_mix(None)) == set(DAMAGE_KINDS)
    for bad in ("scratch", "dust:x", {"dust": -1}, {"dust": 0}, {"dust": True}):
        with pytest.raises(PhotoreconError):
            parse_damage_mix(bad)
    assert set(DRAW) == set(DAMAGE_KINDS)


def test_detector_is_a_registered_model_of_its_own_kind() -> None:
    assert "damage" in list_models(fills=False)
    assert "damage" not in list_models(fills=True)
    info = get_model_info("damage")
    assert info.kind == "detector" and info.trainer == "detector" and info.trainable
    torch.manual_seed(0)
    net = create_model("damage", widths=[4, 8, 8, 8]).eval()
    for shape in ((1, 3, 64, 64), (2, 3, 37, 50), (1, 3, 5, 3)):  # any size, tiny ones too
        with torch.no_grad():
            out = net(torch.rand(shape))
        assert out.shape == (shape[0], 1, *shape[2:]) and torch.isfinite(out).all()
    assert create_model("damage", **net.config).config == net.config
    with pytest.raises(PhotoreconError, match="widths must be 4 positive channel counts"):
        create_model("damage", widths=[4, 8])


def test_tolerant_precision_recall() -> None:
    truth = torch.zeros(2, 1, 20, 20, dtype=torch.bool)
    truth[0, 0, 10, 2:18] = True  # a 16-px line
    pred = torch.zeros_like(truth)
    pred[0, 0, 12, 2:18] = True  # the same line 2 px off: found, within tolerance
    pred[0, 0, 0, 0] = True  # a false alarm far away
    pred[1, 0, 5, 5] = True  # a false alarm on a clean sample
    counts = detection_counts(pred, truth)
    scores = detection_scores(*counts, torch.tensor([False, True]), 400)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["precision"] == pytest.approx(16 / 18)
    assert scores["clean_fa"] == pytest.approx(1 / 400)
    assert scores["error"] == pytest.approx(1 - scores["f1"])
    far = torch.zeros_like(truth)
    far[0, 0, 14, 2:18] = True  # 4 px off: missed
    assert detection_scores(*detection_counts(far, truth), torch.tensor([False, True]), 400)[
        "recall"
    ] == pytest.approx(0.0)


def test_detection_loss_rewards_the_true_mask() -> None:
    target = torch.zeros(2, 1, 16, 16)
    target[0, 0, 4:6, :] = 1
    right = torch.where(target > 0, 6.0, -6.0)
    assert detection_loss(right, target) < 0.1 < detection_loss(-right, target)


def test_a_detector_trains_through_the_engine(tmp_path) -> None:
    """A few steps of the detector's trainer on a tiny pack: metrics with precision, recall,
    F1 and clean false alarms, a best checkpoint that loads as a detector, bad values refused."""
    from conftest import make_pack
    from photorecon.checkpoint import read_meta
    from photorecon.config import load_config
    from photorecon.models.loading import load_checkpoint
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train

    pack = make_pack(tmp_path / "pack", count=8)
    overrides = [
        f"data.photos={pack}",
        "data.size=64",
        "data.val_frac=0.25",
        "data.val_crops_per_photo=4",
        "model.kwargs.widths=[4,8,8,8]",
        "batch_size=4",
        "steps=4",
        "eval_every=2",
        "optim.warmup_steps=1",
        "ema=0",
    ]
    cfg = load_config(TrainConfig, "configs/damage.yaml", overrides)
    result = train(cfg, tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"val_error", "val_f1", "val_precision", "val_recall", "val_clean_fa"} <= set(header)
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    evals = [r for r in rows if r["val_error"]]
    # the best score is the detector's error, 1 - F1, at its best validation
    best = min(evals, key=lambda r: float(r["val_error"]))
    assert result.metric == "error" and len(evals) == 2
    assert result.best_score == pytest.approx(float(best["val_error"]), abs=1e-4)
    assert result.best_score == pytest.approx(1.0 - float(best["val_f1"]), abs=1e-4)
    model = load_checkpoint(tmp_path / "run")
    assert model.kind == "detector"
    assert "val_f1" in read_meta(tmp_path / "run").metrics
    with pytest.raises(PhotoreconError, match="clean_share=1.5"):  # refused as it is read
        load_config(TrainConfig, "configs/damage.yaml", [*overrides, "data.clean_share=1.5"])
    bad = load_config(TrainConfig, "configs/damage.yaml", [*overrides, "data.damage={rips: 1}"])
    with pytest.raises(PhotoreconError, match="unknown damage kind"):
        train(bad, tmp_path / "bad2", progress=False)


def test_data_build_writes_a_damage_split_that_evaluate_scores(tmp_path) -> None:
    from PIL import Image

    from conftest import make_pack
    from photorecon.cli import main
    from photorecon.evaluate import mask_split

    pack = make_pack(tmp_path / "pack", count=6)
    out = tmp_path / "ds"
    args = ["data", "build", str(pack), str(out), "--holes", "damage", "--size", "64"]
    assert main([*args, "--crops-per-photo", "2", "-q"]) == 0
    test = out / "test"
    assert (test / "holes.txt").read_text().strip() == "damage"
    names = sorted(p.name for p in (test / "original").iterdir())
    assert names == sorted(p.name for p in (test / "masks").iterdir())
    for name in names:
        damaged = np.asarray(Image.open(test / "masked" / name), np.int16)
        clean = np.asarray(Image.open(test / "original" / name), np.int16)
        mask = np.asarray(Image.open(test / "masks" / name)) > 0
        assert mask.any() and not mask.all()
        assert np.abs(damaged - clean).max(axis=2)[mask].mean() > 6  # the damage is visible
    holes = mask_split(test)
    assert holes.name == "damage@64" and len(holes.images) == len(names)
    assert main(["evaluate", str(test), "--models", "telea", "-q"]) == 0


def test_craquelure_is_a_network_of_cracks_covering_a_few_percent() -> None:
    import cv2

    from photorecon.damage import craquelure

    shares, sizes = [], []
    for seed in range(8):
        cover = craquelure(np.random.default_rng(seed), 256, 256)[-1][0] > 0.5
        count = cv2.connectedComponents(cover.astype(np.uint8))[0]
        shares.append(cover.mean())
        sizes.append(cover.sum() / max(count - 1, 1))
    assert max(shares) <= 0.16 and np.mean(shares) >= 0.01  # 2-15% as drawn, never a carpet
    assert np.mean(sizes) >= 25  # connected cracks, not scattered specks


def test_pinholes_come_by_the_hundred_at_a_scans_scale() -> None:
    import cv2

    from photorecon.damage import pinholes

    for seed in range(3):
        found = np.zeros((1024, 1024), bool)
        for cover, _, opacity in pinholes(np.random.default_rng(seed), 1024, 1024):
            found |= cover * opacity > 0.2
        specks = cv2.connectedComponents(found.astype(np.uint8))[0] - 1
        assert specks >= 150 and found.mean() < 0.02  # many, and each tiny


def test_a_phone_capture_moves_the_mask_with_the_picture(photo, monkeypatch) -> None:
    from dataclasses import replace

    import photorecon.damage as damage

    drawn = damage.draw_look(np.random.default_rng(0))
    tilted = replace(drawn, tilt=0.03, light=0.2, glare=40.0, grain=0.0, jpeg=0, blur=0.0)
    flat = replace(tilted, tilt=0.0)
    seen = {}
    for name, look in (("tilted", tilted), ("flat", flat)):
        monkeypatch.setattr(damage, "draw_look", lambda rng, look=look: look)
        seen[name] = render_damage(photo, np.random.default_rng(5), {"scratches": 1.0})
    a, b = seen["tilted"], seen["flat"]
    assert a.mask.any() and not np.array_equal(a.mask, b.mask)  # the capture moved it
    diff = np.abs(a.image.astype(int) - a.clean.astype(int)).max(axis=2)
    assert diff[a.mask].mean() > 3 * diff[~a.mask].mean() + 2


def test_sepia_and_grey_prints_have_no_colour_of_their_own(photo) -> None:
    from dataclasses import replace

    from photorecon.damage.look import age, draw_look

    look = replace(draw_look(np.random.default_rng(1)), tint=(1.0, 1.0, 1.0), fade=1.0)
    grey = age(photo, replace(look, grey=True, sepia=0.0, uneven=0.0, vignette=0.0))
    assert np.allclose(grey[..., 0], grey[..., 1], atol=0.01)
    sepia = age(photo, replace(look, grey=False, sepia=1.0, uneven=0.0, vignette=0.0))
    # one hue: warm (red over green over blue) everywhere, brighter where the photo is
    assert (sepia[..., 0] >= sepia[..., 1]).all() and (sepia[..., 1] >= sepia[..., 2]).all()
    lum = photo.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.corrcoef(lum.ravel(), sepia[..., 1].ravel())[0, 1] > 0.99


def test_lookalikes_are_drawn_into_the_scene_and_never_into_the_mask() -> None:
    from photorecon.damage import render_damage
    from photorecon.damage.lookalikes import scene_details

    photo = synthetic_photo(np.random.default_rng(5), 192, 256)
    plain = render_damage(photo, np.random.default_rng(9), clean=True)
    same = render_damage(photo, np.random.default_rng(9), clean=True, lookalikes=0.0)
    assert np.array_equal(plain.image, same.image)  # no draw at 0: samples as before
    detailed = render_damage(photo, np.random.default_rng(9), clean=True, lookalikes=1.0)
    assert not detailed.mask.any() and np.array_equal(detailed.image, detailed.clean)
    for seed in range(4):  # small bright details: a few pixels changed, and by much
        drawn = scene_details(photo, np.random.default_rng(seed)).astype(int)
        changed = np.abs(drawn - photo).max(axis=2)
        assert changed.max() > 40 and 0 < (changed > 8).mean() < 0.25
    damaged = render_damage(photo, np.random.default_rng(9), lookalikes=1.0)
    assert damaged.mask.any()  # damage on top of the details, as on any photo
