"""ONNX export of a model (Fourier units as DFT matrix products); models/onnxrt.py runs it."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path
from photorecon.models.blocks import FourierUnit
from photorecon.models.onnxrt import OnnxModel

__all__ = ["OnnxModel", "export_onnx", "use_dft_matmul"]


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
            _add_metadata(tmp, {"thin_fill_px": str(getattr(model, "thin_fill_px", 0) or 0)})
    except Exception as exc:  # exporter failures are many kinds; report them in one line
        raise PhotoreconError(f"ONNX export failed: {first_line(exc)}") from None
    finally:
        use_dft_matmul(model, False)
    return out


def _add_metadata(path, entries: dict[str, str]) -> None:
    """Key-value pairs in an ONNX file's metadata (what the fill path needs to know of the
    network that torch no longer tells: models/onnxrt.py reads them)."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in entries.items():
        item = proto.metadata_props.add()
        item.key, item.value = key, value
    onnx.save(proto, str(path))


def export_detector_onnx(model: nn.Module, out: str | Path, size: int = 512, opset: int = 17):
    """Write a damage detector as ONNX: input `image` (B, 3, size, size) in [0, 1], output
    `logits` (B, 1, size, size); dynamic batch."""
    model = model.eval()
    out = Path(out)
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.rand(1, 3, size, size),),
                str(tmp),
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as exc:  # exporter failures are many kinds; report them in one line
        raise PhotoreconError(f"ONNX export failed: {first_line(exc)}") from None
    return out
