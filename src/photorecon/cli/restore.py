"""`photorecon restore`: the whole old-photo pipeline on photos, folders and batches.
Outputs are written as `fill` writes them: atomically, in the format of the suffix, with the
input's alpha, EXIF and colour profile, 16-bit PNG and TIFF at 16 bits; one bad photo in a
batch never stops the rest."""

from __future__ import annotations

import argparse
import sys

from photorecon.checks import check_strength
from photorecon.cli.options import (
    Command,
    add_batch_options,
    add_quality,
    add_sensitivity,
    checked,
)
from photorecon.errors import PhotoreconError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("-o", "--out", help="output file (one input) or folder")
    p.add_argument("--in-place", action="store_true", help="overwrite the inputs")
    p.add_argument("--no-damage", action="store_true", help="leave the damage: tone and grain only")
    p.add_argument(
        "--no-tone", action="store_true", help="leave fading, casts and grain: the damage only"
    )
    p.add_argument(
        "--strength",
        type=checked(check_strength, "--strength"),
        default=1.0,
        metavar="S",
        help="0 to 1: how much of the restoration to keep (blended with the photo; 1)",
    )
    add_sensitivity(p, "the damage detector")
    p.add_argument("--model", default="restore", help="restorer: name or checkpoint (restore)")
    p.add_argument("--fill-model", help="fill for the damage (default: best shipped model)")
    add_batch_options(p, "restore")
    add_quality(p)
    p.add_argument("--device", default="cpu", help="for the damage fill: cpu, cuda ... (cpu)")


def run(args: argparse.Namespace) -> None:
    from photorecon.batchlog import RunLog, parse_shard, run_settings
    from photorecon.cli.batch import plan_jobs
    from photorecon.restoration import RestoreOptions

    options = RestoreOptions(
        damage=not args.no_damage,
        tone=not args.no_tone,
        grain=not args.no_tone,
        strength=args.strength,
        sensitivity=args.sensitivity,
    )
    if not options.damage and not options.tone:
        raise PhotoreconError("--no-damage and --no-tone together leave nothing to do")
    shard = parse_shard(args.shard)
    jobs = plan_jobs(args.images, args.out, args.in_place, shard, suffix="_restored")
    settings = run_settings(
        "restore",
        model=args.model,
        fill_model=args.fill_model,
        options=[options.damage, options.tone, options.strength, options.sensitivity],
        quality=args.quality,
    )
    log = RunLog(shard.name_for(args.log) if args.log else None, settings)
    summary = restore_batch(jobs, options, args, log)
    summary.finish("restored", len(jobs), shard)


def restore_batch(jobs, options, args: argparse.Namespace, log):
    """Each job restored and written (`run_batch`: bad files do not stop the rest)."""
    from dataclasses import replace

    from photorecon.cli.batch import ANSWER_FORMATS, read_location, run_batch
    from photorecon.fsutil import STDOUT
    from photorecon.imageio import encode_photo, format_for, write_photo
    from photorecon.models.loading import default_model, load_model
    from photorecon.remote import RemotePath
    from photorecon.restoration import restore_pixels
    from photorecon.threads import configure_once

    configure_once()
    restorer = load_model(args.model, "cpu", role="restorer") if options.tone else None
    detector = fill_model = None
    if options.damage:
        from photorecon.detection import load_detector
        from photorecon.models.loading import load_model_for

        detector = load_detector("damage", "cpu")
        fill_model, _ = load_model_for(args.fill_model or default_model(), args.device)

    def work(job) -> str:
        photo = read_location(job.source)
        rgb, deep = restore_pixels(
            photo.rgb,
            options,
            restorer=restorer,
            detector=detector,
            fill_model=fill_model,
            deep=photo.deep,
            device="cpu",
        )
        # the restored 16-bit samples stand in for the photo's own: written as they are
        like = replace(photo, deep=deep, rgb=rgb) if deep is not None else photo
        if str(job.target) == STDOUT:  # the restored photo, in the input's format
            fmt = photo.format if photo.format in ANSWER_FORMATS else "PNG"
            sys.stdout.buffer.write(encode_photo(rgb, like, fmt, args.quality))
            sys.stdout.buffer.flush()
        elif isinstance(job.target, RemotePath):
            job.target.write_bytes(encode_photo(rgb, like, format_for(job.target), args.quality))
        else:
            write_photo(job.target, rgb, like, args.quality)
        return ""

    # an image on standard output is all that goes there: no progress lines
    progress = not args.quiet and not any(str(job.target) == STDOUT for job in jobs)
    return run_batch(jobs, work, desc="restore", progress=progress, log=log)


COMMANDS = (
    Command(
        "restore",
        "restore old photos: find and fill the damage, then undo fading, casts, lost contrast "
        "and grain",
        add_arguments,
        run,
    ),
)
