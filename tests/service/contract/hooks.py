"""Schemathesis hooks for fuzzing `vultus serve` (loaded with SCHEMATHESIS_HOOKS=tests.service.contract.hooks).

The document says an image is `format: byte` (JSON) or `format: binary` (multipart): any bytes. To
reach past "not an image" the fuzzer also draws real files here: small photos with a face (so
enrollments succeed and the stateful phase gets real identity names and face ids), a photo without
a face, and a short real video clip, besides the arbitrary bytes it generates itself.
"""

from __future__ import annotations

import base64
import io
import os
from functools import cache
from pathlib import Path

import schemathesis
from hypothesis import strategies as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "images"
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data"))
CLIP = DATA / "video" / "obama_nasa_speech_640x360.mp4"

#: Routes whose 422 may be about the image itself (unreadable, no usable face): a schema cannot say
#: "must be a photo of a face". Any other 422 on them is a schema-valid request refused: a failure.
IMAGE_ROUTES = {"/v1/detect", "/v1/analyze", "/v1/verify", "/v1/identify", "/v1/identities", "/v1/liveness",
                "/v1/identities/{name}/faces"}
IMAGE_KINDS = {"bad_image", "poor_quality",
               # a capture session that looks like a virtual camera, or faces that look like a photo
               # or screen, when the request asks for liveness: a schema cannot say "a real camera"
               "liveness_failed"}


def _jpeg(path: Path, width: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB").resize((width, round(im.height * width / im.width)))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        return buf.getvalue()


@cache
def clip() -> bytes:
    """The first second of a real clip, 320x180 (or a synthetic one if the data set is absent)."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        frames = []
        if CLIP.exists():
            with av.open(str(CLIP)) as src:
                for i, frame in enumerate(src.decode(video=0)):
                    if i >= 30:
                        break
                    if i % 3 == 0:
                        frames.append(frame.to_ndarray(format="rgb24", width=320, height=180))
        else:
            face = np.asarray(Image.open(EXAMPLES / "obama.jpg").convert("RGB").resize((144, 180)))
            frames = [np.pad(face, ((0, 0), (8 * i, 176 - 8 * i), (0, 0))) for i in range(10)]
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@cache
def samples() -> list[bytes]:
    grey = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(grey, format="PNG")
    return [_jpeg(EXAMPLES / "obama.jpg", 200), _jpeg(EXAMPLES / "biden.jpg", 200),
            _jpeg(EXAMPLES / "obama2.jpg", 200), grey.getvalue(), clip()]


# real files most of the time, arbitrary bytes otherwise
files = st.one_of(st.sampled_from(samples()), st.binary(min_size=1, max_size=64))
schemathesis.openapi.format("binary", files)
schemathesis.openapi.format("byte", files.map(lambda data: base64.b64encode(data).decode()))


@schemathesis.check
def image_refusals_are_about_the_image(ctx, response, case):
    """A schema-valid request to an image route may be refused (422) only for its image's content."""
    meta = case.meta
    if (response.status_code != 422 or case.operation.path not in IMAGE_ROUTES or meta is None
            or not meta.generation.mode.is_positive):
        return None
    kind = response.json().get("kind")
    assert kind in IMAGE_KINDS, f"schema-valid request refused with 422 {kind!r}: {response.json().get('detail')}"
    return None
