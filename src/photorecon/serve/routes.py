"""The page and the API's routes; each does its work on the queue's worker thread
(`*_now`), so decoding a large photo or running a model never holds up other requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from photorecon.serve.uploads import (
    ANSWER_TYPES,
    decode_image,
    decode_mask,
    decode_photo,
    parse_boxes,
    read_upload,
)
from photorecon.serve.work import PROGRESS_ID, ProgressBoard, WorkQueue, checker


@dataclass
class ServeState:
    """What the routes share: limits, the device, the default model and what is offered, the
    work queue and the progress board (one per app, at `app.state.photorecon`)."""

    limit: int
    device: str
    default: str
    work: WorkQueue
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

    def load(self, spec: str, role: str = "fill"):
        from photorecon.api import cached_model

        if role != "fill":
            return cached_model(spec, self.device, role=role)
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
        boxes = await state.work.run(white_boxes_now, data, request=request)
        return JSONResponse({"boxes": boxes})
    region = await read_upload(within, state.limit, "within") if within is not None else None
    job = (state.device, data, sensitivity, dilate, region)
    body = await state.work.run(detect_now, *job, request=request)
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
    job = FillRequest(data, box_list, mask_data, white, spec, detail)
    report = state.progress.reporter(progress_id)
    body, media_type = await state.work.run(fill_now, state, job, report, request=request)
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
class FillRequest:
    """One fill request, decoded no further than the form."""

    data: bytes
    boxes: list | None
    mask: bytes | None
    white: bool
    spec: str
    detail: bool


def fill_now(cancel, state: ServeState, job: FillRequest, report) -> tuple[bytes, str]:
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
    body, media_type = await state.work.run(restore_now, state, data, options, request=request)
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
        restorer=state.load(RESTORER, role="restorer") if options.tone else None,
        detector=load_detector("damage", state.device) if options.damage else None,
        fill_model=state.load(state.default) if options.damage else None,
        device=state.device,
    )
    check()
    fmt = photo.format if photo.format in ANSWER_TYPES else "PNG"
    return encode_photo(out, photo, fmt), ANSWER_TYPES[fmt]
