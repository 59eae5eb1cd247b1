"""The training engine: data, schedule, EMA, evaluation, checkpoints, resume and torchrun/DDP.

One engine drives every trainer kind (supervised, GAN, CycleGAN; see `steps.py`). Samples are
indexed by a global counter, so a run is reproducible for a seed, resumes exactly where it
stopped, and shards across DDP ranks without a sampler of its own.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from photorecon.checkpoint import CheckpointMeta, cpu_state, load_fitting, save_weights
from photorecon.config import dump_config, to_dict
from photorecon.data.crops import split_photos
from photorecon.data.photos import read_manifest
from photorecon.device import resolve_device
from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_open
from photorecon.inpaint import composite
from photorecon.models.registry import count_parameters, create_model, get_model_info
from photorecon.train.batchnorm import recalibrate_batchnorm
from photorecon.train.config import TrainConfig
from photorecon.train.data import RandomHoles, SplitPairs, fixed_set, load_photos
from photorecon.train.steps import CycleGANStep, GANStep, Step, SupervisedStep, pixel_loss

__all__ = ["RunResult", "lr_factor", "pixel_loss", "train"]


def lr_factor(progress: float, step: int, warmup: int, min_frac: float) -> float:
    """Linear warmup, then cosine decay to `min_frac` as progress goes 0 -> 1."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(max(progress, 0.0), 1.0)
    return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """EMA of parameters; buffers (BatchNorm statistics) are copied."""
    ema_params, params = list(ema.parameters()), [p.detach() for p in model.parameters()]
    if len(ema_params) != len(params):
        raise PhotoreconError("EMA copy and model differ in their parameters")
    torch._foreach_lerp_(ema_params, params, 1 - decay)  # one fused kernel per dtype/device
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def warm_start(model: nn.Module, spec: str, name: str) -> None:
    """Copy the weights of `spec` (shipped name, run folder or checkpoint) into `model`."""
    from photorecon.models.loading import load_model

    source = load_model(spec)
    mine, given = getattr(model, "config", None) or {}, getattr(source, "config", None) or {}
    differ = sorted(k for k in mine.keys() | given.keys() if mine.get(k) != given.get(k))
    detail = ", ".join(f"{k}: {given.get(k)!r} there, {mine.get(k)!r} here" for k in differ)
    if type(source) is not type(model):
        detail = f"a {type(source).__name__} there"
    if detail:
        raise PhotoreconError(
            f"init {spec}: not the {name!r} network this config builds ({detail})"
        )
    load_fitting(model, source.state_dict(), f"init {spec}: its weights do not fit model {name!r}")


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
    one kind (or `kinds` None) "rmse" is the challenge RMSE over all holes.
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
        out[kind] = math.sqrt(float(sse[rows].sum()) / max(float(count[rows].sum()), 1.0))
    out["rmse"] = sum(out.values()) / len(out)
    return out


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


@dataclass
class RunResult:
    best_rmse: float
    best_step: int
    steps: int
    images_per_s: float
    main: bool = True  # False on the other ranks of a torchrun job


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on GPUs, gloo on CPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), resolve_device(device_name)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return DistInfo(rank, world, local), device


class StepBatches:
    """Batch sampler: global sample indices for steps start+1..steps, this rank's share."""

    def __init__(self, start: int, steps: int, batch: int, info: DistInfo) -> None:
        self.start, self.steps, self.batch, self.info = start, steps, batch, info

    def __len__(self) -> int:
        return max(self.steps - self.start, 0)

    def __iter__(self):
        per_step = self.batch * self.info.world
        for step in range(self.start, self.steps):
            first = step * per_step + self.info.rank * self.batch
            yield list(range(first, first + self.batch))


def bn_batches(dataset: Dataset, cfg: TrainConfig) -> DataLoader:
    """`cfg.ema_bn_samples` training samples for BatchNorm statistics, the same ones every time
    (indices far past any training step's, so the training stream is not disturbed)."""
    first = 2**61
    indices = range(first, first + cfg.ema_bn_samples)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=indices, num_workers=0)


