"""`photorecon detect`: find the damage in photos and write masks (and the damage brush:
`--within REGION`)."""

from __future__ import annotations

import argparse

from photorecon.cli.options import Command, add_detection
from photorecon.errors import PhotoreconError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument(
        "-o",
        "--out",
        help="mask PNG (one photo) or folder (<stem>.png each); default <stem>_mask.png beside "
        "each photo",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda ...")
    p.add_argument(
        "--within",
        metavar="REGION",
        help="the damage brush: look only inside this region (a PNG of the photo's size, "
        "non-zero = where to look; a folder of them named like the photos), and look harder "
        "there",
    )
    add_detection(p)


def run(args: argparse.Namespace) -> None:
    from photorecon.cli.batch import plan_masks, run_detect
    from photorecon.detection import load_detector
    from photorecon.device import cpu_only, resolve_device
    from photorecon.models.registry import array_model_info

    jobs = plan_masks(args.images, args.out)
    # a classical detector runs on arrays: told without importing torch
    on_cpu = array_model_info(args.detector) is not None or cpu_only(args.device)
    device = "cpu" if on_cpu else str(resolve_device(args.device))
    model = load_detector(args.detector, device)
    summary = run_detect(
        jobs,
        model,
        sensitivity=args.sensitivity,
        dilate=args.dilate,
        device=device,
        progress=not args.quiet,
        within=args.within,
    )
    if len(jobs) > 1:
        print(
            f"wrote {summary.filled} of {len(jobs)} masks"
            + (f", {summary.failed} failed" if summary.failed else "")
        )
    if summary.failed:
        raise PhotoreconError(f"{summary.failed} of {len(jobs)} photos could not be read")


COMMANDS = (
    Command(
        "detect", "find damage (scratches, dust, blotches, tears): write masks", add_arguments, run
    ),
)
