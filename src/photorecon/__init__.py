"""photorecon: reconstruct damaged photos by filling missing rectangles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "fill"]

if TYPE_CHECKING:
    from photorecon.api import fill


def __getattr__(name: str) -> Any:
    # Lazy so that `import photorecon` stays cheap and does no work at import time.
    if name == "fill":
        from photorecon.api import fill

        return fill
    raise AttributeError(f"module 'photorecon' has no attribute {name!r}")
