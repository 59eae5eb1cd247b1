"""Fill speed on a shared CPU: the default model against Telea, idle and beside a busy process.

Every figure is measured in worker processes started by this script, interleaved: for each
round, each machine state (idle; one `python -c "while True: pass"` beside it), each source
tree (`--variant NAME=SRC`, e.g. an older checkout to compare against) and each model, one
worker runs every case. Ratios to Telea come from the same round and state. Cases:

- warm `photorecon.fill` ms per image: 256x256 with the challenge's two squares, with thin
  scratches, with brush strokes; 512x512 with one large hole (median of `--repeats` calls);
- 4000x3000 with three boxes, with a 20-px stroke across it; 2000x2000 with 1,000 1x1 holes;
  6000x4000 with a 120-px stroke (seconds, one warm call);
- the cold command line `photorecon fill photo.png --box ... -o out.png` (wall seconds);
- the server: fills/s of 256x256 photos under 8 clients for `--server-seconds`;
- peak resident memory of the API worker.

Run: .venv/bin/python bench/fill_speed.py [--rounds 2] [--repeats 5]
     [--variant before=/path/to/old/checkout/src]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
WARM = ("squares", "scratches", "brush", "large512")
BIG = ("4000x3000 boxes", "4000x3000 stroke20", "2000x2000 specks", "6000x4000 stroke120")


def photo(height: int, width: int, seed: int = 0):
    """A photo-like image (gradients, blobs, noise), made small and scaled up."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    small_h, small_w = max(8, height // 4), max(8, width // 4)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    image = np.zeros((small_h, small_w, 3), np.float32)
    for c in range(3):
        fy, fx = rng.uniform(0.01, 0.06, 2)
        image[..., c] = 120 + 80 * np.sin(fy * yy + fx * xx + rng.uniform(0, 6))
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def case_inputs(name: str):
    """(image, mask) of a case, the same in every worker."""
    import cv2
    import numpy as np

    from photorecon.masks import boxes_to_mask, draw_kind, generator_from, random_boxes

    rng = np.random.default_rng(1)
    if name == "squares":
        return photo(256, 256), boxes_to_mask(256, 256, random_boxes(rng, 256, 256))
    if name in ("scratches", "brush"):
        mask = draw_kind(name, generator_from(rng), 1, 256, 256)[0, 0].numpy()
        return photo(256, 256), mask
    if name == "large512":
        mask = draw_kind("large", generator_from(rng), 1, 512, 512)[0, 0].numpy()
        return photo(512, 512), mask
    if name.startswith("4000x3000"):
        image = photo(3000, 4000)
        mask = np.zeros((3000, 4000), np.uint8)
        if name.endswith("boxes"):
            for r, c, h, w in ((500, 600, 300, 400), (2000, 3000, 150, 150), (1200, 1800, 80, 600)):
                mask[r : r + h, c : c + w] = 255
        else:
            points = np.array([[100, 200], [1500, 900], [2500, 1800], [3900, 2700]], np.int32)
            cv2.polylines(mask, [points], False, 255, 20)
        return image, mask
    if name == "2000x2000 specks":
        mask = np.zeros((2000, 2000), np.uint8)
        spots = rng.integers(0, 2000, (1000, 2))
        mask[spots[:, 0], spots[:, 1]] = 255
        return photo(2000, 2000), mask
    if name == "6000x4000 stroke120":
        mask = np.zeros((4000, 6000), np.uint8)
        points = np.array([[100, 300], [3000, 2000], [5900, 3800]], np.int32)
        cv2.polylines(mask, [points], False, 255, 120)
        return photo(4000, 6000), mask
    raise ValueError(name)


