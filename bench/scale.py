"""From one laptop to a cluster: shards against a folder, one process against two.

Sections (all by default, or name some with --only):
- memory: N synthetic photos (default 100,000, 128x96 JPEG) written with `data shard`, then
  streamed by the training reader (`data.source=shards`) for --batches batches of 8; the
  process's RSS as it goes, against the in-memory path holding the same photos decoded.
- read: photos per second read and decoded from shards against from the pack's files.
- train: training images/s on the same photos (the compact pack) from memory and from shards
  (in the training process, and with one loader worker), interleaved, best of --repeats; the
  default ffc and a tiny net (where the data path is most of the work).
- ddp: training images/s at 1 and 2 processes (torchrun, gloo, one thread each) from shards.
- fill: `fill --shard K/N` over a folder by 1 and by 2 workers at once, wall time.

Run: .venv/bin/python bench/scale.py [--only memory,train] [--photos 100000]
The numbers depend on the machine and on what else runs on it; compare within one table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

SECTIONS = ("memory", "read", "train", "ddp", "fill")
TINY = "{width: 4, downs: 2, blocks: 1, max_width: 8}"


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_folder(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` small photo-like JPEGs (a smooth colour field, edges and grain)."""
    done = folder / ".done"
    if done.is_file() and done.read_text() == str(count):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        sub = folder / f"{i // 10_000:02d}"
        if i % 10_000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        image = cv2.resize(small, (128, 96), interpolation=cv2.INTER_CUBIC)
        image = cv2.add(image, rng.integers(0, 12, image.shape, dtype=np.uint8))
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        (sub / f"{i:06d}.jpg").write_bytes(data.tobytes())
    done.write_text(str(count))
    return folder


def shards_of(photos: Path, out: Path, shard_size: int) -> Path:
    from photorecon.data.shards import write_shards

    if not (out / "index.json").is_file():
        write_shards(photos, out, shard_size=shard_size, force=True, progress=False)
    return out


def memory(args, work: Path) -> list[list[str]]:
    from photorecon.config import load_config
    from photorecon.data.crops import downscale
    from photorecon.data.shards import expand_spec, iter_photos, shard_counts
    from photorecon.imageio import decode_rgb
    from photorecon.train.config import TrainConfig
    from photorecon.train.data import HoleCut
    from photorecon.train.shardstream import ShardBatches, ShardPlan

    t = time.perf_counter()
    folder = synthetic_folder(work / f"synthetic-{args.photos}", args.photos)
    shards = shards_of(folder, work / f"synthetic-{args.photos}-shards", 5000)
    made = time.perf_counter() - t
    cfg = load_config(TrainConfig, None, ["data.size=64", "data.box_size=20", "batch_size=8"])
    urls = expand_spec(str(shards))
    plan = ShardPlan(tuple(urls), tuple(shard_counts(urls)), 1, 256, 0)
    batches = ShardBatches(
        plan, HoleCut(cfg.data), max_side=1024, batch_size=8, rank=0, local_streams=1, start=0
    )
    rows = []
    start_rss = rss_mib()
    t = time.perf_counter()
    checkpoints = {int(args.batches * f) for f in (0.01, 0.25, 0.5, 0.75, 1.0)}
    for i, _ in enumerate(batches, start=1):
        if i in checkpoints:
            rate = i * 8 / (time.perf_counter() - t)
            rows.append(["shards", f"{i * 8:,}", f"{rss_mib():.0f}", f"{rate:.0f}"])
        if i >= args.batches:
            break
    print(f"(synthetic set and its shards ready in {made:.0f} s; RSS at start {start_rss:.0f} MiB)")
    # the in-memory path: every photo decoded and held (what data.source=photos does)
    t = time.perf_counter()
    before = rss_mib()
    held = [downscale(decode_rgb(s.data, s.name), 1024) for s in iter_photos(str(shards))]
    rows.append(
        [
            "in memory",
            f"{len(held):,}",
            f"{rss_mib():.0f} (+{rss_mib() - before:.0f})",
            f"{len(held) / (time.perf_counter() - t):.0f} (decode)",
        ]
    )
    return rows


def read(args, work: Path) -> list[list[str]]:
    from photorecon.data.crops import downscale
    from photorecon.data.photos import read_manifest
    from photorecon.data.shards import iter_photos
    from photorecon.imageio import read_image

    pack = Path(args.pack)
    shards = shards_of(pack, work / f"{pack.name}-shards", 100)
    records = read_manifest(pack)[: args.read_photos]
    rows = []
    for label in ("pack files", "shards", "pack files", "shards"):
        t = time.perf_counter()
        if label == "shards":
            for n, sample in enumerate(iter_photos(str(shards)), start=1):
                downscale(sample.rgb(1024), 1024)
                if n >= len(records):
                    break
        else:
            for r in records:
                downscale(read_image(pack / r.path), 1024)
        rows.append([label, str(len(records)), f"{len(records) / (time.perf_counter() - t):.1f}"])
    return rows


def train_ips(overrides: list[str], out: Path) -> float:
    """Training images/s of one short run (a fresh folder, one thread)."""
    from photorecon.config import load_config
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train

    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(TrainConfig, None, overrides)
    return train(cfg, out, progress=False).images_per_s


