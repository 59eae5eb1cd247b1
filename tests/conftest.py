"""Tiny data made on the spot: synthetic photos, a photo pack and a built data set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from PIL import Image

from photorecon.data.build import BuildConfig, build_dataset

# Fuzz tests (test_fuzz.py): a derandomised profile for CI and everyday runs, the same 300+
# examples every time; HYPOTHESIS_PROFILE=long for a deeper, freshly random search.
_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=300, derandomize=True, **_FUZZ)
settings.register_profile("long", max_examples=5000, **_FUZZ)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def synthetic_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like RGB uint8 image: smooth colour gradients, blobs and sensor noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        fy, fx, phase = [*rng.uniform(0.005, 0.03, 2).tolist(), rng.uniform(0, 6.28)]
        image[..., c] = 120 + 80 * np.sin(fy * yy + fx * xx + phase)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(15, 60)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        image += blob[..., None] * rng.uniform(-80, 80, 3)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_pack(folder: Path, count: int = 10, seed: int = 0) -> Path:
    """A photo pack folder with `count` synthetic photos and its manifest.json."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        h, w = int(rng.integers(260, 420)), int(rng.integers(260, 420))
        rel = f"photos/synthetic/photo_{i:02d}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_photo(rng, h, w)).save(folder / rel)
        records.append(
            dict(
                source="synthetic",
                version="0",
                licence="CC0",
                origin=rel,
                path=rel,
                width=w,
                height=h,
                sha256="-",
            )
        )
    (folder / "manifest.json").write_text(json.dumps(records))
    return folder


@pytest.fixture(scope="session")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pack(tmp_path_factory.mktemp("pack"))


@pytest.fixture(scope="session")
def dataset(pack: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built data set: 10 photos, 2 crops each; val and test get 2 photos each."""
    out = tmp_path_factory.mktemp("ds") / "ds"
    cfg = BuildConfig(seed=1, val_frac=0.2, test_frac=0.2, crops_per_photo=2)
    build_dataset(pack, out, cfg, workers=1, progress=False)
    return out


@pytest.fixture(autouse=True, scope="session")
def _own_export_cache(tmp_path_factory):
    """ONNX exports made by the tests go to a folder of the session's, not the user's cache."""
    saved = {k: os.environ.get(k) for k in ("PHOTORECON_CACHE", "PHOTORECON_WEIGHTS")}
    os.environ["PHOTORECON_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
    # and no weights a user's training shipped: the package's own
    os.environ["PHOTORECON_WEIGHTS"] = str(tmp_path_factory.mktemp("user-weights"))
    yield
    for key, before in saved.items():
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def ranks_failure(result) -> str:
    """What a failed torchrun said: the ranks' own errors (their tracebacks' last lines, which
    the launcher's long report pushes out of a plain tail), then the tail."""
    lines = result.stderr.splitlines()
    own = [ln for ln in lines if "Error" in ln or "error:" in ln or "Assertion" in ln][:20]
    return "\n".join([*own, "...", *lines[-15:]])


def run_torchrun(cmd: list[str], env: dict, timeout: float):
    """A torchrun job's CompletedProcess, run once more where a rank was killed by SIGABRT
    (exit code -6) and no rank reported an error of its own: on this 2-core machine, with
    pytest's other worker busy, a gloo rank was seen to abort so in 2 of about 20 full runs
    while every lone run passed. A job that fails for a reason of its own fails at once."""
    import subprocess
    import warnings

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    aborted = "exitcode: -6" in result.stderr or "exitcode  : -6" in result.stderr
    own = [ln for ln in result.stderr.splitlines() if "Error" in ln and "ChildFailed" not in ln]
    if result.returncode != 0 and aborted and not own:
        message = f"a torchrun rank aborted (SIGABRT); run again:\n{ranks_failure(result)}"
        warnings.warn(message, stacklevel=2)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return result


@pytest.fixture
def one_torchrun():
    """Lets one test at a time start torchrun jobs, across pytest-xdist's workers: two
    `--standalone` jobs started together on this host were seen to abort together (rank 0
    SIGABRT in both), and each alone passes."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "photorecon-tests-torchrun.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
