"""vultus: offline face detection, recognition and analysis on an ordinary CPU.

    import vultus
    faces = vultus.detect("photo.jpg")
    vultus.verify("a.jpg", "b.jpg").same
    with vultus.Gallery("people.db") as g:
        g.enroll("ada", ["ada1.jpg", "ada2.jpg"])
        [r.identity for r in g.identify("group.jpg")]
"""

from __future__ import annotations

from .decide import DEFAULT_FAR, Recognizer
from .errors import GalleryError, ImageError, ModelError, NotFoundError, QualityError, VultusError
from .gallery import Gallery
from .io import ImageInput, load_image
from .liveness import LivenessCheck, LivenessError
from .pipeline import Pipeline
from .types import Candidate, Face, Identification, Quality, Verification

__version__ = "0.1.0"


def detect(image: ImageInput, detector: str = "yunet") -> list[Face]:
    """Every face in an image (models load once per process and are reused)."""
    return Pipeline(detector).detect(image)


def verify(a: ImageInput, b: ImageInput, recognizer: str = "sface",
           target_far: float | None = DEFAULT_FAR) -> Verification:
    """Whether the largest faces of two images are the same person."""
    return Pipeline(recognizer=recognizer).verify(a, b, target_far)


def identify(image: ImageInput, gallery: Gallery, target_far: float | None = DEFAULT_FAR) -> list[Identification]:
    """Every face of an image against a gallery: a name, or None for unknown."""
    return gallery.identify(image, target_far)


__all__ = [
    "Candidate", "DEFAULT_FAR", "Face", "Gallery", "GalleryError", "Identification", "ImageError", "LivenessCheck",
    "LivenessError", "ModelError",
    "NotFoundError", "Pipeline", "Quality", "QualityError", "Recognizer", "Verification", "VultusError",
    "detect", "identify", "load_image", "verify",
]
