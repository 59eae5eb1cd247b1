"""A learned model exported to ONNX, run on NumPy arrays: no torch at run time.

Two engines run the export: onnxruntime, and OpenVINO where the CPU computes in bfloat16
natively (AMX, AVX512-BF16): `pick_engine` chooses. A network's 8-bit copy, where one lies
beside its weights (`open_int8`; the shipped detector and ffc have one), runs on OpenVINO's
integer units instead, the fastest on any x86 CPU (a fill's smaller windows run float32 there).
An exported model has a fixed input side (its Fourier units' DFT matrices are built for it), so
one model may be exported at several sides (32, 64, 128, 256): each window runs on the smallest
that holds it, mirrored out to that side and cut back. Runners use the thread count
`photorecon.threads` chose, with spinning off, so they never busy-wait on a shared machine.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photorecon.errors import PhotoreconError, first_line
from photorecon.models.arrays import ArrayInpainter, harmonic_arrays
from photorecon.models.base import EXPORT_SIDE
from photorecon.models.files import INT8_SOURCE, Found, cached_export

Exporter = Callable[[int], Path]  # side -> the path of the model exported at that side
# the engine that runs a network's export for each runtime but torch (models/loading.py
# RUNTIMES): auto picks (`pick_engine`), onnx and openvino name theirs outright
ENGINE_OF = {"auto": "auto", "onnx": "onnxruntime", "openvino": "openvino"}


def mirror_out(image: np.ndarray, mask: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, C) and mask (H, W) mirrored at the bottom and right (holes mirrored too)
    to at least side x side; repeated where a side is a single pixel."""
    border = cv2.BORDER_REFLECT_101 if min(mask.shape) > 1 else cv2.BORDER_REPLICATE
    pad_h, pad_w = max(0, side - mask.shape[0]), max(0, side - mask.shape[1])
    while pad_h or pad_w:  # reflection adds at most the size minus one per pass
        step_h, step_w = min(pad_h, mask.shape[0] - 1), min(pad_w, mask.shape[1] - 1)
        if border == cv2.BORDER_REPLICATE:
            step_h, step_w = pad_h, pad_w
        image = cv2.copyMakeBorder(image, 0, step_h, 0, step_w, border)
        mask = cv2.copyMakeBorder(mask, 0, step_h, 0, step_w, border)
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return image, mask


ENGINES = ("onnxruntime", "openvino")


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for `path`: `threads` intra-op threads, none spinning."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise PhotoreconError(
            "running ONNX models needs onnxruntime (pip install photorecon[onnx])"
        ) from None
    from photorecon.threads import session_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or session_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own kinds for bad files
        raise PhotoreconError(f"{path}: cannot load ONNX model ({first_line(exc)})") from None


@functools.lru_cache(maxsize=1)
def _openvino_core():
    """One OpenVINO runtime core for the process (it loads the CPU plugin once)."""
    import openvino as ov

    return ov.Core()


@functools.lru_cache(maxsize=1)
def openvino_bfloat16() -> bool:
    """Whether OpenVINO is installed and runs networks on this CPU in bfloat16 by its own
    default (AMX or AVX512-BF16 hardware): there it fills about 2x faster than onnxruntime
    in float32 (the default ffc), at under one level of difference in 8-bit output."""
    if importlib.util.find_spec("openvino") is None:
        return False
    try:
        import openvino as ov

        precision = _openvino_core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    except Exception:  # no usable CPU plugin: onnxruntime it is
        return False
    return precision == ov.Type.bf16


def pick_engine(engine: str = "auto") -> str:
    """The engine that runs an exported network: `onnxruntime`, `openvino`, or for `auto`
    OpenVINO where it computes in bfloat16 natively, else onnxruntime (faster in float32)."""
    if engine == "auto":
        return "openvino" if openvino_bfloat16() else "onnxruntime"
    if engine not in ENGINES:
        raise PhotoreconError(f"unknown ONNX engine {engine!r} ({', '.join(ENGINES)})")
    return engine


