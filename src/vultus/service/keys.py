"""API keys: created by `vultus keys create`, stored only as salted hashes in the gallery file.

A key reads `vultus_<id>_<secret>`. The id is public (it names the caller in the audit log and in
`vultus keys list`); the secret is 256 random bits shown once and never stored. Because the secret
is that random, a salted SHA-256 is enough to make a stolen database useless: a slow password hash
(scrypt, bcrypt) protects guessable secrets and would only add milliseconds to every request here.

Keys live in their own table of the gallery's SQLite file, so one file holds everything a server
needs and a backup of it is complete. Every lookup reads the table, so a key revoked from the
command line stops working on the next request of a running server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import VultusError
from ..gallery.store import connect, explain

#: Each scope includes the ones before it: an enroll key can also read, an admin key can do all.
SCOPES = ("read", "enroll", "admin")
PREFIX = "vultus"

SCHEMA = """
CREATE TABLE IF NOT EXISTS service_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


class KeyStoreError(VultusError):
    kind = "bad_key"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scope: str
    created_at: float
    revoked_at: float | None = None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "scope": self.scope, "created_at": round(self.created_at, 3),
                "revoked": self.revoked_at is not None}


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


class KeyStore:
    """The keys of one gallery file. Thread-safe; its own connection, apart from the gallery's."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = connect(self.path)  # created 0600; a foreign, empty or damaged file is a clear error
        try:
            self._db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise explain(self.path, e) from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, scope: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key: (its record, the full key text, which is never shown again)."""
        if scope not in SCOPES:
            raise KeyStoreError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
        key_id, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(32), secrets.token_bytes(16)
        now = time.time()
        with self._lock:
            self._db.execute("INSERT INTO service_keys(id, name, scope, salt, hash, created_at) VALUES (?,?,?,?,?,?)",
                             (key_id, name.strip()[:100], scope, salt, _digest(salt, secret), now))
        return ApiKey(key_id, name.strip()[:100], scope, now), f"{PREFIX}_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, scope, created_at, revoked_at FROM service_keys "
                                    "ORDER BY created_at").fetchall()
        return [ApiKey(*r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            cur = self._db.execute("UPDATE service_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                                   (time.time(), key_id))
        if cur.rowcount == 0 and not any(k.id == key_id for k in self.list()):
            raise KeyStoreError(f"no key with id {key_id!r}")
        return next(k for k in self.list() if k.id == key_id)

    def verify(self, text: str | None) -> ApiKey | None:
        """The live key this text is, or None (malformed, unknown, revoked or wrong secret)."""
        if not text:
            return None
        parts = text.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            return None
        with self._lock:
            row = self._db.execute("SELECT id, name, scope, created_at, revoked_at, salt, hash FROM service_keys "
                                   "WHERE id=?", (parts[1],)).fetchone()
        if row is None or row[4] is not None:
            return None
        # constant-time comparison: the time taken says nothing about how much of the secret matched
        if not hmac.compare_digest(_digest(row[5], parts[2]), row[6]):
            return None
        return ApiKey(*row[:5])
