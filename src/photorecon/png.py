"""A fast PNG encoder for the filled photos: Sub-filtered rows, deflated in parallel.

Pillow filters and deflates a PNG on one thread: a noisy 24-megapixel photo took 2.5-3.7 s at
zlib level 1 on 2 cores. Here each row gets the Sub filter (its difference to the pixel on
its left, one NumPy operation for the whole image), and the filtered rows are deflated in
independent parts on a few threads (zlib releases the GIL), joined the way pigz does it: every
part but the last ends in a sync flush, so the parts concatenate into one valid deflate stream.
The same photo then takes about 1.1 s for the same size on disk. The colour profile (iCCP) and
EXIF (eXIf) chunks are written as Pillow writes them.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDAT_BYTES = 8 * 2**20  # the image data goes into chunks of this size
PART_BYTES = 4 * 2**20  # deflated in parts of about this size, in parallel


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def sub_filtered(pixels: np.ndarray) -> bytes:
    """Rows with filter type 1 (Sub): each byte minus the same channel's byte one pixel left."""
    height, width, channels = pixels.shape
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    out = np.empty((height, width * channels + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1 : channels + 1] = rows[:, :channels]
    np.subtract(rows[:, channels:], rows[:, :-channels], out=out[:, channels + 1 :])
    return out.tobytes()


def deflate(data: bytes, level: int, strategy: int, threads: int) -> bytes:
    """A zlib stream of `data`, its parts deflated on `threads` threads."""
    count = max(1, min(64, -(-len(data) // PART_BYTES)))
    size = -(-len(data) // count) if data else 1
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]

    def one(i: int) -> bytes:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
        end = zlib.Z_FINISH if i == len(parts) - 1 else zlib.Z_SYNC_FLUSH
        return packer.compress(parts[i]) + packer.flush(end)

    if threads > 1 and len(parts) > 1:
        with ThreadPoolExecutor(min(threads, len(parts))) as pool:
            blocks = list(pool.map(one, range(len(parts))))
    else:
        blocks = [one(i) for i in range(len(parts))]
    header = b"\x78\x01"  # deflate, 32 KiB window, fastest; (0x7801 % 31 == 0)
    return header + b"".join(blocks) + struct.pack(">I", zlib.adler32(data))


def encode_png(
    pixels: np.ndarray,
    *,
    icc: bytes | None = None,
    exif: bytes | None = None,
    level: int = 1,
    strategy: int = zlib.Z_RLE,
    threads: int | None = None,
) -> bytes:
    """PNG bytes of an 8- or 16-bit RGB (H, W, 3) or RGBA (H, W, 4) image (uint8 or uint16),
    with optional ICC profile and EXIF (with or without its "Exif" prefix)."""
    if (
        pixels.dtype not in (np.uint8, np.uint16)
        or pixels.ndim != 3
        or pixels.shape[2] not in (3, 4)
    ):
        raise ValueError(
            f"encode_png takes (H, W, 3|4) uint8 or uint16, got {pixels.dtype} {pixels.shape}"
        )
    height, width, channels = pixels.shape
    color = 2 if channels == 3 else 6
    depth = 8 * pixels.dtype.itemsize
    if depth == 16:  # big-endian samples; the Sub filter works on whole pixels' bytes
        pixels = pixels.astype(">u2").view(np.uint8).reshape(height, width, 2 * channels)
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    out = [SIGNATURE, _chunk(b"IHDR", header)]
    if icc:
        out.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif:
        out.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    threads = threads or min(os.cpu_count() or 1, 8)
    data = deflate(sub_filtered(pixels), level, strategy, threads)
    for start in range(0, len(data), IDAT_BYTES):
        out.append(_chunk(b"IDAT", data[start : start + IDAT_BYTES]))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