class OrtRunner:
    """An exported network on onnxruntime: `run(feeds)` -> its outputs, in order."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self._session = session(path, threads)
        first = self._session.get_inputs()[0]
        self.input_name, self.input_shape = first.name, tuple(first.shape)
        self._meta = self._session.get_modelmeta().custom_metadata_map or {}

    def metadata(self, key: str) -> str | None:
        return self._meta.get(key)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(None, feeds)


class OpenVinoRunner:
    """An exported network on OpenVINO's CPU plugin (its default precision: bfloat16 on CPUs
    built for it), `threads` inference threads, the compiled network cached on disk so a later
    process loads it in a fraction of the time. One infer request per thread."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        from photorecon.threads import session_threads

        if importlib.util.find_spec("openvino") is None:
            raise PhotoreconError("the openvino engine needs OpenVINO (pip install openvino)")
        try:
            core = _openvino_core()
            from openvino.frontend import FrontEndManager

            # the ONNX reader alone: read_model would try every format's reader on a bad file
            onnx = FrontEndManager().load_by_framework("onnx")
            model = onnx.convert(onnx.load(str(path)))
        except Exception as exc:  # OpenVINO raises its own kinds for bad files
            raise PhotoreconError(f"{path}: cannot load ONNX model ({_reason(exc)})") from None
        config = {
            "INFERENCE_NUM_THREADS": int(threads or session_threads()),
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }
        cache = _openvino_cache()
        folder = Path(cache["CACHE_DIR"]) if cache else None
        if folder is not None:
            _keep_sound_blobs(folder)
        try:
            self._compiled = core.compile_model(model, "CPU", {**config, **cache})
            if folder is not None:
                _record_blobs(folder, Path(path).resolve())
        except Exception:
            try:  # an unwritable cache folder, say: compile without it
                self._compiled = core.compile_model(model, "CPU", config)
            except Exception as exc:
                raise PhotoreconError(
                    f"{path}: OpenVINO cannot compile the model ({_reason(exc)})"
                ) from None
        first = self._compiled.inputs[0]
        self.input_name = first.any_name
        self.input_shape = tuple(
            d.get_length() if d.is_static else None for d in first.get_partial_shape()
        )
        self._model = model
        self._local = threading.local()

    def metadata(self, key: str) -> str | None:
        where = ["framework", key]
        return (
            str(self._model.get_rt_info(where).astype(str))
            if self._model.has_rt_info(where)
            else None
        )

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer(feeds)
        # the request reuses its output buffers on the next call: copy them out
        return [np.array(result[output]) for output in self._compiled.outputs]


