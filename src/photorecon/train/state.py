"""Checkpoints of a run: best/ and last/ weights, the resume state, the config check on resume,
warm starts from other weights, and the end-of-run decision to replace shipped weights."""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from photorecon.checkpoint import CheckpointMeta, cpu_state, save_weights
from photorecon.config import load_config, to_dict
from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_open
from photorecon.train.config import TrainConfig


def model_kwargs(model: nn.Module, given: dict) -> dict:
    """Every constructor argument of the model, as it recorded them (models/base.py)."""
    return dict(model.config or given)


def save_state(folder: Path, step, ema: nn.Module | None, extra: dict) -> None:
    """Everything a resume needs, written to a temporary folder and swapped in whole."""
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
    swap_folder(tmp, folder)


def swap_folder(fresh: Path, folder: Path) -> None:
    """Put `fresh` where `folder` is: the old one moved aside, the new one renamed in, the
    old one removed. A crash in between leaves `folder.old`, which `recover_folder` restores."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    fresh.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(folder: Path) -> None:
    """After a crash between `swap_folder`'s two renames: the previous folder back in place."""
    old = folder.with_name(folder.name + ".old")
    if not folder.exists() and old.is_dir():
        old.rename(folder)


def load_state(folder: Path, step, ema: nn.Module | None) -> dict:
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
        raise PhotoreconError(f"{folder}: cannot resume ({first_line(exc)})") from None
    for name, opt in step.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state


@dataclass
class Progress:
    """What a checkpoint carries besides the networks: where the run is and how it went."""

    step: int = 0
    best_score: float = math.inf  # the best validation score, lower is better
    best_step: int = -1
    elapsed: float = 0.0  # seconds of training so far, over every chunk and resume
    # streamed data: where each stream stood (epoch, shard, offset), for the record and to
    # notice a resume with another number of streams
    data: list = dataclasses.field(default_factory=list)


def progress_from(state: dict) -> Progress:
    """The run's progress from a checkpoint's trainer state (runs saved before the best score
    was called `best_score` hold it as `best_rmse`, whatever it measured)."""
    return Progress(
        state["step"],
        state["best_score"] if "best_score" in state else state["best_rmse"],
        state["best_step"],
        state.get("elapsed", 0.0),
        list(state.get("data") or []),
    )


class Checkpointer:
    """out/best/model.safetensors, out/last/{model.safetensors,state/} and out/result.yaml."""

    def __init__(self, out: Path, cfg: TrainConfig) -> None:
        self.out, self.cfg = out, cfg
        self.state_dir = out / "last" / "state"
        self.config = to_dict(cfg)
        recover_folder(out / "last")

    def exists(self) -> bool:
        return (self.state_dir / "trainer.pt").is_file()

    def _meta(self, model: nn.Module, step: int, metrics: dict) -> CheckpointMeta:
        kwargs = model_kwargs(model, self.cfg.model.kwargs)
        return CheckpointMeta(self.cfg.model.name, kwargs, step, metrics, self.config)

    def save_best(self, model: nn.Module, step: int, scores: dict[str, float]) -> None:
        metrics = {f"val_{k}": v for k, v in scores.items()}
        path = self.out / "best" / "model.safetensors"
        try:
            save_weights(path, model, self._meta(model, step, metrics))
        except (OSError, RuntimeError, SafetensorError) as exc:
            raise PhotoreconError(
                f"{path}: cannot write the best weights of step {step} ({first_line(exc)}); "
                "the file before is kept"
            ) from None

    def save_last(self, model: nn.Module, step_fn, ema: nn.Module | None, run) -> None:
        """Weights and resume state of one step, written side by side into a fresh folder
        that then replaces out/last whole: the two always belong to the same step. A write
        that fails (a full disk) is one line, and the checkpoint before stays as it was."""
        extra = {
            "step": run.step,
            "best_score": run.best_score,
            "best_step": run.best_step,
            "elapsed": run.elapsed,
            "scaler": step_fn.scaler.state_dict(),
            "data": run.data,
        }
        last = self.out / "last"
        fresh = self.out / "last.new"
        shutil.rmtree(fresh, ignore_errors=True)
        try:
            save_weights(fresh / "model.safetensors", model, self._meta(model, run.step, {}))
            save_state(fresh / "state", step_fn, ema, extra)
        except (OSError, RuntimeError, SafetensorError) as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            kept = "the one before is kept" if last.is_dir() else "there is none before it"
            raise PhotoreconError(
                f"{last}: cannot write the checkpoint of step {run.step} ({first_line(exc)}); "
                f"{kept}"
            ) from None
        swap_folder(fresh, last)

    def restore(self, step_fn, ema: nn.Module | None):
        state = load_state(self.state_dir, step_fn, ema)
        if "scaler" in state:
            step_fn.scaler.load_state_dict(state["scaler"])
        return progress_from(state)

    def write_result(
        self, run, ips: float, parameters: int, device, world: int, key: str = "rmse"
    ) -> None:
        with atomic_open(self.out / "result.yaml", "w") as fh:
            fh.write(
                f"best_val_{key}: {run.best_score}\nbest_step: {run.best_step}\nsteps: {run.step}\n"
                f"images_per_s: {ips:.2f}\nparameters: {parameters}\n"
                f"device: {device}\nprocesses: {world}\nminutes: {run.elapsed / 60:.2f}\n"
            )


