"""`photorecon train` (a run from a YAML config, resumable) and `photorecon export-onnx`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from photorecon.cli.options import Command
from photorecon.errors import PhotoreconError
from photorecon.models.quantize import CALIBRATION_TILES


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override, e.g. optim.lr=3e-4"
    )
    p.add_argument("--out", help="run folder (default runs/<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument(
        "--chunk-minutes",
        type=float,
        default=0.0,
        metavar="N",
        help="stop after N minutes with a checkpoint; the same command again continues "
        "(a run folder holding a checkpoint of the same config is always resumed)",
    )


def train(args: argparse.Namespace) -> None:
    from photorecon.config import load_config
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train as train_run

    if args.resume:
        run = Path(args.resume)
        if args.config or args.out:
            raise PhotoreconError("--resume continues a run folder: drop --config and --out")
        if not (run / "config.yaml").is_file():
            raise PhotoreconError(f"{run}: not a run folder (no config.yaml)")
        cfg = load_config(TrainConfig, run / "config.yaml", args.set or [])
        out = run
    else:
        cfg = load_config(TrainConfig, args.config, args.set or [])
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    result = train_run(
        cfg,
        out,
        progress=not args.quiet,
        resume=bool(args.resume),
        chunk_minutes=args.chunk_minutes,
    )
    if result.stopped in ("SIGTERM", "SIGINT"):  # the shell's convention: 128 + signal number
        sys.exit(143 if result.stopped == "SIGTERM" else 130)
    if not result.main or result.stopped:
        return
    print(
        f"best val {result.metric} {result.best_score:.4f} at step {result.best_step}; "
        f"{result.images_per_s:.1f} images/s; checkpoint {out / 'best' / 'model.safetensors'}"
    )


def export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default="ffc", help="a fill or damage detector: name or checkpoint (ffc)"
    )
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument(
        "--size", type=int, help="input height and width (a fill's 256, a detector's 512)"
    )
    p.add_argument(
        "--int8",
        metavar="PACK",
        help="the network quantized to 8 bits, calibrated on this photo pack's train photos; "
        "written beside its weights as NAME.int8.onnx (at the role's --size: a detector's 512, "
        "a fill's 256), detect, fill and restore use it on a CPU",
    )
    p.add_argument(
        "--calibration-tiles",
        type=int,
        default=CALIBRATION_TILES,
        metavar="N",
        help=f"--int8: crops of the pack's train photos to calibrate on ({CALIBRATION_TILES})",
    )


def export(args: argparse.Namespace) -> None:
    from torch import nn

    from photorecon.models.base import EXPORT_SIDE, kind_of, role_of
    from photorecon.models.files import resolve
    from photorecon.models.onnx import export_detector_onnx, export_onnx
    from photorecon.models.registry import build

    found = resolve(args.model)
    if found.source not in ("name", "checkpoint"):
        raise PhotoreconError(f"{args.model}: export-onnx takes a model name or checkpoint")
    model = build(found, "cpu", role=None)
    role = role_of(kind_of(model))
    if role not in ("fill", "detector") or not isinstance(model, nn.Module):
        raise PhotoreconError(
            f"{args.model} ({kind_of(model)}): export-onnx takes learned fills and damage detectors"
        )
    size = args.size or EXPORT_SIDE[role]
    if size < 16:
        raise PhotoreconError(f"--size must be at least 16, got {size}")
    tiles = args.calibration_tiles
    if tiles < 1:
        raise PhotoreconError(f"--calibration-tiles must be 1 or more, got {tiles}")
    if args.int8 is not None:
        from photorecon.models.quantize import quantize_model

        path = quantize_model(model, role, args.out, args.int8, size, tiles, found.weights)
    elif role == "detector":
        path = export_detector_onnx(model, args.out, size)
    else:
        path = export_onnx(model, args.out, size=size)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB, inputs {size}x{size})")


def average_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", help="checkpoints (files or run folders) of one model")
    p.add_argument("--shares", help="comma-separated share of each, normalised (default: equal)")
    p.add_argument("-o", "--out", required=True, help="safetensors file to write")


def average(args: argparse.Namespace) -> None:
    from photorecon.checkpoint import average_weights, save_state

    shares = None
    if args.shares is not None:
        try:
            shares = [float(v) for v in args.shares.split(",")]
        except ValueError:
            raise PhotoreconError(f"--shares: numbers with commas, got {args.shares!r}") from None
    out = Path(args.out)
    if out.is_dir():
        raise PhotoreconError(f"{out}: a folder; -o names the file to write")
    state, meta = average_weights(args.checkpoints, shares)
    save_state(out, state, meta)
    parts = ", ".join(f"{r['checkpoint']} x{r['share']:g}" for r in meta.config["soup"])
    print(f"wrote {out}: {meta.model}, {parts}")


COMMANDS = (
    Command(
        "average",
        "average checkpoints of one model into one (a model soup)",
        average_arguments,
        average,
    ),
    Command(
        "export-onnx",
        "export a model to ONNX (Fourier units as DFT matmuls)",
        export_arguments,
        export,
    ),
    Command("train", "train a model on random holes in the photo pack", train_arguments, train),
)
