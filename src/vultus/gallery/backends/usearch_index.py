"""Approximate search with usearch (HNSW, float32 / float16 / int8 storage)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ...models.registry import Modality, ModelSpec, Task, register
from ..index import as_batch, no_hits

register(ModelSpec(
    name="usearch", task=Task.INDEX, impl=__name__ + ":UsearchIndex", modality=Modality.VECTORS,
    summary="approximate cosine search, usearch HNSW; dtype f32, f16 or i8 (4x smaller than f32)",
    licence="Apache-2.0 (usearch)", install="pip install 'vultus[ann]'",
    options={"module": "usearch", "dtype": "f32", "M": 16, "ef_construction": 128, "ef": 64},
))


class UsearchIndex:
    """The `Index` protocol over a usearch index. Scores are inner products of unit vectors."""

    def __init__(self, spec=None, dim: int = 128, dtype: str = "f32", M: int = 16, ef_construction: int = 128,
                 ef: int = 64, threads: int = 1, module: str = "usearch", _index=None):
        from usearch.index import Index

        self.dim, self.threads = dim, threads
        self._lock = threading.RLock()
        self._index = _index if _index is not None else Index(
            ndim=dim, metric="ip", dtype=dtype, connectivity=M, expansion_add=ef_construction, expansion_search=ef)
        if _index is not None:
            self._index.expansion_search = ef

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        if not len(ids):
            return
        with self._lock:
            keys = ids.astype(np.uint64)
            present = self._index.contains(keys)
            if np.any(present):  # an id added again replaces its vector
                self._index.remove(keys[present])
            self._index.add(keys, vectors, threads=self.threads)

    def remove(self, ids: np.ndarray) -> None:
        keys = np.asarray(ids, np.int64).reshape(-1).astype(np.uint64)
        with self._lock:
            if len(keys):
                self._index.remove(keys[self._index.contains(keys)])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        with self._lock:
            k = min(k, len(self._index))
            if k <= 0:
                return no_hits(len(q))
            m = self._index.search(q, k, threads=1)
        keys = np.asarray(m.keys, np.int64).reshape(len(q), -1)[:, :k]
        dist = np.asarray(m.distances, np.float32).reshape(len(q), -1)[:, :k]
        return 1 - dist, keys

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), np.float32)
        with self._lock:
            for k, v in enumerate(self._index.get(ids.astype(np.uint64), dtype=np.float32)):
                if v is not None:
                    out[k] = v
        return out

    def save(self, path: Path) -> None:
        with self._lock:
            self._index.save(str(path))

    @classmethod
    def restore(cls, path: Path, spec=None, dim: int = 128, **options) -> "UsearchIndex":
        from usearch.index import Index

        options = {k: v for k, v in options.items() if k in ("ef", "threads")}
        return cls(spec, dim, _index=Index.restore(str(path)), **options)