def check_same_config(out: Path, cfg: TrainConfig) -> None:
    """A run folder with a checkpoint is resumed only by the config that made it."""
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        raise PhotoreconError(f"{out}: has a checkpoint but no config.yaml; use another --out")
    saved, given = to_dict(load_config(TrainConfig, saved_path)), to_dict(cfg)
    differ = _differences(saved, given)
    if differ:
        shown = "; ".join(differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")
        raise PhotoreconError(
            f"{out}: holds a run of another config ({shown}); continue it with "
            f"--resume {out}, or give another --out"
        )


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(a.keys() | b.keys()):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict) and key != "kwargs" and key != "holes":
            out += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}: {x!r} there, {y!r} here")
    return out


def warm_start(model: nn.Module, spec: str, name: str) -> None:
    """Copy the weights of `spec` (shipped name, run folder or checkpoint) into `model`."""
    from photorecon.checkpoint import load_fitting
    from photorecon.models.base import kind_of
    from photorecon.models.loading import load_model, role_of

    source = load_model(spec, role=role_of(kind_of(model)))  # on torch: the network itself
    mine, given = dict(model.config), dict(source.config)
    # arguments that only add modules (ffc's blend gate) may differ: those start fresh
    additive = {k: v for k, v in model.additive_args.items() if k not in given}
    differ = sorted(
        k for k in mine.keys() | given.keys() if mine.get(k) != given.get(k) and k not in additive
    )
    detail = ", ".join(f"{k}: {given.get(k)!r} there, {mine.get(k)!r} here" for k in differ)
    if type(source) is not type(model):
        detail = f"a {type(source).__name__} there"
    if detail:
        raise PhotoreconError(
            f"init {spec}: not the {name!r} network this config builds ({detail})"
        )
    new_modules = tuple(prefix for prefixes in additive.values() for prefix in prefixes)
    misfit = f"init {spec}: its weights do not fit model {name!r}"
    load_fitting(model, source.state_dict(), misfit, new_modules)


def ship_target(spec: str) -> tuple[Path, Path]:
    """(the weights to beat, where the better ones go) for `ship`: for a .safetensors path,
    that file both times; for a model's name, the weights it loads now, and its file in the
    user's weights folder (the installed package is never written to)."""
    from photorecon.models.files import shipped_weights, user_weights_dir

    if spec.endswith(".safetensors"):
        return Path(spec), Path(spec)
    found = shipped_weights(spec)
    if found is None:
        raise PhotoreconError(f"ship {spec!r}: no shipped weights of that name to replace")
    return found, user_weights_dir() / f"{spec}.safetensors"


def ship_if_better(out: Path, cfg: TrainConfig, evaluator, device) -> bool:
    """Score the shipped weights and the run's best on the run's validation set; replace the
    shipped file (fp16, atomically) only if the run's are better. Prints the decision."""
    from photorecon.models.loading import load_checkpoint

    current, target = ship_target(cfg.ship)
    best = load_checkpoint(out / "best" / "model.safetensors", device)
    key = evaluator.key
    name = "val RMSE" if key == "rmse" else f"val {key}"
    scores = evaluator(best, recalibrate=False)
    mine = scores[key]
    theirs = math.inf
    if current.is_file():
        theirs = evaluator(load_checkpoint(current, device), recalibrate=False)[key]
    if mine < theirs:
        meta = CheckpointMeta(
            cfg.model.name,
            model_kwargs(best, cfg.model.kwargs),
            0,
            {f"val_{k}": v for k, v in scores.items()} if key != "rmse" else {"val_rmse": mine},
            to_dict(cfg),
        )
        save_weights(target, best, meta, dtype=torch.float16)
        print(f"ship: {name} {mine:.4f} < {theirs:.4f} of {current}: wrote {target}")
        return True
    print(f"ship: {name} {mine:.4f} is not below {theirs:.4f} of {current}: kept it")
    return False
