"""The web page in a real headless Chromium (Debian's package, driven by Playwright) against a real
`vultus serve` process: sign in, enroll (files and webcam), identify, verify, video, rename, delete.

Screenshots of every page go to out/screenshots/ (git-ignored); docs/screenshots/ holds copies,
refreshed by running this test with VULTUS_DOCS_SCREENSHOTS=1.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vultus.service.keys import KeyStore
from vultus.service.process import running_server

from .conftest import DATA_VIDEO, EX, LFW_STRANGER
from .test_video_jobs import make_video

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.skip("Debian's chromium is not installed (`make test` installs it when run as root)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    return path


def webcam_file(path: Path, face: Path) -> Path:
    """A Y4M clip Chromium's fake webcam plays in a loop: the face on a 640x480 grey frame."""
    img = Image.open(face).convert("RGB")
    img.thumbnail((640, 480))
    frame = np.full((480, 640, 3), 110, np.uint8)
    y, x = (480 - img.height) // 2, (640 - img.width) // 2
    frame[y:y + img.height, x:x + img.width] = np.asarray(img)
    yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            f.write(b"FRAME\n" + yuv)
    return path


def group_photo(path: Path) -> Path:
    """Obama, Biden and (when the LFW data is there) a stranger side by side, each 400 px high."""
    sources = [EX / "obama3.jpg", EX / "biden.jpg"] + ([LFW_STRANGER] if LFW_STRANGER.is_file() else [])
    tiles = []
    for s in sources:
        im = Image.open(s).convert("RGB")
        tiles.append(im.resize((round(im.width * 400 / im.height), 400)))
    out = Image.new("RGB", (sum(t.width for t in tiles) + 20 * len(tiles), 400), (235, 235, 235))
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + 20
    out.save(path, quality=90)
    return path


