"""The web page in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
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


@pytest.fixture(scope="module")
def server() -> str:
    import uvicorn

    from photorecon.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(default_model="telea"), host="127.0.0.1", port=port, log_level="warning"
    )
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


def test_upload_draw_fill_download(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    photo = synthetic_photo(np.random.default_rng(9), 240, 320)
    source = tmp_path / "photo.png"
    Image.fromarray(photo).save(source)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server)
        page.wait_for_selector("#model option[value='telea']", state="attached")
        page.select_option("#model", "telea")
        page.set_input_files("#file", str(source))
        page.wait_for_function("document.getElementById('detect').disabled === false")
        canvas = page.locator("#editor").bounding_box()
        scale = canvas["width"] / 320
        x0, y0 = canvas["x"] + 100 * scale, canvas["y"] + 60 * scale
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 40 * scale, y0 + 30 * scale, steps=5)
        page.mouse.move(x0 + 80 * scale, y0 + 50 * scale, steps=5)
        page.mouse.up()
        boxes = json.loads(page.text_content("#boxes"))
        assert len(boxes) == 1
        row, col, height, width = boxes[0]
        assert abs(row - 60) <= 2 and abs(col - 100) <= 2 and height > 40 and width > 70
        with page.expect_response("**/api/fill") as info:
            page.click("#fill")
        response = info.value
        assert response.status == 200
        page.wait_for_selector("#download:not([hidden])")
        page.wait_for_function("document.getElementById('after').complete")
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("PHOTORECON_SCREENSHOTS"):
            Path(os.environ["PHOTORECON_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(os.environ["PHOTORECON_SCREENSHOTS"]) / "web-fill.png")
        with page.expect_download() as dl:
            page.click("#download button")
        downloaded = tmp_path / "download.png"
        dl.value.save_as(downloaded)
        browser.close()
    out = np.asarray(Image.open(downloaded))  # what the user downloads
    assert out.shape == photo.shape
    changed = (out != photo).any(axis=2)
    inside = np.zeros_like(changed)
    inside[row : row + height, col : col + width] = True
    assert changed[inside].mean() > 0.5  # the box was refilled
    assert not changed[~inside].any()  # nothing outside it moved
    assert shot.stat().st_size > 10_000
