"""Synthetic smooth, bright scenes: the pictures, and where they join training and evaluation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from photorecon.cli import main
from photorecon.data.scenes import SCENE_KINDS, render_scene, scene_bank
from photorecon.errors import PhotoreconError
from photorecon.evaluate import drawn_hole_sets
from test_train import tiny_config


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_each_scene_is_smooth_bright_and_fixed_by_its_seed(kind: str) -> None:
    one = render_scene(kind, np.random.default_rng(3), 96, 128)
    assert one.shape == (96, 128, 3) and one.dtype == np.uint8
    np.testing.assert_array_equal(one, render_scene(kind, np.random.default_rng(3), 96, 128))
    assert not np.array_equal(one, render_scene(kind, np.random.default_rng(4), 96, 128))
    assert one.mean() > 120  # bright
    # smooth: after the grain (a 3x3 blur), neighbouring pixels differ by a level or two
    soft = cv2.blur(one.astype(np.float32), (3, 3))
    assert np.abs(np.diff(soft, axis=1)).mean() < 3.0


def test_unknown_scene_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scene kind 'lava'"):
        render_scene("lava", np.random.default_rng(0), 8, 8)


def test_bank_takes_the_kinds_in_turn() -> None:
    bank = scene_bank(1, len(SCENE_KINDS) + 1, 32, 48)
    assert len(bank) == len(SCENE_KINDS) + 1
    np.testing.assert_array_equal(
        bank[0], render_scene(SCENE_KINDS[0], np.random.default_rng([1, 0]), 32, 48)
    )


def test_scenes_join_training_photos_and_validation(pack: Path) -> None:
    from photorecon.train.samples import build_data

    plain = build_data(tiny_config(pack, "data.val_crops_per_photo=2"))
    more = build_data(
        tiny_config(pack, "data.val_crops_per_photo=2", "data.scenes=0.5", "data.val_scenes=4")
    )
    assert len(more[0].dataset.photos) == 2 * len(plain[0].dataset.photos)
    kinds = more[1]["kinds"]
    assert kinds[: len(plain[1]["kinds"])] == plain[1]["kinds"]
    assert kinds[len(plain[1]["kinds"]) :] == ["smooth-scratches", "smooth-brush"] * 2
    assert more[1]["images"].shape[0] == len(kinds) == more[1]["masks"].shape[0]
    with pytest.raises(PhotoreconError, match=r"data.scenes=1.0: must be 0 <= x < 1"):
        build_data(tiny_config(pack, "data.scenes=1.0"))


def test_data_scenes_writes_a_folder_evaluate_scores_as_smooth(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scenes"
    assert main(["data", "scenes", str(out), "--count", "3", "--size", "96x64"]) == 0
    names = sorted(p.name for p in (out / "original").iterdir())
    assert names == ["scene_0000.png", "scene_0001.png", "scene_0002.png"]
    sets = drawn_hole_sets(out, ["brush"])
    assert [s.name for s in sets] == ["smooth-brush@96"] and len(sets[0].images) == 3
    assert main(["data", "scenes", str(out), "--count", "3"]) == 2  # no --force
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "scenes", str(tmp_path / "x"), "--size", "96"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
