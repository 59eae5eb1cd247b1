"""A damaged export cache is found and made anew, never used quietly: the cached ONNX file
changed on disk, emptied, or OpenVINO's compiled copy of it changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo


def fill(tmp: Path, cache: Path, runtime: str, out: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHOTORECON_CACHE": str(cache)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "photorecon.cli",
            "fill",
            str(tmp / "p.png"),
            "--box",
            "30,40,50,60",
            "--runtime",
            runtime,
            "-o",
            str(tmp / out),
        ],
        capture_output=True,
        text=True,
        env=env,
    )


def damage(path: Path, *where: float) -> None:
    """4 KB overwritten at each of these fractions of the file."""
    data = bytearray(path.read_bytes())
    for fraction in where:
        at = int(len(data) * fraction)
        data[at : at + 4096] = os.urandom(4096)
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["middle", "empty"])
def test_a_damaged_cached_export_is_made_anew(tmp_path: Path, how: str) -> None:
    Image.fromarray(synthetic_photo(np.random.default_rng(0), 120, 160)).save(tmp_path / "p.png")
    cache = tmp_path / "cache"
    first = fill(tmp_path, cache, "onnx", "a.png")
    assert first.returncode == 0, first.stderr
    exports = list(cache.glob("*.onnx"))
    assert len(exports) == 1 and Path(f"{exports[0]}.check.npz").is_file()
    if how == "middle":
        damage(exports[0], 0.5)
    else:
        exports[0].write_bytes(b"")
    again = fill(tmp_path, cache, "onnx", "b.png")
    assert again.returncode == 0, again.stderr
    assert "damaged, made anew" in again.stderr and "Traceback" not in again.stderr
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png"))
    assert np.array_equal(a, b)  # the fill of a sound export, not of the damaged one
    third = fill(tmp_path, cache, "onnx", "c.png")
    assert third.returncode == 0 and "damaged" not in third.stderr  # mended for good


def test_a_damaged_openvino_compiled_copy_is_compiled_anew(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    Image.fromarray(synthetic_photo(np.random.default_rng(1), 120, 160)).save(tmp_path / "p.png")
    cache = tmp_path / "cache"
    assert fill(tmp_path, cache, "openvino", "a.png").returncode == 0
    blobs = [p for p in (cache / "openvino").glob("*") if p.stat().st_size > 100_000]
    assert blobs, "OpenVINO wrote no compiled copy"
    for blob in blobs:  # the network's weights (a copy used as it is fills 60 levels off)
        damage(blob, 0.2, 0.4)
    again = fill(tmp_path, cache, "openvino", "b.png")
    assert again.returncode == 0, again.stderr
    assert "compiled anew" in again.stderr and "Traceback" not in again.stderr
    a, b = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("a.png", "b.png"))
    assert np.abs(a - b).max() <= 1  # as the sound copy fills


def test_the_canary_catches_an_engine_that_computes_something_else(tmp_path: Path) -> None:
    from photorecon.models.exportcheck import CacheDamaged, canary_inputs, check_runner, write_check

    path = tmp_path / "net.onnx"
    path.write_bytes(b"an export")
    shapes = {"masked": [1, 3, 64, 64], "mask": [1, 1, 64, 64]}
    feeds = canary_inputs(shapes)
    assert (
        feeds["mask"].mean() > 0.1 and (feeds["masked"][:, :, feeds["mask"][0, 0] > 0] == 0).all()
    )
    truth = [feeds["masked"] * 0.5 + 0.25]
    write_check(path, shapes, truth)

    class Runner:
        def __init__(self, shift: float) -> None:
            self.shift = shift

        def run(self, given):
            return [given["masked"] * 0.5 + 0.25 + self.shift]

    check_runner(path, Runner(0.0))  # the network's own outputs pass
    check_runner(path, Runner(0.003))  # as do bfloat16's small differences
    with pytest.raises(CacheDamaged, match="canary"):
        check_runner(path, Runner(0.05))


def test_new_weights_replace_their_old_export_and_its_compiled_copies(
    tmp_path: Path, monkeypatch
) -> None:
    """Exports (and OpenVINO's compiled copies of them) of weights that changed are removed
    when the new export is made: the cache holds one export per weights file and side."""
    import importlib.util
    import json

    import torch

    from photorecon.checkpoint import CheckpointMeta, save_weights
    from photorecon.cli import main
    from photorecon.models.registry import create_model

    cache = tmp_path / "cache"
    monkeypatch.setenv("PHOTORECON_CACHE", str(cache))
    (cache / "0123456789abcdef0123.onnx").parent.mkdir(parents=True)
    (cache / "0123456789abcdef0123.onnx").write_bytes(b"named the old way")
    (cache / "0123456789abcdef0123.onnx.check.npz").write_bytes(b"its sidecar")
    (cache / "ffffffff-0000000000000000.onnx").write_bytes(b"another weights file's")
    runtime = "openvino" if importlib.util.find_spec("openvino") else "onnx"
    Image.fromarray(synthetic_photo(np.random.default_rng(2), 64, 64)).save(tmp_path / "p.png")
    ckpt = tmp_path / "m.safetensors"

    def fill_with(seed: int, out: str) -> list[Path]:
        torch.manual_seed(seed)
        net = create_model("ffc", width=4, downs=2, blocks=1, max_width=8)
        save_weights(ckpt, net, CheckpointMeta("ffc", net.config))
        os.utime(ckpt, ns=(seed * 10**9, seed * 10**9))  # another time: another export
        args = ["fill", str(tmp_path / "p.png"), "--box", "10,10,20,20", "--model", str(ckpt)]
        assert main([*args, "--runtime", runtime, "-o", str(tmp_path / out), "-q"]) == 0
        return sorted(p for p in cache.glob("*.onnx") if not p.name.startswith("ffffffff"))

    first = fill_with(1, "a.png")  # one export per side the fill runs at
    assert first and all("-" in p.name for p in first)  # the old way's export is gone too
    assert not (cache / "0123456789abcdef0123.onnx.check.npz").exists()
    second = fill_with(2, "b.png")
    assert len(second) == len(first) and not set(second) & set(first)
    for old in first:
        assert not any(cache.glob(old.name + "*"))  # the export and its sidecar
    assert (cache / "ffffffff-0000000000000000.onnx").is_file()  # not theirs to remove
    if runtime == "openvino":
        folder = cache / "openvino"
        records = json.loads((folder / "photorecon-blobs.json").read_text())
        assert {b.name for b in folder.glob("*.blob")} == set(records)
        assert {r["export"] for r in records.values()} <= {str(p.resolve()) for p in second}
