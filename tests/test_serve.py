from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import synthetic_photo
from photorecon.serve.app import create_app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(max_upload_mb=1, default_model="telea"))


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


PHOTO = synthetic_photo(np.random.default_rng(5), 120, 160)


def test_page_models_and_docs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    models = client.get("/api/models").json()
    assert models["default"] == "telea"
    assert {"telea", "ns", "mean"} <= {m["name"] for m in models["models"]}
    # the page greys its Detail switch out for classical fills
    assert not any(m["detail"] for m in models["models"] if m["name"] in ("telea", "ns", "mean"))
    assert client.get("/openapi.json").json()["paths"]["/api/fill"]["post"]
    # the docs work offline: their scripts and styles are served from the package
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "https://" not in html and "http://" not in html
        for asset in re.findall(r'(?:src|href)="(/static-offline-docs/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset
    assert "swagger-ui-bundle.js" in client.get("/docs").text


def test_fill_changes_only_the_box(client: TestClient) -> None:
    resp = client.post(
        "/api/fill",
        files={"image": ("p.png", png(PHOTO), "image/png")},
        data={"boxes": json.dumps([[20, 30, 25, 40]]), "model": "mean"},
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(resp.content)))
    changed = (out != PHOTO).any(axis=2)
    assert changed[20:45, 30:70].mean() > 0.9
    changed[20:45, 30:70] = False
    assert not changed.any()


def test_fill_with_mask_and_white(client: TestClient) -> None:
    mask = np.zeros((120, 160), np.uint8)
    mask[50:60, 50:60] = 255
    colour = np.zeros((120, 160, 3), np.uint8)
    colour[mask > 0] = (255, 32, 80)  # the page's mask colour: any non-zero channel is a hole
    for upload in (np.dstack([mask] * 3), colour):
        resp = client.post(
            "/api/fill",
            files={
                "image": ("p.png", png(PHOTO), "image/png"),
                "mask": ("m.png", png(upload), "image/png"),
            },
            data={"model": "mean"},
        )
        assert resp.status_code == 200
        changed = (np.asarray(Image.open(io.BytesIO(resp.content))) != PHOTO).any(axis=2)
        assert changed[50:60, 50:60].mean() > 0.9 and not changed[mask == 0].any()
    white = PHOTO.copy()
    white[10:40, 100:140] = 255
    resp = client.post("/api/detect", files={"image": ("w.png", png(white), "image/png")})
    assert resp.json() == {"boxes": [[10, 100, 30, 40]]}
    resp = client.post(
        "/api/fill", files={"image": ("w.png", png(white), "image/png")}, data={"white": "true"}
    )
    out = np.asarray(Image.open(io.BytesIO(resp.content)))
    assert (out[10:40, 100:140] != 255).any()


@pytest.mark.parametrize(
    ("files", "data", "status", "detail"),
    [
        (
            {"image": ("x.txt", b"hello", "text/plain")},
            {"boxes": "[[0,0,5,5]]"},
            415,
            "not a readable image",
        ),
        (
            {"image": ("big.png", b"\x89PNG" + b"0" * (2**20 + 10), "image/png")},
            {"boxes": "[[0,0,5,5]]"},
            413,
            "larger than",
        ),
        ({"image": ("p.png", png(PHOTO), "image/png")}, {"boxes": "[[0,0,500,5]]"}, 400, "outside"),
        (
            {"image": ("p.png", png(PHOTO), "image/png")},
            {"boxes": "nope"},
            400,
            "boxes must be JSON",
        ),
        ({"image": ("p.png", png(PHOTO), "image/png")}, {}, 400, "exactly one of"),
        (
            {"image": ("p.png", png(PHOTO), "image/png")},
            {"boxes": "[[0,0,5,5]]", "model": "zzz"},
            400,
            "unknown model",
        ),
        (
            {"image": ("p.png", png(PHOTO), "image/png")},
            {"boxes": "[[0,0,5,5]]", "model": "/etc/passwd"},
            400,
            "unknown model",
        ),
        (
            {
                "image": ("p.png", png(PHOTO), "image/png"),
                "mask": ("m.png", png(PHOTO[:50]), "image/png"),
            },
            {},
            400,
            "mask is",
        ),
        (
            {"image": ("p.png", png(PHOTO), "image/png")},
            {"boxes": "[[0,0,50,50]]", "model": "telea", "detail": "true"},
            400,
            "detail needs a learned model",
        ),
    ],
)
def test_bad_requests_get_clear_4xx(client: TestClient, files, data, status, detail) -> None:
    resp = client.post("/api/fill", files=files, data=data)
    assert resp.status_code == status
    assert detail in resp.json()["detail"]


