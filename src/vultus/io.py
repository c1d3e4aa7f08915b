"""Image loading: every input kind becomes an RGB uint8 array, or a clear `ImageError`."""

from __future__ import annotations

import io as _io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

try:  # HEIC/HEIF support is optional; Pillow reads AVIF natively
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pass

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image]

#: Refuse anything larger: a decompression bomb or an absurd upload, not a photo.
MAX_PIXELS = 80_000_000
MAX_BYTES = 100 * 1024 * 1024
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm",
                  ".pbm", ".heic", ".heif", ".avif"}


def describe(source: ImageInput, name: str | None = None) -> str:
    """A short human name for an input, used in every error message."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    return f"<{type(source).__name__}>"


def load_image(source: ImageInput, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return an (H, W, 3) RGB uint8 array from a path, bytes, NumPy array or PIL image.

    EXIF orientation is applied; grey, RGBA, 16-bit and palette images are converted.
    Raises `ImageError` naming the input for anything that is not a readable image.
    """
    label = describe(source, name)
    if isinstance(source, np.ndarray):
        return _from_array(source, label)
    if isinstance(source, Image.Image):
        return _from_pil(source, label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if path.is_dir():
            raise ImageError(f"{label}: is a folder, not an image")
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{label}: empty file")
        if size > MAX_BYTES:
            raise ImageError(f"{label}: file of {size} bytes is over the {MAX_BYTES} byte limit")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageError(f"{label}: empty data")
        if len(data) > MAX_BYTES:
            raise ImageError(f"{label}: {len(data)} bytes is over the {MAX_BYTES} byte limit")
    else:
        raise ImageError(f"{label}: unsupported input type {type(source).__name__}; "
                         "give a path, bytes, a NumPy array or a PIL image")
    return _decode(data, label, max_pixels)


def _decode(data: bytes, label: str, max_pixels: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Pillow warns before it errors on bombs; we turn both into one clear ImageError.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(_io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(f"{label}: not an image, or a format vultus cannot read") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{label}: image is too large (over {max_pixels} pixels)") from None
        except Exception as e:  # corrupt headers raise many kinds of errors
            raise ImageError(f"{label}: cannot read image ({e})") from None
        return _from_pil(img, label, max_pixels)


def _from_pil(img: Image.Image, label: str, max_pixels: int) -> np.ndarray:
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(f"{label}: image of {w}x{h} pixels is over the {max_pixels} pixel limit")
    if w == 0 or h == 0:
        raise ImageError(f"{label}: image has no pixels")
    try:
        img.load()  # forces the full decode: truncated files fail here
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grey: scale the actual range to 8 bits instead of clipping it
            a = np.asarray(img, dtype=np.float64)
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
            return np.repeat(a.astype(np.uint8)[:, :, None], 3, axis=2)
        if img.mode == "RGBA" or img.mode == "LA" or (img.mode == "P" and "transparency" in img.info):
            # composite on white so transparent areas do not turn black
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except ImageError:
        raise
    except OSError as e:
        raise ImageError(f"{label}: truncated or corrupt image ({e})") from None
    except Exception as e:
        raise ImageError(f"{label}: cannot decode image ({e})") from None
    return np.ascontiguousarray(arr)


def _from_array(a: np.ndarray, label: str) -> np.ndarray:
    if a.size == 0:
        raise ImageError(f"{label}: empty array")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(f"{label}: expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"{label}: array of {a.shape[1]}x{a.shape[0]} pixels is over the pixel limit")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype in (np.float32, np.float64):
        if not np.isfinite(a).all():
            raise ImageError(f"{label}: array holds NaN or infinite values")
        a = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(f"{label}: unsupported array dtype {a.dtype}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    return np.ascontiguousarray(a)


def iter_image_paths(inputs: list[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, sorted) into image files; keep explicit files as given."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out
