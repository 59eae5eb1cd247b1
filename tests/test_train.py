from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from photorecon.config import load_config
from photorecon.errors import PhotoreconError
from photorecon.losses import pixel_loss
from photorecon.train.config import LossConfig, TrainConfig
from photorecon.train.loop import lr_factor, train


def tiny_config(pack: Path, *overrides: str) -> TrainConfig:
    """64-px samples from the test pack, in-process loading, plus the given overrides."""
    base = ["data.workers=0", "data.val_frac=0.2", "data.test_frac=0.2", "data.size=64"]
    return load_config(
        TrainConfig, None, [f"data.photos={pack}", *base, "data.box_size=20", *overrides]
    )


def test_pixel_loss_weights_holes_and_known_region() -> None:
    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    pred = target.clone()
    pred[..., :2, :] = 0.5  # error only in the hole
    only_hole = pixel_loss(pred, target, mask, LossConfig(hole_l1=1, hole_l2=0, known_l1=0))
    assert float(only_hole) == pytest.approx(0.5)
    pred2 = target.clone()
    pred2[..., 2:, :] = 0.5  # error only outside
    assert float(pixel_loss(pred2, target, mask, LossConfig(1, 1, 0.1))) == pytest.approx(0.05)


def test_lr_schedule() -> None:
    assert lr_factor(0.0, 0, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(0.0, 10, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(1.0, 100, 10, 0.1) == pytest.approx(0.1)
    assert 0.1 < lr_factor(0.5, 50, 10, 0.1) < 1.0


def test_tiny_training_run_improves_and_checkpoints(pack: Path, tmp_path: Path) -> None:
    cfg = tiny_config(
        pack,
        "data.val_crops_per_photo=2",
        "steps=30",
        "eval_every=15",
        "batch_size=4",
        "optim.warmup_steps=2",
        "ema=0.5",
        "optim.lr=3e-3",
        "model.kwargs={width: 8, downs: 2, blocks: 1, max_width: 16}",
    )
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.steps == 30 and np.isfinite(result.best_score)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    first, last = (float(r.split(",")[3]) for r in (rows[1], rows[2]))
    assert min(first, last) == pytest.approx(result.best_score, abs=1e-5)
    # the same network before its first step, on the same validation samples, is far worse
    from photorecon.models.registry import create_model
    from photorecon.train.evaluation import validate
    from photorecon.train.samples import build_data

    torch.manual_seed(cfg.seed)
    untrained = create_model(cfg.model.name, **cfg.model.kwargs)
    val = build_data(cfg)[1]
    before = validate(untrained, val["images"], val["masks"], "cpu", kinds=val["kinds"])["rmse"]
    assert result.best_score < 0.97 * before  # 0.251 vs 0.268 after 30 steps
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()
    assert "batch_size: 4" in (tmp_path / "run" / "config.yaml").read_text()
    from photorecon.models.loading import load_model

    model = load_model(str(tmp_path / "run"))
    assert sum(p.numel() for p in model.parameters()) > 0


def test_perceptual_loss_is_zero_for_equal_images_and_trains() -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    from photorecon.losses.perceptual import PerceptualLoss

    loss = PerceptualLoss()
    x = torch.rand(2, 3, 64, 64)
    y = torch.rand(2, 3, 64, 64, requires_grad=True)
    assert float(loss(x, x)) == 0.0
    value = loss(y, x)
    assert value.detach().item() > 0
    value.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())


@pytest.mark.slow  # inductor compiles for ~a minute on 2 cores: `pytest -m slow`
def test_compiled_training_saves_plain_weights(pack: Path, tmp_path: Path) -> None:
    from photorecon.models.loading import load_checkpoint

    cfg = tiny_config(
        pack,
        "data.val_crops_per_photo=1",
        "steps=3",
        "batch_size=2",
        "compile=true",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    )
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.steps == 3
    model = load_checkpoint(tmp_path / "run" / "last" / "model.safetensors")  # strict keys
    assert not any("_orig_mod" in k for k in model.state_dict())


@pytest.mark.parametrize("samples", [0, 8])
def test_ema_checkpoints_carry_batchnorm_statistics_of_their_own_weights(
    pack: Path, tmp_path: Path, samples: int
) -> None:
    import copy

    from photorecon.models.loading import load_checkpoint
    from photorecon.train.batchnorm import recalibrate_batchnorm
    from photorecon.train.samples import build_data

    cfg = tiny_config(
        pack,
        "steps=6",
        "eval_every=6",
        "batch_size=4",
        "optim.warmup_steps=1",
        "ema=0.5",
        "optim.lr=3e-3",
        f"ema_bn_samples={samples}",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    )
    train(cfg, tmp_path / "run", progress=False)
    saved = load_checkpoint(tmp_path / "run")
    again = copy.deepcopy(saved)
    cfg.ema_bn_samples = 8  # the samples the run used, when it recomputed them
    recalibrate_batchnorm(again, build_data(cfg)[0].bn_batches(8), "cpu")
    stats = [k for k in saved.state_dict() if k.endswith("running_mean")]
    gap = max(float((saved.state_dict()[k] - again.state_dict()[k]).abs().max()) for k in stats)
    # recomputed: the same up to float noise (9e-6); copied from the live weights: far off (0.5)
    assert stats and (gap < 1e-4) == (samples > 0)


def test_training_leaves_the_callers_random_numbers_alone(pack: Path, tmp_path: Path) -> None:
    import numpy as np

    torch.manual_seed(123)
    np.random.seed(5)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(5)
    cfg = tiny_config(pack, "steps=2", "eval_every=2", "batch_size=2",
                      "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}")  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])


def test_a_loss_that_stops_being_a_number_stops_the_run_in_one_line() -> None:
    """The losses stay on the device between reads (no sync each step); each read checks them."""
    from photorecon.train.loop import check_finite

    check_finite({"loss": torch.tensor(0.25), "d_loss": torch.tensor(1.0)}, 10)
    with pytest.raises(PhotoreconError, match=r"the d_loss became nan by step 20; lower optim.lr"):
        check_finite({"loss": torch.tensor(0.25), "d_loss": torch.tensor(float("nan"))}, 20)


def test_a_run_that_diverges_says_so(pack: Path, tmp_path: Path, monkeypatch) -> None:
    import photorecon.train.steps as steps

    monkeypatch.setattr(steps, "pixel_loss", lambda pred, *_: (pred * float("nan")).mean())
    cfg = tiny_config(pack, "model.name=bilstm", "model.kwargs.hidden=8", "steps=12")
    with pytest.raises(PhotoreconError, match=r"the loss became nan by step 10"):
        train(cfg, tmp_path / "run", progress=False)
