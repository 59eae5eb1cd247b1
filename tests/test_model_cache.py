"""The API's loaded models: kept for repeated calls, bounded, released."""

from __future__ import annotations

import numpy as np
import pytest

import photorecon
from photorecon.api import MODELS, cached_model, clear_models
from photorecon.errors import PhotoreconError


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_models()
    yield
    clear_models()


def test_models_are_kept_least_recently_used_first_out(monkeypatch) -> None:
    monkeypatch.setenv("PHOTORECON_CACHE_MODELS", "2")
    telea = cached_model("telea")
    assert cached_model("telea") is telea and len(MODELS) == 1
    ns = cached_model("ns")
    assert cached_model("telea") is telea  # telea used last: ns goes first
    cached_model("harmonic")
    assert len(MODELS) == 2
    assert cached_model("telea") is telea and cached_model("ns") is not ns


def test_none_kept_with_zero_and_a_bad_value_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("PHOTORECON_CACHE_MODELS", "0")
    assert cached_model("telea") is not cached_model("telea") and len(MODELS) == 0
    image = np.full((32, 32, 3), 90, np.uint8)
    assert photorecon.fill(image, [(4, 4, 8, 8)], model="telea").shape == image.shape
    monkeypatch.setenv("PHOTORECON_CACHE_MODELS", "lots")
    with pytest.raises(PhotoreconError, match="PHOTORECON_CACHE_MODELS must be a whole number"):
        cached_model("telea")
