"""The tracker alone, on synthetic detections: ids survive misses, crossings and cuts as they should."""

from __future__ import annotations

import numpy as np

from vultus.types import Face
from vultus.video.track import Tracker, TrackerConfig, box_iou, is_cut


def face(x: float, y: float, s: float = 40.0) -> Face:
    return Face(box=np.array([x, y, x + s, y + s], np.float32), score=0.9, landmarks=np.zeros((5, 2), np.float32))


class Vectors:
    """A stand-in for the embedder: one fixed unit vector per detection of the current frame."""

    def __init__(self, vecs: list[np.ndarray]):
        self.vecs, self.calls = vecs, 0

    def embedding(self, i):
        self.calls += 1
        return {"m": self.vecs[i]}

    def similarity(self, a, b):
        return float(a["m"] @ b["m"])


A, B = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    assert box_iou(a, a)[0, 0] == 1.0
    assert box_iou(a, a + 20)[0, 0] == 0.0
    assert abs(box_iou(a, np.array([[5, 0, 15, 10]]))[0, 0] - 1 / 3) < 1e-9


def test_id_kept_through_missed_detections_and_prediction():
    tr = Tracker(TrackerConfig(max_age=1.0))
    ids = set()
    for k in range(60):  # moving right 4 px per frame at 30 fps; no detection for frames 20..34
        t = k / 30
        dets = None if 20 <= k < 35 else [face(10 + 4 * k, 50)]
        step = tr.step(k, t, dets)
        for track, box, det in step.visible:
            ids.add(track.id)
            if det is None and k < 35:  # predicted box follows the motion
                assert abs(box[0] - (10 + 4 * k)) < 12
    assert ids == {1}


def test_track_ends_after_max_age():
    tr = Tracker(TrackerConfig(max_age=0.5))
    tr.step(0, 0.0, [face(10, 10)])
    step = tr.step(1, 0.1, [])
    assert not step.ended
    step = tr.step(2, 0.7, [])
    assert [t.id for t in step.ended] == [1] and not tr.tracks


def test_crossing_faces_keep_their_ids_by_appearance():
    tr = Tracker(TrackerConfig(same_person=0.5))
    first = {}
    for k in range(40):  # A goes right, B goes left; they overlap in the middle
        xa, xb = 20 + 5 * k, 220 - 5 * k
        app = Vectors([A, B])
        dets = [face(xa, 50), face(xb, 52)]
        step = tr.step(k, k / 25, dets, app)
        for track, _, det in step.visible:
            if k == 0:
                track.template = {"m": A if det.box[0] < 100 else B}
                first[track.id] = "A" if det.box[0] < 100 else "B"
            who = "A" if det is dets[0] else "B"
            assert first[track.id] == who, f"identity switch at frame {k}"


def test_cut_needs_appearance_to_continue():
    tr = Tracker(TrackerConfig(same_person=0.5))
    step = tr.step(0, 0.0, [face(50, 50)], Vectors([A]))
    step.visible[0][0].template = {"m": A}
    # a cut to another person at the same place: a new track, not the old one
    step = tr.step(1, 0.04, [face(50, 50)], Vectors([B]), cut=True)
    assert [t.id for t, _, _ in step.visible] == [2]
    # a cut back to the first person: the first track comes back by appearance
    step.visible[0][0].template = {"m": B}
    step = tr.step(2, 0.08, [face(300, 60)], Vectors([A]), cut=True)
    assert [t.id for t, _, _ in step.visible] == [1]


def test_appearance_only_computed_when_needed():
    tr = Tracker()
    app = Vectors([A])
    for k in range(10):
        tr.step(k, k / 25, [face(10 + k, 10)], app)
    assert app.calls == 0  # one face moving smoothly: position alone decides


def test_cut_detector():
    a = np.zeros((18, 32), np.float32)
    assert not is_cut(None, a) and not is_cut(a, a + 10) and is_cut(a, a + 25)


def test_clusters_never_join_tracks_on_screen_together():
    from vultus.decide import Recognizer
    from vultus.video import cluster_templates

    rec = Recognizer.parse("sface")
    a = np.zeros(128, np.float32)
    a[0] = 1
    b = a.copy()
    b[1] = 0.1
    b /= np.linalg.norm(b)
    c = np.zeros(128, np.float32)
    c[2] = 1
    tpl = [{"sface": v} for v in (a, b, c)]
    assert len(set(cluster_templates(tpl, rec, 0.5)[:2])) == 1  # a and b are alike
    labels = cluster_templates(tpl, rec, 0.5, spans=[(0, 10), (5, 20), (30, 40)])
    assert labels[0] != labels[1]  # same face twice at the same time: two people
    labels = cluster_templates(tpl, rec, 0.5, spans=[(0, 10), (11, 20), (30, 40)])
    assert labels[0] == labels[1] != labels[2]
