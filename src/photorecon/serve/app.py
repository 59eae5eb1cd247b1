"""FastAPI app: one static page, `POST /api/fill`, `POST /api/detect`, `GET /api/models`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated

import numpy as np
from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from photorecon import __version__
from photorecon.errors import PhotoreconError


class Cancelled(Exception):
    """A fill whose client went away, or whose time ran out: the worker drops it."""


class FillQueue:
    """Fills run one at a time on a worker thread, so every other route answers at once.

    At most `depth` fills wait or run; one more gets 503 with Retry-After. A fill that takes
    longer than `timeout` seconds gets 503 too, and a fill whose client disconnects is
    dropped: either way the job's `cancel` event is set, and the worker stops it at its next
    check (between batches of windows), so an abandoned fill stops costing CPU. On shutdown
    the running fill finishes and queued ones are cancelled.
    """

    def __init__(self, depth: int = 8, timeout: float = 120.0) -> None:
        self.depth, self.timeout = depth, timeout
        self.slots = threading.BoundedSemaphore(depth)
        self.executor: ThreadPoolExecutor | None = None
        self.open()

    def open(self) -> None:
        """Start the worker (at app start-up; again after a shutdown, as test clients do)."""
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="photorecon-fill")

    async def run(self, fn, *args, request: Request | None = None):
        """`fn(cancel, *args)` on the worker; `cancel` (a threading.Event) is set when the
        answer is no longer wanted."""
        if not self.slots.acquire(blocking=False):
            raise HTTPException(
                503,
                f"busy: {self.depth} fills are queued; try again shortly",
                headers={"Retry-After": "5"},
            )
        cancel = threading.Event()
        try:
            if self.executor is None:
                raise RuntimeError("closed")
            future = self.executor.submit(fn, cancel, *args)
        except RuntimeError:  # shutting down
            self.slots.release()
            raise HTTPException(503, "the server is shutting down") from None
        future.add_done_callback(lambda _: self.slots.release())
        waiting = asyncio.ensure_future(asyncio.wrap_future(future))
        # a dropped job's outcome (Cancelled, say) is read here, so asyncio does not log it
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        watcher = asyncio.ensure_future(_gone(request)) if request is not None else None
        try:
            pending = {waiting} if watcher is None else {waiting, watcher}
            done, _ = await asyncio.wait(
                pending, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if waiting in done:
                return waiting.result()
            cancel.set()
            if watcher is not None and watcher in done:  # nobody to answer
                raise HTTPException(499, "the client went away")
            raise HTTPException(
                503,
                f"the fill took longer than {self.timeout:g} s; try a smaller photo or hole",
                headers={"Retry-After": "30"},
            )
        except asyncio.CancelledError:  # the server dropped the request
            cancel.set()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    def close(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


async def _gone(request: Request, every: float = 0.2) -> None:
    """Returns once the client of `request` has disconnected."""
    while not await request.is_disconnected():
        await asyncio.sleep(every)


PROGRESS_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class ProgressBoard:
    """(done, total) of the fills that asked to be followed, by their client's id; the oldest
    go first past `keep` (a client that never asks again costs nothing for long)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self.states: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def reporter(self, key: str | None):
        if key is None:
            return None

        def report(done: int, total: int) -> None:
            with self.lock:
                self.states.pop(key, None)
                self.states[key] = (done, total)
                while len(self.states) > self.keep:
                    self.states.pop(next(iter(self.states)))

        return report

    def get(self, key: str) -> tuple[int, int] | None:
        with self.lock:
            return self.states.get(key)


def checker(cancel: threading.Event):
    """A `check` for the fill path: raises Cancelled once `cancel` is set."""

    def check() -> None:
        if cancel.is_set():
            raise Cancelled

    return check


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


