"""Reading and writing images at the edges: RGB uint8 arrays (H, W, 3) inside."""

from __future__ import annotations

import io
import math
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# The one pixel limit of every image photorecon opens (CLI, API, server, training data): a
# 24-megapixel photo is a fifth of it; a decompression bomb (a few bytes declaring 50000x50000)
# is refused from its header, before anything is decoded. PHOTORECON_MAX_PIXELS changes it.
MAX_PIXELS_ENV = "PHOTORECON_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 120_000_000
# what Pillow's decoders raise on corrupt or hostile bytes (fuzzing found the TIFF reader's
# KeyError and TypeError; struct.error and IndexError come from truncated headers)
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    IndexError,
    ZeroDivisionError,
    struct.error,
)


class ImageTooLarge(PhotoreconError):
    """An image over the pixel limit (the server answers 413)."""


def max_pixels() -> int:
    """The pixel limit: $PHOTORECON_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    raw = os.environ.get(MAX_PIXELS_ENV, "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise PhotoreconError(f"{MAX_PIXELS_ENV}={raw!r} is not a whole number") from None
    if value <= 0:
        raise PhotoreconError(f"{MAX_PIXELS_ENV}={raw!r} must be positive")
    return value


ORIENTATION = 0x0112  # EXIF tag: the pixels come back already turned, so it is reset to 1
# zlib level 1 for the photos photorecon writes (photorecon.png: Sub-filtered rows, run-length
# matching, deflated on several threads): a noisy 24-megapixel photo in about 1.1 s and 39 MiB
# on 2 cores, where Pillow took 2.5-3.7 s for 39-45 MiB; level 6 takes several times longer
PNG_LEVEL = 1
LOSSY = {"JPEG", "WEBP"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}


@dataclass
class Photo:
    """A user's photo: RGB pixels as filled, and what goes back out with them."""

    rgb: np.ndarray  # uint8 (H, W, 3), EXIF-turned
    alpha: np.ndarray | None  # uint8 (H, W), untouched by the fill
    exif: bytes | None  # orientation reset to 1
    icc: bytes | None
    format: str = ""  # Pillow's name of the input's format ("PNG", "JPEG", ...)
    # a JPEG input's file bytes, kept so a JPEG output re-encodes only the blocks the fill
    # touched (photorecon.jpegsplice), or at least keeps the input's tables
    jpeg: bytes | None = None
    # a 16-bit RGB(A) PNG or TIFF input's own samples, uint16 (H, W, 3|4), EXIF-turned: a PNG
    # or TIFF output keeps them outside the holes and gets 16 bits (Pillow reads them as 8)
    deep: np.ndarray | None = None


class ImageModeWarning(UserWarning):
    """An image was converted to RGB (grayscale, palette, alpha...)."""


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Convert any PIL mode to RGB, warning when information (alpha, colour) is changed.

    High-bit-depth grayscale (16-bit "I;16", 32-bit "I", float "F") is scaled to 8 bits, not
    clipped (a 16-bit scan would otherwise come back almost all white).
    """
    if image.mode == "RGB":
        return image
    warnings.warn(f"{name}: converted {image.mode} image to RGB", ImageModeWarning, stacklevel=2)
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or (image.mode == "I" and values.max() > 255):
            top = 65535.0
        elif image.mode == "F":
            top = 1.0 if values.max() <= 1.0 else max(float(values.max()), 1.0)
        else:
            top = 255.0
        gray = np.clip(np.rint(values / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite over white: transparent areas become white, not black. (fill keeps the
        # alpha apart, read_photo; this is for readers that want plain RGB.)
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode(source: str | Path | bytes, name: str, shrink_to: int = 0) -> Image.Image:
    """Open and decode an image (a path or bytes), loaded and EXIF-turned (camera JPEGs store
    their orientation there: fill what the user sees), mode untouched. Over the pixel limit:
    ImageTooLarge, from the header alone; undecodable: PhotoreconError. Animated images give
    their first frame, with a warning. `shrink_to` > 0 lets a JPEG decode at 1/2, 1/4 or 1/8
    scale where its long side stays at least that (its DCT scaled: several times faster)."""
    limit = max_pixels()
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns or raises at its process-wide limit; ours is below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as im:
                width, height = im.size
                if width * height > limit:
                    raise ImageTooLarge(
                        f"{name}: image is {width}x{height} ({width * height:,} pixels), over "
                        f"the limit of {limit:,} pixels (set {MAX_PIXELS_ENV} to change it)"
                    )
                if getattr(im, "n_frames", 1) > 1:
                    warnings.warn(
                        f"{name}: has {im.n_frames} frames; only the first is used",
                        ImageModeWarning,
                        stacklevel=2,
                    )
                if shrink_to and im.format == "JPEG" and max(width, height) > shrink_to:
                    scale = shrink_to / max(width, height)
                    im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
                im.load()
                turned = ImageOps.exif_transpose(im)
                turned.format = im.format  # a copy forgets which format it came from
                return turned
    except Image.DecompressionBombError as exc:
        # Pillow's own check fired first (at twice its limit): it names the declared size only
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)):,} pixels" if declared else "too many pixels"
        raise ImageTooLarge(
            f"{name}: image has {size}, over the limit of {limit:,} pixels "
            f"(set {MAX_PIXELS_ENV} to change it)"
        ) from None
    except DECODE_ERRORS as exc:
        raise PhotoreconError(f"{name}: cannot read image ({first_line(exc)})") from None


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H, W, 3); a clear error if it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise PhotoreconError(f"{path}: no such image file")
    return decode_rgb(path, str(path))


def decode_rgb(source: str | Path | bytes, name: str, shrink_to: int = 0) -> np.ndarray:
    """An image (a path or its bytes) as an RGB uint8 array (H, W, 3), EXIF-turned; see
    `decode` for `shrink_to`."""
    return np.asarray(to_rgb(decode(source, name, shrink_to), name), dtype=np.uint8).copy()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB uint8 array (H, W, 3) atomically; the format follows the suffix."""
    path = Path(path)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {image.dtype} {image.shape}")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise PhotoreconError(f"{path}: unknown image format {path.suffix!r}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt)


