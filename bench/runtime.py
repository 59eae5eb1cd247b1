"""PyTorch vs its ONNX export on onnxruntime and on OpenVINO, on the CPU, for the shipped
ffc model at 256x256.

Run: .venv/bin/python bench/runtime.py [--batch 8] [--repeats 5]
Exports the model to a temporary ONNX file as the fill path does (a blending net's fill and
gate apart), prints how far each engine's fill is from PyTorch's and images/s.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import torch

from photorecon.models.loading import load_model
from photorecon.models.onnx import export_onnx
from photorecon.models.onnxrt import ENGINES, OnnxModel


def images_per_s(model, masked, mask, repeats: int) -> float:
    with torch.inference_mode():
        model(masked, mask)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model(masked, mask)
            best = min(best, time.perf_counter() - start)
    return masked.shape[0] / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ffc")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = load_model(args.model)
    gen = torch.Generator().manual_seed(0)
    masked = torch.rand(args.batch, 3, 256, 256, generator=gen)
    mask = torch.zeros(args.batch, 1, 256, 256)
    mask[..., 40:115, 60:135] = 1
    mask[..., 150:225, 120:195] = 1
    masked = masked * (1 - mask)
    with torch.inference_mode():
        reference = model(masked, mask)
    engines = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx", parts=True)
        size_mb = path.stat().st_size / 2**20
        for engine in ENGINES:
            if importlib.util.find_spec(engine) is None:
                continue
            runner = OnnxModel(path, engine=engine)
            with torch.inference_mode():
                diff = (runner(masked, mask) - reference).abs().max().item() * 255
            engines[engine] = (diff, images_per_s(runner, masked, mask, args.repeats))
    nhwc_ips = images_per_s(model, masked, mask, args.repeats)  # load_model's layout
    nchw = load_model(args.model).to(memory_format=torch.contiguous_format)
    nchw_ips = images_per_s(nchw, masked, mask, args.repeats)
    print(
        f"{args.model}, batch {args.batch}, 256x256, CPU threads {torch.get_num_threads()}; "
        f"ONNX file {size_mb:.1f} MiB"
    )
    print("| runtime | images/s | max difference from PyTorch (levels of 255) |")
    print("|---|---|---|")
    print(f"| PyTorch (eager, fp32, NCHW weights) | {nchw_ips:.1f} | 0 |")
    print(f"| PyTorch (eager, fp32, channels-last weights) | {nhwc_ips:.1f} | 0 |")
    for engine, (diff, ips) in engines.items():
        print(f"| {engine} (CPU) | {ips:.1f} | {diff:.2f} |")


if __name__ == "__main__":
    main()
