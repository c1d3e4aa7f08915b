"""`Gallery`: identities and templates in the SQLite store, searched through one index per embedding model."""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
from PIL import Image

from ..decide import DEFAULT_FAR, Recognizer
from ..errors import GalleryError, ImageError, QualityError, VultusError
from ..io import ImageInput, describe, load_image
from ..models import registry
from ..pipeline import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, Pipeline
from ..quality import QualityPolicy
from ..types import Candidate, Face, Identification
from .index import ExactIndex, Index
from .store import FaceRecord, IdentityInfo, Store


@dataclass(frozen=True)
class EnrollResult:
    name: str
    added: int
    face_ids: tuple[int, ...]
    skipped: tuple[tuple[str, str], ...]  # (input, reason)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "added": self.added, "face_ids": list(self.face_ids),
                "skipped": [{"input": s, "reason": r} for s, r in self.skipped]}


class Gallery:
    """Identities and their face templates on disk, searchable by any calibrated recognizer.

    The recognizer (which embedders, flip or not) is fixed when the gallery is created and stored
    in it; every later enroll and search uses the same one. Opening the same file from several
    processes is safe: each sees the others' commits before its next search.
    """

    def __init__(self, path: str | Path, recognizer: str | None = None, detector: str = DEFAULT_DETECTOR,
                 index: str = "exact", pipeline: Pipeline | None = None):
        self.store = Store(path)
        stored = self.store.get_meta("recognizer")
        wanted = recognizer or (pipeline.recognizer.key if pipeline else None)
        if stored is None:
            stored = Recognizer.parse(wanted or DEFAULT_RECOGNIZER).key
            self.store.set_meta("recognizer", stored)
        elif wanted and Recognizer.parse(wanted).models != Recognizer.parse(stored).models:
            raise GalleryError(f"{path}: this gallery holds {stored!r} templates, not {wanted!r}; "
                               "use a new gallery file for another recognizer")
        self.recognizer = Recognizer.parse(stored)
        self._pipeline = pipeline
        self._detector = detector
        self._index_name = index
        registry.get(index, "index")
        self._lock = threading.RLock()
        self._load_index()

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline(self._detector, self.recognizer)
        return self._pipeline

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_index(self) -> None:
        with self._lock:
            self._indexes: dict[str, Index] = {}
            self._owner: dict[int, str] = {}
            for m in self.recognizer.models:
                idx = registry.create(self._index_name, "index", dim=registry.load(m, "embedder").dim)
                ids, vecs, names = self.store.vectors(m)
                if len(ids):
                    idx.add(ids, vecs)
                    self._owner.update(zip(ids.tolist(), names))
                self._indexes[m] = idx
            self._recount()
            self._version = self.store.data_version()

    def _recount(self) -> None:
        self._identity_count = len(set(self._owner.values()))  # sizes the open-set threshold

    def _sync(self) -> None:
        """Reload if another process committed since we last looked (cheap PRAGMA check)."""
        if self.store.data_version() != self._version:
            self._load_index()

    # -- reading -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.identities())

    def identities(self) -> list[IdentityInfo]:
        return self.store.identities()

    def templates(self) -> int:
        self._sync()
        return len(self._owner)

    # -- writing -----------------------------------------------------------------------------------
    def enroll(self, name: str, images: Iterable[ImageInput], metadata: dict[str, Any] | None = None,
               policy: QualityPolicy | None = QualityPolicy(), names: Iterable[str] | None = None,
               actor: str = "local") -> EnrollResult:
        """Add a person's faces (the largest face of each image) in one transaction.

        Images that cannot be read, have no face, or fail the quality `policy` (None to accept
        any face) are skipped with a reason; if none is usable, nothing is written and a
        `VultusError` says why.
        """
        name = _clean_name(name)
        images = list(images)
        labels = list(names) if names is not None else [describe(im) for im in images]
        records, skipped = [], []
        for image, label in zip(images, labels):
            try:
                img = load_image(image, name=label)
                faces = self.pipeline.detect(img)
                if not faces:
                    raise ImageError(f"{label}: no face found")
                face = max(faces, key=lambda f: f.width * f.height)
                problems = policy.problems(face.quality) if policy else []
                if problems:
                    raise QualityError(f"{label}: {'; '.join(problems)}", problems)
                face = self.pipeline.embed(img, [face])[0]
            except VultusError as e:
                skipped.append((label, str(e).removeprefix(f"{label}: ")))
                continue
            raw = image if isinstance(image, (bytes, bytearray)) else (
                Path(image).read_bytes() if isinstance(image, (str, Path)) else img.tobytes())
            records.append(FaceRecord(
                source=label if isinstance(image, (str, Path)) else None,
                source_sha256=hashlib.sha256(raw).hexdigest(),
                box=[round(float(v), 1) for v in face.box],
                quality=face.quality.to_dict() if face.quality else None,
                vectors=dict(face.embeddings), thumbnail=thumbnail(img, face)))
        if not records:
            reasons = "; ".join(f"{s}: {r}" for s, r in skipped) or "no images given"
            raise QualityError(f"nothing enrolled for {name!r}: {reasons}", [r for _, r in skipped])
        return self._commit(name, records, metadata, skipped, actor)

    def add_faces(self, name: str, faces: list[Face], image: np.ndarray | None = None,
                  source: str | None = None, metadata: dict[str, Any] | None = None,
                  actor: str = "local") -> EnrollResult:
        """Enroll faces already embedded by this gallery's recognizer (e.g. the best frames of a track)."""
        name = _clean_name(name)
        missing = [m for m in self.recognizer.models for f in faces if m not in f.embeddings]
        if missing:
            raise GalleryError(f"faces lack {sorted(set(missing))} embeddings needed by {self.recognizer.key!r}")
        records = [FaceRecord(source=source, source_sha256=None, box=[round(float(v), 1) for v in f.box],
                              quality=f.quality.to_dict() if f.quality else None, vectors=dict(f.embeddings),
                              thumbnail=thumbnail(image, f) if image is not None else None) for f in faces]
        return self._commit(name, records, metadata, [], actor)

    def _commit(self, name, records, metadata, skipped, actor) -> EnrollResult:
        with self._lock:
            self._sync()
            ids = self.store.add_faces(name, records, metadata, actor=actor)
            for m, idx in self._indexes.items():
                idx.add(np.array(ids), np.stack([r.vectors[m] for r in records]))
            self._owner.update({i: name for i in ids})
            self._recount()
            self._version = self.store.data_version()
        return EnrollResult(name, len(ids), tuple(ids), tuple(skipped))

    def remove(self, name: str, actor: str = "local") -> int:
        """Delete an identity and every template and thumbnail of it; returns how many faces went."""
        with self._lock:
            self._sync()
            ids = self.store.remove(name, actor=actor)
            for idx in self._indexes.values():
                idx.remove(np.array(ids, np.int64))
            for i in ids:
                self._owner.pop(i, None)
            self._recount()
        return len(ids)

    def remove_face(self, face_id: int, actor: str = "local") -> None:
        with self._lock:
            self._sync()
            self.store.remove_face(face_id, actor=actor)
            for idx in self._indexes.values():
                idx.remove(np.array([face_id], np.int64))
            self._owner.pop(face_id, None)
            self._recount()

    def rename(self, old: str, new: str, actor: str = "local") -> None:
        new = _clean_name(new)
        with self._lock:
            self._sync()
            self.store.rename(old, new, actor=actor)
            self._owner = {i: (new if n == old else n) for i, n in self._owner.items()}

    # -- searching ---------------------------------------------------------------------------------
    def search(self, face: Face, target_far: float | None = DEFAULT_FAR, top_k: int = 3,
               shortlist: int = 100) -> Identification:
        """Decide who an embedded face is: the best identity above the threshold, or unknown.

        `target_far` is the open-set false-alarm rate: the share of people *not* in the gallery
        who would be taken for someone in it. The threshold grows with the gallery's size."""
        with self._lock:
            self._sync()
            threshold, far = self.recognizer.open_set_threshold(target_far, self._identity_count)
            # shortlist per model from the index, then score the union exactly with the fusion
            cands: set[int] = set()
            for m, idx in self._indexes.items():
                _, ids = idx.search(face.embeddings[m][None], shortlist)
                cands.update(ids[0].tolist())
            if not cands:
                return Identification(face, None, float("-inf"), threshold, self.recognizer.key, target_far, (), far)
            ids = np.array(sorted(cands), np.int64)
            per_model = {m: idx.get(ids) @ face.embeddings[m] for m, idx in self._indexes.items()}
            owners = [self._owner[i] for i in ids.tolist()]
        fused = self.recognizer.fuse(per_model)
        best: dict[str, float] = {}
        for name, s in zip(owners, fused.tolist()):  # an identity scores its best template
            if s > best.get(name, -np.inf):
                best[name] = s
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:max(top_k, 1)]
        top_name, top_score = ranked[0]
        return Identification(face, top_name if top_score >= threshold else None, float(top_score), threshold,
                              self.recognizer.key, target_far, tuple(Candidate(n, float(s)) for n, s in ranked), far)

    def identify(self, image: ImageInput, target_far: float | None = DEFAULT_FAR, top_k: int = 3,
                 name: str | None = None) -> list[Identification]:
        """Every face in an image, each with its decision."""
        img = load_image(image, name=name)
        return [self.search(f, target_far, top_k) for f in self.pipeline.embed(img)]


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise GalleryError("an identity needs a non-empty name")
    if len(name) > 200 or any(ord(c) < 32 for c in name):
        raise GalleryError(f"invalid identity name {name[:40]!r}: at most 200 printable characters")
    return name


def thumbnail(image: np.ndarray, face: Face, size: int = 112) -> bytes:
    """A small JPEG of the face with some margin, for galleries and web pages."""
    x1, y1, x2, y2 = face.box
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.65
    h, w = image.shape[:2]
    a, b = int(max(cx - half, 0)), int(max(cy - half, 0))
    c, d = int(min(cx + half, w)), int(min(cy + half, h))
    crop = image[b:d, a:c] if d > b and c > a else image
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=85)
    return buf.getvalue()