def build_data(cfg: TrainConfig) -> tuple[Dataset, dict]:
    """The training dataset and the validation source (a split folder or in-memory samples)."""
    d = cfg.data
    length = 2**62  # indices come from StepBatches; the dataset is an endless stream
    if d.source == "photos":
        records = read_manifest(d.photos)
        paths = [str(Path(d.photos) / r.path) for r in records]
        splits = split_photos(paths, d.seed, d.val_frac, d.test_frac)
        dataset: Dataset = RandomHoles(
            load_photos(splits["train"], d.max_side), d, cfg.seed, length
        )
        if d.val_split:
            return dataset, {"split": d.val_split}
        if not splits["val"]:
            raise PhotoreconError("training needs val photos: set data.val_frac > 0")
        images, masks, kinds = fixed_set(load_photos(splits["val"], d.max_side), d, d.seed)
        return dataset, {"images": images, "masks": masks, "kinds": kinds}
    if d.source == "split":
        from photorecon.data.challenge_dir import load_original, open_split, read_entries

        if not d.train_split or not d.val_split:
            raise PhotoreconError("data.source=split needs data.train_split and data.val_split")
        split = open_split(d.train_split, d.box_size)
        if split.original_dir is None:
            raise PhotoreconError(f"{d.train_split}: training needs an original/ folder")
        entries = read_entries(split)
        originals = [load_original(split, e) for e in entries]
        return SplitPairs(originals, entries, d, cfg.seed, length), {"split": d.val_split}
    raise PhotoreconError(f"unknown data.source {d.source!r} (photos or split)")


def build_step(cfg: TrainConfig, generator: nn.Module, info: DistInfo, device) -> Step:
    """The trainer kind registered for the model, its networks wrapped in DDP when distributed."""
    kind = cfg.trainer or get_model_info(cfg.model.name).trainer

    def wrap(module: nn.Module) -> nn.Module:
        if info.world <= 1:
            return module
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    if kind == "supervised":
        return SupervisedStep(generator, wrap(generator), cfg)
    if kind == "gan":
        from photorecon.models.context_encoder import context_encoder_discriminator
        from photorecon.models.unet import conditional_discriminator

        if cfg.model.name == "context_encoder":
            disc, conditional = context_encoder_discriminator(width=cfg.gan.d_width), False
        else:
            disc, conditional = conditional_discriminator(width=cfg.gan.d_width), True
        disc = disc.to(device)
        return GANStep(generator, wrap(generator), disc, wrap(disc), conditional, cfg)
    if kind == "cyclegan":
        from photorecon.models.cyclegan import CyclePasses, image_discriminator

        d_a = image_discriminator(width=cfg.gan.d_width).to(device)
        d_b = image_discriminator(width=cfg.gan.d_width).to(device)
        passes = wrap(CyclePasses(generator))
        return CycleGANStep(generator, passes, d_a, d_b, wrap(d_a), wrap(d_b), cfg)
    raise PhotoreconError(f"model {cfg.model.name!r} has unknown trainer {kind!r}")


@torch.no_grad()
def check_ranks_agree(model: nn.Module, device) -> None:
    """Raise unless every DDP rank holds the same weights (max and min of a checksum agree)."""
    total = torch.zeros(1, dtype=torch.float64, device=device)
    for p in model.parameters():
        total += p.detach().double().sum()
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if float(high - low) != 0.0:
        raise PhotoreconError(f"ranks disagree on the weights ({float(low)} vs {float(high)})")
    if dist.get_rank() == 0:
        print(
            f"all {dist.get_world_size()} ranks agree on the weights (checksum {float(total):.6f})"
        )


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp not in ("bf16", "fp16", "off"):
        raise PhotoreconError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


def model_kwargs(model: nn.Module, given: dict) -> dict:
    """Every constructor argument of the model (its `config` when it records one)."""
    return dict(getattr(model, "config", None) or given)


