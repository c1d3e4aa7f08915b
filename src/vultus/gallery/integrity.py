"""Checks that keep damaged or hostile data out of the gallery: identity names, metadata, templates.

A template whose bits were flipped on disk can have a norm of 1e37 and then wins every search
(SQLite's own integrity check does not look inside blobs). So each stored vector carries a
checksum over its face id and bytes, and every vector is checked (finite, unit norm, checksum)
before it enters a search index.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from typing import Any

import numpy as np

from ..errors import GalleryError

MAX_NAME = 200
MAX_METADATA_BYTES = 16 * 1024
NORM_TOLERANCE = 1e-3
# Unicode categories refused in names: controls (Cc: DEL, U+0085), format (Cf: zero-width space,
# bidirectional overrides) and surrogates. They are invisible or reorder text, so two names that
# look the same could be two people. (The API's schema pattern, service/names.py, says the same.)
_REFUSED = {"Cc", "Cf", "Cs"}


def clean_name(name: str) -> str:
    """The canonical form of an identity name (NFC, trimmed), or a GalleryError saying why not."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise GalleryError("an identity needs a non-empty name")
    bad = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _REFUSED})
    if bad:
        raise GalleryError(f"invalid identity name {name[:40]!r}: it contains invisible or control "
                           f"characters ({', '.join(bad[:5])})")
    if len(name) > MAX_NAME:
        raise GalleryError(f"invalid identity name {name[:40]!r}...: at most {MAX_NAME} characters")
    return name


def lookup_name(name: str) -> str:
    """How a name given to find an identity is compared: the same normal form as when stored."""
    return unicodedata.normalize("NFC", name or "").strip()


def metadata_json(metadata: dict[str, Any] | None) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise GalleryError("metadata must be a JSON object")
    try:
        text = json.dumps(metadata, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise GalleryError(f"metadata is not JSON: {e}") from None
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise GalleryError(f"metadata is {len(text.encode()):,} bytes; at most {MAX_METADATA_BYTES:,} are kept "
                           "per identity (store large documents elsewhere and keep a reference here)")
    return text


@cache
def _weights(dim: int) -> np.ndarray:
    # odd multipliers are invertible modulo 2**64: a change to any one 32-bit word changes the sum
    return np.random.default_rng(0x76756C74).integers(1, 2**32, dim + 1, dtype=np.uint64) | np.uint64(1)


def checksums(face_ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """One int64 checksum per row over the face id and the float32 bits (vectorized, ~1 ns/value)."""
    v = np.ascontiguousarray(vectors, np.float32)
    words = v.view(np.uint32).astype(np.uint64)
    w = _weights(v.shape[1])
    with np.errstate(over="ignore"):
        s = words @ w[1:] + np.asarray(face_ids, np.int64).astype(np.uint64) * w[0]
    return s.view(np.int64)


def problems(face_ids: np.ndarray, vectors: np.ndarray, stored: np.ndarray | None) -> dict[int, str]:
    """{face id: what is wrong} for rows that must not be searched."""
    v = np.asarray(vectors, np.float32)
    bad: dict[int, str] = {}
    if not len(v):
        return bad
    finite = np.isfinite(v).all(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.where(finite[:, None], v, 0), axis=1)
    ok_norm = np.abs(norms - 1) <= NORM_TOLERANCE
    if stored is not None:
        known = stored != 0  # 0: written before checksums existed (checked by norm only)
        ok_sum = ~known | (checksums(face_ids, np.where(finite[:, None], v, 0)) == stored)
    else:
        ok_sum = np.ones(len(v), bool)
    for k in np.flatnonzero(~(finite & ok_norm & ok_sum)).tolist():
        fid = int(face_ids[k])
        if not finite[k]:
            bad[fid] = "not finite (NaN or infinity)"
        elif not ok_norm[k]:
            bad[fid] = f"norm {norms[k]:.3g}, not 1"
        else:
            bad[fid] = "checksum mismatch"
    return bad
