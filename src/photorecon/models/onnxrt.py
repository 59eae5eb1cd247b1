"""A learned model on onnxruntime, on NumPy arrays: no torch at run time.

An exported model has a fixed input side (its Fourier units' DFT matrices are built for it),
so one model may be exported at several sides (64, 128, 256): each window runs on the
smallest that holds it, mirrored out to that side and cut back. Sessions use the thread count
`photorecon.threads` chose, with spinning off, so they never busy-wait on a shared machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photorecon.errors import PhotoreconError, first_line
from photorecon.models.arrays import ArrayInpainter

Exporter = Callable[[int], Path]  # side -> the path of the model exported at that side


def mirror_out(image: np.ndarray, mask: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, C) and mask (H, W) mirrored at the bottom and right (holes mirrored too)
    to at least side x side; repeated where a side is a single pixel."""
    border = cv2.BORDER_REFLECT_101 if min(mask.shape) > 1 else cv2.BORDER_REPLICATE
    pad_h, pad_w = max(0, side - mask.shape[0]), max(0, side - mask.shape[1])
    while pad_h or pad_w:  # reflection adds at most the size minus one per pass
        step_h, step_w = min(pad_h, mask.shape[0] - 1), min(pad_w, mask.shape[1] - 1)
        if border == cv2.BORDER_REPLICATE:
            step_h, step_w = pad_h, pad_w
        image = cv2.copyMakeBorder(image, 0, step_h, 0, step_w, border)
        mask = cv2.copyMakeBorder(mask, 0, step_h, 0, step_w, border)
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return image, mask


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for `path`: `threads` intra-op threads, none spinning."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise PhotoreconError(
            "running ONNX models needs onnxruntime (pip install photorecon[onnx])"
        ) from None
    from photorecon.threads import session_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or session_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own kinds for bad files
        raise PhotoreconError(f"{path}: cannot load ONNX model ({first_line(exc)})") from None


def fixed_size(run, path: str | Path) -> tuple[int, int]:
    """The fixed (H, W) of a session's first input (batch, C, H, W); one line otherwise."""
    shape = run.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
        raise PhotoreconError(f"{path}: expected inputs (batch, 3, H, W) of a fixed size")
    return int(shape[2]), int(shape[3])


class OnnxModel(ArrayInpainter):
    """The inpainting contract on onnxruntime: `fill_arrays` on (B, H, W, 3) arrays, and the
    tensor contract through it. Learned: the fill path runs it on windows at its scale.

    `path` is an exported model; `exporter` (optional) exports the same network at another
    side when a window fits a smaller one (64 or 128), so small windows cost less."""

    kind = "supervised"
    SIDES = (32, 64, 128, 256)

    def __init__(
        self, path: str | Path, exporter: Exporter | None = None, threads: int | None = None
    ) -> None:
        self.threads = threads
        self.exporter = exporter
        first = session(path, threads)
        self.size = fixed_size(first, path)
        self.sessions: dict[tuple[int, int], Any] = {self.size: first}
        self.work_size = max(self.size)
        meta = first.get_modelmeta().custom_metadata_map or {}
        self.thin_fill_px = int(meta.get("thin_fill_px", "0") or 0)  # written by export_onnx
        self.parameter_count = int(meta.get("parameters", "0") or 0)  # the net's, for tables

    def _session_for(self, height: int, width: int):
        """The smallest session whose input holds (height, width)."""
        fitting = [s for s in self.sessions if s[0] >= height and s[1] >= width]
        if self.exporter is not None and self.size[0] == self.size[1]:
            side = next((s for s in self.SIDES if s >= max(height, width)), None)
            if side is not None and side < self.size[0] and (side, side) not in self.sessions:
                self.sessions[(side, side)] = session(self.exporter(side), self.threads)
                fitting.append((side, side))
        if not fitting:
            raise PhotoreconError(
                f"this ONNX model takes images up to {self.size}, got {(height, width)}"
            )
        size = min(fitting, key=lambda s: s[0] * s[1])
        return size, self.sessions[size]

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        height, width = masks.shape[1:]
        size, run = self._session_for(height, width)
        if (height, width) != size:
            pairs = [mirror_out(m, k, max(size)) for m, k in zip(masked, masks, strict=True)]
            images = np.stack([p[0][: size[0], : size[1]] for p in pairs])
            holes = np.stack([p[1][: size[0], : size[1]] for p in pairs])
        else:
            images, holes = masked, masks
        (out,) = run.run(
            ["image"],
            {
                "masked": np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32),
                "mask": np.ascontiguousarray(holes[:, None], np.float32),
            },
        )
        return out.transpose(0, 2, 3, 1)[:, :height, :width]


class OnnxDetector:
    """A damage detector on onnxruntime: uint8 RGB tiles (B, h, w, 3) -> damage probability
    (B, h, w); tiles smaller than the export's fixed side are mirrored out to it and cut back."""

    kind = "detector"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.session = session(path, threads)
        self.size = fixed_size(self.session, path)

    def probability(self, tiles: np.ndarray) -> np.ndarray:
        _, height, width = tiles.shape[:3]
        if (height, width) != self.size:
            blank = np.zeros((height, width), np.float32)
            tiles = np.stack(
                [
                    mirror_out(t, blank, max(self.size))[0][: self.size[0], : self.size[1]]
                    for t in tiles
                ]
            )
        x = np.ascontiguousarray(tiles.transpose(0, 3, 1, 2), np.float32) / np.float32(255)
        (logits,) = self.session.run(None, {self.session.get_inputs()[0].name: x})
        return (1.0 / (1.0 + np.exp(-logits[:, 0, :height, :width]))).astype(np.float32)