def save_state(folder: Path, step: Step, ema: nn.Module | None, extra: dict) -> None:
    """Everything `--resume` needs, written to a temporary folder and swapped in whole."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    modules = {**step.modules, **({"ema": ema} if ema is not None else {})}
    for name, module in modules.items():
        save_file(cpu_state(module), str(tmp / f"{name}.safetensors"))
    torch.save(
        {
            "optimizers": {k: o.state_dict() for k, o in step.optimizers.items()},
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            **extra,
        },
        tmp / "trainer.pt",
    )
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_state(folder: Path, step: Step, ema: nn.Module | None) -> dict:
    """Restore networks, optimisers and RNG from `save_state`; returns the extra fields."""
    if not (folder / "trainer.pt").is_file():
        raise PhotoreconError(f"{folder}: no trainer state to resume from")
    try:
        for name, module in step.modules.items():
            module.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
        if ema is not None and (folder / "ema.safetensors").is_file():
            ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
        state = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PhotoreconError(f"{folder}: cannot resume ({first})") from None
    for name, opt in step.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state


def plot_metrics(csv_path: Path, out: Path) -> None:
    """Loss and validation RMSE against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(steps, [float(r["loss"]) for r in rows])
    ax1.set(xlabel="step", ylabel="training loss", yscale="log")
    ax2.plot(steps, [float(r["val_rmse"]) for r in rows], marker="o")
    ax2.set(xlabel="step", ylabel="validation RMSE")
    fig.tight_layout()
    with contextlib.suppress(OSError):
        fig.savefig(out)
    plt.close(fig)


