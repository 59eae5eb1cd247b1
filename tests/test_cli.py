from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photorecon.cli import main
from photorecon.imageio import read_image


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def copy_split(dataset: Path, tmp_path: Path) -> Path:
    target = tmp_path / "split"
    shutil.copytree(dataset / "test", target)
    return target


def test_end_to_end(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sub = tmp_path / "telea.csv"
    code, out, _ = run(
        capsys,
        "predict",
        str(dataset / "test" / "masked"),
        "--model",
        "telea",
        "--out",
        str(sub),
        "-q",
    )
    assert code == 0 and "wrote 135,000 rows" in out
    code, out, _ = run(capsys, "score", str(sub), str(dataset / "test" / "truth.csv"))
    assert code == 0
    rmse = float(out.split()[1])
    # Telea beats the flat mean-colour fill on the same holes (a mean fill scores about 0.25)
    mean_sub = tmp_path / "mean.csv"
    run(capsys, "predict", str(dataset / "test" / "masked"), "--model", "mean", "--out",
        str(mean_sub), "-q")  # fmt: skip
    _, mean_out, _ = run(capsys, "score", str(mean_sub), str(dataset / "test" / "truth.csv"))
    assert 0 < rmse < 0.9 * float(mean_out.split()[1])
    # the truth scores perfectly against itself
    code, out, _ = run(
        capsys, "score", str(dataset / "test" / "truth.csv"), str(dataset / "test" / "truth.csv")
    )
    assert code == 0 and out.startswith("RMSE 0.000000")
    grid = tmp_path / "grid.png"
    code, _, _ = run(
        capsys,
        "show",
        str(dataset / "test"),
        "--models",
        "mean,telea",
        "--out",
        str(grid),
        "--count",
        "2",
    )
    assert code == 0 and Image.open(grid).size[0] > 400
    table = tmp_path / "scores.csv"
    code, out, _ = run(
        capsys, "evaluate", str(dataset / "test"), "--models", "all", "--csv", str(table), "-q"
    )
    assert code == 0 and "telea" in out
    lines = table.read_text().splitlines()
    assert lines[0].startswith("model,params,rmse")
    telea_rmse = next(float(ln.split(",")[2]) for ln in lines if ln.startswith("telea"))
    assert telea_rmse == pytest.approx(rmse, abs=1e-6)  # same metric code as `score`
    code, out, _ = run(capsys, "models")
    assert code == 0 and "ns" in out


def test_predict_leaves_no_output_on_failure(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    split = copy_split(dataset, tmp_path)
    first = sorted((split / "masked").glob("*.png"))[-1]
    first.write_bytes(first.read_bytes()[:200])  # truncated PNG
    out = tmp_path / "out.csv"
    out.write_text("precious")
    code, _, err = run(capsys, "predict", str(split), "--model", "mean", "--out", str(out), "-q")
    assert code == 2
    assert err.count("\n") == 1 and first.name in err and "cannot read image" in err
    assert out.read_text() == "precious"
    assert not list(tmp_path.glob(".out.csv.*"))


@pytest.mark.parametrize(
    "problem",
    [
        "wrong_size",
        "missing_image",
        "box_out",
        "no_info",
        "bad_info",
        "unknown_model",
        "missing_dir",
    ],
)
def test_bad_input_one_line_error(
    problem: str, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    split = copy_split(dataset, tmp_path)
    masked = split / "masked"
    name = sorted(masked.glob("*.png"))[0]
    model = "mean"
    expected = {
        "wrong_size": "expected 256x256",
        "missing_image": "no such image",
        "box_out": "outside the 256x256",
        "no_info": "masked_info.csv",
        "bad_info": "missing column",
        "unknown_model": "unknown model",
        "missing_dir": "no such folder",
    }[problem]
    if problem == "wrong_size":
        Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(name)
    elif problem == "missing_image":
        name.unlink()
    elif problem == "box_out":
        info = masked / "masked_info.csv"
        lines = info.read_text().splitlines()
        parts = lines[1].split(",")
        parts[2] = "200"
        lines[1] = ",".join(parts)
        info.write_text("\n".join(lines) + "\n")
    elif problem == "no_info":
        (masked / "masked_info.csv").unlink()
    elif problem == "bad_info":
        (masked / "masked_info.csv").write_text("a,b\n1,2\n")
    elif problem == "unknown_model":
        model = "nonexistent"
    elif problem == "missing_dir":
        split = tmp_path / "nowhere"
    code, _, err = run(
        capsys, "predict", str(split), "--model", model, "--out", str(tmp_path / "o.csv"), "-q"
    )
    assert code == 2
    assert err.startswith("photorecon: error:") and err.count("\n") == 1
    assert expected in err
    assert not (tmp_path / "o.csv").exists()


def test_rgba_input_is_converted_with_warning(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    split = copy_split(dataset, tmp_path)
    name = sorted((split / "masked").glob("*.png"))[0]
    rgb = read_image(name)
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(name)
    code, _, err = run(
        capsys, "predict", str(split), "--model", "mean", "--out", str(tmp_path / "o.csv"), "-q"
    )
    assert code == 0
    assert "converted RGBA image to RGB" in err and name.name in err


def test_score_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "score", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"))
    assert code == 2 and "a.csv: submission file not found" in err


def test_submissions_stream_to_stdout_and_special_files(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import os
    import threading

    masked = str(dataset / "test" / "masked")
    code = main(["predict", masked, "--model", "mean", "--out", "-", "-q"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("filename_box_pixel,value\n")
    assert out.count("\n") == 135_001 and "wrote 135,000 rows to -" in err
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["predict", masked, "--model", "mean", "--out", str(fifo), "-q"]) == 0
    reader.join(timeout=60)
    assert got and got[0].count(b"\n") == 135_001
    assert fifo.is_fifo()  # written to, not replaced by a regular file


def test_write_errors_are_one_line_and_leave_the_destination(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    masked = str(dataset / "test" / "masked")
    if Path("/dev/full").exists():  # every write there fails with "No space left on device"
        code = main(["predict", masked, "--model", "mean", "--out", "/dev/full", "-q"])
        err = capsys.readouterr().err
        assert code == 2 and "/dev/full: cannot write (No space left on device)" in err
        assert err.strip().count("\n") == 0
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["predict", masked, "--model", "mean", "--out", str(blocker / "x.csv"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" in err and blocker.read_text() == "not a folder"


def test_every_command_has_help(capsys) -> None:
    """`--help` of the tool and of every sub-command (nested ones too) prints and exits 0."""
    import argparse

    from photorecon.cli import build_parser

    def commands(parser: argparse.ArgumentParser, path: list[str]):
        yield path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, [*path, name])

    for path in commands(build_parser(), []):
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0, path
        assert "usage: photorecon" in capsys.readouterr().out


def test_the_version_is_written_in_one_place(capsys) -> None:
    import importlib.metadata
    import re

    from photorecon import __version__
    from photorecon.serve.app import create_app

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)  # dynamic: from the package
    assert importlib.metadata.version("photorecon") == __version__
    assert create_app(default_model="telea").version == __version__
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"photorecon {__version__}"


def test_a_size_with_superscript_digits_is_one_line(capsys) -> None:
    for size in ("768x²", "²x512"):
        assert main(["data", "scenes", "unused-out", "--size", size]) == 2
        assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
