"""The web page in a real browser: Debian's Chromium driven by Playwright.

Each test works the page as a user would (mouse strokes, the keyboard, file pickers) and checks
what the page sends to the server (the multipart request of /api/fill, its mask decoded) and
what the user downloads.
"""

from __future__ import annotations

import email.parser
import io
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
H, W = 240, 320
PHOTO = synthetic_photo(np.random.default_rng(9), H, W)


class Recorder:
    """ASGI wrapper keeping every POST /api/fill the app receives and what it answered
    (Chromium reports neither the bytes of a multipart body built from Blobs nor those of an
    answer read as a Blob, so the server side tells)."""

    def __init__(self, app) -> None:
        self.app, self.fills = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/api/fill":
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        answer: list[bytes] = []
        headers = dict(scope["headers"])

        async def recording():
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        async def answering(message):
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if not message.get("more_body"):
                    request = (headers[b"content-type"].decode(), b"".join(chunks))
                    self.fills.append((request, b"".join(answer)))
            await send(message)

        return await self.app(scope, recording, answering)


RECORDER: Recorder | None = None


@pytest.fixture(scope="module")
def server() -> str:
    import uvicorn

    from photorecon.serve.app import create_app

    global RECORDER
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    RECORDER = Recorder(create_app(default_model="telea"))
    config = uvicorn.Config(RECORDER, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.requests_seen = []
    page.on("request", lambda req: page.requests_seen.append(req.url))
    page.goto(server)
    page.wait_for_selector("#model option[value='telea']", state="attached")
    page.select_option("#model", "telea")
    yield page
    context.close()


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(PHOTO).save(path)
    return path


def open_photo(page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.getElementById('stage-empty').hidden && S.image !== null")


def screen(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) is on the screen, through the page's zoom and pan."""
    box = page.locator("#editor").bounding_box()
    zoom, tx, ty = page.evaluate("[S.zoom, S.tx, S.ty]")
    return box["x"] + tx + x * zoom, box["y"] + ty + y * zoom


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Press at the first image point, move through the others, release."""
    page.mouse.move(*screen(page, *points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*screen(page, *point), steps=6)
    page.mouse.up()


def set_size(page, size: int) -> None:
    page.evaluate(
        "(v) => { const s = document.getElementById('size'); s.value = v;"
        " s.dispatchEvent(new Event('input')); }",
        size,
    )


def multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body, by field name."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.get_payload()
    }


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def holes(data: bytes) -> np.ndarray:
    """A mask PNG (the page's: opaque, white = missing, black = known) as (H, W) bool."""
    pixels = decode(data).reshape(H, W, -1)
    assert set(np.unique(pixels[..., :3])) <= {0, 255}
    assert pixels.shape[2] < 4 or (pixels[..., 3] == 255).all()
    return pixels[..., 0] > 0


def fill(page) -> tuple[dict[str, bytes], bytes]:
    """Press Fill; the request's parts and the answer's body."""
    rounds, seen = page.evaluate("S.round"), len(RECORDER.fills)
    with page.expect_response("**/api/fill") as resp:
        page.click("#fill")
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_function(f"S.round === {rounds + 1} && !S.busy")
    assert len(RECORDER.fills) == seen + 1
    request, answer = RECORDER.fills[-1]
    return multipart(*request), answer


def downloaded_mask(page, tmp_path: Path) -> np.ndarray:
    with page.expect_download() as dl:
        page.click("#mask-download button")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name == "photo_mask.png"
    mask = holes(path.read_bytes())
    # the count the page shows is the count of the mask it gives
    assert page.text_content("#mask-info") == f"{int(mask.sum()):,} px marked"
    return mask


def test_brush_strokes_are_the_mask_the_page_sends(page, photo_file: Path, tmp_path) -> None:
    open_photo(page, photo_file)
    set_size(page, 20)
    stroke(page, [(60, 100), (130, 100), (200, 100)])
    assert page.locator("#fill").is_enabled()
    parts, body = fill(page)
    hole = holes(parts["mask"])
    assert hole[100, 60:200].all() and hole[93:107, 130].all()  # along the stroke, 20 px wide
    assert not hole[:85].any() and not hole[116:].any()  # nothing far from it
    assert not hole[:, :45].any() and not hole[:, 215:].any()
    assert decode(parts["image"]).shape == PHOTO.shape and parts["model"] == b"telea"
    out = decode(body)
    assert out.shape == PHOTO.shape
    changed = (out != PHOTO).any(axis=2)
    assert not changed[~hole].any() and changed[hole].mean() > 0.5
    # the result is offered in the upload's format, named after it
    assert page.get_attribute("#download", "download") == "photo_filled.png"
    assert page.locator("#download").is_visible()
    # the result is the photo on the canvas (no second pane): the canvas shows its pixels
    shown = page.evaluate(
        "(() => { const c = document.createElement('canvas'); c.width = S.width;"
        " c.height = S.height; const x = c.getContext('2d'); x.drawImage(S.image, 0, 0);"
        " return Array.from(x.getImageData(130, 100, 1, 1).data.slice(0, 3)); })()"
    )
    assert shown == out[100, 130, :3].tolist()
    assert page.locator("img").count() <= 1  # the header's icon only


def test_eraser_undo_and_redo(page, photo_file: Path, tmp_path) -> None:
    open_photo(page, photo_file)
    set_size(page, 16)
    stroke(page, [(40, 60), (280, 60)])
    stroke(page, [(40, 170), (280, 170)])
    both = downloaded_mask(page, tmp_path)
    assert both[60, 150] and both[170, 150]
    page.keyboard.press("Control+z")
    one = downloaded_mask(page, tmp_path)
    assert one[60, 150] and not one[170, 150]
    page.keyboard.press("Control+Shift+z")
    again = downloaded_mask(page, tmp_path)
    assert np.array_equal(again, both)
    page.keyboard.press("e")  # eraser through the middle of the first stroke
    set_size(page, 30)
    stroke(page, [(150, 40), (150, 80)])
    erased = downloaded_mask(page, tmp_path)
    assert not erased[60, 150] and erased[60, 60] and erased[170, 150]
    page.click("#undo")
    assert np.array_equal(downloaded_mask(page, tmp_path), both)
    page.click("#redo")
    assert np.array_equal(downloaded_mask(page, tmp_path), erased)
    assert page.locator("#redo").is_disabled()


def test_zoom_and_pan_keep_the_mask_aligned(page, photo_file: Path, tmp_path) -> None:
    open_photo(page, photo_file)
    before = page.evaluate("S.zoom")
    pointer = screen(page, 200, 150)
    page.mouse.move(*pointer)
    page.mouse.wheel(0, -600)  # zoom in at the pointer
    page.wait_for_function(f"S.zoom > {before * 1.5}")
    after = screen(page, 200, 150)  # the pixel under the pointer stays under it
    assert after == pytest.approx(pointer, abs=1)
    box = page.locator("#editor").bounding_box()
    page.keyboard.down("Space")  # pan by (80, 40) screen pixels
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 380, box["y"] + 240, steps=4)
    page.mouse.up()
    page.keyboard.up("Space")
    panned = screen(page, 200, 150)
    assert panned == pytest.approx((after[0] + 80, after[1] + 40), abs=1)
    assert (
        downloaded_mask(page, tmp_path).max() == 0
        if page.locator("#mask-download").is_visible()
        else True
    )  # panning painted nothing
    page.keyboard.press("r")
    stroke(page, [(180, 120), (230, 160)])  # a rectangle drawn at high zoom
    mask = downloaded_mask(page, tmp_path)
    rows, cols = np.nonzero(mask)
    assert abs(rows.min() - 120) <= 1 and abs(rows.max() - 159) <= 1
    assert abs(cols.min() - 180) <= 1 and abs(cols.max() - 229) <= 1
    assert mask.sum() == pytest.approx(40 * 50, rel=0.1)
    page.keyboard.press("0")  # fit again
    assert page.evaluate("S.zoom") == pytest.approx(before)


def test_upload_a_mask(page, photo_file: Path, tmp_path) -> None:
    open_photo(page, photo_file)
    drawn = np.zeros((H, W), np.uint8)
    drawn[30:90, 40:120] = 255
    drawn[150:155, 10:300] = 200  # any non-zero value is a hole, as on the command line
    (tmp_path / "m.png").write_bytes(b"")
    Image.fromarray(drawn).save(tmp_path / "m.png")
    page.set_input_files("#mask-file", str(tmp_path / "m.png"))
    page.wait_for_function("!document.getElementById('fill').disabled")
    parts, _ = fill(page)
    sent = holes(parts["mask"])
    assert np.array_equal(sent, drawn > 0)
    wrong = tmp_path / "small.png"
    Image.fromarray(drawn[:100, :100]).save(wrong)
    page.set_input_files("#mask-file", str(wrong))
    page.wait_for_selector("#status.error")
    assert "100×100" in page.text_content("#status") and "320×240" in page.text_content("#status")


def test_fill_twice_then_undo_a_round(page, photo_file: Path, tmp_path) -> None:
    open_photo(page, photo_file)
    set_size(page, 14)
    stroke(page, [(30, 40), (150, 90)])
    parts1, body1 = fill(page)
    first = holes(parts1["mask"])
    # the mask is cleared for the next round; the result is now the photo being edited
    assert page.locator("#fill").is_disabled()
    stroke(page, [(200, 180), (300, 200)])
    parts2, body2 = fill(page)
    assert parts2["image"] == body1  # round 2 starts from round 1's result
    second = holes(parts2["mask"])
    assert not (first & second).any()
    out = decode(body2)
    changed = (out != PHOTO).any(axis=2)
    assert not changed[~(first | second)].any()
    assert changed[first].mean() > 0.5 and changed[second].mean() > 0.5
    assert page.text_content("#round-info") == "round 2"
    with page.expect_download() as dl:
        page.click("#download button")
    dl.value.save_as(tmp_path / "result.png")
    assert np.array_equal(decode((tmp_path / "result.png").read_bytes()), out)
    page.keyboard.press("Control+z")  # back to round 1, with round 2's mask
    assert page.text_content("#round-info") == "round 1"
    restored = downloaded_mask(page, tmp_path)
    assert np.array_equal(restored, second)


def test_a_bad_file_keeps_the_work_then_a_good_one_works(page, photo_file, tmp_path) -> None:
    open_photo(page, photo_file)
    stroke(page, [(50, 50), (100, 100)])
    marked = page.evaluate("S.marked")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a PNG")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#status.error")
    assert "broken.png" in page.text_content("#status")
    assert "edits are kept" in page.text_content("#status")
    # the photo, its mask and its history are as they were
    assert page.evaluate("S.image !== null && S.name === 'photo.png'")
    assert page.evaluate("S.marked") == marked and page.locator("#undo").is_enabled()
    _, body = fill(page)
    assert decode(body).shape == PHOTO.shape


def drop_or_paste(page, path: Path, how: str) -> None:
    """Drop a file on the editor, or paste it, as the browser delivers either: a DataTransfer."""
    data = list(path.read_bytes())
    page.evaluate(
        """([bytes, name, how]) => {
            const file = new File([new Uint8Array(bytes)], name, { type: "image/png" });
            const dt = new DataTransfer(); dt.items.add(file);
            if (how === "drop") {
                const target = document.getElementById("editor");
                const init = { dataTransfer: dt, bubbles: true };
                target.dispatchEvent(new DragEvent("dragover", init));
                target.dispatchEvent(new DragEvent("drop", init));
            } else {
                document.body.dispatchEvent(
                    new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
            }
        }""",
        [data, path.name, how],
    )


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_photo_opens_by_drop_and_by_paste(page, photo_file, tmp_path, how) -> None:
    drop_or_paste(page, photo_file, how)
    page.wait_for_function("S.image !== null && S.width === 320")
    assert page.evaluate("S.name") == "photo.png"
    stroke(page, [(60, 60), (120, 90)])
    parts, body = fill(page)
    assert holes(parts["mask"])[75, 90] and decode(body).shape == PHOTO.shape


def test_an_oversize_file_is_refused_on_open_before_any_painting(page, tmp_path) -> None:
    page.evaluate("S.limits = { upload_bytes: 5000, pixels: 1e9 }")
    big = tmp_path / "big.png"
    Image.fromarray(synthetic_photo(np.random.default_rng(2), 200, 200)).save(big)
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#status.error")
    assert "over the server's limit" in page.text_content("#status")
    assert page.evaluate("S.image === null")
    page.evaluate("S.limits = { upload_bytes: 1e9, pixels: 1000 }")
    page.set_input_files("#file", str(big))
    page.wait_for_function("document.getElementById('status-text').textContent.includes('pixels')")
    assert "200×200 is over the server's limit of 1,000 pixels" in page.text_content("#status")


def test_cancel_stops_a_fill_and_leaves_the_photo_as_it_was(page, photo_file, server) -> None:
    open_photo(page, photo_file)
    stroke(page, [(50, 50), (100, 100)])
    # hold the answer back: the page's request hangs until the test lets it go
    page.route("**/api/fill", lambda route: None)
    page.click("#fill")
    page.wait_for_selector("#cancel:not([hidden])")
    page.click("#cancel")
    page.wait_for_function("!S.busy")
    assert "cancelled" in page.text_content("#status")
    assert page.evaluate("S.round") == 0 and page.locator("#cancel").is_hidden()
    assert page.locator("#fill").is_enabled()
    page.unroute("**/api/fill")


def test_page_is_self_contained(page, server: str) -> None:
    assert all(url.startswith(server) for url in page.requests_seen), page.requests_seen
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon == f"{server}/favicon.svg"
    assert page.evaluate(f"fetch('{icon}').then(r => r.status)") == 200
    keys = page.text_content("#shortcuts")
    for shortcut in ("Ctrl", "Z", "Space", "wheel", "[", "]"):
        assert shortcut in keys
    options = page.eval_on_selector_all("#model option", "els => els.map(e => e.value)")
    assert {"telea", "ns", "harmonic"} <= set(options)


def test_find_damage_marks_what_the_detector_finds_and_adds_to_the_mask(
    page, tmp_path: Path
) -> None:
    """Find damage puts the detector's mask on the canvas (added to a stroke already painted),
    as one undo step; Fill then sends both."""
    import cv2

    from photorecon.detection import detect

    image = cv2.GaussianBlur(PHOTO, (0, 0), 2.0)
    cv2.line(image, (20, 30), (300, 200), (250, 250, 250), 2)  # a bright scratch
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    open_photo(page, path)
    set_size(page, 6)
    stroke(page, [(30, 200), (60, 200)])  # the user's own mark, away from the scratch
    painted = page.evaluate("S.marked")
    assert painted > 0
    page.click("#find-damage")
    page.wait_for_function(
        "!S.busy && document.getElementById('status').textContent.includes('Marked')"
    )
    found = detect(image) > 0
    assert found.sum() > 100  # the shipped detector sees the scratch
    assert page.evaluate("S.marked") >= found.sum()  # added to, not in place of, the stroke
    page.keyboard.press("Control+z")  # one undo takes the whole proposal back
    assert page.evaluate("S.marked") == painted
    page.keyboard.press("Control+Shift+z")
    parts, _ = fill(page)
    sent = holes(parts["mask"])
    assert (sent | found).sum() == sent.sum()  # every found pixel is in the mask sent
    assert sent[195:206, 30:61].any()  # and so is the painted stroke


def test_models_are_listed_by_short_name_with_their_summary_and_without_mean(page) -> None:
    options = page.eval_on_selector_all(
        "#model option", "els => els.map(o => [o.value, o.textContent, o.title])"
    )
    names = [value for value, _, _ in options]
    assert "telea" in names and "ns" in names and "mean" not in names
    for value, text, title in options:
        assert text == value and title  # the summary is the tooltip
    # Detail is greyed out for a classical fill
    assert page.locator("#detail").is_disabled()


def test_hold_c_shows_the_photo_as_it_was_opened_on_the_canvas(page, photo_file) -> None:
    open_photo(page, photo_file)
    assert page.locator("#compare-button").is_disabled()  # nothing filled yet
    stroke(page, [(50, 50), (150, 120)])
    fill(page)
    assert page.locator("#compare-button").is_enabled()
    x, y = screen(page, 100, 85)
    box = page.locator("#editor").bounding_box()
    sample = (
        "([x, y]) => Array.from(document.getElementById('editor').getContext('2d')"
        ".getImageData(x * devicePixelRatio, y * devicePixelRatio, 1, 1).data)"
    )
    at = [x - box["x"], y - box["y"]]
    filled = page.evaluate(sample, at)
    page.keyboard.down("c")
    page.wait_for_function("S.comparing")
    original = page.evaluate(sample, at)
    page.keyboard.up("c")
    page.wait_for_function("!S.comparing")
    assert page.evaluate(sample, at) == filled
    # the canvas draws the first photo there (within its neighbours' range: the canvas
    # smooths a zoomed photo), not the fill
    near = PHOTO[83:88, 98:103].reshape(-1, 3).astype(int)
    assert ((near.min(0) - 2 <= original[:3]) & (original[:3] <= near.max(0) + 2)).all()
    assert original != filled


def test_at_800_by_600_the_canvas_keeps_most_of_the_window(browser, server, photo_file) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 600})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    open_photo(page, photo_file)
    stage = page.locator("#stage").bounding_box()
    bars = [page.locator(".toolbar").nth(i).bounding_box() for i in range(2)]
    assert stage["y"] + stage["height"] <= 600 + 1  # the whole canvas is above the fold
    assert stage["height"] >= 0.55 * 600 and sum(b["height"] for b in bars) <= 0.25 * 600
    assert page.locator("#fill").is_visible() and page.locator("#detail").is_visible()
    context.close()


