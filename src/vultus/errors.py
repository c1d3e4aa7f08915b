"""Errors a user can cause and fix. The CLI turns them into exit code 1, the API into a 4xx body."""

from __future__ import annotations


class VultusError(Exception):
    """Base class: a problem with the user's input or request, never a bug in vultus."""

    #: machine-readable kind, used as the `type` of API problem bodies and in `--json` errors
    kind = "error"


class ImageError(VultusError):
    """An image could not be read: names the input and the reason."""

    kind = "bad_image"


class ModelError(VultusError):
    """An unknown model name, or a model whose weights are not installed."""

    kind = "bad_model"


class GalleryError(VultusError):
    """An unknown identity, a duplicate name, or a gallery built with other models."""

    kind = "gallery"


class NotFoundError(GalleryError):
    kind = "not_found"


class QualityError(VultusError):
    """A face refused for enrollment; `reasons` says why."""

    kind = "poor_quality"

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(message)
        self.reasons = reasons
