"""Outputs replace files as they were: mode, symlinks; `-o -` writes to standard output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo
from photorecon.cli import main

PHOTO = synthetic_photo(np.random.default_rng(4), 48, 64)


def photo_file(tmp_path: Path, name: str = "p.png") -> Path:
    path = tmp_path / name
    Image.fromarray(PHOTO).save(path)
    return path


def test_in_place_keeps_the_files_mode(tmp_path: Path) -> None:
    src = photo_file(tmp_path)
    os.chmod(src, 0o600)
    assert main(["fill", str(src), "--box", "5,5,10,10", "--model", "telea", "--in-place"]) == 0
    assert (src.stat().st_mode & 0o777) == 0o600
    assert not np.array_equal(np.asarray(Image.open(src)), PHOTO)  # it was filled


def test_an_output_over_a_symlink_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    src, real = photo_file(tmp_path), photo_file(tmp_path, "real.png")
    os.chmod(real, 0o640)
    link = tmp_path / "link.png"
    link.symlink_to(real)
    assert main(["fill", str(src), "--box", "5,5,10,10", "--model", "telea", "-o", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real.stat().st_mode & 0o777) == 0o640
    assert not np.array_equal(np.asarray(Image.open(real)), PHOTO)


def test_dash_writes_the_image_to_standard_output(tmp_path: Path) -> None:
    src = photo_file(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "photorecon.cli", "fill", str(src), "--box", "5,5,10,10",
         "--model", "telea", "-o", "-"],
        capture_output=True, cwd=tmp_path, check=True,
    )  # fmt: skip
    out = Image.open(io.BytesIO(run.stdout))
    assert out.format == "PNG" and out.size == (64, 48)
    assert run.stdout.endswith(b"IEND\xaeB`\x82")  # nothing but the image
    assert not (tmp_path / "-").exists()


def test_a_grey_photos_profile_is_not_put_on_the_rgb_result(tmp_path: Path) -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey_profile = srgb[:16] + b"GRAY" + srgb[20:]  # the header's colour space says grey
    src = tmp_path / "g.png"
    Image.fromarray(PHOTO[..., 0], "L").save(src, icc_profile=grey_profile)
    out = tmp_path / "o.png"
    assert main(["fill", str(src), "--box", "5,5,10,10", "--model", "telea", "-o", str(out)]) == 0
    assert Image.open(out).mode == "RGB" and "icc_profile" not in Image.open(out).info
    rgb = tmp_path / "c.png"
    Image.fromarray(PHOTO).save(rgb, icc_profile=srgb)
    assert main(["fill", str(rgb), "--box", "5,5,10,10", "--model", "telea", "-o", str(out)]) == 0
    assert Image.open(out).info["icc_profile"] == srgb


def sixteen_bit(height: int, width: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    base = rng.integers(20_000, 40_000, (height, width, channels)).astype(np.uint16)
    if channels == 4:
        base[..., 3] = rng.integers(1_000, 65_000, (height, width)).astype(np.uint16)
    return base


@pytest.mark.parametrize(("suffix", "channels"), [(".png", 3), (".png", 4), (".tif", 3)])
def test_16_bit_in_16_bit_out(tmp_path: Path, suffix: str, channels: int) -> None:
    import cv2

    deep = sixteen_bit(40, 60, channels)
    src = tmp_path / f"deep{suffix}"
    order = [2, 1, 0, 3][:channels]
    assert cv2.imwrite(str(src), deep[..., order])
    out = tmp_path / f"out{suffix}"
    assert main(["fill", str(src), "--box", "10,20,8,12", "--model", "telea", "-o", str(out)]) == 0
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == deep.shape
    back = back[..., order]
    hole = np.zeros((40, 60), bool)
    hole[10:18, 20:32] = True
    assert np.array_equal(back[~hole], deep[~hole])  # every sample outside, all 16 bits
    assert not np.array_equal(back[hole][:, :3], deep[hole][:, :3])  # the hole was filled
    assert (back[hole][:, :3] % 257 == 0).all()  # with the fill's 8-bit values, scaled
    if channels == 4:
        assert np.array_equal(back[..., 3], deep[..., 3])  # 16-bit alpha as it was


def test_16_bit_to_an_8_bit_format_says_so(tmp_path: Path, capsys) -> None:
    import cv2

    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), sixteen_bit(30, 30))
    out = tmp_path / "out.jpg"
    assert main(["fill", str(src), "--box", "5,5,6,6", "--model", "telea", "-o", str(out)]) == 0
    assert "a 16-bit photo, written as 8-bit JPEG" in capsys.readouterr().err
    assert np.asarray(Image.open(out)).dtype == np.uint8
