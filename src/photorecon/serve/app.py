"""The FastAPI app: one static page, `POST /api/fill`, `POST /api/detect`,
`POST /api/restore`, `GET /api/models` (routes.py), the work queue (work.py) and the
upload limits (uploads.py)."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from photorecon import __version__
from photorecon.errors import PhotoreconError
from photorecon.serve.routes import ServeState, router
from photorecon.serve.uploads import BodyLimit
from photorecon.serve.work import ProgressBoard, WorkQueue


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
        WorkQueue(queue, timeout),
        ProgressBoard(),
        dict(model_options or {}),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        state.work.open()
        yield
        state.work.close()

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
