"""Threads that never spin, and the fill paths that make the default fill cheap: thin holes
by the harmonic fill, the sparse harmonic sweeps, onnxruntime without torch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import synthetic_photo
from photorecon import threads
from photorecon.errors import PhotoreconError


def test_thread_counts_are_checked_and_chosen_from_the_free_cpus(monkeypatch) -> None:
    assert threads.parse_threads("3", "--threads") == 3
    for bad in ("0", "-2", "two", "1.5", ""):
        with pytest.raises(PhotoreconError, match="--threads"):
            threads.parse_threads(bad, "--threads")
    assert threads.default_threads(cpus=8, busy=0) == 8
    assert threads.default_threads(cpus=2, busy=1) == 1  # one core taken by someone else
    assert threads.default_threads(cpus=2, busy=5) == 1  # never fewer than one
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.requested_threads() == 2
    assert threads.requested_threads("1") == 1  # the flag wins over the variable
    monkeypatch.setenv(threads.ENV, "lots")
    with pytest.raises(PhotoreconError, match="PHOTORECON_THREADS"):
        threads.requested_threads()


def test_the_cli_sets_a_passive_wait_policy_before_torch(tmp_path: Path) -> None:
    """In a fresh process: the wait policy and thread count are set before torch starts."""
    code = (
        "import os, sys; from photorecon.cli import main; "
        "main(['models', '--threads', '1']); import torch; "
        "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE 1"
    bad = subprocess.run(
        [sys.executable, "-m", "photorecon.cli", "models", "--threads", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "photorecon: error: --threads must be at least 1, got 0"
    )


def test_sparse_harmonic_sweeps_equal_the_full_frame_ones() -> None:
    import torch.nn.functional as F

    from photorecon.models.arrays import HARMONIC_ITERS
    from photorecon.models.classical import harmonic_fill, pushpull_fill

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 40, 50, generator=g)
    mask = torch.zeros(2, 1, 40, 50)
    mask[0, :, 5:20, 0:12] = 1  # touching the edge: replicated there
    mask[1, :, 30:40, 20:45] = 1
    masked = image * (1 - mask)
    x = pushpull_fill(masked, mask)
    for _ in range(HARMONIC_ITERS):
        x = masked + F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1) * mask
    for layout in (torch.contiguous_format, torch.channels_last):
        got = harmonic_fill(masked.contiguous(memory_format=layout), mask)
        assert torch.allclose(got, x, atol=1e-6)


def test_harmonic_on_arrays_matches_the_tensor_one() -> None:
    import cv2

    from photorecon.models.arrays import harmonic_arrays
    from photorecon.models.classical import harmonic_fill

    image = cv2.GaussianBlur(synthetic_photo(np.random.default_rng(2), 60, 70), (0, 0), 3)
    image = image.astype(np.float32) / 255
    hole = np.zeros((60, 70), np.uint8)
    cv2.line(hole, (2, 3), (65, 50), 1, 3)
    hole = hole > 0
    masked = image * (~hole)[..., None]
    ours = harmonic_arrays(masked, hole)
    theirs = (
        harmonic_fill(
            torch.from_numpy(masked).permute(2, 0, 1)[None],
            torch.from_numpy(hole.astype(np.float32))[None, None],
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    assert np.abs(ours - theirs)[hole].max() < 2 / 255  # push-pull's pyramids differ a little
    assert np.array_equal(ours[~hole], masked[~hole])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_harmonic_sweeps_on_each_holes_box_equal_the_full_frame_solve(seed: int) -> None:
    """Holes of every shape: specks, holes on the edges, a ring around a speck (their boxes
    overlap) and a hole the size of the frame; the sweeps on each hole's box and ring give
    the full-frame Jacobi sweeps' numbers."""
    from photorecon.models.arrays import HARMONIC_ITERS, harmonic_arrays, pushpull_arrays
    from photorecon.models.classical import harmonic_fill

    rng = np.random.default_rng(seed)
    image = rng.random((64, 40, 3)).astype(np.float32)
    hole = rng.random((64, 40)) > 0.93
    hole[0, 5:30] = hole[20:50, -1] = True  # on the edges
    hole[30:45, 5:20] = True
    hole[34:41, 9:16] = False  # a ring ...
    hole[37, 12] = True  # ... around a speck
    masked = image * (~hole)[..., None]
    ours = harmonic_arrays(masked, hole)
    full = pushpull_arrays(masked, (~hole).astype(np.float32)).astype(np.float32)
    for _ in range(HARMONIC_ITERS):  # the full-frame Jacobi sweeps, the edge replicated
        padded = np.pad(full, ((1, 1), (1, 1), (0, 0)), mode="edge")
        mean = sum(padded[r : r + 64, c : c + 40] for r in range(3) for c in range(3)) / 9
        full = np.where(hole[..., None], mean, full).astype(np.float32)
    assert np.abs(ours - full).max() < 1e-6
    tensors = harmonic_fill(
        torch.from_numpy(masked).permute(2, 0, 1)[None],
        torch.from_numpy(hole.astype(np.float32))[None, None],
    )  # torch's push-pull pyramid differs a little
    assert np.abs(ours - tensors[0].permute(1, 2, 0).numpy()).max() < 1e-3
    everything = harmonic_arrays(np.zeros_like(image), np.ones((64, 40), bool))
    assert np.isfinite(everything).all()


