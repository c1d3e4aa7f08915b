"""Eye behaviour: blinks, openness and gaze from mesh points (synthetic lids here; real clips in
tests/video/test_eyes_video.py)."""

from __future__ import annotations

import numpy as np

from vultus.models.analyze.eyes import EYE_POINTS, EyeBehaviour, eye_openness, gaze_proxy
from vultus.types import Face, Mesh


def mesh_with(openness: float, gaze_x: float = 0.0) -> Mesh:
    """A mesh whose two eyes are 30 px wide with the given aspect ratio, iris shifted by `gaze_x`
    (eye half-widths, toward the subject's left)."""
    pts = np.zeros((468, 3), np.float32)
    iris = np.zeros((10, 3), np.float32)
    for k, (eye, (outer, inner, upper, lower)) in enumerate(EYE_POINTS.items()):
        x0 = 100.0 if eye == "right" else 200.0  # image-left eye: outer corner on the left
        sign = 1 if eye == "right" else -1
        a = np.array([x0, 100.0]) if eye == "right" else np.array([x0 + 30, 100.0])
        b = a + [sign * 30, 0]
        pts[outer, :2], pts[inner, :2] = a, b
        for j, (u, d) in enumerate(zip(upper, lower)):
            x = a[0] + sign * (10 + 10 * j)
            pts[u, :2], pts[d, :2] = (x, 100 - 15 * openness), (x, 100 + 15 * openness)
        mid = (a + b) / 2
        iris[5 * k, :2] = mid + [gaze_x * 15, 0]  # the subject's left is the image's +x
    return Mesh(points=pts, score=1.0, iris=iris)


def face_with(mesh: Mesh) -> Face:
    return Face(box=np.array([0, 0, 300, 300], np.float32), score=0.9, landmarks=np.zeros((5, 2), np.float32),
                mesh=mesh)


def run(openness: list[float], fps: float = 30.0, gaze: list[float] | None = None):
    eyes = EyeBehaviour()
    state = eyes.start()
    events = []
    for i, o in enumerate(openness):
        events += eyes.update(state, i / fps, None, face_with(mesh_with(o, gaze[i] if gaze else 0.0)))
    return events, eyes.finish(state)


def test_openness_is_the_eye_aspect_ratio():
    o = eye_openness(mesh_with(0.3).points)
    assert abs(o["left"] - 0.3) < 1e-6 and abs(o["right"] - 0.3) < 1e-6


def test_two_blinks_are_found_with_their_times():
    signal = [0.3] * 60
    for start in (20, 45):  # 4 frames shut (133 ms), then open again
        signal[start:start + 4] = [0.05] * 4
    events, summary = run(signal)
    blinks = [e for e in events if e.kind == "blink"]
    assert [round(e.start * 30) for e in blinks] == [20, 45]
    assert all(abs(e.data["duration"] - 4 / 30) < 1e-3 for e in blinks)
    assert summary["blinks"] == 2 and summary["blink_rate"].unit == "per minute"
    assert 55 < summary["blink_rate"].value < 65  # 2 blinks in 59 frames at 30 fps


def test_a_long_closure_is_not_a_blink_and_noise_is_not_either():
    rng = np.random.default_rng(0)
    signal = list(0.3 + rng.normal(0, 0.01, 90))
    signal[30:60] = [0.05] * 30  # a second with the eyes shut
    events, summary = run(signal)
    assert [e.kind for e in events if e.kind in ("blink", "eyes_closed")] == ["eyes_closed"]
    assert summary["blinks"] == 0


def test_gaze_proxy_follows_the_iris_and_saccades_split_fixations():
    g = gaze_proxy(mesh_with(0.3, 0.5).points, mesh_with(0.3, 0.5).iris)
    centre = gaze_proxy(mesh_with(0.3).points, mesh_with(0.3).iris)
    assert abs(centre[0]) < 1e-6 and abs(g[0] - 0.5) < 1e-6
    gaze = [0.0] * 30 + [0.6] * 30  # one jump: fixation, saccade, fixation
    events, summary = run([0.3] * 60, gaze=gaze)
    kinds = [e.kind for e in events]
    assert kinds.count("saccade") == 1 and summary["saccades"] == 1
    assert summary["fixations"] == 2
