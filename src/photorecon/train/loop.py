"""The training engine: `train(cfg, out)` reads top to bottom; its parts live beside it.

One engine drives every trainer kind (models.registry.TRAINERS: fills, detectors, restorers, GAN,
CycleGAN, diffusion LoRA; `steps.py`). Samples are indexed
by a global step counter, so a run is reproducible for a seed, resumes exactly where it stopped
(after a kill, a SIGTERM or the end of a time chunk), and shards across DDP ranks without a
sampler of its own. The parts: `samples.py` (where batches come from), `evaluation.py`,
`runlog.py` (metrics.csv), `state.py` (checkpoints, resume, shipping), `distributed.py`,
`signals.py`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from photorecon.config import dump_config
from photorecon.errors import PhotoreconError
from photorecon.models.registry import count_parameters, create_model, get_model_info
from photorecon.progress import bar as progress_bar
from photorecon.train.config import TrainConfig
from photorecon.train.distributed import (
    DistInfo,
    agree_max,
    check_ranks_agree,
    init_distributed,
    wrap_ddp,
)
from photorecon.train.evaluation import Evaluator, validate, validate_split
from photorecon.train.runlog import TrainLog
from photorecon.train.samples import build_data
from photorecon.train.signals import StopSignals
from photorecon.train.state import (
    Checkpointer,
    Progress,
    check_same_config,
    ship_if_better,
    warm_start,
)
from photorecon.train.steps import (
    CycleGANStep,
    DetectorStep,
    GANStep,
    RestorerStep,
    Step,
    SupervisedStep,
)

__all__ = [
    "RunResult",
    "build_data",
    "build_step",
    "lr_factor",
    "train",
    "validate",
    "validate_split",
]


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


# How often the host reads the losses (each read waits for the device to finish the step):
# the running loss shown, and the check that no loss has become inf or NaN.
SYNC_EVERY = 10


def check_finite(losses: dict[str, torch.Tensor], step: int) -> None:
    """One line naming the loss that is no longer a number (read on the host: a sync)."""
    for name, value in losses.items():
        number = float(value)
        if not math.isfinite(number):
            raise PhotoreconError(f"the {name} became {number} by step {step}; lower optim.lr")


def build_step(cfg: TrainConfig, generator: nn.Module, info: DistInfo, device, scaler=None) -> Step:
    """The trainer kind registered for the model, with the discriminator registered beside it;
    networks wrapped in DDP when distributed, the training forward compiled when `compile`,
    and `scaler` (fp16 loss scaling) the step's own."""
    model_info = get_model_info(cfg.model.name)
    kind = cfg.trainer or model_info.trainer

    def forward(module: nn.Module) -> nn.Module:  # what the step runs forward: DDP, compiled
        wrapped = wrap_ddp(module, info, device)
        # the training forward only; checkpoints hold the plain module's weights
        return torch.compile(wrapped) if cfg.compile else wrapped

    if kind == "supervised":
        return SupervisedStep(generator, forward(generator), cfg, scaler)
    if kind == "detector":
        return DetectorStep(generator, forward(generator), cfg, scaler)
    if kind == "restorer":
        return RestorerStep(generator, forward(generator), cfg, scaler)
    if kind == "gan":
        from photorecon.models.discriminators import create_discriminator

        disc, conditional = create_discriminator(model_info.discriminator, cfg.gan.d_width)
        disc = disc.to(device)
        return GANStep(
            generator,
            forward(generator),
            disc,
            wrap_ddp(disc, info, device),
            conditional,
            cfg,
            scaler,
        )
    if kind == "cyclegan":
        from photorecon.models.cyclegan import CyclePasses
        from photorecon.models.discriminators import create_discriminator

        d_a = create_discriminator("image", cfg.gan.d_width)[0].to(device)
        d_b = create_discriminator("image", cfg.gan.d_width)[0].to(device)
        return CycleGANStep(
            generator,
            forward(CyclePasses(generator)),
            d_a,
            d_b,
            wrap_ddp(d_a, info, device),
            wrap_ddp(d_b, info, device),
            cfg,
            scaler,
        )
    if kind == "diffusion":
        from photorecon.train.steps import DiffusionStep

        return DiffusionStep(generator, forward(generator.pipe.unet), cfg, scaler)
    raise PhotoreconError(f"model {cfg.model.name!r} has unknown trainer {kind!r}")


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the config's `amp` on this device (None: full precision)."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp not in ("bf16", "fp16", "off"):
        raise PhotoreconError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


