"""PyTorch vs onnxruntime on the CPU for the shipped ffc model at 256x256.

Run: .venv/bin/python bench/runtime.py [--batch 8] [--repeats 5]
Exports the model to a temporary ONNX file, checks the two agree, and prints images/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from photorecon.models.loading import load_model
from photorecon.models.onnx import OnnxModel, export_onnx


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
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx")
        size_mb = path.stat().st_size / 2**20
        runtime = OnnxModel(path)
        with torch.inference_mode():
            diff = (runtime(masked, mask) - model(masked, mask)).abs().max().item()
        ort_ips = images_per_s(runtime, masked, mask, args.repeats)
    nhwc_ips = images_per_s(model, masked, mask, args.repeats)  # load_model's layout
    nchw = load_model(args.model).to(memory_format=torch.contiguous_format)
    nchw_ips = images_per_s(nchw, masked, mask, args.repeats)
    print(
        f"{args.model}, batch {args.batch}, 256x256, CPU threads {torch.get_num_threads()}; "
        f"ONNX file {size_mb:.1f} MiB; max |onnx - torch| = {diff:.2e}"
    )
    print("| runtime | images/s |")
    print("|---|---|")
    print(f"| PyTorch (eager, fp32, NCHW weights) | {nchw_ips:.1f} |")
    print(f"| PyTorch (eager, fp32, channels-last weights: the default) | {nhwc_ips:.1f} |")
    print(f"| onnxruntime (CPU) | {ort_ips:.1f} |")


if __name__ == "__main__":
    main()
