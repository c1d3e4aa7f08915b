"""vultus: offline face detection, recognition and analysis on an ordinary CPU."""

from .errors import GalleryError, ImageError, ModelError, QualityError, VultusError
from .io import load_image
from .types import Candidate, Face, Identification, Quality, Verification

__version__ = "0.1.0"

__all__ = [
    "Candidate", "Face", "GalleryError", "Identification", "ImageError", "ModelError", "Quality",
    "QualityError", "Verification", "VultusError", "load_image",
]