@contextlib.contextmanager
def fast_cuda_kernels(device: torch.device):
    """cuDNN autotuning for the fixed training shapes and TF32 matmuls while training on CUDA;
    the process's previous settings come back afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        (
            torch.backends.cudnn.benchmark,
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
        ) = saved


@dataclass
class RunResult:
    best_score: float
    best_step: int
    steps: int
    images_per_s: float
    main: bool = True  # False on the other ranks of a torchrun job
    stopped: str = ""  # why the run stopped before its end: "SIGTERM", "chunk", ...
    # what best_score measures (lower is better): "RMSE" for fills, "error" (1 - F1) for
    # detectors, the restorer's "RMSE" over whole photos
    metric: str = "RMSE"


def train(
    cfg: TrainConfig,
    out: str | Path,
    progress: bool = True,
    resume: bool = False,
    chunk_minutes: float = 0.0,
    on_step: Callable[[int], None] | None = None,
) -> RunResult:
    """Train `cfg.model`; the best (EMA) weights by the validation score (`RunResult.metric`: a
    fill's RMSE over the holes, a detector's 1 - F1, a restorer's RMSE) go to out/best/.

    A run folder that already holds a checkpoint of the same config is resumed (`resume` forces
    it). `chunk_minutes` > 0 stops after that long with a checkpoint, to be continued by running
    the same command again; so does SIGTERM or SIGINT, after the current step. The run seeds
    torch's generators from `cfg.seed` (and a resume restores them from its checkpoint) inside
    a fork of their state: the caller's random numbers are as they were when it returns.
    `on_step(step)` is called after each step (a test's event, a caller's own progress).
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        return _train(cfg, out, progress, resume, chunk_minutes, on_step)


@dataclass
class Run:
    """A run made ready: networks, data, optimiser steps and progress, before the loop."""

    cfg: TrainConfig
    out: Path
    info: DistInfo
    device: torch.device
    generator: nn.Module
    samples: object
    step_fn: Step
    ema: nn.Module | None
    state: Progress
    evaluator: Evaluator
    log: TrainLog
    checkpoints: Checkpointer
    dtype: torch.dtype | None
    metric: str

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def _train(
    cfg: TrainConfig,
    out: str | Path,
    progress: bool,
    resume: bool,
    chunk_minutes: float,
    on_step: Callable[[int], None] | None,
) -> RunResult:
    run = _prepare(cfg, Path(out), resume)
    if isinstance(run, RunResult):  # finished before: nothing to do
        return run
    seen, began, stopped = _loop(run, progress, chunk_minutes, on_step)
    return _finish(run, seen, began, stopped)


def _prepare(cfg: TrainConfig, out: Path, resume: bool) -> Run | RunResult:
    """Networks, data and optimisers, restored from the run folder's checkpoint when there is
    one of this config; nothing is written until all of them are in hand. A run that finished
    before says so and returns its result."""
    info, device = init_distributed(cfg.device)
    model_info = get_model_info(cfg.model.name)
    if not model_info.trainable:
        raise PhotoreconError(f"model {cfg.model.name!r} has nothing to train")
    if model_info.kind == "diffusion" and cfg.ema > 0:  # a copy of a whole pipeline: no
        raise PhotoreconError("a diffusion run trains LoRA weights without an EMA copy: set ema: 0")
    checkpoints = Checkpointer(out, cfg)
    metric = "error" if model_info.kind == "detector" else "RMSE"
    if not resume and checkpoints.exists():
        check_same_config(out, cfg)
        resume = True

    torch.manual_seed(cfg.seed)
    generator = create_model(cfg.model.name, **cfg.model.kwargs)
    if cfg.init and not resume:  # before the (slow) photo loading: a bad init fails at once
        warm_start(generator, cfg.init, cfg.model.name)
    samples, val = build_data(cfg, info, device)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=layout)
    dtype = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    step_fn = build_step(cfg, generator, info, device, scaler)
    ema = copy.deepcopy(generator).eval().requires_grad_(False) if cfg.ema > 0 else None
    state = Progress()
    if resume:
        state = checkpoints.restore(step_fn, ema)
        over = cfg.max_minutes > 0 and state.elapsed > 60 * cfg.max_minutes
        if state.step >= cfg.steps or over:  # nothing left to do: say so, touch nothing
            if info.main:
                print(
                    f"{out}: finished at step {state.step}; "
                    f"best val {metric} {state.best_score:.4f}"
                )
            return RunResult(
                state.best_score, state.best_step, state.step, 0.0, info.main, "", metric
            )
        if hasattr(samples, "positions") and state.data and len(state.data) != samples.plan.streams:
            warnings.warn(
                f"the checkpoint's data came from {len(state.data)} streams, this run has "
                f"{samples.plan.streams} (ranks x workers): the shards go on in another order",
                stacklevel=1,
            )
    recalibrate = None
    if ema is not None and cfg.ema_bn_samples > 0:
        recalibrate = lambda: samples.bn_batches(cfg.ema_bn_samples)  # noqa: E731
    evaluator = Evaluator(val, device, recalibrate)
    log = TrainLog(out, evaluator.kinds, evaluator.key)
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_config(cfg))
        log.start(state.step if resume else None)
        print(
            f"{'resuming' if resume else 'training'} {cfg.model.name} "
            f"({count_parameters(generator):,} parameters, {cfg.trainer or model_info.trainer}) "
            f"on {device} x{info.world} with {samples.describe()}, "
            f"steps {state.step + 1}-{cfg.steps}"
        )
    return Run(
        cfg, out, info, device, generator, samples, step_fn, ema, state, evaluator, log,
        checkpoints, dtype, metric,
    )  # fmt: skip