def touch(page, kind: str, pointer: int, at: tuple[float, float]) -> None:
    """A touch pointer event on the canvas at screen point `at` (Chromium headless has no
    multi-touch input to drive, so the page gets the events a touchscreen would send)."""
    page.evaluate(
        "([kind, id, x, y]) => document.getElementById('editor').dispatchEvent(new PointerEvent("
        "kind, {pointerId: id, pointerType: 'touch', clientX: x, clientY: y, isPrimary: id === 1,"
        " button: kind === 'pointermove' ? -1 : 0, bubbles: true}))",
        [kind, pointer, *at],
    )


def test_two_fingers_pinch_to_zoom_and_pan_and_paint_nothing(page, photo_file, tmp_path) -> None:
    open_photo(page, photo_file)
    zoom = page.evaluate("S.zoom")
    a, b = screen(page, 100, 120), screen(page, 200, 120)
    middle = screen(page, 150, 120)
    touch(page, "pointerdown", 1, a)
    touch(page, "pointermove", 1, (a[0] + 5, a[1]))  # the first finger starts a stroke ...
    touch(page, "pointerdown", 2, b)  # ... which the second finger turns into a gesture
    box = page.locator("#editor").bounding_box()
    z0, tx0, ty0 = page.evaluate("[S.zoom, S.tx, S.ty]")
    start_mid = ((a[0] + 5 + b[0]) / 2, (a[1] + b[1]) / 2)
    under = ((start_mid[0] - box["x"] - tx0) / z0, (start_mid[1] - box["y"] - ty0) / z0)
    spread = (b[0] + (b[0] - a[0]), b[1])
    for step in range(1, 5):
        touch(page, "pointermove", 2, (b[0] + step * (spread[0] - b[0]) / 4, b[1]))
    mid_now = ((a[0] + 5 + spread[0]) / 2, a[1])
    # the zoom follows the fingers' spread, about their midpoint
    assert page.evaluate("S.zoom") == pytest.approx(
        zoom * (spread[0] - a[0] - 5) / (b[0] - a[0]), rel=0.02
    )
    assert screen(page, 150, 120)[1] == pytest.approx(middle[1], abs=1)
    # the photo's point that was under the fingers' midpoint is under their midpoint now
    assert screen(page, *under) == pytest.approx(mid_now, abs=1.5)
    before = screen(page, 150, 120)
    touch(page, "pointermove", 1, (a[0] + 45, a[1] + 30))  # both fingers move: a pan
    touch(page, "pointermove", 2, (spread[0] + 40, spread[1] + 30))
    after = screen(page, 150, 120)
    assert after[1] == pytest.approx(before[1] + 30, abs=1.5)
    touch(page, "pointerup", 2, (spread[0] + 40, spread[1] + 30))
    touch(page, "pointerup", 1, (a[0] + 45, a[1] + 30))
    # the gesture is over: nothing was painted, nothing to undo
    assert page.evaluate("S.marked") == 0 and page.evaluate("S.undo.length") == 0
    touch(page, "pointerdown", 1, screen(page, 60, 60))  # one finger paints again
    touch(page, "pointermove", 1, screen(page, 120, 60))
    touch(page, "pointerup", 1, screen(page, 120, 60))
    assert page.evaluate("S.marked") > 0 and page.evaluate("S.undo.length") == 1


