"""`Gallery`: identities and templates in the SQLite store, searched through one index per embedding model."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

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
from . import integrity
from .backends import resolve_index
from .integrity import clean_name, metadata_json
from .store import FaceRecord, IdentityInfo, Store
from .synced import SyncedIndex

if TYPE_CHECKING:
    from ..liveness import LivenessCheck


ALREADY_ENROLLED = "already enrolled"  # the reason given for an image skipped on a rerun


@dataclass(frozen=True)
class EnrollResult:
    name: str
    added: int
    face_ids: tuple[int, ...]
    skipped: tuple[tuple[str, str], ...]  # (input, reason)
    liveness: Any = None  # a LivenessReport when a liveness requirement was checked

    @property
    def already_enrolled(self) -> int:
        return sum(r.startswith(ALREADY_ENROLLED) for _, r in self.skipped)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "added": self.added, "face_ids": list(self.face_ids),
             "already_enrolled": self.already_enrolled,
             "skipped": [{"input": s, "reason": r} for s, r in self.skipped]}
        if self.liveness is not None:
            d["liveness"] = self.liveness.to_dict()
        return d


class Gallery:
    """Identities and their face templates on disk, searchable by any calibrated recognizer.

    The recognizer (which embedders, flip or not) is fixed when the gallery is created and stored
    in it; every later enroll and search uses the same one. Opening the same file from several
    processes is safe: each catches up with the others' commits before its next search.

    `index` picks the search backend by name (`vultus models` lists them under "index"): "auto"
    (the default) is exact search up to `ANN_FROM` templates and the ANN index above it.
    """

    def __init__(self, path: str | Path, recognizer: str | None = None, detector: str = DEFAULT_DETECTOR,
                 index: str = "auto", pipeline: Pipeline | None = None, index_options: dict[str, Any] | None = None):
        self.store = Store(path)
        try:
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
            self._lock = threading.RLock()
            backend, options = resolve_index(index, self.store, index_options)
            self._indexes = {m: SyncedIndex(self.store, m, backend, registry.load(m, "embedder").dim, options,
                                            folder=Path(f"{self.store.path}.index"))
                             for m in self.recognizer.models}
            self._refresh()
        except BaseException:
            self.store.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline(self._detector, self.recognizer)
        return self._pipeline

    def close(self) -> None:
        with self._lock:
            for idx in self._indexes.values():
                idx.close()
            self.store.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refresh(self) -> None:
        self._identity_count = self.store.count_identities()  # sizes the open-set threshold
        self._version = self.store.data_version()

    def _sync(self) -> None:
        """Catch up if another process committed since we last looked (cheap PRAGMA check)."""
        if self.store.data_version() != self._version or any(i.lagging for i in self._indexes.values()):
            self._catch_up()

    def _catch_up(self) -> None:
        for idx in self._indexes.values():
            if not idx.catch_up():
                idx.rebuild()
        self._refresh()

    @property
    def index_backend(self) -> str:
        return next(iter(self._indexes.values())).backend

    @property
    def quarantined(self) -> dict[int, str]:
        """Templates left out of searches because they failed their integrity check: {face id: why}."""
        out: dict[int, str] = {}
        for m, idx in self._indexes.items():
            out.update({f: f"{m}: {why}" for f, why in idx.quarantined.items()})
        return out

    def save_index(self) -> None:
        with self._lock:
            for idx in self._indexes.values():
                idx.save()

    # -- reading -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.store.count_identities()

    def identities(self) -> list[IdentityInfo]:
        return self.store.identities()

    def templates(self) -> int:
        with self._lock:
            self._sync()
            return len(next(iter(self._indexes.values())).index)

    # -- writing -----------------------------------------------------------------------------------
    def enroll(self, name: str, images: Iterable[ImageInput], metadata: dict[str, Any] | None = None,
               policy: QualityPolicy | None = QualityPolicy(), names: Iterable[str] | None = None,
               actor: str = "local", liveness: "LivenessCheck | None" = None,
               session: Mapping[str, Any] | str | None = None) -> EnrollResult:
        """Add a person's faces (the largest face of each image) in one transaction.

        Images that cannot be read, have no face, or fail the quality `policy` (None to accept
        any face) are skipped with a reason; if none is usable, nothing is written and a
        `VultusError` says why. An image already enrolled for this person (same bytes, by
        SHA-256) is skipped as "already enrolled", so running the same enrollment again resumes it
        instead of adding duplicates. With `liveness`, every face to be enrolled (and the capture
        `session`, if given) must pass it, or a `LivenessError` refuses and nothing is written.
        """
        name = clean_name(name)
        metadata_json(metadata)  # refuse bad metadata before any image is decoded
        images = list(images)
        labels = list(names) if names is not None else [describe(im) for im in images]
        records, skipped, seen, checked = [], [], set(), []
        verdict = liveness.screen_session(session) if liveness is not None else None
        for image, label in zip(images, labels):
            try:
                raw = image if isinstance(image, (bytes, bytearray)) else (
                    _read(image, label) if isinstance(image, (str, Path)) else None)
                img = load_image(image, name=label)
                sha = hashlib.sha256(raw if raw is not None else img.tobytes()).hexdigest()
                done = self.store.already_enrolled(name, sha)
                if done is not None or sha in seen:
                    skipped.append((label, f"{ALREADY_ENROLLED} for {name!r}"
                                    + (f" (face {done})" if done is not None else " (twice in this call)")))
                    continue
                faces = self.pipeline.detect(img)
                if not faces:
                    raise ImageError(f"{label}: no face found")
                face = max(faces, key=lambda f: f.width * f.height)
                problems = policy.problems(face.quality) if policy else []
                if problems:
                    raise QualityError(f"{label}: {'; '.join(problems)}", problems)
                if liveness is not None:
                    checked.append((label, liveness.faces(img, [face])[0]))
                face = self.pipeline.embed(img, [face])[0]
            except VultusError as e:
                skipped.append((label, str(e).removeprefix(f"{label}: ")))
                continue
            seen.add(sha)
            records.append(FaceRecord(
                source=label if isinstance(image, (str, Path)) else None, source_sha256=sha,
                box=[round(float(v), 1) for v in face.box],
                quality=face.quality.to_dict() if face.quality else None,
                vectors=dict(face.embeddings), thumbnail=thumbnail(img, face)))
        if not records:
            if skipped and all(r.startswith(ALREADY_ENROLLED) for _, r in skipped):
                return EnrollResult(name, 0, (), tuple(skipped))  # a rerun: nothing left to do
            reasons = "; ".join(f"{s}: {r}" for s, r in skipped) or "no images given"
            raise QualityError(f"nothing enrolled for {name!r}: {reasons}", [r for _, r in skipped])
        report = liveness.require(checked, session, verdict) if liveness is not None else None
        return dataclasses.replace(self._commit(name, records, metadata, skipped, actor), liveness=report)

    def add_faces(self, name: str, faces: list[Face], image: np.ndarray | None = None,
                  source: str | None = None, metadata: dict[str, Any] | None = None,
                  actor: str = "local") -> EnrollResult:
        """Enroll faces already embedded by this gallery's recognizer (e.g. the best frames of a track)."""
        name = clean_name(name)
        missing = [m for m in self.recognizer.models for f in faces if m not in f.embeddings]
        if missing:
            raise GalleryError(f"faces lack {sorted(set(missing))} embeddings needed by {self.recognizer.key!r}")
        records = [FaceRecord(source=source, source_sha256=None, box=[round(float(v), 1) for v in f.box],
                              quality=f.quality.to_dict() if f.quality else None, vectors=dict(f.embeddings),
                              thumbnail=thumbnail(image, f) if image is not None else None) for f in faces]
        return self._commit(name, records, metadata, [], actor)

    def add_records(self, items: list[tuple[str, dict[str, Any] | None, FaceRecord]], actor: str = "local"
                    ) -> tuple[int, int]:
        """Write faces embedded elsewhere (a Ray worker, an import) in one transaction; a face
        already enrolled for its person is skipped. Returns (added, skipped)."""
        for name, _, r in items:
            _check_vectors(r, name)
        with self._lock:
            done = self.store.add_batch(items, actor=actor)
            self._catch_up()
        return done

    def _commit(self, name, records, metadata, skipped, actor) -> EnrollResult:
        for r in records:
            _check_vectors(r, name)
        with self._lock:
            ids = self.store.add_faces(name, records, metadata, actor=actor)
            self._catch_up()
        return EnrollResult(name, len(ids), tuple(ids), tuple(skipped))

    def remove(self, name: str, actor: str = "local") -> int:
        """Delete an identity and every template and thumbnail of it; returns how many faces went."""
        with self._lock:
            ids = self.store.remove(name, actor=actor)
            self._catch_up()
        return len(ids)

    def remove_face(self, face_id: int, actor: str = "local") -> None:
        with self._lock:
            self.store.remove_face(face_id, actor=actor)
            self._catch_up()

    def rename(self, old: str, new: str, actor: str = "local") -> str:
        """Rename an identity; returns the name as stored (Unicode NFC, trimmed)."""
        with self._lock:
            return self.store.rename(old, new, actor=actor)

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
            found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for m, idx in self._indexes.items():
                s, ids = idx.index.search(face.embeddings[m][None], shortlist)
                found[m] = (s[0], ids[0])
            if len(found) == 1:  # one model: the index's scores are the scores
                (scores, ids), = found.values()
                per_model = {m: scores for m in found}
            else:
                ids = np.array(sorted({i for _, got in found.values() for i in got.tolist()}), np.int64)
                per_model = {m: idx.index.get(ids) @ face.embeddings[m] for m, idx in self._indexes.items()}
            owner = self.store.owners(ids.tolist())  # a face deleted since the index saw it is dropped
        fused = self.recognizer.fuse(per_model)
        best: dict[str, float] = {}
        for i, s in zip(ids.tolist(), fused.tolist()):  # an identity scores its best template
            name = owner.get(i)
            if name is not None and s > best.get(name, -np.inf):
                best[name] = s
        if not best:
            return Identification(face, None, float("-inf"), threshold, self.recognizer.key, target_far, (), far)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:max(top_k, 1)]
        top_name, top_score = ranked[0]
        return Identification(face, top_name if top_score >= threshold else None, float(top_score), threshold,
                              self.recognizer.key, target_far, tuple(Candidate(n, float(s)) for n, s in ranked), far)

    def identify(self, image: ImageInput, target_far: float | None = DEFAULT_FAR, top_k: int = 3,
                 name: str | None = None, liveness: "LivenessCheck | None" = None,
                 session: Mapping[str, Any] | str | None = None) -> list[Identification]:
        """Every face in an image, each with its decision. With `liveness`, every face (and the
        capture `session`, if given) must pass it first, or a `LivenessError` refuses."""
        verdict = liveness.screen_session(session) if liveness is not None else None
        img = load_image(image, name=name)
        faces = self.pipeline.embed(img)
        reports: list[Any] = [None] * len(faces)
        if liveness is not None:
            label = describe(image, name)
            found = [(f"{label} face {i}", lv) for i, lv in enumerate(liveness.faces(img, faces))]
            whole = liveness.require(found, session, verdict)
            reports = [dataclasses.replace(whole, faces=(item,)) for item in found]
        return [dataclasses.replace(self.search(f, target_far, top_k), liveness=r) for f, r in zip(faces, reports)]


def _check_vectors(record: FaceRecord, name: str) -> None:
    """Never store a template that could not be searched."""
    for m, v in record.vectors.items():
        bad = integrity.problems(np.zeros(1, np.int64), np.asarray(v, np.float32)[None], None)
        if bad:
            raise GalleryError(f"refused a {m} template of {record.source or name!r}: {bad[0]}")


def _read(path: str | Path, label: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None  # load_image names the problem


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

