"""Preemptible training: SIGTERM and time chunks stop with a checkpoint, the same command
resumes to the same weights as an uninterrupted run, and shipped weights are replaced only when
validation improves."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from photorecon.checkpoint import read_meta
from photorecon.train.loop import train
from test_train import tiny_config


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x)


def metrics_steps(run: Path) -> list[int]:
    lines = (run / "metrics.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


def test_sigterm_saves_a_checkpoint_and_the_same_run_resumes(pack: Path, tmp_path: Path) -> None:
    import os

    overrides = ("steps=30", "eval_every=10", "checkpoint_every=1000", "batch_size=2",
                 "optim.warmup_steps=2", "ema=0.9",
                 "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}")  # fmt: skip
    train(tiny_config(pack, *overrides), tmp_path / "straight", progress=False)

    def terminate_at_7(step: int) -> None:  # the event: SIGTERM arrives during step 8
        if step == 7:
            os.kill(os.getpid(), signal.SIGTERM)

    run = tmp_path / "run"
    result = train(tiny_config(pack, *overrides), run, progress=False, on_step=terminate_at_7)
    assert result.stopped == "SIGTERM" and result.steps == 8  # after the step under way
    assert read_meta(run / "last" / "model.safetensors").step == 8  # saved though not due
    again = train(tiny_config(pack, *overrides), run, progress=False)
    assert again.steps == 30 and not again.stopped
    assert same_weights(tmp_path / "straight" / "last" / "model.safetensors",
                        run / "last" / "model.safetensors")  # fmt: skip
    assert metrics_steps(run) == metrics_steps(tmp_path / "straight") == [10, 20, 30]


def test_the_cli_exits_as_shells_expect_after_a_signal(monkeypatch, tmp_path: Path) -> None:
    from photorecon.cli import main
    from photorecon.train import loop

    for stopped, code in (("SIGTERM", 143), ("SIGINT", 130)):
        result = loop.RunResult(0.1, 4, 5, 1.0, True, stopped)
        monkeypatch.setattr(loop, "train", lambda *a, result=result, **k: result)
        with pytest.raises(SystemExit) as exit_:
            main(["train", "-q", "--out", str(tmp_path / "r"), "--set", "steps=9"])
        assert exit_.value.code == code


def train_in_chunks(config, out: Path) -> list[int]:
    """Train `config()` into `out` in chunks of 0.18 s until it finishes; the steps each
    chunk ended at."""
    chunks = []
    for _ in range(200):
        result = train(config(), out, False, chunk_minutes=0.003)
        chunks.append(result.steps)
        if not result.stopped:
            break
    return chunks


def test_chunks_add_up_to_an_uninterrupted_run(pack: Path, tmp_path: Path) -> None:
    overrides = (
        "steps=40",
        "eval_every=10",
        "batch_size=2",
        "optim.warmup_steps=2",
        "ema=0.9",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    )
    cfg = tiny_config(pack, *overrides)
    train(cfg, tmp_path / "straight", progress=False)
    chunks = train_in_chunks(lambda: tiny_config(pack, *overrides), tmp_path / "chunked")
    assert len(chunks) >= 2 and chunks[-1] == 40 and chunks == sorted(chunks)
    assert same_weights(
        tmp_path / "straight" / "last" / "model.safetensors",
        tmp_path / "chunked" / "last" / "model.safetensors",
    )
    assert same_weights(
        tmp_path / "straight" / "best" / "model.safetensors",
        tmp_path / "chunked" / "best" / "model.safetensors",
    )
    assert metrics_steps(tmp_path / "chunked") == [10, 20, 30, 40]
    result_yaml = (tmp_path / "chunked" / "result.yaml").read_text()
    assert float(result_yaml.split("minutes: ")[1]) > 0  # the clock runs on over the chunks
    again = train(tiny_config(pack, *overrides), tmp_path / "chunked", False)
    assert again.steps == 40 and not again.stopped  # a finished run is left as it is
    assert (tmp_path / "chunked" / "result.yaml").read_text() == result_yaml


def test_a_run_folder_resumes_only_with_its_own_config(pack: Path, tmp_path: Path) -> None:
    base = (
        "steps=4",
        "eval_every=4",
        "batch_size=2",
        "model.kwargs={width: 4, downs: 2, blocks: 1}",
    )
    train(tiny_config(pack, *base), tmp_path / "run", progress=False, chunk_minutes=1e-6)
    from photorecon.errors import PhotoreconError

    with pytest.raises(
        PhotoreconError, match=r"another config \(optim.lr: 0.001 there, 0.002 here"
    ):
        train(tiny_config(pack, *base, "optim.lr=2e-3"), tmp_path / "run", progress=False)
    assert train(tiny_config(pack, *base), tmp_path / "run", progress=False).steps == 4


@pytest.mark.parametrize("better", [True, False], ids=["replaced", "kept"])
def test_ship_replaces_weights_only_when_validation_improves(
    pack: Path, tmp_path: Path, better: bool
) -> None:
    common = ("batch_size=4", "optim.warmup_steps=2", "optim.lr=3e-3", "ema=0")
    kwargs = "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}"
    # the "shipped" file: a barely trained run (worse) or a longer one (better than 2 steps)
    shipped_run = tmp_path / "shipped"
    train(
        tiny_config(pack, *common, kwargs, f"steps={2 if better else 60}", "eval_every=60"),
        shipped_run,
        progress=False,
    )
    target = tmp_path / "ffc.safetensors"
    target.write_bytes((shipped_run / "best" / "model.safetensors").read_bytes())
    before = target.read_bytes()
    steps = 40 if better else 2
    cfg = tiny_config(
        pack, *common, kwargs, f"steps={steps}", f"eval_every={steps}", f"ship={target}"
    )
    train(cfg, tmp_path / "run", progress=False)
    assert (target.read_bytes() != before) == better
    if better:  # the run's best weights, in half precision as shipped weights are
        best = load_file(str(tmp_path / "run" / "best" / "model.safetensors"))
        shipped = load_file(str(target))
        assert all(
            torch.equal(shipped[k], v.half() if v.is_floating_point() else v)
            for k, v in best.items()
        )
        assert read_meta(target).metrics["val_rmse"] < read_meta(shipped_run).metrics["val_rmse"]


def test_ship_by_name_writes_to_the_users_weights_folder(tmp_path, monkeypatch) -> None:
    from photorecon.models.files import shipped_weights
    from photorecon.train.state import ship_target

    monkeypatch.setenv("PHOTORECON_WEIGHTS", str(tmp_path / "mine"))
    packaged = shipped_weights("ffc")
    assert packaged is not None and "site-packages" not in str(tmp_path)
    current, target = ship_target("ffc")
    assert current == packaged and target == tmp_path / "mine" / "ffc.safetensors"
    target.parent.mkdir()
    target.write_bytes(packaged.read_bytes())  # what a finished run would have shipped
    assert shipped_weights("ffc") == target  # the user's own come first


def test_a_full_disk_is_one_line_and_the_checkpoint_before_is_whole(
    pack: Path, tmp_path: Path, monkeypatch
) -> None:
    import errno

    from photorecon.errors import PhotoreconError
    from photorecon.train import state

    overrides = ("steps=20", "eval_every=100", "checkpoint_every=5", "batch_size=2",
                 "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}")  # fmt: skip
    real, calls = state.save_state, []

    def filling_up(folder, step, ema, extra):
        calls.append(extra["step"])
        if extra["step"] == 10:  # the disk is full by the second checkpoint, mid-state
            (folder.with_name("partial.bin")).write_bytes(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(folder, step, ema, extra)

    monkeypatch.setattr(state, "save_state", filling_up)
    run = tmp_path / "run"
    with pytest.raises(PhotoreconError) as err:
        train(tiny_config(pack, *overrides), run, progress=False)
    message = str(err.value)
    assert "cannot write the checkpoint of step 10" in message and "No space left" in message
    assert "\n" not in message and "the one before is kept" in message
    # weights and state both still at step 5, nothing half-written left beside them
    assert read_meta(run / "last" / "model.safetensors").step == 5
    saved = torch.load(run / "last" / "state" / "trainer.pt", weights_only=True)
    assert saved["step"] == 5
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("last")) == ["last"]
    monkeypatch.setattr(state, "save_state", real)  # room again: the same run resumes from 5
    result = train(tiny_config(pack, *overrides), run, progress=False)
    assert result.steps == 20 and read_meta(run / "last" / "model.safetensors").step == 20


def test_a_crash_between_the_renames_leaves_the_checkpoint_before(tmp_path: Path) -> None:
    from photorecon.train.state import recover_folder

    last, old = tmp_path / "last", tmp_path / "last.old"
    old.mkdir()
    (old / "model.safetensors").write_bytes(b"step 5")
    recover_folder(last)  # last moved aside, the new one not yet renamed in: back it comes
    assert (last / "model.safetensors").read_bytes() == b"step 5" and not old.exists()


def test_a_checkpoint_from_before_the_rename_resumes_with_its_best_score() -> None:
    from photorecon.train.state import progress_from

    old = {"step": 40, "best_rmse": 0.125, "best_step": 30, "elapsed": 12.0}
    new = {"step": 40, "best_score": 0.25, "best_step": 30}
    assert progress_from(old).best_score == 0.125 and progress_from(old).elapsed == 12.0
    assert progress_from(new).best_score == 0.25
