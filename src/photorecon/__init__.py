"""photorecon: reconstruct damaged photos: find the damage and fill it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "detect", "fill", "restore"]

if TYPE_CHECKING:
    from photorecon.api import fill, restore
    from photorecon.detection import detect


def __getattr__(name: str) -> Any:
    # Lazy so that `import photorecon` stays cheap and does no work at import time.
    if name == "fill":
        from photorecon.api import fill

        return fill
    if name == "restore":
        from photorecon.api import restore

        return restore
    if name == "detect":
        from photorecon.detection import detect

        return detect
    raise AttributeError(f"module 'photorecon' has no attribute {name!r}")
