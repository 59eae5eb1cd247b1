"""Reading and writing images at the edges: RGB uint8 arrays (H, W, 3) inside."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class ImageModeWarning(UserWarning):
    """An image was converted to RGB (grayscale, palette, alpha...)."""


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Convert any PIL mode to RGB, warning when information (alpha, colour) is changed."""
    if image.mode == "RGB":
        return image
    warnings.warn(f"{name}: converted {image.mode} image to RGB", ImageModeWarning, stacklevel=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite over white, the colour the challenge uses for holes' surroundings is irrelevant
        # here; white keeps transparent areas from turning black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H, W, 3); a clear error if it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise PhotoreconError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            # camera JPEGs store their orientation in EXIF: fill what the user sees
            rgb = to_rgb(ImageOps.exif_transpose(im), str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoreconError(f"{path}: cannot read image ({exc})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


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