def split_shards(pack: Path, work: Path) -> tuple[Path, Path]:
    """Shards of the pack's train photos and of its val photos, split as training splits the
    pack (seed 0): the same photos on both paths, the same validation crops."""
    from photorecon.data.shards import write_shards

    out = work / f"{pack.name}-split-shards"
    if not (out / "val" / "index.json").is_file():
        write_shards(pack, out, shard_size=100, force=True, progress=False, split=(0, 0.1, 0.15))
    return out / "train", out / "val"


def train_section(args, work: Path) -> list[list[str]]:
    pack = Path(args.pack)
    shards, val = split_shards(pack, work)
    common = [
        f"data.photos={pack}",
        f"steps={args.steps}",
        f"eval_every={args.steps}",
        "ema=0",
        "data.val_crops_per_photo=1",
        "batch_size=8",
        "optim.warmup_steps=2",
    ]
    paths = {
        "in memory": ["data.source=photos", "data.workers=0"],
        "shards": ["data.source=shards", f"data.shards={shards}", "data.workers=0"],
        "shards, 1 worker": ["data.source=shards", f"data.shards={shards}", "data.workers=1"],
    }
    val = [f"data.val_shards={val}"]
    rows = []
    for net, extra in (("ffc", []), ("tiny ffc", [f"model.kwargs={TINY}"])):
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for label, sets in paths.items():
                more = val if "shards" in label else []
                ips = train_ips([*common, *sets, *more, *extra], work / "run")
                best[label] = max(best.get(label, 0.0), ips)
        base = best["in memory"]
        for label, ips in best.items():
            rows.append([net, label, f"{ips:.2f}", f"{ips / base:.2f}x"])
    return rows


def ddp_section(args, work: Path) -> list[list[str]]:
    pack = Path(args.pack)
    shards = shards_of(pack, work / f"{pack.name}-shards", 100)
    rows = []
    for procs in (1, 2):
        out = work / f"ddp-{procs}"
        shutil.rmtree(out, ignore_errors=True)
        sets = [
            "data.source=shards",
            f"data.shards={shards}",
            f"data.val_shards={shards / 'photos-000000.tar'}",
            "data.workers=0",
            "data.val_crops_per_photo=1",
            f"steps={args.steps}",
            f"eval_every={args.steps}",
            "ema=0",
            "batch_size=4",
            f"model.kwargs={TINY}",
        ]
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}"]
        cmd += ["--standalone", "-m", "photorecon.cli", "train", "-q", "--out", str(out)]
        for item in sets:
            cmd += ["--set", item]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PHOTORECON_THREADS": "1"}
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        result = dict(
            line.split(": ", 1) for line in (out / "result.yaml").read_text().splitlines()
        )
        rows.append([str(procs), result["images_per_s"], result["processes"]])
    return rows


def fill_section(args, work: Path) -> list[list[str]]:
    src = work / "fill-in"
    if not src.is_dir():
        rng = np.random.default_rng(1)
        src.mkdir(parents=True)
        for i in range(args.fill_photos):
            image = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (640, 480))
            cv2.imwrite(str(src / f"{i:03d}.png"), image)
    rows = []
    for workers in (1, 2):
        out = work / f"fill-out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        procs = []
        for k in range(1, workers + 1):
            cmd = [sys.executable, "-m", "photorecon.cli", "fill", str(src), "-o", str(out), "-q"]
            cmd += ["--box", "100,100,120,120", "--threads", "1", "--shard", f"{k}/{workers}"]
            procs.append(subprocess.Popen(cmd))
        for p in procs:
            assert p.wait() == 0
        wall = time.perf_counter() - t
        count = len(list(out.iterdir()))
        rows.append([str(workers), str(count), f"{wall:.1f}", f"{count / wall:.2f}"])
    return rows


def table(title: str, head: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--work", default="/tmp/photorecon-scale", help="scratch folder")
    parser.add_argument("--pack", default="data/photos-compact", help="a compact photo pack")
    parser.add_argument("--photos", type=int, default=100_000, help="memory: synthetic photos")
    parser.add_argument("--batches", type=int, default=12_500, help="memory: batches of 8")
    parser.add_argument("--read-photos", type=int, default=100)
    parser.add_argument("--steps", type=int, default=40, help="train/ddp: steps per run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fill-photos", type=int, default=24)
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    from photorecon.threads import configure

    configure(1)
    print(f"bench/scale.py on {os.cpu_count()} CPUs; {' '.join(sys.argv[1:])}")
    sections = {
        "memory": ("Memory while streaming (one reader)",
                   ["path", "photos read", "RSS MiB", "photos/s"], memory),
        "read": ("Reading photos", ["from", "photos", "photos/s (decoded, <= 1024 px)"], read),
        "train": ("Training throughput (one thread, batch 8)",
                  ["net", "data", "images/s", "vs in memory"], train_section),
        "ddp": ("Training from shards across processes (tiny net)",
                ["processes", "images/s", "processes in result.yaml"], ddp_section),
        "fill": ("fill --shard K/N, workers at once (default model, 640x480, one box)",
                 ["workers", "photos", "wall s", "photos/s"], fill_section),
    }  # fmt: skip
    for name in SECTIONS:
        if name in only:
            title, head, run = sections[name]
            table(title, head, run(args, work))


if __name__ == "__main__":
    main()
