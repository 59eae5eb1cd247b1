"""`photorecon evaluate`: several models on a split, one score table (the challenge's RMSE,
or per hole kind on mask splits and on holes drawn over any folder of photos)."""

from __future__ import annotations

import argparse
from pathlib import Path

from photorecon.cli.options import (
    Command,
    add_challenge_options,
    add_diffusion,
    add_tta,
    console,
    model_list,
    model_options,
)
from photorecon.errors import PhotoreconError
from photorecon.masks import HOLES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "split_dir",
        nargs="+",
        help="split folder: masked/ and truth.csv (the challenge), or a mask split (masks/); "
        "with --holes, any folder of photos (original/)",
    )
    p.add_argument(
        "--holes",
        metavar="KINDS",
        help="score per hole kind, drawn on the split's original/ photos: comma-separated, "
        "from " + "; ".join(f"{k} ({v.help})" for k, v in HOLES.items()).replace("%", "%%"),
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn holes (0)")
    p.add_argument(
        "--models",
        default="all",
        help="comma-separated names or checkpoints; 'all' = every "
        "model usable without training (classical fills and shipped weights)",
    )
    p.add_argument("--submissions", help="also write each model's submission CSV here")
    p.add_argument("--csv", help="write the table as CSV")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    add_challenge_options(p)
    add_tta(p)
    add_diffusion(p)


def run(args: argparse.Namespace) -> None:
    dirs = args.split_dir
    kinds = [k.strip() for k in (args.holes or "").split(",") if k.strip()]
    if kinds or any((Path(d) / "masks").is_dir() for d in dirs):
        _per_kind(args, dirs, kinds)
    elif len(dirs) > 1:
        raise PhotoreconError("several split folders are scored per hole kind: give --holes")
    else:
        _challenge(args, dirs[0])


def _challenge(args: argparse.Namespace, folder: str) -> None:
    """The challenge's RMSE of each model on one split."""
    from rich.table import Table

    from photorecon.data.challenge_dir import open_split
    from photorecon.device import resolve_device
    from photorecon.evaluate import evaluate_models, rows_to_frame

    split = open_split(folder, args.box_size, args.image_size)
    rows = evaluate_models(
        split,
        model_list(args.models),
        device=resolve_device(args.device),
        batch_size=args.batch_size,
        submissions_dir=args.submissions,
        progress=not args.quiet,
        tta=args.tta,
        runtime=args.runtime,
        model_options=model_options(args),
    )
    frame = rows_to_frame(rows)
    n = len(split.info_path.read_text().splitlines()) - 1
    table = Table(title=f"{split.masked_dir.parent} ({n} photos)")
    for col in ("model", "params", "RMSE", "PSNR dB", "images/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in frame.iter_rows(named=True):
        table.add_row(
            r["model"],
            f"{r['params']:,}",
            f"{r['rmse']:.4f}",
            f"{r['psnr_db']:.2f}",
            f"{r['images_per_s']:.1f}",
        )
    console().print(table)
    _write_csv(frame, args.csv)


def _per_kind(args: argparse.Namespace, dirs: list[str], kinds: list[str]) -> None:
    """`evaluate --holes`: every model on every hole kind (mask splits as they are), one table."""
    from rich.table import Table

    from photorecon.device import resolve_device
    from photorecon.evaluate import drawn_hole_sets, evaluate_kinds, kinds_frame, mask_split

    sets = []
    for folder in dirs:
        if (Path(folder) / "masks").is_dir():
            sets.append(mask_split(folder))
        else:
            sets += drawn_hole_sets(folder, kinds, args.seed)
    rows = evaluate_kinds(
        sets,
        model_list(args.models),
        device=resolve_device(args.device),
        tta=args.tta,
        runtime=args.runtime,
        progress=not args.quiet,
        model_options=model_options(args),
    )
    frame = kinds_frame(rows)
    count = ", ".join(f"{s.name} {len(s.images)}" for s in sets)
    table = Table(title=f"RMSE per hole kind, change vs telea ({count} photos)")
    table.add_column("model")
    for holes in sets:
        table.add_column(holes.name, justify="right")
    table.add_column("ms/image", justify="right")
    for r in frame.iter_rows(named=True):
        cells = [f"{r[h.name]:.4f} ({r[h.name + '_vs_telea']:+.0%})" for h in sets]
        table.add_row(r["model"], *cells, f"{r['ms_per_image']:.0f}")
    console().print(table)
    _write_csv(frame, args.csv)


def _write_csv(frame, path: str | None) -> None:
    if path:
        from photorecon.fsutil import atomic_open

        with atomic_open(path, "wb") as fh:
            frame.write_csv(fh)


COMMANDS = (
    Command(
        "evaluate", "fill a split with several models and print a score table", add_arguments, run
    ),
)
