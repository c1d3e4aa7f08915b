"""Multi-face tracking: detections linked into tracks with stable ids.

Why our own tracker: the maintained libraries that fit (`trackers`/`supervision` with ByteTrack,
`norfair`, `motpy`) either pull the GUI build of OpenCV, which clashes with our headless OpenCV,
or pin numpy<2. What we need is small: a constant-velocity Kalman filter per face, IoU matching
solved with the Hungarian method (scipy), and appearance from the face embeddings that the
identification computes anyway. ByteTrack/DeepSORT are the models we follow.

How a frame is handled:
* Every track's box is predicted to the frame's time (timestamps, so variable frame rate is fine).
* On frames with detections, tracks are matched to detections by IoU with the predicted box. Where
  a match is ambiguous (a detection overlapping two tracks), the embeddings of those detections
  are computed and the appearance similarity joins the cost.
* A detection left over is embedded and compared with the templates of recently lost tracks
  (missed detections, short occlusions, a face leaving and re-entering, a shot cut back), so the
  old id comes back instead of a new one; otherwise it starts a new track.
* At a shot cut no track is matched by position (the same place on screen is someone else after a
  cut); tracks can only come back by appearance.
* A face missed by the detector is not drawn, but its track is still matched by predicted position
  for `predict_window` seconds, and by appearance until it has not been seen for `max_age`
  seconds; then it ends.

Embedding is the costly step (tens of ms per face), so the tracker asks for embeddings only where
it needs them, through the `Appearance` callback, which caches them per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..types import Face

Embedding = Mapping[str, np.ndarray]


class Appearance(Protocol):
    def embedding(self, i: int) -> Embedding:
        """The embedding of detection `i` of the current frame (computed once, then cached)."""
        ...

    def similarity(self, a: Embedding, b: Embedding) -> float:
        ...


@dataclass
class TrackerConfig:
    iou_min: float = 0.2  # least IoU between a prediction and a detection to link them by position
    max_age: float = 2.0  # seconds a track may go undetected and still come back (by appearance)
    predict_window: float = 1.0  # seconds a missed track can still be matched by its predicted position
    min_hits: int = 3  # detections before a track is reported (brief false positives, e.g. a hand, vanish)
    same_person: float = 0.36  # appearance similarity above which two faces are the same person
    appearance_weight: float = 0.5  # weight of (1 - similarity) against (1 - IoU) where both count


class KalmanBox:
    """Constant-velocity Kalman filter on (cx, cy, w, h), stepped by elapsed seconds."""

    def __init__(self, box: np.ndarray, t: float):
        cx, cy, w, h = _to_cxcywh(box)
        self.x = np.array([cx, cy, w, h, 0, 0, 0, 0], np.float64)
        s = max(w, h)
        # uncertain velocity at birth; position about as good as the detector
        self.P = np.diag([0.1 * s, 0.1 * s, 0.1 * s, 0.1 * s, 2 * s, 2 * s, s, s]) ** 2
        self.t = t

    def predict(self, t: float) -> np.ndarray:
        dt = max(t - self.t, 0.0)
        if dt > 0:
            F = np.eye(8)
            F[:4, 4:] = np.eye(4) * dt
            s = max(self.x[2], self.x[3], 1.0)
            # process noise grows with time and face size: faces accelerate, cameras pan
            q = (0.5 * s) ** 2 * dt
            Q = np.diag([q * dt, q * dt, q * dt, q * dt, q, q, q, q])
            self.x = F @ self.x
            self.P = F @ self.P @ F.T + Q
            self.x[2:4] = np.maximum(self.x[2:4], 2.0)
            self.t = t
        return self.box

    def update(self, box: np.ndarray) -> None:
        z = np.array(_to_cxcywh(box), np.float64)
        s = max(z[2], z[3], 1.0)
        R = np.eye(4) * (0.05 * s) ** 2
        H = np.eye(4, 8)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P

    @property
    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


@dataclass(eq=False)
class Track:
    id: int
    kf: KalmanBox
    first_frame: int
    first_time: float
    last_frame: int
    last_time: float  # time of the last detection
    hits: int = 1
    last_face: Face | None = None  # the latest detection
    template: Embedding | None = None  # appearance for re-association, kept by the identifier
    missed: int = 0  # detection frames in a row without this face
    lost: bool = False  # cut away: it can only come back by appearance
    data: dict = field(default_factory=dict)  # owner's per-track state (identification)

    @property
    def box(self) -> np.ndarray:
        return self.kf.box


@dataclass(frozen=True)
class Step:
    """What the tracker did on one frame: the tracks on screen with their boxes, the detections
    each was linked to (None where only predicted), and the tracks that ended."""

    visible: tuple[tuple[Track, np.ndarray, Face | None], ...]
    ended: tuple[Track, ...]
    started: tuple[Track, ...]


class Tracker:
    def __init__(self, config: TrackerConfig | None = None, first_id: int = 1):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = first_id

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def step(self, frame: int, t: float, faces: list[Face] | None, appearance: Appearance | None = None,
             cut: bool = False) -> Step:
        """Advance to a frame. `faces` is None on frames without detection (prediction only)."""
        cfg = self.config
        for tr in self.tracks:
            tr.kf.predict(t)
            if cut:
                tr.lost = True
        started: list[Track] = []
        if faces is not None:
            matched_det: dict[int, Track] = {}
            live = [tr for tr in self.tracks if not tr.lost and t - tr.last_time <= cfg.predict_window]
            pairs = self._match_by_position(live, faces, appearance)
            for ti, di in pairs:
                matched_det[di] = live[ti]
            # leftovers: bring back lost tracks by appearance, else start new tracks
            rest = [i for i in range(len(faces)) if i not in matched_det]
            unmatched = [tr for tr in self.tracks if tr not in matched_det.values() and tr.template is not None]
            if rest and unmatched and appearance is not None:
                for ti, di in self._match_by_appearance(unmatched, rest, appearance):
                    matched_det[di] = unmatched[ti]
            for di, tr in matched_det.items():
                tr.kf.update(faces[di].box)
                tr.hits += 1
                tr.last_frame, tr.last_time, tr.last_face, tr.lost, tr.missed = frame, t, faces[di], False, 0
            for di in range(len(faces)):
                if di not in matched_det:
                    tr = Track(self.new_id(), KalmanBox(faces[di].box, t), frame, t, frame, t, last_face=faces[di])
                    self.tracks.append(tr)
                    started.append(tr)
                    matched_det[di] = tr
            linked = {id(tr): faces[di] for di, tr in matched_det.items()}
            for tr in self.tracks:
                if id(tr) not in linked:
                    tr.missed += 1
        else:
            linked = {}
        ended = tuple(tr for tr in self.tracks if t - tr.last_time > cfg.max_age)
        if ended:
            self.tracks = [tr for tr in self.tracks if tr not in ended]
        # on screen: detected now, or predicted between detections (a missed face is not drawn)
        visible = tuple((tr, tr.last_face.box if id(tr) in linked else tr.box, linked.get(id(tr)))
                        for tr in self.tracks if id(tr) in linked or (not tr.lost and tr.missed == 0))
        return Step(visible, ended, tuple(started))

    def finish(self) -> list[Track]:
        """End every remaining track (end of the video)."""
        out, self.tracks = self.tracks, []
        return out

    def split(self, track: Track, frame: int, t: float) -> Track:
        """End `track` here and continue its box under a new id (its appearance changed: another
        person took its place without a visible cut). Returns the new track."""
        self.tracks.remove(track)
        new = Track(self.new_id(), KalmanBox(track.last_face.box, t), frame, t, frame, t, last_face=track.last_face)
        self.tracks.append(new)
        return new

    # -- association -------------------------------------------------------------------------------
    def _match_by_position(self, tracks: list[Track], faces: list[Face],
                           appearance: Appearance | None) -> list[tuple[int, int]]:
        if not tracks or not faces:
            return []
        cfg = self.config
        iou = box_iou(np.stack([tr.box for tr in tracks]), np.stack([f.box for f in faces]))
        cost = 1.0 - iou
        gate = iou >= cfg.iou_min
        if appearance is not None:
            # ambiguous rows/columns (several candidates within the gate): let appearance decide
            ambiguous_t = np.flatnonzero(gate.sum(1) > 1)
            ambiguous_d = np.flatnonzero(gate.sum(0) > 1)
            for ti in range(len(tracks)):
                for di in range(len(faces)):
                    if not gate[ti, di] or tracks[ti].template is None:
                        continue
                    if ti in ambiguous_t or di in ambiguous_d:
                        sim = appearance.similarity(tracks[ti].template, appearance.embedding(di))
                        if sim < cfg.same_person:
                            gate[ti, di] = False
                        cost[ti, di] += cfg.appearance_weight * (1.0 - sim)
        return _assign(cost, gate)

    def _match_by_appearance(self, tracks: list[Track], dets: list[int],
                             appearance: Appearance) -> list[tuple[int, int]]:
        sim = np.array([[appearance.similarity(tr.template, appearance.embedding(d)) for d in dets]
                        for tr in tracks])
        return [(ti, dets[dj]) for ti, dj in _assign(1.0 - sim, sim >= self.config.same_person)]


def _assign(cost: np.ndarray, gate: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment of minimal cost among the gated pairs."""
    if not gate.any():
        return []
    big = 1e6  # outside the gate: never chosen unless forced, then dropped below
    rows, cols = linear_sum_assignment(np.where(gate, cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if gate[r, c]]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4), xyxy."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def _to_cxcywh(box: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


def is_cut(prev: np.ndarray | None, cur: np.ndarray, threshold: float = 15.0) -> bool:
    """A shot cut: the mean absolute difference (0-255 grey) of two tiny thumbnails jumps. On our
    clips hard cuts measure 22-40 and motion within a shot (walking crowd, camera moves, fast
    gestures) stays under 11. Slow fades are not caught; the appearance check catches their result."""
    return prev is not None and float(np.abs(cur - prev).mean()) > threshold
