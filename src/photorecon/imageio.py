"""Reading and writing images at the edges: RGB uint8 arrays (H, W, 3) inside."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# The one pixel limit of every image photorecon opens (CLI, API, server, training data): a
# 24-megapixel photo is a fifth of it; a decompression bomb (a few bytes declaring 50000x50000)
# is refused from its header, before anything is decoded. PHOTORECON_MAX_PIXELS changes it.
MAX_PIXELS_ENV = "PHOTORECON_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 120_000_000
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


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
        # Composite over white, the colour the challenge uses for holes' surroundings is irrelevant
        # here; white keeps transparent areas from turning black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode(source: str | Path | bytes, name: str) -> Image.Image:
    """Open and decode an image (a path or bytes), loaded and EXIF-turned (camera JPEGs store
    their orientation there: fill what the user sees), mode untouched. Over the pixel limit:
    ImageTooLarge, from the header alone; undecodable: PhotoreconError. Animated images give
    their first frame, with a warning."""
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
                im.load()
                return ImageOps.exif_transpose(im)
    except Image.DecompressionBombError as exc:
        # Pillow's own check fired first (at twice its limit): it names the declared size only
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)):,} pixels" if declared else "too many pixels"
        raise ImageTooLarge(
            f"{name}: image has {size}, over the limit of {limit:,} pixels "
            f"(set {MAX_PIXELS_ENV} to change it)"
        ) from None
    except DECODE_ERRORS as exc:
        raise PhotoreconError(f"{name}: cannot read image ({exc})") from None


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H, W, 3); a clear error if it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise PhotoreconError(f"{path}: no such image file")
    return np.asarray(to_rgb(decode(path, str(path)), str(path)), dtype=np.uint8).copy()


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


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a (H, W) mask as an 8-bit grayscale PNG, 255 = missing, atomically."""
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8), "L").save(tmp, format="PNG")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
