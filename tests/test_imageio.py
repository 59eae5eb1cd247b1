"""Image decoding at the edges: the pixel limit (decompression bombs), high bit depths,
animated images — the same for the CLI, the Python API and the server."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photorecon.cli import main
from photorecon.errors import PhotoreconError
from photorecon.imageio import ImageModeWarning, ImageTooLarge, read_image


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header declares width x height but whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_one_line_naming_the_limit(tmp_path: Path, capsys) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    assert bomb.stat().st_size < 200
    with pytest.raises(ImageTooLarge, match=r"has 2,500,000,000 pixels, over the limit of"):
        read_image(bomb)
    code = main(["fill", str(bomb), "--box", "0,0,10,10", "-o", str(tmp_path / "out.png"), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "bomb.png" in err and "PHOTORECON_MAX_PIXELS" in err
    assert err.strip().count("\n") == 0 and not (tmp_path / "out.png").exists()


def test_the_pixel_limit_is_one_setting(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    monkeypatch.setenv("PHOTORECON_MAX_PIXELS", "1999")
    with pytest.raises(ImageTooLarge, match="50x40 .2,000 pixels., over the limit of 1,999"):
        read_image(path)
    monkeypatch.setenv("PHOTORECON_MAX_PIXELS", "2000")
    assert read_image(path).shape == (40, 50, 3)
    monkeypatch.setenv("PHOTORECON_MAX_PIXELS", "lots")
    with pytest.raises(PhotoreconError, match="not a whole number"):
        read_image(path)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16).reshape(16, 16)
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    with pytest.warns(ImageModeWarning):
        rgb = read_image(path)
    assert rgb.shape == (16, 16, 3)
    np.testing.assert_allclose(rgb[..., 0], np.rint(ramp / 257.0), atol=1)
    assert rgb.min() == 0 and rgb.max() == 255 and (rgb == 255).mean() < 0.01


def test_animated_images_say_only_the_first_frame_is_used(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(ImageModeWarning, match="2 frames; only the first is used"):
        rgb = read_image(path)
    assert rgb[0, 0, 0] > 200 and rgb[0, 0, 2] < 50  # red


def test_the_server_answers_413_for_a_bomb() -> None:
    from fastapi.testclient import TestClient

    from photorecon.serve.app import create_app

    client = TestClient(create_app(default_model="telea"))
    response = client.post(
        "/api/fill",
        files={"image": ("bomb.png", bomb_png(), "image/png")},
        data={"boxes": "[[0, 0, 4, 4]]"},
    )
    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]
