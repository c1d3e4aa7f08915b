"""Gallery search latency over 100,000 templates: exact cosine search (our ExactIndex, and the
whole Gallery.search path on a real SQLite gallery) beside face_recognition's way
(`face_distance` over a list of known encodings), on the same vectors and queries.

Vectors: 10,000 synthetic identities x 10 noisy samples, 128-d unit vectors (face-like clusters).
Run: .venv/bin/python bench/gallery_search.py [--n 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine, write_section
from vultus.gallery import Gallery
from vultus.gallery.index import ExactIndex
from vultus.gallery.store import FaceRecord
from vultus.types import Face


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    ids = a.n // 10
    centres = unit(rng.normal(size=(ids, 128)))
    vecs = unit(np.repeat(centres, 10, axis=0) + rng.normal(scale=0.08, size=(a.n, 128)))
    queries = unit(centres[rng.integers(0, ids, a.queries)] + rng.normal(scale=0.08, size=(a.queries, 128)))

    idx = ExactIndex(dim=128)
    t = time.perf_counter()
    idx.add(np.arange(a.n), vecs)
    build = time.perf_counter() - t

    known = list(vecs.astype(np.float64))  # face_recognition keeps a list of float64 encodings

    def fr_search(q):
        import face_recognition

        d = face_recognition.face_distance(known, q)
        return int(np.argmin(d))

    with tempfile.TemporaryDirectory() as tmp:
        g = Gallery(Path(tmp) / "g.db", recognizer="sface")
        t = time.perf_counter()
        for k in range(ids):  # one transaction per identity, like enrollment
            g.store.add_faces(f"id{k}", [FaceRecord(None, None, [0, 0, 1, 1], None, {"sface": v})
                                         for v in vecs[k * 10:(k + 1) * 10]])
        insert = time.perf_counter() - t
        g.close()
        t = time.perf_counter()
        g = Gallery(Path(tmp) / "g.db")
        load = time.perf_counter() - t
        faces = [Face(np.zeros(4), 1.0, np.zeros((5, 2)), embeddings={"sface": q}) for q in queries]
        gal = timed(lambda f: g.search(f, 1e-3), faces)
        g.close()
    ours = timed(lambda q: idx.search(q[None], 10), queries)
    fr = timed(fr_search, queries.astype(np.float64))

    def row(name, ms):
        ms = sorted(ms)
        return f"| {name} | {statistics.median(ms):.2f} | {ms[int(0.99 * (len(ms) - 1))]:.2f} |"

    md = f"""## Gallery search over {a.n:,} templates

Command: `.venv/bin/python bench/gallery_search.py --n {a.n} --queries {a.queries}`.
Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}.
{ids:,} synthetic identities x 10 noisy samples, 128-d unit vectors; {a.queries} queries, one at a time
(no batching), single process.

| search | median ms / query | p99 ms / query |
|---|---|---|
{row("vultus ExactIndex.search (top 10)", ours)}
{row("vultus Gallery.search (SQLite gallery, shortlist + decision)", gal)}
{row("face_recognition.face_distance over the list (baseline)", fr)}

Median speed-up of ExactIndex over the baseline: {statistics.median(fr) / statistics.median(ours):.1f}x.
Index build from memory {build:.2f} s; writing the {a.n:,} templates to SQLite {insert:.1f} s
(one transaction per identity); reopening the gallery (load + index) {load:.2f} s.
"""
    write_section("gallery_search", md)
    print(md)


if __name__ == "__main__":
    main()
