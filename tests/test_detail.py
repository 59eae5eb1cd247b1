"""Detail from the photo's own texture (photorecon.detail) and the `detail` option of the fills."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from photorecon.anysize import fill_any_size
from photorecon.cli import main
from photorecon.detail import DetailOptions, check_options, synthesize
from photorecon.errors import PhotoreconError
from photorecon.imageio import read_image, write_image
from photorecon.models.base import InpaintModel
from photorecon.models.classical import pushpull_fill


def texture(size: int = 160, seed: int = 0) -> np.ndarray:
    """A float32 RGB photo with fine texture (noise blurred at 1 px) over a smooth gradient."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0)
    ramp = np.linspace(0.3, 0.7, size, dtype=np.float32)[None, :]
    grey = np.clip(ramp + 0.12 * fine, 0, 1)
    return np.dstack([grey, grey * 0.9, grey * 0.8]).astype(np.float32)


def square_hole(size: int = 160, side: int = 60) -> np.ndarray:
    holes = np.zeros((size, size), bool)
    start = (size - side) // 2
    holes[start : start + side, start : start + side] = True
    return holes


def smooth_fill(image: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """The kind of fill detail starts from: right colours, no texture (the photo blurred hard)."""
    out = image.copy()
    out[holes] = cv2.GaussianBlur(image, (0, 0), 12)[holes]
    return out


def laplacian_std(image: np.ndarray, where: np.ndarray) -> float:
    return float(cv2.Laplacian(image.mean(axis=2), cv2.CV_32F)[where].std())


def test_detail_adds_texture_keeps_colours_and_known_pixels() -> None:
    image, holes = texture(), square_hole()
    base = smooth_fill(image, holes)
    out = synthesize(base, holes, holes, DetailOptions())
    assert out is not None
    inner = cv2.erode(holes.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    real, plain, detailed = (laplacian_std(x, inner) for x in (image, base, out))
    assert plain < 0.1 * real  # the base is a smear ...
    assert detailed > 0.5 * real  # ... detail brings the texture's strength back
    np.testing.assert_array_equal(out[~holes], base[~holes])  # known pixels untouched
    # the colours stay the base fill's: its low frequencies are kept
    low = lambda x: cv2.GaussianBlur(x, (0, 0), 6)  # noqa: E731
    assert np.abs(low(out) - low(base))[inner].mean() < 0.01


def test_detail_is_deterministic_for_a_seed() -> None:
    image, holes = texture(seed=1), square_hole()
    base = smooth_fill(image, holes)
    one = synthesize(base, holes, holes, DetailOptions(seed=3))
    again = synthesize(base, holes, holes, DetailOptions(seed=3))
    other = synthesize(base, holes, holes, DetailOptions(seed=4))
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)


def test_a_hole_over_nearly_all_the_photo_has_nothing_to_take_texture_from() -> None:
    image = texture(64)
    holes = np.ones((64, 64), bool)
    holes[:3] = False
    assert synthesize(smooth_fill(image, holes), holes, holes, DetailOptions()) is None


@pytest.mark.parametrize("bad", [{"radius": 0}, {"sigma": 0.0}, {"levels": 0}, {"rounds": 0}])
def test_bad_detail_options_are_one_line_errors(bad) -> None:
    with pytest.raises(PhotoreconError, match="detail"):
        check_options(DetailOptions(**bad))


class BlurNet(torch.nn.Module, InpaintModel):
    """A stand-in learned fill: push-pull interpolation (a smear, as nets give)."""

    kind = "supervised"

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pushpull_fill(masked * (1 - mask), mask)


def test_the_fill_path_details_large_holes_and_leaves_thin_ones() -> None:
    photo = (texture(256, seed=2) * 255).astype(np.uint8)
    mask = np.zeros((256, 256), np.float32)
    mask[90:170, 90:170] = 1  # a large hole
    mask[20:23, 10:240] = 1  # a scratch: too thin for detail
    net = BlurNet().eval()
    plain = fill_any_size(photo, mask, net)
    detailed = fill_any_size(photo, mask, net, detail=True)
    np.testing.assert_array_equal(detailed[mask == 0], photo[mask == 0])
    np.testing.assert_array_equal(detailed[20:23], plain[20:23])
    assert (detailed[90:170, 90:170] != plain[90:170, 90:170]).mean() > 0.5
    grey = lambda x: x.astype(np.float32).mean(axis=2)  # noqa: E731
    inner = np.zeros((256, 256), bool)
    inner[95:165, 95:165] = True
    lap = lambda x: cv2.Laplacian(grey(x), cv2.CV_32F)[inner].std()  # noqa: E731
    assert lap(detailed) > 3 * lap(plain)


def test_detail_falls_back_to_the_plain_fill_with_a_notice() -> None:
    photo = (texture(128, seed=3) * 255).astype(np.uint8)
    mask = np.ones((128, 128), np.float32)
    mask[:4] = 0
    net = BlurNet().eval()
    with pytest.warns(UserWarning, match="too little of the photo"):
        out = fill_any_size(photo, mask, net, detail=True)
    np.testing.assert_array_equal(out, fill_any_size(photo, mask, net))


def test_detail_on_a_classical_fill_is_a_clear_error(tmp_path, capsys) -> None:
    photo = (texture(64) * 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[20:50, 20:50] = 1
    from photorecon.models.arrays import telea

    with pytest.raises(PhotoreconError, match="detail needs a learned fill"):
        fill_any_size(photo, mask, telea(), detail=True)
    src = tmp_path / "p.png"
    write_image(src, photo)
    out = tmp_path / "o.png"
    code = main(
        ["fill", str(src), "--box", "20,20,30,30", "--model", "telea", "--detail", "-o", str(out)]
    )
    assert code == 2 and not out.exists()
    assert "--detail needs a learned model" in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(src), photo)


def test_the_fill_path_reports_its_steps() -> None:
    photo = (texture(256, seed=4) * 255).astype(np.uint8)
    mask = np.zeros((256, 256), np.float32)
    mask[90:170, 90:170] = 1
    mask[10:14, 10:14] = 1
    seen: list[tuple[int, int]] = []
    fill_any_size(
        photo, mask, BlurNet().eval(), detail=True, progress=lambda d, t: seen.append((d, t))
    )
    total = seen[0][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and total >= 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