def _reason(exc: Exception) -> str:
    """OpenVINO's message in one line: its last line says what is wrong (the first, where in
    its sources the check failed)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _openvino_cache() -> dict[str, str]:
    """OpenVINO's compiled-model cache folder inside photorecon's cache, when it can be made."""
    from photorecon.fsutil import cache_dir  # the export cache's folder, shared

    folder = cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {}
    return {"CACHE_DIR": str(folder)}


def open_runner(path: str | Path, threads: int | None = None, engine: str = "auto"):
    """An exported network ready to run on `engine` (see pick_engine), checked against its
    sidecar where it has one (models/exportcheck.py): its bytes, then the canary's outputs.
    A compiled copy in OpenVINO's cache that fails the canary is dropped and compiled anew
    once; what still fails is CacheDamaged."""
    from photorecon.models.exportcheck import CacheDamaged, check_file, check_runner

    check_file(path)
    if pick_engine(engine) != "openvino":
        runner = OrtRunner(path, threads)
        check_runner(path, runner)
        return runner
    runner = OpenVinoRunner(path, threads)
    try:
        check_runner(path, runner)
    except CacheDamaged as exc:
        import warnings

        warnings.warn(f"OpenVINO's compiled copy was damaged, compiled anew ({exc})", stacklevel=2)
        _clear_openvino_cache()
        runner = OpenVinoRunner(path, threads)
        check_runner(path, runner)
    return runner


def open_cached(
    path: str | Path,
    threads: int | None = None,
    engine: str = "auto",
    remake: Callable[[], Path] | None = None,
):
    """`open_runner` on a cached export that `remake` (exporting it again to the same path)
    can replace: a damaged or unloadable entry is removed and made anew once, with a notice."""
    import warnings

    from photorecon.models.exportcheck import forget

    try:
        return open_runner(path, threads, engine)
    except PhotoreconError as exc:
        if remake is None:
            raise
        warnings.warn(f"the cached export was damaged, made anew ({exc})", stacklevel=2)
        forget(path)
        return open_runner(remake(), threads, engine)


BLOBS = "photorecon-blobs.json"  # OpenVINO's compiled networks in its cache, with their hashes


def _blob_records(folder: Path) -> dict[str, dict[str, str]]:
    """What BLOBS says of each compiled network: its hash, and the export it was compiled
    from ("" when not known: recorded before the export was)."""
    import json

    try:
        data = json.loads((folder / BLOBS).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    records = {}
    for name, value in data.items():
        if isinstance(value, str):  # the hash alone
            value = {"sha256": value}
        if isinstance(value, dict) and isinstance(value.get("sha256"), str):
            export = value.get("export", "")
            records[str(name)] = {"sha256": value["sha256"], "export": str(export or "")}
    return records


def _keep_sound_blobs(folder: Path) -> None:
    """Before OpenVINO reads its cache: every compiled network whose bytes are not the ones
    recorded when it was written is removed (OpenVINO compiles it anew), with a notice for a
    changed one; OpenVINO itself would load a damaged copy and compute wrong numbers. A
    compiled copy of an export that is gone (replaced when its weights changed) is removed
    without a word: nothing will ask for it again."""
    import warnings

    from photorecon.fsutil import file_sha256

    known = _blob_records(folder)
    for blob in folder.glob("*.blob"):
        record = known.get(blob.name)
        export = Path(record["export"]) if record and record["export"] else None
        if export is not None and not export.is_file():
            blob.unlink(missing_ok=True)
            continue
        try:
            sound = record is not None and file_sha256(blob) == record["sha256"]
        except OSError:
            sound = False
        if not sound:
            if record is not None:
                warnings.warn(
                    f"{blob}: OpenVINO's compiled copy was damaged, compiled anew", stacklevel=3
                )
            blob.unlink(missing_ok=True)


def _record_blobs(folder: Path, export: str | Path = "") -> None:
    """The hashes of the compiled networks OpenVINO has just written, and the export they
    were compiled from."""
    import json

    from photorecon.fsutil import atomic_path, file_sha256

    known = _blob_records(folder)
    blobs = {b.name for b in folder.glob("*.blob")}
    fresh = {
        name: {"sha256": file_sha256(folder / name), "export": str(export)}
        for name in blobs - known.keys()
    }
    if not fresh and known.keys() <= blobs:
        return
    records = {name: r for name, r in {**known, **fresh}.items() if name in blobs}
    try:
        with atomic_path(folder / BLOBS) as tmp:
            tmp.write_text(json.dumps(records, indent=1))
    except PhotoreconError:  # an unwritable cache: its blobs are checked by the canary alone
        pass


def _clear_openvino_cache() -> None:
    """Drop OpenVINO's compiled networks (its file names do not say which export they are)."""
    folder = _openvino_cache().get("CACHE_DIR")
    if folder:
        for blob in Path(folder).glob("*"):
            if blob.is_file():
                blob.unlink(missing_ok=True)


def fixed_size(run, path: str | Path) -> tuple[int, int]:
    """The fixed (H, W) of a runner's first input (batch, C, H, W); one line otherwise."""
    shape = run.input_shape
    if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
        raise PhotoreconError(f"{path}: expected inputs (batch, 3, H, W) of a fixed size")
    return int(shape[2]), int(shape[3])