@dataclass
class ServeState:
    """What the routes share: limits, the device, the default model and what is offered, the
    fill queue and the progress board (one per app, at `app.state.photorecon`)."""

    limit: int
    device: str
    default: str
    fills: FillQueue
    progress: ProgressBoard
    model_options: dict = field(default_factory=dict)

    def offered(self) -> list[str]:
        from photorecon.models.loading import ready_models

        ready = ready_models()
        return ready if self.default in ready else [self.default, *ready]

    def summary(self, spec: str) -> str:
        from photorecon.models.loading import ready_models
        from photorecon.models.registry import get_model_info

        if spec in ready_models():
            return get_model_info(spec).summary
        return f"{spec} (given to serve --model)"

    def learned(self, spec: str) -> bool:
        """Whether `spec` is a learned fill (detail needs one); a checkpoint given to serve
        --model is."""
        from photorecon.models.loading import ready_models
        from photorecon.models.registry import get_model_info

        return spec not in ready_models() or get_model_info(spec).kind != "classical"

    def load(self, spec: str):
        from photorecon.api import cached_model

        options = self.model_options
        if spec == self.default and options:
            from photorecon.models.diffusion import DiffusionOptions

            diffusion = DiffusionOptions(**options.get("diffusion", {}))
            return cached_model(spec, self.device, False, "torch", diffusion, options.get("lora"))
        return cached_model(spec, self.device)


def state_of(request: Request) -> ServeState:
    return request.app.state.photorecon


router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> str:
    return resources.files("photorecon.serve").joinpath("static/index.html").read_text()


@router.get("/favicon.svg", include_in_schema=False)
@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    icon = resources.files("photorecon.serve").joinpath("static/favicon.svg").read_bytes()
    return Response(icon, media_type="image/svg+xml")


@router.get("/api/models")
def models(request: Request) -> dict:
    """Models usable now, best first, with the default."""
    from photorecon.imageio import max_pixels

    state = state_of(request)
    return {
        "default": state.default,
        # what the page checks a photo against when it is opened, before any painting
        "limits": {"upload_bytes": state.limit, "pixels": max_pixels()},
        "models": [
            {"name": n, "summary": state.summary(n), "detail": state.learned(n)}
            for n in state.offered()
        ],
    }