def _loop(
    run: Run, progress: bool, chunk_minutes: float, on_step: Callable[[int], None] | None
) -> tuple[int, float, str]:
    """One optimisation step per batch; evaluate, checkpoint and stop on schedule. Returns the
    samples seen, when this chunk began and why it stopped early ("" when it did not)."""
    cfg, info, state = run.cfg, run.info, run.state
    began = time.perf_counter() - state.elapsed
    chunk_began = time.perf_counter()
    seen, running, stopped = 0, math.nan, ""
    smooth = None  # the running loss, on the device
    bar = progress_bar(
        total=cfg.steps,
        initial=state.step,
        desc="train",
        unit="step",
        enabled=progress and info.main,
    )
    with fast_cuda_kernels(run.device), StopSignals() as signals:
        for images, masks in run.samples.batches(state.step, cfg.steps):
            state.step += 1
            for module in run.step_fn.modules.values():
                module.train()
            images = images.to(run.device, non_blocking=True).float() / 255
            masks = masks.to(run.device, non_blocking=True)
            # one clock and one stop decision for all ranks: they set the LR and the last step
            elapsed, chunk, signalled = agree_max(
                [
                    time.perf_counter() - began,
                    time.perf_counter() - chunk_began,
                    float(signals.requested is not None),
                ],
                info,
                run.device,
            )
            frac = state.step / cfg.steps
            if cfg.max_minutes > 0:
                frac = max(frac, elapsed / (60 * cfg.max_minutes))
            factor = lr_factor(frac, state.step, cfg.optim.warmup_steps, cfg.optim.min_lr_frac)
            run.step_fn.set_lr(factor)
            losses = run.step_fn(images, masks, run.autocast)
            if run.ema is not None:
                decay = cfg.ema if state.step > cfg.optim.warmup_steps else 0.0
                ema_update(run.ema, run.generator, decay)
            seen += images.shape[0] * info.world
            # the running loss stays on the device; it is read (a wait for the device) and the
            # losses checked only every SYNC_EVERY steps and before validating or stopping
            loss = losses["loss"].float()
            smooth = loss.clone() if smooth is None else smooth.mul_(0.98).add_(loss, alpha=0.02)
            ips = seen / max(time.perf_counter() - chunk_began, 1e-9)
            if state.step % SYNC_EVERY == 0 or state.step % cfg.eval_every == 0:
                running = float(smooth)
                check_finite(losses, state.step)
                bar.set_postfix(loss=f"{running:.4f}", ips=f"{ips:.1f}")
            if hasattr(bar, "set_share"):  # a log's lines: the time left from max_minutes too
                bar.set_share(frac)
                if cfg.max_minutes > 0 and elapsed / 60 >= cfg.max_minutes * state.step / cfg.steps:
                    bar.set_time_limit(elapsed, 60 * cfg.max_minutes)  # time, not steps, bounds it
            bar.update(1)
            state.elapsed = elapsed

            finished = state.step >= cfg.steps or (
                cfg.max_minutes > 0 and elapsed > 60 * cfg.max_minutes
            )
            if signalled:
                stopped = signals.requested or "a signal on another rank"
            elif chunk_minutes > 0 and chunk > 60 * chunk_minutes and not finished:
                stopped = "chunk"
            if finished or stopped:
                running = float(smooth)
                check_finite(losses, state.step)
            if info.main:
                _evaluate_and_save(run, finished, bool(stopped), running, factor, ips)
            if on_step is not None:
                on_step(state.step)
            if finished or stopped:
                break
    bar.close()
    return seen, chunk_began, stopped


