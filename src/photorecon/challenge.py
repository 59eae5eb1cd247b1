"""The challenge's file formats: masked_info.csv, submission ids, and scoring by RMSE.

A submission is `filename_box_pixel,value` with one row per hole pixel and channel; the id is
`<filename>_box<k>_<row>_<col>_<ch>` with absolute image coordinates and ch 0/1/2 = blue/green/red
(OpenCV's BGR order), value = pixel / 255.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from photorecon.errors import PhotoreconError, first_line
from photorecon.fsutil import atomic_open
from photorecon.masks import BOX_SIZE, Box
from photorecon.metrics import psnr_from_mse

ID_COLUMN = "filename_box_pixel"
VALUE_COLUMN = "value"
SUBMISSION_HEADER = f"{ID_COLUMN},{VALUE_COLUMN}"
INFO_COLUMNS = ("filename", "box1_row", "box1_col", "box2_row", "box2_col")


@dataclass(frozen=True)
class MaskedEntry:
    """One masked photo of a challenge folder: its file name and its holes (box1, box2, ...)."""

    filename: str
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Score:
    """RMSE and PSNR of a submission against the truth, over `count` values in [0, 1]."""

    rmse: float
    psnr: float
    count: int


def read_masked_info(path: str | Path, box_size: int = BOX_SIZE) -> list[MaskedEntry]:
    """Read masked_info.csv (with or without the leading unnamed index column)."""
    path = Path(path)
    if not path.is_file():
        raise PhotoreconError(f"{path}: masked_info.csv not found")
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise PhotoreconError(f"{path}: cannot parse CSV ({first_line(exc)})") from None
    missing = [c for c in INFO_COLUMNS if c not in frame.columns]
    if missing:
        raise PhotoreconError(
            f"{path}: malformed masked_info.csv, missing column(s) {', '.join(missing)} "
            f"(header is {','.join(frame.columns)!r})"
        )
    if frame.height == 0:
        raise PhotoreconError(f"{path}: masked_info.csv lists no images")
    coords = frame.select(INFO_COLUMNS[1:])
    # a missing value (a short or truncated row) is as wrong as a non-integer one
    ints = coords.cast(pl.Int64, strict=False)
    bad = ints.with_row_index("line").filter(pl.any_horizontal(pl.all().exclude("line").is_null()))
    if bad.height:
        line = int(bad["line"][0]) + 2
        raise PhotoreconError(f"{path}: line {line}: box coordinates must be integers")
    ints = ints.to_numpy()
    names = frame["filename"].to_list()
    if any(not n for n in names):
        raise PhotoreconError(f"{path}: empty filename in masked_info.csv")
    for line, name in enumerate(names, start=2):
        # a file name, not a path: nothing outside the challenge folder is ever read
        if "/" in name or "\\" in name or name in (".", "..") or Path(name).is_absolute():
            raise PhotoreconError(
                f"{path}: line {line}: filename {name!r} is a path; only names of files in "
                "the folder are allowed"
            )
    dupes = frame["filename"].filter(frame["filename"].is_duplicated()).unique().to_list()
    if dupes:
        raise PhotoreconError(f"{path}: filename listed twice: {dupes[0]}")
    entries = []
    for name, (r1, c1, r2, c2) in zip(names, ints.tolist(), strict=True):
        boxes = (Box(r1, c1, box_size, box_size), Box(r2, c2, box_size, box_size))
        entries.append(MaskedEntry(name, boxes))
    return entries


def write_masked_info(path: str | Path, entries: Iterable[MaskedEntry]) -> None:
    """Write masked_info.csv in the challenge's layout (leading unnamed index column)."""
    rows = []
    for i, entry in enumerate(entries):
        b1, b2 = entry.boxes
        rows.append((i, entry.filename, b1.row, b1.col, b2.row, b2.col))
    frame = pl.DataFrame(rows, schema=["index", *INFO_COLUMNS], orient="row")
    with atomic_open(path, "wb") as fh:
        # polars cannot name a column "", so the header is written by hand.
        fh.write(("," + ",".join(INFO_COLUMNS) + "\n").encode())
        frame.write_csv(fh, include_header=False)


def check_boxes(entry: MaskedEntry, height: int, width: int, where: str | Path) -> None:
    """Raise if any of the entry's boxes leaves an image of the given size."""
    for k, box in enumerate(entry.boxes, start=1):
        if not box.fits(height, width):
            raise PhotoreconError(
                f"{where}: box{k} of {entry.filename} at row {box.row}, col {box.col} "
                f"({box.height}x{box.width}) is outside the {height}x{width} image"
            )


