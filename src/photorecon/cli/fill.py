"""`photorecon fill`: fill holes (boxes, masks, white blotches, or the damage the detector
finds) in photos of any size; files or folders in, files or folders out (photorecon.cli.batch)."""

from __future__ import annotations

import argparse

from photorecon.cli.options import (
    Command,
    add_batch_options,
    add_detection,
    add_diffusion,
    add_quality,
    add_tta,
    model_options,
)
from photorecon.errors import PhotoreconError
from photorecon.masks import parse_box


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument(
        "--box", action="append", type=parse_box, metavar="ROW,COL,HEIGHT,WIDTH", help="a hole"
    )
    p.add_argument(
        "--mask",
        help="mask image, same size as the photo (non-zero = missing), or a folder of masks "
        "named like the photos",
    )
    p.add_argument("--white", action="store_true", help="fill pure-white rectangles")
    p.add_argument(
        "--auto",
        action="store_true",
        help="find the damage (scratches, dust, blotches, tears) and fill it; --box/--mask "
        "add to what is found",
    )
    p.add_argument(
        "--detail",
        action="store_true",
        help="texture for holes about 24 px thick and more, from the photo's own pixels "
        "(learned models; the plain fill is the most accurate pixel for pixel)",
    )
    p.add_argument("--model", help="model name or checkpoint (default: best shipped model)")
    p.add_argument("-o", "--out", help="output file (one input) or folder")
    p.add_argument("--in-place", action="store_true", help="overwrite the inputs")
    add_batch_options(p, "fill")
    add_quality(
        p,
        "; a JPEG filled into a JPEG keeps its own tables and re-encodes only the 8-16 px "
        "blocks the holes touch",
    )
    p.add_argument("--device", default="auto")
    add_tta(p)
    add_diffusion(p)
    add_detection(
        p.add_argument_group("damage detection (with --auto)"), model_option="--detector-model"
    )


def run(args: argparse.Namespace) -> None:
    from photorecon.batchlog import RunLog, parse_shard, run_settings
    from photorecon.cli.batch import plan_jobs, run_fill
    from photorecon.models.base import kind_of
    from photorecon.models.loading import default_model, load_model_for

    boxes = args.box or []
    given = sum([bool(boxes), args.mask is not None, args.white])
    if given > 1 or (given == 0 and not args.auto):
        raise PhotoreconError(
            "give one of --box (repeatable), --mask or --white, or --auto (with or without "
            "--box/--mask)"
        )
    if args.auto and args.white:
        raise PhotoreconError("--auto finds white blotches too: drop --white")
    auto = None
    if args.auto:
        from photorecon.cli.batch import AutoDetect
        from photorecon.detection import load_detector

        auto = AutoDetect(load_detector(args.detector, "cpu"), args.sensitivity, args.dilate)
    shard = parse_shard(args.shard)
    jobs = plan_jobs(args.images, args.out, args.in_place, shard)
    spec = args.model or default_model()
    settings = run_settings(
        "fill",
        model=spec,
        boxes=[f"{b.row},{b.col},{b.height},{b.width}" for b in boxes] or None,
        mask=args.mask,
        white=args.white,
        auto=[args.detector, args.sensitivity, args.dilate] if args.auto else None,
        detail=args.detail,
        quality=args.quality,
        tta=args.tta,
    )
    log = RunLog(shard.name_for(args.log) if args.log else None, settings)
    model, device = load_model_for(
        spec, args.device, tta=args.tta, runtime=args.runtime, **model_options(args)
    )
    if args.detail and kind_of(model) == "classical":
        raise PhotoreconError(
            f"--detail needs a learned model (its fill guides the texture); {spec} is classical"
        )
    summary = run_fill(
        jobs,
        model,
        boxes=boxes,
        mask_path=args.mask,
        white=args.white,
        device=device,
        progress=not args.quiet,
        quality=args.quality,
        label=spec,
        auto=auto,
        detail=args.detail,
        log=log,
    )
    summary.finish("filled", len(jobs), shard)


COMMANDS = (Command("fill", "fill holes in photos of any size", add_arguments, run),)
