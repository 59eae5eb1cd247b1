"""ONNX export of a model (Fourier units as DFT matrix products) and an onnxruntime runner."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path
from photorecon.models.base import InpaintModel
from photorecon.models.blocks import FourierUnit


def use_dft_matmul(model: nn.Module, enabled: bool = True) -> None:
    """Switch every FourierUnit between torch.fft and the exportable matrix-product DFT."""
    for module in model.modules():
        if isinstance(module, FourierUnit):
            module.dft_matmul = enabled


def export_onnx(model: nn.Module, out: str | Path, size: int = 256, opset: int = 17) -> Path:
    """Write `model` as ONNX with inputs masked (B,3,size,size), mask (B,1,size,size).

    The batch is dynamic; height and width are fixed to `size` (the DFT matrices are built for
    it), which is what the challenge's 256x256 photos and fill's work windows use.
    """
    model = model.eval()
    use_dft_matmul(model, True)
    masked = torch.rand(1, 3, size, size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : size // 2, size // 4 : size // 2] = 1
    out = Path(out)
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (masked, mask),
                str(tmp),
                input_names=["masked", "mask"],
                output_names=["image"],
                dynamic_axes={"masked": {0: "batch"}, "mask": {0: "batch"}, "image": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as exc:  # exporter failures are many kinds; report them in one line
        raise PhotoreconError(f"ONNX export failed: {first_line(exc)}") from None
    finally:
        use_dft_matmul(model, False)
    return out


class OnnxModel(nn.Module, InpaintModel):
    """The inpainting contract backed by an onnxruntime CPU session (a learned network: the
    fill path runs it on windows shrunk to its size, like the torch model)."""

    kind = "supervised"

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise PhotoreconError(
                "running ONNX models needs onnxruntime (pip install photorecon[onnx])"
            ) from None

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise PhotoreconError(f"{path}: cannot load ONNX model ({first_line(exc)})") from None
        shape = self.session.get_inputs()[0].shape
        self.size = tuple(shape[2:])

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill; inputs smaller than the model's fixed size are mirrored out to it, then cut."""
        height, width = masked.shape[2:]
        if height > self.size[0] or width > self.size[1]:
            raise PhotoreconError(
                f"this ONNX model takes images up to {self.size}, got {(height, width)}"
            )
        pad = (0, self.size[1] - width, 0, self.size[0] - height)
        if any(pad):
            mode = "reflect" if pad[1] < width and pad[3] < height else "replicate"
            masked = nn.functional.pad(masked, pad, mode=mode)
            mask = nn.functional.pad(mask, pad, mode=mode)  # mirrored holes stay holes
        (image,) = self.session.run(
            ["image"],
            {
                "masked": masked.detach().cpu().numpy().astype(np.float32),
                "mask": mask.detach().cpu().numpy().astype(np.float32),
            },
        )
        return torch.from_numpy(image[..., :height, :width]).to(masked.device)
