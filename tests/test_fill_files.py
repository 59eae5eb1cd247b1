"""`photorecon fill` on ordinary files: batches past bad files, --white skips, mask folders,
alpha, EXIF and colour profiles kept, formats and quality, tiny photos, whole-photo masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import synthetic_photo
from photorecon.cli import main
from photorecon.models.registry import create_model


def photo(seed: int, height: int = 80, width: int = 100) -> np.ndarray:
    return synthetic_photo(np.random.default_rng(seed), height, width)


def test_a_batch_goes_on_past_bad_files_and_sums_up(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(photo(i)).save(folder / f"p{i}.png")
    (folder / "p1.png").write_bytes(b"\x89PNG not really")  # corrupt, in the middle
    code = main(
        ["fill", str(folder), "--box", "5,5,20,20", "--model", "mean", "-o", str(tmp_path / "out")]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p2.png"]
    assert "p1.png: cannot read image" in err and "1 of 3 photos could not be filled" in err
    assert "filled 2 of 3 photos, 1 failed" in out
    assert out.count(" -> ") == 2  # one plain line per file when not on a terminal


def test_white_skips_photos_without_white_boxes(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with_box = photo(0)
    with_box[10:40, 20:50] = 255
    Image.fromarray(with_box).save(folder / "a.png")
    Image.fromarray(photo(1)).save(folder / "b.png")
    code = main(["fill", str(folder), "--white", "--model", "telea", "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "b.png: no pure-white rectangles found; skipped" in err
    assert "filled 1 of 2 photos, 1 skipped" in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]


def test_a_folder_of_masks_is_matched_by_file_name(tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    for i, (top, left) in enumerate([(5, 5), (40, 60)]):
        Image.fromarray(photo(i)).save(tmp_path / "in" / f"p{i}.jpg", quality=95)
        mask = np.zeros((80, 100), np.uint8)
        mask[top : top + 15, left : left + 15] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"p{i}.png")
    code = main(
        [
            "fill",
            str(tmp_path / "in"),
            "--mask",
            str(tmp_path / "masks"),
            "--model",
            "mean",
            "-o",
            str(tmp_path / "out"),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    for i, (top, left) in enumerate([(5, 5), (40, 60)]):
        src = np.asarray(Image.open(tmp_path / "in" / f"p{i}.jpg")).astype(int)
        got = np.asarray(Image.open(tmp_path / "out" / f"p{i}.jpg")).astype(int)
        diff = np.abs(got - src).max(axis=2)
        # a JPEG into a JPEG: only the 16x16 cells (4:2:0) the square touches change, and
        # within 1 px of them (chroma interpolation); the rest decodes bit-identical
        assert diff[top : top + 15, left : left + 15].mean() > 3
        cells = np.zeros((80, 100), bool)
        cells[
            max(top // 16 * 16 - 1, 0) : -(-(top + 15) // 16) * 16 + 1,
            max(left // 16 * 16 - 1, 0) : -(-(left + 15) // 16) * 16 + 1,
        ] = True
        assert not diff[~cells].any()
    Image.fromarray(photo(5)).save(tmp_path / "in" / "lonely.png")
    code = main(
        [
            "fill",
            str(tmp_path / "in"),
            "--mask",
            str(tmp_path / "masks"),
            "--model",
            "mean",
            "-o",
            str(tmp_path / "out2"),
        ]
    )
    assert code == 2 and "lonely.png: no mask named lonely.png" in capsys.readouterr().err


def test_alpha_exif_and_colour_profile_come_back(tmp_path: Path) -> None:
    rgba = np.dstack([photo(2), np.linspace(0, 255, 100, dtype=np.uint8)[None].repeat(80, 0)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    assert (
        main(["fill", str(tmp_path / "logo.png"), "--box", "10,10,20,20", "--model", "telea", "-q"])
        == 0
    )
    out = Image.open(tmp_path / "logo_filled.png")
    assert out.mode == "RGBA"
    got = np.asarray(out)
    assert (got[..., 3] == rgba[..., 3]).all()  # alpha untouched, holes included
    assert (got[30:, :, :3] == rgba[30:, :, :3]).all()
    exif = Image.Exif()
    exif[0x0110] = "photorecon test camera"  # Model
    exif[0x0112] = 6  # turned: the pixels come back turned, the tag says 1
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo(3)).save(tmp_path / "cam.jpg", exif=exif, icc_profile=profile, quality=95)
    assert (
        main(
            [
                "fill",
                str(tmp_path / "cam.jpg"),
                "--box",
                "5,5,10,10",
                "--model",
                "telea",
                "--quality",
                "80",
                "-q",
            ]
        )
        == 0
    )
    back = Image.open(tmp_path / "cam_filled.jpg")
    assert back.format == "JPEG" and back.size == (80, 100)  # turned as the camera asked
    assert back.getexif()[0x0110] == "photorecon test camera" and back.getexif()[0x0112] == 1
    assert back.info["icc_profile"] == profile
    assert (
        main(
            [
                "fill",
                str(tmp_path / "cam.jpg"),
                "--box",
                "5,5,10,10",
                "--model",
                "telea",
                "-o",
                str(tmp_path / "cam.webp"),
                "-q",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "cam.webp").format == "WEBP"


@pytest.mark.parametrize("size", [(1, 1), (10, 10), (3, 40)])
def test_tiny_photos_fill_or_say_why(size: tuple[int, int], tmp_path: Path, capsys) -> None:
    from photorecon.anysize import fill_any_size
    from photorecon.errors import PhotoreconError

    image = photo(4, *size)
    mask = np.zeros(size, np.float32)
    mask[: max(1, size[0] // 2), : max(1, size[1] // 2)] = 1
    net = create_model("ffc", width=4, downs=4, blocks=1, max_width=8).eval()
    if mask.all():
        with pytest.raises(PhotoreconError, match="covers the whole 1x1 image"):
            fill_any_size(image, mask, net)
        return
    out = fill_any_size(image, mask, net)
    assert out.shape == image.shape and (out[mask == 0] == image[mask == 0]).all()
    Image.fromarray(image).save(tmp_path / "tiny.png")
    code = main(["fill", str(tmp_path / "tiny.png"), "--box", "0,0,1,1", "--model", "telea", "-q"])
    assert code == 0, capsys.readouterr().err
