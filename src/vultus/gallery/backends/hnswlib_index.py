"""Approximate search with hnswlib (HNSW graph, float32): fast inserts, deletes by marking."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ...models.registry import Modality, ModelSpec, Task, register
from ..index import as_batch, no_hits

register(ModelSpec(
    name="hnsw", task=Task.INDEX, impl=__name__ + ":HnswIndex", modality=Modality.VECTORS,
    summary="approximate cosine search, hnswlib HNSW graph (float32); the ANN default above 200k templates",
    licence="Apache-2.0 (hnswlib)", install="pip install 'vultus[ann]'",
    # bench/ann.py on sface vectors at 100k: M=32/efC 200 at ef 256 gives recall@1 0.98 (0.998 for
    # probes of enrolled people) and the exact open-set decision on every probe; M=16 needs ef 512
    # for 0.94. Face embeddings are nearly isotropic, the hard case for graph search.
    options={"module": "hnswlib", "M": 32, "ef_construction": 200, "ef": 256},
))


class HnswIndex:
    """The `Index` protocol over an hnswlib graph. Scores are inner products of unit vectors (cosine).

    Saved as a folder: the graph (hnswlib's own format) and which ids are live."""

    def __init__(self, spec=None, dim: int = 128, M: int = 32, ef_construction: int = 200, ef: int = 256,
                 threads: int = 1, module: str = "hnswlib", capacity: int = 1024, _index=None,
                 _live: np.ndarray | None = None):
        import hnswlib

        self.dim, self.ef, self.threads = dim, ef, threads
        self._lock = threading.RLock()
        if _index is None:
            _index = hnswlib.Index(space="ip", dim=dim)
            _index.init_index(max_elements=capacity, ef_construction=ef_construction, M=M,
                              allow_replace_deleted=True)
        self._index = _index
        # which ids are live (hnswlib counts deleted elements too): one byte per id, indexed by id
        self._live = np.zeros(1024, bool) if _live is None else _live
        self._n = int(self._live.sum())

    def __len__(self) -> int:
        return self._n

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        if not len(ids):
            return
        with self._lock:
            top = int(ids.max())
            if top >= len(self._live):
                bigger = np.zeros(max(top + 1, 2 * len(self._live)), bool)
                bigger[:len(self._live)] = self._live
                self._live = bigger
            need = self._index.element_count + len(ids)
            if need > self._index.max_elements:
                self._index.resize_index(max(need, 2 * self._index.max_elements))
            self._index.add_items(vectors, ids.astype(np.uint64), num_threads=self.threads, replace_deleted=True)
            self._n += int((~self._live[ids]).sum())
            self._live[ids] = True

    def remove(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64).reshape(-1)
        with self._lock:
            for i in ids[(ids < len(self._live))].tolist():
                if self._live[i]:
                    self._index.mark_deleted(i)
                    self._live[i] = False
                    self._n -= 1

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        with self._lock:
            k = min(k, self._n)
            if k <= 0:
                return no_hits(len(q))
            self._index.set_ef(max(self.ef, k))
            labels, dist = self._index.knn_query(q, k=k, num_threads=1)
        return (1 - dist).astype(np.float32), labels.astype(np.int64)

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), np.float32)
        with self._lock:
            live = (ids < len(self._live)) & (ids >= 0)
            live[live] = self._live[ids[live]]
            if live.any():
                out[live] = np.asarray(self._index.get_items(ids[live].astype(np.uint64)), np.float32)
        return out

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(mode=0o700, exist_ok=True)
        with self._lock:
            self._index.save_index(str(path / "graph.bin"))
            np.save(path / "live.npy", self._live)

    @classmethod
    def restore(cls, path: Path, spec=None, dim: int = 128, **options) -> "HnswIndex":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=dim)
        index.load_index(str(Path(path) / "graph.bin"), allow_replace_deleted=True)
        options = {k: v for k, v in options.items() if k in ("ef", "threads")}
        return cls(spec, dim, _index=index, _live=np.load(Path(path) / "live.npy"), **options)
