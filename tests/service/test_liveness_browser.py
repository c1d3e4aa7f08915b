"""The whole collector -> server path in a real headless Chromium (Debian's, driven by Playwright) with
its fake camera: the web page records the capture session while the webcam runs, the server's
virtual camera check flags it, the page refuses to enroll and says why, and the server refuses the
same session on its own (422) when the page is bypassed."""

from __future__ import annotations

import json

from vultus.service.keys import KeyStore
from vultus.service.process import running_server

from .conftest import EX
from .test_browser import CHROMIUM_ARGS, chromium, until  # noqa: F401  (the fixture skips without chromium)


def test_fake_camera_is_flagged_as_virtual_through_the_page(chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    gallery = tmp_path / "g.db"
    keys = KeyStore(gallery)
    _, key = keys.create("enroll", "liveness browser test")
    keys.close()
    with running_server(gallery, "--rate", "0", log=tmp_path / "serve.log") as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.fill("#key", key)
            page.click("#signin-form button")
            expect(page.locator("#nav")).to_be_visible()
            page.click("nav >> text=Enroll")
            page.fill("#enroll-name", "someone")
            page.click("#cam-start")
            until(page, "() => document.querySelector('#cam').videoWidth > 0")
            page.click("#cam-snap")
            expect(page.locator("#shots img")).to_have_count(1)
            assert page.is_checked("#enroll-liveness")  # on by default for webcam photos
            page.click("#enroll-form button[type=submit]")
            status = page.locator("#status")
            expect(status).to_contain_text("Not enrolled", timeout=60_000)
            expect(status).to_contain_text("camera: looks VIRTUAL")
            result = page.locator("#enroll .liveness-result")
            expect(result).to_contain_text("looks VIRTUAL")

            # the session the collector recorded is the browser's fake camera...
            session = page.evaluate("async () => await VultusLiveness.session(document.querySelector('#cam'))")
            assert session["track"]["label"] == "fake_device_0"
            assert session["frames"]["count"] >= 10 and session["api"] == "requestVideoFrameCallback"
            # ...and the server refuses it on its own when the page's check is bypassed
            answer = page.evaluate("""async ([key, session]) => {
                const c = document.createElement('canvas'); c.width = 64; c.height = 64;
                const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
                const form = new FormData();
                form.append('name', 'someone'); form.append('images', blob, 'x.png');
                form.append('session', JSON.stringify(session));
                const res = await fetch('/v1/identities?liveness=true', {method: 'POST', body: form,
                                        headers: {Authorization: 'Bearer ' + key}});
                return {status: res.status, body: await res.json()};
            }""", [key, session])
            assert answer["status"] == 422 and answer["body"]["kind"] == "liveness_failed", answer
            checked = answer["body"]["liveness"]
            assert checked["source"]["genuine"] is False
            assert checked["source"]["explanations"], checked
            assert page.evaluate("async () => (await fetch('/v1/identities', {headers: {Authorization: 'Bearer ' + "
                                 + json.dumps(key) + "}})).json()") == []  # nothing was enrolled

            # verify: the second photo from the webcam goes through the same check
            page.click("nav >> text=Verify")
            page.set_input_files("#verify-a", str(EX / "obama.jpg"))
            page.click("#vcam-start")
            until(page, "() => document.querySelector('#vcam').videoWidth > 0")
            page.click("#vcam-snap")
            until(page, "() => !document.querySelector('#vcam-shot').hidden")
            page.click("#verify-form button[type=submit]")
            expect(status).to_contain_text("Not verified", timeout=60_000)
            expect(page.locator("#verify .liveness-result")).to_contain_text("looks VIRTUAL")
            assert errors == [], errors
        finally:
            browser.close()

