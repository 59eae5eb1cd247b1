"""A JPEG filled into a JPEG: only the blocks the holes touch are re-encoded.

Decoding a JPEG, filling its holes and encoding it again would re-quantise every block of the
photo (and Pillow would pick its own tables and chroma subsampling). Instead, as `jpegtran`
does for lossless crops, the input's DCT coefficients are kept: the filled photo is encoded
with the input's quantisation tables and subsampling, and only the MCUs (8x8 to 16x16 px
cells) where the filled pixels differ from the decoded input take the new coefficients; every
other block is copied as it was, with the input's markers (EXIF, colour profile, comments).
Decoded, pixels outside the replaced MCUs are identical, except within 1 px of them where the
chroma is subsampled (a decoder interpolates chroma across the MCU's edge).

`splice` returns None where this cannot be done (a progressive, greyscale, CMYK or EXIF-turned
JPEG, or one the reader rejects); the caller then re-encodes with the input's tables.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

ORIENTATION = 0x0112  # EXIF tag


def touched_mcus(changed: np.ndarray, mcu_h: int, mcu_w: int) -> np.ndarray:
    """(rows, cols) bool: the MCUs of a (H, W) image holding any changed pixel."""
    height, width = changed.shape
    rows, cols = -(-height // mcu_h), -(-width // mcu_w)
    padded = np.zeros((rows * mcu_h, cols * mcu_w), bool)
    padded[:height, :width] = changed
    return padded.reshape(rows, mcu_h, cols, mcu_w).any(axis=(1, 3))


def splice(source: bytes, decoded: np.ndarray, filled: np.ndarray) -> bytes | None:
    """The JPEG `source` (whose pixels decode to `decoded`, RGB uint8) with the MCUs where
    `filled` differs replaced by `filled`'s, encoded with the source's tables; None if the
    source is not a baseline YCbCr JPEG this can splice."""
    import jpeglib
    from PIL import Image

    if decoded.shape != filled.shape:
        return None
    with Image.open(io.BytesIO(source)) as header:
        if header.getexif().get(ORIENTATION, 1) != 1:  # the pixels were turned to fill them
            return None
    with tempfile.TemporaryDirectory(prefix="photorecon-jpeg-") as tmp:
        src, new, out = (str(Path(tmp) / n) for n in ("src.jpg", "new.jpg", "out.jpg"))
        Path(src).write_bytes(source)
        try:
            orig = jpeglib.read_dct(src)
            if orig.progressive_mode or orig.num_components != 3 or orig.has_black:
                return None
            if (orig.height, orig.width) != decoded.shape[:2]:
                return None
            changed = (decoded != filled).any(axis=2)
            if not changed.any():
                return source
            factors = np.asarray(orig.samp_factor)
            mcu_h, mcu_w = 8 * int(factors[:, 0].max()), 8 * int(factors[:, 1].max())
            touched = touched_mcus(changed, mcu_h, mcu_w)
            spatial = jpeglib.from_spatial(np.ascontiguousarray(filled))
            spatial.samp_factor = orig.samp_factor
            spatial.write_spatial(
                new,
                qt=orig.qt,
                quant_tbl_no=orig.quant_tbl_no,
                dct_method=jpeglib.DCTMethod.JDCT_ISLOW,
            )
            redone = jpeglib.read_dct(new)
            for name, (v, h) in zip(("Y", "Cb", "Cr"), factors, strict=True):
                keep, take = getattr(orig, name), getattr(redone, name)
                if keep.shape != take.shape:
                    return None
                blocks = np.repeat(np.repeat(touched, v, axis=0), h, axis=1)
                blocks = blocks[: keep.shape[0], : keep.shape[1]]
                keep[blocks] = take[blocks]
            orig.write_dct(out)
        except (OSError, ValueError, RuntimeError, IndexError, TypeError):
            return None
        return Path(out).read_bytes()
