"""ONNX export of a model (Fourier units as DFT matrix products); models/onnxrt.py runs it."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path
from photorecon.models.base import thin_fill_px_of, window_sides_of
from photorecon.models.blocks import FourierUnit
from photorecon.models.files import Found, onnx_cache_path, prune_exports

__all__ = [
    "add_metadata",
    "export_detector_onnx",
    "export_onnx",
    "export_to_cache",
    "use_dft_matmul",
]


def use_dft_matmul(model: nn.Module, enabled: bool = True) -> None:
    """Switch every FourierUnit between torch.fft and the exportable matrix-product DFT."""
    for module in model.modules():
        if isinstance(module, FourierUnit):
            module.dft_matmul = enabled


def _export(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    outputs: list[str],
    out: str | Path,
    opset: int,
    metadata: dict[str, str] | None = None,
) -> Path:
    """torch.onnx.export with a dynamic batch axis on every input and output, written
    atomically, with `metadata` in the file; any exporter failure is one line."""
    out = Path(out)
    names = [*inputs, *outputs]
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                tuple(inputs.values()),
                str(tmp),
                input_names=list(inputs),
                output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in names},
                opset_version=opset,
                dynamo=False,
            )
            if metadata:
                add_metadata(tmp, metadata)
        _write_canary(model, inputs, out)
    except PhotoreconError:
        raise
    except Exception as exc:  # exporter failures are many kinds; report them in one line
        raise PhotoreconError(f"ONNX export failed: {first_line(exc)}") from None
    return out


def _write_canary(model: nn.Module, inputs: dict[str, torch.Tensor], out: Path) -> None:
    """The export's sidecar (models/exportcheck.py): its hash and the network's outputs on
    the canary input, so a damaged cache entry is never used quietly."""
    from photorecon.models.exportcheck import canary_inputs, write_check

    shapes = {name: [1, *t.shape[1:]] for name, t in inputs.items()}
    feeds = canary_inputs(shapes)
    with torch.no_grad():
        result = model(*(torch.from_numpy(feeds[name]) for name in inputs))
    outputs = list(result) if isinstance(result, tuple | list) else [result]
    write_check(out, shapes, [o.float().numpy() for o in outputs])


class _Parts(nn.Module):
    """A blending model's net fill and gate share as two outputs (its `forward_parts`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, masked: torch.Tensor, mask: torch.Tensor):
        return self.model.forward_parts(masked, mask)


def export_onnx(
    model: nn.Module, out: str | Path, size: int = 256, opset: int = 17, parts: bool = False
) -> Path:
    """Write `model` as ONNX with inputs masked (B,3,size,size), mask (B,1,size,size).

    The batch is dynamic; height and width are fixed to `size` (the DFT matrices are built for
    it), which is what the challenge's 256x256 photos and fill's work windows use. The output
    `image` is the model's fill; with `parts`, a model that blends its fill with the harmonic
    fill (ffc's `blend`) stops before the blend: outputs `image` (the net's own fill) and
    `share` (the gate's), and `OnnxModel` solves the harmonic fill on the holes alone and mixes
    them, where the graph would sweep the whole frame.
    """
    model = model.eval()
    use_dft_matmul(model, True)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : size // 2, size // 4 : size // 2] = 1
    inputs = {"masked": torch.rand(1, 3, size, size), "mask": mask}
    metadata = {
        "thin_fill_px": str(thin_fill_px_of(model)),
        "window_sides": ",".join(str(s) for s in window_sides_of(model)),
        "parameters": str(sum(p.numel() for p in model.parameters())),
    }
    outputs = ["image"]
    split = parts and getattr(model, "blend", "none") == "harmonic"
    if split:
        model, outputs, metadata["blend"] = _Parts(model).eval(), ["image", "share"], "harmonic"
    try:
        return _export(model, inputs, outputs, out, opset, metadata)
    finally:
        use_dft_matmul(model.model if split else model, False)


def add_metadata(path, entries: dict[str, str]) -> None:
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
    return _export(model.eval(), {"image": torch.rand(1, 3, size, size)}, ["logits"], out, opset)


def export_to_cache(found: Found, role: str, model: nn.Module | None, side: int) -> Path:
    """The resolved spec's network exported at `side` for its role (a detector's tile, a
    fill's window) into the cache, made now when it is not there (the model built from its
    weights on first need); the exports it replaces go (`prune_exports`)."""
    if found.weights is None:
        raise PhotoreconError(f"{found.text}: no weights file to export")
    path = onnx_cache_path(found.weights, side)
    if not path.is_file():
        from photorecon.models.registry import build

        net = (model if model is not None else build(found, "cpu", role)).cpu()
        if role == "detector":
            export_detector_onnx(net, path, side)
        else:
            export_onnx(net, path, size=side, parts=True)
        prune_exports(path)
    return path
