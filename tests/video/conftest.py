"""Fixtures for the video tests: the real clips, small synthetic videos written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ..conftest import calibrated, dataset

av = pytest.importorskip("av", reason="the video extra (PyAV) is not installed")


@pytest.fixture(scope="session")
def clips() -> Path:
    return dataset("video")


@pytest.fixture
def shipped_thresholds() -> None:
    """The calibrated thresholds ship in the package: missing is a broken install, not a skip."""
    assert calibrated(), "src/vultus/data/thresholds.json is missing or has no 'sface' entry (bench/calibrate.py)"


needs_thresholds = pytest.mark.usefixtures("shipped_thresholds")


def write_video(path: Path, frames: list[np.ndarray], times: list[float] | None = None, rotation: int = 0,
                audio: bool = False, faststart: bool = False) -> Path:
    """An H.264 MP4 of RGB frames, with presentation times `times` (seconds; default 25 fps)."""
    h, w = frames[0].shape[:2]
    out = av.open(str(path), "w", format="mp4", options={"movflags": "faststart"} if faststart else {})
    s = out.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = w, h, "yuv420p"
    s.time_base = s.codec_context.time_base = Fraction(1, 1000)  # exact millisecond timestamps
    if rotation:
        s.set_display_rotation(rotation)
    a = None
    if audio:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
    for i, img in enumerate(frames):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts = int(round((times[i] if times else i / 25) * 1000))
        f.time_base = Fraction(1, 1000)
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    if a is not None:
        n = int(16000 * len(frames) / 25)
        tone = (0.1 * np.sin(np.arange(n) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None]
        af = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        for p in a.encode(af):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    return path


def noise_frames(n: int, w: int = 160, h: int = 96, seed: int = 0) -> list[np.ndarray]:
    """Frames without faces: a moving gradient with a little noise (so the encoder has work)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    return [np.clip(np.roll(x, 3 * i, axis=1) + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
            for i in range(n)]
