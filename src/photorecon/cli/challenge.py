"""The challenge's commands: `predict` (a folder of masked photos -> a submission CSV),
`merge` (the parts of a sharded predict), `score` (RMSE against a truth CSV) and `show` (a
picture grid of several models' fills)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from photorecon.cli.options import (
    Command,
    add_challenge_options,
    add_diffusion,
    add_tta,
    model_list,
    model_options,
)


def predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("masked_dir", help="folder with masked photos and masked_info.csv (or a split)")
    p.add_argument("--model", required=True, help="registered model name or checkpoint path")
    p.add_argument("--out", required=True, help="submission CSV to write (- for standard output)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="only share K of N of the photos (by a stable hash of each name; under torchrun, "
        "RANK/WORLD_SIZE choose it); {shard} in --out becomes K-of-N; 'merge' joins the parts",
    )
    add_challenge_options(p)
    add_tta(p)
    add_diffusion(p)


def predict(args: argparse.Namespace) -> None:
    from photorecon.batchlog import parse_shard
    from photorecon.data.challenge_dir import open_split, read_entries
    from photorecon.models.loading import load_model_for
    from photorecon.predict import predict_to_csv
    from photorecon.remote import is_url

    split = open_split(args.masked_dir, args.box_size, args.image_size)
    shard = parse_shard(args.shard)
    entries = [e for e in read_entries(split) if shard.holds(e.filename)]
    out = shard.name_for(args.out)
    model, device = load_model_for(
        args.model, args.device, tta=args.tta, runtime=args.runtime, **model_options(args)
    )
    start = time.perf_counter()

    def write(target: str) -> int:
        return predict_to_csv(
            model,
            split,
            target,
            batch_size=args.batch_size,
            device=device,
            progress=not args.quiet,
            entries=entries,
        )

    if is_url(out):  # written here first, then uploaded whole
        import tempfile

        from photorecon.remote import RemotePath

        with tempfile.TemporaryDirectory() as staging:
            local = Path(staging) / "submission.csv"
            rows = write(str(local))
            RemotePath(out).upload(local)
    else:
        rows = write(out)
    where = sys.stderr if out == "-" else sys.stdout  # keep a streamed CSV clean
    part = f" (shard {shard}: {len(entries)} photos)" if shard.count > 1 else ""
    print(f"wrote {rows:,} rows to {out}{part} in {time.perf_counter() - start:.2f} s", file=where)


def merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="submission CSV to write")
    p.add_argument("parts", nargs="+", help="the parts (each photo in one of them)")


def merge(args: argparse.Namespace) -> None:
    from photorecon.challenge import merge_submissions

    rows = merge_submissions(args.out, args.parts)
    print(f"wrote {rows:,} rows from {len(args.parts)} parts to {args.out}")


def score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("submission")
    p.add_argument("truth")
    p.add_argument("--clip", action="store_true", help="clip values outside [0, 1] (warns)")


def score(args: argparse.Namespace) -> None:
    from photorecon.challenge import score_files

    result = score_files(args.submission, args.truth, clip=args.clip)
    print(f"RMSE {result.rmse:.6f}  PSNR {result.psnr:.3f} dB  ({result.count:,} values)")


def show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("masked_dir")
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--original", help="folder of unmasked photos (default: the split's original/)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--count", type=int, default=6, help="number of photos (rows)")
    p.add_argument("--device", default="auto")
    add_challenge_options(p)
    add_tta(p)


def show(args: argparse.Namespace) -> None:
    from photorecon.data.challenge_dir import open_split
    from photorecon.device import resolve_device
    from photorecon.viz import compare_models

    split = open_split(args.masked_dir, args.box_size, args.image_size)
    compare_models(
        split,
        model_list(args.models),
        args.out,
        count=args.count,
        original_dir=args.original,
        device=resolve_device(args.device),
        tta=args.tta,
        runtime=args.runtime,
    )
    print(f"wrote {args.out}")


COMMANDS = (
    Command(
        "predict", "fill a challenge folder and write a submission CSV", predict_arguments, predict
    ),
    Command(
        "merge", "join the submission parts of 'predict --shard' into one", merge_arguments, merge
    ),
    Command("score", "RMSE and PSNR of a submission against a truth CSV", score_arguments, score),
    Command("show", "picture grid: masked | each model | original", show_arguments, show),
)
