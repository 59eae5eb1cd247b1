from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from photorecon.challenge import (
    MaskedEntry,
    read_masked_info,
    read_submission,
    score_files,
    submission_frame,
    write_masked_info,
    write_submission,
)
from photorecon.errors import PhotoreconError
from photorecon.masks import Box


def entry(name: str = "a.png", b1=(0, 0), b2=(10, 20), size: int = 2) -> MaskedEntry:
    return MaskedEntry(name, (Box(*b1, size, size), Box(*b2, size, size)))


def test_ids_character_for_character() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[10, 21] = (10, 20, 30)  # R, G, B
    frame = submission_frame([(entry(), image)])
    ids = frame["filename_box_pixel"].to_list()
    assert ids[:4] == [
        "a.png_box1_0_0_0",
        "a.png_box1_0_0_1",
        "a.png_box1_0_0_2",
        "a.png_box1_0_1_0",
    ]
    assert len(ids) == 2 * 2 * 2 * 3
    # ch 0/1/2 = blue/green/red, value = pixel / 255
    values = dict(zip(ids, frame["value"].to_list(), strict=True))
    assert values["a.png_box2_10_21_0"] == pytest.approx(30 / 255)
    assert values["a.png_box2_10_21_1"] == pytest.approx(20 / 255)
    assert values["a.png_box2_10_21_2"] == pytest.approx(10 / 255)
    assert ids[-1] == "a.png_box2_11_21_2"


def test_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = [
        (entry(f"{i}.png", size=5), rng.integers(0, 256, (32, 32, 3), np.uint8)) for i in range(3)
    ]
    path = tmp_path / "sub.csv"
    rows = write_submission(path, items, chunk_images=2)
    assert rows == 3 * 2 * 25 * 3
    assert path.read_text().splitlines()[0] == "filename_box_pixel,value"
    frame = read_submission(path)
    expected = submission_frame(items)
    assert frame["filename_box_pixel"].to_list() == expected["filename_box_pixel"].to_list()
    np.testing.assert_allclose(frame["value"].to_numpy(), expected["value"].to_numpy(), atol=1e-7)


def test_uint8_lines_match_the_float_writer_byte_for_byte(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(3)]
    names = ["a.png", "b,c.png", 'q"x.png']  # the last two must be quoted in a CSV
    as_codes = [(entry(n, size=4), im) for n, im in zip(names, images, strict=True)]
    as_floats = [(e, im.astype(np.float64) / 255.0) for e, im in as_codes]
    write_submission(tmp_path / "codes.csv", as_codes[:1], chunk_images=1)
    write_submission(tmp_path / "floats.csv", as_floats[:1], chunk_images=1)
    assert (tmp_path / "codes.csv").read_bytes() == (tmp_path / "floats.csv").read_bytes()
    assert "a.png_box1_0_0_0,0." in (tmp_path / "codes.csv").read_text()
    write_submission(tmp_path / "all.csv", as_codes, chunk_images=2)
    frame = read_submission(tmp_path / "all.csv")
    assert (
        frame["filename_box_pixel"].to_list()
        == submission_frame(as_codes)["filename_box_pixel"].to_list()
    )
    np.testing.assert_allclose(
        frame["value"].to_numpy(), submission_frame(as_floats)["value"].to_numpy(), atol=1e-7
    )


def test_rmse_matches_hand_computation(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    sub = tmp_path / "sub.csv"
    truth.write_text(
        "filename_box_pixel,value\na_box1_0_0_0,0.5\na_box1_0_0_1,0.25\na_box1_0_0_2,1.0\n"
    )
    # shuffled order exercises the join path
    sub.write_text(
        "filename_box_pixel,value\na_box1_0_0_2,0.0\na_box1_0_0_0,0.5\na_box1_0_0_1,0.75\n"
    )
    score = score_files(sub, truth)
    expected = math.sqrt((0.0 + 0.25 + 1.0) / 3)
    assert score.rmse == pytest.approx(expected)
    assert score.psnr == pytest.approx(10 * math.log10(1 / expected**2))
    assert score.count == 3


TRUTH = "filename_box_pixel,value\na_box1_0_0_0,0.5\na_box1_0_0_1,0.25\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("filename_box_pixel,value\na_box1_0_0_0,0.5\n", "missing"),
        (TRUTH + "a_box1_0_0_9,0.5\n", "duplicate|unknown"),
        ("filename_box_pixel,value\na_box1_0_0_0,0.5\na_box1_0_0_0,0.5\n", "duplicate"),
        ("filename_box_pixel,value\na_box1_0_0_0,0.5\nb_box1_0_0_1,0.5\n", "missing"),
        ("filename_box_pixel,value\na_box1_0_0_0,nan\na_box1_0_0_1,0.5\n", "NaN"),
        ("filename_box_pixel,value\na_box1_0_0_0,inf\na_box1_0_0_1,0.5\n", "NaN or infinite"),
        ("filename_box_pixel,value\na_box1_0_0_0,1.5\na_box1_0_0_1,0.5\n", "outside"),
        ("id,value\na_box1_0_0_0,0.5\na_box1_0_0_1,0.5\n", "wrong header"),
        ("filename_box_pixel,value\na_box1_0_0_0,abc\na_box1_0_0_1,0.5\n", "malformed"),
        ("filename_box_pixel,value\na_box1_0_0_0,\na_box1_0_0_1,0.5\n", "empty"),
    ],
)
def test_bad_submissions_fail_clearly(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "t.csv").write_text(TRUTH)
    (tmp_path / "s.csv").write_text(body)
    with pytest.raises(PhotoreconError, match=message):
        score_files(tmp_path / "s.csv", tmp_path / "t.csv")


