"""The gallery: round trips across processes, deletes for good, atomic enrollment under a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vultus import GalleryError, QualityError
from vultus.gallery import Gallery

EX = Path(__file__).resolve().parents[2] / "examples" / "images"


@pytest.fixture
def gallery(tmp_path, pipeline):
    g = Gallery(tmp_path / "g.db", pipeline=pipeline)
    yield g
    g.close()


def test_enroll_identify_unknown(gallery):
    gallery.enroll("obama", [EX / "obama.jpg", EX / "obama2.jpg"])
    gallery.enroll("biden", [EX / "biden.jpg"])
    assert [(i.name, i.faces) for i in gallery.identities()] == [("biden", 1), ("obama", 2)]
    r = gallery.identify(EX / "obama3.jpg")
    assert len(r) == 1 and r[0].identity == "obama" and r[0].score >= r[0].threshold
    gallery.remove("obama")
    r = gallery.identify(EX / "obama3.jpg")
    assert r[0].identity is None  # unknown, not the nearest other person
    assert r[0].candidates[0].identity == "biden"


def test_persists_across_processes(tmp_path, pipeline):
    path = tmp_path / "g.db"
    with Gallery(path, pipeline=pipeline) as g:
        g.enroll("obama", [EX / "obama.jpg"])
    code = (f"from vultus.gallery import Gallery; g = Gallery({str(path)!r}); "
            f"r = g.identify({str(EX / 'obama2.jpg')!r}); print(r[0].identity, g.recognizer.key)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["obama", "sface"], out.stderr


def test_other_process_writes_are_seen(tmp_path, pipeline):
    a = Gallery(tmp_path / "g.db", pipeline=pipeline)
    b = Gallery(tmp_path / "g.db", pipeline=pipeline)
    a.enroll("obama", [EX / "obama.jpg"])
    assert b.identify(EX / "obama2.jpg")[0].identity == "obama"
    b.remove("obama")
    assert a.identify(EX / "obama2.jpg")[0].identity is None


def test_remove_deletes_for_good(tmp_path, pipeline):
    path = tmp_path / "g.db"
    with Gallery(path, pipeline=pipeline) as g:
        fid = g.enroll("obama", [EX / "obama.jpg"]).face_ids[0]
        thumb = g.store.thumbnail(fid)
        vector = g.store.all_vectors("sface")[1][0].tobytes()
        g.remove("obama")
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 0
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    wal = path.parent / "g.db-wal"
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert thumb[100:200] not in raw and vector[:64] not in raw  # secure_delete overwrote the rows


def test_rename_and_errors(gallery):
    gallery.enroll("obama", [EX / "obama.jpg"])
    gallery.enroll("biden", [EX / "biden.jpg"])
    gallery.rename("obama", "Barack Obama")
    assert gallery.identify(EX / "obama2.jpg")[0].identity == "Barack Obama"
    with pytest.raises(GalleryError, match="already exists"):
        gallery.rename("biden", "Barack Obama")
    with pytest.raises(GalleryError, match="no identity named 'nobody'"):
        gallery.remove("nobody")
    with pytest.raises(GalleryError, match="non-empty"):
        gallery.enroll("  ", [EX / "obama.jpg"])


def test_poor_or_bad_images_are_refused_with_reasons(gallery, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    import numpy as np
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(blank)
    with pytest.raises(QualityError) as e:
        gallery.enroll("x", [bad, blank])
    assert "broken.jpg" in str(e.value) and "no face" in str(e.value)
    assert gallery.identities() == []
    # one good image among bad ones: the good one is enrolled, the rest reported
    r = gallery.enroll("obama", [bad, EX / "obama.jpg"])
    assert r.added == 1 and r.skipped[0][0].endswith("broken.jpg")


def test_quality_gate_refuses_tiny_faces(gallery):
    from PIL import Image

    small = Image.open(EX / "obama.jpg").resize((64, 80))
    with pytest.raises(QualityError, match="too small"):
        gallery.enroll("tiny", [small])
    assert gallery.enroll("tiny", [small], policy=None).added == 1  # overridable


def test_gallery_refuses_other_recognizer(tmp_path, pipeline):
    Gallery(tmp_path / "g.db", pipeline=pipeline).close()
    with pytest.raises(GalleryError, match="holds 'sface' templates"):
        Gallery(tmp_path / "g.db", recognizer="dlib")


def test_not_a_gallery(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello " * 100)
    with pytest.raises(GalleryError, match="not a vultus gallery"):
        Gallery(p)


CHILD = r"""
import sys, time
from vultus.gallery import Gallery
g = Gallery(sys.argv[1])
for k in range(1000):
    g.enroll(f"person{k}", [sys.argv[2], sys.argv[3]], policy=None)
    print(k, flush=True)
"""


def test_kill_during_batch_enrollment_loses_nothing_committed(tmp_path):
    path = tmp_path / "g.db"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(EX / "obama.jpg"), str(EX / "biden.jpg")],
                            stdout=subprocess.PIPE, text=True)
    done = -1
    deadline = time.time() + 120
    while done < 3 and time.time() < deadline:  # let a few people commit, then kill mid-batch
        line = proc.stdout.readline()
        if not line:
            break
        done = int(line.split()[0])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert done >= 3, "child never committed"
    with Gallery(path) as g:
        infos = {i.name: i.faces for i in g.identities()}
        # every person reported committed is there; nobody is half-written
        assert all(f"person{k}" in infos for k in range(done + 1))
        assert set(infos.values()) == {2}
        assert g.templates() == 2 * len(infos)
    db = sqlite3.connect(path)
    orphans = db.execute("SELECT COUNT(*) FROM embeddings e LEFT JOIN faces f ON f.id=e.face_id "
                         "WHERE f.id IS NULL").fetchone()[0]
    assert orphans == 0
