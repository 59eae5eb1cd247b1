"""photorecon's PNG encoder: what Pillow (and every viewer) reads back is what went in."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from photorecon import png


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([3, 4])),
    )
)
def test_any_small_image_round_trips(pixels: np.ndarray) -> None:
    image = decoded(png.encode_png(pixels))
    assert image.mode == ("RGB" if pixels.shape[2] == 3 else "RGBA")
    assert np.array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize("threads", [1, 3])
def test_a_large_image_in_many_parts_and_idat_chunks(threads: int, monkeypatch) -> None:
    monkeypatch.setattr(png, "PART_BYTES", 50_000)  # many deflate parts
    monkeypatch.setattr(png, "IDAT_BYTES", 70_000)  # several IDAT chunks
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)
    pixels[:100] = 7  # a flat band, which run-length matching packs
    data = png.encode_png(pixels, threads=threads)
    assert data.count(b"IDAT") > 2
    assert np.array_equal(np.asarray(decoded(data)), pixels)


def test_profile_and_exif_come_back() -> None:
    icc = bytes(range(256)) * 10
    exif = Image.Exif()
    exif[0x010F] = "photorecon camera"  # Make
    exif[0x0112] = 1  # orientation
    pixels = np.zeros((5, 6, 3), np.uint8)
    for given_exif in (exif.tobytes(), exif.tobytes()[6:]):  # with and without "Exif\0\0"
        image = decoded(png.encode_png(pixels, icc=icc, exif=given_exif))
        assert image.info["icc_profile"] == icc
        assert image.getexif()[0x010F] == "photorecon camera"


def test_smaller_than_storing_and_valid_zlib() -> None:
    rows = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    pixels = np.dstack([rows, rows, rows])
    data = png.encode_png(pixels, strategy=zlib.Z_DEFAULT_STRATEGY)
    assert len(data) < pixels.nbytes / 10  # a gradient filters to nearly constant rows
    with pytest.raises(ValueError, match="uint8"):
        png.encode_png(pixels.astype(np.float32))
