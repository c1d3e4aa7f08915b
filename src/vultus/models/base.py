"""The small protocols every stage implements, one per `Task`.

A stage is a class registered with a `ModelSpec` in its own module; the pipeline, the CLI, video
and the service find it by name and call it only through these methods. All stages are shared
between threads (the registry loads one instance per process): keep per-call state in locals and
per-video state in the state objects the caller passes in, never on `self`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from ..types import Face


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 image, best score first, each with 5 landmarks."""
        ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int
    crop_size: int  # side of the square aligned crop the model expects
    template: np.ndarray  # (5, 2) landmark positions in that crop

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(N, crop, crop, 3) RGB uint8 aligned crops -> (N, dim) float32 unit vectors."""
        ...


@runtime_checkable
class Landmarker(Protocol):
    name: str

    def landmark(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """The same faces, each with `mesh` filled (dense 2-D/3-D landmarks)."""
        ...


@runtime_checkable
class FaceAnalyzer(Protocol):
    """Adds named results to each face: `outputs` names them (e.g. "age", "gender")."""

    name: str
    outputs: tuple[str, ...]

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """The same faces with `attributes[output]` set for every output (`Label`, `Estimate`...)."""
        ...


@dataclass(frozen=True)
class TrackEvent:
    """Something a track analyzer saw at a time or over a span (a blink, an expression segment)."""

    kind: str
    start: float  # seconds
    end: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..types import to_jsonable

        d: dict[str, Any] = {"kind": self.kind, "start": round(self.start, 3)}
        if self.end is not None:
            d["end"] = round(self.end, 3)
        if self.data:
            d.update(to_jsonable(self.data))
        return d


@runtime_checkable
class TrackAnalyzer(Protocol):
    """Sees one track's faces over time; reports events as they happen and a summary at the end.

    `every_frame`: True to get every frame the track is visible (predicted boxes included, the
    face's `score` is 0 there), False for detected faces only.
    """

    name: str
    outputs: tuple[str, ...]
    every_frame: bool

    def start(self) -> Any:
        """A fresh state for a new track (the caller keeps it)."""
        ...

    def update(self, state: Any, time: float, image: np.ndarray, face: Face) -> list[TrackEvent]:
        ...

    def finish(self, state: Any) -> Mapping[str, Any]:
        """The track's summary: output name -> result."""
        ...


@runtime_checkable
class FaceTransform(Protocol):
    """Changes faces in an image (anonymization). `context` is a dict the caller keeps per video
    (or None for a still image), so a transform can keep per-track choices stable over time."""

    name: str

    def apply(self, image: np.ndarray, faces: list[Face], context: dict | None = None) -> np.ndarray:
        """A new RGB image; the input is left unchanged."""
        ...


@dataclass(frozen=True)
class SourceVerdict:
    """A source check's finding about a capture session: genuine or not, and why."""

    genuine: bool
    score: float  # higher = more suspicious
    threshold: float
    reasons: tuple[tuple[str, float], ...] = ()  # (feature, contribution), strongest first
    check: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "genuine": self.genuine, "score": round(self.score, 4),
                "threshold": round(self.threshold, 4),
                "reasons": [{"feature": f, "contribution": round(c, 4)} for f, c in self.reasons]}


@runtime_checkable
class SourceCheck(Protocol):
    """A verdict about where frames come from (a real camera, or a virtual one injecting video)."""

    name: str

    def check(self, session: Mapping[str, Any]) -> SourceVerdict:
        ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def faces_from_arrays(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
                      min_size: float) -> list[Face]:
    """Build `Face`s (best first), dropping boxes smaller than `min_size` pixels on the short side."""
    out = []
    for i in np.argsort(-scores):
        b = boxes[i].astype(np.float32)
        if min(b[2] - b[0], b[3] - b[1]) < min_size:
            continue
        out.append(Face(box=b, score=float(scores[i]), landmarks=landmarks[i].reshape(5, 2).astype(np.float32)))
    return out
