"""README's commands run as written: every cheap `photorecon` line of its shell blocks, in
README's order, in a folder laid out as `make demo` leaves it (a small photo pack in
data/photos, the data set built from it in data/ds) plus the photos the lines name. Training,
the server, downloads and lines that need weights of your own are parsed only
(test_readme.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_pack, synthetic_photo
from photorecon.cli import main
from test_readme import argv_of, readme_commands

NOT_RUN = ("train", "serve", "data fetch")  # long, a server, the network
NEEDS_OWN = ("/models/", "runs/")  # weights the user brings or trains first
COSTLY = ("data/scenes",)  # 25 scenes of 768x512 drawn, then filled three ways: a CPU minute


def runnable(line: str) -> bool:
    argv = argv_of(line)
    words = " ".join(argv[:2])
    if any(words.startswith(cmd) for cmd in NOT_RUN):
        return False
    return not any(marker in line for marker in (*NEEDS_OWN, *COSTLY))


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    from photorecon.data.build import BuildConfig, build_dataset

    root = tmp_path_factory.mktemp("demo")
    make_pack(root / "data" / "photos", count=10, seed=3)
    build_dataset(
        root / "data" / "photos", root / "data" / "ds", BuildConfig(crops_per_photo=2),
        workers=1, progress=False,
    )  # fmt: skip
    from photorecon.damage import render_damage

    rng = np.random.default_rng(0)
    Image.fromarray(synthetic_photo(rng, 300, 520)).save(root / "photo.jpg", quality=92)
    old = render_damage(synthetic_photo(rng, 300, 520), np.random.default_rng(4)).image
    Image.fromarray(old).save(root / "old.jpg", quality=95)  # an old print: scratches, dust
    mask = np.zeros((300, 520), np.uint8)
    mask[100:140, 200:300] = 255
    Image.fromarray(mask).save(root / "mask.png")
    stroke = np.zeros((300, 520), np.uint8)
    stroke[20:280, 100:180] = 255  # a broad stroke over part of the old print
    Image.fromarray(stroke).save(root / "stroke.png")
    (root / "scans").mkdir()
    for i in range(8):
        scan = synthetic_photo(rng, 200, 260)
        scan[40:70, 60:100] = 255  # a white blotch for --white
        Image.fromarray(scan).save(root / "scans" / f"scan{i}.png")
    return root


LINES = [line for line in readme_commands() if runnable(line)]


def test_the_cheap_lines_are_most_of_readme() -> None:
    assert len(LINES) >= 20


def test_readme_commands_run_as_written(demo_folder: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(demo_folder)
    monkeypatch.setenv("PHOTORECON_THREADS", "1")
    for line in LINES:
        code = main(argv_of(line))
        said = capsys.readouterr()
        assert code == 0, f"{line}\n{said.err[-1500:]}"
    assert Path("telea.csv").is_file() and Path("grid.png").is_file()
    assert Path("restored.png").is_file() and len(list(Path("restored").iterdir())) == 8
    assert Path("data/ds-from-shards/test/truth.csv").is_file()
    assert sorted(p.name for p in Path("data/shards").iterdir()) == ["test", "train", "val"]