@functools.lru_cache(maxsize=4)
def _suffix_table(height: int, width: int) -> pl.Series:
    """Strings `_<row>_<col>_<ch>` for every pixel and channel of a (height, width) image."""
    rows, cols, chans = np.meshgrid(
        np.arange(height), np.arange(width), np.arange(3), indexing="ij"
    )
    parts = [pl.Series(a.ravel()).cast(pl.String) for a in (rows, cols, chans)]
    return pl.select(
        pl.concat_str([pl.lit("_"), parts[0], pl.lit("_"), parts[1], pl.lit("_"), parts[2]])
    ).to_series()


def _box_flat_index(box: Box, width: int) -> np.ndarray:
    """Indices into the suffix table of a box's ids, in submission order (row, col, ch)."""
    rows = np.arange(box.row, box.row + box.height, dtype=np.int64)[:, None, None]
    cols = np.arange(box.col, box.col + box.width, dtype=np.int64)[None, :, None]
    chans = np.arange(3, dtype=np.int64)[None, None, :]
    return ((rows * width + cols) * 3 + chans).reshape(-1)


def _id_parts(items: list[tuple[MaskedEntry, np.ndarray]]):
    """(id column parts, each row's value) for images (H, W, 3) RGB, one row per box pixel and
    channel: ids are prefix + suffix, the suffixes gathered from one small table instead of
    formatting millions of integers. Values stay uint8 when every image is uint8, else they
    are floats in [0, 1]."""
    boxes = [box for entry, _ in items for box in entry.boxes]
    height = max(b.row + b.height for b in boxes)
    width = max(b.col + b.width for b in boxes)
    table = _suffix_table(height, width)
    codes = all(image.dtype == np.uint8 for _, image in items)
    prefixes: list[str] = []
    counts: list[int] = []
    flat, values = [], []
    for entry, image in items:
        scale = 1.0 / 255.0 if image.dtype == np.uint8 else 1.0
        for k, box in enumerate(entry.boxes, start=1):
            flat.append(_box_flat_index(box, width))
            # RGB -> BGR: the challenge numbers channels in OpenCV's order.
            patch = image[box.slices()][:, :, ::-1]
            values.append((patch if codes else patch.astype(np.float64) * scale).reshape(-1))
            prefixes.append(f"{entry.filename}_box{k}")
            counts.append(flat[-1].size)
    index = np.repeat(np.arange(len(prefixes), dtype=np.int64), counts)
    parts = [pl.Series(prefixes, dtype=pl.String).gather(index), table.gather(np.concatenate(flat))]
    return parts, np.concatenate(values)


def submission_frame(items: Iterable[tuple[MaskedEntry, np.ndarray]]) -> pl.DataFrame:
    """Ids and values for images (H, W, 3) RGB, uint8 or float in [0, 1], one row per box pixel."""
    items = list(items)
    if not any(entry.boxes for entry, _ in items):
        return pl.DataFrame(schema={ID_COLUMN: pl.String, VALUE_COLUMN: pl.Float64})
    parts, values = _id_parts(items)
    ids = pl.select(pl.concat_str(parts)).to_series()
    if values.dtype == np.uint8:
        values = values * (1.0 / 255.0)
    return pl.DataFrame({ID_COLUMN: ids, VALUE_COLUMN: values})


@functools.lru_cache(maxsize=4)
def _value_table(precision: int) -> pl.Series:
    """ ",<k/255>" for k = 0..255, formatted exactly as polars' CSV writer formats the floats."""
    buf = io.BytesIO()
    pl.DataFrame({VALUE_COLUMN: np.arange(256) / 255.0}).write_csv(
        buf, include_header=False, float_precision=precision
    )
    return pl.Series(["," + line for line in buf.getvalue().decode().splitlines()])


def _write_chunk(fh, items: list[tuple[MaskedEntry, np.ndarray]], precision: int) -> int:
    """Write the rows of `items`; uint8 images take their value strings from a 256-entry table
    (no float formatting), whole lines built in one pass. Returns rows written."""
    if not any(entry.boxes for entry, _ in items):
        return 0
    parts, values = _id_parts(items)
    # a file name a CSV must quote (a comma, a quote, a line break) goes through the frame
    plain = not any(set(',"\r\n') & set(entry.filename) for entry, _ in items)
    if values.dtype != np.uint8 or not plain:
        if values.dtype == np.uint8:
            values = values * (1.0 / 255.0)
        ids = pl.select(pl.concat_str(parts)).to_series()
        frame = pl.DataFrame({ID_COLUMN: ids, VALUE_COLUMN: values})
        frame.write_csv(fh, include_header=False, float_precision=precision)
        return frame.height
    lines = pl.select(pl.concat_str([*parts, _value_table(precision).gather(values)])).to_series()
    lines.to_frame().write_csv(fh, include_header=False, quote_style="never")
    return lines.len()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prefetched(chunks: Iterable[list], depth: int = 2) -> Iterator[list]:
    """`chunks` made on a helper thread, up to `depth` ahead of the consumer: reading and
    filling the next photos overlaps with writing the last ones (numpy, OpenCV, the models and
    polars all work outside the GIL). An error on the helper thread is raised here; leaving
    the loop early stops the helper."""
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    helper = threading.Thread(target=produce, name="photorecon-prefetch", daemon=True)
    helper.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        helper.join()


