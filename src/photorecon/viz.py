"""Picture grids: masked | each model | original, with per-image RMSE in the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photorecon.fsutil import atomic_path
from photorecon.imageio import to_uint8


def save_grid(
    rows: list[list[tuple[np.ndarray, str]]], out: str | Path, titles: list[str], dpi: int = 100
) -> None:
    """Save a grid of (image uint8 or float, label) cells; one title per column."""
    n_rows, n_cols = len(rows), len(titles)
    fig = headless_figure(figsize=(2.2 * n_cols, 2.4 * n_rows), dpi=dpi)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c, (image, label) in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image if image.dtype == np.uint8 else to_uint8(image))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(label, fontsize=8)
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png")


def headless_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg canvas: no display, no pyplot, and nothing changed
    for the rest of the process (no `matplotlib.use`, no global figure list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def compare_models(
    split,
    specs: list[str],
    out: str | Path,
    *,
    count: int = 6,
    original_dir: str | Path | None = None,
    device="cpu",
    progress: bool = False,
    tta: bool = False,
    runtime: str = "torch",
) -> None:
    """Grid of the split's first `count` photos: masked | each model | original (if known)."""
    from photorecon.data.challenge_dir import iter_masked, read_entries
    from photorecon.imageio import read_image
    from photorecon.metrics import box_rmse
    from photorecon.models.loading import load_model
    from photorecon.predict import predict_split

    entries = read_entries(split)[:count]
    originals_dir = Path(original_dir) if original_dir is not None else split.original_dir
    masked = [(e, img) for e, img, _ in iter_masked(split, entries)]
    originals = [read_image(originals_dir / e.filename) for e in entries] if originals_dir else None
    preds = {
        spec: [
            p
            for _, p in predict_split(
                load_model(spec, device, tta=tta, runtime=runtime),
                split,
                device=device,
                progress=progress,
                entries=entries,
            )
        ]
        for spec in specs
    }
    rows = []
    for i, (entry, image) in enumerate(masked):
        row = [(image, entry.filename)]
        for spec in specs:
            label = spec
            if originals is not None:
                label = f"{spec}  RMSE {box_rmse(preds[spec][i], originals[i], entry.boxes):.4f}"
            row.append((preds[spec][i], label))
        if originals is not None:
            row.append((originals[i], "original"))
        rows.append(row)
    titles = ["masked", *specs] + (["original"] if originals is not None else [])
    save_grid(rows, out, titles)
