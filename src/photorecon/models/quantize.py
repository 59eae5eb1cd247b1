"""A damage detector quantized to 8 bits for the CPU: weights per output channel and
activations per tensor as int8 (QDQ ONNX, onnxruntime's static quantizer), the activations'
ranges calibrated on the train photos of a photo pack, aged and damaged as the detector saw
them in training (`photorecon.damage.render_damage`; a third left clean).

OpenVINO runs it on integer units (VNNI) about four times as fast as the float32 export on
onnxruntime, at the same precision and recall (bench/RESULTS.md, session 15). The shipped
detector's quantized copy lies beside its weights (`weights/damage.int8.onnx`), made by
`photorecon export-onnx --model damage --int8 PACK`; its metadata names the weights it was made
from (`source_sha256`), and it is used only while they are the weights loaded
(`models/files.py int8_path`, `models/onnxrt.py open_int8`).
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


def calibration_tiles(pack: str | Path, side: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` tiles (1, 3, side, side) float32 in [0, 1] from the pack's train photos (the
    split every model trains on: seed 0), each a random crop aged and damaged (a third clean)."""
    from photorecon.damage import render_damage
    from photorecon.data.build import BuildConfig
    from photorecon.data.crops import pack_splits, random_crop
    from photorecon.imageio import read_image

    split = BuildConfig()  # `data build`'s split of a pack, which training holds out too
    train = pack_splits(pack, split.seed, split.val_frac, split.test_frac)["train"]
    if not train:
        raise PhotoreconError(f"{pack}: no train photos to calibrate on")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    tiles = []
    for i in range(count):
        photo = read_image(train[order[i % len(order)]])
        sample = render_damage(random_crop(photo, rng, side), rng, clean=rng.random() < CLEAN_SHARE)
        tiles.append(sample.image.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    return tiles


def quantize_detector(
    model,
    out: str | Path,
    pack: str | Path,
    side: int = 512,
    tiles: int = CALIBRATION_TILES,
    source: Path | None = None,
) -> Path:
    """Write `model` (a damage detector) as 8-bit ONNX at `side` (fixed, dynamic batch), its
    activations calibrated on `tiles` tiles of `pack` (the 99.999th percentile of each
    tensor's magnitudes: with each tensor's whole range, a few extreme values coarsened its
    steps and the val photos' recall fell from 0.81 to 0.77); `source` (the weights file) is
    recorded in its metadata. One line for anything that fails."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from photorecon.models.onnx import add_metadata, export_detector_onnx

    samples = calibration_tiles(pack, side, tiles)

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self._left = iter(samples)

        def get_next(self):
            tile = next(self._left, None)
            return None if tile is None else {"image": tile}

    out = Path(out)
    with tempfile.TemporaryDirectory() as work:
        plain, ready = Path(work) / "float.onnx", Path(work) / "ready.onnx"
        export_detector_onnx(model, plain, side)
        try:
            quant_pre_process(str(plain), str(ready))
            # the calibrator prints its progress: a command says only what it wrote
            with atomic_path(out) as tmp, contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(ready),
                    str(tmp),
                    Tiles(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.Percentile,
                )
                entries = {"int8_calibration": f"{len(samples)} tiles of {side} px, {pack}"}
                if source is not None:
                    entries[INT8_SOURCE] = file_sha256(source)
                add_metadata(tmp, entries)
        except PhotoreconError:
            raise
        except Exception as exc:  # the quantizer's failures are many kinds: one line
            raise PhotoreconError(f"8-bit quantization failed: {first_line(exc)}") from None
    return out
