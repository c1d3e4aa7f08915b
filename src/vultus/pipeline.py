"""The one way through: image -> detect -> (landmark) -> align -> embed -> analyze. Video, the
service, the gallery and the CLI all call this; none of them copy it."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from . import quality as _quality
from .align import ARCFACE_112, align
from .decide import DEFAULT_FAR, Recognizer
from .errors import ImageError, ModelError
from .io import ImageInput, load_image
from .models import registry
from .models.base import FaceAnalyzer, l2_normalize
from .models.registry import Task
from .types import Face, Verification

if TYPE_CHECKING:
    from .liveness import LivenessCheck

DEFAULT_DETECTOR = "yunet"
DEFAULT_RECOGNIZER = "sface"
DEFAULT_LANDMARKER = "facemesh"


def parse_names(names: str | Iterable[str] | None) -> list[str]:
    """`"a,b"` or `["a", "b,c"]` -> `["a", "b", "c"]` (order kept, duplicates dropped)."""
    if names is None:
        return []
    parts = [names] if isinstance(names, str) else list(names)
    return list(dict.fromkeys(p.strip() for part in parts for p in part.split(",") if p.strip()))


def load_analyzers(names: str | Iterable[str | FaceAnalyzer] | None) -> list[FaceAnalyzer]:
    """Analyzer instances by name (shared, loaded once); an unknown name lists the known ones."""
    items = [names] if isinstance(names, str) else list(names or [])
    out = []
    for item in items:
        if isinstance(item, str):
            out += [registry.load(n, Task.ANALYZER) for n in parse_names(item)]
        else:
            out.append(item)
    return out


class Pipeline:
    """A detector, a recognizer (one embedder or a fusion) and optional analyzers, loaded once.

    Thread-safe: models run on the shared runtime, which gives each thread its own inference
    request, so one Pipeline serves many threads. Embedders and the landmarker load on first use.
    """

    def __init__(self, detector: str = DEFAULT_DETECTOR, recognizer: str | Recognizer = DEFAULT_RECOGNIZER,
                 detector_options: Mapping[str, Any] | None = None,
                 analyzers: str | Sequence[str | FaceAnalyzer] = (), landmarker: str = DEFAULT_LANDMARKER):
        self.recognizer = recognizer if isinstance(recognizer, Recognizer) else Recognizer.parse(recognizer)
        registry.get(detector, Task.DETECTOR)  # fail early on an unknown name
        self.detector = (registry.create(detector, Task.DETECTOR, **detector_options) if detector_options
                         else registry.load(detector, Task.DETECTOR))
        self.analyzers = load_analyzers(analyzers)
        self.landmarker_name = landmarker

    def __repr__(self) -> str:
        names = [a.name for a in self.analyzers]
        return f"Pipeline(detector={self.detector.name!r}, recognizer={self.recognizer.key!r}, analyzers={names})"

    @cached_property
    def embedders(self) -> list:
        return [registry.load(m, Task.EMBEDDER) for m in self.recognizer.models]

    @cached_property
    def landmarker(self):
        return registry.load(self.landmarker_name, Task.LANDMARKER)

    # -- stages ------------------------------------------------------------------------------------
    def detect(self, image: ImageInput) -> list[Face]:
        """Every face, best score first, with its quality measured."""
        return self._detect(load_image(image))[0]

    def _detect(self, img: np.ndarray) -> tuple[list[Face], np.ndarray]:
        """Faces with quality, and their ArcFace 112 crops (measured for quality; reused to embed)."""
        faces = self.detector.detect(img)
        crops = np.stack([align(img, f.landmarks, ARCFACE_112, 112) for f in faces]) if faces else \
            np.zeros((0, 112, 112, 3), np.uint8)
        return [dataclasses.replace(f, quality=_quality.assess(f, c)) for f, c in zip(faces, crops)], crops

    def embed(self, image: ImageInput, faces: list[Face] | None = None) -> list[Face]:
        """Detect (unless `faces` are given) and embed every face with every model of the recognizer."""
        img = load_image(image)
        crops = None
        if faces is None:
            faces, crops = self._detect(img)
        return self._embed_with(img, faces, crops) if faces else []

    def embed_views(self, img: np.ndarray, faces: list[Face], mirrored: bool,
                    arcface_crops: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Per model: (N, dim) embeddings of the aligned faces and, if asked, of their mirror images.
        `arcface_crops`: the faces' ArcFace 112 crops when already made (detection makes them)."""
        out = {}
        for emb in self.embedders:
            if arcface_crops is not None and emb.crop_size == 112 and np.array_equal(emb.template, ARCFACE_112):
                crops = arcface_crops
            else:
                crops = np.stack([align(img, f.landmarks, emb.template, emb.crop_size) for f in faces])
            flipped = emb.embed(np.ascontiguousarray(crops[:, :, ::-1])) if mirrored else None
            out[emb.name] = (emb.embed(crops), flipped)
        return out

    def embed_one(self, image: ImageInput, name: str | None = None) -> Face:
        """The largest face of an image, embedded; an `ImageError` if there is none."""
        img = load_image(image, name=name)
        faces, crops = self._detect(img)
        if not faces:
            raise ImageError(f"{name or 'image'}: no face found")
        i = max(range(len(faces)), key=lambda k: faces[k].width * faces[k].height)
        return self._embed_with(img, [faces[i]], crops[i:i + 1])[0]

    def _embed_with(self, img: np.ndarray, faces: list[Face], crops: np.ndarray | None) -> list[Face]:
        # flip test-time augmentation: the mean of the face's and its mirror image's vectors
        vectors = {name: plain if mirrored is None else l2_normalize(plain + mirrored)
                   for name, (plain, mirrored) in self.embed_views(img, faces, self.recognizer.flip, crops).items()}
        return [dataclasses.replace(f, embeddings={**f.embeddings, **{m: v[i] for m, v in vectors.items()}})
                for i, f in enumerate(faces)]

    def landmark(self, image: ImageInput, faces: list[Face] | None = None) -> list[Face]:
        """Detect (unless given) and add dense landmarks (`Face.mesh`) to every face."""
        img = load_image(image)
        faces = self.detect(img) if faces is None else faces
        return self.landmarker.landmark(img, faces) if faces else []

    def analyze(self, image: ImageInput, faces: list[Face] | None = None,
                analyzers: str | Sequence[str | FaceAnalyzer] | None = None) -> list[Face]:
        """Detect (unless given) and run the analyzers (this pipeline's, or `analyzers`) on every face;
        the stages they require (dense landmarks, embeddings) run first, once."""
        img = load_image(image)
        faces = self.detect(img) if faces is None else faces
        return self.run_analyzers(img, faces, self.analyzers if analyzers is None else load_analyzers(analyzers))

    def run_analyzers(self, img: np.ndarray, faces: list[Face], analyzers: Sequence[FaceAnalyzer]) -> list[Face]:
        if not faces or not analyzers:
            return faces
        needs = {t for a in analyzers for t in requirements(a)}
        if Task.LANDMARKER in needs and any(f.mesh is None for f in faces):
            faces = self.landmarker.landmark(img, faces)
        if Task.EMBEDDER in needs and any(m not in f.embeddings for f in faces for m in self.recognizer.models):
            faces = self.embed(img, faces)
        for a in analyzers:
            faces = a.analyze(img, faces)
        return faces

    # -- decisions ---------------------------------------------------------------------------------
    def compare(self, a: Face, b: Face) -> float:
        return self.recognizer.score(a.embeddings, b.embeddings)

    def verify(self, a: ImageInput, b: ImageInput, target_far: float | None = DEFAULT_FAR,
               names: tuple[str | None, str | None] = (None, None), liveness: "LivenessCheck | None" = None,
               session: Mapping[str, Any] | str | None = None) -> Verification:
        """Same person or not, comparing the largest face of each image. With `liveness`, both faces
        (and the capture `session`, if given) must pass it first, or a `LivenessError` refuses."""
        verdict = liveness.screen_session(session) if liveness is not None else None
        imgs = [load_image(x, name=n) for x, n in zip((a, b), names)]
        fa, fb = (self.embed_one(img, n) for img, n in zip(imgs, names))
        report = None
        if liveness is not None:
            report = liveness.require([(n or label, liveness.faces(img, [f])[0]) for img, f, n, label
                                       in zip(imgs, (fa, fb), names, ("a", "b"))], session, verdict)
        score = self.compare(fa, fb)
        threshold, far = self.recognizer.threshold(target_far)
        return Verification(same=score >= threshold, score=score, threshold=threshold,
                            model=self.recognizer.key, target_far=far, liveness=report)


def requirements(stage: Any) -> tuple[Task, ...]:
    """The stages a model needs before it runs, from its spec."""
    spec = getattr(stage, "spec", None)
    return tuple(spec.requires) if spec is not None else tuple(getattr(stage, "requires", ()))


def known_analyzers() -> list[str]:
    return [s.name for s in registry.specs(Task.ANALYZER)]


__all__ = ["DEFAULT_DETECTOR", "DEFAULT_LANDMARKER", "DEFAULT_RECOGNIZER", "ModelError", "Pipeline",
           "known_analyzers", "load_analyzers", "parse_names", "requirements"]
