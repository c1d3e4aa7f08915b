"""Analyzers over tracks: track analyzers by name, and face analyzers lifted onto tracks.

A `TrackAnalyzer` (e.g. eye behaviour) sees a track's faces over time. A `FaceAnalyzer` (age,
expression...) becomes one through `FaceOverTrack`: it analyses a track's detected faces at most
every `interval` seconds (video frames next to each other say the same thing), reports each result
as a timeline event, and sums the track up at the end: class labels by the quality-weighted mean of
their probabilities, numbers by the weighted median with the interquartile range.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import ModelError
from ..models import registry
from ..models.base import FaceAnalyzer, TrackEvent
from ..models.registry import Task
from ..pipeline import Pipeline, parse_names, requirements
from ..types import Estimate, Face, Label


def face_weight(face: Face) -> float:
    """How much a face's analysis counts in a track's summary: detector confidence times a size
    factor (saturating at 40 px between the eyes)."""
    q = face.quality
    return float(face.score) * (min(q.face_size / 40.0, 1.0) if q is not None else 1.0) + 1e-6


class FaceOverTrack:
    """A face analyzer run on a track's faces, summarised per track."""

    every_frame = False

    def __init__(self, analyzer: FaceAnalyzer, pipeline: Pipeline, interval: float = 0.5):
        self.analyzer, self.pipeline, self.interval = analyzer, pipeline, interval
        self.name, self.outputs = analyzer.name, tuple(analyzer.outputs)
        self.spec = getattr(analyzer, "spec", None)

    def start(self) -> dict[str, Any]:
        return {"last": -np.inf, "samples": []}

    def update(self, state: dict[str, Any], time: float, image: np.ndarray, face: Face) -> list[TrackEvent]:
        if time - state["last"] < self.interval:
            return []
        state["last"] = time
        face = self.pipeline.run_analyzers(image, [face], [self.analyzer])[0]
        results = {o: face.attributes[o] for o in self.outputs if o in face.attributes}
        state["samples"].append((face_weight(face), results))
        return [TrackEvent(self.name, time, data=results)]

    def finish(self, state: dict[str, Any]) -> dict[str, Any]:
        return summarize(state["samples"], self.outputs)


def summarize(samples: list[tuple[float, Mapping[str, Any]]], outputs: Iterable[str]) -> dict[str, Any]:
    """One result per output from weighted per-face results."""
    summary: dict[str, Any] = {}
    for o in outputs:
        pairs = [(w, r[o]) for w, r in samples if o in r]
        if not pairs:
            continue
        w = np.array([p[0] for p in pairs])
        values = [p[1] for p in pairs]
        if all(isinstance(v, Label) for v in values):
            classes = sorted({c for v in values for c in (v.scores or {v.value: v.confidence})})
            probs = np.array([[(v.scores or {v.value: v.confidence}).get(c, 0.0) for c in classes] for v in values])
            mean = (w[:, None] * probs).sum(0) / w.sum()
            k = int(np.argmax(mean))
            summary[o] = Label(classes[k], float(mean[k]), dict(zip(classes, map(float, mean))))
        elif all(isinstance(v, Estimate) for v in values):
            x = np.array([v.value for v in values])
            summary[o] = Estimate(_weighted_quantile(x, w, 0.5), values[0].unit,
                                  _weighted_quantile(x, w, 0.25), _weighted_quantile(x, w, 0.75))
        elif all(type(v) is type(values[0]) for v in values) and hasattr(type(values[0]), "combine"):
            summary[o] = type(values[0]).combine(values, w)  # a result type that knows how to pool itself
        else:  # plain values: the one from the best face
            summary[o] = values[int(np.argmax(w))]
    return summary


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    cum = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(int(np.searchsorted(cum, q)), len(x) - 1)])


def load_track_analyzers(names: str | Iterable[str] | None, pipeline: Pipeline, interval: float = 0.5) -> list:
    """Track analyzers by name: registered track analyzers as they are, face analyzers lifted."""
    out = []
    for name in parse_names(names):
        try:
            spec = registry.get(name)
        except ModelError:
            known = [s.name for s in registry.specs() if s.task in (Task.ANALYZER, Task.TRACK_ANALYZER)]
            raise ModelError(f"unknown analyzer {name!r}; known: {', '.join(known) or 'none'}") from None
        if spec.task == Task.TRACK_ANALYZER:
            out.append(registry.load(name, Task.TRACK_ANALYZER))
        elif spec.task == Task.ANALYZER:
            out.append(FaceOverTrack(registry.load(name, Task.ANALYZER), pipeline, interval))
        else:
            raise ModelError(f"{name!r} is a {spec.task}, not an analyzer")
    return out


class TrackAnalysis:
    """The analyzers' states for one track; feeds them faces and collects their events."""

    def __init__(self, analyzers: list, pipeline: Pipeline):
        self.analyzers, self.pipeline = analyzers, pipeline
        self.states = [a.start() for a in analyzers]
        self.events: list[TrackEvent] = []

    def update(self, time: float, image: np.ndarray, face: Face, detected: bool) -> None:
        prepared: Face | None = None
        for a, st in zip(self.analyzers, self.states):
            if not (detected or a.every_frame):
                continue
            if prepared is None:
                prepared = self._prepare(image, face)
            self.events += a.update(st, time, image, prepared)

    def _prepare(self, image: np.ndarray, face: Face) -> Face:
        """Run once per face what the track analyzers need (dense landmarks)."""
        needs = {t for a in self.analyzers if not isinstance(a, FaceOverTrack) for t in requirements(a)}
        if Task.LANDMARKER in needs and face.mesh is None:
            face = self.pipeline.landmarker.landmark(image, [face])[0]
        return face

    def finish(self) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for a, st in zip(self.analyzers, self.states):
            summary.update(a.finish(st))
        return summary


def predicted_face(last: Face, box: tuple[float, float, float, float]) -> Face:
    """A face on a frame without detection: the tracker's box, the last detected landmarks moved
    and scaled with it, score 0."""
    b = np.asarray(box, np.float32)
    old = last.box
    scale = max(b[2] - b[0], 1.0) / max(old[2] - old[0], 1.0)
    centre_old = (old[:2] + old[2:]) / 2
    centre = (b[:2] + b[2:]) / 2
    landmarks = (last.landmarks - centre_old) * scale + centre
    return dataclasses.replace(last, box=b, score=0.0, landmarks=landmarks.astype(np.float32), mesh=None,
                               embeddings={}, attributes={})
