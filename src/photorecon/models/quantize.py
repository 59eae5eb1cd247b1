"""A network quantized to 8 bits for the CPU: weights per output channel and activations per
tensor as int8 (QDQ ONNX, onnxruntime's static quantizer), the activations' ranges calibrated
on the train photos of a photo pack as the network saw them in training: a damage detector's
tiles aged and damaged (`photorecon.damage.render_damage`; a third left clean), a fill's
windows with holes of every kind (`photorecon.masks`). A fill's convolutions alone are
quantized: its Fourier units' DFT matrix products stay in float32.

OpenVINO runs such a copy on integer units (VNNI): the detector about four times as fast as
its float32 export on onnxruntime at the same precision and recall (bench/RESULTS.md, session
15), ffc's 256-px windows about twice (session 16). The shipped quantized copies lie beside
their weights (`weights/damage.int8.onnx`, `weights/ffc.int8.onnx`), made by `photorecon
export-onnx --model NAME --int8 PACK`; the metadata names the weights each was made from
(`source_sha256`), and it is used only while they are the weights loaded (`models/files.py
int8_path`, `models/onnxrt.py open_int8`).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path, file_sha256
from photorecon.models.files import INT8_SOURCE

CALIBRATION_TILES = 64
CLEAN_SHARE = 1 / 3  # calibration tiles left undamaged


def train_crops(pack: str | Path, side: int, count: int, rng: np.random.Generator):
    """`count` random crops (side x side, uint8 RGB) of the pack's train photos (the split
    every model trains on: `data build`'s), the photos taken in a shuffled round."""
    from photorecon.data.build import BuildConfig
    from photorecon.data.crops import pack_splits, random_crop
    from photorecon.imageio import read_image

    split = BuildConfig()  # `data build`'s split of a pack, which training holds out too
    train = pack_splits(pack, split.seed, split.val_frac, split.test_frac)["train"]
    if not train:
        raise PhotoreconError(f"{pack}: no train photos to calibrate on")
    order = rng.permutation(len(train))
    for i in range(count):
        yield random_crop(read_image(train[order[i % len(order)]]), rng, side)


def calibration_tiles(pack: str | Path, side: int, count: int, seed: int = 0) -> list[dict]:
    """A detector's `count` inputs {"image": (1, 3, side, side) float32 in [0, 1]}: crops of
    the pack's train photos, each aged and damaged (a third clean)."""
    from photorecon.damage import render_damage

    rng = np.random.default_rng(seed)
    tiles = []
    for crop in train_crops(pack, side, count, rng):
        sample = render_damage(crop, rng, clean=rng.random() < CLEAN_SHARE)
        tiles.append({"image": sample.image.transpose(2, 0, 1)[None].astype(np.float32) / 255})
    return tiles


def calibration_windows(pack: str | Path, side: int, count: int, seed: int = 0) -> list[dict]:
    """A fill's `count` inputs {"masked", "mask"} at `side`: crops of the pack's train photos,
    each with holes of one kind, every kind in turn (`photorecon.masks.HOLE_KINDS`)."""
    from photorecon.masks import HOLE_KINDS, draw_kind, generator_from

    rng = np.random.default_rng(seed)
    windows = []
    for i, crop in enumerate(train_crops(pack, side, count, rng)):
        kind = HOLE_KINDS[i % len(HOLE_KINDS)]
        mask = draw_kind(kind, generator_from(rng), 1, side, side).numpy()
        image = crop.transpose(2, 0, 1)[None].astype(np.float32) / 255
        windows.append({"masked": image * (1 - mask), "mask": mask})
    return windows


def quantize_model(
    model,
    role: str,
    out: str | Path,
    pack: str | Path,
    side: int,
    tiles: int = CALIBRATION_TILES,
    source: Path | None = None,
) -> Path:
    """Write `model` (a damage detector, or for `role` "fill" a learned fill) as 8-bit ONNX at
    `side` (fixed, dynamic batch), its activations calibrated on `tiles` inputs from `pack`
    (the 99.999th percentile of each tensor's magnitudes: with each tensor's whole range, a
    few extreme values coarsened its steps and the detector's recall on the val photos fell
    from 0.81 to 0.77); `source` (the weights file) is recorded in its metadata. A fill is
    exported as its cache holds it (a blending fill's net and gate apart) and keeps its
    metadata. One line for anything that fails."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from photorecon.models.onnx import add_metadata, export_detector_onnx, export_onnx

    fill = role == "fill"
    samples = (calibration_windows if fill else calibration_tiles)(pack, side, tiles)

    class Inputs(CalibrationDataReader):
        def __init__(self) -> None:
            self._left = iter(samples)

        def get_next(self):
            return next(self._left, None)

    out = Path(out)
    with tempfile.TemporaryDirectory() as work:
        plain, ready = Path(work) / "float.onnx", Path(work) / "ready.onnx"
        if fill:
            export_onnx(model, plain, size=side, parts=True)
        else:
            export_detector_onnx(model, plain, side)
        try:
            # a fill's graph has no symbolic shapes to infer (its sides are fixed)
            quant_pre_process(str(plain), str(ready), skip_symbolic_shape=fill)
            # the calibrator prints its progress: a command says only what it wrote
            with atomic_path(out) as tmp, contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(ready),
                    str(tmp),
                    Inputs(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.Percentile,
                    op_types_to_quantize=["Conv"] if fill else None,
                )
                what = "windows" if fill else "tiles"
                entries = {"int8_calibration": f"{len(samples)} {what} of {side} px, {pack}"}
                if source is not None:
                    entries[INT8_SOURCE] = file_sha256(source)
                add_metadata(tmp, entries)
        except PhotoreconError:
            raise
        except Exception as exc:  # the quantizer's failures are many kinds: one line
            raise PhotoreconError(f"8-bit quantization failed: {first_line(exc)}") from None
    return out
