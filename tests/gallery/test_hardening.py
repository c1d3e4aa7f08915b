"""Issue 15, gallery part: what a careless user or an attacker did to the gallery, each case fixed.

Each test failed before its fix (bench/hardening_gallery.py runs the same cases on an older tree)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from vultus import GalleryError
from vultus.gallery import Gallery
from vultus.gallery.store import Store

EX = Path(__file__).resolve().parents[2] / "examples" / "images"


def cli(*args, ok: int = 0, user: int | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "vultus", *map(str, args)], capture_output=True, text=True,
                       timeout=300, user=user)
    assert p.returncode == ok, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.fixture
def gallery(tmp_path, pipeline):
    g = Gallery(tmp_path / "g.db", pipeline=pipeline)
    yield g
    g.close()


# -- 4. names and metadata ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["obama\u200b", "\u202eamabo", "oba\u0085ma", "obama\x7f"])
def test_invisible_characters_in_names_are_refused(gallery, bad):
    with pytest.raises(GalleryError, match="invisible or control"):
        gallery.enroll(bad, [EX / "obama.jpg"])
    gallery.enroll("obama", [EX / "obama.jpg"])
    with pytest.raises(GalleryError, match="invisible or control"):
        gallery.rename("obama", bad)
    assert [i.name for i in gallery.identities()] == ["obama"]


def test_names_are_normalized_and_rename_onto_itself_works(gallery):
    decomposed = unicodedata.normalize("NFD", "José")
    gallery.enroll(decomposed, [EX / "obama.jpg"])
    gallery.enroll("José", [EX / "obama2.jpg"])  # the same person, not a look-alike second one
    assert [(i.name, i.faces) for i in gallery.identities()] == [("José", 2)]
    assert gallery.rename("José", decomposed) == "José"  # onto the same name: a no-op, no error
    assert gallery.store.identity(decomposed).faces == 2


def test_metadata_has_a_size_limit(gallery):
    with pytest.raises(GalleryError, match="at most 16,384 are kept"):
        gallery.enroll("obama", [EX / "obama.jpg"], metadata={"blob": "x" * 20_000})
    assert gallery.identities() == []


# -- 6. enrollment is a resume -------------------------------------------------------------------------
def test_enrolling_the_same_images_again_adds_nothing(gallery):
    first = gallery.enroll("obama", [EX / "obama.jpg", EX / "obama2.jpg"])
    again = gallery.enroll("obama", [EX / "obama.jpg", EX / "obama2.jpg", EX / "obama3.jpg"])
    assert first.added == 2 and again.added == 1 and again.already_enrolled == 2
    assert all("already enrolled" in why for _, why in again.skipped)
    assert gallery.templates() == 3
    rerun = gallery.enroll("obama", [EX / "obama.jpg"])  # nothing new: not an error either
    assert rerun.added == 0 and rerun.to_dict()["already_enrolled"] == 1
    # the same photo for another person is that person's own template
    assert gallery.enroll("someone", [EX / "obama.jpg"], policy=None).added == 1


def test_cli_from_dir_rerun_is_a_resume(tmp_path):
    people = tmp_path / "people"
    for who, files in {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg"]}.items():
        (people / who).mkdir(parents=True)
        for f in files:
            (people / who / f).write_bytes((EX / f).read_bytes())
    g = tmp_path / "g.db"
    cli("enroll", "--gallery", g, "--from-dir", people, "--json")
    p = cli("enroll", "--gallery", g, "--from-dir", people, "--json")
    rows = {r["name"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert rows["obama"]["added"] == 0 and rows["obama"]["already_enrolled"] == 2
    assert "already enrolled" in p.stderr
    listed = {r["name"]: r["faces"] for r in map(json.loads, cli("gallery", "list", "--gallery", g,
                                                                  "--json").stdout.splitlines())}
    assert listed == {"obama": 2, "biden": 1}


# -- 7. a damaged template cannot win every search ---------------------------------------------------
def _corrupt(path: Path, face_id: int, how) -> None:
    db = sqlite3.connect(path)
    blob = db.execute("SELECT vector FROM embeddings WHERE face_id=?", (face_id,)).fetchone()[0]
    v = how(np.frombuffer(blob, np.float32).copy())
    db.execute("UPDATE embeddings SET vector=? WHERE face_id=?", (v.astype(np.float32).tobytes(), face_id))
    db.commit()
    db.close()


def _flip_exponents(v):
    bits = v.view(np.uint32)
    bits[:] ^= np.uint32(0x40000000)  # flip an exponent bit of every value: norm ~1e37
    return v


def test_corrupted_template_is_quarantined_not_searched(tmp_path, pipeline):
    path = tmp_path / "g.db"
    with Gallery(path, pipeline=pipeline) as g:
        g.enroll("obama", [EX / "obama.jpg"])
        bad = g.enroll("biden", [EX / "biden.jpg"]).face_ids[0]
        swapped = g.enroll("obama two", [EX / "obama2.jpg"]).face_ids[0]
    _corrupt(path, bad, _flip_exponents)
    _corrupt(path, swapped, lambda v: v[::-1])  # still unit norm: only the checksum sees it
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Gallery(path, pipeline=pipeline) as g:
        assert set(g.quarantined) == {bad, swapped}
        assert "norm" in g.quarantined[bad] and "checksum" in g.quarantined[swapped]
        r = g.identify(EX / "obama3.jpg")[0]
        assert r.identity == "obama" and "biden" not in [c.identity for c in r.candidates]
        assert g.templates() == 1


# -- 8. a deletion leaves no copy on disk -------------------------------------------------------------
def test_deleted_templates_do_not_stay_in_the_wal(tmp_path, pipeline):
    path = tmp_path / "g.db"
    g = Gallery(path, pipeline=pipeline)  # an idle server: the gallery stays open
    fid = g.enroll("obama", [EX / "obama.jpg"]).face_ids[0]
    g.enroll("biden", [EX / "biden.jpg"])
    vector = g.store.all_vectors("sface")[1][0].tobytes()
    thumb = g.store.thumbnail(fid)
    g.remove("obama")
    files = [p for p in tmp_path.iterdir() if p.name.startswith("g.db")]
    found = [p.name for p in files if p.is_file() and (vector[:64] in p.read_bytes() or thumb[-300:-200] in p.read_bytes())]
    assert found == []
    g.close()


# -- 9. files, foreign files, broken files -------------------------------------------------------------
def test_gallery_files_are_private(tmp_path, pipeline):
    with Gallery(tmp_path / "g.db", pipeline=pipeline) as g:
        g.enroll("obama", [EX / "obama.jpg"])
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes["g.db"] == 0o600 and modes.get("g.db-wal", 0o600) == 0o600 and modes.get("g.db-shm", 0o600) == 0o600


def test_empty_and_foreign_files_are_refused(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(GalleryError, match="empty file"):
        Store(empty)
    foreign = tmp_path / "other.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.commit()
    db.close()
    with pytest.raises(GalleryError, match="another program|tables invoices"):
        Store(foreign)
    assert cli("enroll", "--gallery", foreign, "obama", EX / "obama.jpg", ok=1).stderr.count("not a vultus gallery")
    assert "empty file" in cli("keys", "list", "--gallery", empty, ok=1).stderr


def test_damaged_database_gives_a_clear_error(tmp_path):
    g = tmp_path / "g.db"
    cli("enroll", "--gallery", g, "obama", EX / "obama.jpg", EX / "obama2.jpg")
    cli("keys", "create", "--gallery", g, "--scope", "read")
    data = bytearray(g.read_bytes())
    page = 4096
    for k in range(page * 2, len(data) - 16, page):  # scribble over every page's header but the first two
        data[k:k + 16] = b"\xff" * 16
    g.write_bytes(bytes(data))
    for args in (["identify", EX / "obama3.jpg"], ["gallery", "list"], ["keys", "list"],
                 ["enroll", "obama", EX / "obama3.jpg"]):
        p = cli(*args, "--gallery", g, ok=1)
        assert "damaged" in p.stderr or "not a vultus gallery" in p.stderr, p.stderr


def test_read_only_gallery_gives_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    g = folder / "g.db"
    cli("enroll", "--gallery", g, "obama", EX / "obama.jpg")
    # immutable (even for root, who ignores permission bits): the file and its folder
    if subprocess.run(["chattr", "+i", g, folder], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here to make a read-only gallery")
    try:
        for args in (["enroll", "biden", EX / "biden.jpg"], ["keys", "create", "--scope", "read"]):
            p = cli(*args, "--gallery", g, ok=1)
            assert "read-only" in p.stderr or "cannot open" in p.stderr, p.stderr
    finally:
        subprocess.run(["chattr", "-i", g, folder], capture_output=True)


# -- 10. the audit log is tamper-evident and kept for a set time ---------------------------------------
def test_audit_log_cannot_be_replaced_and_edits_are_detected(tmp_path, pipeline):
    path = tmp_path / "g.db"
    with Gallery(path, pipeline=pipeline) as g:
        g.enroll("obama", [EX / "obama.jpg"])
        g.remove("obama")
        check = g.store.verify_audit()
        assert check.ok and check.records >= 2
    db = sqlite3.connect(path)
    rid = db.execute("SELECT id FROM audit WHERE action='delete'").fetchone()[0]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("INSERT OR REPLACE INTO audit(id, at, actor, action, detail) VALUES (?, 0, 'x', 'noop', '{}')",
                   (rid,))
    # someone with the file drops the triggers and rewrites the record
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE audit SET action='noop', identity=NULL WHERE id=?", (rid,))
    db.commit()
    db.close()
    p = cli("gallery", "audit", "--verify", "--gallery", path, ok=1)
    assert f"record {rid}" in p.stderr and "altered" in p.stderr


def test_audit_retention_prunes_old_records_and_keeps_the_chain(tmp_path):
    store = Store(tmp_path / "g.db")
    for k in range(5):
        store.audit("local", "identify", None, {"k": k})
    db = sqlite3.connect(tmp_path / "g.db")  # age the first three records by a year and a half
    ids = [r[0] for r in db.execute("SELECT id FROM audit ORDER BY id LIMIT 3")]
    db.close()
    store.close()
    head = _age(tmp_path / "g.db", ids)
    store = Store(tmp_path / "g.db")  # retention (365 days by default) applies at open
    check = store.verify_audit(expect_head=head)
    assert check.ok, check.problem
    assert [e["action"] for e in store.audit_log(10)][0] == "prune_audit"
    assert all(e["detail"].get("k") not in (0, 1) for e in store.audit_log(10))
    store.close()


def _age(path: Path, ids: list[int]) -> str:
    """Make records look old: this rewrites them, so the chain is recomputed as a migration would.
    Returns the head of the new chain."""
    from vultus.gallery.store import _chain

    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER audit_append_only_update")
    rows = db.execute("SELECT id, at, actor, action, identity, detail FROM audit ORDER BY id").fetchall()
    prev = ""
    for r in rows:
        at = r[1] - 548 * 86400 if r[0] in ids else r[1]
        prev = _chain(prev, r[0], at, *r[2:])
        db.execute("UPDATE audit SET at=?, hash=? WHERE id=?", (at, prev, r[0]))
    db.commit()
    db.close()
    return f"{rows[-1][0]}:{prev}"


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL);
CREATE TABLE faces (id INTEGER PRIMARY KEY, identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT, source_sha256 TEXT, box TEXT NOT NULL, quality TEXT, thumbnail BLOB, created_at REAL NOT NULL);
CREATE TABLE embeddings (face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE, model TEXT NOT NULL,
    vector BLOB NOT NULL, PRIMARY KEY (face_id, model));
CREATE TABLE audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    identity TEXT, detail TEXT NOT NULL DEFAULT '{}');
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
"""


