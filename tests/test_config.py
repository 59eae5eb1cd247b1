from __future__ import annotations

from pathlib import Path

import pytest

from photorecon.config import dump_config, load_config
from photorecon.errors import PhotoreconError
from photorecon.train.config import TrainConfig


def test_defaults_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("batch_size: 4\noptim:\n  lr: 3e-4\nmodel:\n  kwargs: {width: 8}\n")
    cfg = load_config(TrainConfig, path, ["optim.beta1=0.8", "data.flips=false", "steps=7"])
    assert cfg.batch_size == 4 and cfg.steps == 7
    assert cfg.optim.lr == pytest.approx(3e-4)  # YAML 1.1 reads 3e-4 as text; still a float
    assert cfg.optim.beta1 == pytest.approx(0.8)
    assert cfg.data.flips is False
    assert cfg.model.kwargs == {"width": 8}
    again = tmp_path / "resolved.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(TrainConfig, again) == cfg


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["optim.lr_typo=1"], "unknown config key optim.lr_typo"),
        (["batch_size=big"], "'batch_size': expected int"),
        (["batch_size=2.5"], "'batch_size': expected int"),
        (["data.flips=3"], "'data.flips': expected true/false"),
        (["optim=3"], "'optim': expected a mapping"),
        (["steps"], "key=value"),
    ],
)
def test_bad_config_names_the_key(sets: list[str], message: str) -> None:
    with pytest.raises(PhotoreconError, match=message):
        load_config(TrainConfig, None, sets)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["eval_every=0"], "eval_every=0: must be 1 <= x"),
        (["optim.lr=-1"], r"optim.lr=-1.0: must be 0 < x <= 1"),
        (["batch_size=0"], "batch_size=0: must be 1 <= x <= 65536"),
        (["batch_size=100000000"], "batch_size=100000000"),
        (["data.boxes=-2"], "data.boxes=-2"),
        (["ema=1.5"], "ema=1.5: must be 0 <= x < 1"),
        (["optim.min_lr_frac=-5"], "optim.min_lr_frac=-5.0"),
        (["optim.grad_clip=-1"], "optim.grad_clip=-1.0"),
        (["steps=0"], "steps=0"),
        (["amp=fp8"], "amp='fp8': one of 'auto', 'bf16', 'fp16', 'off'"),
        (["data.val_frac=0.6", "data.test_frac=0.5"], "val_frac \\+ test_frac = 1.1: must be < 1"),
    ],
)
def test_values_out_of_bounds_are_refused_before_anything_runs(sets, message) -> None:
    with pytest.raises(PhotoreconError, match=message):
        load_config(TrainConfig, None, sets)


def test_every_bad_value_is_named_in_one_message() -> None:
    with pytest.raises(PhotoreconError) as info:
        load_config(TrainConfig, None, ["eval_every=0", "optim.lr=-1", "data.scenes=1.0"])
    text = str(info.value)
    assert all(k in text for k in ("eval_every=0", "optim.lr=-1.0", "data.scenes=1.0"))


def test_a_model_that_cannot_be_built_is_one_line() -> None:
    from photorecon.models.registry import create_model

    with pytest.raises(PhotoreconError, match="model 'ffc' cannot be built with width=-4"):
        create_model("ffc", width=-4)
    with pytest.raises(PhotoreconError, match="cannot be built with nonsense=3"):
        create_model("bilstm", nonsense=3)


def test_missing_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(PhotoreconError, match="config file not found"):
        load_config(TrainConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(PhotoreconError, match="invalid YAML"):
        load_config(TrainConfig, bad)
