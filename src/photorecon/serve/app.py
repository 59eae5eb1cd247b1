"""FastAPI app: one static page, `POST /api/fill`, `POST /api/detect`, `GET /api/models`."""

from __future__ import annotations

import io
import json
import threading
from importlib import resources
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image

from photorecon.errors import PhotoreconError


async def read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    """The upload's bytes, refusing more than `limit` (413) without reading it all."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} is larger than {limit // 2**20} MiB")
    if not data:
        raise HTTPException(400, f"{what} is empty")
    return data


def decode_image(data: bytes, what: str) -> np.ndarray:
    """Decode an uploaded image to RGB uint8 as the browser shows it; 413 naming the pixel
    limit when it is too large (checked from the header), 415 when it is not an image."""
    import warnings

    from photorecon.errors import PhotoreconError
    from photorecon.imageio import ImageTooLarge, decode, to_rgb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mode conversions are expected from browsers
            rgb = to_rgb(decode(data, what), what)
    except ImageTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except PhotoreconError:
        raise HTTPException(
            415, f"{what} is not a readable image (PNG, JPEG, WebP, BMP, TIFF)"
        ) from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def parse_boxes(text: str) -> list[list[int]]:
    """`[[row, col, height, width], ...]` from the form field."""
    try:
        boxes = json.loads(text)
    except ValueError:
        raise HTTPException(400, "boxes must be JSON: [[row, col, height, width], ...]") from None
    if not isinstance(boxes, list) or not all(
        isinstance(b, list) and len(b) == 4 and all(isinstance(v, int) for v in b) for b in boxes
    ):
        raise HTTPException(400, "boxes must be JSON: [[row, col, height, width], ...]")
    return boxes


def create_app(
    *, max_upload_mb: float = 20.0, device: str = "cpu", default_model: str | None = None
) -> FastAPI:
    """Build the app; models load on first use and stay cached."""
    from photorecon.anysize import fill_any_size, find_white_boxes
    from photorecon.api import cached_model, resolve_mask
    from photorecon.api import default_model as best_model
    from photorecon.models.loading import ready_models
    from photorecon.models.registry import get_model_info

    limit = int(max_upload_mb * 2**20)
    app = FastAPI(
        title="photorecon",
        description="Fill missing rectangles in photos.",
        version="0.1.0",
    )
    lock = threading.Lock()  # one fill at a time: the CPU is the bottleneck anyway
    default = default_model or best_model()

    @app.exception_handler(PhotoreconError)
    async def photorecon_error(_: Request, exc: PhotoreconError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return resources.files("photorecon.serve").joinpath("static/index.html").read_text()

    @app.get("/api/models")
    def models() -> dict:
        """Models usable now, best first, with the default."""
        return {
            "default": default,
            "models": [{"name": n, "summary": get_model_info(n).summary} for n in ready_models()],
        }

    @app.post("/api/detect")
    async def detect(image: Annotated[UploadFile, File()]) -> dict:
        """Pure-white rectangles in the image, as [[row, col, height, width], ...]."""
        pixels = decode_image(await read_upload(image, limit, "image"), "image")
        boxes = find_white_boxes(pixels)
        return {"boxes": [[b.row, b.col, b.height, b.width] for b in boxes]}

    @app.post(
        "/api/fill",
        responses={200: {"content": {"image/png": {}}, "description": "the filled image"}},
        response_class=Response,
    )
    async def fill(
        image: Annotated[UploadFile, File()],
        boxes: Annotated[str | None, Form()] = None,
        mask: Annotated[UploadFile | None, File()] = None,
        model: Annotated[str | None, Form()] = None,
        white: Annotated[bool, Form()] = False,
    ) -> Response:
        """Fill the image's holes given as `boxes` JSON, a `mask` image, or `white=true`."""
        pixels = decode_image(await read_upload(image, limit, "image"), "image")
        given = [boxes is not None, mask is not None, white]
        if sum(given) != 1:
            raise HTTPException(400, "give exactly one of boxes, mask or white")
        if mask is not None:
            holes = resolve_mask(
                pixels, decode_image(await read_upload(mask, limit, "mask"), "mask")
            )
        elif white:
            holes = resolve_mask(pixels, "white")
        else:
            box_list = parse_boxes(boxes or "[]")
            if not box_list:
                raise HTTPException(400, "boxes is empty: draw at least one rectangle")
            holes = resolve_mask(pixels, box_list)
        spec = model or default
        if spec not in ready_models():
            raise HTTPException(
                400, f"unknown model {spec!r}; available: {', '.join(ready_models())}"
            )
        with lock:
            net = cached_model(spec, device)
            out = fill_any_size(pixels, holes, net, device=device)
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png")

    return app
