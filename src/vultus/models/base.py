"""The small protocols every detector and embedder implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