def canvas_pixel(page, x: float, y: float) -> list[int]:
    """The view canvas's colour at image pixel (x, y)."""
    sx, sy = screen(page, x, y)
    box = page.locator("#editor").bounding_box()
    return page.evaluate(
        "([x, y]) => Array.from(document.getElementById('editor').getContext('2d')"
        ".getImageData(Math.round(x * S.dpr), Math.round(y * S.dpr), 1, 1).data.slice(0, 3))",
        [sx - box["x"], sy - box["y"]],
    )


def test_every_other_control_of_the_page(page, tmp_path) -> None:
    photo = PHOTO.copy()
    photo[50:90, 200:260] = 255  # a white box for "Detect white boxes"
    path = tmp_path / "boxed.png"
    Image.fromarray(photo).save(path)
    open_photo(page, path)
    # tools by their buttons
    for tool in ("eraser", "rect", "brush"):
        page.click(f"#tool-{tool}")
        assert page.evaluate("S.tool") == tool
        assert page.get_attribute(f"#tool-{tool}", "aria-pressed") == "true"
    # mask opacity
    page.evaluate(
        "() => { const o = document.getElementById('opacity'); o.value = 20;"
        " o.dispatchEvent(new Event('input')); }"
    )
    assert page.evaluate("S.opacity") == pytest.approx(0.2)
    # zoom buttons
    fit = page.evaluate("S.zoom")
    page.click("#zoom-in")
    assert page.evaluate("S.zoom") > fit * 1.1
    page.click("#zoom-out")
    page.click("#zoom-out")
    assert page.evaluate("S.zoom") < fit
    page.click("#zoom-fit")
    assert page.evaluate("S.zoom") == pytest.approx(fit)
    # white boxes found, then the mask cleared, and both undone and redone by their buttons
    page.click("#detect")
    page.wait_for_function("S.marked > 0 && !S.busy")
    assert page.evaluate("S.marked") == 40 * 60
    page.click("#clear")
    assert page.evaluate("S.marked") == 0
    page.click("#undo")
    assert page.evaluate("S.marked") == 40 * 60
    page.click("#redo")
    assert page.evaluate("S.marked") == 0
    page.click("#undo")
    # Detail goes to the server with a learned model, and not when switched off
    page.select_option("#model", "ffc")
    assert page.locator("#detail").is_enabled()
    parts, body = fill(page)
    assert parts["model"] == b"ffc" and parts.get("detail") == b"true"
    page.click("#detect")  # the filled box is no longer white: mark it again by hand
    page.keyboard.press("r")
    stroke(page, [(200, 50), (260, 90)])
    page.uncheck("#detail")
    parts, _ = fill(page)
    assert "detail" not in parts
    # the before/after slider: left of its line the photo as opened, right of it the result
    assert canvas_pixel(page, 230, 70) != [255, 255, 255]
    page.evaluate(
        "() => { const s = document.getElementById('split'); s.value = 100;"
        " s.dispatchEvent(new Event('input')); }"
    )
    assert canvas_pixel(page, 230, 70) == [255, 255, 255]  # the white box, as opened
    page.evaluate(
        "() => { const s = document.getElementById('split'); s.value = 50;"
        " s.dispatchEvent(new Event('input')); }"
    )
    assert canvas_pixel(page, 230, 70) != [255, 255, 255]  # right of the line: the result
    decode(body)  # the first answer was an image


