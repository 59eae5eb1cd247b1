"""Validation during training: in-memory samples per hole kind, or a split folder scored like
`photorecon score`; the EMA copy's BatchNorm statistics recomputed first when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from photorecon.errors import PhotoreconError
from photorecon.inpaint import composite
from photorecon.metrics import SquaredErrors
from photorecon.train.batchnorm import recalibrate_batchnorm


@torch.no_grad()
def validate(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    device,
    batch_size: int = 32,
    kinds: list[str] | None = None,
) -> dict[str, float]:
    """RMSE over the holes of in-memory samples (uint8 images, 0/1 masks), per hole kind.

    Returns each kind's RMSE (over its samples' hole pixels) and under "rmse" their mean; with
    one kind (or `kinds` None) "rmse" is the RMSE over all hole pixels (a pixel where two of
    the challenge's squares overlap counts once here; the challenge's scorer counts it per box).
    """
    model.eval()
    kinds = kinds or ["squares"] * len(images)
    sse = torch.zeros(len(images), dtype=torch.float64)
    count = torch.zeros(len(images), dtype=torch.float64)
    for start in range(0, len(images), batch_size):
        img = images[start : start + batch_size].to(device).float() / 255
        mask = masks[start : start + batch_size].to(device)
        masked = img * (1 - mask)
        pred = composite(model(masked, mask).float().clamp(0, 1), masked, mask)
        stop = start + len(img)
        sse[start:stop] = ((pred - img).square() * mask).sum((1, 2, 3)).double().cpu()
        count[start:stop] = mask.sum((1, 2, 3)).double().cpu() * 3
    out = {}
    for kind in dict.fromkeys(kinds):
        rows = torch.tensor([k == kind for k in kinds])
        out[kind] = SquaredErrors().add_sums(sse[rows].sum(), count[rows].sum()).rmse
    out["rmse"] = sum(out.values()) / len(out)
    return out


TOLERANCE = 2  # px: a detection this close to true damage counts (and a miss this close does not)


def near(mask: torch.Tensor, radius: int = TOLERANCE) -> torch.Tensor:
    """(B,1,H,W) bool masks grown by `radius` px (a square neighbourhood)."""
    size = 2 * radius + 1
    return nn.functional.max_pool2d(mask.float(), size, stride=1, padding=radius) > 0


def detection_counts(pred: torch.Tensor, truth: torch.Tensor, radius: int = TOLERANCE):
    """Per-sample counts for tolerant precision and recall of bool (B,1,H,W) masks: flagged
    pixels, flagged pixels near true damage, true pixels, true pixels near a flagged one."""
    flagged = pred.sum((1, 2, 3))
    hits = (pred & near(truth, radius)).sum((1, 2, 3))
    true = truth.sum((1, 2, 3))
    found = (truth & near(pred, radius)).sum((1, 2, 3))
    return flagged, hits, true, found


def detection_scores(flagged, hits, true, found, clean: torch.Tensor, pixels: int):
    """Precision, recall and F1 with the tolerance (false alarms on clean samples count against
    precision), the share of a clean sample's pixels flagged, and the error 1 - F1."""
    precision = float(hits.sum()) / max(float(flagged.sum()), 1.0)
    recall = float(found.sum()) / max(float(true.sum()), 1.0)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    clean_fa = float(flagged[clean].sum()) / max(int(clean.sum()) * pixels, 1)
    return {
        "error": 1.0 - f1,
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "clean_fa": clean_fa,
    }


@torch.no_grad()
def validate_detector(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    labels: list[str],
    device,
    batch_size: int = 16,
    threshold: float = 0.0,
) -> dict[str, float]:
    """A damage detector on in-memory samples (uint8 images, 0/1 true masks, "damaged" or
    "clean" labels): `detection_scores` at the logit `threshold`."""
    model.eval()
    parts = []
    for start in range(0, len(images), batch_size):
        img = images[start : start + batch_size].to(device).float() / 255
        truth = masks[start : start + batch_size].to(device) > 0.5
        pred = model(img).float() > threshold
        parts.append([c.cpu() for c in detection_counts(pred, truth)])
    counts = [torch.cat(c) for c in zip(*parts, strict=True)]
    clean = torch.tensor([label == "clean" for label in labels])
    return detection_scores(*counts, clean, int(masks.shape[-1] * masks.shape[-2]))


