"""The gallery's persistent store: SQLite in WAL mode, the source of truth for every index.

One enroll call is one transaction, so a crash mid-batch loses nothing already committed and
leaves no half-written identity.

What a deletion leaves on disk: deleted rows are overwritten in the database file
(`secure_delete`), and right after every deletion the write-ahead log, which still holds the
pages as they were before, is checkpointed into the database and truncated to zero bytes
(`wal_checkpoint(TRUNCATE)`; also at open, for a log left by a killed process). SQLite guarantees
the pages' content; it cannot guarantee that the file system or the disk overwrites the blocks a
truncated file used (copy-on-write file systems, SSD wear levelling, backups and snapshots keep
old blocks), so use full-disk encryption where that matters.

The files are created readable by their owner only (0600; SQLite gives the -wal and -shm files
the database's mode). A file that is not a vultus gallery (an empty file, another program's
SQLite database) is refused rather than silently adopted.

The `changes` table logs every face added or removed (by triggers, so every writer keeps it):
search indexes derived from the store record the last change they reflect and catch up from
there instead of reloading everything.

The audit log is append-only (triggers) and hash-chained: each record's hash covers the previous
record's hash and its own fields, so an edit, a deletion or an `INSERT OR REPLACE` anywhere but at
the very end breaks the chain that `verify_audit` (`vultus gallery audit --verify`) checks. Keep the
head it prints somewhere else to detect a truncated or fully rewritten log too. Records older than
the retention (`audit_retention_days`, default 365; 0 keeps all) are pruned at open.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import GalleryError, NotFoundError
from .integrity import checksums, clean_name, lookup_name, metadata_json

log = logging.getLogger("vultus.gallery")

SCHEMA_VERSION = 2
APPLICATION_ID = 0x56554C54  # "VULT" in the SQLite header: this file is a vultus gallery
DEFAULT_AUDIT_RETENTION_DAYS = 365
# tables a vultus file may hold (service_keys: the service's API keys, in the same file)
OWN_TABLES = {"meta", "identities", "faces", "embeddings", "audit", "changes", "service_keys", "sqlite_sequence"}

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
CREATE INDEX IF NOT EXISTS faces_source ON faces(identity_id, source_sha256);
CREATE TABLE IF NOT EXISTS embeddings (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    checksum INTEGER,
    PRIMARY KEY (face_id, model)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    identity TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    hash TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id INTEGER NOT NULL,
    added INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS faces_log_add AFTER INSERT ON faces
BEGIN INSERT INTO changes(face_id, added) VALUES (NEW.id, 1); END;
CREATE TRIGGER IF NOT EXISTS faces_log_remove AFTER DELETE ON faces
BEGIN INSERT INTO changes(face_id, added) VALUES (OLD.id, 0); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_retention_only_delete BEFORE DELETE ON audit
WHEN OLD.id > COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'audit_pruned_through'), 0)
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


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    records: int
    head: str | None  # "id:hash" of the last record: keep it elsewhere to detect a truncated log
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "head": self.head, "problem": self.problem}


def explain(path: Path | None, e: sqlite3.Error) -> GalleryError:
    """A SQLite error as a sentence a user can act on, naming the gallery file when known."""
    msg = str(e)
    low = msg.lower()
    if "readonly" in low or "read-only" in low:
        why = "cannot write: the gallery file or its folder is read-only"
    elif "unable to open" in low:
        why = "cannot open the file (permission denied, or its folder is missing or read-only)"
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        why = (f"the database is damaged ({msg}); restore it from a backup, or try "
               f"`sqlite3 {path or 'GALLERY'} .recover` into a new file")
    elif "locked" in low or "busy" in low:
        why = "another process has held the gallery locked for too long; try again"
    elif "disk" in low and "full" in low:
        why = "the disk is full"
    else:
        why = f"database error: {msg}"
    return GalleryError(f"{path or 'the gallery database'}: {why}")


def connect(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """Open a gallery file for reading and writing: created 0600 if new, refused if it is a
    directory, an empty file, not SQLite, or another program's SQLite database."""
    path = Path(path)
    if path.is_dir():
        raise GalleryError(f"{path}: is a folder; give a gallery file such as {path / 'gallery.db'}")
    if path.exists():
        with open(path, "rb") as f:
            head = f.read(100)
        if not head:
            raise GalleryError(f"{path}: is an empty file, not a vultus gallery; remove it or choose another path")
        if not head.startswith(b"SQLite format 3\x00"):
            raise GalleryError(f"{path}: not a vultus gallery (not an SQLite database)")
        app_id = int.from_bytes(head[68:72], "big")
        if app_id not in (0, APPLICATION_ID):
            raise GalleryError(f"{path}: not a vultus gallery (an SQLite database of another program)")
    elif create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # another process created it a moment ago
        except OSError as e:
            raise GalleryError(f"{path}: cannot create the gallery: {e.strerror}") from None
    else:
        raise NotFoundError(f"{path}: no such gallery")
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables <= OWN_TABLES or (tables & {"identities", "faces"} and "meta" not in tables):
                db.close()
                raise GalleryError(f"{path}: not a vultus gallery (an SQLite database with tables "
                                   f"{', '.join(sorted(tables - OWN_TABLES)) or 'of another layout'})")
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    except sqlite3.Error as e:
        raise explain(path, e) from None
    return db


