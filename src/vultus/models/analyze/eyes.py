"""Eye behaviour over a face track (EMER's second cue): openness, blinks, gaze proxy, fixations.

Per frame, from the dense mesh (`Face.mesh`, MediaPipe's 468 points; iris points when the
landmarker gives them):
- openness per eye: the eye aspect ratio, mean of two lid-to-lid distances over the corner distance
  (about 0.25-0.35 open, under 0.15 shut);
- blinks: the mean openness of both eyes against the track's own open level (a high percentile of the
  last `baseline_seconds`): a blink starts when it falls below `close_ratio` of that level and ends when
  it is back above `open_ratio`; 40-500 ms is a blink, longer is an eyes-closed span. Each is a
  `TrackEvent` (start, end, duration, depth);
- gaze proxy (iris only): the iris centre within each eye, x in eye half-widths from the corners'
  midpoint, positive toward the subject's left (image +x for an unmirrored camera), y up from the
  corner line in eye widths; the mean of both eyes. It is where the eyes point relative to the
  head, not a calibrated gaze;
- fixations and saccades (iris only): velocity-threshold identification (I-VT) on the gaze proxy,
  smoothed frame to frame (the iris points jitter): consecutive frames faster than `saccade_speed`
  gaze units per second are one saccade; a still span of at least `min_fixation` seconds is a
  fixation.

The track summary gives blink count and rate, durations, openness, gaze and fixation statistics, and
`eye_features`: these statistics as one fixed-length vector, for a fusion model learned where
labelled eye data exists (EMER's). No eye tracker was available here: gaze, fixation and saccade figures are not validated.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ... import mesh
from ...types import Estimate, Face
from ..base import TrackEvent
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="eyes", task=Task.TRACK_ANALYZER, impl=__name__ + ":EyeBehaviour",
    summary="eye behaviour over a track: openness, blinks, blink rate, gaze proxy, fixations and saccades",
    licence="Apache-2.0 (rules, no weights)", input_size="dense mesh (468 points, iris optional)",
    outputs=("blinks", "blink_rate", "blink_duration", "eye_openness", "gaze", "fixations", "saccades",
             "eye_features"),
    requires=(Task.LANDMARKER,),
))

# per eye (the image-left eye is the subject's right): outer corner, inner corner, two upper-lid
# vertices and the two lower-lid vertices below them (a third of the way in from each corner)
EYE_POINTS = {"right": (mesh.RIGHT_EYE_CORNERS[0], mesh.RIGHT_EYE_CORNERS[1], mesh.RIGHT_EYE_UPPER[3:6:2],
                        mesh.RIGHT_EYE_LOWER[3:6:2]),
              "left": (mesh.LEFT_EYE_CORNERS[1], mesh.LEFT_EYE_CORNERS[0], mesh.LEFT_EYE_UPPER[3:6:2],
                       mesh.LEFT_EYE_LOWER[3:6:2])}
GAZE_SMOOTHING = 0.5  # weight of the new frame's gaze in the running (exponential) mean
EYE_FEATURES = ("blink_rate", "blink_duration", "openness_mean", "openness_std", "closed_fraction",
                "gaze_x_std", "gaze_y_std", "fixation_rate", "fixation_duration", "saccade_rate")


def eye_openness(points: np.ndarray) -> dict[str, float]:
    """Eye aspect ratio of each eye from the (468, 2+) mesh points."""
    out = {}
    for eye, (outer, inner, upper, lower) in EYE_POINTS.items():
        width = np.linalg.norm(points[outer, :2] - points[inner, :2])
        lids = sum(np.linalg.norm(points[u, :2] - points[d, :2]) for u, d in zip(upper, lower))
        out[eye] = float(lids / (2 * width)) if width > 0 else float("nan")
    return out


def gaze_proxy(points: np.ndarray, iris: np.ndarray) -> tuple[float, float]:
    """Iris centre within the eye, mean of both eyes: (x toward the subject's left, y up), eye widths."""
    xs, ys = [], []
    for k, (outer, inner, upper, lower) in enumerate(EYE_POINTS.values()):
        a, b = points[outer, :2], points[inner, :2]
        width = np.linalg.norm(b - a)
        if width <= 0:
            continue
        u = (b - a) / width  # along the eye, outer -> inner corner
        v = np.array([u[1], -u[0]])  # perpendicular, pointing up in the image
        mid = (a + b) / 2
        c = iris[5 * k, :2] - mid
        along = float(c @ u) / (width / 2)  # -1 outer .. +1 inner corner
        xs.append(along if k == 0 else -along)  # the right eye's inner corner is toward the subject's left
        ys.append(float(c @ v) / width)
    return (float(np.mean(xs)), float(np.mean(ys))) if xs else (float("nan"), float("nan"))


@dataclass
class EyeState:
    times: list = field(default_factory=list)
    openness: list = field(default_factory=list)  # mean of both eyes per frame
    gaze: list = field(default_factory=list)
    window: deque = field(default_factory=deque)  # (time, openness) for the open level
    closed_since: float | None = None
    lowest: float = 1.0
    blinks: list = field(default_factory=list)  # (start, end, depth)
    closed_spans: list = field(default_factory=list)
    fix_start: float | None = None
    fixations: list = field(default_factory=list)  # (start, end, x, y)
    saccades: int = 0
    saccade: tuple | None = None  # (start, peak speed) of the saccade under way
    last_gaze: tuple | None = None


class EyeBehaviour:
    every_frame = True
    outputs = SPEC.outputs

    def __init__(self, spec=None, close_ratio: float = 0.7, open_ratio: float = 0.85,
                 baseline_seconds: float = 3.0, min_blink: float = 0.04, max_blink: float = 0.5,
                 saccade_speed: float = 1.5, min_fixation: float = 0.1):
        self.spec, self.name = spec, spec.name if spec is not None else "eyes"
        self.close_ratio, self.open_ratio, self.baseline_seconds = close_ratio, open_ratio, baseline_seconds
        self.min_blink, self.max_blink = min_blink, max_blink
        self.saccade_speed, self.min_fixation = saccade_speed, min_fixation

    def start(self) -> EyeState:
        return EyeState()

    def update(self, state: EyeState, time: float, image: np.ndarray, face: Face) -> list[TrackEvent]:
        if face.mesh is None:
            return []
        o = eye_openness(face.mesh.points)
        value = float(np.nanmean([o["left"], o["right"]]))
        if not np.isfinite(value):
            return []
        state.times.append(time)
        state.openness.append(value)
        events = self._blink(state, time, value)
        if face.mesh.iris is not None:
            events += self._gaze(state, time, gaze_proxy(face.mesh.points, face.mesh.iris))
        return events

    def open_level(self, state: EyeState, time: float, value: float) -> float:
        """The track's open-eye openness: the 90th percentile of the last `baseline_seconds`."""
        state.window.append((time, value))
        while state.window and state.window[0][0] < time - self.baseline_seconds:
            state.window.popleft()
        return float(np.percentile([v for _, v in state.window], 90))

    def _blink(self, state: EyeState, time: float, value: float) -> list[TrackEvent]:
        level = self.open_level(state, time, value)
        if state.closed_since is None:
            if len(state.window) >= 5 and value < self.close_ratio * level:
                state.closed_since, state.lowest = time, value / level
            return []
        state.lowest = min(state.lowest, value / level)
        if value < self.open_ratio * level:
            return []
        start, state.closed_since = state.closed_since, None
        duration = time - start
        depth = round(1.0 - state.lowest, 3)
        if duration < self.min_blink:
            return []
        if duration > self.max_blink:
            state.closed_spans.append((start, time))
            return [TrackEvent("eyes_closed", start, time, {"duration": round(duration, 3)})]
        state.blinks.append((start, time, depth))
        return [TrackEvent("blink", start, time, {"duration": round(duration, 3), "depth": depth})]

    def _gaze(self, state: EyeState, time: float, g: tuple[float, float]) -> list[TrackEvent]:
        if not np.isfinite(g[0]) or state.closed_since is not None:  # no gaze through shut lids
            state.last_gaze, state.saccade = None, None
            return self._end_fixation(state, time)
        if state.last_gaze is not None:  # halve the iris points' frame-to-frame jitter
            g = tuple(GAZE_SMOOTHING * a + (1 - GAZE_SMOOTHING) * b for a, b in zip(g, state.last_gaze[1]))
        state.gaze.append(g)
        events: list[TrackEvent] = []
        if state.last_gaze is not None and time > state.last_gaze[0]:
            last_time, last = state.last_gaze
            speed = float(np.hypot(g[0] - last[0], g[1] - last[1]) / (time - last_time))
            if speed > self.saccade_speed:
                if state.saccade is None:  # a saccade starts: the fixation before it ends
                    events += self._end_fixation(state, time)
                    state.saccade = (last_time, speed)
                state.saccade = (state.saccade[0], max(state.saccade[1], speed))
            else:
                if state.saccade is not None:  # one saccade over however many frames it took
                    state.saccades += 1
                    events.append(TrackEvent("saccade", state.saccade[0], last_time,
                                             {"peak_speed": round(state.saccade[1], 2)}))
                    state.saccade = None
                if state.fix_start is None:
                    state.fix_start = last_time
        state.last_gaze = (time, g)
        return events

    def _end_fixation(self, state: EyeState, time: float) -> list[TrackEvent]:
        start, state.fix_start = state.fix_start, None
        if start is None or time - start < self.min_fixation:
            return []
        span = [g for t, g in zip(state.times[-len(state.gaze):], state.gaze) if start <= t <= time]
        x, y = (float(np.mean(v)) for v in zip(*span)) if span else (float("nan"),) * 2
        state.fixations.append((start, time, x, y))
        return [TrackEvent("fixation", start, time, {"duration": round(time - start, 3), "x": round(x, 3),
                                                     "y": round(y, 3)})]

    def finish(self, state: EyeState) -> dict:
        if not state.times:
            return {}
        if state.last_gaze is not None:
            self._end_fixation(state, state.times[-1])
        span = max(state.times[-1] - state.times[0], 1e-6)
        minutes = span / 60
        o = np.array(state.openness)
        durations = [e - s for s, e, _ in state.blinks]
        closed = sum(e - s for s, e, _ in state.blinks) + sum(e - s for s, e in state.closed_spans)
        gaze = np.array(state.gaze) if state.gaze else np.zeros((1, 2))  # no iris: no gaze movement measured
        fix = [e - s for s, e, _, _ in state.fixations]
        features = dict(zip(EYE_FEATURES, (
            len(state.blinks) / minutes, float(np.mean(durations)) if durations else 0.0, float(o.mean()),
            float(o.std()), closed / span, float(np.nanstd(gaze[:, 0])), float(np.nanstd(gaze[:, 1])),
            len(state.fixations) / minutes, float(np.mean(fix)) if fix else 0.0, state.saccades / minutes)))
        summary = {"blinks": len(state.blinks),
                   "blink_rate": Estimate(len(state.blinks) / minutes, "per minute"),
                   "eye_openness": Estimate(float(np.median(o)), "", float(np.percentile(o, 25)),
                                            float(np.percentile(o, 75))),
                   "eye_features": {k: round(float(v), 4) for k, v in features.items()}}
        if durations:
            summary["blink_duration"] = Estimate(float(np.median(durations)), "s", float(min(durations)),
                                                 float(max(durations)))
        if state.gaze:
            summary["gaze"] = {"x": round(float(np.nanmedian(gaze[:, 0])), 3),
                               "y": round(float(np.nanmedian(gaze[:, 1])), 3)}
            summary["fixations"] = len(state.fixations)
            summary["saccades"] = state.saccades
        return summary