def test_a_schema_1_gallery_is_upgraded(tmp_path, pipeline):
    """Galleries made before these fixes open, gain checksums and a verified audit chain, and search."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('recognizer', 'sface')")
    v = np.random.default_rng(0).normal(size=128).astype(np.float32)
    db.execute("INSERT INTO identities VALUES (1, 'someone', '{}', 0)")
    db.execute("INSERT INTO faces VALUES (1, 1, NULL, NULL, '[0,0,1,1]', NULL, NULL, 0)")
    db.execute("INSERT INTO embeddings VALUES (1, 'sface', ?)", ((v / np.linalg.norm(v)).tobytes(),))
    db.execute("INSERT INTO audit VALUES (1, ?, 'local', 'enroll', 'someone', '{}')", (time.time(),))
    db.commit()
    db.close()
    with Gallery(path, pipeline=pipeline) as g:
        assert g.store.get_meta("schema_version") == "2" and g.templates() == 1 and not g.quarantined
        assert g.store.verify_audit().ok and g.store.audit_log(1)[0]["action"] == "migrate"
        g.enroll("obama", [EX / "obama.jpg"])
        assert g.identify(EX / "obama2.jpg")[0].identity == "obama"
    checksum = sqlite3.connect(path).execute("SELECT checksum FROM embeddings WHERE face_id=1").fetchone()[0]
    assert checksum is not None
