"""BatchNorm statistics recomputed for the weights they will be used with.

An EMA (or any average) of a network's weights inherits running statistics that were gathered
by other weights: the live ones, each a little different, step after step. Forwarding training
batches through the averaged weights, in training mode and with a cumulative average instead of
BatchNorm's momentum, gives them statistics of their own (as SWA does with `update_bn`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str,
) -> int:
    """Replace `model`'s BatchNorm running statistics by their average over `batches`.

    Each batch is `(images uint8 (B,3,H,W), masks (B,1,H,W), 1 = missing)`, as the training
    loader yields them; the model sees them as in training (holes zeroed). Returns how many
    images were forwarded; a model without BatchNorm is left alone (returns 0). The model's
    train/eval mode and the layers' momentum are restored.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    stream = iter(batches)
    first = next(stream, None)
    if first is None:  # checked before the statistics are reset, so nothing is lost
        raise ValueError("recalibrate_batchnorm needs at least one batch")
    momenta = [layer.momentum for layer in layers]
    was_training = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    seen = 0
    try:
        for images, masks in itertools.chain([first], stream):
            images = images.to(device).float() / 255
            masks = masks.to(device)
            model(images * (1 - masks), masks)
            seen += images.shape[0]
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)
    return seen
