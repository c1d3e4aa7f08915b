"""Issue 23: ANN indexes behind the Index protocol, persisted and caught up beside the gallery;
Milvus Lite; Parquet export/import, compaction and stats."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vultus.gallery import Gallery
from vultus.gallery import synced
from vultus.gallery.index import ExactIndex, Index
from vultus.types import Face

needs = {m: pytest.mark.skipif(importlib.util.find_spec(m) is None, reason=f"{m} is not installed (extra: "
                               f"{'milvus' if m == 'pymilvus' else 'ann'})") for m in ("hnswlib", "usearch", "pymilvus")}


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def people(n_people: int, per: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Face-like clusters: (vectors (n_people*per, 128), owner index of each)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(n_people, 128)))
    return unit(np.repeat(centres, per, 0) + rng.normal(scale=0.05, size=(n_people * per, 128))), \
        np.repeat(np.arange(n_people), per)


def face(v: np.ndarray) -> Face:
    return Face(np.zeros(4, np.float32), 1.0, np.zeros((5, 2), np.float32), embeddings={"sface": v})


def fill(g: Gallery, vecs: np.ndarray, owners: np.ndarray, prefix: str = "p") -> None:
    for k in np.unique(owners):
        g.add_faces(f"{prefix}{k}", [face(v) for v in vecs[owners == k]])


# -- the ANN backends equal exact search on small galleries --------------------------------------------
@pytest.mark.parametrize("backend", [pytest.param("hnsw", marks=needs["hnswlib"]),
                                     pytest.param("usearch", marks=needs["usearch"])])
def test_ann_equals_exact_on_small_galleries(backend):
    from vultus.models import registry

    import vultus.gallery  # noqa: F401  (registers the backends)

    vecs, _ = people(400)
    ids = np.arange(len(vecs)) * 7 + 3
    ann, exact = registry.create(backend, "index", dim=128, ef=256), ExactIndex(dim=128)
    assert isinstance(ann, Index)
    for idx in (ann, exact):
        idx.add(ids, vecs)
        idx.remove(ids[:50])
    q = unit(vecs[50:250] + np.random.default_rng(1).normal(scale=0.05, size=(200, 128)))
    (s_a, i_a), (s_e, i_e) = ann.search(q, 10), exact.search(q, 10)
    assert len(ann) == len(exact) == len(vecs) - 50
    assert np.mean(i_a == i_e) >= 0.999 and np.allclose(s_a, s_e, atol=1e-5)
    assert np.allclose(ann.get(ids[60:63]), vecs[60:63], atol=1e-6) and not ann.get(ids[:1]).any()
    ann.add(ids[:1], vecs[:1])  # a removed id comes back
    assert ann.search(vecs[:1], 1)[1][0, 0] == ids[0]


# -- persisted beside the gallery, caught up, rebuilt when it disagrees --------------------------------
@pytest.fixture
def persist_small(monkeypatch):
    monkeypatch.setattr(synced, "PERSIST_MIN", 1)


@needs["hnswlib"]
def test_index_is_saved_caught_up_and_rebuilt_when_stale(tmp_path, persist_small):
    path = tmp_path / "g.db"
    vecs, owners = people(30)
    with Gallery(path, recognizer="sface", index="hnsw") as g:
        fill(g, vecs[:60], owners[:60])
    saved = Path(f"{path}.index")
    assert (saved / "sface.hnsw.json").is_file() and oct(saved.stat().st_mode)[-3:] == "700"
    backup = tmp_path / "saved-copy"
    subprocess.run(["cp", "-a", saved, backup], check=True)

    with Gallery(path, index="hnsw") as g:  # loaded, not rebuilt
        assert not g._indexes["sface"].rebuilt and g.templates() == 60
        fill(g, vecs[60:], owners[60:])  # ten more people, then an old copy of the index is put back
    subprocess.run(["rm", "-rf", saved], check=True)
    subprocess.run(["cp", "-a", backup, saved], check=True)
    with Gallery(path, index="hnsw") as g:  # the old copy catches up from the change log
        idx = g._indexes["sface"]
        assert not idx.rebuilt and g.templates() == 90
        assert g.search(face(vecs[75])).identity == "p25"

    (saved / "sface.hnsw" / "graph.bin").write_bytes(b"\0" * 100)  # a damaged save
    with Gallery(path, index="hnsw") as g:
        assert g._indexes["sface"].rebuilt and g.templates() == 90
        assert g.search(face(vecs[5])).identity == "p1"


@needs["hnswlib"]
def test_index_newer_than_the_database_is_rebuilt(tmp_path, persist_small):
    path = tmp_path / "g.db"
    vecs, owners = people(10)
    with Gallery(path, recognizer="sface", index="hnsw") as g:
        fill(g, vecs[:15], owners[:15])
    subprocess.run(["cp", path, tmp_path / "old.db"], check=True)  # a backup of the gallery ...
    with Gallery(path, index="hnsw") as g:
        fill(g, vecs[15:], owners[15:])
    subprocess.run(["cp", tmp_path / "old.db", path], check=True)  # ... restored over the newer one
    with Gallery(path, index="hnsw") as g:
        assert g._indexes["sface"].rebuilt and g.templates() == 15
        assert g.search(face(vecs[20])).identity != "p6"


def test_other_process_commits_are_caught_up_not_reloaded(tmp_path):
    path = tmp_path / "g.db"
    vecs, owners = people(20)
    a = Gallery(path, recognizer="sface", index="exact")
    fill(a, vecs[:30], owners[:30])
    index_before = a._indexes["sface"].index
    a._indexes["sface"].rebuilt = False
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[2]); from test_scale import people, fill; "
            "from vultus.gallery import Gallery; v, o = people(20); g = Gallery(sys.argv[1]); "
            "fill(g, v[30:], o[30:]); g.close()")
    subprocess.run([sys.executable, "-c", code, str(path), str(Path(__file__).parent)], check=True, timeout=120)
    assert a.search(face(vecs[45])).identity == "p15"
    assert a._indexes["sface"].index is index_before and not a._indexes["sface"].rebuilt  # no reload
    assert a.templates() == 60
    a.close()


def test_deleting_removes_the_saved_index_copy(tmp_path, persist_small):
    path = tmp_path / "g.db"
    vecs, owners = people(5)
    with Gallery(path, recognizer="sface", index="exact") as g:
        fill(g, vecs, owners)
    saved = Path(f"{path}.index")
    assert any(saved.iterdir())
    g = Gallery(path, index="exact")
    g.remove("p0")
    assert not any(p for p in saved.rglob("*") if p.is_file())  # gone at once, not at the next save
    assert g.templates() == 12
    g.close()  # saved again, without the deleted person
    raw = b"".join(p.read_bytes() for p in saved.rglob("*") if p.is_file())
    assert raw and vecs[0].tobytes()[:64] not in raw


# -- Milvus Lite -----------------------------------------------------------------------------------------
@needs["pymilvus"]
def test_milvus_lite_round_trip(tmp_path, caplog):
    path = tmp_path / "g.db"
    vecs, owners = people(8)
    with Gallery(path, recognizer="sface", index="milvus") as g:
        assert g.index_backend == "milvus"
        fill(g, vecs, owners)
        assert g.search(face(vecs[4])).identity == "p1"
        g.remove("p1")
        assert g.search(face(vecs[4])).identity != "p1"
        assert len(g._indexes["sface"].index) == 21
    assert Path(f"{path}.milvus.db").exists()
    with Gallery(path, index="milvus") as g:  # reopened: the collection and its record are reused
        assert not g._indexes["sface"].rebuilt and g.templates() == 21
        assert g.search(face(vecs[10])).identity == "p3"

        # Milvus fails after SQLite committed: the answer stays right, and Milvus catches up later
        index = g._indexes["sface"].index
        real_remove = index.remove
        index.remove = lambda ids: (_ for _ in ()).throw(ConnectionError("milvus went away"))
        with caplog.at_level(logging.WARNING, logger="vultus.gallery"):
            g.remove("p3")
        assert "lags the gallery" in caplog.text
        assert g.search(face(vecs[10])).identity != "p3"  # SQLite decides who exists
        index.remove = real_remove
        g.search(face(vecs[0]))
        assert not g._indexes["sface"].lagging and len(index) == 18


# -- Parquet, compaction, stats -------------------------------------------------------------------------
def test_parquet_export_import_compact_stats(tmp_path):
    pytest.importorskip("pyarrow")
    from vultus.gallery.bulk import compact, export_parquet, import_parquet, stats

    vecs, owners = people(12)
    with Gallery(tmp_path / "a.db", recognizer="sface", index="exact") as a:
        fill(a, vecs, owners)
        assert export_parquet(a, tmp_path / "t.parquet") == 36
        a.remove("p0")
        s = stats(a)
        assert s["identities"] == 11 and s["templates"] == {"sface": 33} and s["change_log"]["records"] == 39
        r = compact(a)
        assert stats(a)["change_log"]["records"] == 0 and r["change_records_trimmed"] == 39
        assert a.search(face(vecs[6])).identity == "p2"
    with Gallery(tmp_path / "b.db", recognizer="sface", index="exact") as b:
        assert import_parquet(b, tmp_path / "t.parquet") == {"added": 36, "skipped": 0}
        assert import_parquet(b, tmp_path / "t.parquet") == {"added": 0, "skipped": 36}  # a rerun resumes
        assert b.search(face(vecs[3])).identity == "p1"


def test_cli_stats_export_import(tmp_path):
    pytest.importorskip("pyarrow")
    vecs, owners = people(4)
    with Gallery(tmp_path / "a.db", recognizer="sface", index="exact") as a:
        fill(a, vecs, owners)

    def run(*args):
        p = subprocess.run([sys.executable, "-m", "vultus", *map(str, args)], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        return json.loads(p.stdout.splitlines()[-1])

    assert run("gallery", "stats", "--gallery", tmp_path / "a.db", "--json")["faces"] == 12
    assert run("gallery", "export", tmp_path / "t.parquet", "--gallery", tmp_path / "a.db", "--json")["exported"] == 12
    assert run("gallery", "import", tmp_path / "t.parquet", "--gallery", tmp_path / "b.db", "--json")["added"] == 12
