"""One emotion estimate per time window of a track, from the face and the eyes (EMERT's idea).

EMER/EMERT fuse facial expression with eye behaviour learned from eye-tracker recordings of people
whose felt emotion is known. No such data exists here, so the fusion is a documented rule, not a
learned model, and its eye side is what can be measured:

- face cue: the `expression` model's calibrated probabilities of the whole face, averaged over the
  window's samples (one every `interval` seconds of detected faces);
- eye cue: the same model's eye-region output (a head trained on FER2013 that sees only the brows
  and eyes of SFace's feature map), averaged over the samples whose eyes were open: eye behaviour
  (`eyes`, from the mesh lids) gates it, since a face caught mid-blink says nothing through its eyes;
- fusion: a weighted geometric mean, p ∝ p_face^(1-w) · p_eyes^w, with w chosen on FER2013
  PublicTest (`EYE_WEIGHT`; bench/expression.py reports face only, eyes only and both). With no
  open-eye sample in a window, p = p_face.

Each window is a `TrackEvent("emotion", start, end)` with the fused label, both cues, the blinks and
the share of time the eyes were shut; the summary is the duration-weighted mean over windows (the
last, partial window counts in the summary only: a track's end reports no events).
What this cannot show without EMER's data: whether blink rate, fixations or saccades tell felt
emotion apart from a displayed expression, which is EMER's main claim; here they are reported
beside the estimate, never folded into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...types import Face, Label
from ..base import TrackEvent
from ..registry import ModelSpec, Task, load, register
from ._fer_crops import EXPRESSIONS, expression_crop, to_label
from .eyes import EyeBehaviour, EyeState

SPEC = register(ModelSpec(
    name="emotion", task=Task.TRACK_ANALYZER, impl=__name__ + ":EmotionFusion",
    summary="one emotion per time window: expression (face) and eye-region cues fused, gated by blinks",
    licence="Apache-2.0 (a rule over the expression model and eye behaviour)", commercial_use=False,
    input_size="as expression and eyes", outputs=("emotion",), requires=(Task.LANDMARKER,),
    options={"window": 2.0, "interval": 0.25},
))

#: weight of the eye cue in the geometric mean, chosen on FER2013 PublicTest (training/expression/shipped.json)
EYE_WEIGHT = 0.05


def fuse(face: np.ndarray, eyes: np.ndarray | None, weight: float = EYE_WEIGHT) -> np.ndarray:
    """p ∝ face^(1-w) · eyes^w, row-wise (the face alone when `eyes` is None)."""
    if eyes is None or weight == 0:
        return face
    log = (1 - weight) * np.log(np.clip(face, 1e-7, 1)) + weight * np.log(np.clip(eyes, 1e-7, 1))
    p = np.exp(log - log.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


@dataclass
class FusionState:
    eyes: EyeState
    window_start: float | None = None
    last_sample: float = -np.inf
    faces: list = field(default_factory=list)  # face probabilities in the window
    eye_cues: list = field(default_factory=list)  # eye-region probabilities with open eyes
    blinks: int = 0
    windows: list = field(default_factory=list)  # (duration, fused probabilities)


class EmotionFusion:
    every_frame = True  # the eye gate follows every frame; expression is sampled
    outputs = SPEC.outputs

    def __init__(self, spec=None, window: float = 2.0, interval: float = 0.25):
        self.spec, self.name = spec, spec.name if spec is not None else "emotion"
        self.window, self.interval = window, interval
        self.expression = load("expression", Task.ANALYZER)
        self.eye_behaviour = EyeBehaviour()

    def start(self) -> FusionState:
        return FusionState(self.eye_behaviour.start())

    def update(self, state: FusionState, time: float, image: np.ndarray, face: Face) -> list[TrackEvent]:
        if state.window_start is None:
            state.window_start = time
        eye_events = self.eye_behaviour.update(state.eyes, time, image, face)
        state.blinks += sum(e.kind == "blink" for e in eye_events)
        events = []
        if time - state.window_start >= self.window:
            events += self._close(state, time)
        if face.score > 0 and time - state.last_sample >= self.interval:  # detected faces only
            state.last_sample = time
            face_p, eye_p = self.expression.predict_all(expression_crop(image, face.landmarks)[None])
            state.faces.append(face_p[0])
            if eye_p is not None and state.eyes.closed_since is None:
                state.eye_cues.append(eye_p[0])
        return events

    def _close(self, state: FusionState, time: float) -> list[TrackEvent]:
        start, state.window_start = state.window_start, time
        faces, eye_cues, blinks = state.faces, state.eye_cues, state.blinks
        state.faces, state.eye_cues, state.blinks = [], [], 0
        if not faces:
            return []
        face_p = np.mean(faces, 0)
        eye_p = np.mean(eye_cues, 0) if eye_cues else None
        fused = fuse(face_p[None], None if eye_p is None else eye_p[None])[0]
        state.windows.append((time - start, fused))
        shut = sum(min(e, time) - max(s, start) for s, e, _ in state.eyes.blinks if e > start)
        data = {"emotion": to_label(fused), "face": to_label(face_p), "blinks": blinks,
                "eyes_shut": round(shut / max(time - start, 1e-6), 3), "samples": len(faces)}
        if eye_p is not None:
            data["eyes"] = to_label(eye_p)
        return [TrackEvent("emotion", start, time, data)]

    def finish(self, state: FusionState) -> dict:
        if state.window_start is not None and state.eyes.times:
            self._close(state, state.eyes.times[-1])
        if not state.windows:
            return {}
        w = np.array([d for d, _ in state.windows]) + 1e-6
        mean = (w[:, None] * np.array([p for _, p in state.windows])).sum(0) / w.sum()
        return {"emotion": Label(EXPRESSIONS[int(np.argmax(mean))], float(mean.max()),
                                 dict(zip(EXPRESSIONS, map(float, mean))))}
