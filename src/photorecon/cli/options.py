"""What more than one command shares, declared once: the parser that says a bad option in one
line, the option groups (batch, detection, runtime, Stable Diffusion, challenge folders) and
the checks each option runs where it is declared (argparse's `type=`), so a handler gets
values already checked."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from photorecon.checks import check_dilate, check_quality, check_sensitivity, check_strength
from photorecon.errors import PhotoreconError
from photorecon.masks import BOX_SIZE
from photorecon.models.loading import RUNTIME_RULE


@dataclass(frozen=True)
class Command:
    """A sub-command: its name, its help line, what declares its options, what runs it."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] | None
    run: Callable[[argparse.Namespace], None]


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option said in one line (the command and the problem; `--help`
    for the rest) and exit status 2, as every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def checked(check: Callable[[object, str], object], option: str) -> Callable[[str], object]:
    """An argparse `type=` that runs one of photorecon.checks on the value as given; its
    one-line error names `option` (PhotoreconError passes through argparse to main)."""

    def convert(text: str):
        return check(text, option)

    convert.__name__ = option.lstrip("-")
    return convert


def console():
    """A rich console; 120 columns when output goes to a file or pipe (rich assumes 80)."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=120)


def add_common(p: argparse.ArgumentParser) -> None:
    """What every command takes: -q and --threads."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--threads",
        metavar="N",
        help="CPU threads for the work (default: $PHOTORECON_THREADS, else the usable CPUs "
        "less those other processes keep busy)",
    )


def add_batch_options(p: argparse.ArgumentParser, verb: str) -> None:
    """--shard and --run-log: a batch split across runs and picked up after a crash."""
    p.add_argument(
        "--shard",
        metavar="K/N",
        help=f"{verb} only share K of N of the photos (by a stable hash of each name, so N "
        "runs cover each photo once; under torchrun, RANK/WORLD_SIZE choose it)",
    )
    p.add_argument(
        "--run-log",
        "--log",
        dest="log",
        metavar="FILE",
        help="run log (JSON lines): a rerun with the same log skips photos done (to the same "
        "output, with the same settings) and retries those that failed; {shard} in the name "
        "becomes K-of-N (--log is the same, but torchrun takes it for its own --log-dir)",
    )


def add_quality(p: argparse.ArgumentParser, extra: str = "") -> None:
    p.add_argument(
        "--quality",
        type=checked(check_quality, "--quality"),
        default=95,
        help="JPEG/WebP quality of the outputs, 1-100 (95)" + extra,
    )


def add_sensitivity(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--sensitivity",
        type=checked(check_sensitivity, "--sensitivity"),
        default=0.5,
        help=f"how readily {what} calls a pixel damage, between 0 and 1: flagged where the "
        "detector is sure of it, and where less sure beside such a pixel (0.5: above 0.75, "
        "followed down to 0.25; higher finds fainter damage and flags more of the photo)",
    )


def add_detection(p: argparse.ArgumentParser, model_option: str = "--model") -> None:
    """The damage detector's options (`detect`, `fill --auto`); the detector's name is
    `args.detector` whatever its option is called."""
    add_sensitivity(p, "the detector")
    p.add_argument(
        "--dilate",
        type=checked(check_dilate, "--dilate"),
        default=0,
        metavar="N",
        help="grow the found damage by N pixels, 0-64 (0)",
    )
    p.add_argument(
        model_option,
        dest="detector",
        default="damage",
        help="damage detector: damage (shipped), tophat (classical baseline) or a checkpoint",
    )


def add_tta(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", action="store_true", help="average the fills of the 4 flips")
    p.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx", "openvino"),
        default="auto",
        help="where a learned model runs: " + RUNTIME_RULE,
    )


# Stable Diffusion's sampling flags (photorecon.models.diffusion.DiffusionOptions; the
# defaults are repeated there, and tests/test_diffusion.py checks they agree)
DIFFUSION_PROMPT = "a high quality photograph, natural detail, seamless, sharp focus"
DIFFUSION_NEGATIVE = "text, watermark, frame, border, blurry, lowres, artifacts, distorted"


def _positive(option: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        number = int(text)
        if number < 1:
            raise PhotoreconError(f"{option} must be 1 or more, got {number}")
        return number

    convert.__name__ = "whole number"
    return convert


def add_diffusion(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Stable Diffusion (with --model DIFFUSERS_FOLDER)")
    g.add_argument("--prompt", default=DIFFUSION_PROMPT, help="what to paint (%(default)r)")
    g.add_argument(
        "--negative-prompt", default=DIFFUSION_NEGATIVE, help="what not to (%(default)r)"
    )
    g.add_argument("--steps", type=_positive("--steps"), default=25, help="denoising steps (25)")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance (7.5)")
    g.add_argument(
        "--strength",
        type=checked(check_strength, "--strength"),
        default=1.0,
        help="how much to repaint, 0-1 (1)",
    )
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the first sample (0)")
    g.add_argument(
        "--samples",
        type=_positive("--samples"),
        default=1,
        help="average this many seeded samples (1)",
    )
    g.add_argument(
        "--lora",
        help="LoRA weights for the pipeline's UNet: a photorecon run or a .safetensors file (none)",
    )


def model_options(args: argparse.Namespace) -> dict:
    """load_model's diffusion sampling and LoRA, from the flags `add_diffusion` declared (none
    for a command that did not declare them)."""
    if not hasattr(args, "prompt"):
        return {}
    diffusion = dict(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        steps=args.steps,
        guidance=args.guidance,
        strength=args.strength,
        seed=args.sample_seed,
        samples=args.samples,
        progress=not args.quiet,
    )
    return dict(diffusion=diffusion, lora=args.lora)


def _image_size(text: str) -> int | None:
    number = int(text)
    if number < 0:
        raise PhotoreconError(f"--image-size must be 0 (any) or a size in pixels, got {number}")
    return number or None


def add_challenge_options(p: argparse.ArgumentParser) -> None:
    """A challenge folder's geometry: `args.box_size`, `args.image_size` (None: any size)."""
    p.add_argument(
        "--box-size",
        type=_positive("--box-size"),
        default=BOX_SIZE,
        help=f"side of the square holes ({BOX_SIZE})",
    )
    p.add_argument(
        "--image-size", type=_image_size, default=256, help="required photo size (256; 0 = any)"
    )


def model_list(text: str) -> list[str]:
    """`--models a,b,all`: the names, 'all' = every model usable without training."""
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise PhotoreconError("--models needs at least one model name")
    if "all" in specs:
        from photorecon.models.loading import ready_models

        at = specs.index("all")
        specs = specs[:at] + ready_models() + specs[at + 1 :]
    return specs


def size_pair(text: str) -> tuple[int, int]:
    """ "WIDTHxHEIGHT" -> (width, height), or a one-line error."""
    width, sep, height = text.lower().partition("x")
    if not sep or not (width + height).isascii() or not width.isdigit() or not height.isdigit():
        raise PhotoreconError(f"--size: expected WIDTHxHEIGHT such as 768x512, got {text!r}")
    return int(width), int(height)


def say_error(message: str) -> None:
    print(f"photorecon: error: {message}", file=sys.stderr)
