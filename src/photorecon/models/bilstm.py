"""`bilstm` (seed 000): each channel's rows as a sequence through a 2-layer bidirectional LSTM."""

from __future__ import annotations

import torch
from torch import nn

from photorecon.models.base import InpaintModel
from photorecon.models.registry import register_model


class RowBiLSTM(nn.Module, InpaintModel):
    """Rows of each channel -> BiLSTM(width -> hidden, 2 layers) -> Linear(2*hidden -> width)."""

    kind = "supervised"

    def __init__(self, *, width: int = 256, hidden: int = 128, layers: int = 2) -> None:
        super().__init__()
        self.width = width
        self.lstm = nn.LSTM(width, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, width)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, h, w = masked.shape
        x = masked * (1 - mask)
        if w != self.width:  # the LSTM reads rows of a fixed width: resize and back
            x = nn.functional.interpolate(
                x, size=(h, self.width), mode="bilinear", align_corners=False
            )
        rows = x.reshape(b * c, h, self.width)  # (batch*channels, sequence of rows, row pixels)
        out = self.proj(self.lstm(rows)[0]).reshape(b, c, h, self.width)
        if w != self.width:
            out = nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out


@register_model("bilstm", model=RowBiLSTM, summary="seed 000 row-wise bidirectional LSTM")
def bilstm(**kwargs) -> nn.Module:
    return RowBiLSTM(**kwargs)