def _evaluate_and_save(
    run: Run, finished: bool, stopping: bool, running: float, factor: float, ips: float
) -> None:
    """On the main rank after a step: validate on schedule (the best weights kept), and
    checkpoint on schedule, at the end, or before stopping."""
    cfg, state = run.cfg, run.state
    eval_model = run.ema if run.ema is not None else run.generator
    if state.step % cfg.eval_every == 0 or finished:
        scores = run.evaluator(eval_model)
        if scores[run.evaluator.key] < state.best_score:
            state.best_score, state.best_step = scores[run.evaluator.key], state.step
            run.checkpoints.save_best(eval_model, state.step, scores)
        run.log.record(state.step, running, cfg.optim.lr * factor, scores, ips, state.elapsed / 60)
        run.log.say(state.step, scores, state.best_score, ips)
    every = cfg.checkpoint_every or cfg.eval_every
    if state.step % every == 0 or finished or stopping:
        if hasattr(run.samples, "positions"):
            state.data = run.samples.positions(state.step)
        run.checkpoints.save_last(eval_model, run.step_fn, run.ema, state)


def _finish(run: Run, seen: int, chunk_began: float, stopped: str) -> RunResult:
    """A summary, the ranks' agreement, and (when asked) the shipping decision."""
    cfg, info, state = run.cfg, run.info, run.state
    ips = seen / max(time.perf_counter() - chunk_began, 1e-9)
    if info.main:
        run.checkpoints.write_result(
            state, ips, count_parameters(run.generator), run.device, info.world, run.evaluator.key
        )
        if stopped:
            reason = "time chunk over" if stopped == "chunk" else f"stopped by {stopped}"
            print(
                f"{reason} at step {state.step}: checkpoint saved; run the same command to resume"
            )
        elif cfg.ship:
            ship_if_better(run.out, cfg, run.evaluator, run.device)
    if info.world > 1:
        check_ranks_agree(run.generator, run.device)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return RunResult(
        state.best_score, state.best_step, state.step, ips, info.main, stopped, run.metric
    )
