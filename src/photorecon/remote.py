"""Photos and outputs at fsspec URLs (s3://, gs://, az://, memory://, ...) for batch work.

A `RemotePath` stands where a local `Path` would in `fill`'s jobs: it has a name, a stem and a
suffix, reads and writes whole files through fsspec (an object store's upload is whole or not
at all), and is never confused with a local file. `file://` URLs become plain local paths, so
local writes stay atomic. The filesystem packages come with `pip install 'photorecon[cloud]'`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from photorecon.errors import PhotoreconError, first_line

URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")
CHAIN = "::"  # fsspec's chained URLs: simplecache::s3://bucket/key, zip://inner::file://a.zip


def is_chain(text: str) -> bool:
    """Whether `text` is a chained fsspec URL (some part of it a URL)."""
    return CHAIN in text and any(URL.match(part) for part in text.split(CHAIN))


def is_url(text: str | Path) -> bool:
    """Whether `text` is a URL fsspec should open (not a local path, not file://): a URL or a
    chain of them."""
    if not isinstance(text, str):
        return False
    return is_chain(text) or (bool(URL.match(text)) and not text.startswith("file://"))


def local_or_remote(text: str) -> Path | RemotePath:
    """A command-line location as a local Path or a RemotePath."""
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return RemotePath(text) if is_url(text) else Path(text)


def _filesystem(url: str):
    try:
        import fsspec

        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise PhotoreconError(
            f"{url}: needs {exc.name or 'a filesystem package'} (pip install 'photorecon[cloud]')"
        ) from None
    except (ValueError, OSError) as exc:
        raise PhotoreconError(f"{url}: cannot open ({first_line(exc)})") from None


class RemotePath:
    """A file or folder at a URL, with the little of `Path` that batch jobs use."""

    def __init__(self, url: str) -> None:
        parts = url.split(CHAIN)
        # the part that holds the path: the first with a protocol and a path (a chain's
        # leading layers, simplecache:: say, have none)
        self._head = next((i for i, p in enumerate(parts) if URL.match(p)), 0)
        head = parts[self._head]
        parts[self._head] = head.rstrip("/") if not head.endswith("://") else head
        self.url = CHAIN.join(parts)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def _parts(self) -> list[str]:
        return self.url.split(CHAIN)

    def _with_path(self, path: str) -> RemotePath:
        """This URL with the path of its head part replaced (the chain kept)."""
        parts = self._parts()
        protocol = parts[self._head].split("://", 1)[0]
        parts[self._head] = f"{protocol}://{path.lstrip('/')}"
        return RemotePath(CHAIN.join(parts))

    @property
    def _pure(self) -> PurePosixPath:
        return PurePosixPath(self._parts()[self._head].split("://", 1)[-1])

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    def __truediv__(self, name: str) -> RemotePath:
        return self._with_path(f"{self._pure.as_posix()}/{name}")

    def with_name(self, name: str) -> RemotePath:
        return self._with_path((self._pure.parent / name).as_posix())

    def resolve(self) -> RemotePath:
        return self

    def exists(self) -> bool:
        fs, path = _filesystem(self.url)
        return bool(fs.exists(path))

    def is_dir(self) -> bool:
        fs, path = _filesystem(self.url)
        return bool(fs.isdir(path))

    def is_file(self) -> bool:
        fs, path = _filesystem(self.url)
        return bool(fs.isfile(path))

    def children(self) -> list[RemotePath]:
        """The files directly inside this folder, sorted by name."""
        fs, path = _filesystem(self.url)
        entries = fs.ls(path, detail=True)
        files = sorted(e["name"] for e in entries if e.get("type") == "file")
        return [self._with_path(name) for name in files]

    def open(self):
        """A binary stream of the file, read as it is consumed (a shard, say)."""
        fs, path = _filesystem(self.url)
        try:
            return fs.open(path, "rb")
        except (OSError, ValueError) as exc:
            raise PhotoreconError(f"{self.url}: cannot open ({first_line(exc)})") from None

    def read_bytes(self) -> bytes:
        fs, path = _filesystem(self.url)
        try:
            with fs.open(path, "rb") as fh:
                return fh.read()
        except (OSError, ValueError) as exc:
            raise PhotoreconError(f"{self.url}: cannot read ({first_line(exc)})") from None

    def write_bytes(self, data: bytes) -> None:
        fs, path = _filesystem(self.url)
        try:
            with fs.open(path, "wb") as fh:
                fh.write(data)
        except (OSError, ValueError) as exc:
            raise PhotoreconError(f"{self.url}: cannot write ({first_line(exc)})") from None

    def upload(self, local: Path) -> None:
        fs, path = _filesystem(self.url)
        try:
            fs.put_file(str(local), path)
        except (OSError, ValueError) as exc:
            raise PhotoreconError(f"{self.url}: cannot write ({first_line(exc)})") from None
