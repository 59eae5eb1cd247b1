"""A compact copy of a photo pack, small enough to travel with the code to a machine with no
network (a GPU node, a short cloud allocation): each photo shrunk to the long side training
uses and stored as JPEG, the manifest and attribution kept, so the same seed splits it the same.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from PIL import Image

from photorecon.data.crops import downscale
from photorecon.data.photos import read_manifest
from photorecon.errors import PhotoreconError
from photorecon.fsutil import atomic_path
from photorecon.imageio import read_image


def compact_pack(
    source: str | Path, dest: str | Path, *, max_side: int = 1024, quality: int = 92
) -> tuple[int, int]:
    """Write DEST as a compact copy of the pack SOURCE; returns (photos, bytes on disk).

    Photos keep their manifest order (the train/val/test split of a seed depends on it), their
    records (licence, origin), and get `.jpg` paths and their new sizes.
    """
    source, dest = Path(source), Path(dest)
    if not 1 <= quality <= 100:
        raise PhotoreconError(f"JPEG quality must be 1-100, got {quality}")
    if dest.resolve() == source.resolve():
        raise PhotoreconError(f"{dest}: the compact pack must go to another folder")
    records = read_manifest(source)
    out = []
    total = 0
    for record in records:
        image = downscale(read_image(source / record.path), max_side)
        rel = Path(record.path).with_suffix(".jpg").as_posix()
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            Image.fromarray(image).save(tmp, format="JPEG", quality=quality, subsampling=0)
        total += target.stat().st_size
        height, width = image.shape[:2]
        out.append(dataclasses.replace(record, path=rel, width=width, height=height))
    with atomic_path(dest / "manifest.json") as tmp:
        tmp.write_text(json.dumps([dataclasses.asdict(r) for r in out], indent=1))
    if (source / "ATTRIBUTION.md").is_file():
        shutil.copyfile(source / "ATTRIBUTION.md", dest / "ATTRIBUTION.md")
    return len(out), total