def until(page, js: str, timeout: float = 30.0) -> None:
    """Poll a JS function in the page (wait_for_function would need 'unsafe-eval', which the page's
    Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {js}")
        page.wait_for_timeout(100)


def test_web_page_end_to_end(chromium, tmp_path, needs_calibration):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    gallery = tmp_path / "g.db"
    keys = KeyStore(gallery)
    _, key = keys.create("enroll", "browser test")
    _, read_key = keys.create("read", "browser test, read only")
    keys.close()
    group = group_photo(tmp_path / "group.jpg")
    cam = webcam_file(tmp_path / "cam.y4m", EX / "biden.jpg")
    video = DATA_VIDEO if DATA_VIDEO.is_file() else tmp_path / "clip.mp4"
    if not video.is_file():
        make_video(video)
    has_video = importlib.util.find_spec("vultus.video") is not None

    with running_server(gallery, "--rate", "0", log=tmp_path / "serve.log") as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={cam}"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # the browser logs every refused request (the wrong key's 401) as an error; those are expected
            page.on("console", lambda m: errors.append(m.text)
                    if m.type == "error" and "Failed to load resource" not in m.text else None)
            status = page.locator("#status")

            # the API reference renders from the package's own copy of Swagger UI: no CDN
            page.goto(server.url + "/docs")
            expect(page.locator(".opblock").first).to_be_visible()
            page.screenshot(path=SHOTS / "07-api-docs.png")

            # sign in: a wrong key is refused, the right one opens the app
            page.goto(server.url + "/")
            page.screenshot(path=SHOTS / "01-sign-in.png")
            page.fill("#key", "vultus_00000000_wrong")
            page.click("#signin-form button")
            expect(status).to_contain_text("Sign-in failed")
            page.fill("#key", key)
            page.click("#signin-form button")
            expect(page.locator("#nav")).to_be_visible()
            expect(page.locator("#who-text")).to_contain_text("scope enroll")

            # enroll from files
            page.click("nav >> text=Enroll")
            page.fill("#enroll-name", "obama")
            page.set_input_files("#enroll-files", [str(EX / "obama.jpg"), str(EX / "obama2.jpg")])
            page.click("#enroll-form button[type=submit]")
            expect(status).to_contain_text("Enrolled obama: 2 face(s) added")
            # enroll from the (fake) webcam
            page.fill("#enroll-name", "biden")
            page.click("#cam-start")
            expect(page.locator("#cam")).to_be_visible()
            until(page, "() => document.querySelector('#cam').videoWidth > 0")
            page.wait_for_timeout(500)  # a few frames in
            page.click("#cam-snap")
            expect(page.locator("#shots img")).to_have_count(1)
            page.screenshot(path=SHOTS / "02-enroll-webcam.png")
            # the fake camera plays a file, which the liveness check rightly calls a virtual camera
            # (tests/service/test_liveness_browser.py); enroll without requiring it, the check is reported
            page.uncheck("#enroll-liveness")
            page.click("#enroll-form button[type=submit]")
            expect(status).to_contain_text("Enrolled biden: 1 face(s) added", timeout=60_000)
            expect(page.locator("#enroll .liveness-result")).to_contain_text("looks VIRTUAL")

            # identify: boxes and names drawn on the photo, and listed as text
            page.click("nav >> text=Identify")
            page.set_input_files("#identify-file", str(group))
            page.click("#identify-form button")
            items = page.locator("#identify-list li")
            expect(items.first).to_be_visible()
            texts = items.all_inner_texts()
            assert any(t.startswith("obama") for t in texts) and any(t.startswith("biden") for t in texts), texts
            if LFW_STRANGER.is_file():
                assert any(t.startswith("Unknown person") for t in texts), texts
            drawn = page.evaluate("""() => { const c = document.querySelector('#identify-canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i+1] > 110 && d[i] < 60 && d[i+2] < 90) n++;
                return n; }""")
            assert drawn > 200  # the green boxes of the known faces are on the canvas
            page.screenshot(path=SHOTS / "03-identify.png", full_page=True)

            # verify two photos
            page.click("nav >> text=Verify")
            page.set_input_files("#verify-a", str(EX / "obama.jpg"))
            page.set_input_files("#verify-b", str(EX / "obama3.jpg"))
            page.click("#verify-form button[type=submit]")
            expect(page.locator("#verify-result")).to_contain_text("Same person")
            page.screenshot(path=SHOTS / "04-verify.png", full_page=True)

            # a video job's timeline
            if has_video:
                page.click("nav >> text=Video")
                page.set_input_files("#video-file", str(video))
                page.fill("#video-stride", "3")
                page.click("#video-form button")
                expect(page.locator("#job-status")).to_contain_text("done", timeout=180_000)
                expect(page.locator("#timeline .lane").first).to_be_visible()
                expect(page.locator("#job-download")).to_be_visible()
                page.screenshot(path=SHOTS / "06-video.png", full_page=True)

            # the gallery: thumbnails, rename, delete
            page.click("nav >> text=Gallery")
            cards = page.locator("#gallery-list .card")
            expect(cards).to_have_count(2)
            expect(page.locator(".card[data-name=obama] .thumbs img")).to_have_count(2)
            until(page, "() => Array.from(document.querySelectorAll('.thumbs img'))"
                        ".every(i => i.complete && i.naturalWidth > 0)")
            biden = page.locator(".card[data-name=biden]")
            biden.locator("input").fill("Joe Biden")
            biden.locator("button[type=submit]").click()
            expect(page.locator(".card[data-name='Joe Biden']")).to_be_visible()
            until(page, "() => document.querySelectorAll('.thumbs img').length >= 3 && "
                        "Array.from(document.querySelectorAll('.thumbs img')).every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=SHOTS / "05-gallery.png", full_page=True)
            page.click("button[aria-label='Delete obama']")
            expect(page.locator("#confirm")).to_be_visible()
            page.click("#confirm button[value=ok]")
            expect(status).to_contain_text("Deleted obama (2 face(s))")
            expect(cards).to_have_count(1)

            # after the delete, Obama is a stranger
            page.click("nav >> text=Identify")
            page.set_input_files("#identify-file", str(group))
            page.click("#identify-form button")
            expect(page.locator("#identify-list li").first).to_contain_text("Unknown person")
            expect(page.locator("#identify-list")).to_contain_text("Joe Biden")

            # every form control has a label a screen reader can announce
            unlabeled = page.evaluate("""() => Array.from(document.querySelectorAll('input'))
                .filter(i => !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).map(i => i.id)""")
            assert unlabeled == []
            page.click("#signout")
            expect(page.locator("#signin")).to_be_visible()
            # a read-only key sees the gallery but no enroll, rename or delete controls
            page.fill("#key", read_key)
            page.click("#signin-form button")
            expect(page.locator("#who-text")).to_contain_text("scope read")
            expect(page.locator("nav >> text=Enroll")).to_be_hidden()
            page.click("nav >> text=Gallery")
            expect(page.locator(".card[data-name='Joe Biden']")).to_be_visible()
            expect(page.locator(".card[data-name='Joe Biden'] button.danger")).to_be_hidden()
            assert errors == [], errors
        finally:
            browser.close()
    if os.environ.get("VULTUS_DOCS_SCREENSHOTS"):  # refresh the copies the docs show
        publish(SHOTS, ROOT / "docs" / "screenshots")


def publish(src: Path, dst: Path) -> None:
    """Copy the screenshots as 256-colour PNGs: a fraction of the size, and text stays sharp."""
    dst.mkdir(parents=True, exist_ok=True)
    for png in sorted(src.glob("*.png")):
        Image.open(png).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(dst / png.name, optimize=True)


def test_screenshots_are_small_pngs():
    """The copies in docs/ stay light enough for the repository."""
    for png in (ROOT / "docs" / "screenshots").glob("*.png"):
        assert png.stat().st_size < 400_000, png
        assert Image.open(io.BytesIO(png.read_bytes())).format == "PNG"
