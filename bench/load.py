"""Load and fault benchmark of `photorecon serve` on loopback.

Starts the server in its own process, then runs rounds of N client threads sending fills
(a photo and a few boxes), bounded both in request count and in time. Each round prints
p50/p95 latency of the fills, answers counted by status code, how fast a `GET /api/models`
answers while fills run, and the server's resident memory before and after. The `faults`
round sends a corrupt upload (truncated PNG) every tenth request; those must get 415, and
nothing else may change.

The `probe` round then sends what the third probe found (issue 35), one at a time, each
beside a client timing `GET /api/models`: a large JPEG to `/api/detect` kind=white (decoded
and searched on the worker, not the event loop), a damage detection abandoned after two
seconds (dropped between tile batches: the next small fill waits little), boxes given as
booleans, and a multipart body without its closing boundary (both 400).

Run: .venv/bin/python bench/load.py [--clients 8] [--requests 200] [--seconds 120]
     [--model telea] [--size 512] [--probe-megapixels 48]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
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


def large_jpeg(megapixels: float) -> bytes:
    """A smooth photo-like JPEG of about `megapixels` (a few MB: within the upload limit)."""
    width = int((megapixels * 1e6 * 1.5) ** 0.5)
    height = int(width / 1.5)
    small = np.asarray(Image.open(io.BytesIO(photo_png(256, 1))).convert("RGB"))
    big = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def timed_beside(base: str, send) -> tuple[object, float, float]:
    """`send(http)`'s answer, its seconds, and the slowest `GET /api/models` meanwhile."""
    probes: list[float] = []
    stop = threading.Event()

    def prober() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not stop.is_set():
                began = time.perf_counter()
                http.get("/api/models").raise_for_status()
                probes.append(time.perf_counter() - began)
                stop.wait(0.1)

    thread = threading.Thread(target=prober)
    thread.start()
    began = time.perf_counter()
    try:
        with httpx.Client(base_url=base, timeout=300) as http:
            answer = send(http)
    finally:
        seconds = time.perf_counter() - began
        stop.set()
        thread.join()
    return answer, seconds, max(probes, default=float("nan"))


def probe_round(base: str, megapixels: float, small: bytes) -> list[tuple]:
    """The third probe's server cases: (case, expected, what came back, seconds, slowest
    /api/models meanwhile)."""
    big = large_jpeg(megapixels)
    rows = []

    def detect_white(http):
        files = {"image": ("big.jpg", big, "image/jpeg")}
        return http.post("/api/detect", files=files, data={"kind": "white"}).status_code

    code, seconds, slowest = timed_beside(base, detect_white)
    rows.append((f"detect kind=white, {megapixels:g} MP JPEG", "200", code, seconds, slowest))

    def abandoned(http):
        files = {"image": ("big.jpg", big, "image/jpeg")}
        with contextlib.suppress(httpx.TimeoutException):
            http.post("/api/detect", files=files, data={"kind": "damage"}, timeout=2.0)
        time.sleep(0.5)  # the server notices the client left
        began = time.perf_counter()
        resp = http.post(
            "/api/fill",
            files={"image": ("p.png", small, "image/png")},
            data={"boxes": "[[10, 10, 20, 20]]"},
        )
        return f"{resp.status_code} in {time.perf_counter() - began:.2f} s"

    answer, seconds, slowest = timed_beside(base, abandoned)
    rows.append(
        ("damage detect abandoned at 2 s, then a small fill", "200, soon", answer, seconds, slowest)
    )

    def bool_boxes(http):
        files = {"image": ("p.png", small, "image/png")}
        return http.post("/api/fill", files=files, data={"boxes": "[[true, 1, 5, 5]]"}).status_code

    rows.append(("boxes [[true, 1, 5, 5]]", "400", *timed_beside(base, bool_boxes)))

    def unclosed(http):
        boundary = "probe"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            'filename="p.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode() + small  # no closing boundary
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return http.post("/api/fill", content=body, headers=headers).status_code

    rows.append(("multipart without its closing boundary", "400", *timed_beside(base, unclosed)))
    return rows


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
    parser.add_argument(
        "--probe-megapixels", type=float, default=48, help="the probe round's large JPEG (48)"
    )
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
        print()
        print("| probe | expected | answer | seconds | slowest /api/models meanwhile s |")
        print("|---|---|---|---|---|")
        small = photo_png(128, 2)
        for case, expected, answer, seconds, slowest in probe_round(
            base, args.probe_megapixels, small
        ):
            print(f"| {case} | {expected} | {answer} | {seconds:.2f} | {slowest:.3f} |")
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
