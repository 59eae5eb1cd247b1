"""Outputs replace files as they were: mode, symlinks; `-o -` writes to standard output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