def test_the_damage_brush_marks_the_crack_inside_the_stroke_and_nothing_else(
    page, tmp_path: Path
) -> None:
    """Paint roughly over a faint crack with the Damage brush: the crack's pixels inside the
    stroke join the mask (one undo step), the rest of the stroke does not; Fill sends them."""
    import cv2

    from photorecon.detection import detect

    image = cv2.GaussianBlur(PHOTO, (0, 0), 2.0).astype(np.int16)
    crack = np.zeros((H, W), np.uint8)
    cv2.line(crack, (20, 40), (300, 190), 255, 2)
    image[crack > 0] += 20  # faint: a pale crack a person sees, the detector is unsure of
    image = np.clip(image, 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    open_photo(page, path)
    set_size(page, 6)
    stroke(page, [(250, 20), (280, 20)])  # a mark of the user's own, away from the crack
    painted = page.evaluate("S.marked")
    page.click("#tool-damage")
    assert page.get_attribute("#tool-damage", "aria-pressed") == "true"
    set_size(page, 30)
    # a broad, rough stroke over the crack's left half (it follows the crack only roughly)
    path_points = [(24, 44), (70, 66), (110, 86), (150, 112)]
    stroke(page, path_points)
    page.wait_for_function(
        "!S.busy && document.getElementById('status').textContent.includes('inside the stroke')"
    )
    region = np.zeros((H, W), np.uint8)
    cv2.polylines(region, [np.int32(path_points)], False, 255, 30)
    near_region = cv2.dilate(region, np.ones((5, 5), np.uint8)) > 0
    mask = downloaded_mask(page, tmp_path)
    added = mask.copy()
    added[15:26, 245:286] = False  # the user's own mark
    assert added.sum() == page.evaluate("S.marked") - painted > 30
    assert not added[~near_region].any()  # nothing outside the stroke
    near_crack = cv2.dilate(crack, np.ones((7, 7), np.uint8)) > 0
    assert added[~near_crack].sum() < 0.05 * added.sum()  # the crack, not the stroke
    found_in = (cv2.dilate(added.astype(np.uint8), np.ones((5, 5))) > 0)[(crack > 0) & (region > 0)]
    assert found_in.mean() > 0.4  # much of the crack inside the stroke
    whole = detect(image) > 0
    assert added.sum() > whole[region > 0].sum()  # the brush looks harder than Find damage
    page.keyboard.press("Control+z")  # one undo takes the brush's find back
    assert page.evaluate("S.marked") == painted
    page.keyboard.press("Control+Shift+z")
    parts, _ = fill(page)
    assert np.array_equal(holes(parts["mask"]), mask)


def test_restore_is_a_round_the_slider_compares_and_undo_takes_back(page, tmp_path) -> None:
    faded = (PHOTO * 0.5 + 110).astype(np.uint8)
    path = tmp_path / "old.png"
    Image.fromarray(faded).save(path)
    open_photo(page, path)
    set_size(page, 6)
    stroke(page, [(30, 200), (60, 200)])  # a mark of the user's own: a restore keeps it
    painted = page.evaluate("S.marked")
    with page.expect_response("**/api/restore") as resp:
        page.click("#restore")
    assert resp.value.status == 200
    page.wait_for_function("S.round === 1 && !S.busy")
    assert page.evaluate("S.marked") == painted  # the mask is left as it was
    assert page.evaluate("S.split") == 0.5  # before | after, side by side
    assert "Restored" in page.text_content("#status")
    after = page.evaluate(
        "(() => { const c = document.createElement('canvas'); c.width = S.width;"
        " c.height = S.height; const x = c.getContext('2d'); x.drawImage(S.image, 0, 0);"
        " return Array.from(x.getImageData(0, 0, S.width, S.height).data); })()"
    )
    restored = np.array(after, np.uint8).reshape(H, W, 4)[..., :3].astype(float)
    # the photo on the canvas is the restored one: nearer the photo before it faded
    assert np.abs(restored - PHOTO).mean() < 0.97 * np.abs(faded.astype(float) - PHOTO).mean()
    page.keyboard.press("Control+z")
    assert page.evaluate("S.round") == 0 and page.evaluate("S.marked") == painted
