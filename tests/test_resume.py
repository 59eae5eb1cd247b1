"""Exact resume after SIGKILL, and two-process torchrun training on CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import ranks_failure
from photorecon.checkpoint import read_meta

TINY_RUN = [
    "data.workers=0",
    "data.val_crops_per_photo=1",
    "data.size=64",
    "data.box_size=20",
    "data.val_frac=0.2",
    "data.test_frac=0.2",
    "batch_size=2",
    "eval_every=20",
    "checkpoint_every=5",
    "optim.warmup_steps=3",
    "ema=0.9",
    "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "photorecon.cli", "train", "-q", *args]


def sets(pack: Path, steps: int) -> list[str]:
    out = []
    for item in [f"data.photos={pack}", f"steps={steps}", *TINY_RUN]:
        out += ["--set", item]
    return out


def test_sigkill_then_resume_matches_uninterrupted(pack: Path, tmp_path: Path) -> None:
    steps = 150
    straight = tmp_path / "straight"
    subprocess.run(
        cli("--out", str(straight), *sets(pack, steps)),
        check=True,
        timeout=300,
        capture_output=True,
    )
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        cli("--out", str(killed), *sets(pack, steps)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = killed / "last" / "model.safetensors"
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        try:
            if last.is_file() and read_meta(last).step >= 20:
                break
        except Exception:  # being replaced right now
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = read_meta(last).step
    assert 20 <= stopped_at < steps
    result = subprocess.run(
        cli("--resume", str(killed)), timeout=300, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert read_meta(last).step == steps
    a = load_file(str(straight / "last" / "model.safetensors"))
    b = load_file(str(killed / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] == b[key]).all(), key
    rows = (killed / "metrics.csv").read_text().splitlines()
    assert rows[-1].startswith(f"{steps},")


def test_resume_needs_a_run_folder(tmp_path: Path) -> None:
    result = subprocess.run(cli("--resume", str(tmp_path)), capture_output=True, text=True)
    assert result.returncode == 2 and "not a run folder" in result.stderr


CYCLEGAN = [
    *("--set", "model.name=cyclegan", "--set", "model.kwargs={width: 4, blocks: 1}"),
    *("--set", "gan.d_width=8"),
]


# a wall-clock budget drives the LR schedule: the ranks must share one clock or drift apart
TIMED = ["--set", "steps=1000000", "--set", "max_minutes=0.05"]


@pytest.mark.usefixtures("one_torchrun")
@pytest.mark.parametrize("model", [[], CYCLEGAN, TIMED], ids=["ffc", "cyclegan", "timed"])
def test_torchrun_two_processes_agree(model: list[str], pack: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "photorecon.cli",
        "train",
        "-q",
        "--out",
        str(run),
        *sets(pack, 8),
        *model,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, ranks_failure(result)
    assert "all 2 ranks agree on the weights" in result.stdout
    assert "processes: 2" in (run / "result.yaml").read_text()
    if model is not TIMED:
        assert read_meta(run / "last" / "model.safetensors").step == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optim.lr=fast"], "optim.lr"),
        (["--set", "nope=1"], "unknown config key nope"),
        (["--set", "model.name=telea"], "nothing to train"),
        (["--set", "model.name=zzz"], "unknown model"),
        (["--set", "data.photos=/nonexistent"], "no manifest"),
        (["--set", "init=/nonexistent.safetensors"], "nonexistent.safetensors"),
    ],
)
def test_bad_training_input(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        cli("--out", str(tmp_path / "r"), *args), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()  # a run that cannot start leaves no folder behind


def test_loader_workers_do_not_hang_after_the_parent_used_opencv_threads(
    pack: Path, tmp_path: Path
) -> None:
    # forked workers must not touch OpenCV's thread pool settings: that deadlocked once
    script = (
        "import sys, cv2, numpy as np\n"
        "big = np.ones((2000, 2000, 3), np.float32)\n"
        "cv2.resize(big, (500, 500), interpolation=cv2.INTER_AREA)\n"
        "from photorecon.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["train", "-q", "--out", str(tmp_path / "w"), *sets(pack, 4), "--set", "data.workers=2"]
    result = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_meta(tmp_path / "w" / "last" / "model.safetensors").step == 4
