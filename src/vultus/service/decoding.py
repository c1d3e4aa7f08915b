"""Decoding uploads within memory and time, so a few small "bombs" cannot starve everyone else.

A 5 kB PNG can declare 40 megapixels: decoding it costs about 12 bytes of memory and 60 ns of CPU
per pixel (450 MiB and 2.3 s), and 20 at once took the server to 1.6 GiB while a normal identify
waited 18 s. So, for each request:

- the pixel count is read from the header first, and an image over `max_pixels` (16 MP by default
  in the service, a 4920x3264 photo) is refused (413) before anything is decoded;
- a JPEG up to 4x that is decoded at half size by the JPEG decoder itself (`draft`: the scaled
  inverse DCT never builds the full image), and the face coordinates are scaled back: the detector
  looks at 1280 pixels a side at most, so nothing is lost that it would have found;
- large images (over `small_pixels`) wait for a share of a pixel budget before they are decoded, and
  hold it until their request is answered: at most `budget_pixels` of large images are in memory at
  once, whatever arrives. Small images (ordinary photos) never wait for it, so they stay fast while
  large ones queue; large ones are decoded outside the compute threads for the same reason.
"""

from __future__ import annotations

import io
import math
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

import anyio
import numpy as np
from PIL import Image

from ..io import load_image
from .problems import Problem
from .uploads import Upload

#: A JPEG may declare this many times `max_pixels`: it is then decoded at half its size.
JPEG_REDUCIBLE = 4


@dataclass(frozen=True)
class Decoded:
    """An upload's pixels; `scale` converts its coordinates to the original image's (1 or 2)."""

    array: np.ndarray
    scale: float
    width: int  # of the original image, as the client sees it
    height: int


def header_size(upload: Upload) -> tuple[int, int, str] | None:
    """(width, height, format) from the image header, without decoding; None if unreadable (the
    decoder then says why, naming the upload). EXIF rotation is ignored: it keeps the pixel count."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(upload.data)) as im:
                return im.size[0], im.size[1], im.format or ""
        except Image.DecompressionBombError:
            return 2**31, 1, ""
        except Exception:
            return None


class DecodeGate:
    """The service's decoding limits (see the module docstring). One per server."""

    def __init__(self, max_pixels: int, budget_pixels: int, small_pixels: int):
        self.max_pixels, self.budget, self.small = max_pixels, budget_pixels, small_pixels
        self._used = 0
        self._changed: anyio.Condition | None = None  # made inside the event loop

    def pixels(self, upload: Upload, reducible: bool = True) -> int:
        """The pixels `upload` will take once decoded; 413 over the limit."""
        size = header_size(upload)
        if size is None:
            return 0
        w, h, fmt = size
        limit = self.max_pixels * (JPEG_REDUCIBLE if reducible and fmt == "JPEG" else 1)
        if w * h > limit:
            raise Problem(413, "too_large", f"{upload.label}: image of {w}x{h} pixels is over the "
                          f"{limit} pixel limit" + (" for JPEG" if limit > self.max_pixels else ""))
        return w * h if w * h <= self.max_pixels else math.ceil(w / 2) * math.ceil(h / 2)

    @asynccontextmanager
    async def reserve(self, uploads: list[Upload], reducible: bool = True) -> AsyncIterator[int]:
        """Check every upload's size, then wait until the large ones fit in the budget; yields
        their pixels (0 if all are small) and gives them back on exit."""
        need = min(self.budget, sum(p for p in (self.pixels(u, reducible) for u in uploads) if p > self.small))
        if not need:
            yield 0
            return
        if self._changed is None:
            self._changed = anyio.Condition()
        async with self._changed:
            while self._used + need > self.budget:
                await self._changed.wait()
            self._used += need
        try:
            yield need
        finally:
            with anyio.CancelScope(shield=True):
                async with self._changed:
                    self._used -= need
                    self._changed.notify_all()

    @asynccontextmanager
    async def decoded(self, uploads: list[Upload], limiter: Any) -> AsyncIterator[list[Decoded]]:
        """The uploads decoded within the limits; small ones in a thread of `limiter` (the
        compute threads), large ones in a thread of their own."""
        async with self.reserve(uploads) as large:
            images = await anyio.to_thread.run_sync(self._decode_all, uploads, limiter=None if large else limiter)
            yield images

    def _decode_all(self, uploads: list[Upload]) -> list[Decoded]:
        return [self.decode(u) for u in uploads]

    def decode(self, upload: Upload) -> Decoded:
        size = header_size(upload)
        if size is None or size[0] * size[1] <= self.max_pixels:
            array = load_image(upload.data, name=upload.label, max_pixels=self.max_pixels)
            return Decoded(array, 1.0, array.shape[1], array.shape[0])
        w, h, _ = size  # a JPEG over the limit (pixels() refused the others)
        with Image.open(io.BytesIO(upload.data)) as im:
            im.draft("RGB", (math.ceil(w / 2), math.ceil(h / 2)))
            scale = w / im.size[0]
            array = load_image(im, name=upload.label, max_pixels=self.max_pixels)
        height, width = (round(array.shape[0] * scale), round(array.shape[1] * scale))
        return Decoded(array, scale, width, height)


def rescale(face: dict[str, Any], scale: float) -> dict[str, Any]:
    """A face's pixel coordinates (box, landmarks, face size) in the original image."""
    if scale == 1.0:
        return face
    out = dict(face)
    if out.get("box") is not None:
        out["box"] = [round(v * scale, 1) for v in out["box"]]
    if out.get("landmarks") is not None:
        out["landmarks"] = [[round(v * scale, 1) for v in p] for p in out["landmarks"]]
    if isinstance(out.get("quality"), dict) and "face_size" in out["quality"]:
        out["quality"] = {**out["quality"], "face_size": round(out["quality"]["face_size"] * scale, 1)}
    return out
