"""The hole generator: every kind's shapes and sizes, seeded reproducibility, the mix."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from photorecon.errors import PhotoreconError
from photorecon.masks import (
    HOLE_KINDS,
    draw_holes,
    draw_kind,
    draw_segments,
    parse_hole_mix,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def components(mask: np.ndarray) -> int:
    """Number of 8-connected holes."""
    return cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)[0] - 1


def full_width(mask: np.ndarray) -> float:
    """Twice the largest distance from a hole pixel to the outside: a stroke's width."""
    distance = cv2.distanceTransform(
        (mask > 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )
    return 2 * float(distance.max())


@pytest.mark.parametrize("kind", HOLE_KINDS)
def test_every_kind_is_binary_nonempty_and_seeded(kind: str) -> None:
    masks = draw_kind(kind, gen(1), 16, 96, 128, box_size=30)
    assert masks.shape == (16, 1, 96, 128) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert (masks.sum((1, 2, 3)) > 0).all()  # no sample without a hole
    assert (masks.mean((1, 2, 3)) < 0.8).all()  # and none wholly missing
    assert torch.equal(masks, draw_kind(kind, gen(1), 16, 96, 128, box_size=30))
    assert not torch.equal(masks, draw_kind(kind, gen(2), 16, 96, 128, box_size=30))


def test_squares_are_two_challenge_squares() -> None:
    masks = draw_kind("squares", gen(), 64, 256, 256).numpy()[:, 0]
    for mask in masks:
        count = components(mask)
        assert count in (1, 2)  # two squares, or one shape where they overlap
        if count == 2:
            assert mask.sum() == 2 * 75 * 75
        else:  # overlapping or touching: within 150 px either way, at least one square's area
            rows, cols = np.nonzero(mask)
            assert np.ptp(rows) + 1 <= 150 and np.ptp(cols) + 1 <= 150
            assert 75 * 75 <= mask.sum() <= 2 * 75 * 75
    assert any(components(m) == 1 for m in masks)  # overlaps happen, as in the challenge


def test_boxes_and_large_sides() -> None:
    import cv2

    side = 200
    for kind, low, high, most in (("boxes", 0.05, 0.5, 3), ("large", 0.28, 0.38, 1)):
        solid = total = 0
        for mask in draw_kind(kind, gen(), 48, side, side).numpy()[:, 0]:
            count, labels = cv2.connectedComponents(mask.astype(np.uint8))
            assert 1 <= count - 1 <= most
            for k in range(1, count):
                rows, cols = np.nonzero(labels == k)
                height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
                total += 1
                if len(rows) != height * width:
                    assert kind == "boxes"  # only overlapping boxes make other shapes
                    continue
                solid += 1  # a rectangle: both its sides within the kind's bounds
                assert low * side - 1 <= min(height, width)
                assert max(height, width) <= high * side + 1
        assert solid >= 0.6 * total  # most holes are single rectangles, checked above


def test_scratches_are_thin_and_brush_strokes_thick() -> None:
    def widths(kind: str) -> np.ndarray:
        masks = draw_kind(kind, gen(3), 32, 256, 256).numpy()[:, 0]
        return np.array([full_width(m) for m in masks])

    scratch, brush = widths("scratches"), widths("brush")
    # where two scratches cross the width measure grows, so the median tells
    assert np.median(scratch) <= 6.5 and np.percentile(scratch, 80) <= 9
    assert brush.min() >= 7 and np.median(brush) >= 14


def test_cpu_cropped_and_batched_segment_drawing_agree() -> None:
    segments = torch.rand(6, 9, 5, generator=gen(4)) * torch.tensor([90.0, 120.0, 90.0, 120.0, 9])
    used = torch.rand(6, 9, generator=gen(5)) > 0.3
    cropped = draw_segments(segments, used, 90, 120, crop=True)
    assert torch.equal(cropped, draw_segments(segments, used, 90, 120, crop=False))
    assert cropped.any()


def test_mix_follows_its_weights_and_checks_them() -> None:
    mix = parse_hole_mix("scratches:3, large:1")
    assert mix == {"scratches": 0.75, "large": 0.25}
    masks = draw_holes(mix, gen(), 200, 256, 256)
    large = masks.mean((1, 2, 3)) > 0.06  # a third of each side covers ~11%; scratches ~2%
    assert 0.15 < float(large.float().mean()) < 0.35
    assert torch.equal(masks, draw_holes(mix, gen(), 200, 256, 256))
    assert parse_hole_mix({"brush": 2}) == {"brush": 1.0}
    for bad, message in (
        ("waves:1", "unknown hole kind 'waves'"),
        ("brush:x", "is not a number"),
        ({"brush": -1}, "weight must be a finite number >= 0"),
        ({"brush": float("inf")}, "weight must be a finite number >= 0"),
        ({"brush": 0}, "at least one kind"),
    ):
        with pytest.raises(PhotoreconError, match=message):
            parse_hole_mix(bad)