def test_clip_clips_with_warning(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(TRUTH)
    (tmp_path / "s.csv").write_text(
        "filename_box_pixel,value\na_box1_0_0_0,1.5\na_box1_0_0_1,0.25\n"
    )
    with pytest.warns(UserWarning, match="clipped 1"):
        score = score_files(tmp_path / "s.csv", tmp_path / "t.csv", clip=True)
    assert score.rmse == pytest.approx(math.sqrt(0.25 / 2))


def test_masked_info_with_and_without_index(tmp_path: Path) -> None:
    with_index = tmp_path / "a.csv"
    with_index.write_text(",filename,box1_row,box1_col,box2_row,box2_col\n0,x.png,1,2,3,4\n")
    without = tmp_path / "b.csv"
    without.write_text("filename,box1_row,box1_col,box2_row,box2_col\nx.png,1,2,3,4\n")
    for path in (with_index, without):
        (e,) = read_masked_info(path, box_size=75)
        assert e.filename == "x.png"
        assert e.boxes == (Box(1, 2, 75, 75), Box(3, 4, 75, 75))


def test_masked_info_written_in_challenge_layout(tmp_path: Path) -> None:
    path = tmp_path / "masked_info.csv"
    write_masked_info(
        path, [entry("x.png", (1, 2), (3, 4), 75), entry("y.png", (5, 6), (7, 8), 75)]
    )
    lines = path.read_text().splitlines()
    assert lines[0] == ",filename,box1_row,box1_col,box2_row,box2_col"
    assert lines[1] == "0,x.png,1,2,3,4"
    assert read_masked_info(path)[1].boxes[1] == Box(7, 8, 75, 75)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("filename,box1_row,box1_col\nx.png,1,2\n", "missing column"),
        ("filename,box1_row,box1_col,box2_row,box2_col\nx.png,1,two,3,4\n", "line 2.*integers"),
        ("filename,box1_row,box1_col,box2_row,box2_col\n", "no images"),
        ("filename,box1_row,box1_col,box2_row,box2_col\nx.png,1,2,3,4\nx.png,1,2,3,4\n", "twice"),
    ],
)
def test_malformed_masked_info(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "masked_info.csv"
    path.write_text(text)
    with pytest.raises(PhotoreconError, match=message):
        read_masked_info(path)


def test_fast_and_join_paths_agree() -> None:
    rng = np.random.default_rng(3)
    items = [
        (entry(f"{i}.png", size=4), rng.integers(0, 256, (16, 32, 3), np.uint8)) for i in range(4)
    ]
    truth = submission_frame(items)
    noisy = truth.with_columns((pl.col("value") * 0.9).alias("value"))
    from photorecon.challenge import score_frames

    in_order = score_frames(noisy, truth)
    shuffled = score_frames(noisy.sample(fraction=1.0, shuffle=True, seed=0), truth)
    assert in_order.rmse == pytest.approx(shuffled.rmse)
    assert in_order.rmse > 0


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "sub/a.png", "..", "a\\\\b.png"])
def test_masked_info_file_names_stay_inside_their_folder(tmp_path, name: str) -> None:
    from photorecon.challenge import read_masked_info
    from photorecon.errors import PhotoreconError

    info = tmp_path / "masked_info.csv"
    info.write_text(
        f",filename,box1_row,box1_col,box2_row,box2_col\n0,ok.png,0,0,1,1\n1,{name},0,0,1,1\n"
    )
    with pytest.raises(PhotoreconError, match=r"line 3: filename .* is a path"):
        read_masked_info(info)


def test_prefetched_chunks_keep_order_raise_errors_and_stop_early() -> None:
    import threading

    from photorecon.challenge import prefetched

    assert list(prefetched(iter([[1], [2], [3]]))) == [[1], [2], [3]]

    def broken():
        yield [1]
        raise PhotoreconError("photo 2: cannot read image")

    got = []
    with pytest.raises(PhotoreconError, match="photo 2"):
        for chunk in prefetched(broken()):
            got.append(chunk)
    assert got == [[1]]
    made = []

    def endless():
        while True:
            made.append(1)
            yield [len(made)]

    for chunk in prefetched(endless(), depth=2):
        if chunk == [3]:
            break  # the helper stops instead of running on
    assert len(made) <= 6
    assert not any(t.name == "photorecon-prefetch" for t in threading.enumerate())


def test_every_rmse_is_the_same_measure() -> None:
    import math

    from photorecon.masks import Box
    from photorecon.metrics import SquaredErrors, box_rmse

    rng = np.random.default_rng(1)
    pred, truth = (rng.integers(0, 256, (20, 20, 3)).astype(np.uint8) for _ in range(2))
    boxes = [Box(2, 3, 5, 6), Box(10, 10, 4, 4)]
    diffs = [(pred[b.slices()].astype(float) - truth[b.slices()]) / 255 for b in boxes]
    by_hand = math.sqrt(sum(float((d**2).sum()) for d in diffs) / sum(d.size for d in diffs))
    assert box_rmse(pred, truth, boxes) == pytest.approx(by_hand, rel=1e-12)
    parts = SquaredErrors().add(diffs[0]).add_sums(float((diffs[1] ** 2).sum()), diffs[1].size)
    assert parts.rmse == pytest.approx(by_hand, rel=1e-12) and parts.count == 3 * (30 + 16)
    assert math.isnan(SquaredErrors().rmse)