def read_mask(source: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """A mask image (a file or bytes) as (H, W) float32, non-zero = missing."""
    name = name or str(source)
    return mask_array(decode(Path(source) if isinstance(source, str) else source, name))


def mask_array(image: Image.Image) -> np.ndarray:
    """(H, W) float32: 1 where any colour channel's stored value is non-zero (alpha ignored),
    before any scaling, so a 16-bit mask of 0s and 1s means what it says."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F", "1", "L"):
        values = np.asarray(image)
    elif image.mode in ("LA", "La"):
        values = np.asarray(image)[..., 0]
    else:
        values = np.asarray(image.convert("RGB")).max(axis=2)
    return (values != 0).astype(np.float32)


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a (H, W) mask as an 8-bit grayscale PNG, 255 = missing, atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(encode_mask(mask))


def encode_mask(mask: np.ndarray) -> bytes:
    """A (H, W) mask as 8-bit grayscale PNG bytes, 255 = missing."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def rgb_profile(icc: bytes | None) -> bytes | None:
    """An ICC profile the RGB output can carry: one for an RGB colour space; a grey or CMYK
    input's profile would be wrong on the RGB pixels photorecon writes, so it is left off."""
    if not icc or len(icc) < 20 or icc[16:20] != b"RGB ":
        return None
    return icc


def read_photo(source: str | Path | bytes, name: str | None = None) -> Photo:
    """Decode a photo (a file or bytes) for filling, keeping its alpha channel, EXIF, colour
    profile and format."""
    name = name or str(source)
    image = decode(Path(source) if isinstance(source, str) else source, name)
    icc = rgb_profile(image.info.get("icc_profile"))
    exif_data = image.getexif()
    exif = None
    if len(exif_data):  # decode() turned the pixels (and dropped the tag): say so with 1
        exif_data[ORIENTATION] = 1
        exif = exif_data.tobytes()
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        rgb, alpha = np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].copy()
    else:
        rgb = np.asarray(to_rgb(image, name), dtype=np.uint8).copy()
    jpeg = deep = None
    if image.format == "JPEG":
        jpeg = source if isinstance(source, bytes) else Path(source).read_bytes()
    elif image.format in ("PNG", "TIFF"):
        deep = deep_samples(source, image.format, rgb.shape[:2], name)
    return Photo(rgb, alpha, exif, icc, image.format or "", jpeg, deep)


_BGR = [2, 1, 0, 3]  # OpenCV's channel order <-> RGB(A), either way

# EXIF orientation -> the same turn on an array as ImageOps.exif_transpose makes
_TURNS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, -1)[:, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def deep_samples(
    source: str | Path | bytes, fmt: str, size: tuple[int, int], name: str
) -> np.ndarray | None:
    """A PNG's or TIFF's (a path or its bytes) 16-bit RGB(A) samples as uint16 (H, W, 3|4) in
    RGB order, turned as its EXIF says; None for an 8-bit file, told from the header alone
    (an 8-bit file is not read again), or one OpenCV cannot read the same size as Pillow did."""
    import cv2

    if fmt == "PNG":  # IHDR: bit depth at byte 24, colour type (2 RGB, 6 RGBA) at 25
        head = _head(source, 26)
        if not (len(head) == 26 and head[24] == 16 and head[25] in (2, 6)):
            return None
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source)) as im:
        if fmt == "TIFF":
            bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
            if not bits or max(bits) != 16 or len(bits) not in (3, 4):
                return None
        orientation = im.getexif().get(ORIENTATION, 1)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if samples is None or samples.dtype != np.uint16 or samples.ndim != 3:
        say_once(f"deep:{name}", f"{name}: its 16-bit samples could not be read; filled as 8-bit")
        return None
    samples = samples[..., _BGR[: samples.shape[2]]]
    samples = np.ascontiguousarray(_TURNS.get(orientation, lambda a: a)(samples))
    if samples.shape[:2] != tuple(size):
        return None
    return samples


