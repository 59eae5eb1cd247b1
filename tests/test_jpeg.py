"""A JPEG filled into a JPEG keeps every block the holes do not touch (photorecon.jpegsplice)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from photorecon.cli import main
from photorecon.imageio import read_photo, write_photo
from photorecon.jpegsplice import splice, touched_mcus

BOX = (37, 50, 30, 41)  # row, col, height, width: on no MCU boundary


def photo(seed: int = 0, height: int = 123, width: int = 171) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def jpeg(image: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("subsampling,mcu", [(0, (8, 8)), (1, (8, 16)), (2, (16, 16))])
@pytest.mark.parametrize("quality", [50, 95])
def test_only_the_touched_mcus_change(tmp_path: Path, subsampling, mcu, quality) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    src = tmp_path / "in.jpg"
    src.write_bytes(
        jpeg(
            photo(quality),
            quality=quality,
            subsampling=subsampling,
            exif=exif.tobytes(),
            icc_profile=profile,
        )
    )
    original = read_photo(src)
    filled = original.rgb.copy()
    row, col, h, w = BOX
    filled[row : row + h, col : col + w] = (250, 20, 40)
    out = tmp_path / "out.jpg"
    write_photo(out, filled, original)
    before, after = decoded(src.read_bytes()), decoded(out.read_bytes())
    hole = np.zeros(before.shape[:2], bool)
    hole[row : row + h, col : col + w] = True
    cells = np.kron(touched_mcus(hole, *mcu), np.ones(mcu, bool))[: hole.shape[0], : hole.shape[1]]
    reach = 1 if subsampling else 0  # chroma interpolation across the cells' edges
    if reach:
        cells = cv2.dilate(cells.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    changed = (after != before).any(axis=2)
    assert not changed[~cells].any()
    assert np.abs(after[hole] - (250, 20, 40)).mean() < 25  # the fill is there
    back, first = Image.open(out), Image.open(src)
    assert JpegImagePlugin.get_sampling(back) == subsampling
    assert back.quantization == first.quantization
    assert back.info.get("icc_profile") == profile
    assert back.getexif()[0x010F] == "TestCam"


def test_nothing_changed_gives_the_same_bytes() -> None:
    data = jpeg(photo(), quality=90)
    assert splice(data, decoded(data).astype(np.uint8), decoded(data).astype(np.uint8)) == data


def test_a_progressive_jpeg_is_reencoded_with_its_own_tables_and_says_so(tmp_path) -> None:
    src = tmp_path / "prog.jpg"
    src.write_bytes(jpeg(photo(3), quality=70, subsampling=1, progressive=True))
    original = read_photo(src)
    filled = original.rgb.copy()
    filled[10:30, 10:30] = 0
    assert splice(original.jpeg, original.rgb, filled) is None
    out = tmp_path / "out.jpg"
    import photorecon.imageio as imageio

    imageio._SAID.discard("jpeg-reencoded")
    with pytest.warns(UserWarning, match="re-encoded whole"):
        write_photo(out, filled, original)
    back, first = Image.open(out), Image.open(src)
    assert back.quantization == first.quantization
    assert JpegImagePlugin.get_sampling(back) == 1


def test_cli_fill_of_a_jpeg_keeps_the_rest_bit_identical(tmp_path: Path, capsys) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(jpeg(photo(7), quality=85))  # Pillow's default: 4:2:0
    out = tmp_path / "p_out.jpg"
    assert main(["fill", str(src), "--box", "40,48,20,20", "--model", "telea", "-o", str(out)]) == 0
    changed = (decoded(out.read_bytes()) != decoded(src.read_bytes())).any(axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 31 and rows.max() <= 64 and cols.min() >= 47 and cols.max() <= 80
