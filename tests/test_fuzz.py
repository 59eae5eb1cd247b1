"""Fuzzed readers and parsers: whatever the bytes, only PhotoreconError (or the server's 4xx)
escapes, never another exception.

Each property runs at least 300 examples under the derandomised `ci` profile (conftest.py);
`HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py` runs 5,000 with fresh randomness.
"""

from __future__ import annotations

import gzip
import io
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from conftest import synthetic_photo
from photorecon.api import as_boxes, resolve_mask
from photorecon.challenge import read_masked_info, score_files
from photorecon.errors import PhotoreconError
from photorecon.imageio import read_mask, read_photo
from photorecon.masks import Box, parse_box, parse_hole_mix

WORK = Path(tempfile.mkdtemp(prefix="photorecon-fuzz-"))


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with a few bytes replaced, inserted or deleted, and perhaps truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def file_with(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


# --- masked_info.csv and submissions -----------------------------------------------------------

MASKED_INFO = (
    b",filename,box1_row,box1_col,box2_row,box2_col\n"
    b"0,cat.png,10,20,100,120\n1,dog.png,0,0,181,181\n2,elephant.png,5,90,60,3\n"
)
SUBMISSION = b"filename_box_pixel,value\n" + b"".join(
    f"cat.png_box{k}_{r}_{c}_{ch},{(r * 7 + c * 3 + ch) % 256 / 255:.6f}\n".encode()
    for k in (1, 2)
    for r in range(2)
    for c in range(2)
    for ch in range(3)
)


def text_bytes() -> st.SearchStrategy[bytes]:
    """CSV-ish text: random lines from the characters such files are made of, and raw bytes."""
    alphabet = st.sampled_from([*",.-_0123456789abcpng\n\r\"' \t", "box1_row", "filename"])
    return st.one_of(
        st.lists(alphabet, max_size=80).map(lambda parts: "".join(parts).encode()),
        st.binary(max_size=200),
    )


@given(st.one_of(mutated(MASKED_INFO), text_bytes()))
@example(b",filename,box1_row,box1_col,box2_row,box2_col\n0,../x.png,1,2,3,4\n")
@example(b",filename,box1_row,box1_col,box2_row,box2_col\n0,a.png,1e99,2,3,4\n")
def test_masked_info_reader(data: bytes) -> None:
    path = file_with("masked_info.csv", data)
    try:
        entries = read_masked_info(path)
    except PhotoreconError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    for entry in entries:
        assert entry.filename and "/" not in entry.filename
        assert all(isinstance(v, int) for b in entry.boxes for v in (b.row, b.col))


@given(st.one_of(mutated(SUBMISSION), text_bytes()), st.booleans())
@example(SUBMISSION.replace(b"0.0", b"nan", 1), False)
@example(SUBMISSION.replace(b",0.", b",-0.", 1), True)
def test_submission_reader_and_scorer(data: bytes, clip: bool) -> None:
    truth = file_with("truth.csv", SUBMISSION)
    submission = file_with("submission.csv", data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # --clip warns, as it should
            score = score_files(submission, truth, clip=clip)
    except PhotoreconError as exc:
        assert "\n" not in str(exc)
        return
    assert math.isfinite(score.rmse) and 0 <= score.rmse <= 1
    assert score.count == 24


# --- boxes, masks and hole mixes ---------------------------------------------------------------


@given(
    st.one_of(st.text(max_size=40), st.from_regex(r"-?\d{1,6}(,-?\d{1,6}){2,4}", fullmatch=True))
)
def test_box_option_parser(text: str) -> None:
    try:
        box = parse_box(text)
    except PhotoreconError:
        return
    assert isinstance(box, Box) and box.height > 0 and box.width > 0


boxish = st.recursive(
    st.one_of(st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=3), st.none()),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=12,
)


@given(st.lists(boxish, max_size=4), st.integers(1, 40), st.integers(1, 40))
@example([[0, 0, 40, 40]], 40, 40)
@example([[2**40, 0, 1, 1]], 8, 8)
def test_box_lists_and_masks(items, height: int, width: int) -> None:
    image = np.zeros((height, width, 3), np.uint8)
    try:
        mask = resolve_mask(image, items)
    except PhotoreconError as exc:
        assert "\n" not in str(exc)
        return
    assert mask.shape == (height, width) and set(np.unique(mask)) <= {0.0, 1.0}
    assert len(as_boxes(items)) == len(items)


@given(
    st.one_of(
        st.text(max_size=40),
        st.dictionaries(
            st.sampled_from(["squares", "brush", "scratches", "large", "nope", ""]),
            st.one_of(st.floats(), st.integers(-5, 5), st.booleans(), st.text(max_size=2)),
            max_size=4,
        ),
    )
)
@example("squares:inf")
@example({"brush": float("inf"), "squares": 1.0})
def test_hole_mix_parser(spec) -> None:
    try:
        mix = parse_hole_mix(spec)
    except PhotoreconError:
        return
    assert mix and all(math.isfinite(w) and w > 0 for w in mix.values())
    assert abs(sum(mix.values()) - 1) < 1e-9


# --- the image decoder -------------------------------------------------------------------------


def encoded(fmt: str, mode: str, **save) -> bytes:
    rgb = synthetic_photo(np.random.default_rng(0), 12, 16)
    image = Image.fromarray(rgb).convert(mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


SEEDS = [
    encoded("PNG", "RGB"),
    encoded("PNG", "RGBA"),
    encoded("PNG", "I;16"),
    encoded("PNG", "P"),
    encoded("JPEG", "RGB", quality=80),
    encoded("WEBP", "RGB", quality=80),
    encoded("GIF", "P"),
    encoded("BMP", "RGB"),
    encoded("TIFF", "RGB"),
    encoded("TIFF", "F"),
]


@given(st.one_of(st.sampled_from(SEEDS).flatmap(mutated), st.binary(max_size=300)))
@example(SEEDS[0][:33])  # a PNG header alone
def test_image_decoder(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd modes and frames warn, as they should
            photo = read_photo(data, "upload.png")
    except PhotoreconError as exc:
        assert "\n" not in str(exc) and "upload.png" in str(exc)
        return
    assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
    assert photo.alpha is None or photo.alpha.shape == photo.rgb.shape[:2]


@given(st.one_of(st.sampled_from(SEEDS[:4]).flatmap(mutated), st.binary(max_size=120)))
def test_mask_reader(data: bytes) -> None:
    path = file_with("mask.png", data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mask = read_mask(path)
    except PhotoreconError as exc:
        assert "\n" not in str(exc)
        return
    assert mask.ndim == 2


# --- shards, their index and run logs: files others wrote --------------------------------------


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


SHARD = _tar(
    [
        ("00000000.json", b'{"path": "a/cat.png", "source": "x", "licence": "CC0"}'),
        ("00000000.png", SEEDS[0]),
        ("00000001.png", SEEDS[1]),
    ]
)
INDEX = (
    b'{"format": "photorecon-shards/1", "count": 2, "bytes": 10, "shards": [{"name": '
    b'"photos-000000.tar", "count": 2, "bytes": 10, "sha256": "' + b"ab" * 32 + b'"}]}'
)
RUN_LOG = (
    b'{"source": "in/a.png", "target": "out/a.png", "status": "done", "seconds": 0.5}\n'
    b'{"source": "in/b.png", "target": "out/b.png", "status": "failed", "reason": "x"}\n'
)


def test_the_seeds_of_the_first_fuzzers_parse() -> None:
    """The readers take their seeds: a reader that refused everything (and so passed every
    property above by returning early) fails here."""
    entries = read_masked_info(file_with("seed_info.csv", MASKED_INFO))
    assert [e.filename for e in entries] == ["cat.png", "dog.png", "elephant.png"]
    truth = file_with("seed_truth.csv", SUBMISSION)
    score = score_files(file_with("seed_sub.csv", SUBMISSION), truth)
    assert score.rmse == 0 and score.count == 24
    assert parse_box("1,2,3,4") == Box(1, 2, 3, 4)
    for seed in SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert read_photo(seed, "seed").rgb.ndim == 3


def test_the_seeds_of_the_file_fuzzers_parse() -> None:
    """Each fuzzer starts from input that reads: a reader that refused everything fails here."""
    from photorecon.batchlog import read_entries
    from photorecon.data.shards import iter_samples, read_index

    assert [s.name for s in iter_samples(str(file_with("seed.tar", SHARD)))] == [
        "a/cat.png",
        "00000001.png",
    ]
    folder = WORK / "index-seed"
    folder.mkdir(exist_ok=True)
    (folder / "index.json").write_bytes(INDEX)
    assert [s.count for s in read_index(folder)] == [2]
    assert len(read_entries(file_with("seed.jsonl", RUN_LOG), ("source", "status"))) == 2


@given(st.one_of(mutated(SHARD), st.binary(max_size=600)))
@example(SHARD.replace(b"a/cat.png", b"../../x.png"))
@example(SHARD.replace(b"a/cat.png", b"/etc/xx.png"))
@example(gzip.compress(SHARD))  # a compressed shard: refused, never inflated
def test_shard_reader(data: bytes) -> None:
    from photorecon.data.shards import iter_samples
    from photorecon.fsutil import relative_problem

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = list(iter_samples(str(file_with("fuzz.tar", data))))
    except PhotoreconError as exc:
        assert "\n" not in str(exc) and "fuzz.tar" in str(exc)
        return
    for sample in samples:  # whatever it read, every name stays inside a folder
        assert relative_problem(sample.name) is None


@given(st.one_of(mutated(INDEX), text_bytes()))
@example(INDEX.replace(b"photos-000000.tar", b"pipe:touch PWNED; cat x.tar"))
def test_shard_index_reader(data: bytes) -> None:
    from photorecon.data.shards import SHARD_FILE, read_index

    folder = WORK / "index"
    folder.mkdir(exist_ok=True)
    (folder / "index.json").write_bytes(data)
    try:
        shards = read_index(folder)
    except PhotoreconError as exc:
        assert "\n" not in str(exc) and "index.json" in str(exc)
        return
    assert all(SHARD_FILE.match(s.name) and s.count >= 1 for s in shards)


@given(st.one_of(mutated(RUN_LOG), text_bytes()))
@example(RUN_LOG + b'{"source": "in/c.png", "sta')  # torn by a power loss: passed over
@example(RUN_LOG.replace(b"in/a.png", b"in/\xff.png"))  # not UTF-8: one line
@example(RUN_LOG.replace(b'"seconds": 0.5', b'"seconds": "abc"'))
def test_run_log_reader(data: bytes) -> None:
    from photorecon.batchlog import read_entries

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a torn last line is a notice
            entries = read_entries(file_with("fuzz.jsonl", data), ("source", "status"))
    except PhotoreconError as exc:
        assert "\n" not in str(exc) and "fuzz.jsonl" in str(exc)
        return
    for entry in entries:
        assert isinstance(entry["source"], str) and isinstance(entry["status"], str)
        assert isinstance(entry.get("seconds", 0.0), int | float)


def test_profile_runs_enough_examples() -> None:
    from hypothesis import settings

    assert settings().max_examples >= 300, "the fuzz tests promise at least 300 examples each"


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    import shutil

    shutil.rmtree(WORK, ignore_errors=True)
