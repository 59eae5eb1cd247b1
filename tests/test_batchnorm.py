"""BatchNorm statistics recomputed for a set of weights (EMA checkpoints)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from photorecon.models.registry import create_model
from photorecon.train.batchnorm import recalibrate_batchnorm


class Probe(nn.Module):
    """The model contract around one BatchNorm layer that sees the masked image."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.bn(masked)


def constant_batch(value: int, holes: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.full((2, 3, 4, 4), value, dtype=torch.uint8)
    masks = torch.zeros(2, 1, 4, 4)
    if holes:
        masks[:, :, :2] = 1  # half of each image missing: zeros where the net sees it
    return images, masks


def test_statistics_are_the_plain_average_over_batches_and_modes_are_restored() -> None:
    model = Probe().eval()
    seen = recalibrate_batchnorm(model, [constant_batch(51), constant_batch(153)], "cpu")
    assert seen == 4
    # cumulative average of the two batch means 0.2 and 0.6 (momentum 0.1 would give 0.0764)
    assert torch.allclose(model.bn.running_mean, torch.full((3,), 0.4))
    assert model.bn.momentum == 0.1 and not model.training


def test_the_net_sees_holes_zeroed_as_in_training() -> None:
    model = Probe()
    recalibrate_batchnorm(model, [constant_batch(255, holes=True)], "cpu")
    assert torch.allclose(model.bn.running_mean, torch.full((3,), 0.5))
    assert model.training  # it was in training mode, and stays so


def test_no_batches_is_refused_before_anything_is_reset() -> None:
    model = Probe()
    model.bn.running_mean.fill_(0.3)
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batchnorm(model, iter([]), "cpu")
    assert torch.allclose(model.bn.running_mean, torch.full((3,), 0.3))


def test_recalibration_changes_only_batchnorm_buffers_of_ffc() -> None:
    torch.manual_seed(0)
    model = create_model("ffc", width=4, downs=2, blocks=1, max_width=8).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    masks = torch.zeros(4, 1, 32, 32)
    masks[:, :, 8:20, 8:20] = 1
    recalibrate_batchnorm(model, [(images, masks)], "cpu")
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed
    )