def validate_split(model: nn.Module, split_dir: str, device) -> float:
    """Challenge RMSE on a split folder, through the same code as `photorecon score`."""
    from photorecon.challenge import read_submission, score_frames, submission_frame
    from photorecon.data.challenge_dir import open_split
    from photorecon.predict import predict_split

    split = open_split(split_dir)
    if split.truth is None:
        raise PhotoreconError(f"{split_dir}: data.val_split needs a truth.csv")
    filled = list(predict_split(model, split, device=device, progress=False))
    truth = read_submission(split.truth, "truth")
    return score_frames(submission_frame(filled), truth, where=f"validation on {split_dir}").rmse


@torch.no_grad()
def validate_restorer(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor, labels: list[str], device
) -> dict[str, float]:
    """A restorer on in-memory samples (uint8 aged images and targets): RMSE over all of them
    (the score the best checkpoint is kept by: harm to untouched photos counts), PSNR over the
    aged ones, and PSNR over the untouched ones (what it does to photos that need nothing)."""
    model.eval()
    errors = []
    for start in range(0, len(images), 16):
        img = images[start : start + 16].to(device).float() / 255
        target = targets[start : start + 16].to(device).float() / 255
        errors.append(((model(img).float() - target) ** 2).mean((1, 2, 3)).cpu())
    mse = torch.cat(errors)
    aged = torch.tensor([label == "aged" for label in labels])
    psnr = -10 * torch.log10(mse.clamp(min=1e-10))
    out = {"rmse": float(mse.mean().sqrt()), "psnr": float(psnr[aged].mean())}
    if (~aged).any():
        out["untouched_psnr"] = float(psnr[~aged].mean())
    return out


class Evaluator:
    """Scores a model on the run's validation source: {"rmse": ..., per kind ...}, or for a
    damage detector {"error": 1 - F1, "f1", "precision", "recall", "clean_fa"}. `key` names
    the score the run keeps its best checkpoint by (lower is better).

    `bn_batches` (a callable giving training-like batches) recomputes BatchNorm statistics of
    the model first: the EMA copy's own, instead of the live weights' lagging ones.
    """

    def __init__(
        self,
        val: dict,
        device: torch.device,
        bn_batches: Callable[[], Iterable] | None = None,
    ) -> None:
        self.val, self.device, self.bn_batches = val, device, bn_batches
        kinds = list(dict.fromkeys(val.get("kinds", [])))
        self.kinds = kinds if len(kinds) > 1 else []  # the per-kind columns of the log
        self.key = "rmse"
        if val.get("restore"):
            self.kinds = ["psnr", "untouched_psnr"]
        if val.get("detect"):
            self.key = "error"
            self.kinds = ["f1", "precision", "recall", "clean_fa"]
            if bn_batches is not None:
                raise PhotoreconError(
                    "a damage detector keeps its BatchNorm statistics: set ema_bn_samples: 0"
                )

    def __call__(self, model: nn.Module, recalibrate: bool = True) -> dict[str, float]:
        if self.val.get("restore"):
            v = self.val
            return validate_restorer(model, v["images"], v["targets"], v["labels"], self.device)
        if self.val.get("detect"):
            v = self.val
            return validate_detector(model, v["images"], v["masks"], v["labels"], self.device)
        if recalibrate and self.bn_batches is not None:
            recalibrate_batchnorm(model, self.bn_batches(), self.device)
        if "split" in self.val:
            return {"rmse": validate_split(model, self.val["split"], self.device)}
        return validate(
            model, self.val["images"], self.val["masks"], self.device, kinds=self.val["kinds"]
        )
