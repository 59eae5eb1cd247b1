"""Shared building blocks: conv-norm-act and LaMa-style Fast Fourier Convolutions (FFC)."""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_norm_act(
    cin: int, cout: int, kernel: int = 3, stride: int = 1, *, norm: bool = True, act: bool = True
) -> nn.Sequential:
    """Conv (reflect padding) -> BatchNorm -> ReLU; padding keeps size for stride 1."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, padding_mode="reflect", bias=not norm)
    ]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _dft_mats(n: int, bins: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2*pi*i*k/n for i < n, k < bins, as (n, bins) matrices."""
    i = torch.arange(n, device=like.device, dtype=torch.float32)[:, None]
    k = torch.arange(bins, device=like.device, dtype=torch.float32)[None, :]
    angle = (2 * math.pi / n) * (i * k)
    return torch.cos(angle), torch.sin(angle)


def rfft2_matmul(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.fft.rfft2(x, norm="ortho")` as real matrix products (real, imag); ONNX-friendly."""
    h, w = x.shape[-2:]
    cw, sw = _dft_mats(w, w // 2 + 1, x)
    ch, sh = _dft_mats(h, h, x)
    a, b = x @ cw, -(x @ sw)  # along W: real input, half spectrum
    real = ch @ a + sh @ b  # along H: multiply by (cos - i sin)
    imag = ch @ b - sh @ a
    scale = 1.0 / math.sqrt(h * w)
    return real * scale, imag * scale


def irfft2_matmul(real: torch.Tensor, imag: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """`torch.fft.irfft2(real + i imag, s=(h, w), norm="ortho")` as real matrix products."""
    bins = w // 2 + 1
    ch, sh = _dft_mats(h, h, real)
    cw, sw = _dft_mats(w, bins, real)
    yr = ch @ real - sh @ imag  # inverse along H: multiply by (cos + i sin)
    yi = ch @ imag + sh @ real
    # Hermitian completion along W: every bin but DC (and Nyquist for even w) counts twice
    weight = torch.full((bins,), 2.0, device=real.device)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    x = yr @ (cw * weight).transpose(0, 1) - yi @ (sw * weight).transpose(0, 1)
    return x / math.sqrt(h * w)


class FourierUnit(nn.Module):
    """Pointwise conv in the 2-D frequency domain: a global receptive field in one layer."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(2 * channels)
        self.act = nn.ReLU(inplace=True)
        # ONNX export switches to the matrix-product DFT (exporters lack rfft2/irfft2)
        self.dft_matmul = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        dtype = x.dtype
        # cuFFT has no bf16 path and half precision only for powers of two: run the FFT in fp32.
        with torch.autocast(device_type=x.device.type, enabled=False):
            if self.dft_matmul:
                real, imag = rfft2_matmul(x.float())
            else:
                freq = torch.fft.rfft2(x.float(), norm="ortho")
                real, imag = freq.real, freq.imag
            y = self.act(self.norm(self.conv(torch.cat([real, imag], dim=1))))
            real, imag = y.chunk(2, dim=1)
            if self.dft_matmul:
                out = irfft2_matmul(real, imag, h, w)
            else:
                out = torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho")
        return out.to(dtype)


class SpectralTransform(nn.Module):
    """LaMa's global branch: 1x1 reduce -> FourierUnit (+ residual) -> 1x1 expand."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        hidden = max(cout // 2, 1)
        self.reduce = conv_norm_act(cin, hidden, 1)
        self.fourier = FourierUnit(hidden)
        self.expand = nn.Conv2d(hidden, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.expand(x + self.fourier(x))


class FFC(nn.Module):
    """Fast Fourier Convolution on a (local, global) channel split; `ratio` = global share."""

    def __init__(self, channels: int, ratio: float = 0.75) -> None:
        super().__init__()
        self.cg = round(channels * ratio)
        self.cl = channels - self.cg
        cl, cg = self.cl, self.cg
        self.l2l = nn.Conv2d(cl, cl, 3, padding=1, padding_mode="reflect", bias=False)
        self.l2g = nn.Conv2d(cl, cg, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2l = nn.Conv2d(cg, cl, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2g = SpectralTransform(cg, cg)
        self.norm_l = nn.BatchNorm2d(cl)
        self.norm_g = nn.BatchNorm2d(cg)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xl, xg = x.split([self.cl, self.cg], dim=1)
        yl = self.act(self.norm_l(self.l2l(xl) + self.g2l(xg)))
        yg = self.act(self.norm_g(self.l2g(xl) + self.g2g(xg)))
        return torch.cat([yl, yg], dim=1)


class FFCResBlock(nn.Module):
    """Two FFCs with a residual connection."""

    def __init__(self, channels: int, ratio: float = 0.75) -> None:
        super().__init__()
        self.ffc1 = FFC(channels, ratio)
        self.ffc2 = FFC(channels, ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ffc2(self.ffc1(x))


class UpBlock(nn.Module):
    """Nearest 2x upsample -> conv-norm-act, optionally fusing an encoder skip first."""

    def __init__(self, cin: int, cout: int, skip: int = 0) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = conv_norm_act(cin + skip, cout, 3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)