def write_submission(
    path: str | Path,
    items: Iterable[tuple[MaskedEntry, np.ndarray]],
    chunk_images: int = 64,
    precision: int = 7,
) -> int:
    """Stream a submission CSV atomically, `chunk_images` images at a time; returns rows written.
    The next chunk's images are made (read, filled) while this one is written."""
    total = 0
    with atomic_open(path, "wb") as fh:
        fh.write((SUBMISSION_HEADER + "\n").encode())
        for chunk in prefetched(_chunks(items, chunk_images)):
            total += _write_chunk(fh, chunk, precision)
    return total


def check_header(path: Path, role: str) -> None:
    """A submission file that exists and starts with the submission header, or one line."""
    if not path.is_file():
        raise PhotoreconError(f"{path}: {role} file not found")
    with open(path, "rb") as fh:
        header = fh.readline().decode("utf-8", "replace").strip().lstrip("\ufeff")
    if header != SUBMISSION_HEADER:
        raise PhotoreconError(f"{path}: wrong header {header!r}, expected {SUBMISSION_HEADER!r}")


def read_submission(path: str | Path, role: str = "submission") -> pl.DataFrame:
    """Read a submission or truth CSV, checking its header, ids and values."""
    path = Path(path)
    check_header(path, role)
    try:
        frame = pl.read_csv(
            path,
            schema={ID_COLUMN: pl.String, VALUE_COLUMN: pl.Float64},
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise PhotoreconError(f"{path}: malformed {role} CSV ({first_line(exc)})") from None
    nulls = frame.null_count()
    if nulls[ID_COLUMN][0] or nulls[VALUE_COLUMN][0]:
        bad = frame.with_row_index("line").filter(
            pl.col(ID_COLUMN).is_null() | pl.col(VALUE_COLUMN).is_null()
        )
        raise PhotoreconError(f"{path}: line {int(bad['line'][0]) + 2}: empty id or value")
    return frame


def _example(series: pl.Series) -> str:
    return str(series[0]) if series.len() else "?"


def _raise_on_duplicates(ids: pl.Series, where: str) -> None:
    """Raise naming a duplicated id; sorting 64-bit hashes is much faster than hashing strings."""
    hashes = np.sort(ids.hash().to_numpy())
    if not (hashes[1:] == hashes[:-1]).any():
        return
    dup = ids.filter(ids.is_duplicated())  # confirm: equal hashes may be a collision
    if dup.len():
        raise PhotoreconError(f"{where}: duplicate id {_example(dup)}")


def score_frames(
    submission: pl.DataFrame, truth: pl.DataFrame, where: str = "submission", clip: bool = False
) -> Score:
    """RMSE/PSNR of a submission against the truth; every truth id must be present once."""
    values = submission[VALUE_COLUMN]
    finite = values.is_finite()
    if not finite.all():
        bad = submission.filter(~finite)[ID_COLUMN]
        raise PhotoreconError(f"{where}: value is NaN or infinite for id {_example(bad)}")
    out_of_range = (values < 0.0) | (values > 1.0)
    if out_of_range.any():
        n = int(out_of_range.sum())
        if not clip:
            bad = submission.filter(out_of_range)[ID_COLUMN]
            raise PhotoreconError(
                f"{where}: {n} value(s) outside [0, 1], e.g. id {_example(bad)} "
                "(use --clip to clip them)"
            )
        warnings.warn(f"{where}: clipped {n} value(s) outside [0, 1]", stacklevel=2)
        submission = submission.with_columns(pl.col(VALUE_COLUMN).clip(0.0, 1.0))

    sub_ids, truth_ids = submission[ID_COLUMN], truth[ID_COLUMN]
    if sub_ids.len() == truth_ids.len() and (sub_ids == truth_ids).all():
        # Fast path: same ids in the same order, as photorecon writes them.
        _raise_on_duplicates(truth_ids, where)
        diff = submission[VALUE_COLUMN].to_numpy() - truth[VALUE_COLUMN].to_numpy()
    else:
        _raise_on_duplicates(sub_ids, where)
        joined = truth.join(submission, on=ID_COLUMN, how="full", suffix="_sub", coalesce=True)
        missing = joined.filter(pl.col(f"{VALUE_COLUMN}_sub").is_null())[ID_COLUMN]
        if missing.len():
            raise PhotoreconError(
                f"{where}: {missing.len()} id(s) of the truth are missing, e.g. {missing[0]}"
            )
        unknown = joined.filter(pl.col(VALUE_COLUMN).is_null())[ID_COLUMN]
        if unknown.len():
            raise PhotoreconError(
                f"{where}: {unknown.len()} unknown id(s) not in the truth, e.g. {unknown[0]}"
            )
        diff = joined[f"{VALUE_COLUMN}_sub"].to_numpy() - joined[VALUE_COLUMN].to_numpy()
    if diff.size == 0:
        raise PhotoreconError(f"{where}: the truth has no rows")
    from photorecon.metrics import SquaredErrors

    errors = SquaredErrors().add(diff)
    return Score(rmse=errors.rmse, psnr=psnr_from_mse(errors.mse), count=errors.count)


def score_files(submission: str | Path, truth: str | Path, clip: bool = False) -> Score:
    """Score a submission CSV against a truth CSV."""
    sub = read_submission(submission, "submission")
    tru = read_submission(truth, "truth")
    return score_frames(sub, tru, where=str(submission), clip=clip)


def merge_submissions(out: str | Path, parts: list[str | Path]) -> int:
    """One submission from the parts `predict --shard` wrote: their rows copied under one
    header, atomically. Every part must be a submission and no photo may be in two of them.
    Returns the rows written."""
    if not parts:
        raise PhotoreconError("merge: no submission parts given")
    owner: dict[str, Path] = {}
    for part in map(Path, parts):
        if Path(out).exists() and part.resolve() == Path(out).resolve():
            raise PhotoreconError(f"{part}: the merged file cannot be one of its parts")
        for name in _photos_in(part):
            if name in owner:
                raise PhotoreconError(f"{part}: photo {name} is in {owner[name]} too")
            owner[name] = part
    rows = 0
    with atomic_open(out, "wb") as fh:
        fh.write((SUBMISSION_HEADER + "\n").encode())
        for part in map(Path, parts):
            with open(part, "rb") as src:
                src.readline()
                last = b"\n"
                for block in iter(lambda src=src: src.read(1 << 20), b""):
                    rows += block.count(b"\n")
                    fh.write(block)
                    last = block[-1:]
            if last != b"\n":  # a part whose last line has no newline
                fh.write(b"\n")
                rows += 1
    return rows


def _photos_in(part: Path) -> list[str]:
    """The photo names a submission's ids mention, the part read and checked as the scorer
    reads a submission (header, ids, values)."""
    with open(part, "rb") as fh:  # the writer ends every row with a newline
        if fh.seek(0, 2) > 0:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                raise PhotoreconError(f"{part}: ends in the middle of a row (a part cut short)")
    frame = read_submission(part, "submission part")
    pattern = r"^(.*)_box(\d+)_(\d+)_(\d+)_\d$"
    ids = frame.select(
        pl.col(ID_COLUMN).str.extract(pattern, 1).alias("name"),
        pl.col(ID_COLUMN).str.extract(pattern, 2).alias("box"),
        pl.col(ID_COLUMN).str.extract(pattern, 3).cast(pl.Int64, strict=False).alias("row"),
        pl.col(ID_COLUMN).str.extract(pattern, 4).cast(pl.Int64, strict=False).alias("col"),
    )
    if ids["name"].null_count():
        raise PhotoreconError(f"{part}: an id is not <filename>_box<k>_<row>_<col>_<ch>")
    # every box whole: rows x cols x 3 channels (a part cut at a row's end loses the rest)
    boxes = ids.group_by("name", "box").agg(
        pl.len().alias("n"),
        (
            (pl.col("row").max() - pl.col("row").min() + 1)
            * (pl.col("col").max() - pl.col("col").min() + 1)
            * 3
        ).alias("want"),
    )
    short = boxes.filter(pl.col("n") != pl.col("want"))
    if len(short):
        name, box = short["name"][0], short["box"][0]
        raise PhotoreconError(f"{part}: box {box} of {name} is not whole (a part cut short?)")
    return ids["name"].unique().to_list()