def test_harmonic_sweeps_only_the_holes_asked_for() -> None:
    """`only`: the holes touching it get the full solve's numbers, the others keep push-pull's
    (they are never swept: holes that do not touch cannot change each other)."""
    from photorecon.models.arrays import harmonic_arrays, pushpull_arrays

    rng = np.random.default_rng(9)
    image = rng.random((80, 90, 3)).astype(np.float32)
    hole = np.zeros((80, 90), bool)
    hole[10:14, 10:60] = hole[40:70, 30:36] = hole[50:53, 70:73] = True
    only = np.zeros_like(hole)
    only[12, 20] = only[51, 71] = True  # the first and the last hole
    full = harmonic_arrays(image, hole)
    some = harmonic_arrays(image, hole, only=only)
    start = pushpull_arrays(image, (~hole).astype(np.float32))
    kept = np.zeros_like(hole)
    kept[10:14, 10:60] = kept[50:53, 70:73] = True
    assert np.abs(some[kept] - full[kept]).max() < 1e-6
    assert np.abs(some[40:70, 30:36] - start[40:70, 30:36]).max() < 1e-6
    assert np.abs(full[40:70, 30:36] - start[40:70, 30:36]).max() > 1e-3  # it was swept there


def test_thin_holes_skip_the_network_of_a_blended_ffc() -> None:
    import cv2

    from photorecon.anysize import fill_any_size
    from photorecon.models.registry import create_model

    net = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, blend="harmonic").eval()
    assert net.thin_fill_px == 9
    calls = []
    net.register_forward_hook(lambda *a: calls.append(1))
    image = synthetic_photo(np.random.default_rng(4), 120, 160)
    mask = np.zeros((120, 160), np.uint8)
    cv2.line(mask, (5, 5), (150, 100), 1, 3)  # a 3-px scratch
    out = fill_any_size(image, mask, net)
    assert not calls  # filled without the network
    assert _harmonic_alone(image, mask, out) <= 1
    mask[40:80, 40:80] = 1  # a square joins it: one hole, thick now, so the network runs
    fill_any_size(image, mask, net)
    assert calls


def test_specks_as_thin_as_a_line_skip_the_network_too() -> None:
    """Dust: specks at most `thin_fill_px` thick are the harmonic fill's, as thin lines are
    (bench/damage_fill.py val: pinholes 0.0292 -> 0.0288, the rest unchanged); a blot thicker
    than that still goes to the network."""
    from photorecon.anysize import fill_any_size
    from photorecon.models.registry import create_model

    net = create_model("ffc", width=4, downs=2, blocks=1, max_width=8, blend="harmonic").eval()
    calls = []
    net.register_forward_hook(lambda *a: calls.append(1))
    image = synthetic_photo(np.random.default_rng(5), 200, 240)
    mask = np.zeros((200, 240), np.uint8)
    mask[20:23, 30:33] = mask[100:108, 60:68] = mask[150:159, 200:205] = 1  # 3, 8 and 5-9 px
    out = fill_any_size(image, mask, net)
    assert not calls
    assert _harmonic_alone(image, mask, out) <= 1
    mask[60:80, 120:140] = 1  # a 20-px blot
    fill_any_size(image, mask, net)
    assert len(calls) == 1


def _harmonic_alone(image: np.ndarray, mask: np.ndarray, out: np.ndarray) -> int:
    """The largest difference (levels) between `out` in the holes and each hole's harmonic fill
    solved alone on its box and an 8-px margin (what `fill_thin` solves a cell's holes together
    for: push-pull starts from a wider region, the sweeps end within a level)."""
    from photorecon.anysize import labelled_holes
    from photorecon.imageio import to_uint8
    from photorecon.models.arrays import harmonic_arrays

    labels, boxes = labelled_holes(mask)
    worst = 0
    for label, box in enumerate(boxes, start=1):
        rows = slice(max(0, box.row - 8), box.row + box.height + 8)
        cols = slice(max(0, box.col - 8), box.col + box.width + 8)
        alone = harmonic_arrays(image[rows, cols].astype(np.float32) / 255, mask[rows, cols] > 0)
        own = labels[rows, cols] == label
        diff = to_uint8(alone)[own].astype(int) - out[rows, cols][own]
        worst = max(worst, int(np.abs(diff).max()))
    return worst


def test_onnx_runtime_needs_no_torch_once_exported(tmp_path: Path) -> None:
    """`fill` on the default runtime exports ffc once; later processes never import torch."""
    from PIL import Image

    photo = tmp_path / "p.png"
    Image.fromarray(synthetic_photo(np.random.default_rng(0), 96, 128)).save(photo)
    env = dict(os.environ, PHOTORECON_CACHE=str(tmp_path / "cache"))
    args = ["fill", str(photo), "--box", "20,20,30,30", "-o", str(tmp_path / "out.png"), "-q"]
    code = (
        "import sys; from photorecon.cli import main; code = main(sys.argv[1:]); "
        "print('torch' in sys.modules); sys.exit(code)"
    )
    first = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    assert first.stdout.strip().endswith("True")  # exported: torch was needed once
    assert list((tmp_path / "cache").glob("*.onnx"))
    second = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    assert second.stdout.strip().endswith("False")
    # the shipped 8-bit copy fills the auto runs' work windows: the float32 export at that side
    # is made once when an engine is named
    subprocess.run([sys.executable, "-c", code, *args, "--runtime", "onnx"], env=env, check=True)
    for engine in ("onnx", "openvino"):  # either engine named outright: no torch either
        if engine == "openvino" and importlib.util.find_spec("openvino") is None:
            continue
        named = subprocess.run(
            [sys.executable, "-c", code, *args, "--runtime", engine],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert named.stdout.strip().endswith("False"), engine
    torch_run = subprocess.run(
        [sys.executable, "-c", code, *args, "--runtime", "torch", "-o", str(tmp_path / "t.png")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    a = np.asarray(Image.open(tmp_path / "out.png"), np.int16)
    b = np.asarray(Image.open(tmp_path / "t.png"), np.int16)
    assert torch_run.returncode == 0 and np.abs(a - b).max() <= 3  # the same net, two runtimes
