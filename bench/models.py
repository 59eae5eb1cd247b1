"""Train each seed model family for a fixed budget and compare them with the classical fills.

Run: .venv/bin/python bench/models.py --data data/demo --minutes 2
Prints one table: model, parameters, train images/s, val RMSE, test RMSE, fill images/s.
On a GPU give real budgets (--minutes 20). Runs are kept under --runs for inspection.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from photorecon.config import load_config
from photorecon.data.challenge_dir import open_split
from photorecon.device import resolve_device
from photorecon.evaluate import evaluate_models
from photorecon.models.files import shipped_weights
from photorecon.train.config import TrainConfig
from photorecon.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
SEED_MODELS = "context_encoder,bilstm,unet_gan,pix2pix,cyclegan"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/demo", help="built data set (val/ and test/)")
    parser.add_argument("--photos", default="data/photos", help="photo pack to train on")
    parser.add_argument("--models", default=SEED_MODELS)
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default="runs/bench")
    parser.add_argument("--set", action="append", default=[], help="extra overrides for all")
    parser.add_argument(
        "--reuse", action="store_true", help="keep finished runs under --runs instead of retraining"
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = Path(args.data)
    rows = []
    for name in args.models.split(","):
        cfg = load_config(
            TrainConfig,
            ROOT / "configs" / f"{name}.yaml",
            [
                f"data.photos={args.photos}",
                f"data.val_split={data / 'val'}",
                f"data.workers={args.workers}",
                f"max_minutes={args.minutes}",
                "steps=10000000",
                "eval_every=10000000",
                *args.set,
            ],
        )
        run = Path(args.runs) / name
        if args.reuse and (run / "result.yaml").is_file():
            done = yaml.safe_load((run / "result.yaml").read_text())
            ips, val_rmse = done["images_per_s"], done["best_val_rmse"]
            print(f"{name}: reusing {run} ({done['steps']} steps)")
        else:
            start = time.perf_counter()
            result = train(cfg, run, progress=False)
            ips, val_rmse = result.images_per_s, result.best_score
            print(f"{name}: {result.steps} steps in {(time.perf_counter() - start) / 60:.1f} min")
        (test,) = evaluate_models(
            open_split(data / "test"), [str(run)], device=device, progress=False
        )
        rows.append(
            (
                name,
                test.parameters,
                f"{ips:.2f}",
                f"{val_rmse:.4f}",
                f"{test.score.rmse:.4f}",
                f"{test.images_per_s:.1f}",
            )
        )
    classical = ["mean", "telea", "ns"] + (["ffc"] if shipped_weights("ffc") else [])
    for spec in classical:
        (val,) = evaluate_models(open_split(data / "val"), [spec], device=device, progress=False)
        (test,) = evaluate_models(open_split(data / "test"), [spec], device=device, progress=False)
        label = "ffc (shipped)" if spec == "ffc" else spec
        rows.append(
            (
                label,
                test.parameters,
                "-",
                f"{val.score.rmse:.4f}",
                f"{test.score.rmse:.4f}",
                f"{test.images_per_s:.1f}",
            )
        )
    header = ("model", "parameters", "train img/s", "val RMSE", "test RMSE", "fill img/s")
    print(f"\ndevice {device}; training budget {args.minutes} min per seed model")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in sorted(rows, key=lambda r: float(r[4])):
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
