"""An analyzer registered in one file of its own reaches the library, the CLI, video and the
service without any of them being touched: the plugin path a third-party package takes (a
`vultus.models` entry point naming a module that registers its spec)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DATA, EXAMPLES

PLUGIN = '''
"""A third-party analyzer in one file: the mean brightness inside each face box."""
import numpy as np
from vultus.models.registry import ModelSpec, Task, register
from vultus.types import Estimate

register(ModelSpec(name="brightness", task=Task.ANALYZER, impl=__name__ + ":Brightness",
                   summary="mean grey level of the face box (test plugin)", licence="MIT",
                   outputs=("brightness",)))


class Brightness:
    outputs = ("brightness",)

    def __init__(self, spec):
        self.spec, self.name = spec, spec.name

    def analyze(self, image, faces):
        out = []
        for f in faces:
            x1, y1, x2, y2 = (int(v) for v in f.box)
            out.append(f.with_attributes(brightness=Estimate(float(image[y1:y2, x1:x2].mean()), "grey level")))
        return out
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the plugin module and the distribution metadata that declares it."""
    d = tmp_path_factory.mktemp("plugin")
    (d / "brightness_plugin.py").write_text(PLUGIN)
    info = d / "brightness_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brightness-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vultus.models]\nbrightness = brightness_plugin\n")
    sys.path.insert(0, str(d))
    importlib.import_module("brightness_plugin")  # what the entry point does in a fresh process
    yield d
    sys.path.remove(str(d))


def test_library(plugin_dir):
    from vultus.pipeline import Pipeline

    faces = Pipeline(analyzers="brightness").analyze(EXAMPLES / "obama.jpg")
    assert 0 < faces[0].attributes["brightness"].value < 255


def test_cli_finds_it_through_the_entry_point(plugin_dir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-m", "vultus", "analyze", str(EXAMPLES / "obama.jpg"), "--with",
                        "brightness", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout.splitlines()[0])
    assert 0 < row["attributes"]["brightness"]["value"] < 255
    p = subprocess.run([sys.executable, "-m", "vultus", "models", "--json"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert "brightness" in {json.loads(x)["name"] for x in p.stdout.splitlines()}


def test_video(plugin_dir):
    pytest.importorskip("av")
    from vultus.video import analyze_video

    clip = DATA / "video" / "obama_nasa_speech_640x360.mp4"
    if not clip.exists():
        pytest.skip(f"clip {clip} not found (set VULTUS_DATA)")
    result = analyze_video(clip, end=1.5, analyzers="brightness")
    track = result.tracks[0]
    assert 0 < track.analysis["brightness"].value < 255
    assert track.events and all(e.kind == "brightness" for e in track.events)
    assert "analysis" in track.to_dict() and track.to_dict()["events"]


def test_service(plugin_dir, pipeline, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from vultus.service import Settings, create_app

    app = create_app(tmp_path / "g.db", Settings(rate=0), pipeline=pipeline)
    key = app.state.vultus.keys.create("read", "t")[1]
    with TestClient(app) as client:
        r = client.post("/v1/analyze?analyzers=brightness", headers={"X-API-Key": key},
                        files={"image": ("obama.jpg", (EXAMPLES / "obama.jpg").read_bytes())})
    assert r.status_code == 200, r.text
    assert r.json()["analyzers"] == ["quality", "brightness"]
    assert 0 < r.json()["faces"][0]["attributes"]["brightness"]["value"] < 255
