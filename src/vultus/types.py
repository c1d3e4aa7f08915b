"""Typed results that every stage speaks: frozen dataclasses with NumPy fields.

`Face` is the one container that flows through detection, alignment, embedding and analysis;
later stages return a new `Face` with more fields filled (`dataclasses.replace`), never mutate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


def _round(a: np.ndarray, nd: int = 2) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


@dataclass(frozen=True)
class Quality:
    """How usable a face is for recognition (see `vultus.quality`)."""

    face_size: float  # inter-ocular distance in pixels
    sharpness: float  # variance of the Laplacian on the aligned 112 px crop
    yaw: float  # pose proxy in [-1, 1]: nose offset from the eye midline, 0 = frontal
    roll: float  # degrees of the eye line from horizontal
    score: float  # detector confidence

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


@dataclass(frozen=True, eq=False)
class Mesh:
    """Dense landmarks of one face (filled by a `Landmarker`).

    points: (N, 3) float32, x and y in pixels of the source image, z relative depth in the same
        pixel scale (smaller is closer to the camera). N = 468 for MediaPipe's Face Mesh; the
        vertex meanings and regions are in `vultus.mesh`.
    score: confidence that the crop holds a face (0..1).
    iris: (10, 3) or None: per eye the iris centre then 4 contour points, image-left eye first.
    """

    points: np.ndarray
    score: float
    iris: np.ndarray | None = None
    model: str = ""

    def landmarks68(self) -> np.ndarray:
        """The (68, 2) iBUG 300-W points, through the documented mapping in `vultus.mesh`."""
        from .mesh import to68

        return to68(self.points)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"model": self.model, "score": round(float(self.score), 4),
                             "points": _round(self.points, 1)}
        if self.iris is not None:
            d["iris"] = _round(self.iris, 1)
        return d


@dataclass(frozen=True)
class Label:
    """A class decision of an analyzer: the winning class, its probability, all class probabilities."""

    value: str
    confidence: float
    scores: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "confidence": round(float(self.confidence), 4)}
        if self.scores:
            d["scores"] = {k: round(float(v), 4) for k, v in self.scores.items()}
        return d


@dataclass(frozen=True)
class Estimate:
    """A number an analyzer estimates, with its unit and, when known, an interval around it."""

    value: float
    unit: str = ""
    low: float | None = None
    high: float | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": round(float(self.value), 3), "unit": self.unit}
        if self.low is not None and self.high is not None:
            d["low"], d["high"] = round(float(self.low), 3), round(float(self.high), 3)
        if self.confidence is not None:
            d["confidence"] = round(float(self.confidence), 4)
        return d


@dataclass(frozen=True)
class Liveness:
    """A presentation attack detector's finding about one face: live or not, the model's score
    (higher = more likely live) and the threshold it was held against."""

    live: bool
    score: float
    threshold: float
    model: str = ""
    frames: int = 1  # how many frames the score averages (video)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"live": self.live, "score": round(float(self.score), 4),
                             "threshold": round(float(self.threshold), 4), "model": self.model}
        if self.frames != 1:
            d["frames"] = self.frames
        return d

    @classmethod
    def combine(cls, values: "list[Liveness]", weights: np.ndarray) -> "Liveness":
        """One finding from several frames of the same face: the weighted mean score."""
        score = float(np.average([v.score for v in values], weights=weights))
        first = values[0]
        return cls(score >= first.threshold, score, first.threshold, first.model, sum(v.frames for v in values))


def to_jsonable(value: Any) -> Any:
    """Analysis results as plain JSON values (typed results by their `to_dict`)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _round(value, 4)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True, eq=False)
class Face:
    """One face in one image.

    box: (x1, y1, x2, y2) in pixels of the source image.
    landmarks: (5, 2) array: right eye, left eye (as seen in the image: image-left first),
        nose tip, right mouth corner, left mouth corner.
    embeddings: model name -> unit vector, filled by `Pipeline.embed`.
    mesh: dense landmarks, filled by a `Landmarker`.
    attributes: output name -> result (`Label`, `Estimate`, ...), filled by analyzers.
    track_id: the track this face belongs to, in video.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    quality: Quality | None = None
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    mesh: Mesh | None = None
    track_id: int | None = None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def with_attributes(self, **results: Any) -> "Face":
        """A copy with analysis results added (analyzers return faces made this way)."""
        from dataclasses import replace

        return replace(self, attributes={**self.attributes, **results})

    def to_dict(self, with_embeddings: bool = False, with_mesh: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "box": _round(self.box, 1),
            "score": round(float(self.score), 4),
            "landmarks": _round(self.landmarks, 1),
        }
        if self.track_id is not None:
            d["track_id"] = self.track_id
        if self.quality is not None:
            d["quality"] = self.quality.to_dict()
        if self.attributes:
            d["attributes"] = to_jsonable(self.attributes)
        if with_mesh and self.mesh is not None:
            d["mesh"] = self.mesh.to_dict()
        if with_embeddings:
            d["embeddings"] = {k: np.round(v.astype(np.float64), 6).tolist() for k, v in self.embeddings.items()}
        return d


@dataclass(frozen=True)
class Verification:
    """Are two faces the same person?"""

    same: bool
    score: float
    threshold: float
    model: str
    target_far: float | None  # None when the best-accuracy threshold was used
    liveness: Any = None  # a LivenessReport when a liveness requirement was checked

    def to_dict(self) -> dict[str, Any]:
        d = {
            "same": self.same,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "model": self.model,
            "target_far": self.target_far,
        }
        if self.liveness is not None:
            d["liveness"] = self.liveness.to_dict()
        return d


@dataclass(frozen=True)
class Candidate:
    identity: str
    score: float


@dataclass(frozen=True)
class Identification:
    """The decision for one face against a gallery: a known identity, or `None` for unknown."""

    face: Face
    identity: str | None
    score: float
    threshold: float
    model: str
    target_far: float | None  # the asked rate of unknown faces taken for someone (per search)
    candidates: tuple[Candidate, ...] = ()
    comparison_far: float | None = None  # the per-comparison FAR whose threshold decided
    liveness: Any = None  # a LivenessReport (this face, the session) when a liveness requirement was checked

    @property
    def known(self) -> bool:
        return self.identity is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "known": self.known,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "model": self.model,
            "target_far": self.target_far,
            "comparison_far": self.comparison_far,
            "box": _round(self.face.box, 1),
            "candidates": [{"identity": c.identity, "score": round(c.score, 4)} for c in self.candidates],
            **({"liveness": self.liveness.to_dict()} if self.liveness is not None else {}),
        }
