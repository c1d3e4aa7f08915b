"""Decoding within memory and time (issue 15.2): the pixel limit, JPEG decoded at half size with
coordinates in the original image, and a budget that queues large images but never small ones."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from vultus.service.decoding import DecodeGate
from vultus.service.uploads import Upload

from .conftest import EX
from .test_api import is_problem

OBAMA = EX / "obama.jpg"


def png_bomb(width: int, height: int) -> bytes:
    """A black 1-bit PNG: a few kB that decode to width x height RGB pixels."""
    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def enlarged_jpeg(factor: int) -> bytes:
    with Image.open(OBAMA) as im:
        big = im.resize((im.width * factor, im.height * factor), Image.BILINEAR)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def test_service_pixel_limit_is_lower_than_the_librarys(api):
    bomb = png_bomb(5000, 4000)  # 20 MP in a few kB: over the service's 16 MP, under the old 40 MP
    assert len(bomb) < 10_000
    t0 = time.monotonic()
    body = is_problem(api.post("/v1/detect", "read", files={"image": ("bomb.png", bomb)}), 413, "too_large")
    assert time.monotonic() - t0 < 1.0 and "5000x4000" in body["detail"] and "bomb.png" in body["detail"]
    is_problem(api.post("/v1/identities", "enroll", data={"name": "b"}, files={"images": ("bomb.png", bomb)}), 413)


def test_large_jpeg_is_decoded_at_half_size_with_original_coordinates(api):
    small = api.post("/v1/detect", "read", files={"image": ("o.jpg", OBAMA.read_bytes())}).json()
    big_jpeg = enlarged_jpeg(9)  # 4608x5760 = 26.5 MP: over 16 MP, decodable at half size
    r = api.post("/v1/detect", "read", files={"image": ("big.jpg", big_jpeg)})
    assert r.status_code == 200, r.text
    big = r.json()
    assert (big["width"], big["height"]) == (4608, 5760)
    face = max(big["faces"], key=lambda f: f["score"])  # (the blurry 9x enlargement has false detections too)
    expected = np.array(small["faces"][0]["box"]) * 9
    assert np.abs(np.array(face["box"]) - expected).max() < 0.05 * (expected[2] - expected[0])
    assert face["quality"]["face_size"] == pytest.approx(9 * small["faces"][0]["quality"]["face_size"], rel=0.1)
    identify = api.post("/v1/identify", "read", files={"image": ("big.jpg", big_jpeg)}).json()
    assert identify["width"] == 4608 and max(f["box"][2] for f in identify["faces"]) > 2000
    # the gallery decodes enrollment photos in full: there the plain limit holds
    is_problem(api.post("/v1/identities", "enroll", data={"name": "b"}, files={"images": ("big.jpg", big_jpeg)}), 413)


def test_budget_queues_large_images_but_not_small_ones():
    gate = DecodeGate(max_pixels=16_000_000, budget_pixels=16_000_000, small_pixels=4_000_000)
    large = Upload("image", "large.png", png_bomb(4000, 3000))  # 12 MP
    small = Upload("image", "small.jpg", OBAMA.read_bytes())
    events = []

    async def hold(name, upload, seconds):
        async with gate.reserve([upload]):
            events.append(("start", name))
            await anyio.sleep(seconds)
            events.append(("end", name))

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold, "large 1", large, 0.3)
            await anyio.sleep(0.05)
            tg.start_soon(hold, "large 2", large, 0.0)  # 12 + 12 MP > 16 MP: waits for large 1
            await anyio.sleep(0.05)
            tg.start_soon(hold, "small", small, 0.0)  # does not wait

    anyio.run(main)
    assert events.index(("start", "small")) < events.index(("end", "large 1")) < events.index(("start", "large 2"))


def test_budget_bounds_memory_of_concurrent_bombs(make_app):
    """Bombs at once: never more than the budget being decoded or held."""
    app, keys = make_app(decode_budget_pixels=6_000_000)
    gate = app.state.vultus.decoding
    peak = [0]
    decode = gate.decode

    def counting(upload):
        peak[0] = max(peak[0], gate._used)
        return decode(upload)

    gate.decode = counting
    bomb = png_bomb(3000, 2000)
    with TestClient(app) as c:
        def post(_):
            return c.post("/v1/detect", headers={"X-API-Key": keys["read"]}, files={"image": ("b.png", bomb)}).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(post, range(4))) == {200}
    assert peak[0] == 6_000_000  # one bomb's worth reserved at a time