@router.post(
    "/api/detect",
    responses={
        200: {
            "content": {"application/json": {}, "image/png": {}},
            "description": "kind=white: {boxes: [[row, col, height, width], ...]}; "
            "kind=damage: the damage mask as a PNG (255 = damage), the photo's size",
        }
    },
)
async def detect(
    request: Request,
    image: Annotated[UploadFile, File()],
    kind: Annotated[str, Form()] = "white",
    sensitivity: Annotated[float, Form()] = 0.5,
    dilate: Annotated[int, Form()] = 0,
    within: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Pure-white rectangles (`kind=white`), or the damage the learned detector finds
    (`kind=damage`: scratches, cracks, dust, blotches, tears) as a mask image; `within` (a mask
    image of the photo's size, non-zero = where to look) is the damage brush: the damage
    inside that region only, looked for harder. Both run on the worker, never on the loop."""
    if kind not in ("white", "damage"):
        raise HTTPException(400, f"unknown kind {kind!r} (white or damage)")
    if within is not None and kind != "damage":
        raise HTTPException(400, "within needs kind=damage")
    from photorecon.checks import check_dilate, check_sensitivity

    state = state_of(request)
    sensitivity = check_sensitivity(sensitivity)
    dilate = check_dilate(dilate)
    data = await read_upload(image, state.limit, "image")
    if kind == "white":
        boxes = await state.fills.run(white_boxes_now, data, request=request)
        return JSONResponse({"boxes": boxes})
    region = await read_upload(within, state.limit, "within") if within is not None else None
    job = (state.device, data, sensitivity, dilate, region)
    body = await state.fills.run(detect_now, *job, request=request)
    return Response(body, media_type="image/png")


def white_boxes_now(cancel, data) -> list[list[int]]:
    """The pure-white rectangles of an upload (on the worker thread)."""
    from photorecon.anysize import find_white_boxes

    check = checker(cancel)
    check()
    boxes = find_white_boxes(decode_image(data, "image"))
    return [[b.row, b.col, b.height, b.width] for b in boxes]


def detect_now(cancel, device, data, sensitivity, dilate, region=None) -> bytes:
    """The damage mask of an upload as PNG bytes (on the worker thread); `region` the bytes
    of a `within` mask upload."""
    import io

    from PIL import Image as PILImage

    from photorecon.detection import damage_mask, load_detector, region_mask

    check = checker(cancel)
    check()
    pixels = decode_image(data, "image")
    within = None
    if region is not None:
        within = region_mask(decode_mask(region, "within"), pixels.shape[:2])
    detector = load_detector("damage", device)
    mask = damage_mask(pixels, detector, sensitivity, dilate, device, within=within, check=check)
    check()
    buffer = io.BytesIO()
    PILImage.fromarray(mask, "L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@router.post(
    "/api/fill",
    responses={
        200: {
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
            "description": "the filled image, in the upload's format",
        }
    },
    response_class=Response,
)
async def fill(
    request: Request,
    image: Annotated[UploadFile, File()],
    boxes: Annotated[str | None, Form()] = None,
    mask: Annotated[UploadFile | None, File()] = None,
    model: Annotated[str | None, Form()] = None,
    white: Annotated[bool, Form()] = False,
    detail: Annotated[bool, Form()] = False,
    progress_id: Annotated[str | None, Form()] = None,
) -> Response:
    """Fill the image's holes given as `boxes` JSON, a `mask` image, or `white=true`;
    `detail=true` gives large holes texture from the photo's own pixels (learned models).
    With a `progress_id` of the client's choosing, `GET /api/progress/{progress_id}`
    tells how far the fill has got while it runs.

    The answer is in the upload's format (PNG, JPEG or WebP; PNG for others), with its
    alpha channel, EXIF and colour profile."""
    state = state_of(request)
    given = [boxes is not None, mask is not None, white]
    if sum(given) != 1:
        raise HTTPException(400, "give exactly one of boxes, mask or white")
    spec = model or state.default
    offered = state.offered()
    if spec not in offered:
        raise HTTPException(400, f"unknown model {spec!r}; available: {', '.join(offered)}")
    if detail and not state.learned(spec):
        raise HTTPException(400, f"detail needs a learned model; {spec} is a classical fill")
    box_list = parse_boxes(boxes) if boxes is not None else None
    if box_list is not None and not box_list:
        raise HTTPException(400, "boxes is empty: draw at least one rectangle")
    data = await read_upload(image, state.limit, "image")
    mask_data = await read_upload(mask, state.limit, "mask") if mask is not None else None
    if progress_id is not None and not PROGRESS_ID.fullmatch(progress_id):
        raise HTTPException(400, "progress_id: 8-64 letters, digits, - or _")
    job = FillJob(data, box_list, mask_data, white, spec, detail)
    report = state.progress.reporter(progress_id)
    body, media_type = await state.fills.run(fill_now, state, job, report, request=request)
    return Response(body, media_type=media_type)


@router.get("/api/progress/{progress_id}")
def fill_progress(request: Request, progress_id: str) -> dict:
    """How far the fill sent with this `progress_id` has got: steps done of the total
    (batches of windows, detailed windows); 404 before it starts or once long gone."""
    found = state_of(request).progress.get(progress_id)
    if found is None:
        raise HTTPException(404, "no fill with that progress_id is known")
    return {"done": found[0], "total": found[1]}


@dataclass(frozen=True)
class FillJob:
    """One fill request, decoded no further than the form."""

    data: bytes
    boxes: list | None
    mask: bytes | None
    white: bool
    spec: str
    detail: bool


def fill_now(cancel, state: ServeState, job: FillJob, report) -> tuple[bytes, str]:
    """Decode, fill and encode (on the worker thread: decoding a 24-megapixel photo or running
    a model would hold up every other request); dropped between steps and between batches of
    windows once `cancel` is set."""
    from photorecon.anysize import fill_any_size
    from photorecon.api import resolve_mask
    from photorecon.imageio import encode_photo

    check = checker(cancel)
    check()  # it may have waited in the queue past its client
    photo = decode_photo(job.data, "image")
    pixels = photo.rgb
    if job.mask is not None:
        holes = resolve_mask(pixels, decode_mask(job.mask, "mask"))
    elif job.white:
        holes = resolve_mask(pixels, "white")
    else:
        holes = resolve_mask(pixels, job.boxes)
    out = fill_any_size(
        pixels,
        holes,
        state.load(job.spec),
        device=state.device,
        check=check,
        detail=job.detail,
        progress=report,
    )
    check()
    fmt = photo.format if photo.format in ANSWER_TYPES else "PNG"
    return encode_photo(out, photo, fmt), ANSWER_TYPES[fmt]


@router.post(
    "/api/restore",
    responses={
        200: {
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
            "description": "the restored image, in the upload's format",
        }
    },
    response_class=Response,
)
async def restore(
    request: Request,
    image: Annotated[UploadFile, File()],
    damage: Annotated[bool, Form()] = True,
    tone: Annotated[bool, Form()] = True,
    strength: Annotated[float, Form()] = 1.0,
    sensitivity: Annotated[float, Form()] = 0.5,
) -> Response:
    """Restore an old photo: find and fill its damage (`damage`), undo its fading, colour
    cast and lost contrast and quiet its grain (`tone`), blended back toward the photo by
    `strength` (0-1). The answer is in the upload's format, with its alpha channel, EXIF and
    colour profile."""
    from photorecon.checks import check_sensitivity, check_strength
    from photorecon.restoration import RestoreOptions

    if not damage and not tone:
        raise HTTPException(400, "damage and tone both off leave nothing to do")
    options = RestoreOptions(
        damage, tone, tone, check_strength(strength), check_sensitivity(sensitivity)
    )
    state = state_of(request)
    data = await read_upload(image, state.limit, "image")
    body, media_type = await state.fills.run(restore_now, state, data, options, request=request)
    return Response(body, media_type=media_type)


def restore_now(cancel, state: ServeState, data: bytes, options) -> tuple[bytes, str]:
    """Decode, restore and encode on the worker thread (checked for cancellation between
    the stages)."""
    from photorecon.detection import load_detector
    from photorecon.imageio import encode_photo
    from photorecon.restoration import RESTORER, restore_pixels

    check = checker(cancel)
    check()
    photo = decode_photo(data, "image")
    out, _ = restore_pixels(
        photo.rgb,
        options,
        restorer=state.load(RESTORER) if options.tone else None,
        detector=load_detector("damage", state.device) if options.damage else None,
        fill_model=state.load(state.default) if options.damage else None,
        device=state.device,
    )
    check()
    fmt = photo.format if photo.format in ANSWER_TYPES else "PNG"
    return encode_photo(out, photo, fmt), ANSWER_TYPES[fmt]


async def photorecon_error(_: Request, exc: PhotoreconError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


def create_app(
    *,
    max_upload_mb: float = 20.0,
    device: str = "cpu",
    default_model: str | None = None,
    queue: int = 8,
    timeout: float = 120.0,
    model_options: dict | None = None,
) -> FastAPI:
    """Build the app; models load on first use and stay cached; fills run on a worker thread
    (`queue` of them at most, each within `timeout` seconds). A default model given as a path
    (a checkpoint, or a Stable Diffusion folder sampled as `model_options` say) is offered
    beside the ready models."""
    from fastapi_offline import FastAPIOffline

    from photorecon.api import default_model as best_model

    limit = int(max_upload_mb * 2**20)
    state = ServeState(
        limit,
        device,
        default_model or best_model(),
        FillQueue(queue, timeout),
        ProgressBoard(),
        dict(model_options or {}),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        state.fills.open()
        yield
        state.fills.close()

    # /docs and /redoc from the package's own copies of Swagger UI and ReDoc, not a CDN
    app = FastAPIOffline(
        title="photorecon",
        description="Find and fill damaged or missing regions of photos: scratches, dust, "
        "blotches, tears, boxes and holes of any shape.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.photorecon = state
    # an image and a mask of `limit` each, and the form's other fields
    app.add_middleware(BodyLimit, limit=2 * limit + 2**16)
    app.add_exception_handler(PhotoreconError, photorecon_error)
    app.include_router(router)
    return app
