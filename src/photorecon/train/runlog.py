"""A run's log: metrics.csv (one row per evaluation, one row per step even across resumes),
metrics.png, and the console line of each evaluation."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

from photorecon.fsutil import atomic_open
from photorecon.progress import say

COLUMNS = ["step", "loss", "lr", "val_rmse", "images_per_s", "minutes"]


class TrainLog:
    """metrics.csv in the run folder; `kinds` adds a val_<kind> column per validation hole kind."""

    def __init__(self, folder: Path, kinds: list[str], key: str = "rmse") -> None:
        self.path = folder / "metrics.csv"
        self.plot_path = folder / "metrics.png"
        self.kinds = kinds
        self.key = key  # the score the best checkpoint is kept by: rmse, or a detector's error
        columns = [f"val_{key}" if c == "val_rmse" else c for c in COLUMNS]
        self.header = columns + [f"val_{k}" for k in kinds]

    def start(self, resumed_step: int | None) -> None:
        """A new log, or for a resumed run the old one without rows past the checkpoint's step
        (they were logged after the last checkpoint and will be logged again)."""
        rows: list[list[str]] = []
        if resumed_step is not None and self.path.is_file():
            with open(self.path, newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header == self.header:
                    rows = [r for r in reader if r and r[0].isdigit() and int(r[0]) <= resumed_step]
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.header)
            writer.writerows(rows)

    def record(
        self,
        step: int,
        loss: float,
        lr: float,
        scores: dict[str, float],
        ips: float,
        minutes: float,
    ) -> None:
        """Append one evaluation's row, redraw the plot and print its line."""
        row = [
            step,
            f"{loss:.5f}",
            f"{lr:.3g}",
            f"{scores[self.key]:.5f}",
            f"{ips:.1f}",
            f"{minutes:.2f}",
            *(f"{scores[k]:.5f}" for k in self.kinds),
        ]
        with open(self.path, "a", newline="") as fh:
            csv.writer(fh).writerow(row)
        plot_metrics(self.path, self.plot_path, self.key)

    def say(self, step: int, scores: dict[str, float], best: float, ips: float) -> None:
        per_kind = "".join(f" {k} {scores[k]:.4f}" for k in self.kinds)
        name = "val RMSE" if self.key == "rmse" else f"val {self.key}"
        score = scores[self.key]
        say(f"step {step}: {name} {score:.4f} (best {best:.4f}){per_kind} {ips:.1f} img/s")


def plot_metrics(csv_path: Path, out: Path, key: str = "rmse") -> None:
    """Loss and the validation score (RMSE, or a detector's error) against step, as a PNG."""
    from photorecon.viz import headless_figure

    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig = headless_figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(steps, [float(r["loss"]) for r in rows])
    ax1.set(xlabel="step", ylabel="training loss", yscale="log")
    main = f"val_{key}"
    label = "mean" if key == "rmse" else key
    ax2.plot(steps, [float(r[main]) for r in rows], marker="o", label=label)
    for column in rows[0]:
        if column.startswith("val_") and column != main:
            ax2.plot(steps, [float(r[column]) for r in rows], lw=0.8, label=column[4:])
    if len(rows[0]) > len(COLUMNS):
        ax2.legend(fontsize=7)
    ax2.set(xlabel="step", ylabel="validation RMSE" if key == "rmse" else "validation")
    fig.tight_layout()
    with contextlib.suppress(OSError):
        fig.savefig(out)
