"""The one way through: image -> detect -> align -> embed. Video, the service, the gallery and the
analyzers all call this; none of them copy it."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from . import quality as _quality
from .align import ARCFACE_112, align
from .decide import DEFAULT_FAR, Recognizer
from .errors import ImageError
from .io import ImageInput, load_image
from .models import registry
from .models.base import l2_normalize
from .types import Face, Verification

DEFAULT_DETECTOR = "yunet"
DEFAULT_RECOGNIZER = "sface"


class Pipeline:
    """A detector and a recognizer (one embedder or a fusion), loaded once and reused.

    Thread-safe: each model guards its own session, so one Pipeline can serve many threads.
    """

    def __init__(self, detector: str = DEFAULT_DETECTOR, recognizer: str | Recognizer = DEFAULT_RECOGNIZER,
                 detector_options: Mapping[str, Any] | None = None):
        self.recognizer = recognizer if isinstance(recognizer, Recognizer) else Recognizer.parse(recognizer)
        registry.get(detector, "detector")  # fail early on an unknown name
        self.detector = (registry.create(detector, "detector", **detector_options) if detector_options
                         else registry.load(detector, "detector"))
        self.embedders = [registry.load(m, "embedder") for m in self.recognizer.models]

    def __repr__(self) -> str:
        return f"Pipeline(detector={self.detector.name!r}, recognizer={self.recognizer.key!r})"

    # -- stages ------------------------------------------------------------------------------------
    def detect(self, image: ImageInput) -> list[Face]:
        """Every face, best score first, with its quality measured."""
        img = load_image(image)
        return [self._with_quality(img, f) for f in self.detector.detect(img)]

    def embed(self, image: ImageInput, faces: list[Face] | None = None) -> list[Face]:
        """Detect (unless `faces` are given) and embed every face with every model of the recognizer."""
        img = load_image(image)
        faces = self.detect(img) if faces is None else faces
        if not faces:
            return []
        vectors = {}
        for name, (plain, mirrored) in self.embed_views(img, faces, self.recognizer.flip).items():
            # flip test-time augmentation: the mean of the face and its mirror image
            vectors[name] = plain if mirrored is None else l2_normalize(plain + mirrored)
        return [dataclasses.replace(f, embeddings={m: vectors[m][i] for m in vectors})
                for i, f in enumerate(faces)]

    def embed_views(self, img: np.ndarray, faces: list[Face], mirrored: bool) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Per model: (N, dim) embeddings of the aligned faces and, if asked, of their mirror images."""
        out = {}
        for emb in self.embedders:
            crops = np.stack([align(img, f.landmarks, emb.template, emb.crop_size) for f in faces])
            flipped = emb.embed(np.ascontiguousarray(crops[:, :, ::-1])) if mirrored else None
            out[emb.name] = (emb.embed(crops), flipped)
        return out

    def embed_one(self, image: ImageInput, name: str | None = None) -> Face:
        """The largest face of an image, embedded; an `ImageError` if there is none."""
        img = load_image(image, name=name)
        faces = self.detect(img)
        if not faces:
            raise ImageError(f"{name or 'image'}: no face found")
        largest = max(faces, key=lambda f: f.width * f.height)
        return self.embed(img, [largest])[0]

    # -- decisions ---------------------------------------------------------------------------------
    def compare(self, a: Face, b: Face) -> float:
        return self.recognizer.score(a.embeddings, b.embeddings)

    def verify(self, a: ImageInput, b: ImageInput, target_far: float | None = DEFAULT_FAR,
               names: tuple[str | None, str | None] = (None, None)) -> Verification:
        """Same person or not, comparing the largest face of each image."""
        fa, fb = self.embed_one(a, names[0]), self.embed_one(b, names[1])
        score = self.compare(fa, fb)
        threshold, far = self.recognizer.threshold(target_far)
        return Verification(same=score >= threshold, score=score, threshold=threshold,
                            model=self.recognizer.key, target_far=far)

    @staticmethod
    def _with_quality(img: np.ndarray, face: Face) -> Face:
        crop = align(img, face.landmarks, ARCFACE_112, 112)
        return dataclasses.replace(face, quality=_quality.assess(face, crop))
