"""What comes in: the body limit (checked while it streams in, multipart bodies whole),
uploads read within it, photos, masks and boxes decoded into one-line errors (HTTP 400)."""

from __future__ import annotations

import json

import numpy as np
from fastapi import HTTPException, UploadFile

from photorecon.errors import PhotoreconError


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 as soon as that is known,
    from its Content-Length before anything is read, or while it streams in; it is never
    spooled to disk first (as multipart parsing would)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        seen, started, refused = 0, False, False
        closing = _closing_boundary(dict(scope["headers"]).get(b"content-type", b""))
        tail = b""

        async def counted():
            nonlocal seen, refused, tail
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                seen += len(body)
                if seen > self.limit and not started:
                    # answer now; the app sees the client gone and stops reading
                    await self._refuse(send)
                    refused = True
                    return {"type": "http.disconnect"}
                if closing is not None:
                    tail = (tail + body)[-(len(closing) + 8) :]
                    if not message.get("more_body") and closing not in tail:
                        # a body cut short: its parts may be cut too, so it is not read
                        await self._refuse(
                            send,
                            400,
                            "multipart body ends without its closing boundary (cut short?)",
                        )
                        refused = True
                        return {"type": "http.disconnect"}
            return message

        async def watched(message) -> None:
            nonlocal started
            if refused:  # the 413 is sent: whatever the app answers after it is dropped
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    async def _refuse(self, send, status: int = 413, detail: str = "") -> None:
        detail = detail or f"request body over {self.limit // 2**20} MiB (image and mask together)"
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _closing_boundary(content_type: bytes) -> bytes | None:
    """`--BOUNDARY--`, the line a multipart/form-data body must end with, or None for other
    bodies."""
    kind, _, params = content_type.decode("latin-1").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return b"--" + value.strip().strip('"').encode("latin-1") + b"--"
    return None


async def read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    """The upload's bytes, refusing more than `limit` (413) without reading it all."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} is larger than {limit // 2**20} MiB")
    if not data:
        raise HTTPException(400, f"{what} is empty")
    return data


ANSWER_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def decode_photo(data: bytes, what: str):
    """Decode an upload as the browser shows it, keeping its alpha, EXIF, profile and format;
    413 naming the pixel limit when it is too large (from the header), 415 when not an image."""
    from photorecon.imageio import read_photo

    return _decoded(read_photo, data, what)


def decode_mask(data: bytes, what: str) -> np.ndarray:
    """A mask upload as (H, W) float32, non-zero = missing, read as `fill --mask` reads a file
    (a 16-bit mask of 0s and 1s too); 413/415 as for photos."""
    from photorecon.imageio import read_mask

    return _decoded(read_mask, data, what)


def _decoded(reader, data: bytes, what: str):
    import warnings

    from photorecon.imageio import ImageTooLarge

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mode conversions are expected from browsers
            return reader(data, what)
    except ImageTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except PhotoreconError:
        raise HTTPException(
            415, f"{what} is not a readable image (PNG, JPEG, WebP, BMP, TIFF)"
        ) from None


def decode_image(data: bytes, what: str) -> np.ndarray:
    """An upload's RGB uint8 pixels (see decode_photo)."""
    return decode_photo(data, what).rgb


def parse_boxes(text: str) -> list[list[int]]:
    """`[[row, col, height, width], ...]` from the form field."""
    try:
        boxes = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: [[[[... nested past Python's limit
        raise HTTPException(400, "boxes must be JSON: [[row, col, height, width], ...]") from None
    if not isinstance(boxes, list) or not all(
        isinstance(b, list) and len(b) == 4 and all(_coordinate(v) for v in b) for b in boxes
    ):
        raise HTTPException(400, "boxes must be JSON: [[row, col, height, width], ...]")
    return boxes


def _coordinate(value) -> bool:
    """A whole number (JSON's true and false are not coordinates, though Python's bool is an
    int)."""
    return isinstance(value, int) and not isinstance(value, bool)