def test_fill_answers_in_the_uploads_format_with_alpha_and_exif(client: TestClient) -> None:
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.arange(50, dtype=np.uint8)[None] * 5
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    response = client.post(
        "/api/fill",
        files={"image": ("a.png", buf.getvalue(), "image/png")},
        data={"boxes": "[[5, 5, 10, 10]]"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    back = np.asarray(Image.open(io.BytesIO(response.content)))
    assert back.shape == (40, 50, 4) and (back[..., 3] == rgba[..., 3]).all()
    exif = Image.Exif()
    exif[0x0110] = "camera"
    jpeg = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(jpeg, format="JPEG", exif=exif, quality=95)
    response = client.post(
        "/api/fill",
        files={"image": ("a.jpg", jpeg.getvalue(), "image/jpeg")},
        data={"boxes": "[[5, 5, 10, 10]]"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).getexif()[0x0110] == "camera"


@pytest.mark.parametrize("size", [(1, 1), (10, 10)])
def test_tiny_images_never_get_a_500(client: TestClient, size) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((*size, 3), 90, np.uint8)).save(buf, format="PNG")
    response = client.post(
        "/api/fill",
        files={"image": ("t.png", buf.getvalue(), "image/png")},
        data={"boxes": "[[0, 0, 1, 1]]"},
    )
    if size == (1, 1):  # the one pixel is the hole: nothing to fill it from
        assert response.status_code == 400 and "nothing is left" in response.json()["detail"]
    else:
        assert response.status_code == 200


def test_boxes_nested_past_any_depth_are_a_400(client: TestClient) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG")
    response = client.post(
        "/api/fill",
        files={"image": ("a.png", buf.getvalue(), "image/png")},
        data={"boxes": "[" * 500_000},
    )
    assert response.status_code == 400 and "boxes must be JSON" in response.json()["detail"]


def slow_app(monkeypatch, seconds: float, **kwargs):
    """An app whose fills take `seconds` (a model that sleeps), to watch the queue."""
    import time as _time

    import torch

    import photorecon.api

    class Sleeper(torch.nn.Module):
        def forward(self, masked, mask):
            _time.sleep(seconds)
            return masked

    monkeypatch.setattr(photorecon.api, "cached_model", lambda *a, **k: Sleeper())
    return TestClient(create_app(default_model="telea", **kwargs))


def small_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 80, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_other_routes_answer_while_a_fill_runs_and_a_full_queue_gets_503(monkeypatch) -> None:
    import threading

    import torch

    import photorecon.api

    started, release = threading.Event(), threading.Event()

    class Gate(torch.nn.Module):  # a fill that runs until the test lets it finish
        def forward(self, masked, mask):
            started.set()
            release.wait(30)
            return masked

    monkeypatch.setattr(photorecon.api, "cached_model", lambda *a, **k: Gate())
    client = TestClient(create_app(default_model="telea", queue=1))
    answers = {}

    def fill() -> None:
        answers["fill"] = client.post(
            "/api/fill",
            files={"image": ("a.png", small_png(), "image/png")},
            data={"boxes": "[[2, 2, 4, 4]]"},
        )

    worker = threading.Thread(target=fill)
    worker.start()
    assert started.wait(30)  # the fill is running now, and stays so until released
    assert client.get("/api/models").status_code == 200  # answered while the fill runs
    busy = client.post(
        "/api/fill",
        files={"image": ("b.png", small_png(), "image/png")},
        data={"boxes": "[[2, 2, 4, 4]]"},
    )
    assert busy.status_code == 503 and busy.headers["retry-after"]
    assert worker.is_alive() and "fill" not in answers
    release.set()
    worker.join(30)
    assert answers["fill"].status_code == 200


def test_a_fill_over_its_time_limit_is_a_503(monkeypatch) -> None:
    client = slow_app(monkeypatch, 1.0, timeout=0.2)
    response = client.post(
        "/api/fill",
        files={"image": ("a.png", small_png(), "image/png")},
        data={"boxes": "[[2, 2, 4, 4]]"},
    )
    assert response.status_code == 503 and "longer than 0.2 s" in response.json()["detail"]


def test_a_timed_out_fill_stops_at_its_next_batch_of_windows(monkeypatch) -> None:
    """The worker drops an abandoned fill between batches instead of finishing it."""
    import threading

    import torch

    import photorecon.api

    release, calls = threading.Event(), []

    class Gate(torch.nn.Module):
        def forward(self, masked, mask):
            calls.append(masked.shape[0])
            release.wait(30)
            return masked

    monkeypatch.setattr(photorecon.api, "cached_model", lambda *a, **k: Gate())
    app = create_app(default_model="telea", timeout=0.2)
    client = TestClient(app)
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 17 * 300, 3), 90, np.uint8)).save(buf, format="PNG")
    boxes = json.dumps([[20, 100 + 300 * k, 10, 10] for k in range(17)])  # 17 windows, 2 a call
    form = dict(files={"image": ("wide.png", buf.getvalue(), "image/png")}, data={"boxes": boxes})
    first = client.post("/api/fill", **form)
    assert first.status_code == 503  # its first batch is still running
    app.state.photorecon.work.timeout = 60  # the second may take its time, however busy
    release.set()
    second = client.post("/api/fill", **form)  # runs once the worker has dropped the first
    assert second.status_code == 200
    # the first fill stopped after its first call; the second ran all 17 windows (9 calls)
    assert calls == [2] + [2] * 8 + [1]


