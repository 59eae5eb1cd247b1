"""A wheel built from the repository carries the shipped weights: installed in a fresh venv
and run outside the checkout, it finds `ffc` and fills with it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_in_a_fresh_venv_ships_and_uses_the_ffc_weights(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("photorecon-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the dependencies come from the test's own environment (a .pth line adds a folder without
    # running the .pth files inside it, so the checkout's editable install stays out)
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    photo = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    env = {k: v for k, v in os.environ.items() if k not in ("PHOTORECON_WEIGHTS", "PYTHONPATH")}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import photorecon, photorecon.models.loading as l; "
            "print(photorecon.__file__); print(l.shipped_weights('ffc'))",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert where[0].startswith(site) and where[1].startswith(site)  # the wheel's, not the repo's
    filled = subprocess.run(
        [
            str(venv / "bin" / "photorecon"),
            "fill",
            "photo.png",
            "--box",
            "10,10,20,30",
            "-o",
            "out.png",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert filled.returncode == 0, filled.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == photo.shape and (out[10:30, 10:40] != photo[10:30, 10:40]).any()
    models = subprocess.run(
        [str(venv / "bin" / "photorecon"), "models"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "shipped" in models.stdout and "train first" in models.stdout
