"""ffc ablation: losses, width, EMA and TTA, beside pix2pix and telea on the same data and budget.

Run on a GPU: .venv/bin/python bench/ablation.py --data data/demo --minutes 10
Each variant trains from configs/ffc.yaml (or pix2pix.yaml) with a few overrides for the same
wall-clock budget, then is scored on the val and test splits (test also with --tta).
Pass --photos with the pack the data set was built from, so no test photo is trained on.
A CPU budget needs a CPU recipe for ffc (small batches, short warm-up, faster EMA):
  --ffc-set batch_size=8 --ffc-set optim.lr=1e-3 --ffc-set optim.warmup_steps=50 --ffc-set ema=0.99
"""

from __future__ import annotations

import argparse
from pathlib import Path

from photorecon.config import load_config
from photorecon.data.challenge_dir import open_split
from photorecon.device import resolve_device
from photorecon.evaluate import evaluate_models
from photorecon.train.config import TrainConfig
from photorecon.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "ffc": ("ffc", []),
    "ffc no-EMA": ("ffc", ["ema=0"]),
    "ffc L1-only": ("ffc", ["loss.hole_l2=0"]),
    "ffc +perceptual": ("ffc", ["loss.perceptual=0.05"]),
    "ffc +adversarial+FM": (
        "ffc",
        [
            "trainer=gan",
            "gan.rec_loss=pixel",
            "gan.rec_weight=1",
            "gan.adv_weight=0.01",
            "gan.feature_matching=1",
            "gan.adv_loss=lsgan",
        ],
    ),
    "ffc width-24": ("ffc", ["model.kwargs={width: 24, downs: 4, blocks: 9, max_width: 384}"]),
    "ffc prior=pushpull": (
        "ffc",
        ["model.kwargs={width: 16, downs: 4, blocks: 9, max_width: 256, prior: pushpull}"],
    ),
    "pix2pix": ("pix2pix", []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/demo")
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", default="runs/ablation")
    parser.add_argument(
        "--set", action="append", default=[], help="override for every variant (before its own)"
    )
    parser.add_argument(
        "--ffc-set",
        action="append",
        default=[],
        help="override for the ffc variants only, e.g. a CPU recipe: batch_size=8",
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = Path(args.data)
    val, test = open_split(data / "val"), open_split(data / "test")
    rows = []
    for label in [v.strip() for v in args.variants.split(",") if v.strip()]:
        base, overrides = VARIANTS[label]
        cfg = load_config(
            TrainConfig,
            ROOT / "configs" / f"{base}.yaml",
            [
                f"data.photos={args.photos}",
                f"data.val_split={data / 'val'}",
                f"data.workers={args.workers}",
                f"max_minutes={args.minutes}",
                "steps=100000000",
                "eval_every=1000",
                *args.set,
                *(args.ffc_set if base == "ffc" else []),
                *overrides,  # last, so each variant differs from the base in what its name says
            ],
        )
        run = Path(args.runs) / label.replace(" ", "_").replace("+", "plus-")
        result = train(cfg, run, progress=False)
        (v,) = evaluate_models(val, [str(run)], device=device, progress=False)
        (t,) = evaluate_models(test, [str(run)], device=device, progress=False)
        (tt,) = evaluate_models(test, [str(run)], device=device, progress=False, tta=True)
        rows.append(
            (
                label,
                t.parameters,
                result.steps,
                f"{result.images_per_s:.1f}",
                f"{v.score.rmse:.4f}",
                f"{t.score.rmse:.4f}",
                f"{tt.score.rmse:.4f}",
            )
        )
    (v,) = evaluate_models(val, ["telea"], device=device, progress=False)
    (t,) = evaluate_models(test, ["telea"], device=device, progress=False)
    rows.append(("telea", 0, "-", "-", f"{v.score.rmse:.4f}", f"{t.score.rmse:.4f}", "-"))
    header = (
        "variant",
        "parameters",
        "steps",
        "train img/s",
        "val RMSE",
        "test RMSE",
        "test RMSE +tta",
    )
    print(f"\ndevice {device}; {args.minutes} min per variant; data {data}")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