class Store:
    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        self._db = connect(self.path, create)
        self._lock = threading.RLock()
        self._wipe_pending = False
        with self._guard():
            version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() \
                if self._has_table("meta") else None
            if version is not None and int(version[0]) > SCHEMA_VERSION:
                raise GalleryError(f"{self.path}: made by a newer vultus (schema {version[0]})")
            if version is not None and int(version[0]) < SCHEMA_VERSION:
                self._migrate(int(version[0]))
            self._db.executescript(SCHEMA)
            if version is None:
                with self.transaction() as db:
                    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                               (str(SCHEMA_VERSION),))
                    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('gallery_id', ?)", (uuid.uuid4().hex,))
        self.prune_audit()
        self.wipe_log()  # a log left by a killed process may still hold deleted rows

    def close(self) -> None:
        with self._lock:
            try:
                self.wipe_log()
            except GalleryError:
                pass  # read-only or busy: nothing to wipe that we could
            self._db.close()

    # -- plumbing ----------------------------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise explain(self.path, e) from None

    def _has_table(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() \
            is not None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock, self._guard():
            return self._db.execute(sql, params).fetchall()

    def _migrate(self, version: int) -> None:
        """Schema 1 -> 2: vector checksums, the change log, the hash-chained audit log."""
        with self.transaction() as db:
            db.execute("DROP TRIGGER IF EXISTS audit_append_only_update")
            db.execute("DROP TRIGGER IF EXISTS audit_append_only_delete")
            db.execute("ALTER TABLE embeddings ADD COLUMN checksum INTEGER")
            db.execute("ALTER TABLE audit ADD COLUMN hash TEXT")
            rows = db.execute("SELECT face_id, model, vector FROM embeddings").fetchall()
            for fid, model, blob in rows:
                vec = np.frombuffer(blob, np.float32)
                if np.isfinite(vec).all() and abs(float(np.linalg.norm(vec)) - 1) < 1e-3:  # seal only sound ones
                    db.execute("UPDATE embeddings SET checksum=? WHERE face_id=? AND model=?",
                               (int(checksums(np.array([fid]), vec[None])[0]), fid, model))
            prev = ""
            for row in db.execute("SELECT id, at, actor, action, identity, detail FROM audit ORDER BY id").fetchall():
                prev = _chain(prev, *row)
                db.execute("UPDATE audit SET hash=? WHERE id=?", (prev, row[0]))
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('gallery_id', ?)", (uuid.uuid4().hex,))
            self._audit(db, "local", "migrate", None, {"from_schema": version, "to_schema": SCHEMA_VERSION})
        log.info("%s: upgraded from schema %d to %d", self.path, version, SCHEMA_VERSION)

    def wipe_log(self) -> bool:
        """Checkpoint the write-ahead log into the database and truncate it, so pages of deleted
        rows do not linger in it. False if a reader kept it from finishing (retried later)."""
        with self._lock, self._guard():
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        self._wipe_pending = bool(busy)
        if busy:
            log.warning("%s: another process is reading; the write-ahead log is wiped at the next write", self.path)
        return not busy

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits."""
        with self._lock, self._guard():
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # -- meta --------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- identities --------------------------------------------------------------------------------
    def already_enrolled(self, name: str, sha256: str) -> int | None:
        """The face id under which this image (by SHA-256) is already enrolled for `name`."""
        rows = self.query("SELECT f.id FROM faces f JOIN identities i ON i.id = f.identity_id "
                          "WHERE i.name=? AND f.source_sha256=? LIMIT 1", (lookup_name(name), sha256))
        return rows[0][0] if rows else None

    def add_faces(self, name: str, records: list[FaceRecord], metadata: dict[str, Any] | None = None,
                  actor: str = "local") -> list[int]:
        """Add faces to `name` (created if new) in one transaction; returns the new face ids."""
        name = clean_name(name)
        meta_text = metadata_json(metadata)
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT id, metadata FROM identities WHERE name=?", (name,)).fetchone()
            if row:
                ident = row[0]
                if metadata:
                    merged = metadata_json({**json.loads(row[1]), **metadata})
                    db.execute("UPDATE identities SET metadata=? WHERE id=?", (merged, ident))
            else:
                ident = db.execute("INSERT INTO identities(name, metadata, created_at) VALUES (?, ?, ?)",
                                   (name, meta_text, now)).lastrowid
            ids = []
            for r in records:
                fid = db.execute(
                    "INSERT INTO faces(identity_id, source, source_sha256, box, quality, thumbnail, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ident, r.source, r.source_sha256, json.dumps(r.box),
                     json.dumps(r.quality) if r.quality else None, r.thumbnail, now)).lastrowid
                self._insert_vectors(db, fid, r.vectors)
                ids.append(fid)
            self._audit(db, actor, "enroll", name, {"faces": len(records), "sources": [r.source for r in records]})
        return ids

    def add_batch(self, items: list[tuple[str, dict[str, Any] | None, FaceRecord]], actor: str = "local"
                  ) -> tuple[int, int]:
        """Bulk import: many (name, metadata, face) in one transaction. A face already enrolled for
        that name (same source SHA-256, or without one the same template) is skipped.
        Returns (added, skipped)."""
        now = time.time()
        added = skipped = 0
        with self.transaction() as db:
            idents: dict[str, int] = {}
            for name, metadata, r in items:
                name = clean_name(name)
                ident = idents.get(name)
                if ident is None:
                    row = db.execute("SELECT id FROM identities WHERE name=?", (name,)).fetchone()
                    ident = row[0] if row else db.execute(
                        "INSERT INTO identities(name, metadata, created_at) VALUES (?, ?, ?)",
                        (name, metadata_json(metadata), now)).lastrowid
                    idents[name] = ident
                model, vec = next(iter(r.vectors.items()))
                if db.execute("SELECT 1 FROM faces WHERE identity_id=? AND source_sha256=?",
                              (ident, r.source_sha256)).fetchone() if r.source_sha256 else db.execute(
                        "SELECT 1 FROM faces f JOIN embeddings e ON e.face_id = f.id WHERE f.identity_id=? "
                        "AND e.model=? AND e.vector=?", (ident, model, np.asarray(vec, np.float32).tobytes())).fetchone():
                    skipped += 1  # already there: by its source's hash, or (no hash) the very same template
                    continue
                fid = db.execute(
                    "INSERT INTO faces(identity_id, source, source_sha256, box, quality, thumbnail, created_at) "
                    "VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    (ident, r.source, r.source_sha256, json.dumps(r.box),
                     json.dumps(r.quality) if r.quality else None, now)).lastrowid
                self._insert_vectors(db, fid, r.vectors)
                added += 1
            self._audit(db, actor, "import", None, {"faces": added, "skipped": skipped, "identities": len(idents)})
        return added, skipped

    def vacuum(self) -> None:
        with self._lock, self._guard():
            self._db.execute("VACUUM")
        self.wipe_log()

    @staticmethod
    def _insert_vectors(db: sqlite3.Connection, face_id: int, vectors: dict[str, np.ndarray]) -> None:
        rows = []
        for m, v in vectors.items():
            v = np.asarray(v, np.float32).reshape(1, -1)
            rows.append((face_id, m, v.tobytes(), int(checksums(np.array([face_id]), v)[0])))
        db.executemany("INSERT INTO embeddings(face_id, model, vector, checksum) VALUES (?, ?, ?, ?)", rows)

    def remove(self, name: str, actor: str = "local") -> list[int]:
        """Delete an identity with all its faces, vectors and thumbnails; returns the face ids."""
        with self.transaction() as db:
            ident = self._identity_id(db, name)
            ids = [r[0] for r in db.execute("SELECT id FROM faces WHERE identity_id=?", (ident,))]
            db.execute("DELETE FROM identities WHERE id=?", (ident,))  # cascades to faces and embeddings
            self._audit(db, actor, "delete", lookup_name(name), {"faces": len(ids)})
        self.wipe_log()
        return ids

    def remove_face(self, face_id: int, actor: str = "local") -> str:
        with self.transaction() as db:
            row = db.execute("SELECT i.name FROM faces f JOIN identities i ON i.id = f.identity_id WHERE f.id=?",
                             (face_id,)).fetchone()
            if not row:
                raise NotFoundError(f"no face with id {face_id}")
            db.execute("DELETE FROM faces WHERE id=?", (face_id,))
            self._audit(db, actor, "delete_face", row[0], {"face_id": face_id})
        self.wipe_log()
        return row[0]

    def rename(self, old: str, new: str, actor: str = "local") -> str:
        """Rename an identity; returns the stored (normalized) new name. Renaming onto itself is a no-op."""
        new = clean_name(new)
        with self.transaction() as db:
            ident = self._identity_id(db, old)
            if lookup_name(old) == new:
                return new
            if db.execute("SELECT 1 FROM identities WHERE name=?", (new,)).fetchone():
                raise GalleryError(f"an identity named {new!r} already exists")
            db.execute("UPDATE identities SET name=? WHERE id=?", (new, ident))
            self._audit(db, actor, "rename", lookup_name(old), {"to": new})
        return new

    def count_identities(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM identities")[0][0])

    def identities(self) -> list[IdentityInfo]:
        rows = self.query("SELECT i.name, COUNT(f.id), i.metadata, i.created_at FROM identities i "
                          "LEFT JOIN faces f ON f.identity_id = i.id GROUP BY i.id ORDER BY i.name")
        return [IdentityInfo(n, c, json.loads(m), t) for n, c, m, t in rows]

    def identity(self, name: str) -> IdentityInfo:
        rows = self.query("SELECT i.name, (SELECT COUNT(*) FROM faces f WHERE f.identity_id = i.id), i.metadata, "
                          "i.created_at FROM identities i WHERE i.name=?", (lookup_name(name),))
        if not rows:
            raise NotFoundError(f"no identity named {name!r}")
        n, c, m, t = rows[0]
        return IdentityInfo(n, c, json.loads(m), t)

    def faces_of(self, name: str) -> list[dict[str, Any]]:
        with self._lock, self._guard():
            ident = self._identity_id(self._db, name)
            rows = self._db.execute("SELECT id, source, source_sha256, box, quality, created_at FROM faces "
                                    "WHERE identity_id=? ORDER BY id", (ident,)).fetchall()
        return [{"face_id": i, "source": s, "source_sha256": h, "box": json.loads(b),
                 "quality": json.loads(q) if q else None, "created_at": t} for i, s, h, b, q, t in rows]

    def thumbnail(self, face_id: int) -> bytes | None:
        rows = self.query("SELECT thumbnail FROM faces WHERE id=?", (face_id,))
        if not rows:
            raise NotFoundError(f"no face with id {face_id}")
        return rows[0][0]

    # -- templates ---------------------------------------------------------------------------------
    def owners(self, face_ids: list[int]) -> dict[int, str]:
        """{face id: identity name} for these faces (unknown ids are left out)."""
        out: dict[int, str] = {}
        for k in range(0, len(face_ids), 500):  # stay under SQLite's parameter limit
            chunk = face_ids[k:k + 500]
            out.update(self.query(f"SELECT f.id, i.name FROM faces f JOIN identities i ON i.id = f.identity_id "
                                  f"WHERE f.id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def vectors(self, model: str, face_ids: list[int] | None = None, batch: int = 200_000
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(face ids, vectors, stored checksums) of one model in batches, by face id; all faces, or
        those of `face_ids` that still exist. A checksum of 0 means none was stored."""
        def rows_to_arrays(rows):
            ids = np.array([r[0] for r in rows], np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
            sums = np.array([r[2] or 0 for r in rows], np.int64)
            return ids, vecs, sums

        if face_ids is not None:
            for k in range(0, len(face_ids), 500):
                chunk = face_ids[k:k + 500]
                rows = self.query(f"SELECT face_id, vector, checksum FROM embeddings WHERE model=? AND face_id IN "
                                  f"({','.join('?' * len(chunk))}) ORDER BY face_id", [model, *chunk])
                if rows:
                    yield rows_to_arrays(rows)
            return
        last = -1
        while True:
            rows = self.query("SELECT face_id, vector, checksum FROM embeddings WHERE model=? AND face_id > ? "
                              "ORDER BY face_id LIMIT ?", (model, last, batch))
            if not rows:
                return
            yield rows_to_arrays(rows)
            last = rows[-1][0]

    def all_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, vectors) of one model, every face (for tests and small galleries)."""
        parts = list(self.vectors(model))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def head(self) -> int:
        """The sequence number of the last face added or removed (0 for none yet)."""
        rows = self.query("SELECT seq FROM sqlite_sequence WHERE name='changes'")
        return int(rows[0][0]) if rows else 0

    def changes_since(self, seq: int) -> tuple[list[int], list[int], int] | None:
        """(face ids added, face ids removed, new head) since `seq`, net of each other; None when
        the log no longer reaches back that far (compacted), so an index must be rebuilt."""
        first = self.query("SELECT MIN(seq) FROM changes")[0][0]
        head = self.head()
        if seq > head or (seq < head and (first is None or first > seq + 1)):
            return None
        state: dict[int, int] = {}
        for fid, added in self.query("SELECT face_id, added FROM changes WHERE seq > ? ORDER BY seq", (seq,)):
            state[fid] = added
        return [f for f, a in state.items() if a], [f for f, a in state.items() if not a], head

    def trim_changes(self, through: int) -> int:
        """Forget change records up to `through` (indexes older than that rebuild); returns how many."""
        with self.transaction() as db:
            return db.execute("DELETE FROM changes WHERE seq <= ?", (through,)).rowcount

    # -- audit -------------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, identity: str | None, detail: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._audit(db, actor, action, identity, detail)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.query("SELECT at, actor, action, identity, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [{"at": a, "actor": b, "action": c, "identity": d, "detail": json.loads(e)} for a, b, c, d, e in rows]

    def verify_audit(self, expect_head: str | None = None) -> AuditCheck:
        """Walk the hash chain from the retention anchor to the last record."""
        anchor = json.loads(self.get_meta("audit_anchor") or '{"id": 0, "hash": ""}')
        prev_id, prev, n, seen_expected = anchor["id"], anchor["hash"], 0, expect_head is None
        with self._lock, self._guard():
            cur = self._db.execute("SELECT id, at, actor, action, identity, detail, hash FROM audit "
                                   "WHERE id > ? ORDER BY id", (anchor["id"],))
            for row in cur:
                n += 1
                if row[0] != prev_id + 1:
                    return AuditCheck(False, n, None, f"record {prev_id + 1} is missing (next is {row[0]})")
                want = _chain(prev, *row[:6])
                if row[6] != want:
                    return AuditCheck(False, n, None, f"record {row[0]} ({row[3]} by {row[2]}) was altered: "
                                                      "its hash does not match its content and the chain")
                prev_id, prev = row[0], want
                seen_expected = seen_expected or f"{prev_id}:{prev}" == expect_head
        head = f"{prev_id}:{prev}" if prev else None
        if not seen_expected:
            return AuditCheck(False, n, head, f"the expected head {expect_head} is not in the chain "
                                              "(the log was truncated or rewritten)")
        return AuditCheck(True, n, head)

    def prune_audit(self, retention_days: float | None = None) -> int:
        """Delete audit records older than the retention, keeping the chain verifiable from an
        anchor; returns how many went."""
        if retention_days is None:
            retention_days = float(self.get_meta("audit_retention_days") or DEFAULT_AUDIT_RETENTION_DAYS)
        if retention_days <= 0:
            return 0
        cutoff = time.time() - retention_days * 86400
        if not self.query("SELECT 1 FROM audit WHERE at < ? LIMIT 1", (cutoff,)):
            return 0
        with self.transaction() as db:
            last = db.execute("SELECT MAX(id) FROM audit WHERE at < ?", (cutoff,)).fetchone()[0]
            last_hash = db.execute("SELECT hash FROM audit WHERE id=?", (last,)).fetchone()[0]
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('audit_pruned_through', ?)", (str(last),))
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('audit_anchor', ?)",
                       (json.dumps({"id": last, "hash": last_hash}),))
            n = db.execute("DELETE FROM audit WHERE id <= ?", (last,)).rowcount
            self._audit(db, "local", "prune_audit", None, {"records": n, "retention_days": retention_days})
        self.wipe_log()
        return n

    @staticmethod
    def _audit(db: sqlite3.Connection, actor: str, action: str, identity: str | None, detail: dict[str, Any]) -> None:
        row = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            anchor = db.execute("SELECT value FROM meta WHERE key='audit_anchor'").fetchone()
            row = (json.loads(anchor[0])["id"], json.loads(anchor[0])["hash"]) if anchor else (0, "")
        new = (row[0] + 1, time.time(), actor, action, identity, json.dumps(detail, ensure_ascii=False))
        db.execute("INSERT INTO audit(id, at, actor, action, identity, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (*new, _chain(row[1] or "", *new)))

    @staticmethod
    def _identity_id(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT id FROM identities WHERE name=?", (lookup_name(name),)).fetchone()
        if not row:
            raise NotFoundError(f"no identity named {name!r}")
        return row[0]


def _chain(prev: str, rid: int, at: float, actor: str, action: str, identity: str | None, detail: str) -> str:
    body = json.dumps([prev, rid, at, actor, action, identity, detail], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