class OnnxModel(ArrayInpainter):
    """The inpainting contract on an exported network: `fill_arrays` on (B, H, W, 3) arrays,
    and the tensor contract through it. Learned: the fill path runs it on windows at its scale.

    `path` is an exported model; `exporter` (optional) exports the same network at another
    side when a window fits a smaller one (64 or 128), so small windows cost less; `engine`
    runs it (onnxruntime, openvino, or auto: see pick_engine)."""

    kind = "supervised"
    SIDES = (32, 64, 128, 256)

    def __init__(
        self,
        path: str | Path,
        exporter: Exporter | None = None,
        threads: int | None = None,
        engine: str = "auto",
        remake: Callable[[], Path] | None = None,
    ) -> None:
        self.threads = threads
        self.exporter = exporter
        self.engine = pick_engine(engine)
        first = open_cached(path, threads, self.engine, remake)
        self.size = fixed_size(first, path)
        self.sessions: dict[tuple[int, int], Any] = {self.size: first}
        self.work_size = max(self.size)
        # written by export_onnx: what the fill path needs to know of the network
        self.thin_fill_px = int(first.metadata("thin_fill_px") or 0)
        self.window_sides = tuple(
            int(s) for s in (first.metadata("window_sides") or "").split(",") if s.isdigit()
        )
        self.parameter_count = int(first.metadata("parameters") or 0)  # the net's, for tables
        # "harmonic": the export gives the net's fill and its gate's share; the harmonic fill
        # they are mixed with is solved here, on the holes alone
        self.blend = first.metadata("blend") or "none"

    def _session_for(self, height: int, width: int):
        """The smallest session whose input holds (height, width); a smaller export that cannot
        be made (an unusable cache folder) leaves its windows to the larger sessions, mirrored
        out, with a notice."""
        fitting = [s for s in self.sessions if s[0] >= height and s[1] >= width]
        if self.exporter is not None and self.size[0] == self.size[1]:
            side = next((s for s in self.SIDES if s >= max(height, width)), None)
            if side is not None and side < self.size[0] and (side, side) not in self.sessions:
                export = self.exporter
                try:
                    runner = open_cached(
                        export(side), self.threads, self.engine, lambda: export(side)
                    )
                except PhotoreconError as exc:
                    import warnings

                    warnings.warn(
                        f"small windows run at {self.size[0]} px: their export could not be "
                        f"made in the cache ({exc})",
                        stacklevel=2,
                    )
                    self.exporter = None
                else:
                    self.sessions[(side, side)] = runner
                    fitting.append((side, side))
        if not fitting:
            raise PhotoreconError(
                f"this ONNX model takes images up to {self.size}, got {(height, width)}"
            )
        size = min(fitting, key=lambda s: s[0] * s[1])
        return size, self.sessions[size]

    def fill_arrays(self, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
        height, width = masks.shape[1:]
        size, run = self._session_for(height, width)
        if (height, width) != size:
            pairs = [mirror_out(m, k, max(size)) for m, k in zip(masked, masks, strict=True)]
            images = np.stack([p[0][: size[0], : size[1]] for p in pairs])
            holes = np.stack([p[1][: size[0], : size[1]] for p in pairs])
        else:
            images, holes = masked, masks
        outputs = run.run(
            {
                "masked": np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32),
                "mask": np.ascontiguousarray(holes[:, None], np.float32),
            }
        )
        out = outputs[0].transpose(0, 2, 3, 1)
        if self.blend == "harmonic":  # on the window the net saw, as the graph would
            out = blend_harmonic(out, outputs[1].transpose(0, 2, 3, 1), images, holes)
        return out[:, :height, :width]


def blend_harmonic(
    fills: np.ndarray, shares: np.ndarray, masked: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """A blending net's output: its fills (B, H, W, 3) mixed per pixel, by the gate's shares
    (B, H, W, 1), with the harmonic fill of the holes (masks (B, H, W) > 0) in `masked`."""
    out = np.empty(fills.shape, np.float32)
    for i, (fill, share, image, mask) in enumerate(zip(fills, shares, masked, masks, strict=True)):
        harmonic = harmonic_arrays(np.asarray(image, np.float32), mask > 0)
        out[i] = share * fill + (1 - share) * harmonic
    return out


class OnnxDetector:
    """A damage detector exported to ONNX: uint8 RGB tiles (B, h, w, 3) -> damage probability
    (B, h, w); tiles smaller than the export's fixed side are mirrored out to it and cut back."""

    kind = "detector"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        engine: str = "auto",
        remake: Callable[[], Path] | None = None,
    ) -> None:
        self.runner = open_cached(path, threads, engine, remake)
        self.size = fixed_size(self.runner, path)

    def probability(self, tiles: np.ndarray) -> np.ndarray:
        _, height, width = tiles.shape[:3]
        if (height, width) != self.size:
            blank = np.zeros((height, width), np.float32)
            tiles = np.stack(
                [
                    mirror_out(t, blank, max(self.size))[0][: self.size[0], : self.size[1]]
                    for t in tiles
                ]
            )
        x = np.ascontiguousarray(tiles.transpose(0, 3, 1, 2), np.float32) / np.float32(255)
        (logits,) = self.runner.run({self.runner.input_name: x})
        return (1.0 / (1.0 + np.exp(-logits[:, 0, :height, :width]))).astype(np.float32)


def _export(found: Found, role: str, model: Any, side: int) -> Path:
    """The export at `side` from the cache, else made by `models.onnx.export_to_cache`
    (imported, with torch, only then)."""
    cached = cached_export(found.weights, side)
    if cached is not None:
        return cached
    from photorecon.models.onnx import export_to_cache

    return export_to_cache(found, role, model, side)


