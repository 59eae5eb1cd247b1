from __future__ import annotations

import numpy as np
import pytest
import torch

from photorecon.errors import PhotoreconError
from photorecon.inpaint import composite, fill_batch
from photorecon.masks import Box, boxes_to_mask
from photorecon.models.registry import create_model, list_models


def batch(seed: int = 0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = torch.zeros(2, 1, size, size)
    mask[:, :, 10:30, 20:45] = 1
    mask[1, :, 40:60, 5:20] = 1
    return image * (1 - mask), mask


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    masked, mask = batch()
    with torch.no_grad():
        out = model(masked, mask)
    assert out.shape == masked.shape
    assert torch.isfinite(out).all()
    filled = composite(out, masked, mask)
    assert torch.equal(filled * (1 - mask), masked * (1 - mask))


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(PhotoreconError, match=r"unknown model 'nope'.*telea"):
        create_model("nope")


def test_mean_fill_uses_known_pixel_mean() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :4] = 100
    image[:, 4:] = 200
    mask = boxes_to_mask(8, 8, [Box(0, 0, 8, 2)])  # hides the left two columns (value 100)
    out = fill_batch(create_model("mean"), [image], [mask])[0]
    expected = (2 * 100 + 4 * 200) / 6 / 255
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out[0, 5], 200 / 255, atol=1e-6)


@pytest.mark.parametrize("name", ["telea", "ns", "pushpull", "harmonic"])
def test_classical_fill_is_close_on_smooth_image(name: str) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.dstack([yy * 2, xx * 2, (yy + xx)]).astype(np.uint8)
    mask = boxes_to_mask(64, 64, [Box(20, 20, 10, 10)])
    out = fill_batch(create_model(name), [image], [mask])[0]
    hole = mask > 0
    err = np.abs(out[hole] - image[hole] / 255.0).mean()
    mean_err = np.abs(
        fill_batch(create_model("mean"), [image], [mask])[0][hole] - image[hole] / 255.0
    ).mean()
    assert err < 0.05
    assert err < mean_err / 3


def test_pushpull_keeps_known_pixels_and_fills_a_constant_exactly() -> None:
    from photorecon.models.classical import pushpull_fill

    image = torch.full((1, 3, 37, 50), 0.3)  # odd sizes: the pyramid rounds up
    image[..., 0] = 0.9
    mask = torch.zeros(1, 1, 37, 50)
    mask[..., 10:30, 20:45] = 1
    out = pushpull_fill(image * (1 - mask), mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    flat = pushpull_fill(torch.full_like(image, 0.3) * (1 - mask), mask)
    assert torch.allclose(flat, torch.tensor(0.3), atol=1e-6)


def test_ffc_with_pushpull_prior_starts_as_the_classical_fill() -> None:
    from photorecon.models.classical import pushpull_fill

    model = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, prior="pushpull").eval()
    masked, mask = batch()
    with torch.no_grad():
        out = model(masked, mask)
    assert (out - pushpull_fill(masked, mask)).abs().max() < 2e-3
    assert model.config["prior"] == "pushpull"
    assert "prior" not in create_model("ffc", width=4, downs=2, blocks=1, max_width=8).config
    with pytest.raises(ValueError, match="prior"):
        create_model("ffc", prior="telea")


def test_harmonic_fill_solves_laplace_inside_the_holes() -> None:
    from photorecon.models.classical import harmonic_fill

    # a linear ramp is harmonic: the fill of a thin gap in it is the ramp itself
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64).clone()
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., :, 30:33] = 1  # a 3-px vertical scratch
    out = harmonic_fill(ramp * (1 - mask), mask, iters=200)
    assert torch.equal(out * (1 - mask), ramp * (1 - mask))
    assert (out - ramp).abs().max() < 2e-3
    coarse = harmonic_fill(ramp * (1 - mask), mask, iters=0)  # push-pull alone: further off
    assert (coarse - ramp).abs().max() > 4 * (out - ramp).abs().max()


def test_ffc_blend_warm_starts_from_a_net_without_it(tmp_path) -> None:
    from photorecon.checkpoint import CheckpointMeta, save_weights
    from photorecon.models.classical import harmonic_fill
    from photorecon.train.state import warm_start

    tiny = dict(width=4, downs=2, blocks=1, max_width=8)
    torch.manual_seed(0)
    plain = create_model("ffc", **tiny).eval()
    path = tmp_path / "plain.safetensors"
    save_weights(path, plain, CheckpointMeta("ffc", plain.config))
    blended = create_model("ffc", **tiny, blend="harmonic").eval()
    warm_start(blended, str(path), "ffc")
    assert blended.config["blend"] == "harmonic" and "blend" not in plain.config
    masked, mask = batch()
    with torch.no_grad():  # the gate starts as an even mix of the net and the classical fill
        want = 0.5 * plain(masked, mask) + 0.5 * harmonic_fill(masked * (1 - mask), mask)
        assert (blended(masked, mask) - want).abs().max() < 1e-5
    with pytest.raises(ValueError, match="blend"):
        create_model("ffc", blend="telea")
    # the other way round (a blend checkpoint into a plain net) is a misfit, not a silent drop
    save_weights(tmp_path / "b.safetensors", blended, CheckpointMeta("ffc", blended.config))
    from photorecon.errors import PhotoreconError

    with pytest.raises(PhotoreconError, match="blend"):
        warm_start(create_model("ffc", **tiny), str(tmp_path / "b.safetensors"), "ffc")
