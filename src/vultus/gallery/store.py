"""The gallery's persistent store: SQLite in WAL mode.

One enroll call is one transaction, so a crash mid-batch loses nothing already committed and
leaves no half-written identity. Deleted rows are overwritten on disk (secure_delete), so a
removed person's templates and thumbnails are gone for good, not just unlinked.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import GalleryError, NotFoundError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT,
    source_sha256 TEXT,
    box TEXT NOT NULL,
    quality TEXT,
    thumbnail BLOB,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_identity ON faces(identity_id);
CREATE TABLE IF NOT EXISTS embeddings (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (face_id, model)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    identity TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class IdentityInfo:
    name: str
    faces: int
    metadata: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "faces": self.faces, "metadata": self.metadata,
                "created_at": round(self.created_at, 3)}


@dataclass(frozen=True)
class FaceRecord:
    """A face to store: where it came from and its vectors per model."""

    source: str | None
    source_sha256: str | None
    box: list[float]
    quality: dict[str, float] | None
    vectors: dict[str, np.ndarray]
    thumbnail: bytes | None = None


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise GalleryError(f"{self.path}: is a folder; give a gallery file such as {self.path / 'gallery.db'}")
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise GalleryError(f"{self.path}: not a vultus gallery ({e})") from None
        self._lock = threading.RLock()
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) > SCHEMA_VERSION:
            raise GalleryError(f"{self.path}: made by a newer vultus (schema {version})")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # -- meta --------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- identities --------------------------------------------------------------------------------
    def add_faces(self, name: str, records: list[FaceRecord], metadata: dict[str, Any] | None = None,
                  actor: str = "local") -> list[int]:
        """Add faces to `name` (created if new) in one transaction; returns the new face ids."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT id FROM identities WHERE name=?", (name,)).fetchone()
            if row:
                ident = row[0]
                if metadata:
                    old = json.loads(db.execute("SELECT metadata FROM identities WHERE id=?", (ident,)).fetchone()[0])
                    db.execute("UPDATE identities SET metadata=? WHERE id=?", (json.dumps({**old, **metadata}), ident))
            else:
                ident = db.execute("INSERT INTO identities(name, metadata, created_at) VALUES (?, ?, ?)",
                                   (name, json.dumps(metadata or {}), now)).lastrowid
            ids = []
            for r in records:
                fid = db.execute(
                    "INSERT INTO faces(identity_id, source, source_sha256, box, quality, thumbnail, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ident, r.source, r.source_sha256, json.dumps(r.box),
                     json.dumps(r.quality) if r.quality else None, r.thumbnail, now)).lastrowid
                db.executemany("INSERT INTO embeddings(face_id, model, vector) VALUES (?, ?, ?)",
                               [(fid, m, np.asarray(v, np.float32).tobytes()) for m, v in r.vectors.items()])
                ids.append(fid)
            self._audit(db, actor, "enroll", name, {"faces": len(records), "sources": [r.source for r in records]})
        return ids

    def remove(self, name: str, actor: str = "local") -> list[int]:
        """Delete an identity with all its faces, vectors and thumbnails; returns the face ids."""
        with self.transaction() as db:
            ident = self._identity_id(db, name)
            ids = [r[0] for r in db.execute("SELECT id FROM faces WHERE identity_id=?", (ident,))]
            db.execute("DELETE FROM identities WHERE id=?", (ident,))  # cascades to faces and embeddings
            self._audit(db, actor, "delete", name, {"faces": len(ids)})
        return ids

    def remove_face(self, face_id: int, actor: str = "local") -> str:
        with self.transaction() as db:
            row = db.execute("SELECT i.name FROM faces f JOIN identities i ON i.id = f.identity_id WHERE f.id=?",
                             (face_id,)).fetchone()
            if not row:
                raise NotFoundError(f"no face with id {face_id}")
            db.execute("DELETE FROM faces WHERE id=?", (face_id,))
            self._audit(db, actor, "delete_face", row[0], {"face_id": face_id})
        return row[0]

    def rename(self, old: str, new: str, actor: str = "local") -> None:
        new = new.strip()
        if not new:
            raise GalleryError("the new name is empty")
        with self.transaction() as db:
            ident = self._identity_id(db, old)
            if db.execute("SELECT 1 FROM identities WHERE name=?", (new,)).fetchone():
                raise GalleryError(f"an identity named {new!r} already exists")
            db.execute("UPDATE identities SET name=? WHERE id=?", (new, ident))
            self._audit(db, actor, "rename", old, {"to": new})

    def identities(self) -> list[IdentityInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT i.name, COUNT(f.id), i.metadata, i.created_at FROM identities i "
                "LEFT JOIN faces f ON f.identity_id = i.id GROUP BY i.id ORDER BY i.name").fetchall()
        return [IdentityInfo(n, c, json.loads(m), t) for n, c, m, t in rows]

    def identity(self, name: str) -> IdentityInfo:
        for info in self.identities():
            if info.name == name:
                return info
        raise NotFoundError(f"no identity named {name!r}")

    def faces_of(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            ident = self._identity_id(self._db, name)
            rows = self._db.execute("SELECT id, source, source_sha256, box, quality, created_at FROM faces "
                                    "WHERE identity_id=? ORDER BY id", (ident,)).fetchall()
        return [{"face_id": i, "source": s, "source_sha256": h, "box": json.loads(b),
                 "quality": json.loads(q) if q else None, "created_at": t} for i, s, h, b, q, t in rows]

    def thumbnail(self, face_id: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT thumbnail FROM faces WHERE id=?", (face_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no face with id {face_id}")
        return row[0]

    def vectors(self, model: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(face ids, vectors, identity name per face) of one model, for building an index."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.face_id, e.vector, i.name FROM embeddings e JOIN faces f ON f.id = e.face_id "
                "JOIN identities i ON i.id = f.identity_id WHERE e.model=? ORDER BY e.face_id", (model,)).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        ids = np.array([r[0] for r in rows], np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        return ids, vecs, [r[2] for r in rows]

    def audit(self, actor: str, action: str, identity: str | None, detail: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._audit(db, actor, action, identity, detail)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT at, actor, action, identity, detail FROM audit ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [{"at": a, "actor": b, "action": c, "identity": d, "detail": json.loads(e)} for a, b, c, d, e in rows]

    @staticmethod
    def _audit(db: sqlite3.Connection, actor: str, action: str, identity: str | None, detail: dict[str, Any]) -> None:
        db.execute("INSERT INTO audit(at, actor, action, identity, detail) VALUES (?, ?, ?, ?, ?)",
                   (time.time(), actor, action, identity, json.dumps(detail)))

    @staticmethod
    def _identity_id(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT id FROM identities WHERE name=?", (name,)).fetchone()
        if not row:
            raise NotFoundError(f"no identity named {name!r}")
        return row[0]
