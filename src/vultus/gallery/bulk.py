"""Gallery operations at scale: Parquet export and import of templates, compaction, statistics.

Parquet layout (one row per face): `name`, `metadata` (JSON of the identity), `source`,
`source_sha256`, `box` (4 floats), `quality` (JSON), `created_at`, and one column per embedding
model, `vector_<model>`: a fixed-size list of float32. Thumbnails stay in the gallery (they are
images of people; export them only when you mean to).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import GalleryError
from . import integrity
from .store import FaceRecord

BATCH = 50_000


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise GalleryError("Parquet import and export need pyarrow: pip install 'vultus[scale]'") from None
    return pa, pq


def export_parquet(gallery, path: str | Path, progress: Callable[[int], None] | None = None) -> int:
    """Write every face with its vectors to a Parquet file (0600); returns how many rows."""
    pa, pq = _pyarrow()
    store, models = gallery.store, gallery.recognizer.models
    dims = {m: gallery._indexes[m].dim for m in models}
    schema = pa.schema([("name", pa.string()), ("metadata", pa.string()), ("source", pa.string()),
                        ("source_sha256", pa.string()), ("box", pa.list_(pa.float32(), 4)),
                        ("quality", pa.string()), ("created_at", pa.float64())]
                       + [(f"vector_{m}", pa.list_(pa.float32(), dims[m])) for m in models])
    path = Path(path)
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)  # biometric templates: owner only
    os.close(fd)
    n, last = 0, -1
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        while True:
            rows = store.query("SELECT f.id, i.name, i.metadata, f.source, f.source_sha256, f.box, f.quality, "
                               "f.created_at FROM faces f JOIN identities i ON i.id = f.identity_id "
                               "WHERE f.id > ? ORDER BY f.id LIMIT ?", (last, BATCH))
            if not rows:
                break
            ids = [r[0] for r in rows]
            cols: dict[str, Any] = {
                "name": [r[1] for r in rows], "metadata": [r[2] for r in rows], "source": [r[3] for r in rows],
                "source_sha256": [r[4] for r in rows], "box": [json.loads(r[5])[:4] for r in rows],
                "quality": [r[6] for r in rows], "created_at": [r[7] for r in rows]}
            for m in models:
                vec = np.zeros((len(ids), dims[m]), np.float32)
                pos = {f: k for k, f in enumerate(ids)}
                for fids, vecs, _ in store.vectors(m, ids):
                    vec[[pos[f] for f in fids.tolist()]] = vecs
                cols[f"vector_{m}"] = pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), dims[m])
            writer.write_table(pa.table(cols, schema=schema))
            n += len(rows)
            last = ids[-1]
            if progress:
                progress(len(rows))
    return n


def import_parquet(gallery, path: str | Path, actor: str = "local",
                   progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Add the faces of a Parquet file (as written by `export_parquet`) in batches, one transaction
    each. Rows already in the gallery (same name and source SHA-256, or same template) are skipped,
    so an interrupted import can simply be run again. Vectors must be finite and unit length."""
    _, pq = _pyarrow()
    store, models = gallery.store, gallery.recognizer.models
    try:
        f = pq.ParquetFile(path)
    except Exception as e:
        raise GalleryError(f"{path}: not a readable Parquet file ({e})") from None
    missing = [f"vector_{m}" for m in models if f"vector_{m}" not in f.schema_arrow.names] + \
        [c for c in ("name",) if c not in f.schema_arrow.names]
    if missing:
        raise GalleryError(f"{path}: lacks the column(s) {', '.join(missing)} this {gallery.recognizer.key!r} "
                           "gallery needs")
    added = skipped = 0
    for batch in f.iter_batches(batch_size=BATCH):
        t = batch.to_pydict()
        vecs = {m: np.asarray(batch.column(f"vector_{m}").flatten().to_numpy(zero_copy_only=False),
                              np.float32).reshape(batch.num_rows, -1) for m in models}
        items = []
        for k in range(batch.num_rows):
            name = integrity.clean_name(t["name"][k])
            sha = (t.get("source_sha256") or [None] * batch.num_rows)[k]
            for m in models:
                bad = integrity.problems(np.zeros(1, np.int64), vecs[m][k:k + 1], None)
                if bad or vecs[m].shape[1] != gallery._indexes[m].dim:
                    why = bad.get(0, f"{vecs[m].shape[1]} values, not {gallery._indexes[m].dim}")
                    raise GalleryError(f"{path}: row {added + skipped + k} ({name!r}): bad {m} vector: {why}")
            meta = t.get("metadata", [None] * batch.num_rows)[k]
            quality = t.get("quality", [None] * batch.num_rows)[k]
            items.append((name, json.loads(meta) if meta else None, FaceRecord(
                source=(t.get("source") or [None] * batch.num_rows)[k], source_sha256=sha,
                box=list((t.get("box") or [[0, 0, 0, 0]] * batch.num_rows)[k] or [0, 0, 0, 0]),
                quality=json.loads(quality) if quality else None,
                vectors={m: vecs[m][k] for m in models})))
        a, s = store.add_batch(items, actor=actor)
        added, skipped = added + a, skipped + s
        if progress:
            progress(batch.num_rows)
    gallery._catch_up()
    return {"added": added, "skipped": skipped}


def compact(gallery) -> dict[str, Any]:
    """Rebuild the indexes without deleted entries, forget the change log they no longer need, and
    VACUUM the database (gives freed pages back to the file system). Other processes that have the
    gallery open rebuild their index at their next search."""
    before = _sizes(gallery.store.path)
    with gallery._lock:
        for idx in gallery._indexes.values():
            idx.rebuild()
            idx.save()
        trimmed = gallery.store.trim_changes(min(idx.head for idx in gallery._indexes.values()))
        gallery.store.vacuum()
        for idx in gallery._indexes.values():
            idx.save()  # the saved record points at the same head; the log just starts later
    after = _sizes(gallery.store.path)
    return {"bytes_before": before, "bytes_after": after, "change_records_trimmed": trimmed}


def _sizes(path: Path) -> int:
    total = 0
    for p in [path, Path(f"{path}-wal"), Path(f"{path}.index")]:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
    return total


def stats(gallery) -> dict[str, Any]:
    """What is in a gallery and what it costs on disk."""
    store = gallery.store
    q = store.query
    path = store.path
    index_dir = Path(f"{path}.index")
    per_model = {m: q("SELECT COUNT(*) FROM embeddings WHERE model=?", (m,))[0][0] for m in gallery.recognizer.models}
    first_audit = q("SELECT MIN(at), COUNT(*) FROM audit")[0]
    return {
        "gallery": str(path), "recognizer": gallery.recognizer.key, "schema": int(store.get_meta("schema_version")),
        "identities": store.count_identities(), "faces": q("SELECT COUNT(*) FROM faces")[0][0],
        "templates": per_model, "quarantined": len(gallery.quarantined),
        "index": gallery.index_backend, "indexed": {m: len(idx.index) for m, idx in gallery._indexes.items()},
        "change_log": {"head": store.head(), "records": q("SELECT COUNT(*) FROM changes")[0][0]},
        "audit_records": first_audit[1], "audit_oldest": first_audit[0],
        "audit_retention_days": float(store.get_meta("audit_retention_days") or 365),
        "bytes": {"database": path.stat().st_size,
                  "wal": Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0,
                  "index": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) if index_dir.is_dir() else 0},
    }
