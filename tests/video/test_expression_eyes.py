"""Expression, eye behaviour and emotion over real clips: blinks against the hand annotations,
fused windows, the timeline plot from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vultus.errors import ModelError
from vultus.models import registry

from ..conftest import ROOT

ANNOTATIONS = json.loads((ROOT / "bench" / "annotations" / "blinks.json").read_text())


def mesh_or_skip() -> None:
    try:
        registry.get("facemesh")
    except ModelError:
        pytest.skip("no dense landmarker registered (facemesh): eyes and emotion need Face.mesh")


def test_blinks_of_an_annotated_clip(clips):
    """AOC talking head: the blinks annotated by hand are found, and nothing else."""
    mesh_or_skip()
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from eyes import match
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from vultus.video import analyze_video

    name = "aoc_talking_head_512x512.mp4"
    truth = ANNOTATIONS["clips"][name]
    r = analyze_video(clips / name, analyzers="eyes")
    main = max(r.tracks, key=lambda t: t.last_frame - t.first_frame)
    found = [(e.start, e.end) for e in main.events if e.kind == "blink"]
    m = match(found, truth["blinks"], 1 / truth["fps"])
    assert m["tp"] >= 6 and m["fp"] <= 1, m
    assert main.analysis["blinks"] == len(found) and main.analysis["blink_rate"].value > 20


def test_emotion_windows_cover_the_track(clips):
    mesh_or_skip()
    from vultus.video import analyze_video

    r = analyze_video(clips / "woman_b_outdoor_1280x720.mp4", analyzers="emotion", end=4.0)
    t = max(r.tracks, key=lambda t: t.last_frame - t.first_frame)
    windows = [e for e in t.events if e.kind == "emotion"]
    assert len(windows) >= 1 and all(e.end - e.start >= 1.9 for e in windows[:-1])
    assert t.analysis["emotion"].value == "happy"  # she smiles throughout


def test_cli_plots_the_expression_timeline(clips, tmp_path):
    png, timeline = tmp_path / "t.png", tmp_path / "t.json"
    p = subprocess.run([sys.executable, "-m", "vultus", "video", "analyze", str(clips / "woman_b_outdoor_1280x720.mp4"),
                        "--with", "expression", "--end", "2", "--timeline", str(timeline), "--plot", str(png)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    track = json.loads(timeline.read_text())["tracks"][0]
    samples = [e for e in track["events"] if e["kind"] == "expression"]
    assert len(samples) >= 3 and track["analysis"]["expression"]["value"] == "happy"