def test_a_body_over_the_cap_is_refused_before_it_is_read(client: TestClient) -> None:
    # the fixture's cap is 1 MiB an upload: 2 MiB + 64 KiB for the whole body
    big = b"x" * (3 * 2**20)
    response = client.post(
        "/api/fill", content=big, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413 and "request body over" in response.json()["detail"]

    def stream():  # no Content-Length: counted while it streams in
        yield (
            b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        for _ in range(48):
            yield b"y" * 2**16

    response = client.post(
        "/api/fill", content=stream(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413


def test_a_16_bit_mask_means_over_http_what_it_means_to_the_cli(client, tmp_path) -> None:
    from photorecon.imageio import read_mask

    mask = np.zeros((120, 160), np.uint16)
    mask[20:40, 30:60] = 1  # 0s and 1s: non-zero = missing, however few levels that is
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    resp = client.post(
        "/api/fill",
        files={
            "image": ("p.png", png(PHOTO), "image/png"),
            "mask": ("m.png", buffer.getvalue(), "image/png"),
        },
        data={"model": "mean"},
    )
    assert resp.status_code == 200
    changed = (np.asarray(Image.open(io.BytesIO(resp.content))) != PHOTO).any(axis=2)
    assert changed[20:40, 30:60].mean() > 0.9 and not changed[:20].any()
    (tmp_path / "m.png").write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask > 0)


def test_a_fill_can_be_followed_by_its_progress_id(client) -> None:
    boxes = json.dumps([[5, 5, 20, 20], [60, 90, 30, 30], [100, 10, 10, 10]])
    resp = client.post(
        "/api/fill",
        files={"image": ("p.png", png(PHOTO), "image/png")},
        data={"boxes": boxes, "model": "telea", "progress_id": "page-123abc"},
    )
    assert resp.status_code == 200
    state = client.get("/api/progress/page-123abc").json()
    assert state["total"] >= 1 and state["done"] == state["total"]
    assert client.get("/api/progress/never-seen-1").status_code == 404
    bad = client.post(
        "/api/fill",
        files={"image": ("p.png", png(PHOTO), "image/png")},
        data={"boxes": boxes, "progress_id": "../../x"},
    )
    assert bad.status_code == 400 and "progress_id" in bad.json()["detail"]


def test_a_bool_is_not_a_coordinate(client: TestClient) -> None:
    from photorecon.api import as_boxes
    from photorecon.errors import PhotoreconError

    for boxes in ("[[true, 1, 5, 5]]", "[[1, 1, false, 5]]"):
        resp = client.post(
            "/api/fill",
            files={"image": ("p.png", png(PHOTO), "image/png")},
            data={"boxes": boxes, "model": "mean"},
        )
        assert resp.status_code == 400 and "boxes must be JSON" in resp.json()["detail"]
    with pytest.raises(PhotoreconError, match="integers"):
        as_boxes([(True, 1, 5, 5)])


def test_a_multipart_body_cut_short_is_refused(client: TestClient) -> None:
    boundary = "xyzBOUNDARYzyx"
    part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png(PHOTO)
        + b"\r\n"
    )
    boxes = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="boxes"\r\n\r\n[[1,1,5,5]]\r\n'
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    whole = part + boxes + f"--{boundary}--\r\n".encode()
    assert client.post("/api/fill", content=whole, headers=headers).status_code == 200
    cut = client.post("/api/fill", content=part + boxes, headers=headers)  # no closing line
    assert cut.status_code == 400 and "closing boundary" in cut.json()["detail"]
