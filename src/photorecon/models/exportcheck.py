"""What makes a cached export trustworthy: a sidecar written beside it when it is made, with
the file's SHA-256 and a canary (the network's outputs, from torch, on an input fixed by a
seed). Opening the export checks both: a file changed on disk fails the hash, and an engine's
own compiled cache that went bad (OpenVINO's, which photorecon does not write) fails the canary.
A damaged entry is made anew once, with a notice; nothing wrong is ever used quietly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path, file_sha256

SUFFIX = ".check.npz"


class CacheDamaged(PhotoreconError):
    """A cached export (or an engine's compiled copy of it) is not what was written."""


def sidecar(path: str | Path) -> Path:
    return Path(f"{path}{SUFFIX}")


def canary_inputs(shapes: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """The canary's inputs, float32, from their shapes (batch 1) and a fixed seed: a photo-like
    picture (smooth shapes and some fine texture) and, for an input named `mask`, one large
    hole and a few thin ones: work that goes through every layer of an inpainting network, as
    a real fill does (isolated pixels would hardly reach the deep ones)."""
    import cv2

    rng = np.random.default_rng(20_261_206)
    feeds = {}
    for name, shape in shapes.items():
        height, width = shape[-2:]
        if name == "mask":
            mask = np.zeros((height, width), np.float32)
            mask[height // 4 : height // 2 + height // 8, width // 3 : width // 3 + width // 3] = 1
            for _ in range(4):
                a = tuple(int(v) for v in rng.integers(0, [width, height]))
                b = tuple(int(v) for v in rng.integers(0, [width, height]))
                cv2.line(mask, a, b, 1.0, 3)
            feeds[name] = np.broadcast_to(mask, shape).astype(np.float32).copy()
            continue
        planes = []
        for _ in range(int(np.prod(shape[:-2]))):
            coarse = cv2.resize(rng.random((6, 6)).astype(np.float32), (width, height))
            planes.append(0.8 * coarse + 0.2 * rng.random((height, width)).astype(np.float32))
        feeds[name] = np.stack(planes).reshape(shape).astype(np.float32)
    if "mask" in feeds and "masked" in feeds:  # the contract: holes hold zeros
        feeds["masked"] = feeds["masked"] * (1 - feeds["mask"])
    return feeds


def write_check(path: str | Path, shapes: dict[str, list[int]], outputs: list[np.ndarray]):
    """The sidecar of an export just written: its hash, its inputs' shapes, the canary's
    outputs (float16)."""
    meta = {"sha256": file_sha256(path), "inputs": shapes}
    arrays = {f"out{i}": np.asarray(o, np.float16) for i, o in enumerate(outputs)}
    with atomic_path(sidecar(path)) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


def _read(path: Path) -> tuple[dict, list[np.ndarray]] | None:
    side = sidecar(path)
    if not side.is_file():
        return None
    try:
        with np.load(side, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            outs = [data[f"out{i}"].astype(np.float32) for i in range(len(data.files) - 1)]
        if not isinstance(meta.get("inputs"), dict) or not isinstance(meta.get("sha256"), str):
            raise ValueError("no inputs or hash")
    except Exception as exc:  # a damaged sidecar is a damaged entry
        raise CacheDamaged(f"{side}: unreadable check ({exc})") from None
    return meta, outs


def check_file(path: str | Path) -> None:
    """The export's bytes are what was written (its sidecar's hash), when it has a sidecar."""
    found = _read(Path(path))
    if found is not None and file_sha256(path) != found[0]["sha256"]:
        raise CacheDamaged(f"{path}: changed since it was written (its SHA-256 differs)")


def close_enough(got: np.ndarray, want: np.ndarray) -> bool:
    """An engine's canary output is the network's: within what bfloat16 arithmetic moves it
    (a twentieth of its spread, and a little), however large its values are."""
    spread = float(np.abs(want - want.mean()).mean())
    return float(np.abs(got - want).mean()) <= 0.05 * spread + 2e-3


def check_runner(path: str | Path, runner) -> None:
    """The runner gives the canary's outputs (when the export has a sidecar)."""
    found = _read(Path(path))
    if found is None:
        return
    meta, wanted = found
    try:
        got = runner.run(canary_inputs(meta["inputs"]))
    except Exception as exc:  # a broken compiled network can fail to run at all
        raise CacheDamaged(f"{path}: the canary does not run ({exc})") from None
    if len(got) != len(wanted) or not all(
        g.shape == w.shape and close_enough(np.asarray(g, np.float32), w)
        for g, w in zip(got, wanted, strict=False)
    ):
        raise CacheDamaged(f"{path}: the engine's output differs from the network's (canary)")


def forget(path: str | Path) -> None:
    """Remove a cached export and its sidecar."""
    for p in (Path(path), sidecar(path)):
        p.unlink(missing_ok=True)
