"""Fixtures for the service: an app on a fresh gallery with the session's models, and keys."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from ..conftest import DATA, calibrated

EX = Path(__file__).resolve().parents[2] / "examples" / "images"
DATA_VIDEO = DATA / "video" / "lin_manuel_miranda_whitehouse_2009_640x360.mp4"  # several people, Obama at the end
LFW_STRANGER = DATA / "lfw" / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"


@pytest.fixture
def needs_calibration():
    """Identify and verify need the calibrated thresholds, which ship in the package: missing is a broken install."""
    assert calibrated(), "src/vultus/data/thresholds.json is missing or has no 'sface' entry (bench/calibrate.py)"


@pytest.fixture
def make_app(tmp_path, pipeline):
    """make_app(**settings) -> (app, {scope: key}) on tmp_path/g.db, sharing the loaded models."""
    from vultus.service import Settings, create_app

    def make(path: Path | None = None, **settings):
        settings.setdefault("rate", 0)  # tests hammer the API; the rate-limit test turns it back on
        app = create_app(path or tmp_path / "g.db", Settings(**settings), pipeline=pipeline)
        keys = {s: app.state.vultus.keys.create(s, f"test {s}")[1] for s in ("read", "enroll", "admin")}
        return app, keys

    return make


@pytest.fixture
def api(make_app):
    """A TestClient with helpers: api.get(path, scope="admin"), api.post(...), etc."""
    from fastapi.testclient import TestClient

    app, keys = make_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, keys, app)


class Api:
    def __init__(self, client, keys, app):
        self.client, self.keys, self.app = client, keys, app

    def headers(self, scope):
        return {"Authorization": f"Bearer {self.keys[scope]}"} if scope else {}

    def __getattr__(self, method):
        def call(path, scope="admin", **kw):
            kw["headers"] = {**self.headers(scope), **kw.get("headers", {})}
            return getattr(self.client, method)(path, **kw)

        return call

    def enroll(self, name, *files, scope="enroll", **kw):
        return self.post("/v1/identities", scope, data={"name": name},
                         files=[("images", (Path(f).name, Path(f).read_bytes(), "image/jpeg")) for f in files], **kw)


def image_bytes(fmt: str = "PNG", size=(64, 48), value: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@contextmanager
def keyed_server(folder: Path, scope: str, *options: str, ready: str = "/v1/health"):
    """A real `vultus serve` on 127.0.0.1 over a new gallery in `folder`: yields (server, key)."""
    from vultus.service.keys import KeyStore
    from vultus.service.process import running_server

    keys = KeyStore(folder / "g.db")
    _, key = keys.create(scope, "test")
    keys.close()
    # a generous start-up time: the test machine may be shared with heavy jobs
    with running_server(folder / "g.db", *options, log=folder / "serve.log", ready=ready, timeout=600) as server:
        yield server, key