def _fast_cuda_kernels(device: torch.device) -> None:
    """Let cuDNN pick the fastest kernels for the fixed training shapes; TF32 for fp32 matmuls."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def train(
    cfg: TrainConfig, out: str | Path, progress: bool = True, resume: bool = False
) -> RunResult:
    """Train `cfg.model`; keep the best (EMA) weights by validation RMSE in out/best/."""
    out = Path(out)
    info, device = init_distributed(cfg.device)
    _fast_cuda_kernels(device)
    model_info = get_model_info(cfg.model.name)
    if not model_info.trainable:
        raise PhotoreconError(f"model {cfg.model.name!r} has nothing to train")
    torch.manual_seed(cfg.seed)
    generator = create_model(cfg.model.name, **cfg.model.kwargs)
    if cfg.init and not resume:  # before the (slow) photo loading: a bad init fails at once
        warm_start(generator, cfg.init, cfg.model.name)
    dataset, val = build_data(cfg)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=layout)
    step_fn = build_step(cfg, generator, info, device)
    if cfg.compile:  # the training forward only; checkpoints hold the plain module's weights
        step_fn.train_model = torch.compile(step_fn.train_model)
    ema = copy.deepcopy(generator).eval() if cfg.ema > 0 else None
    if ema is not None:
        ema.requires_grad_(False)
    start, best_rmse, best_step = 0, math.inf, -1
    log_path = out / "metrics.csv"
    # with several validation hole kinds, each one's RMSE gets a column of its own
    kinds = list(dict.fromkeys(val.get("kinds", [])))
    kind_columns = kinds if len(kinds) > 1 else []
    if resume:
        state = load_state(out / "last" / "state", step_fn, ema)
        start, best_rmse, best_step = state["step"], state["best_rmse"], state["best_step"]
    if info.main:  # only once data, weights and state are in hand: a bad start writes nothing
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_config(cfg))
        if not resume:
            with open(log_path, "w", newline="") as fh:
                header = ["step", "loss", "lr", "val_rmse", "images_per_s", "minutes"]
                csv.writer(fh).writerow(header + [f"val_{k}" for k in kind_columns])
    loader = DataLoader(
        dataset,
        batch_sampler=StepBatches(start, cfg.steps, cfg.batch_size, info),
        num_workers=cfg.data.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.data.workers > 0,
    )
    amp_dtype = _amp_dtype(cfg.amp, device)
    step_fn.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    if resume and "scaler" in state:
        step_fn.scaler.load_state_dict(state["scaler"])

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp_dtype)

    meta_config = to_dict(cfg)
    kwargs = model_kwargs(generator, cfg.model.kwargs)
    if info.main:
        print(
            f"training {cfg.model.name} ({count_parameters(generator):,} parameters, "
            f"{cfg.trainer or model_info.trainer}) on {device} x{info.world}, "
            f"steps {start + 1}-{cfg.steps}"
        )
    began = time.perf_counter()
    seen, running, step = 0, math.nan, start
    every = cfg.checkpoint_every or cfg.eval_every
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc="train",
        unit="step",
        disable=not progress or not info.main,
    )
    for step, (images, masks) in enumerate(loader, start=start + 1):
        for module in step_fn.modules.values():
            module.train()
        images = images.to(device, non_blocking=True).float() / 255
        masks = masks.to(device, non_blocking=True)
        elapsed = time.perf_counter() - began
        if info.world > 1 and cfg.max_minutes > 0:  # one clock for all ranks: it sets LR and stop
            clock = torch.tensor([elapsed], dtype=torch.float64, device=device)
            dist.all_reduce(clock, op=dist.ReduceOp.MAX)
            elapsed = float(clock.item())
        progress_frac = step / cfg.steps
        if cfg.max_minutes > 0:
            progress_frac = max(progress_frac, elapsed / (60 * cfg.max_minutes))
        factor = lr_factor(progress_frac, step, cfg.optim.warmup_steps, cfg.optim.min_lr_frac)
        step_fn.set_lr(factor)
        losses = step_fn(images, masks, autocast)
        if ema is not None:
            ema_update(ema, generator, cfg.ema if step > cfg.optim.warmup_steps else 0.0)
        seen += images.shape[0] * info.world
        running = losses["loss"] if math.isnan(running) else 0.98 * running + 0.02 * losses["loss"]
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", ips=f"{seen / max(elapsed, 1e-9):.1f}")
        stop = cfg.max_minutes > 0 and elapsed > 60 * cfg.max_minutes  # same step on every rank
        last = stop or step >= cfg.steps
        if info.main and (step % cfg.eval_every == 0 or last):
            eval_model = ema if ema is not None else generator
            if ema is not None and cfg.ema_bn_samples > 0:
                recalibrate_batchnorm(ema, bn_batches(dataset, cfg), device)
            if "split" in val:
                rmse = validate_split(eval_model, val["split"], device)
                scores = {"rmse": rmse}
            else:
                scores = validate(
                    eval_model, val["images"], val["masks"], device, kinds=val["kinds"]
                )
                rmse = scores["rmse"]
            ips = seen / max(time.perf_counter() - began, 1e-9)
            with open(log_path, "a", newline="") as fh:
                csv.writer(fh).writerow(
                    [
                        step,
                        f"{running:.5f}",
                        f"{cfg.optim.lr * factor:.3g}",
                        f"{rmse:.5f}",
                        f"{ips:.1f}",
                        f"{(time.perf_counter() - began) / 60:.2f}",
                        *(f"{scores[k]:.5f}" for k in kind_columns),
                    ]
                )
            plot_metrics(log_path, out / "metrics.png")
            meta = CheckpointMeta(cfg.model.name, kwargs, step, {"val_rmse": rmse}, meta_config)
            if rmse < best_rmse:
                best_rmse, best_step = rmse, step
                save_weights(out / "best" / "model.safetensors", eval_model, meta)
            per_kind = "".join(f" {k} {scores[k]:.4f}" for k in kind_columns)
            tqdm.write(
                f"step {step}: val RMSE {rmse:.4f} (best {best_rmse:.4f}){per_kind} {ips:.1f} img/s"
            )
        if info.main and (step % every == 0 or last):
            eval_model = ema if ema is not None else generator
            meta = CheckpointMeta(cfg.model.name, kwargs, step, {}, meta_config)
            save_weights(out / "last" / "model.safetensors", eval_model, meta)
            save_state(
                out / "last" / "state",
                step_fn,
                ema,
                {
                    "step": step,
                    "best_rmse": best_rmse,
                    "best_step": best_step,
                    "scaler": step_fn.scaler.state_dict(),
                },
            )
        if last:
            break
    bar.close()
    ips = seen / max(time.perf_counter() - began, 1e-9)
    if info.main:
        with atomic_open(out / "result.yaml", "w") as fh:
            fh.write(
                f"best_val_rmse: {best_rmse}\nbest_step: {best_step}\nsteps: {step}\n"
                f"images_per_s: {ips:.2f}\nparameters: {count_parameters(generator)}\n"
                f"device: {device}\nprocesses: {info.world}\n"
            )
    if info.world > 1:
        check_ranks_agree(generator, device)
        dist.barrier()
        dist.destroy_process_group()
    return RunResult(best_rmse, best_step, step, ips, info.main)
