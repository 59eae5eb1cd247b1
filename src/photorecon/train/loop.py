"""The supervised loop: AMP, gradient clipping, warmup + cosine LR, EMA, best checkpoint."""

from __future__ import annotations

import copy
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.config import dump_config, to_dict
from photorecon.data.crops import split_photos
from photorecon.data.photos import read_manifest
from photorecon.device import resolve_device
from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_open
from photorecon.inpaint import composite
from photorecon.models.registry import count_parameters, create_model
from photorecon.train.config import LossConfig, TrainConfig
from photorecon.train.data import RandomHoles, fixed_set, load_photos


def pixel_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cfg: LossConfig
) -> torch.Tensor:
    """Weighted L1/L2 inside the holes (normalised by hole area) plus L1 on known pixels."""
    diff = pred - target
    hole = mask.sum().clamp_min(1.0) * 3
    known = (1 - mask).sum().clamp_min(1.0) * 3
    loss = cfg.hole_l1 * (diff.abs() * mask).sum() / hole
    loss = loss + cfg.hole_l2 * (diff.square() * mask).sum() / hole
    return loss + cfg.known_l1 * (diff.abs() * (1 - mask)).sum() / known


def model_kwargs(model: nn.Module, given: dict) -> dict:
    """Every constructor argument of the model (its `config` when it records one)."""
    return dict(getattr(model, "config", None) or given)


def lr_factor(progress: float, step: int, warmup: int, min_frac: float) -> float:
    """Linear warmup, then cosine decay to `min_frac` as progress goes 0 -> 1."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(max(progress, 0.0), 1.0)
    return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """EMA of parameters; buffers (BatchNorm statistics) are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


@torch.no_grad()
def validate(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    device: torch.device,
    batch_size: int = 32,
) -> float:
    """Challenge RMSE over the holes (each box's pixels counted, as the challenge does)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        img = images[start : start + batch_size].to(device).float() / 255
        mask = masks[start : start + batch_size].to(device)
        masked = img * (1 - mask)
        pred = composite(model(masked, mask).float().clamp(0, 1), masked, mask)
        # quantise as a saved PNG would not: the submission takes floats
        sq = (pred - img).square() * mask
        total += float(sq.sum())
        count += int(mask.sum()) * 3
    return math.sqrt(total / max(count, 1))


@dataclass
class RunResult:
    best_rmse: float
    best_step: int
    steps: int
    images_per_s: float


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


def train(cfg: TrainConfig, out: str | Path, progress: bool = True) -> RunResult:
    """Train `cfg.model` on random holes in the pack's train photos; keep the best EMA weights."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    records = read_manifest(cfg.data.photos)
    paths = [str(Path(cfg.data.photos) / r.path) for r in records]
    splits = split_photos(paths, cfg.data.seed, cfg.data.val_frac, cfg.data.test_frac)
    if not splits["val"]:
        raise PhotoreconError("training needs val photos: set data.val_frac > 0")
    train_photos = load_photos(splits["train"], cfg.data.max_side)
    val_images, val_masks, _ = fixed_set(
        load_photos(splits["val"], cfg.data.max_side), cfg.data, cfg.data.seed
    )
    dataset = RandomHoles(train_photos, cfg.data, cfg.seed, cfg.steps * cfg.batch_size)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=False,
        num_workers=cfg.data.workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=cfg.data.workers > 0,
    )
    model = create_model(cfg.model.name, **cfg.model.kwargs).to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        betas=(cfg.optim.beta1, cfg.optim.beta2),
    )
    amp_dtype = _amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(enabled=amp_dtype == torch.float16)
    meta_config = to_dict(cfg)
    print(
        f"training {cfg.model.name} ({count_parameters(model):,} parameters) on {device}: "
        f"{len(train_photos)} train photos, {len(val_images)} val samples"
    )
    log_path = out / "metrics.csv"
    with open(log_path, "w", newline="") as fh:
        csv.writer(fh).writerow(["step", "loss", "lr", "val_rmse", "images_per_s", "minutes"])
    best_rmse, best_step = math.inf, -1
    start = time.perf_counter()
    seen, running = 0, 0.0
    bar = tqdm(total=cfg.steps, desc="train", unit="step", disable=not progress)
    step = 0
    for step, (images, masks) in enumerate(loader, start=1):
        model.train()
        images = images.to(device, non_blocking=True).float() / 255
        masks = masks.to(device, non_blocking=True)
        masked = images * (1 - masks)
        elapsed = time.perf_counter() - start
        progress_frac = step / cfg.steps
        if cfg.max_minutes > 0:
            progress_frac = max(progress_frac, elapsed / (60 * cfg.max_minutes))
        for group in opt.param_groups:
            group["lr"] = cfg.optim.lr * lr_factor(
                progress_frac, step, cfg.optim.warmup_steps, cfg.optim.min_lr_frac
            )
        with torch.autocast(
            device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
        ):
            pred = model(masked, masks)
        loss = pixel_loss(pred.float(), images, masks, cfg.loss)
        if not torch.isfinite(loss.detach()):
            raise PhotoreconError(f"loss became {loss.detach().item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        scaler.step(opt)
        scaler.update()
        ema_update(ema, model, cfg.ema if step > cfg.optim.warmup_steps else 0.0)
        seen += images.shape[0]
        value = loss.detach().item()
        running = 0.98 * running + 0.02 * value if step > 1 else value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", ips=f"{seen / (time.perf_counter() - start):.0f}")
        timed_out = cfg.max_minutes > 0 and elapsed > 60 * cfg.max_minutes
        if step % cfg.eval_every == 0 or step == cfg.steps or timed_out:
            rmse = validate(ema, val_images, val_masks, device)
            ips = seen / (time.perf_counter() - start)
            minutes = (time.perf_counter() - start) / 60
            with open(log_path, "a", newline="") as fh:
                csv.writer(fh).writerow(
                    [
                        step,
                        f"{running:.5f}",
                        f"{opt.param_groups[0]['lr']:.3g}",
                        f"{rmse:.5f}",
                        f"{ips:.1f}",
                        f"{minutes:.2f}",
                    ]
                )
            meta = CheckpointMeta(
                model=cfg.model.name,
                kwargs=cfg.model.kwargs,
                step=step,
                metrics={"val_rmse": rmse},
                config=meta_config,
            )
            save_weights(out / "last" / "model.safetensors", ema, meta)
            if rmse < best_rmse:
                best_rmse, best_step = rmse, step
                save_weights(out / "best" / "model.safetensors", ema, meta)
            tqdm.write(f"step {step}: val RMSE {rmse:.4f} (best {best_rmse:.4f}) {ips:.0f} img/s")
        if timed_out or step >= cfg.steps:
            break
    bar.close()
    ips = seen / max(time.perf_counter() - start, 1e-9)
    summary = RunResult(best_rmse, best_step, step, ips)
    with atomic_open(out / "result.yaml", "w") as fh:
        fh.write(
            f"best_val_rmse: {best_rmse}\nbest_step: {best_step}\nsteps: {step}\n"
            f"images_per_s: {ips:.2f}\nparameters: {count_parameters(model)}\n"
            f"device: {device}\n"
        )
    return summary
