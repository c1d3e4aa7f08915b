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
class Face:
    """One face in one image.

    box: (x1, y1, x2, y2) in pixels of the source image.
    landmarks: (5, 2) array: right eye, left eye (as seen in the image: image-left first),
        nose tip, right mouth corner, left mouth corner.
    embeddings: model name -> unit vector, filled by `Pipeline.embed`.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    quality: Quality | None = None
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)  # filled by analyzers

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def to_dict(self, with_embeddings: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "box": _round(self.box, 1),
            "score": round(float(self.score), 4),
            "landmarks": _round(self.landmarks, 1),
        }
        if self.quality is not None:
            d["quality"] = self.quality.to_dict()
        if self.attributes:
            d["attributes"] = dict(self.attributes)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "model": self.model,
            "target_far": self.target_far,
        }


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
        }