def open_export(found: Found, role: str = "fill", engine: str = "auto", model: Any = None):
    """A resolved spec's network on an export engine for its role: its cached export, or one
    made now (from `model` when it is built already); a damaged cache entry is made anew once.
    A fill gets the exporter, to export itself at smaller sides for small windows."""
    exporter = functools.partial(_export, found, role, model)
    side = EXPORT_SIDE[role]
    path = found.export or exporter(side)
    remake = functools.partial(exporter, side)
    if role == "detector":
        return OnnxDetector(path, engine=engine, remake=remake)
    return OnnxModel(path, exporter, engine=engine, remake=remake)


def open_int8(found: Found, role: str = "detector") -> OnnxDetector | OnnxModel | None:
    """The 8-bit copy of a damage detector or a fill that lies beside its weights
    (models/quantize.py), on OpenVINO where it is installed (integer units: the fastest on a
    CPU), else onnxruntime; a fill's smaller windows run its float32 exports on the same
    engine. None where there is none, or where it cannot be opened, is not at the role's side
    (a detector's tiles, a fill's work windows) or was made from other weights (a notice: the
    float32 export runs instead)."""
    import warnings

    from photorecon.fsutil import file_sha256

    if found.int8 is None or found.weights is None:
        return None
    engine = "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"
    try:
        if role == "detector":
            model: OnnxDetector | OnnxModel = OnnxDetector(found.int8, engine=engine)
            runner = model.runner
        else:
            exporter = functools.partial(_export, found, role, None)
            model = OnnxModel(found.int8, exporter, engine=engine)
            runner = model.sessions[model.size]
    except PhotoreconError as exc:  # unreadable, or the engine cannot compile it
        warnings.warn(f"the 8-bit {role} is not used: {exc}", stacklevel=2)
        return None
    side = EXPORT_SIDE[role]
    if model.size != (side, side):  # detection's tiles, a fill's work windows
        why = f"its input is {model.size[0]}x{model.size[1]}, not {side}x{side}"
    elif runner.metadata(INT8_SOURCE) != file_sha256(found.weights):
        why = f"made from other weights than {found.weights.name}"
    else:
        return model
    warnings.warn(f"{found.int8}: {why}; not used", stacklevel=2)
    return None


def open_onnx_file(path: str | Path, role: str = "fill", engine: str = "auto"):
    """A user's .onnx file as a fill or a damage detector."""
    if not Path(path).is_file():
        raise PhotoreconError(f"{path}: no such ONNX file")
    if role == "detector":
        return OnnxDetector(path, engine=engine)
    return OnnxModel(path, engine=engine)


def on_runtime(model: Any, found: Found, runtime: str, device: Any, role: str = "fill"):
    """A built model placed on its runtime (models/loading.py RUNTIME_RULE): a network's
    export on `runtime`'s engine where asked for (onnx, openvino) or where auto chooses it (a
    CPU, a role that exports, a network that exports and onnxruntime installed), else the
    model as it is (a torch network in channels-last memory, which ffc fills 1.3x faster on a
    CPU). An export auto chose that cannot be made falls back to torch with a warning."""
    engine = ENGINE_OF.get(runtime, "auto")
    explicit = engine != "auto"  # an engine asked for by name
    if isinstance(model, ArrayInpainter) or not hasattr(model, "parameters"):  # no network
        if explicit:
            raise PhotoreconError(
                f"{found.text} has no network to run on {engine} (use the torch runtime)"
            )
        return model
    exports = (
        getattr(model, "onnx_ready", False)
        and role in EXPORT_SIDE
        and importlib.util.find_spec("onnxruntime") is not None
    )
    if explicit or (runtime == "auto" and str(device).startswith("cpu") and exports):
        if not any(True for _ in model.parameters()):
            raise PhotoreconError(f"{found.text} has no network to export (use the torch runtime)")
        try:
            return open_export(found, role, engine, model)
        except PhotoreconError as exc:
            if explicit:
                raise
            # an unusable cache folder (a file where it should be, no permission): slower, works
            import warnings

            warnings.warn(
                f"{found.text}: running on torch, its ONNX export could not be made or loaded "
                f"from the cache ({exc})",
                stacklevel=2,
            )
    if getattr(model, "kind", None) == "diffusion":
        return model
    import torch

    return model.to(memory_format=torch.channels_last)
