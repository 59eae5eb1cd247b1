"""The default fill on smooth, bright scenes (sky, clouds, snow, backdrops, skin): no worse than
Telea on thin and thick strokes, and no colour band (the shipped weights before their smooth-scene
fine-tune failed both: brush 6.93 against Telea's 5.82, red 2.5 levels dark)."""

from __future__ import annotations

import numpy as np
import pytest

from photorecon.anysize import fill_any_size
from photorecon.data.scenes import scene_bank
from photorecon.evaluate import hole_mask
from photorecon.models.loading import load_model

SCENES = scene_bank([9, 1], 10, 256, 384)  # a seed apart from training's and validation's


@pytest.fixture(scope="module")
def models():
    return load_model("ffc", "cpu", runtime="auto"), load_model("telea", "cpu")


@pytest.mark.parametrize("kind", ["scratches", "brush"])
def test_default_is_no_worse_than_telea_on_smooth_scenes(models, kind: str) -> None:
    errors: list[list[float]] = [[], []]
    bias = []
    for i, scene in enumerate(SCENES):
        mask = hole_mask(kind, 5, i, *scene.shape[:2])
        for errs, model in zip(errors, models, strict=True):
            diff = fill_any_size(scene, mask, model)[mask > 0].astype(float) - scene[mask > 0]
            errs.extend(np.square(diff).ravel())
            if model is models[0]:
                bias.append(diff.mean(axis=0))
    ffc, telea = (float(np.sqrt(np.mean(e))) for e in errors)
    assert ffc <= telea, f"{kind}: default {ffc:.2f} vs Telea {telea:.2f} levels"
    # no band: on average over the scenes, every channel within 1.5 levels
    assert np.abs(np.mean(bias, axis=0)).max() < 1.5