def worker(model: str | None, repeats: int, big: bool) -> dict:
    """In a worker process: every case's warm time with `model` (None: the default)."""
    import resource

    from photorecon.api import fill

    out = {}
    for name in WARM + (BIG if big else ()):
        if name == BIG[0]:  # the large photos' own arrays would dominate the peak
            out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        image, mask = case_inputs(name)
        fill(image, mask, model=model)  # load, export and warm up
        calls = repeats if name in WARM else 1
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            fill(image, mask, model=model)
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    out.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run_worker(src: str, model: str | None, repeats: int, big: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{HERE}")
    code = (
        "import json, sys, fill_speed; "
        f"print(json.dumps(fill_speed.worker({model!r}, {repeats}, {big})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({src}, {model}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_cli(src: str, model: str | None, folder: Path) -> float:
    """Wall seconds of `photorecon fill photo.png --box ... -o out.png` in a new process."""
    from PIL import Image

    path = folder / "photo.png"
    if not path.exists():
        Image.fromarray(photo(256, 256)).save(path)
    args = ["fill", str(path), "--box", "20,30,75,75", "--box", "150,140,75,75"]
    args += ["-o", str(folder / "out.png")] + (["--model", model] if model else [])
    env = dict(os.environ, PYTHONPATH=src)
    code = "import sys; from photorecon.cli import main; sys.exit(main(sys.argv[1:]))"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def server_rate(src: str, seconds: float, clients: int = 8) -> float:
    """Fills/s of 256x256 photos (two squares) with the default model under `clients`."""
    import io
    import threading

    import httpx
    from PIL import Image

    from load import free_port  # bench/load.py

    port = free_port()
    env = dict(os.environ, PYTHONPATH=src)
    code = "import sys; from photorecon.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--queue", "64"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    buf = io.BytesIO()
    Image.fromarray(photo(256, 256)).save(buf, format="PNG")
    body = buf.getvalue()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to a minute to start
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        form = {"boxes": "[[20, 30, 75, 75], [150, 140, 75, 75]]"}
        httpx.post(f"{url}/api/fill", files={"image": ("p.png", body)}, data=form, timeout=120)
        done = [0]
        stop = time.perf_counter() + seconds

        def client() -> None:
            with httpx.Client(timeout=120) as session:
                while time.perf_counter() < stop:
                    answer = session.post(
                        f"{url}/api/fill", files={"image": ("p.png", body)}, data=form
                    )
                    if answer.status_code == 200:
                        done[0] += 1

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0] / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(30)


@contextlib.contextmanager
def busy(on: bool):
    """One busy process beside the measurement while `on`."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--server-seconds", type=float, default=20.0)
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME=SRC", help="another source tree"
    )
    parser.add_argument(
        "--big", default="now", help="variants that also run the large photos (now; '' none)"
    )
    args = parser.parse_args()
    variants = {"now": str(SRC)}
    for item in args.variant:
        name, _, src = item.partition("=")
        variants[name] = src
    results: dict[tuple[str, str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for state in ("idle", "busy"):
                with busy(state == "busy"):
                    for variant, src in variants.items():
                        for model in ("telea", None):
                            label = model or "default"
                            big = variant in args.big.split(",") and round_ == 0
                            row = run_worker(src, model, args.repeats, big)
                            row["cold_cli"] = cold_cli(src, model, Path(tmp))
                            if model is None and round_ == 0:
                                row["server_fills_s"] = server_rate(src, args.server_seconds)
                            results.setdefault((state, variant, label), []).append(row)
                            print(f"round {round_ + 1} {state} {variant} {label}: done", flush=True)
    print_table(results, variants)


def print_table(results, variants) -> None:
    def median(key, state, variant, label):
        values = [r[key] for r in results[(state, variant, label)] if key in r]
        return statistics.median(values) if values else float("nan")

    print()
    header = (
        "| figure | " + " | ".join(f"{v} {s}" for v in variants for s in ("idle", "busy")) + " |"
    )
    print(header)
    print("|" + "---|" * (1 + 2 * len(variants)))
    rows = [(f"warm {c}: default ms (x Telea)", c, 1000) for c in WARM]
    rows += [(f"{c}: default s (x Telea)", c, 1) for c in BIG]
    rows += [("cold CLI fill 256²: default s (x Telea)", "cold_cli", 1)]
    for title, key, scale in rows:
        cells = []
        for variant in variants:
            for state in ("idle", "busy"):
                mine = median(key, state, variant, "default")
                base = median(key, state, variant, "telea")
                cells.append(f"{mine * scale:.{0 if scale > 1 else 2}f} ({mine / base:.1f}x)")
        print(f"| {title} | " + " | ".join(cells) + " |")
    for title, key in (
        ("server fills/s (8 clients, 256²)", "server_fills_s"),
        ("peak RSS of the API worker after the 256²/512² cases, MiB", "peak_rss_mb"),
    ):
        cells = [
            f"{median(key, state, variant, 'default'):.1f}"
            for variant in variants
            for state in ("idle", "busy")
        ]
        print(f"| {title} | " + " | ".join(cells) + " |")
    for variant in variants:
        for state in ("idle", "busy"):
            idle = median("squares", "idle", variant, "default")
            ratio = median("squares", state, variant, "default") / idle
            print(f"{variant} {state}: default squares at {ratio:.2f}x its idle time")


if __name__ == "__main__":
    main()
