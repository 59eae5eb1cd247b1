"""Load and fault benchmark of `photorecon serve` on loopback.

Starts the server in its own process, then runs rounds of N client threads sending fills
(a photo and a few boxes), bounded both in request count and in time. Each round prints
p50/p95 latency of the fills, answers counted by status code, how fast a `GET /api/models`
answers while fills run, and the server's resident memory before and after. The `faults`
round sends a corrupt upload (truncated PNG) every tenth request; those must get 415, and
nothing else may change.

Run: .venv/bin/python bench/load.py [--clients 8] [--requests 200] [--seconds 120]
     [--model telea] [--size 512]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def photo_png(size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([np.sin(yy / 37), np.cos(xx / 53), np.sin((yy + xx) / 71)], axis=2)
    pixels = np.clip((base * 0.4 + 0.5 + rng.normal(0, 0.05, base.shape)) * 255, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass
class Round:
    name: str
    latencies: list[float] = field(default_factory=list)
    codes: collections.Counter = field(default_factory=collections.Counter)
    probes: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, code: int | str, seconds: float) -> None:
        with self.lock:
            self.codes[code] += 1
            if code == 200:
                self.latencies.append(seconds)


def run_round(
    base: str,
    name: str,
    clients: int,
    requests: int,
    seconds: float,
    body: bytes,
    corrupt_every: int,
) -> Round:
    """`requests` fills from `clients` threads, stopping early after `seconds`."""
    result = Round(name)
    counter = iter(range(requests))
    counter_lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    boxes = json.dumps([[40, 50, 75, 75], [200, 220, 60, 90], [300, 100, 20, 200]])
    corrupt = body[: len(body) // 3]

    def client() -> None:
        with httpx.Client(base_url=base, timeout=300) as http:
            while time.perf_counter() < deadline:
                with counter_lock:
                    i = next(counter, None)
                if i is None:
                    return
                data = corrupt if corrupt_every and i % corrupt_every == corrupt_every - 1 else body
                began = time.perf_counter()
                try:
                    resp = http.post(
                        "/api/fill",
                        files={"image": ("photo.png", data, "image/png")},
                        data={"boxes": boxes},
                    )
                    result.record(resp.status_code, time.perf_counter() - began)
                except httpx.HTTPError as exc:
                    result.record(type(exc).__name__, time.perf_counter() - began)

    def prober(stop: threading.Event) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not stop.is_set():
                began = time.perf_counter()
                http.get("/api/models").raise_for_status()
                result.probes.append(time.perf_counter() - began)
                stop.wait(0.25)

    stop = threading.Event()
    probe = threading.Thread(target=prober, args=(stop,))
    threads = [threading.Thread(target=client) for _ in range(clients)]
    probe.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    probe.join()
    return result


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="fills per round")
    parser.add_argument("--seconds", type=float, default=120, help="time limit per round")
    parser.add_argument("--model", default="telea")
    parser.add_argument("--size", type=int, default=512, help="side of the square test photo")
    parser.add_argument("--queue", type=int, default=8)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photorecon.cli",
            "serve",
            "--port",
            str(port),
            "--model",
            args.model,
            "--queue",
            str(args.queue),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/api/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start: " + server.stderr.read().decode()[-500:])
        body = photo_png(args.size, 0)
        print(
            f"server pid {server.pid}, model {args.model}, photo {args.size}x{args.size} PNG "
            f"({len(body) / 1024:.0f} KiB), {args.clients} clients, queue {args.queue}"
        )
        print()
        print(
            "| round | fills | answers by code | fills/s | fill p50 s | fill p95 s "
            "| /api/models p95 s | RSS before MiB | RSS after MiB |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, every in (("clean", 0), ("clean again", 0), ("faults (1 in 10 corrupt)", 10)):
            before, began = rss_mb(server.pid), time.perf_counter()
            result = run_round(base, name, args.clients, args.requests, args.seconds, body, every)
            after, wall = rss_mb(server.pid), time.perf_counter() - began
            codes = ", ".join(f"{c}: {n}" for c, n in sorted(result.codes.items(), key=str))
            p50, p95 = (percentile(result.latencies, q) for q in (50, 95))
            print(
                f"| {name} | {sum(result.codes.values())} | {codes} "
                f"| {result.codes[200] / wall:.1f} | {p50:.2f} | {p95:.2f} | "
                f"{percentile(result.probes, 95):.3f} | {before:.0f} | {after:.0f} |"
            )
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is that clean stop
    print(f"\nserver exit code after SIGTERM: {server.returncode}")


if __name__ == "__main__":
    main()