def _head(source: str | Path | bytes, count: int) -> bytes:
    """The first `count` bytes of a file or of bytes."""
    if isinstance(source, bytes):
        return source[:count]
    with open(source, "rb") as fh:
        return fh.read(count)


def deep_result(rgb: np.ndarray, like: Photo) -> np.ndarray:
    """The 16-bit result: the input's own samples wherever the fill left the 8-bit pixel as it
    was, the filled 8-bit value scaled to 16 bits (x 257) where it changed; alpha as it was."""
    deep = like.deep
    changed = (rgb != like.rgb).any(axis=2)
    out = deep.copy()
    out[..., :3][changed] = rgb[changed].astype(np.uint16) * 257
    return out


def encode_photo(rgb: np.ndarray, like: Photo, fmt: str, quality: int = 95) -> bytes:
    """The filled pixels as `fmt` file bytes, with the input's alpha (where the format has
    one), EXIF and colour profile."""
    buffer = io.BytesIO()
    save_photo(buffer, rgb, like, fmt, quality, str(fmt))
    return buffer.getvalue()


def write_photo(path: Path, rgb: np.ndarray, like: Photo, quality: int = 95) -> None:
    """Write the filled pixels atomically in the format of the suffix, with the input's alpha
    (where the format has one), EXIF and colour profile."""
    path = Path(path)
    fmt = format_for(path)
    with atomic_path(path) as tmp:
        save_photo(tmp, rgb, like, fmt, quality, str(path))


def format_for(path) -> str:
    """The image format (Pillow's name) a file name's suffix asks for, or a one-line error;
    `path` a Path or anything with a `suffix` (photorecon.remote.RemotePath)."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise PhotoreconError(f"{path}: unknown image format {path.suffix!r}")
    return fmt


def save_photo(target, rgb: np.ndarray, like: Photo, fmt: str, quality: int, name: str) -> None:
    deep = like.deep is not None and fmt in ("PNG", "TIFF")
    if like.deep is not None and not deep:
        say_once(f"8bit:{name}", f"{name}: a 16-bit photo, written as 8-bit {fmt}")
    if deep:  # the input's own 16-bit samples (alpha included) outside the holes
        pixels = deep_result(rgb, like)
    else:
        pixels = rgb
        if like.alpha is not None:
            if fmt in ALPHA_FORMATS:
                pixels = np.dstack([rgb, like.alpha])
            else:
                warnings.warn(f"{name}: {fmt} has no alpha channel; saved without it", stacklevel=3)
    if fmt == "PNG":  # photorecon.png: the same file as Pillow's, written 2-3x faster
        from photorecon.png import encode_png

        _write(target, encode_png(pixels, icc=like.icc, exif=like.exif, level=PNG_LEVEL))
        return
    if deep:
        _write(target, _tiff16(pixels, like, name))
        return
    options: dict = {}
    if fmt == "JPEG" and like.jpeg is not None and like.alpha is None:
        from photorecon.jpegsplice import splice

        data = splice(like.jpeg, like.rgb, rgb)
        if data is not None:  # the blocks the fill did not touch, copied losslessly
            _write(target, data)
            return
        options.update(kept_tables(like.jpeg))
        say_once(
            "jpeg-reencoded",
            f"{name}: this JPEG (progressive, EXIF-turned or of an unusual kind) is re-encoded "
            "whole, with its own quantisation tables and chroma subsampling",
        )
    image = Image.fromarray(pixels)
    if like.exif:
        options["exif"] = like.exif
    if like.icc:
        options["icc_profile"] = like.icc
    if fmt in LOSSY and "qtables" not in options:
        options["quality"] = quality
    image.save(target, format=fmt, **options)


def _write(target, data: bytes) -> None:
    if hasattr(target, "write"):
        target.write(data)
    else:
        Path(target).write_bytes(data)


def _tiff16(pixels: np.ndarray, like: Photo, name: str) -> bytes:
    """A 16-bit TIFF of uint16 (H, W, 3|4) (OpenCV writes it; Pillow cannot)."""
    import cv2

    if like.icc or like.exif:
        say_once(
            f"tiff16:{name}",
            f"{name}: a 16-bit TIFF is written without the input's colour profile and EXIF",
        )
    ok, data = cv2.imencode(".tiff", np.ascontiguousarray(pixels[..., _BGR[: pixels.shape[2]]]))
    if not ok:
        raise PhotoreconError(f"{name}: cannot encode a 16-bit TIFF")
    return data.tobytes()


def kept_tables(jpeg: bytes) -> dict:
    """Pillow save options that re-encode with a JPEG's own quantisation tables and chroma
    subsampling (what quality="keep" does for an image Pillow opened itself)."""
    from PIL import JpegImagePlugin

    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            sampling = JpegImagePlugin.get_sampling(im)
            options = {"qtables": dict(im.quantization)}
    except DECODE_ERRORS:
        return {}
    if sampling >= 0:
        options["subsampling"] = sampling
    return options


_SAID: set[str] = set()


def say_once(key: str, message: str) -> None:
    """A warning given once per process (a batch of such files says it on the first)."""
    if key not in _SAID:
        _SAID.add(key)
        warnings.warn(message, stacklevel=3)
